//! Signing compact JWS tokens: Direct Access Tokens from the CLI, and upstream tokens for the proxy.
//!
//! RSA, ECDSA P-256/P-384 and Ed25519 sign with `ring`, as verification does, so no second family of crypto
//! crates is in the module; P-521 signs with `p521` (`ring` has none).
//!
//! `ring` draws the randomness RSA blinding, the PSS salt and the ECDSA nonce need from its own
//! `SystemRandom`: its `SecureRandom` trait is sealed, so the `rng` the caller passes cannot be handed to it.
//! `SystemRandom` reads the same source the filter's `rng` does (`getrandom`, which is WASI `random_get` in
//! the proxy), and ring's ECDSA nonces are hedged (mixed with the key and the message), so a weak source
//! would still not leak the key. The passed `rng` serves P-521.

use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use ring::rand::SystemRandom;
use ring::rsa::{KeyPairComponents, PublicKeyComponents};
use ring::signature::{self as ring_sig, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use serde_json::{json, Map, Value};
use sha2::{Sha256, Sha384, Sha512};

use super::Alg;
use crate::b64;
use crate::secret::Secret;

pub struct SigningKey {
    pub kid: Option<String>,
    pub alg: Alg,
    material: Material,
}

enum Material {
    Hmac(Secret),
    Rsa(Box<RsaKeyPair>),
    Ecdsa(Box<EcdsaKeyPair>),
    Es512(Box<p521::ecdsa::SigningKey>),
    Ed25519(Box<Ed25519KeyPair>),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

fn member(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    obj.get(name)
        .and_then(Value::as_str)
        .and_then(b64::decode_strict)
        .ok_or_else(|| format!("private JWK member {name:?} is missing or not base64url"))
}

impl SigningKey {
    pub fn hmac(kid: Option<String>, alg: Alg, secret: Secret) -> Result<Self, String> {
        if !alg.is_hmac() {
            return Err(format!("{alg} is not an HMAC algorithm"));
        }
        if secret.len() < alg.min_hmac_key_len() {
            return Err(format!("{alg} needs a secret of at least {} bytes", alg.min_hmac_key_len()));
        }
        Ok(SigningKey { kid, alg, material: Material::Hmac(secret) })
    }

    /// A private JWK as `gatehouse keygen` prints it. `alg` may override the JWK's (an RSA key may sign
    /// RS384 or PS256 too), but never across key types.
    pub fn from_private_jwk(jwk: &Value, alg: Option<Alg>) -> Result<Self, String> {
        let obj = jwk.as_object().ok_or("a private JWK must be a JSON object")?;
        let kid = obj.get("kid").and_then(Value::as_str).map(str::to_owned);
        let jwk_alg = obj.get("alg").and_then(Value::as_str).and_then(Alg::parse);
        let alg = alg.or(jwk_alg).ok_or("the key has no usable \"alg\"; pass one")?;
        let kty = obj.get("kty").and_then(Value::as_str).unwrap_or("");
        let material = match (kty, alg) {
            ("RSA", Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512) => {
                // RFC 7518 §6.3.2: with "p" and "q" come the CRT members, which `ring` signs with.
                let (n, e, d) = (member(obj, "n")?, member(obj, "e")?, member(obj, "d")?);
                let (p, q) = (member(obj, "p")?, member(obj, "q")?);
                let (dp, dq, qi) = (member(obj, "dp")?, member(obj, "dq")?, member(obj, "qi")?);
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents { n: n.as_slice(), e: e.as_slice() },
                    d: d.as_slice(),
                    p: p.as_slice(),
                    q: q.as_slice(),
                    dP: dp.as_slice(),
                    dQ: dq.as_slice(),
                    qInv: qi.as_slice(),
                };
                let key = RsaKeyPair::from_components(&components).map_err(|e| format!("bad RSA private key: {e}"))?;
                Material::Rsa(Box::new(key))
            }
            ("EC", Alg::ES256 | Alg::ES384) => {
                let (signing, crv) = if alg == Alg::ES256 {
                    (&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256")
                } else {
                    (&ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384")
                };
                let mut point = vec![0x04];
                point.extend_from_slice(&member(obj, "x")?);
                point.extend_from_slice(&member(obj, "y")?);
                let key = EcdsaKeyPair::from_private_key_and_public_key(
                    signing,
                    &member(obj, "d")?,
                    &point,
                    &SystemRandom::new(),
                )
                .map_err(|_| format!("bad {crv} private key"))?;
                Material::Ecdsa(Box::new(key))
            }
            ("EC", Alg::ES512) => Material::Es512(Box::new(
                p521::ecdsa::SigningKey::from_slice(&member(obj, "d")?).map_err(|_| "bad P-521 private key")?,
            )),
            ("OKP", Alg::EdDSA) => {
                let d = member(obj, "d")?;
                // With the public key present, `ring` checks that the two belong together.
                let key = match obj.get("x") {
                    Some(_) => Ed25519KeyPair::from_seed_and_public_key(&d, &member(obj, "x")?),
                    None => Ed25519KeyPair::from_seed_unchecked(&d),
                }
                .map_err(|e| format!("bad Ed25519 private key: {e}"))?;
                Material::Ed25519(Box::new(key))
            }
            (kty, alg) => return Err(format!("key type {kty:?} cannot sign {alg}")),
        };
        Ok(SigningKey { kid, alg, material })
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ: "JWT", kid}`. `rng` is used by ES512 (its
    /// nonce: `p521` 0.13 has no RFC 6979 signer); `ring` draws its own (module docs).
    pub fn sign(&self, claims: &Value, rng: &mut impl CryptoRngCore) -> Result<String, String> {
        let mut header = json!({"alg": self.alg.name(), "typ": "JWT"});
        if let Some(kid) = &self.kid {
            if let Some(h) = header.as_object_mut() {
                h.insert("kid".into(), json!(kid));
            }
        }
        let h = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        let c = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
        let input = format!("{}.{}", b64::encode(&h), b64::encode(&c));
        let sig = self.sign_bytes(input.as_bytes(), rng)?;
        Ok(format!("{input}.{}", b64::encode(&sig)))
    }

    fn sign_bytes(&self, msg: &[u8], rng: &mut impl CryptoRngCore) -> Result<Vec<u8>, String> {
        macro_rules! mac {
            ($d:ty, $s:expr) => {{
                let mut m = Hmac::<$d>::new_from_slice($s.expose()).map_err(|e| e.to_string())?;
                m.update(msg);
                m.finalize().into_bytes().to_vec()
            }};
        }
        Ok(match (&self.material, self.alg) {
            (Material::Hmac(s), Alg::HS256) => mac!(Sha256, s),
            (Material::Hmac(s), Alg::HS384) => mac!(Sha384, s),
            (Material::Hmac(s), Alg::HS512) => mac!(Sha512, s),
            (Material::Rsa(k), alg) => {
                let padding: &'static dyn ring_sig::RsaEncoding = match alg {
                    Alg::RS256 => &ring_sig::RSA_PKCS1_SHA256,
                    Alg::RS384 => &ring_sig::RSA_PKCS1_SHA384,
                    Alg::RS512 => &ring_sig::RSA_PKCS1_SHA512,
                    Alg::PS256 => &ring_sig::RSA_PSS_SHA256,
                    Alg::PS384 => &ring_sig::RSA_PSS_SHA384,
                    Alg::PS512 => &ring_sig::RSA_PSS_SHA512,
                    other => return Err(format!("this key cannot sign {other}")),
                };
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, &SystemRandom::new(), msg, &mut sig).map_err(|_| "RSA signing failed".to_owned())?;
                sig
            }
            (Material::Es512(k), _) => {
                let sig: p521::ecdsa::Signature =
                    p521::ecdsa::signature::RandomizedSigner::try_sign_with_rng(&**k, rng, msg)
                        .map_err(|e| e.to_string())?;
                sig.to_bytes().to_vec()
            }
            (Material::Ecdsa(k), _) => {
                k.sign(&SystemRandom::new(), msg).map_err(|_| "ECDSA signing failed".to_owned())?.as_ref().to_vec()
            }
            (Material::Ed25519(k), _) => k.sign(msg).as_ref().to_vec(),
            (_, alg) => return Err(format!("this key cannot sign {alg}")),
        })
    }
}
