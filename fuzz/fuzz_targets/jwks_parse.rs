//! Any bytes as a JWKS document or an OIDC discovery document: parsing never panics, and a discovered JWKS
//! path is always a path on the issuer's own host.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gatehouse::jwks::parse_jwks(data, None);
    let _ = gatehouse::jwks::parse_jwks(data, Some(gatehouse::jwt::Alg::RS256));
    if let Ok(path) = gatehouse::jwks::jwks_path_from_discovery(data, "https://idp.fuzz/") {
        assert!(path.starts_with('/') && !path.starts_with("//"), "discovered path {path:?}");
    }
});
