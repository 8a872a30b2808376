//! Key pairs for `gatehouse keygen` (native, the CLI only: the `keygen` feature). Generation stays on the
//! RustCrypto crates because `ring` cannot make RSA keys and returns the others only as PKCS#8; none of this
//! is in the filter's module.

use rand_core::CryptoRngCore;
use serde_json::{json, Value};

use super::jwk::MIN_RSA_BITS;
use crate::b64;

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
