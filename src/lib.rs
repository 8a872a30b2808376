//! Gatehouse core: forward authentication as pure logic.
//!
//! A request goes in as data ([`request::Request`]), a decision comes out as data ([`decision::Decision`]).
//! Nothing here talks to a proxy, a clock or a random source: the filter crate passes those in, and the
//! [`engine::Engine`] of each configuration generation holds all state. That is what lets every rule be
//! tested natively, with a fake clock, and the same tests run compiled to `wasm32-wasip1`.
//!
//! Modules, from the request inwards: `engine` (the state machine) → `classify` (path, host, route) →
//! `rollout` (the gate) → `evaluate` (`bearer`, `browser`) → `forward` / `respond` (the two shapes of an
//! answer), on top of `config`, `policy`, `jwt`, `jwks`, `dat`, `session`, `oidc`, `mint` and `cache`.
#![forbid(unsafe_code)]

pub mod b64;
mod bearer;
mod browser;
pub mod cache;
pub mod call;
pub mod claim_forward;
pub mod classify;
pub mod config;
mod context;
pub mod dat;
pub mod decision;
pub mod engine;
mod evaluate;
pub mod forward;
pub mod jwks;
pub mod jwt;
pub mod method_override;
pub mod metrics;
pub mod mint;
pub mod oidc;
pub mod policy;
pub mod reason;
pub mod request;
pub mod respond;
pub mod rollout;
pub mod secret;
pub mod session;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
pub(crate) mod testing;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests;
pub mod upstream;

pub use call::CallResponse;
pub use config::{load_config, Config, ConfigErrors};
pub use decision::{Allow, Call, Decision, Outcome, Pass, Pending, PendingKind, Predicted, Reply, Verdict};
pub use engine::{Effect, Engine, Fetch, MemoryStore, SharedStore, World};
pub use reason::{Reason, SessionError};
pub use request::Request;
