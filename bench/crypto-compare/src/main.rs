//! Crypto crate comparison for Gatehouse: ns/op of each candidate, natively and compiled to wasm32-wasip1.
//!
//! Every case does what Gatehouse does per request: RS256/ES256/EdDSA verify with a public key parsed once (ring
//! has no parsed-key type for these, so its figure includes parsing the raw key each call), AES-256-GCM open
//! with the key schedule and the output Vec per call (as `session::seal::open`), HS512 with the MAC keyed per
//! call (as `jwt::key::hmac_verify`).
//!
//! Timing: per case, grow the iteration count until one batch takes at least 200 ms, then run 5 batches of that
//! count and report the median ns/op; the candidates for one primitive take turns batch by batch, so load from
//! elsewhere falls on them alike. Each batch is timed in wall time (the ns/op reported) and, where the platform
//! has the clock, in this thread's CPU time too (less disturbed when other work shares the cores).
//! Keys, signatures and ciphertexts are made at startup from a fixed seed.
//!
//! Usage: crypto-compare [--format table|tsv] [--only SUBSTRING]...
//! With the `size-probe` feature the binary instead just calls each enabled candidate once on opaque input (for
//! measuring each candidate's code size in a wasm build).

#[cfg(feature = "size-probe")]
mod probe;

#[cfg(not(feature = "size-probe"))]
mod bench;

#[cfg(feature = "size-probe")]
fn main() {
    probe::main();
}

#[cfg(not(feature = "size-probe"))]
fn main() {
    bench::main();
}
