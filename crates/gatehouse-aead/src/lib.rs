//! AES-256-GCM (NIST SP 800-38D) with 96-bit nonces and 128-bit tags: the cipher of gatehouse's sealed
//! cookies (`gatehouse::session::seal` holds the format).
//!
//! Why a crate of its own: `aes-gcm` 0.11 is generic code, and Rust compiles generic code in the crate that
//! uses it, with that crate's optimization level. The core is built for size (opt-level "z"), where this
//! cipher runs at about half its speed, slower than `aes-gcm` 0.10 was. Here the code is instantiated behind
//! two plain functions, and the workspace's release profile compiles this crate at opt-level 3.
#![forbid(unsafe_code)]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The key is not 32 bytes.
    KeyLength,
    /// Sealing: the input is beyond AES-GCM's limits. Opening: the tag does not match (wrong key, nonce,
    /// associated data or ciphertext), or the input is shorter than a tag.
    Aead,
}

/// Returns ciphertext ‖ tag.
#[inline(never)]
pub fn seal(key: &[u8], nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| Error::KeyLength)?;
    cipher.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad }).map_err(|_| Error::Aead)
}

/// Takes ciphertext ‖ tag; returns the plaintext only if the tag verifies (compared in constant time).
#[inline(never)]
pub fn open(key: &[u8], nonce: [u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Error> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| Error::KeyLength)?;
    cipher.decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad }).map_err(|_| Error::Aead)
}
