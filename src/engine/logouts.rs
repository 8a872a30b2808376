//! Sessions the provider ended (OIDC Back-Channel Logout), across every VM of the proxy: one shared-store
//! key per logged-out `sid` and per subject, holding when the logout arrived. A session is over when its
//! `sid` was logged out, or its subject was logged out after it signed in. Keys are digests, never the
//! values themselves.
//!
//! The store has no delete (proxy-wasm ABI 0.2.1), so every key stays until the proxy restarts: about 90
//! bytes per logout, bounded by how many logouts the provider sends (each verified and spent once).

use sha2::Digest;

use super::shared::{SharedStore, StoreError};

fn key(kind: &str, value: &str) -> String {
    let hash = sha2::Sha256::digest(value.as_bytes());
    let digest: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("gatehouse.logout.{kind}.{digest}")
}

fn read(store: &mut dyn SharedStore, key: &str) -> Option<u64> {
    let (bytes, _) = store.get(key)?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// Records a logout: of the provider session `sid` when the token names one (§2.4: only the sessions bound
/// to it end), else of every session of `sub` signed in until `at`. `Err` when the store refused the write:
/// the provider is then answered with an error and may send again.
pub fn record(store: &mut dyn SharedStore, sid: Option<&str>, sub: &str, at: u64) -> Result<(), StoreError> {
    let k = match sid {
        Some(s) => key("sid", s),
        None => key("sub", sub),
    };
    // A later logout of the same subject moves the cut-off on; an earlier one never moves it back.
    let value = read(store, &k).map_or(at, |t| t.max(at));
    store.set(&k, value.to_string().as_bytes(), 0)
}

/// Whether the provider logged out the session `sid`, or `sub` after `signed_in_at`.
pub fn ended(store: &mut dyn SharedStore, sid: Option<&str>, sub: &str, signed_in_at: u64) -> bool {
    sid.is_some_and(|s| read(store, &key("sid", s)).is_some())
        || read(store, &key("sub", sub)).is_some_and(|at| signed_in_at <= at)
}
