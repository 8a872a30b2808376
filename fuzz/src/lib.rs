//! Fixtures shared by the fuzz targets: a configuration with keys for every algorithm, a session with a
//! provider, and a way to run a request through `decide` the way the filter does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::OnceLock;

use gatehouse::cache::Caches;
use gatehouse::jwks::RemoteKeys;
use gatehouse::{decide, load_config, Config, Decision, Inputs, Request};
use serde_json::{json, Value};

const KEYS: &str = include_str!("../../tests/fixtures/keys.json");
pub const ISS: &str = "https://platform.fuzz/";
pub const AUD: &str = "gatehouse-fuzz";
pub const COOKIE: &str = "__Host-gatehouse";
pub const DEPLOYMENT: &str = "dep-1";

fn public(name: &str, alg: &str, kid: &str) -> Value {
    let all: Value = serde_json::from_str(KEYS).unwrap();
    let mut jwk = all[name].clone();
    let o = jwk.as_object_mut().unwrap();
    for p in ["d", "p", "q", "dp", "dq", "qi"] {
        o.remove(p);
    }
    o.insert("alg".into(), json!(alg));
    o.insert("kid".into(), json!(kid));
    jwk
}

pub fn env(name: &str) -> Option<String> {
    match name {
        "HS256" => Some("fuzz-hs256-secret-fuzz-hs256-secret-0123456789".into()),
        "COOKIE_KEYS" => Some(format!("k1:{}", gatehouse::b64::encode(&[5u8; 32]))),
        "CLIENT_SECRET" => Some("fuzz-client-secret".into()),
        "AIRFLOW_SECRET" => Some("a".repeat(64)),
        _ => None,
    }
}

pub fn config_json() -> Value {
    json!({
        "dataplane": {"organization_id": "org-1", "workspace_id": "ws-1", "deployment_id": DEPLOYMENT},
        "roles": {"ADMIN": ["read", "admin"], "VIEWER": ["read"]},
        "issuers": [
            {"name": "platform", "issuer": ISS, "audiences": [AUD], "kind": "direct_access",
             "jwks": {"keys": [public("rsa", "RS256", "rs"), public("p256", "ES256", "es"),
                               public("p384", "ES384", "es384"), public("ed25519", "EdDSA", "ed"),
                               public("rsa", "PS256", "ps")]},
             "hmac_keys": [{"kid": "hs", "alg": "HS256", "secret_env": "HS256"}],
             "revoked_token_ids": ["revoked"]}
        ],
        "routes": [
            {"name": "health", "path": {"exact": "/health"}, "require": "public"},
            {"name": "admin", "path": {"prefix": "/api/admin"}, "require": "bearer", "permissions": ["admin"]},
            {"name": "runs", "path": {"regex": "/api/dags/[^/]+/runs"}, "methods": ["POST"], "require": "bearer"},
            {"name": "api", "path": {"prefix": "/api"}, "require": "bearer"},
            {"name": "ui", "path": {"prefix": "/ui"}, "require": "session"},
            {"name": "either", "path": {"prefix": "/either"}, "require": "bearer_or_session"},
            {"name": "static", "hosts": ["static.test", "*.cdn.test"], "path": {"prefix": "/"}, "require": "public"}
        ],
        "session": {
            "keys_env": "COOKIE_KEYS",
            "cookie_name": COOKIE,
            "redirect_uri": "https://airflow.fuzz/oauth2/callback",
            "provider": {
                "issuer": "https://idp.fuzz/", "client_id": "c", "client_secret_env": "CLIENT_SECRET",
                "authorization_endpoint": "https://idp.fuzz/authorize",
                "token_endpoint": {"cluster": "idp", "authority": "idp.fuzz", "path": "/token"},
                "jwks": {"keys": [public("rsa", "RS256", "idp")]},
                "roles_claim": "roles"
            }
        },
        "upstream_token": {"signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET"}, "roles": {"admin": "ADMIN"},
                           "direct_access_roles": {"ADMIN": "ADMIN", "VIEWER": "VIEWER"}}
    })
}

pub fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| match load_config(config_json().to_string().as_bytes(), &env) {
        Ok(c) => c,
        Err(e) => panic!("fuzz fixture config invalid:\n{e}"),
    })
}

/// Runs one request through the core as the filter would, at a fixed time; returns the status it answers
/// (200 for a pass to the upstream, 0 for an out-of-band call).
pub fn run(method: &str, path: &str, authority: &str, headers: &[(String, String)]) -> u16 {
    run_why(method, path, authority, headers).0
}

/// As `run`, with the decision's reason code.
pub fn run_why(method: &str, path: &str, authority: &str, headers: &[(String, String)]) -> (u16, &'static str) {
    let cfg = config();
    let mut caches = Caches::new(&cfg.cache);
    let remote = RemoteKeys::default();
    let mut rng = rand_core::OsRng;
    let mut inp = Inputs { now: 1_900_000_000, rng: &mut rng, caches: &mut caches, remote: &remote, provider_down: false };
    let d = decide(cfg, &Request { method, path, authority, headers }, &mut inp);
    let why = d.verdict().reason;
    let status = match d {
        Decision::Allow(_) => 200,
        Decision::Call(_) => 0,
        other => other.status().unwrap_or(0),
    };
    (status, why)
}

/// Splits fuzz input into up to `n` parts at NUL bytes, lossily as UTF-8 (header values are strings by the
/// time the filter hands them to the core).
pub fn parts(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data.splitn(n, |b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    out.resize(n, String::new());
    out
}
