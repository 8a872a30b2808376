//! Gatehouse core: forward authentication as pure logic.
//!
//! A request goes in as data ([`request::Request`]), a decision comes out as data ([`decision::Decision`]).
//! Nothing here talks to a proxy, a clock or a random source: the filter crate passes those in. That is what
//! lets every rule be tested natively, with a fake clock, and the same tests run compiled to `wasm32-wasip1`.
#![forbid(unsafe_code)]

pub mod b64;
mod browser;
pub mod cache;
pub mod config;
pub mod dat;
pub mod decide;
pub mod decision;
pub mod jwks;
pub mod jwt;
pub mod mint;
pub mod oidc;
pub mod policy;
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

pub use config::{load_config, Config, ConfigErrors};
pub use decide::{decide, resume, Inputs};
pub use decision::{Allow, Call, Decision, Outcome, Pass, Pending, Predicted, Reply, Verdict};
pub use request::Request;
