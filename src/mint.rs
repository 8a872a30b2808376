//! The upstream token: an Airflow 3 JWT minted from a verified identity (see ../shared/design/AIRFLOW.md).
//! Airflow requires `aud`, `exp`, `iat`, `nbf`, `sub` and `role`; `jti` lets it revoke on logout. Tokens are
//! cached per subject and role and re-minted before they expire, with no network call.

use std::collections::HashMap;

use rand_core::{CryptoRng, RngCore};
use serde_json::{json, Value};

use crate::b64;
use crate::jwt::SigningKey;

/// Airflow's roles, most privileged first: when a person's provider roles map to several, the first wins.
pub const AIRFLOW_ROLES: [&str; 4] = ["ADMIN", "OP", "USER", "VIEWER"];

#[derive(Debug)]
pub struct Minter {
    pub audience: String,
    pub issuer: Option<String>,
    pub ttl_seconds: u64,
    pub key: SigningKey,
    /// Provider role (from the ID token) → Airflow role.
    pub roles: HashMap<String, String>,
    pub default_role: Option<String>,
    /// Direct Access Token role → Airflow role.
    pub direct_access_roles: HashMap<String, String>,
}

impl Minter {
    pub fn role_for<'m>(&'m self, given: &[String], table: &'m HashMap<String, String>) -> Option<&'m str> {
        let mapped: Vec<&str> = given.iter().filter_map(|r| table.get(r)).map(String::as_str).collect();
        AIRFLOW_ROLES.iter().find(|r| mapped.contains(r)).copied().or(self.default_role.as_deref())
    }

    fn mint(&self, sub: &str, role: &str, now: u64, rng: &mut dyn RngCore) -> Result<(String, u64), String> {
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        let exp = now + self.ttl_seconds;
        let mut claims = json!({
            "sub": sub, "role": role, "aud": self.audience,
            "iat": now, "nbf": now, "exp": exp, "jti": b64::encode(&jti),
        });
        if let (Some(iss), Value::Object(map)) = (&self.issuer, &mut claims) {
            map.insert("iss".into(), json!(iss));
        }
        let token = self.key.sign(&claims, &mut CallerRng(rng))?;
        Ok((token, exp))
    }
}

/// The caller's random source (the filter passes the WASI CSPRNG); only PS256 signing draws from it.
struct CallerRng<'a>(&'a mut dyn RngCore);

impl RngCore for CallerRng<'_> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl CryptoRng for CallerRng<'_> {}

/// Minted tokens per (deployment, subject, role), per VM. Bounded: expired entries go first; a full cache is emptied
/// rather than grown, which costs a re-mint, never a wrong token.
#[derive(Default)]
pub struct MintCache {
    entries: HashMap<(usize, String, String), (String, u64)>,
}

const MAX_ENTRIES: usize = 4096;

impl MintCache {
    pub fn get_or_mint(
        &mut self,
        minter: &Minter,
        deployment: usize,
        sub: &str,
        role: &str,
        now: u64,
        rng: &mut dyn RngCore,
    ) -> Result<String, String> {
        // Each deployment's token is its own (audience, key, issuer may differ).
        let key = (deployment, sub.to_owned(), role.to_owned());
        // Re-mint once 4/5 of the lifetime is used, so the upstream never sees a token about to expire.
        let margin = minter.ttl_seconds / 5;
        if let Some((token, exp)) = self.entries.get(&key) {
            if now + margin < *exp {
                return Ok(token.clone());
            }
        }
        let (token, exp) = minter.mint(sub, role, now, rng)?;
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, (_, e)| *e > now + margin);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (token.clone(), exp));
        Ok(token)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
