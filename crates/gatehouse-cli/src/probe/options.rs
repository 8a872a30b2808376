//! The probe's command line: every option, checked before anything is sent.

use std::time::Duration;

use gatehouse::secret::{Credential, Secret};

use crate::cli::{ProbeArgs, ProbeFormat};

pub const CHECKS: &str = "\
Each check runs only when its option is given; at least one of --public, --api, --session is required. With \
--config (the plugin configuration, JSON) and --deployment, the checks run for that deployment of the \
dataplane, or for every one with `all`: each at its first exact host (or --host) with its path prefix in \
front of every path.

Checks:
  public            --public PATH answers 2xx
  api               --api PATH with the Direct Access Token answers 2xx
  api_enforced      --api PATH without a token answers 401 with WWW-Authenticate: Bearer
  legacy            --api PATH with the token and the canary header NAME: <value of VAR> answers 2xx
  session_redirect  --session PATH with Accept: text/html and no cookie answers 302 to the provider's
                    authorize endpoint (code_challenge_method=S256, code_challenge, state)
  session_api       --session PATH with Accept: application/json and no cookie answers 401

The token is read from the environment variable VAR or from FILE (surrounding whitespace trimmed), the \
canary value from VAR; neither is ever printed. Plain HTTP only: this build has no TLS, so probe the \
gateway's HTTP listener (e.g. from inside the cluster). Redirects are never followed; proxy settings in the \
environment are ignored. Each check reports name, ok, HTTP status, latency and, on failure, a reason code: \
status_<code>, not_enforcing, no_bearer_challenge, no_redirect, not_sign_in_redirect, connect_refused, \
timeout, connection_reset, dns_failure, connect_failed, protocol_error, io_error, request_error.

Exit status: 0 all checks ok, 1 a check failed, 2 a usage error.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Text,
    Json,
    Prometheus,
}

#[derive(Debug)]
pub(super) struct Api {
    pub(super) path: String,
    pub(super) token: Credential,
    /// The canary override header: (name, value).
    pub(super) legacy: Option<(String, Secret)>,
}

/// Where the checks run: one deployment of a dataplane (its id, the Host it is reached at, its path prefix), or
/// the URL as given.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) deployment: Option<String>,
    pub(super) host: Option<String>,
    pub(super) prefix: String,
}

#[derive(Debug)]
pub(super) struct Options {
    /// `http://authority[/prefix]`, no trailing slash.
    pub(super) base: String,
    pub(super) targets: Vec<Target>,
    pub(super) public: Option<String>,
    pub(super) api: Option<Api>,
    pub(super) session: Option<String>,
    pub(super) timeout: Duration,
    pub(super) format: Format,
}

impl Options {
    pub(super) fn parse(
        args: &ProbeArgs,
        env: &dyn Fn(&str) -> Option<String>,
        read: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Options, String> {
        let base = base_url(args.url.as_deref().ok_or("--url is required")?)?;
        let host = args.host.as_deref().map(check_host).transpose()?;
        let public = args.public.clone().map(|p| check_path("--public", p)).transpose()?;
        let session = args.session.clone().map(|p| check_path("--session", p)).transpose()?;
        // The parser has checked the range (1 to 600000).
        let timeout = Duration::from_millis(args.timeout_ms.unwrap_or(3000));
        let format = match args.format {
            None | Some(ProbeFormat::Text) => Format::Text,
            Some(ProbeFormat::Json) => Format::Json,
            Some(ProbeFormat::Prometheus) => Format::Prometheus,
        };

        let api = match args.api.clone() {
            None => {
                let needs_api = [
                    ("--token-env", &args.token_env),
                    ("--token-file", &args.token_file),
                    ("--legacy-header", &args.legacy_header),
                    ("--legacy-value-env", &args.legacy_value_env),
                ];
                if let Some((flag, _)) = needs_api.iter().find(|(_, v)| v.is_some()) {
                    return Err(format!("{flag} needs --api PATH"));
                }
                None
            }
            Some(path) => {
                let path = check_path("--api", path)?;
                let (token, source) = match (args.token_env.clone(), args.token_file.clone()) {
                    (Some(var), None) => {
                        (env(&var).ok_or(format!("environment variable {var} is not set"))?, format!("${var}"))
                    }
                    (None, Some(file)) => (read(&file)?, file),
                    (None, None) => return Err("--api needs --token-env VAR or --token-file FILE".into()),
                    (Some(_), Some(_)) => return Err("give either --token-env or --token-file, not both".into()),
                };
                let token = token.trim().to_owned();
                if token.is_empty() {
                    return Err(format!("the token in {source} is empty"));
                }
                if !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(format!("the token in {source} has characters a bearer token cannot have"));
                }
                let legacy = match (args.legacy_header.clone(), args.legacy_value_env.clone()) {
                    (None, None) => None,
                    (Some(name), Some(var)) => {
                        if name.is_empty() || !name.bytes().all(is_token_char) {
                            return Err("--legacy-header must be an HTTP header name".into());
                        }
                        let value = env(&var).ok_or(format!("environment variable {var} is not set"))?;
                        let value = value.trim().to_owned();
                        if value.is_empty() {
                            return Err(format!("environment variable {var} is empty"));
                        }
                        if !value.bytes().all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic()) {
                            return Err(format!("the value in {var} cannot go in a header"));
                        }
                        Some((name.to_ascii_lowercase(), Secret::new(value.into_bytes())))
                    }
                    (Some(_), None) => return Err("--legacy-header needs --legacy-value-env VAR".into()),
                    (None, Some(_)) => return Err("--legacy-value-env needs --legacy-header NAME".into()),
                };
                Some(Api { path, token: Credential::new(token), legacy })
            }
        };
        if public.is_none() && api.is_none() && session.is_none() {
            return Err("nothing to check: give at least one of --public, --api, --session".into());
        }
        let targets = match (args.config.clone(), args.deployment.clone()) {
            (None, None) => vec![Target { deployment: None, host, prefix: String::new() }],
            (Some(file), Some(which)) => targets(&read(&file)?, &file, &which, host.as_deref())?,
            (Some(_), None) => return Err("--config needs --deployment ID (or all)".into()),
            (None, Some(_)) => return Err("--deployment needs --config FILE (the plugin configuration)".into()),
        };
        Ok(Options { base, targets, public, api, session, timeout, format })
    }
}

