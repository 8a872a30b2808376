//! `schema/gatehouse-config.schema.json` and the loader agree on every object's keys: for each object the loader
//! opens with `Obj::open(.., known)`, the schema's `properties` at the matching place are exactly `known`, and
//! unknown keys are refused there (`additionalProperties: false`). A new key, or a new `Obj::open`, fails here
//! until the schema says the same.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::config::{issuers, load, load_config, rollout, routes, session};
use crate::testing::*;

const SCHEMA: &str = include_str!("../../schema/gatehouse-config.schema.json");

/// (the constant's name as written at its `Obj::open`, its keys, where the schema describes that object)
const PLACES: &[(&str, &[&str], &str)] = &[
    ("TOP", load::TOP, ""),
    ("DATAPLANE", load::DATAPLANE, "/$defs/dataplane"),
    ("TOKEN_SOURCE", load::TOKEN_SOURCE, "/$defs/tokenSource"),
    ("IDENTITY_HEADERS", load::IDENTITY_HEADERS, "/$defs/identityHeaders"),
    ("CACHE", load::CACHE, "/$defs/cache"),
    ("HOST_MATCHING", load::HOST_MATCHING, "/$defs/hostMatching"),
    ("FAULTS", load::FAULTS, "/$defs/faults"),
    ("FIELDS", issuers::FIELDS, "/$defs/issuer"),
    ("JWKS", issuers::JWKS, "/$defs/jwks"),
    ("HMAC_KEY", issuers::HMAC_KEY, "/$defs/hmacKey"),
    ("REMOTE_JWKS", issuers::REMOTE_JWKS, "/$defs/remoteJwks"),
    ("FIELDS", routes::FIELDS, "/$defs/route"),
    ("PATH_MATCH", routes::PATH_MATCH, "/$defs/pathMatch"),
    ("SESSION_FIELDS", session::SESSION_FIELDS, "/$defs/session"),
    ("PROVIDER_FIELDS", session::PROVIDER_FIELDS, "/$defs/provider"),
    ("TOKEN_ENDPOINT", session::TOKEN_ENDPOINT, "/$defs/tokenEndpoint"),
    ("MINT_FIELDS", session::MINT_FIELDS, "/$defs/upstreamToken"),
    ("EXCHANGE", session::EXCHANGE, "/$defs/exchange"),
    ("SIGNING", session::SIGNING, "/$defs/signing"),
    ("KEYS", rollout::KEYS, "/$defs/rollout"),
    ("FLAG_KEYS", rollout::FLAG_KEYS, "/$defs/rolloutFlag"),
    ("LIST_KEYS", rollout::LIST_KEYS, "/$defs/rolloutLists"),
    ("CANARY_KEYS", rollout::CANARY_KEYS, "/$defs/rolloutCanary"),
];

