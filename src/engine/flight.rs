//! Refreshes are single-flight per session across the proxy: a refresh token may be rotated by the
//! provider on use (RFC 9700 §4.14.2), so two requests refreshing it at once would log the person out. The
//! slot is one of `SLOTS`, chosen by a digest of the session (subject and sign-in time, never its tokens), so
//! the shared store stays bounded; two sessions sharing a slot only take turns.

use sha2::Digest;

use super::shared::SharedStore;
use crate::session::Session;

pub const SLOTS: u16 = 4096;

fn slot_key(slot: u16) -> String {
    format!("gatehouse.refresh.{slot:03x}")
}

pub fn key_for(session: &Session) -> String {
    let digest = sha2::Sha256::digest(format!("{}\0{}", session.sub, session.iat).as_bytes());
    let slot = ((u16::from(digest.first().copied().unwrap_or(0)) << 8)
        | u16::from(digest.get(1).copied().unwrap_or(0)))
        % SLOTS;
    slot_key(slot)
}

/// Creates the slots once, at configuration (see `keys::create` for why there), so that taking one is always
/// a real compare-and-swap.
pub fn create(store: &mut dyn SharedStore) {
    if store.get(&slot_key(0)).is_some() {
        return;
    }
    for slot in 0..SLOTS {
        let _ = store.set(&slot_key(slot), b"0:free", 0);
    }
}

fn held_until(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes).ok().and_then(|s| s.split(':').next()).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// Takes the slot unless it is held, by compare-and-swap on the value read.
pub fn take(store: &mut dyn SharedStore, key: &str, timeout_ms: u32, now: u64) -> bool {
    let cas = match store.get(key) {
        Some((bytes, _)) if held_until(&bytes) > now => return false,
        Some((_, cas)) if cas != 0 => cas,
        // A slot that does not exist (yet) is not taken: the refresh goes ahead, as without single flight.
        _ => return true,
    };
    let until = now + u64::from(timeout_ms).div_ceil(1000) + 1;
    store.set(key, format!("{until}:held").as_bytes(), cas).is_ok()
}

/// Frees the slot. After a successful refresh it stays held a little longer: requests already on their way
/// with the old cookie would otherwise refresh again with a refresh token the provider just rotated away.
pub fn release(store: &mut dyn SharedStore, key: &str, refreshed: bool, now: u64) {
    let until = if refreshed { now + 30 } else { 0 };
    let _ = store.set(key, format!("{until}:done").as_bytes(), 0);
}
