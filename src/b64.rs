//! Strict base64url (RFC 7515 §2: no padding, no line breaks) and the lenient forms keys arrive in.
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// Decodes unpadded base64url and rejects anything else: padding, `+`/`/`, whitespace and non-canonical
/// trailing bits all fail, so one token has exactly one encoding (no malleable signatures or cache keys).
pub fn decode_strict(input: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input.as_bytes()).ok()
}

pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode_standard(input: &str) -> Option<Vec<u8>> {
    STANDARD.decode(input.as_bytes()).ok()
}
