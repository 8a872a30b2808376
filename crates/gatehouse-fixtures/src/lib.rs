//! Named test keys, one copy for every test, benchmark and fuzz target: `rsa`, `rsa_other`, `p256`, `p384`
//! and `ed25519` as private JWKs (`tests/fixtures/keys.json`, generated once, never used outside tests).

use serde_json::{json, Value};

/// The fixture file as checked in.
pub const KEYS: &str = include_str!("../../../tests/fixtures/keys.json");

/// The private JWK named `name`; `Value::Null` for a name the file does not hold.
pub fn private_jwk(name: &str) -> Value {
    serde_json::from_str::<Value>(KEYS).ok().and_then(|all| all.get(name).cloned()).unwrap_or(Value::Null)
}

/// The public half of `name`, pinned to `alg` and named `kid`, as a configuration's `jwks` holds it.
pub fn public_jwk(name: &str, alg: &str, kid: &str) -> Value {
    let mut jwk = private_jwk(name);
    if let Some(o) = jwk.as_object_mut() {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            o.remove(private);
        }
        o.insert("alg".into(), json!(alg));
        o.insert("kid".into(), json!(kid));
    }
    jwk
}
