//! Where a plugin configuration sits in the files operators have: the configuration itself, an Istio
//! WasmPlugin (`spec.pluginConfig`), an Envoy bootstrap (each `envoy.filters.http.wasm` filter's
//! `configuration`, and the files its extension config discovery reads) or an ECDS resource file. Each one
//! found comes with what the document says about the VM's environment, so a secret the VM will not get is
//! found before Envoy refuses the configuration.

use std::collections::BTreeMap;

use serde_json::Value;

const WASM: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const STRING_VALUE: &str = "type.googleapis.com/google.protobuf.StringValue";

/// The VM's environment, as an Envoy `vm_config.environment_variables` or a WasmPlugin `vmConfig.env` gives
/// it: variables copied from the proxy's own environment, and values written inline.
#[derive(Debug, Default)]
pub struct VmEnv {
    pub from_host: Vec<String>,
    pub inline: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Found {
    /// Where, as `FILE: json.path` (the file is named when it is not the one given).
    pub at: String,
    /// The configuration as JSON text, or why it cannot be read.
    pub config: Result<Vec<u8>, String>,
    /// None for a bare configuration: then the environment is this process's.
    pub vm_env: Option<VmEnv>,
}

/// Every document of a JSON or YAML text (YAML may hold several, separated by `---`).
pub fn documents(bytes: &[u8]) -> Result<Vec<Value>, String> {
    if let Ok(doc) = serde_json::from_slice::<Value>(bytes) {
        return Ok(vec![doc]);
    }
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_slice(bytes) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| format!("neither JSON nor YAML: {e}"))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The plugin configurations in `docs` (read from `source`); `read` opens the files ECDS names.
pub fn find(source: &str, docs: &[Value], read: &dyn Fn(&str) -> Result<Vec<u8>, String>) -> Vec<Found> {
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let at = if docs.len() > 1 { format!("{source} (document {}): ", i + 1) } else { format!("{source}: ") };
        in_document(&at, doc, read, true, &mut out);
    }
    if out.is_empty() {
        let why = "no Gatehouse plugin configuration here (a WasmPlugin, an Envoy bootstrap, an ECDS resource or the configuration itself)";
        out.push(Found { at: format!("{source}: $"), config: Err(why.into()), vm_env: None });
    }
    out
}

fn in_document(
    at: &str,
    doc: &Value,
    read: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    follow: bool,
    out: &mut Vec<Found>,
) {
    let kind = doc.get("kind").and_then(Value::as_str);
    if kind == Some("WasmPlugin") {
        let config = doc.pointer("/spec/pluginConfig");
        out.push(Found {
            at: format!("{at}spec.pluginConfig"),
            config: config.map(json_bytes).ok_or_else(|| "the WasmPlugin has no spec.pluginConfig".into()),
            vm_env: Some(wasmplugin_env(doc.pointer("/spec/vmConfig/env"))),
        });
        return;
    }
    if kind.is_some() {
        // Another Kubernetes object beside the plugin (a Secret, a Gateway): nothing to validate.
        return;
    }
    let before = out.len();
    walk(at, "$", doc, read, follow, out);
    let container = doc.get("static_resources").is_some() || doc.get("resources").is_some();
    if out.len() == before && !container {
        out.push(Found { at: format!("{at}$"), config: Ok(json_bytes(doc)), vm_env: None });
    } else if out.len() == before {
        out.push(Found {
            at: format!("{at}$"),
            config: Err("no envoy.filters.http.wasm filter with a configuration in this document".into()),
            vm_env: None,
        });
    }
}

fn walk(
    at: &str,
    path: &str,
    v: &Value,
    read: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    follow: bool,
    out: &mut Vec<Found>,
) {
    match v {
        Value::Object(m) => {
            if m.get("@type").and_then(Value::as_str) == Some(WASM) {
                if let Some(config) = m.get("config") {
                    if let Some(found) = wasm_filter(at, &format!("{path}.config"), config) {
                        out.push(found);
                    }
                }
                return;
            }
            if let (true, Some(file)) = (follow, m.get("config_discovery").and_then(ecds_path)) {
                let name = m.get("name").and_then(Value::as_str).unwrap_or("?");
                discovered(at, &format!("{path}.config_discovery"), name, file, read, out);
                return;
            }
            for (key, member) in m {
                walk(at, &format!("{path}.{key}"), member, read, follow, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(at, &format!("{path}[{i}]"), item, read, follow, out);
            }
        }
        _ => {}
    }
}

/// One Wasm filter's configuration: a `google.protobuf.StringValue` holding JSON, as Envoy hands it to
/// `on_configure`. A filter with no configuration is someone else's (Gatehouse needs one).
fn wasm_filter(at: &str, path: &str, config: &Value) -> Option<Found> {
    let configuration = config.get("configuration")?;
    let vm_env = Some(envoy_env(config.pointer("/vm_config/environment_variables")));
    let at = format!("{at}{path}.configuration");
    let text = match (configuration.get("@type").and_then(Value::as_str), configuration.get("value")) {
        (Some(STRING_VALUE), Some(Value::String(text))) => Ok(text.clone().into_bytes()),
        (Some(STRING_VALUE), _) => Err("the StringValue has no string \"value\"".to_owned()),
        _ => Err(format!("the configuration must be a {STRING_VALUE} holding the JSON")),
    };
    Some(Found { at, config: text, vm_env })
}

/// The file an extension config discovery reads, when it reads one (`path_config_source`); an xDS server's
/// configuration cannot be seen from here.
fn ecds_path(discovery: &Value) -> Option<&str> {
    let source = discovery.get("config_source")?;
    source.pointer("/path_config_source/path").or_else(|| source.get("path")).and_then(Value::as_str)
}

fn discovered(
    at: &str,
    path: &str,
    name: &str,
    file: &str,
    read: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    out: &mut Vec<Found>,
) {
    let failed = |why: String| Found { at: format!("{at}{path} → {file}"), config: Err(why), vm_env: None };
    let docs = match read(file).and_then(|bytes| documents(&bytes)) {
        Ok(docs) => docs,
        Err(why) => return out.push(failed(why)),
    };
    let before = out.len();
    for doc in &docs {
        // Only the resource the filter asks for by name; discovery never follows further files.
        let resources = doc.get("resources").and_then(Value::as_array);
        for (i, r) in resources.into_iter().flatten().enumerate() {
            if r.get("name").and_then(Value::as_str) == Some(name) {
                walk(&format!("{at}{path} → {file}: "), &format!("$.resources[{i}]"), r, read, false, out);
            }
        }
    }
    if out.len() == before {
        out.push(failed(format!("no resource named {name:?} with a Wasm filter configuration")));
    }
}

fn envoy_env(vars: Option<&Value>) -> VmEnv {
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    };
    let inline = vars
        .and_then(|v| v.get("key_values"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
        .collect();
    VmEnv { from_host: strings(vars.and_then(|v| v.get("host_env_keys"))), inline }
}

/// Istio's `vmConfig.env`: `valueFrom: HOST` copies from the proxy's environment; INLINE (the default)
/// writes `value`.
fn wasmplugin_env(env: Option<&Value>) -> VmEnv {
    let mut out = VmEnv::default();
    for e in env.and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = e.get("name").and_then(Value::as_str) else { continue };
        if e.get("valueFrom").and_then(Value::as_str) == Some("HOST") {
            out.from_host.push(name.to_owned());
        } else {
            let value = e.get("value").and_then(Value::as_str).unwrap_or_default();
            out.inline.insert(name.to_owned(), value.to_owned());
        }
    }
    out
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}
