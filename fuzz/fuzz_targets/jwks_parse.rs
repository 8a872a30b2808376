//! Any bytes as a JWKS document or an OIDC discovery document: parsing never panics, a discovered JWKS
//! path is always a path on the issuer's own host, and discovered sign-in endpoints are always URLs on the
//! issuer's own host and scheme without control characters (they become a `Location` and a `:path`).
#![no_main]
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://idp.fuzz/";

fuzz_target!(|data: &[u8]| {
    let _ = gatehouse::jwks::parse_jwks(data, None);
    let _ = gatehouse::jwks::parse_jwks(data, Some(gatehouse::jwt::Alg::RS256));
    if let Ok(path) = gatehouse::jwks::jwks_path_from_discovery(data, ISSUER) {
        assert!(path.starts_with('/') && !path.starts_with("//"), "discovered path {path:?}");
    }
    if let Ok(e) = gatehouse::jwks::endpoints_from_discovery(data, ISSUER) {
        let on_issuer = |u: &str| {
            let rest = u.strip_prefix("https://").unwrap_or("");
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            host.eq_ignore_ascii_case("idp.fuzz") && !u.chars().any(|c| c.is_control() || c.is_whitespace())
        };
        assert!(on_issuer(&e.authorization), "authorization endpoint {:?}", e.authorization);
        assert!(e.end_session.as_deref().is_none_or(on_issuer), "end-session endpoint {:?}", e.end_session);
        assert!(e.token_path.starts_with('/') && !e.token_path.starts_with("//"), "token path {:?}", e.token_path);
        assert!(!e.token_path.chars().any(|c| c.is_control()), "token path {:?}", e.token_path);
    }
});
