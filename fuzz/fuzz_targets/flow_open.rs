//! Any flow cookie with any callback query: the callback never panics, never calls the provider without a
//! flow cookie that opens (which the fuzzer cannot forge), and never lets the request through.
#![no_main]
use gatehouse_fuzz::{parts, run, COOKIE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let cookie = format!("{COOKIE}-flow-{}={}", p[0], p[1]);
    let path = format!("/oauth2/callback?{}", p[2]);
    let status = run("GET", &path, "airflow.fuzz", &[("cookie".into(), cookie)]);
    assert!(status >= 300 && status != 0, "callback answered {status}");
});
