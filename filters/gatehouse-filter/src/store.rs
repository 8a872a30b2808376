//! The proxy's shared store (`shared_data`, one per `vm_id`) as the engine's `SharedStore`.

use gatehouse::engine::{SharedStore, StoreError};

use crate::host;

/// ABI 0.2.1 `CAS_MISMATCH`.
const CAS_MISMATCH: u32 = 8;

pub struct HostStore;

impl SharedStore for HostStore {
    fn get(&mut self, key: &str) -> Option<(Vec<u8>, u32)> {
        host::shared_get(key).ok().flatten()
    }

    fn set(&mut self, key: &str, value: &[u8], cas: u32) -> Result<(), StoreError> {
        host::shared_set(key, value, cas).map_err(|s| {
            if s == CAS_MISMATCH {
                StoreError::CasMismatch
            } else {
                StoreError::Host(s)
            }
        })
    }
}
