//! Sign-in `state`s are spent once per proxy (RFC 6749 §10.12, RFC 9700 §4.7.1): a flow cookie and its
//! state, copied or replayed after the first callback, are worthless, whichever VM sees them. The proxy's
//! shared store has no expiry and no delete, so the ledger is bounded: `BUCKETS` keys of at most `PER_BUCKET`
//! spent states each, every entry expiring with its flow. A state is kept as a digest, never as itself. A
//! bucket full of unexpired entries drops its oldest: that takes more than `BUCKETS × PER_BUCKET` (16,384)
//! callbacks within one flow lifetime, and the dropped state's flow cookie has been cleared by then anyway.

use sha2::Digest;

use super::shared::SharedStore;

pub const BUCKETS: u16 = 1024;
pub const PER_BUCKET: usize = 16;

fn bucket_key(bucket: u16) -> String {
    format!("gatehouse.state.{bucket:03x}")
}

/// Creates the buckets once, at configuration (as `flight::create`), so that writing one is always a real
/// compare-and-swap.
pub fn create(store: &mut dyn SharedStore) {
    if store.get(&bucket_key(0)).is_some() {
        return;
    }
    for bucket in 0..BUCKETS {
        let _ = store.set(&bucket_key(bucket), b"", 0);
    }
}

/// `digest:expires` pairs, comma-separated. Anything unreadable counts as no entry.
fn entries(bytes: &[u8]) -> Vec<(String, u64)> {
    std::str::from_utf8(bytes)
        .unwrap_or("")
        .split(',')
        .filter_map(|e| e.split_once(':'))
        .filter_map(|(d, t)| Some((d.to_owned(), t.parse().ok()?)))
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
pub enum Spend {
    /// First use: the callback goes on.
    Fresh,
    /// Already spent at this proxy.
    Replayed,
    /// The ledger could not be written (the store refused every attempt): fail closed.
    Unavailable,
}

/// Marks `state` spent until `expires` (its flow's end), unless it already is.
pub fn spend(store: &mut dyn SharedStore, state: &str, expires: u64, now: u64) -> Spend {
    let hash = sha2::Sha256::digest(state.as_bytes());
    let digest: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let bucket = u16::from_be_bytes([hash.get(8).copied().unwrap_or(0), hash.get(9).copied().unwrap_or(0)]) % BUCKETS;
    let key = bucket_key(bucket);
    // Another VM may write the bucket between our read and our write; the compare-and-swap then fails and we
    // read again.
    for _ in 0..4 {
        let (bytes, cas) = store.get(&key).unwrap_or_default();
        let mut live: Vec<(String, u64)> = entries(&bytes).into_iter().filter(|(_, t)| *t > now).collect();
        if live.iter().any(|(d, _)| *d == digest) {
            return Spend::Replayed;
        }
        live.sort_by_key(|(_, t)| *t);
        while live.len() >= PER_BUCKET {
            live.remove(0);
        }
        live.push((digest.clone(), expires));
        let value: Vec<String> = live.iter().map(|(d, t)| format!("{d}:{t}")).collect();
        if store.set(&key, value.join(",").as_bytes(), cas).is_ok() {
            return Spend::Fresh;
        }
    }
    Spend::Unavailable
}
