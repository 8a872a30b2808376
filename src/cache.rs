//! Per-VM caches: the expensive work of a request (a signature check, an AES-GCM open, a token mint) is done
//! once and reused until it could stop being true. Crypto in wasm has no AES-NI and no wide multiply, so this
//! is where Gatehouse wins back the time native filters spend less on each operation.
//!
//! Entries are looked up by the whole credential string, compared for equality by the map: two different
//! tokens or cookies can never share an entry, so no collision can authenticate one as the other (a digest
//! key would make that merely improbable). A cache skips only the crypto; every time-based and policy check
//! (expiry, revocation, idle timeout, permissions) runs on every request.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crate::config::CacheSettings;
use crate::mint::MintCache;
use crate::session::Session;

/// A bounded map from a credential to what was learned by checking it, with a deadline per entry.
/// Eviction is first-in first-out: an attacker who floods it with valid credentials of their own only makes
/// other callers pay the full check again, never get a wrong answer. Memory is capped by `capacity` times the
/// largest credential the config admits.
pub struct Bounded<V> {
    capacity: usize,
    map: HashMap<Rc<str>, (V, u64)>,
    order: VecDeque<Rc<str>>,
    pub hits: u64,
    pub misses: u64,
}

impl<V> Bounded<V> {
    pub fn new(capacity: usize) -> Self {
        Bounded { capacity, map: HashMap::new(), order: VecDeque::new(), hits: 0, misses: 0 }
    }

    /// The entry for exactly `key`, unless its deadline has passed.
    pub fn get(&mut self, key: &str, now: u64) -> Option<&V> {
        match self.map.get(key) {
            Some((v, until)) if now < *until => {
                self.hits = self.hits.saturating_add(1);
                Some(v)
            }
            _ => {
                self.misses = self.misses.saturating_add(1);
                None
            }
        }
    }

    pub fn insert(&mut self, key: &str, value: V, until: u64) {
        if self.capacity == 0 {
            return;
        }
        if let Some(slot) = self.map.get_mut(key) {
            *slot = (value, until);
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        let key: Rc<str> = Rc::from(key);
        self.order.push_back(Rc::clone(&key));
        self.map.insert(key, (value, until));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// What a verified signature proves: this exact token was signed by the key with this fingerprint. A later
/// hit counts only if the key the token names is still configured (or still published) with the same
/// fingerprint, so a removed or rotated key stops its tokens at once.
pub type KeyFingerprint = [u8; 32];

/// An opened session cookie: its plaintext and whether it was sealed with a retired key (to be re-sealed).
#[derive(Clone)]
pub struct OpenedSession {
    pub session: Session,
    pub stale_key: bool,
    /// The deployment it was opened for (its index): a hit counts only for the same one.
    pub deployment: usize,
}

/// Every cache of one VM. The filter makes a new one with each configuration, so keys, key rings and
/// dataplane ids in the cached answers always match the configuration in force.
pub struct Caches {
    pub tokens: Bounded<KeyFingerprint>,
    pub sessions: Bounded<OpenedSession>,
    pub minted: MintCache,
}

impl Caches {
    pub fn new(settings: &CacheSettings) -> Self {
        Caches {
            tokens: Bounded::new(settings.verified_tokens),
            sessions: Bounded::new(settings.sessions),
            minted: MintCache::default(),
        }
    }
}

impl Default for Caches {
    fn default() -> Self {
        Caches::new(&CacheSettings::default())
    }
}
