//! Named fixtures shared by the unit tests: keys (checked in, test-only), a configuration that trusts them,
//! and a token builder.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand_core::OsRng;
use serde_json::{json, Map, Value};

use crate::config::{load_config, Config};
use crate::jwt::{Alg, SigningKey};
use crate::secret::Secret;

pub const PLATFORM: &str = "https://platform.test/";
pub const AUTH0: &str = "https://tenant.auth0.test/";
pub const AUD: &str = "gatehouse-dataplane";
pub const ORG: &str = "org-1";
pub const WS: &str = "ws-1";
pub const DEP: &str = "dep-1";
pub const ALL_ALGS: [Alg; 13] = crate::jwt::alg::ALL;

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn fixture(name: &str) -> Value {
    gatehouse_fixtures::private_jwk(name)
}

fn fixture_for(alg: Alg) -> &'static str {
    match alg {
        Alg::EdDSA => "ed25519",
        Alg::ES256 => "p256",
        Alg::ES384 => "p384",
        Alg::ES512 => "p521",
        _ => "rsa",
    }
}

pub fn hmac_secret(alg: Alg) -> String {
    format!("{}-test-secret-{}", alg.name(), "x".repeat(64))
}

pub fn kid(alg: Alg) -> String {
    format!("k-{}", alg.name().to_lowercase())
}

pub fn signing_key(alg: Alg) -> SigningKey {
    let mut key = if alg.is_hmac() {
        SigningKey::hmac(None, alg, Secret::new(hmac_secret(alg).into_bytes())).unwrap()
    } else {
        SigningKey::from_private_jwk(&fixture(fixture_for(alg)), Some(alg)).unwrap()
    };
    key.kid = Some(kid(alg));
    key
}

/// A key of the right type that the configuration does not trust.
pub fn untrusted_rsa_key(alg: Alg) -> SigningKey {
    let mut key = SigningKey::from_private_jwk(&fixture("rsa_other"), Some(alg)).unwrap();
    key.kid = Some(kid(alg));
    key
}

pub fn public_jwk(name: &str, alg: Alg, kid: &str) -> Value {
    gatehouse_fixtures::public_jwk(name, alg.name(), kid)
}

pub fn env(name: &str) -> Option<String> {
    ALL_ALGS.iter().find(|a| format!("HMAC_{}", a.name()) == name).map(|a| hmac_secret(*a))
}

pub fn config_json() -> Value {
    let asymmetric: Vec<Value> =
        ALL_ALGS.iter().filter(|a| !a.is_hmac()).map(|a| public_jwk(fixture_for(*a), *a, &kid(*a))).collect();
    let hmac: Vec<Value> = ALL_ALGS
        .iter()
        .filter(|a| a.is_hmac())
        .map(|a| json!({"kid": kid(*a), "alg": a.name(), "secret_env": format!("HMAC_{}", a.name())}))
        .collect();
    json!({
        "dataplane": {"organization_id": ORG, "workspace_id": WS, "deployment_id": DEP},
        "realm": "airflow",
        "roles": {
            "ADMIN": ["read", "operate", "admin"],
            "OPERATOR": ["read", "operate"],
            "VIEWER": ["read"]
        },
        "issuers": [
            {"name": "platform", "issuer": PLATFORM, "audiences": [AUD], "kind": "direct_access",
             "jwks": {"keys": asymmetric}, "hmac_keys": hmac,
             "revoked_token_ids": ["revoked-1"], "subject_not_before": {"fired": 2_000_000_000u64}},
            {"name": "auth0", "issuer": AUTH0, "audiences": ["https://api.test"], "kind": "access_token",
             "jwks": {"keys": [public_jwk("rsa", Alg::RS256, "auth0-1")]},
             "permissions_claim": "permissions", "role_claim": "https://test/roles"}
        ],
        "routes": [
            {"name": "health", "path": {"exact": "/health"}, "require": "public"},
            {"name": "admin", "class": "api", "path": {"prefix": "/api/admin"}, "require": "bearer", "permissions": ["admin"]},
            {"name": "runs", "class": "api", "path": {"regex": "/api/dags/[^/]+/runs"}, "methods": ["POST"],
             "require": "bearer", "permissions": ["operate"]},
            {"name": "api", "class": "api", "path": {"prefix": "/api"}, "require": "bearer", "permissions": ["read"]},
            {"name": "ui", "class": "ui", "path": {"prefix": "/ui"}, "require": "session", "response": "text"},
            {"name": "either", "path": {"prefix": "/either"}, "require": "bearer_or_session"},
            {"name": "static", "hosts": ["static.test", "*.cdn.test"], "path": {"prefix": "/"}, "require": "public"}
        ]
    })
}

pub fn config_from(v: &Value) -> Arc<Config> {
    match load_config(v.to_string().as_bytes(), &env) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("fixture config invalid:\n{e}"),
    }
}

pub fn config() -> Arc<Config> {
    config_from(&config_json())
}

