//! A verification key bound to exactly one algorithm (RFC 8725 §3.1): a key never verifies a token whose
//! `alg` differs from the one configured for it, which closes RS/HS confusion by construction.

use hmac::{Hmac, Mac};
use rsa::signature::Verifier;
use sha2::{Sha256, Sha384, Sha512};

use super::{Alg, JwtError};
use crate::cache::KeyFingerprint;
use crate::secret::Secret;

pub struct VerifyKey {
    pub kid: Option<String>,
    pub alg: Alg,
    material: Material,
    fingerprint: KeyFingerprint,
}

enum Material {
    Hmac(Secret),
    Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>, usize),
    Rs384(rsa::pkcs1v15::VerifyingKey<Sha384>, usize),
    Rs512(rsa::pkcs1v15::VerifyingKey<Sha512>, usize),
    Ps256(rsa::pss::VerifyingKey<Sha256>, usize),
    Es256(p256::ecdsa::VerifyingKey),
    Es384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// `alg` must be an HMAC algorithm and the secret long enough; the caller (config loading) checks both
    /// so that it can report them with a JSON path.
    pub fn hmac(kid: Option<String>, alg: Alg, secret: Secret) -> Self {
        let fingerprint = fingerprint(alg, kid.as_deref(), secret.expose());
        VerifyKey { kid, alg, material: Material::Hmac(secret), fingerprint }
    }

    pub fn rsa(kid: Option<String>, alg: Alg, key: rsa::RsaPublicKey) -> Result<Self, String> {
        use rsa::traits::PublicKeyParts;
        let size = key.size();
        let mut public = key.n().to_bytes_be();
        public.push(0);
        public.extend(key.e().to_bytes_be());
        let fingerprint = fingerprint(alg, kid.as_deref(), &public);
        let material = match alg {
            Alg::RS256 => Material::Rs256(rsa::pkcs1v15::VerifyingKey::new(key), size),
            Alg::RS384 => Material::Rs384(rsa::pkcs1v15::VerifyingKey::new(key), size),
            Alg::RS512 => Material::Rs512(rsa::pkcs1v15::VerifyingKey::new(key), size),
            Alg::PS256 => Material::Ps256(rsa::pss::VerifyingKey::new(key), size),
            other => return Err(format!("an RSA key cannot be used with {other}")),
        };
        Ok(VerifyKey { kid, alg, material, fingerprint })
    }

    pub fn es256(kid: Option<String>, key: p256::ecdsa::VerifyingKey) -> Self {
        let fingerprint = fingerprint(Alg::ES256, kid.as_deref(), key.to_encoded_point(false).as_bytes());
        VerifyKey { kid, alg: Alg::ES256, material: Material::Es256(key), fingerprint }
    }

    pub fn es384(kid: Option<String>, key: p384::ecdsa::VerifyingKey) -> Self {
        let fingerprint = fingerprint(Alg::ES384, kid.as_deref(), key.to_encoded_point(false).as_bytes());
        VerifyKey { kid, alg: Alg::ES384, material: Material::Es384(key), fingerprint }
    }

    pub fn ed25519(kid: Option<String>, key: ed25519_dalek::VerifyingKey) -> Self {
        let fingerprint = fingerprint(Alg::EdDSA, kid.as_deref(), key.as_bytes());
        VerifyKey { kid, alg: Alg::EdDSA, material: Material::Ed25519(key), fingerprint }
    }

    /// Identifies this exact key (algorithm, kid and material): a cached verification is reused only while
    /// the key a token names still has this fingerprint.
    pub fn fingerprint(&self) -> &KeyFingerprint {
        &self.fingerprint
    }

    pub fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> Result<(), JwtError> {
        if alg != self.alg {
            return Err(JwtError::AlgMismatch);
        }
        let ok = match &self.material {
            Material::Hmac(secret) => hmac_verify(alg, secret, message, signature),
            Material::Rs256(k, size) => rsa_verify(k, *size, message, signature),
            Material::Rs384(k, size) => rsa_verify(k, *size, message, signature),
            Material::Rs512(k, size) => rsa_verify(k, *size, message, signature),
            Material::Ps256(k, size) => {
                signature.len() == *size
                    && rsa::pss::Signature::try_from(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            // RFC 7518 §3.4: ECDSA signatures are the fixed-width R||S form; DER is refused by `from_slice`.
            Material::Es256(k) => {
                p256::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            Material::Es384(k) => {
                p384::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            // verify_strict refuses small-order keys and non-canonical signatures (malleability).
            Material::Ed25519(k) => {
                ed25519_dalek::Signature::from_slice(signature).is_ok_and(|sig| k.verify_strict(message, &sig).is_ok())
            }
        };
        if ok {
            Ok(())
        } else {
            Err(JwtError::BadSignature)
        }
    }
}

fn fingerprint(alg: Alg, kid: Option<&str>, material: &[u8]) -> KeyFingerprint {
    use sha2::Digest;
    let mut h = Sha256::new();
    h.update(b"gatehouse-key-v1\0");
    h.update(alg.to_string().as_bytes());
    h.update([0]);
    // Length-prefixed so that no kid/material split can be read as another.
    let kid = kid.unwrap_or("").as_bytes();
    h.update((kid.len() as u64).to_be_bytes());
    h.update(kid);
    h.update(material);
    h.finalize().into()
}

fn rsa_verify<D>(key: &rsa::pkcs1v15::VerifyingKey<D>, size: usize, message: &[u8], signature: &[u8]) -> bool
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    // RFC 8017 §8.2.2 step 1: the signature is exactly as long as the modulus.
    signature.len() == size
        && rsa::pkcs1v15::Signature::try_from(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
}

fn hmac_verify(alg: Alg, secret: &Secret, message: &[u8], signature: &[u8]) -> bool {
    // `verify_slice` compares in constant time, so the signature cannot be guessed byte by byte.
    macro_rules! check {
        ($d:ty) => {
            match Hmac::<$d>::new_from_slice(secret.expose()) {
                Ok(mut mac) => {
                    mac.update(message);
                    mac.verify_slice(signature).is_ok()
                }
                Err(_) => false,
            }
        };
    }
    match alg {
        Alg::HS256 => check!(Sha256),
        Alg::HS384 => check!(Sha384),
        Alg::HS512 => check!(Sha512),
        _ => false,
    }
}
