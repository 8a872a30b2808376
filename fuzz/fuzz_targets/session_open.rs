//! Any cookie value as a session: opening never panics and never succeeds without the key (AES-GCM), alone
//! and as chunks through the engine on a session route.
#![no_main]
use gatehouse_fuzz::{config, parts, run, COOKIE, DEPLOYMENT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let sc = config().session.as_ref().unwrap();
    assert!(gatehouse::session::open(&sc.keys, COOKIE, DEPLOYMENT, &p[0]).is_err(), "a forged cookie opened");
    let cookie = format!("{COOKIE}={}; {COOKIE}.0={}; {COOKIE}.1={}", p[0], p[1], p[2]);
    let status = run("GET", "/ui/dags", "airflow.test", &[("cookie".into(), cookie.clone())]);
    // Without a valid session a browser navigation is sent to sign in (302) and anything else gets 401.
    assert!(matches!(status, 302 | 400 | 401), "session input answered {status}");
    let raw = String::from_utf8_lossy(data).into_owned();
    let status = run("GET", "/ui/x", "airflow.test", &[("cookie".into(), raw), ("accept".into(), "text/html".into())]);
    assert!(matches!(status, 302 | 400 | 401), "raw cookie header answered {status}");
});
