//! Browser sessions: AES-256-GCM sealed cookies with a rotating key ring, split into chunks under the
//! browsers' per-cookie limit.

pub mod chunks;
pub mod cookies;
pub mod keyring;
pub mod model;
pub mod seal;

pub use keyring::KeyRing;
pub use model::{FlowState, Session};
pub use seal::{open, seal, SealError};
