//! JSON Web Keys (RFC 7517/7518 §6, RFC 8037 §2): public keys pushed with the configuration, and key pairs
//! made by `gatehouse keygen`.

use rand_core::CryptoRngCore;
use serde_json::{json, Map, Value};

use super::{Alg, VerifyKey};
use crate::b64;

/// Members that only a private key has. A private key pushed as a verification key means a signing key
/// sits in every proxy's configuration, so it is refused outright.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// RSA keys below 2048 bits are refused (RFC 7518 §3.3 and NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;

/// Builds a verification key from one JWK. Errors are sentences naming the member, for config messages.
pub fn verify_key_from_jwk(jwk: &Value) -> Result<VerifyKey, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let Some(obj) = jwk.as_object() else {
        return Err(vec![(String::new(), "expected a JSON object (a JWK)".into())]);
    };
    for m in PRIVATE_MEMBERS {
        if obj.contains_key(m) {
            errors.push((format!(".{m}"), "private key material must not be in the configuration".into()));
        }
    }
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            errors.push((".kid".into(), "expected a non-empty string".into()));
            None
        }
    };
    if let Some(u) = obj.get("use") {
        if u != "sig" {
            errors.push((".use".into(), "expected \"sig\"; this key is not for signatures".into()));
        }
    }
    // RFC 7517 §4.3: `key_ops` says what the key may be used for; one that may not "verify" verifies nothing.
    if let Some(ops) = obj.get("key_ops") {
        match ops.as_array().filter(|list| list.iter().all(Value::is_string)) {
            Some(list) if list.iter().any(|op| op == "verify") => {}
            Some(_) => errors
                .push((".key_ops".into(), "does not include \"verify\"; this key may not verify signatures".into())),
            None => errors.push((".key_ops".into(), "expected an array of strings".into())),
        }
    }
    // RFC 8725 §3.1: one key, one algorithm. A JWK without `alg` would let the token choose.
    let alg = match obj.get("alg") {
        Some(Value::String(s)) => match Alg::parse(s) {
            Some(a) if !a.is_hmac() => Some(a),
            Some(_) => {
                errors.push((".alg".into(), "HMAC keys are configured with secret_env, not inline".into()));
                None
            }
            None => {
                errors.push((".alg".into(), format!("unsupported algorithm; expected one of {}", Alg::names())));
                None
            }
        },
        _ => {
            errors.push((".alg".into(), "required: every key is pinned to one algorithm (RFC 8725 §3.1)".into()));
            None
        }
    };
    let kty = obj.get("kty").and_then(Value::as_str).unwrap_or("");
    let (Some(alg), true) = (alg, errors.is_empty()) else {
        return Err(errors);
    };
    let built = match (kty, alg) {
        ("RSA", Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512) => rsa_key(obj).and_then(|k| {
            use rsa::traits::PublicKeyParts;
            if k.size() * 8 < MIN_RSA_BITS {
                Err((".n".into(), format!("RSA modulus too small; expected at least {MIN_RSA_BITS} bits")))
            } else if super::roca::fingerprinted(&k.n().to_bytes_be()) {
                Err((".n".into(), "an RSA key with the ROCA fingerprint (CVE-2017-15361): its private key can be computed from this public key".into()))
            } else {
                VerifyKey::rsa(kid, alg, k).map_err(|e| (".alg".into(), e))
            }
        }),
        ("EC", Alg::ES256) => ec_point(obj, "P-256", 32).and_then(|pt| {
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&pt)
                .map(|k| VerifyKey::es256(kid, k))
                .map_err(|_| (".x".into(), "not a point on P-256".into()))
        }),
        ("EC", Alg::ES384) => ec_point(obj, "P-384", 48).and_then(|pt| {
            p384::ecdsa::VerifyingKey::from_sec1_bytes(&pt)
                .map(|k| VerifyKey::es384(kid, k))
                .map_err(|_| (".x".into(), "not a point on P-384".into()))
        }),
        ("EC", Alg::ES512) => ec_point(obj, "P-521", 66).and_then(|pt| {
            p521::ecdsa::VerifyingKey::from_sec1_bytes(&pt)
                .map(|k| VerifyKey::es512(kid, k))
                .map_err(|_| (".x".into(), "not a point on P-521".into()))
        }),
        ("OKP", Alg::EdDSA) => ed25519_key(obj).map(|k| VerifyKey::ed25519(kid, k)),
        (kty, alg) => Err((".kty".into(), format!("key type {kty:?} cannot be used with {alg}"))),
    };
    built.map_err(|e| vec![e])
}

fn member(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, (String, String)> {
    obj.get(name)
        .and_then(Value::as_str)
        .and_then(b64::decode_strict)
        .ok_or_else(|| (format!(".{name}"), "required: unpadded base64url".into()))
}

fn rsa_key(obj: &Map<String, Value>) -> Result<rsa::RsaPublicKey, (String, String)> {
    let n = member(obj, "n")?;
    let e = member(obj, "e")?;
    rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from_bytes_be(&e))
        .map_err(|err| (".n".into(), format!("not a usable RSA public key: {err}")))
}

