//! The sealed cookie format: `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
//!
//! The 96-bit nonce is random per seal and travels with the ciphertext (NIST SP 800-38D §8.2.2: random nonces
//! are safe far beyond any cookie volume per key). The associated data binds the format version, the key id,
//! the cookie's name and the deployment, so a value cannot be replayed under another name (a flow cookie as a
//! session) or on another deployment. Expiry lives inside the plaintext, where the client cannot change it.

use gatehouse_aead::{NONCE_LEN, TAG_LEN};

use super::KeyRing;
use crate::b64;

pub const VERSION: &str = "v1";
/// Larger values are refused before any decoding: the cookie header is attacker-controlled.
pub const MAX_SEALED_LEN: usize = 32 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealError {
    Format,
    UnknownKey,
    Decrypt,
    TooLarge,
}

impl SealError {
    pub fn code(self) -> &'static str {
        match self {
            SealError::Format => "cookie_format",
            SealError::UnknownKey => "cookie_unknown_key",
            SealError::Decrypt => "cookie_decrypt",
            SealError::TooLarge => "cookie_too_large",
        }
    }
}

fn associated_data(key_id: &str, name: &str, binding: &str) -> Vec<u8> {
    // NUL separators: none of the parts can contain one, so no two tuples share an encoding.
    format!("gatehouse-cookie\0{VERSION}\0{key_id}\0{name}\0{binding}").into_bytes()
}

fn aead_error(e: gatehouse_aead::Error) -> SealError {
    match e {
        gatehouse_aead::Error::KeyLength => SealError::UnknownKey,
        gatehouse_aead::Error::Aead => SealError::Decrypt,
    }
}

pub fn seal(
    ring: &KeyRing,
    name: &str,
    binding: &str,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<String, SealError> {
    let key = ring.primary().ok_or(SealError::UnknownKey)?;
    let aad = associated_data(&key.id, name, binding);
    let ct = gatehouse_aead::seal(key.key.expose(), nonce, &aad, plaintext).map_err(aead_error)?;
    let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ct);
    Ok(format!("{VERSION}.{}.{}", key.id, b64::encode(&blob)))
}

pub struct Opened {
    pub plaintext: Vec<u8>,
    /// Opened with a key other than the primary: the caller re-seals so rotation completes.
    pub stale_key: bool,
}

pub fn open(ring: &KeyRing, name: &str, binding: &str, value: &str) -> Result<Opened, SealError> {
    if value.len() > MAX_SEALED_LEN {
        return Err(SealError::TooLarge);
    }
    let mut parts = value.splitn(3, '.');
    let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SealError::Format);
    };
    let (index, key) = ring.find(key_id).ok_or(SealError::UnknownKey)?;
    let blob = b64::decode_strict(body).ok_or(SealError::Format)?;
    // Length check before any slicing: a short blob cannot hold a nonce and a tag.
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Format);
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Format)?;
    let aad = associated_data(key_id, name, binding);
    let plaintext = gatehouse_aead::open(key.key.expose(), nonce, &aad, ct).map_err(aead_error)?;
    Ok(Opened { plaintext, stale_key: index != 0 })
}
