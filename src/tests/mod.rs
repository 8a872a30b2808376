//! Unit tests of the core, run natively and compiled to wasm32-wasip1.

mod browser;
mod cache;
mod claims;
mod config;
mod decide;
mod deployments;
mod engine;
mod known_answers;
mod metrics;
mod path;
mod properties;
mod remote_jwks;
mod requirements;
mod rollout;
mod schema;
mod session;
mod verify;
mod wycheproof;
