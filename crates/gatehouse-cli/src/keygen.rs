//! `gatehouse keygen`: fresh keys from the OS random source, printed as JWK/JWKS.

use gatehouse::b64;
use gatehouse::jwt::keygen::{generate, KeyKind};
use rand_core::{OsRng, RngCore};
use serde_json::json;

use crate::cli::{KeyType, KeygenArgs};
use crate::Failure;

pub fn run(a: &KeygenArgs) -> Result<(), Failure> {
    if a.bits.is_some() && a.kind != KeyType::Rsa {
        return Err(Failure::Usage("--bits is for --type rsa only".into()));
    }
    let kid = a.kid.clone().unwrap_or_else(|| {
        let mut id = [0u8; 6];
        OsRng.fill_bytes(&mut id);
        b64::encode(&id)
    });
    let key_kind = match a.kind {
        KeyType::Hmac => {
            // 64 bytes: enough for HS512 (RFC 7518 §3.2), printed as base64url so it survives any env file.
            let mut secret = [0u8; 64];
            OsRng.fill_bytes(&mut secret);
            let out = json!({"kid": kid, "secret": b64::encode(&secret), "encoding": "base64url"});
            println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
            return Ok(());
        }
        KeyType::Ed25519 => KeyKind::Ed25519,
        KeyType::P256 => KeyKind::P256,
        KeyType::P384 => KeyKind::P384,
        KeyType::Rsa => KeyKind::Rsa(usize::from(a.bits.unwrap_or(2048))),
    };
    let (private, public) = generate(key_kind, &kid, &mut OsRng)?;
    let out = json!({"private_jwk": private, "jwks": {"keys": [public]}});
    println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    Ok(())
}