fn ec_point(obj: &Map<String, Value>, crv: &str, len: usize) -> Result<Vec<u8>, (String, String)> {
    if obj.get("crv").and_then(Value::as_str) != Some(crv) {
        return Err((".crv".into(), format!("expected {crv:?}")));
    }
    let x = member(obj, "x")?;
    let y = member(obj, "y")?;
    // RFC 7518 §6.2.1.2: coordinates are full-length; a shortened one is a different encoding of a number.
    if x.len() != len || y.len() != len {
        return Err((".x".into(), format!("coordinates must be {len} bytes each")));
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

fn ed25519_key(obj: &Map<String, Value>) -> Result<ed25519_dalek::VerifyingKey, (String, String)> {
    if obj.get("crv").and_then(Value::as_str) != Some("Ed25519") {
        return Err((".crv".into(), "expected \"Ed25519\"".into()));
    }
    let x = member(obj, "x")?;
    let bytes: [u8; 32] = x.try_into().map_err(|_| (".x".to_string(), "expected 32 bytes".to_string()))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| (".x".to_string(), "not an Ed25519 public key".to_string()))?;
    // A small-order key verifies signatures made without any private key; `VerifyKey` would refuse every
    // token it names, so refusing it here says why instead.
    if key.is_weak() {
        return Err((".x".into(), "a small-order Ed25519 point, not a usable public key".into()));
    }
    Ok(key)
}

/// The kinds of key `gatehouse keygen` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Ed25519,
    P256,
    P384,
    Rsa(usize),
}

/// A fresh key pair as (private JWK, public JWK). The private JWK carries `alg` and `kid` so that
/// `gatehouse token mint --key` needs nothing else.
pub fn generate(kind: KeyKind, kid: &str, rng: &mut impl CryptoRngCore) -> Result<(Value, Value), String> {
    let (private, public) = match kind {
        KeyKind::Ed25519 => {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            let x = b64::encode(sk.verifying_key().as_bytes());
            let public = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "EdDSA"});
            let mut private = public.clone();
            set(&mut private, "d", json!(b64::encode(&seed)));
            (private, public)
        }
        KeyKind::P256 => {
            let sk = p256::ecdsa::SigningKey::random(rng);
            let pt = sk.verifying_key().to_encoded_point(false);
            ec_pair("P-256", "ES256", pt.x().map(|a| &a[..]), pt.y().map(|a| &a[..]), &sk.to_bytes())
        }
        KeyKind::P384 => {
            let sk = p384::ecdsa::SigningKey::random(rng);
            let pt = sk.verifying_key().to_encoded_point(false);
            ec_pair("P-384", "ES384", pt.x().map(|a| &a[..]), pt.y().map(|a| &a[..]), &sk.to_bytes())
        }
        KeyKind::Rsa(bits) => {
            use rsa::traits::{PrivateKeyParts, PublicKeyParts};
            if bits < MIN_RSA_BITS {
                return Err(format!("RSA keys must have at least {MIN_RSA_BITS} bits"));
            }
            let mut sk = rsa::RsaPrivateKey::new(rng, bits).map_err(|e| e.to_string())?;
            sk.precompute().map_err(|e| e.to_string())?;
            let be = |n: &rsa::BigUint| b64::encode(&n.to_bytes_be());
            let public = json!({"kty": "RSA", "alg": "RS256", "n": be(sk.n()), "e": be(sk.e())});
            let mut private = public.clone();
            set(&mut private, "d", json!(be(sk.d())));
            let primes = sk.primes();
            if let [p, q] = primes {
                set(&mut private, "p", json!(be(p)));
                set(&mut private, "q", json!(be(q)));
            }
            if let (Some(dp), Some(dq), Some(qi)) = (sk.dp(), sk.dq(), sk.crt_coefficient()) {
                set(&mut private, "dp", json!(be(dp)));
                set(&mut private, "dq", json!(be(dq)));
                set(&mut private, "qi", json!(be(&qi)));
            }
            (private, public)
        }
    };
    let (mut private, mut public) = (private, public);
    for v in [&mut private, &mut public] {
        set(v, "kid", json!(kid));
        set(v, "use", json!("sig"));
    }
    Ok((private, public))
}

fn ec_pair(crv: &str, alg: &str, x: Option<&[u8]>, y: Option<&[u8]>, d: &[u8]) -> (Value, Value) {
    let enc = |v: Option<&[u8]>| b64::encode(v.unwrap_or_default());
    let public = json!({"kty": "EC", "crv": crv, "alg": alg, "x": enc(x), "y": enc(y)});
    let mut private = public.clone();
    set(&mut private, "d", json!(b64::encode(d)));
    (private, public)
}

/// Adds a member to a JSON object (a no-op on anything else: every caller builds objects with `json!({..})`).
fn set(target: &mut Value, name: &str, value: Value) {
    if let Some(obj) = target.as_object_mut() {
        obj.insert(name.to_owned(), value);
    }
}
