//! The proxy-wide store every VM with the same `vm_id` shares (proxy-wasm `shared_data`), as the engine sees
//! it. Protocols on it are compare-and-swap loops, where each write depends on the value just read; the engine
//! runs them through this trait rather than as effects, so the whole protocol is core logic, tested natively
//! with `MemoryStore` standing in for the host (several engines on one store are several VMs).

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Another VM wrote since our read (the host's CAS_MISMATCH).
    CasMismatch,
    /// Any other host status.
    Host(u32),
}

pub trait SharedStore {
    /// The value and its compare-and-swap token; `None` when absent or unreadable.
    fn get(&mut self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Stores `value` if the entry's token still equals `cas`; `cas == 0` writes unconditionally (the ABI has
    /// no "create if absent").
    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> Result<(), StoreError>;
}

/// An in-memory store with the host's semantics: tokens start at 1 and change on every write.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
}

impl SharedStore for MemoryStore {
    fn get(&mut self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.entries.get(key).cloned()
    }

    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> Result<(), StoreError> {
        if cas != 0 && self.entries.get(key).map(|(_, c)| *c) != Some(cas) {
            return Err(StoreError::CasMismatch);
        }
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.entries.insert(key.to_owned(), (value.to_vec(), self.next_cas));
        Ok(())
    }
}
