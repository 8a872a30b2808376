//! Secret material that cannot be printed by accident: `Debug` shows only the length.

use std::fmt;

/// Key bytes, HMAC secrets, client secrets. Deliberately not `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// The only way to the bytes; grep for `expose` to audit every use.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted {} bytes>)", self.0.len())
    }
}

/// A credential taken from a request (a bearer token). Same rule: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    pub fn new(value: String) -> Self {
        Credential(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential(<redacted {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_a_secret_never_contains_its_bytes() {
        let s = Secret::new(b"hunter2-very-secret".to_vec());
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("19 bytes"));
    }

    #[test]
    fn debug_output_of_a_credential_never_contains_the_token() {
        let c = Credential::new("eyJhbGciOi.payload.sig".into());
        assert!(!format!("{c:?}").contains("eyJ"));
    }
}
