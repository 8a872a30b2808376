//! `validate-config --no-env`: a stand-in value for every environment variable the configuration names, of the
//! shape its field needs (a cookie key ring, a private JWK of the signing algorithm, an HMAC secret in the
//! declared encoding), so only the configuration itself is checked, never the secrets.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gatehouse::b64;
use gatehouse::jwt::keygen::{generate, KeyKind};
use rand_core::OsRng;
use serde_json::{Map, Value};

/// Long enough for every HMAC algorithm (HS512 needs 64 bytes) and every other secret.
const SECRET: [u8; 64] = [0x5a; 64];

/// Variable name → placeholder, for every `*_env` member anywhere in `doc`.
pub fn for_config(doc: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    walk(doc, &mut out);
    out
}

fn walk(v: &Value, out: &mut HashMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (key, member) in m {
                if let (true, Some(var)) = (key.ends_with("_env"), member.as_str()) {
                    out.insert(var.to_owned(), placeholder(key, m));
                }
                walk(member, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

fn placeholder(key: &str, siblings: &Map<String, Value>) -> String {
    let sibling = |name: &str| siblings.get(name).and_then(Value::as_str);
    match key {
        "keys_env" => format!("placeholder:{}", b64::encode(&[0x5a; 32])),
        "private_jwk_env" => {
            let kind = match sibling("alg") {
                Some("ES256") => KeyKind::P256,
                Some("RS256") => KeyKind::Rsa(2048),
                _ => KeyKind::Ed25519,
            };
            let kid = sibling("kid").unwrap_or("placeholder");
            generate(kind, kid, &mut OsRng).map(|(private, _)| private.to_string()).unwrap_or_default()
        }
        _ => match sibling("encoding") {
            Some("base64url") => b64::encode(&SECRET),
            Some("base64") => STANDARD.encode(SECRET),
            _ => String::from_utf8_lossy(&SECRET).into_owned(),
        },
    }
}