/// Claims of a valid deployment-scoped Direct Access Token; tests change what they are about.
pub fn dat() -> Map<String, Value> {
    let now = now();
    match json!({
        "iss": PLATFORM, "aud": AUD, "sub": "robot-1", "iat": now, "nbf": now, "exp": now + 600,
        "jti": "jti-1", "scope_type": "deployment", "organization_id": ORG, "workspace_id": WS,
        "deployment_id": DEP, "role": "ADMIN"
    }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

pub fn sign(claims: &Map<String, Value>, alg: Alg) -> String {
    signing_key(alg).sign(&Value::Object(claims.clone()), &mut OsRng).unwrap()
}

/// Signs arbitrary header and payload bytes with the HS256 fixture secret, for malformed-token cases: the
/// signature is valid, so only the property under test can make verification fail.
pub fn sign_raw(header: &Value, payload: &[u8], alg: Alg) -> String {
    use crate::b64::encode;
    let input = format!("{}.{}", encode(header.to_string().as_bytes()), encode(payload));
    let sig = raw_signature(&input, alg);
    format!("{input}.{}", encode(&sig))
}

fn raw_signature(input: &str, alg: Alg) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    assert!(alg == Alg::HS256, "sign_raw supports HS256 only");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(hmac_secret(alg).as_bytes()).unwrap();
    mac.update(input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

pub const IDP: &str = "https://idp.test/";
pub const CLIENT_ID: &str = "gatehouse-client";
pub const KEY_NEW: [u8; 32] = [7u8; 32];
pub const KEY_OLD: [u8; 32] = [9u8; 32];

pub fn session_env(name: &str) -> Option<String> {
    match name {
        "COOKIE_KEYS" => Some(format!("new:{},old:{}", crate::b64::encode(&KEY_NEW), crate::b64::encode(&KEY_OLD))),
        "COOKIE_KEYS_OLD_FIRST" => Some(format!("old:{}", crate::b64::encode(&KEY_OLD))),
        "CLIENT_SECRET" => Some("s3cr3t:with/odd chars".into()),
        "AIRFLOW_SECRET" => Some("a".repeat(64)),
        other => env(other),
    }
}

/// The fixture config plus browser sign-in against `IDP` and an Airflow token mint.
pub fn session_config_json() -> Value {
    let mut v = config_json();
    v["session"] = json!({
        "keys_env": "COOKIE_KEYS",
        "redirect_uri": "https://airflow.test/oauth2/callback",
        "post_logout_redirect_uri": "https://airflow.test/",
        "provider": {
            "issuer": IDP, "client_id": CLIENT_ID, "client_secret_env": "CLIENT_SECRET",
            "authorization_endpoint": "https://idp.test/authorize",
            "token_endpoint": {"cluster": "idp", "authority": "idp.test", "path": "/oauth/token", "timeout_ms": 3000},
            "end_session_endpoint": "https://idp.test/logout",
            "jwks": {"keys": [public_jwk("rsa", Alg::RS256, "idp-1")]},
            "scopes": ["openid", "profile", "email"],
            "audience": "https://api.test",
            "roles_claim": "https://test/roles"
        }
    });
    v["upstream_token"] = json!({
        "signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET"},
        "roles": {"admin": "ADMIN", "ops": "OP", "viewer": "VIEWER"},
        "direct_access_roles": {"ADMIN": "ADMIN", "OPERATOR": "OP", "VIEWER": "VIEWER"}
    });
    v
}

pub fn session_config_from(v: &Value, env: &dyn Fn(&str) -> Option<String>) -> Arc<Config> {
    match load_config(v.to_string().as_bytes(), env) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("fixture config invalid:\n{e}"),
    }
}

pub fn session_config() -> Arc<Config> {
    session_config_from(&session_config_json(), &session_env)
}

/// An ID token as the provider would sign it.
pub fn id_token(nonce: &str, roles: &[&str], now: u64) -> String {
    let mut key = signing_key(Alg::RS256);
    key.kid = Some("idp-1".into());
    key.sign(
        &json!({"iss": IDP, "aud": CLIENT_ID, "sub": "auth0|alice", "email": "alice@test", "name": "Alice",
                "iat": now, "exp": now + 300, "nonce": nonce, "https://test/roles": roles, "sid": "sid-alice"}),
        &mut OsRng,
    )
    .unwrap()
}

/// One VM: an engine for `cfg` and the proxy's shared store, driven with a clock the test sets.
pub struct Vm {
    pub engine: crate::engine::Engine,
    pub store: crate::engine::MemoryStore,
    pub now: u64,
}

impl Vm {
    pub fn new(cfg: &Arc<Config>) -> Self {
        let mut vm = Vm { engine: crate::engine::Engine::new(Arc::clone(cfg)), store: Default::default(), now: now() };
        vm.engine.on_configure(&mut vm.store);
        vm
    }

    pub fn request(&mut self, method: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> crate::Decision {
        let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        let mut rng = OsRng;
        let mut w = crate::engine::World { now: self.now, rng: &mut rng, store: &mut self.store };
        let req = crate::Request { method, path, authority: host, headers: &headers };
        self.engine.on_request(&req, &mut w)
    }

    pub fn answer(&mut self, pending: crate::Pending, resp: crate::CallResponse) -> crate::Decision {
        let mut rng = OsRng;
        let mut w = crate::engine::World { now: self.now, rng: &mut rng, store: &mut self.store };
        self.engine.on_call_response(pending, resp, &mut w)
    }

    /// A transient provider failure seen by any VM opens the proxy-wide breaker.
    pub fn open_breaker(&mut self) {
        crate::engine::breaker::mark(&mut self.store, false, self.now, 30);
    }
}

/// A call as the filter would send it, apart from its continuation.
pub struct Sent {
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

pub fn split(call: Box<crate::Call>) -> (crate::Pending, Sent) {
    let crate::Call { cluster, headers, body, timeout_ms, then, verdict: _ } = *call;
    (then, Sent { cluster, headers, body, timeout_ms })
}
