//! PKCE S256 (RFC 7636 §4.1–4.2): the verifier is 32 random bytes in base64url (43 characters, within the
//! 43–128 the RFC asks for), the challenge its SHA-256 in base64url. `plain` is never offered (RFC 9700 §2.1.1).

use sha2::{Digest, Sha256};

use crate::b64;

pub fn verifier(random: [u8; 32]) -> String {
    b64::encode(&random)
}

pub fn challenge(verifier: &str) -> String {
    b64::encode(&Sha256::digest(verifier.as_bytes()))
}