/// `http://authority[/prefix]` without a trailing slash; https, credentials, queries and fragments refused.
pub(super) fn base_url(url: &str) -> Result<String, String> {
    if url.starts_with("https://") {
        return Err("--url: https is not supported (this build speaks plain HTTP only, without TLS); \
                    probe the gateway's HTTP listener"
            .into());
    }
    let rest = url.strip_prefix("http://").ok_or("--url must start with http://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("--url must not carry credentials; use --token-env or --token-file".into());
    }
    if authority.is_empty() || rest.contains(['?', '#']) || !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("--url must look like http://host:port[/prefix]".into());
    }
    let base = format!("http://{}", rest.trim_end_matches('/'));
    base.parse::<ureq::http::Uri>().map_err(|_| "--url must look like http://host:port[/prefix]".to_string())?;
    Ok(base)
}

pub(super) fn check_path(flag: &str, path: String) -> Result<String, String> {
    if path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic()) && !path.contains('#') {
        Ok(path)
    } else {
        Err(format!("{flag} must be a path starting with / (no spaces or fragment)"))
    }
}

pub(super) fn check_host(host: &str) -> Result<String, String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_');
    if !host.is_empty() && host.bytes().all(allowed) {
        Ok(host.to_owned())
    } else {
        Err("--host must be a host name (optionally with :port)".into())
    }
}

/// RFC 9110 §5.6.2 `tchar`.
pub(super) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The deployments of a plugin configuration to probe: `which` is an id or `all`.
pub(super) fn targets(config: &str, file: &str, which: &str, host: Option<&str>) -> Result<Vec<Target>, String> {
    let doc: serde_json::Value =
        serde_json::from_str(config).map_err(|e| format!("{file} is not a JSON plugin configuration: {e}"))?;
    let list = doc
        .get("deployments")
        .and_then(serde_json::Value::as_array)
        .ok_or(format!("{file} has no \"deployments\" (a configuration of one deployment needs no --deployment)"))?;
    let mut out = Vec::new();
    for d in list {
        let id = d.get("deployment_id").and_then(serde_json::Value::as_str).unwrap_or_default();
        // The id goes into report labels: only what the loader accepts.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("{file}: a deployment_id is missing or not [A-Za-z0-9_-]"));
        }
        if which != "all" && which != id {
            continue;
        }
        let hosts = d.get("hosts").and_then(serde_json::Value::as_array);
        let exact = hosts.and_then(|h| h.iter().filter_map(serde_json::Value::as_str).find(|h| !h.starts_with("*.")));
        let target_host = match (host, exact) {
            (Some(h), _) => Some(h.to_owned()),
            (None, Some(h)) => Some(check_host(h)?),
            (None, None) if hosts.is_some_and(|h| !h.is_empty()) => {
                return Err(format!("deployment {id} is reached only at wildcard hosts: give --host"));
            }
            (None, None) => None,
        };
        let prefix = d.get("path_prefix").and_then(serde_json::Value::as_str).unwrap_or_default();
        let prefix = if prefix.is_empty() { String::new() } else { check_path("path_prefix", prefix.to_owned())? };
        out.push(Target { deployment: Some(id.to_owned()), host: target_host, prefix });
    }
    if out.is_empty() {
        return Err(format!("{file} has no deployment {which:?}"));
    }
    Ok(out)
}
