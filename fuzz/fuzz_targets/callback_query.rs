//! Any query on the login and callback paths: parameters parse without panics, and every return path the
//! flow would redirect to after sign-in stays on this site (no `//host`, `/\host` or scheme).
#![no_main]
use gatehouse::oidc::{query_param, return_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let q = String::from_utf8_lossy(data);
    for name in ["state", "code", "error", "next", "iss"] {
        let _ = query_param(&q, name);
    }
    let target = return_path::sanitize(&q);
    assert!(target.starts_with('/'), "return path {target:?} is not a path");
    assert!(!target.starts_with("//") && !target.starts_with("/\\"), "return path {target:?} leaves the site");
    assert!(!target.chars().any(|c| c.is_control()), "return path {target:?} has a control character");
    let status = gatehouse_fuzz::run("GET", &format!("/oauth2/callback?{q}"), "airflow.fuzz", &[]);
    assert!(status >= 300 && status != 0, "callback without a flow cookie answered {status}");
});
