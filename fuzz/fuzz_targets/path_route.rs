//! Any path, method and host: normalization is idempotent, and the route found for the normalized path is
//! the one the engine enforces (a public answer only ever comes from a public route).
#![no_main]
use gatehouse::policy::{find_route, normalize_path, Requirement};
use gatehouse_fuzz::{config, parts, run};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = parts(data, 3);
    let (raw, method, host) = (&p[0], &p[1], &p[2]);
    if let Ok((path, _)) = normalize_path(raw) {
        let again = normalize_path(&path).map(|(p, _)| p);
        assert_eq!(again.as_deref(), Ok(path.as_str()), "normalization is not idempotent for {raw:?}");
        // The route the core enforces is the one for the normalized host and path.
        let host = gatehouse::policy::host::route_host(host, config().host_matching);
        let route = find_route(&config().routes, &host, &path, method);
        let (status, why) = gatehouse_fuzz::run_why(method, raw, &p[2], &[]);
        if status == 200 {
            assert!(
                route.is_some_and(|r| r.require == Requirement::Public) || method == "OPTIONS",
                "{raw:?} {method:?} {host:?} passed without credentials ({why})"
            );
        }
    } else {
        let status = run(method, raw, host, &[]);
        assert_eq!(status, 400, "an unnormalizable path {raw:?} answered {status}");
    }
});
