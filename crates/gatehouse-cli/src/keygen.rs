//! `gatehouse keygen`: fresh keys from the OS random source, printed as JWK/JWKS.

use gatehouse::b64;
use gatehouse::jwt::jwk::{generate, KeyKind};
use rand_core::{OsRng, RngCore};
use serde_json::json;

use crate::flag;

pub fn run(args: &[String]) -> Result<(), String> {
    let kind = flag(args, "--type").ok_or("keygen needs --type hmac|ed25519|p256|p384|rsa")?;
    let kid = flag(args, "--kid").unwrap_or_else(|| {
        let mut id = [0u8; 6];
        OsRng.fill_bytes(&mut id);
        b64::encode(&id)
    });
    let out = match kind.as_str() {
        "hmac" => {
            // 64 bytes: enough for HS512 (RFC 7518 §3.2), printed as base64url so it survives any env file.
            let mut secret = [0u8; 64];
            OsRng.fill_bytes(&mut secret);
            json!({"kid": kid, "secret": b64::encode(&secret), "encoding": "base64url"})
        }
        other => {
            let key_kind = match other {
                "ed25519" => KeyKind::Ed25519,
                "p256" => KeyKind::P256,
                "p384" => KeyKind::P384,
                "rsa" => {
                    let bits = flag(args, "--bits")
                        .map_or(Ok(2048), |b| b.parse::<usize>())
                        .map_err(|_| "--bits must be a number")?;
                    KeyKind::Rsa(bits)
                }
                _ => return Err(format!("unknown key type {other:?}; expected hmac, ed25519, p256, p384 or rsa")),
            };
            let (private, public) = generate(key_kind, &kid, &mut OsRng)?;
            json!({"private_jwk": private, "jwks": {"keys": [public]}})
        }
    };
    println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    Ok(())
}
