//! Fixtures shared by the fuzz targets: a configuration with keys for every algorithm, a session with a
//! provider, and a way to run a request through the engine the way the filter does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::OnceLock;

use std::sync::Arc;

use gatehouse::engine::{MemoryStore, World};
use gatehouse::{load_config, Config, Decision, Engine, Request};
use serde_json::{json, Value};

pub const ISS: &str = "https://platform.fuzz/";
pub const AUD: &str = "gatehouse-fuzz";
pub const COOKIE: &str = "__Host-gatehouse";
pub const DEPLOYMENT: &str = "dep-1";

use gatehouse_fixtures::public_jwk as public;

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

pub fn config() -> &'static Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG.get_or_init(|| match load_config(config_json().to_string().as_bytes(), &env) {
        Ok(c) => Arc::new(c),
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
    let mut engine = Engine::new(Arc::clone(config()));
    let mut store = MemoryStore::default();
    let mut w = World { now: 1_900_000_000, rng: &mut rand_core::OsRng, store: &mut store };
    let d = engine.on_request(&Request { method, path, authority, headers }, &mut w);
    let why = d.verdict().reason.code();
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
