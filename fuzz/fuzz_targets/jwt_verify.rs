//! Any string as a bearer token: parse and verify never panic, and nothing the fuzzer can build without a
//! private key passes (it would need a forged signature), through `verify_token` and through the engine.
#![no_main]
use gatehouse_fuzz::{config, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let cfg = config();
    let verified = gatehouse::jwt::verify_token(&token, &cfg.issuers, cfg.max_token_bytes, 1_900_000_000);
    assert!(verified.is_err(), "an unsigned input verified");
    let status = run("GET", "/api/dags", "airflow.test", &[("authorization".into(), format!("Bearer {token}"))]);
    assert!(matches!(status, 400 | 401 | 403), "bearer input answered {status}");
});
