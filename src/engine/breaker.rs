//! The provider's circuit breaker, proxy-wide: after a transient failure (a token call or a key fetch that
//! timed out, was refused or answered garbage), new sign-ins get the outage page for the configured backoff
//! instead of a redirect to a provider that will not answer; the next good answer closes it at once.

use super::shared::SharedStore;

const KEY: &str = "gatehouse.idp.down_until";

pub fn is_open(store: &mut dyn SharedStore, now: u64) -> bool {
    match store.get(KEY) {
        Some((bytes, _)) => {
            std::str::from_utf8(&bytes).ok().and_then(|s| s.parse::<u64>().ok()).is_some_and(|until| until > now)
        }
        None => false,
    }
}

pub fn mark(store: &mut dyn SharedStore, healthy: bool, now: u64, backoff_seconds: u64) {
    let until = if healthy { 0 } else { now.saturating_add(backoff_seconds) };
    let _ = store.set(KEY, until.to_string().as_bytes(), 0);
}
