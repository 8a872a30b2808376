//! JSON Web Keys (RFC 7517/7518 §6, RFC 8037 §2): public keys pushed with the configuration.
//!
//! RSA and the NIST curves are parsed and checked here and by `ring`, without the RustCrypto RSA and curve
//! crates, which keeps them out of the module (BENCHMARKS.md, module size). P-521 (`ring` has none) stays on
//! `p521`; Ed25519 keys are decoded by `ed25519-dalek`, which alone says whether a point is on the curve and
//! of small order.

use ring::agreement;
use serde_json::{Map, Value};

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
        ("RSA", Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512) => {
            rsa_key(obj).and_then(|(n, e)| {
                if bits(&n) < MIN_RSA_BITS {
                    Err((".n".into(), format!("RSA modulus too small; expected at least {MIN_RSA_BITS} bits")))
                } else if super::roca::fingerprinted(&n) {
                    Err((".n".into(), "an RSA key with the ROCA fingerprint (CVE-2017-15361): its private key can be computed from this public key".into()))
                } else {
                    VerifyKey::rsa(kid, alg, n, e).map_err(|e| (".alg".into(), e))
                }
            })
        }
        ("EC", Alg::ES256) => ec_point(obj, "P-256", 32).and_then(|pt| {
            if on_curve(&agreement::ECDH_P256, &pt) {
                Ok(VerifyKey::ecdsa(kid, Alg::ES256, pt))
            } else {
                Err((".x".into(), "not a point on P-256".into()))
            }
        }),
        ("EC", Alg::ES384) => ec_point(obj, "P-384", 48).and_then(|pt| {
            if on_curve(&agreement::ECDH_P384, &pt) {
                Ok(VerifyKey::ecdsa(kid, Alg::ES384, pt))
            } else {
                Err((".x".into(), "not a point on P-384".into()))
            }
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

/// The largest RSA modulus accepted, in bits: what the `rsa` crate accepted when it parsed these keys, so a
/// configuration it refused is still refused; `ring` itself verifies up to 8192.
pub const MAX_RSA_BITS: usize = 4096;

/// The modulus and public exponent, big-endian without leading zeros (the form `ring` verifies with), checked
/// as `ring` requires (RFC 8017 §3.1: odd n; e odd, 3 ≤ e < 2^33) so that a key that could never verify
/// anything is refused with the member it is wrong in.
fn rsa_key(obj: &Map<String, Value>) -> Result<(Vec<u8>, Vec<u8>), (String, String)> {
    let unusable = |why: &str| (".n".to_owned(), format!("not a usable RSA public key: {why}"));
    let n = strip_zeros(member(obj, "n")?);
    let e = strip_zeros(member(obj, "e")?);
    if n.last().is_none_or(|b| b & 1 == 0) {
        return Err(unusable("the modulus must be odd"));
    }
    if bits(&n) > MAX_RSA_BITS {
        return Err(unusable(&format!("the modulus has more than {MAX_RSA_BITS} bits")));
    }
    if e.last().is_none_or(|b| b & 1 == 0) || bits(&e) > 33 || (e.len() == 1 && e.first().is_some_and(|b| *b < 3)) {
        return Err(unusable("the public exponent must be odd, at least 3 and below 2^33"));
    }
    Ok((n, e))
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

/// The bit length of a big-endian number without leading zero bytes.
fn bits(v: &[u8]) -> usize {
    v.first().map_or(0, |top| v.len() * 8 - top.leading_zeros() as usize)
}

/// Whether an uncompressed SEC1 point is on the curve (and not the point at infinity). `ring` checks a peer's
/// public key this way before any key agreement (SP 800-56A §5.6.2.3.3), so one agreement with a throwaway
/// key answers the question with the same code that will verify the signatures; the shared secret is
/// discarded unread.
fn on_curve(alg: &'static agreement::Algorithm, point: &[u8]) -> bool {
    let rng = ring::rand::SystemRandom::new();
    let Ok(ours) = agreement::EphemeralPrivateKey::generate(alg, &rng) else { return false };
    agreement::agree_ephemeral(ours, &agreement::UnparsedPublicKey::new(alg, point), |_| ()).is_ok()
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