/// The loader's sources, each with the constants its `Obj::open` calls may use.
const SOURCES: &[(&str, &str, &[&str])] = &[
    (
        "load.rs",
        include_str!("../config/load.rs"),
        &["TOP", "DATAPLANE", "TOKEN_SOURCE", "IDENTITY_HEADERS", "CACHE", "HOST_MATCHING", "FAULTS"],
    ),
    ("issuers.rs", include_str!("../config/issuers.rs"), &["FIELDS", "JWKS", "HMAC_KEY", "REMOTE_JWKS"]),
    ("routes.rs", include_str!("../config/routes.rs"), &["FIELDS", "PATH_MATCH"]),
    (
        "session.rs",
        include_str!("../config/session.rs"),
        &["SESSION_FIELDS", "PROVIDER_FIELDS", "TOKEN_ENDPOINT", "MINT_FIELDS", "EXCHANGE", "SIGNING"],
    ),
    ("rollout.rs", include_str!("../config/rollout.rs"), &["KEYS", "FLAG_KEYS", "LIST_KEYS", "CANARY_KEYS"]),
    // Files that must open no objects of their own.
    ("mod.rs", include_str!("../config/mod.rs"), &[]),
    ("error.rs", include_str!("../config/error.rs"), &[]),
];

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("the schema is JSON")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn every_object_the_loader_opens_has_the_same_keys_in_the_schema_and_refuses_others_there() {
    let schema = schema();
    for (name, known, at) in PLACES {
        let place = schema.pointer(at).unwrap_or_else(|| panic!("{name}: nothing at {at:?} in the schema"));
        let in_schema = keys(&place["properties"]);
        let in_loader: BTreeSet<String> = known.iter().map(|k| (*k).to_owned()).collect();
        let missing: Vec<_> = in_loader.difference(&in_schema).collect();
        let extra: Vec<_> = in_schema.difference(&in_loader).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name} vs schema {at:?}: the schema lacks {missing:?} and has {extra:?} the loader refuses"
        );
        assert_eq!(
            place["additionalProperties"],
            json!(false),
            "{name}: the schema at {at:?} must refuse unknown keys"
        );
        assert_eq!(place["type"], json!("object"), "{name}: {at:?}");
    }
}

/// The argument list of each `Obj::open(` call in `src`, as written.
fn open_calls(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("Obj::open(") {
        // Skip the reader's own definition and doc mentions; calls are the ones with arguments.
        rest = &rest[i + "Obj::open(".len()..];
        let mut depth = 1;
        let mut end = None;
        for (j, c) in rest.char_indices() {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.expect("balanced parentheses");
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    out
}

#[test]
fn every_obj_open_in_the_loader_names_a_key_list_the_schema_test_checks() {
    let mut calls = 0;
    for (file, src, allowed) in SOURCES {
        for args in open_calls(src) {
            calls += 1;
            let last = args.rsplit(',').next().unwrap_or("").trim().trim_start_matches('&');
            assert!(
                allowed.contains(&last),
                "{file}: Obj::open({args}) uses {last:?}: open objects with a `pub const` key list and add it to \
                 PLACES and SOURCES in src/tests/schema.rs (and to the schema)"
            );
        }
    }
    assert_eq!(calls, PLACES.len(), "every key list is opened exactly once");
}

#[test]
fn every_schema_reference_resolves_and_every_required_key_is_a_property() {
    let schema = schema();
    fn walk(v: &Value, root: &Value, at: &str) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    let target = r.strip_prefix('#').expect("local reference");
                    assert!(root.pointer(target).is_some(), "{at}: {r} does not resolve");
                }
                if let (Some(req), Some(props)) = (m.get("required"), m.get("properties")) {
                    if m.get("additionalProperties") == Some(&json!(false)) {
                        for k in req.as_array().expect("required is a list") {
                            let k = k.as_str().expect("a key");
                            assert!(props.get(k).is_some(), "{at}: required {k:?} is not a property");
                        }
                    }
                }
                for (k, x) in m {
                    walk(x, root, &format!("{at}/{k}"));
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    walk(x, root, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(&schema, &schema, "");
    assert_eq!(schema["$schema"], json!("https://json-schema.org/draft/2020-12/schema"));
}

#[test]
fn a_top_level_schema_key_is_accepted_and_ignored_but_nowhere_else() {
    let mut v = config_json();
    v["$schema"] = json!("../schema/gatehouse-config.schema.json");
    let with = load_config(v.to_string().as_bytes(), &env).expect("$schema is ignored at the top");
    let without = config();
    assert_eq!(with.routes.len(), without.routes.len());
    assert_eq!(with.issuers.len(), without.issuers.len());

    let mut v = config_json();
    v["routes"][0]["$schema"] = json!("x");
    let errs = load_config(v.to_string().as_bytes(), &env).expect_err("only the top level ignores $schema");
    assert!(errs.iter().any(|e| e.path == "$.routes[0].$schema"), "{errs}");
}
