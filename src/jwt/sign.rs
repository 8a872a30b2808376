//! Signing compact JWS tokens: Direct Access Tokens from the CLI, and upstream tokens for the proxy.

use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
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
    Rsa(Box<rsa::RsaPrivateKey>),
    Es256(p256::ecdsa::SigningKey),
    Es384(p384::ecdsa::SigningKey),
    Es512(Box<p521::ecdsa::SigningKey>),
    Ed25519(ed25519_dalek::SigningKey),
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
                let n = rsa::BigUint::from_bytes_be(&member(obj, "n")?);
                let e = rsa::BigUint::from_bytes_be(&member(obj, "e")?);
                let d = rsa::BigUint::from_bytes_be(&member(obj, "d")?);
                let p = rsa::BigUint::from_bytes_be(&member(obj, "p")?);
                let q = rsa::BigUint::from_bytes_be(&member(obj, "q")?);
                let key = rsa::RsaPrivateKey::from_components(n, e, d, vec![p, q]).map_err(|e| e.to_string())?;
                Material::Rsa(Box::new(key))
            }
            ("EC", Alg::ES256) => Material::Es256(
                p256::ecdsa::SigningKey::from_slice(&member(obj, "d")?).map_err(|_| "bad P-256 private key")?,
            ),
            ("EC", Alg::ES384) => Material::Es384(
                p384::ecdsa::SigningKey::from_slice(&member(obj, "d")?).map_err(|_| "bad P-384 private key")?,
            ),
            ("EC", Alg::ES512) => Material::Es512(Box::new(
                p521::ecdsa::SigningKey::from_slice(&member(obj, "d")?).map_err(|_| "bad P-521 private key")?,
            )),
            ("OKP", Alg::EdDSA) => {
                let d: [u8; 32] = member(obj, "d")?.try_into().map_err(|_| "Ed25519 \"d\" must be 32 bytes")?;
                Material::Ed25519(ed25519_dalek::SigningKey::from_bytes(&d))
            }
            (kty, alg) => return Err(format!("key type {kty:?} cannot sign {alg}")),
        };
        Ok(SigningKey { kid, alg, material })
    }

    /// Signs `claims` as a compact JWS with header `{alg, typ: "JWT", kid}`. `rng` is used by PS* (the salt)
    /// and ES512 (its nonce: `p521` 0.13 has no RFC 6979 signer).
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
            (Material::Rsa(k), Alg::RS256) => rsa::pkcs1v15::SigningKey::<Sha256>::new((**k).clone())
                .try_sign(msg)
                .map_err(|e| e.to_string())?
                .to_vec(),
            (Material::Rsa(k), Alg::RS384) => rsa::pkcs1v15::SigningKey::<Sha384>::new((**k).clone())
                .try_sign(msg)
                .map_err(|e| e.to_string())?
                .to_vec(),
            (Material::Rsa(k), Alg::RS512) => rsa::pkcs1v15::SigningKey::<Sha512>::new((**k).clone())
                .try_sign(msg)
                .map_err(|e| e.to_string())?
                .to_vec(),
            (Material::Rsa(k), Alg::PS256) => rsa::pss::BlindedSigningKey::<Sha256>::new((**k).clone())
                .try_sign_with_rng(rng, msg)
                .map_err(|e| e.to_string())?
                .to_vec(),
            (Material::Rsa(k), Alg::PS384) => rsa::pss::BlindedSigningKey::<Sha384>::new((**k).clone())
                .try_sign_with_rng(rng, msg)
                .map_err(|e| e.to_string())?
                .to_vec(),
            (Material::Rsa(k), Alg::PS512) => rsa::pss::BlindedSigningKey::<Sha512>::new((**k).clone())
                .try_sign_with_rng(rng, msg)
                .map_err(|e| e.to_string())?
                .to_vec(),
            (Material::Es512(k), _) => {
                let sig: p521::ecdsa::Signature =
                    p521::ecdsa::signature::RandomizedSigner::try_sign_with_rng(&**k, rng, msg)
                        .map_err(|e| e.to_string())?;
                sig.to_bytes().to_vec()
            }
            (Material::Es256(k), _) => {
                let sig: p256::ecdsa::Signature = k.try_sign(msg).map_err(|e| e.to_string())?;
                sig.to_bytes().to_vec()
            }
            (Material::Es384(k), _) => {
                let sig: p384::ecdsa::Signature = k.try_sign(msg).map_err(|e| e.to_string())?;
                sig.to_bytes().to_vec()
            }
            (Material::Ed25519(k), _) => {
                use ed25519_dalek::Signer as _;
                k.sign(msg).to_bytes().to_vec()
            }
            (_, alg) => return Err(format!("this key cannot sign {alg}")),
        })
    }
}
