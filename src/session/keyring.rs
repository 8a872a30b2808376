//! Cookie keys from the VM environment: `id:base64url(32 bytes)` entries separated by commas. The first key
//! seals; every key opens, so a new key is rolled out first in second place, then moved to the front, and
//! the old one removed after the session lifetime: nobody is logged out by a rotation.

use crate::b64;
use crate::secret::Secret;

pub struct CookieKey {
    pub id: String,
    pub key: Secret,
}

pub struct KeyRing {
    keys: Vec<CookieKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("KeyRing").field("ids", &ids).finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Parses the environment value. Errors never include key material.
    pub fn parse(value: &str) -> Result<KeyRing, String> {
        let mut keys: Vec<CookieKey> = Vec::new();
        for (i, entry) in value.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let Some((id, material)) = entry.split_once(':') else {
                return Err(format!("entry {i} is not \"id:base64url-key\""));
            };
            let id_ok =
                (1..=16).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(format!("entry {i}: key id must be 1-16 characters of [A-Za-z0-9_-]"));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(format!("entry {i}: key id {id:?} appears twice"));
            }
            match b64::decode_strict(material) {
                Some(bytes) if bytes.len() == 32 => keys.push(CookieKey { id: id.to_owned(), key: Secret::new(bytes) }),
                Some(bytes) => return Err(format!("entry {i} ({id}): AES-256 needs 32 bytes; got {}", bytes.len())),
                None => return Err(format!("entry {i} ({id}): key is not unpadded base64url")),
            }
        }
        if keys.is_empty() {
            return Err("no keys".into());
        }
        Ok(KeyRing { keys })
    }

    pub fn primary(&self) -> Option<&CookieKey> {
        self.keys.first()
    }

    pub fn find(&self, id: &str) -> Option<(usize, &CookieKey)> {
        self.keys.iter().enumerate().find(|(_, k)| k.id == id)
    }
}
