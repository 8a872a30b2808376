//! A verification key bound to exactly one algorithm (RFC 8725 §3.1): a key never verifies a token whose
//! `alg` differs from the one configured for it, which closes RS/HS confusion by construction.
//!
//! Public-key signatures are checked by `ring` (faster than the RustCrypto crates in V8; bench/crypto-compare),
//! P-521 by `p521` (`ring` has no P-521). Keys are held as the bytes `ring` verifies with; `jwk.rs` parses and
//! checks them first, so configuration errors name the member that is wrong.

use hmac::{Hmac, Mac};
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};
use sha2::{Sha256, Sha384, Sha512};

use super::jwk::MIN_RSA_BITS;
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
    /// RSASSA-PKCS1-v1_5 or RSASSA-PSS: the modulus and the public exponent, big-endian without leading
    /// zeros (as `ring` requires), and the modulus length in bytes.
    Rsa {
        params: &'static ring_sig::RsaParameters,
        n: Vec<u8>,
        e: Vec<u8>,
        size: usize,
    },
    /// ECDSA with the fixed-width R||S signature form: the uncompressed SEC1 point (0x04 ‖ x ‖ y).
    Ecdsa {
        params: &'static ring_sig::EcdsaVerificationAlgorithm,
        point: Vec<u8>,
    },
    /// ECDSA P-521 with SHA-512 (`ring` has no P-521): RustCrypto's verifier, fixed-width R||S.
    P521(Box<p521::ecdsa::VerifyingKey>),
    /// Ed25519: the 32-byte public key as configured (RFC 8032 §5.1.5).
    Ed25519([u8; 32]),
    /// A small-order Ed25519 public key. Signatures that verify under it can be made without any private
    /// key, so it verifies nothing (configuration refuses it before it gets here; see `jwk.rs`).
    Ed25519SmallOrder,
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

    /// `n` and `e` big-endian without leading zeros, already checked as `ring` requires (`jwk.rs`).
    pub fn rsa(kid: Option<String>, alg: Alg, n: Vec<u8>, e: Vec<u8>) -> Result<Self, String> {
        let size = n.len();
        let mut public = n.clone();
        public.push(0);
        public.extend_from_slice(&e);
        let fingerprint = fingerprint(alg, kid.as_deref(), &public);
        // `ring`'s *_2048_8192 algorithms refuse smaller moduli (its count rounds the length up to whole
        // bytes, as `size` here does): refusing them here keeps a key that could never verify anything out of
        // the configuration. Configuration loading checks the same first, to name the member.
        if size * 8 < MIN_RSA_BITS {
            return Err(format!("RSA modulus too small; expected at least {MIN_RSA_BITS} bits"));
        }
        let params = match alg {
            Alg::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
            Alg::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
            Alg::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
            // RFC 7518 §3.5: MGF1 with the same hash and a salt as long as the hash, which is what `ring`'s
            // PSS verification requires.
            Alg::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
            Alg::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
            Alg::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
            other => return Err(format!("an RSA key cannot be used with {other}")),
        };
        Ok(VerifyKey { kid, alg, material: Material::Rsa { params, n, e, size }, fingerprint })
    }

    /// ES256 or ES384 with the uncompressed SEC1 point (0x04 ‖ x ‖ y), already checked to be on the curve.
    pub fn ecdsa(kid: Option<String>, alg: Alg, point: Vec<u8>) -> Self {
        let fingerprint = fingerprint(alg, kid.as_deref(), &point);
        let params =
            if alg == Alg::ES384 { &ring_sig::ECDSA_P384_SHA384_FIXED } else { &ring_sig::ECDSA_P256_SHA256_FIXED };
        VerifyKey { kid, alg, material: Material::Ecdsa { params, point }, fingerprint }
    }

    pub fn es512(kid: Option<String>, key: p521::ecdsa::VerifyingKey) -> Self {
        let point = key.to_encoded_point(false).as_bytes().to_vec();
        let fingerprint = fingerprint(Alg::ES512, kid.as_deref(), &point);
        VerifyKey { kid, alg: Alg::ES512, material: Material::P521(Box::new(key)), fingerprint }
    }

    pub fn ed25519(kid: Option<String>, key: ed25519_dalek::VerifyingKey) -> Self {
        let fingerprint = fingerprint(Alg::EdDSA, kid.as_deref(), key.as_bytes());
        // `ring` does not check the key's order; ed25519-dalek's `verify_strict`, which Gatehouse used before,
        // refuses small-order keys, and so does this.
        let material = if key.is_weak() { Material::Ed25519SmallOrder } else { Material::Ed25519(key.to_bytes()) };
        VerifyKey { kid, alg: Alg::EdDSA, material, fingerprint }
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
            // RFC 8017 §8.2.2 step 1 (§8.1.2 for PSS): the signature is exactly as long as the modulus.
            // (`ring` checks this too; it is stated here because the property matters.)
            Material::Rsa { params, n, e, size } => {
                signature.len() == *size
                    && RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                        .verify(params, message, signature)
                        .is_ok()
            }
            // RFC 7518 §3.4: ECDSA signatures are the fixed-width R||S form (the *_FIXED algorithms refuse any
            // other length, so DER is refused), with R and S each in [1, n-1].
            Material::Ecdsa { params, point } => {
                UnparsedPublicKey::new(*params, point).verify(message, signature).is_ok()
            }
            // As strict as ed25519-dalek's `verify_strict`: `ring` refuses a non-canonical S (S ≥ L) and, since it
            // compares the R it computes (always canonically encoded) with the signature's R byte for byte, any
            // non-canonical R; small-order keys never get here (above), and a small-order R is refused below.
            // One message, one signature: no malleability.
            Material::Ed25519(public) => {
                !ed25519_small_order_r(signature)
                    && UnparsedPublicKey::new(&ring_sig::ED25519, public).verify(message, signature).is_ok()
            }
            Material::Ed25519SmallOrder => false,
            // RFC 7518 §3.4 again: 66-byte R and S; `from_slice` refuses other lengths and R or S outside
            // [1, n-1].
            Material::P521(key) => {
                use p521::ecdsa::signature::Verifier;
                p521::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
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

/// The canonical encodings of the eight points of order dividing 8 (the whole 8-torsion subgroup of
/// edwards25519). A signature whose R is one of them is refused, as `verify_strict` does: only a key's owner
/// can make one, and it would be a second valid signature for a message it already signed. Non-canonical
/// encodings need no entry: `ring` never matches them (see `verify`). src/tests/verify.rs checks this list
/// against ed25519-dalek.
pub(crate) const ED25519_SMALL_ORDER: [[u8; 32]; 8] = [
    // The identity (order 1).
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ],
    // Order 2.
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
    // Order 4.
    [0x00; 32],
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
    ],
    // Order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
        0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
        0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x85,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
        0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
        0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0xfa,
    ],
];

fn ed25519_small_order_r(signature: &[u8]) -> bool {
    signature.get(..32).is_some_and(|r| ED25519_SMALL_ORDER.iter().any(|p| p.as_slice() == r))
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
