use serde_json::{json, Value};

use std::sync::Arc;

use crate::config::Config;
use crate::jwks::{parse_jwks, KeySet, RemoteKeys};
use crate::jwt::Alg;
use crate::testing::*;

/// The fixture config with the Auth0 issuer's keys coming from a remote JWKS instead of being pinned.
fn remote_config(faults: Option<Value>) -> Arc<Config> {
    let mut v = config_json();
    v["issuers"][1].as_object_mut().unwrap().remove("jwks");
    v["issuers"][1]["remote_jwks"] = json!({"cluster": "idp", "authority": "tenant.auth0.test", "path": "/.well-known/jwks.json",
                                              "refresh_seconds": 300, "max_stale_seconds": 3600});
    if let Some(f) = faults {
        v["faults"] = f;
    }
    config_from(&v)
}

fn fetched(at: u64) -> RemoteKeys {
    let body = json!({"keys": [
        public_jwk("rsa", Alg::RS256, "auth0-1"),
        {"kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB"},
        {"kty": "oct", "k": "c2VjcmV0"}
    ]});
    let keys = parse_jwks(body.to_string().as_bytes(), None).unwrap();
    let mut r = RemoteKeys::default();
    r.sets.insert("auth0".into(), KeySet { keys, fetched_at: at });
    r
}

fn auth0_token(kid: &str) -> String {
    let now = now();
    let mut key = signing_key(Alg::RS256);
    key.kid = Some(kid.into());
    key.sign(
        &json!({"iss": AUTH0, "aud": "https://api.test", "sub": "auth0|bob", "exp": now + 60, "permissions": ["read"]}),
        &mut rand_core::OsRng,
    )
    .unwrap()
}

/// A VM whose last read of the shared store found `remote`.
fn status_and_reason(cfg: &Arc<Config>, remote: RemoteKeys, token: &str) -> (u16, &'static str) {
    let mut vm = Vm::new(cfg);
    *vm.engine.remote_mut() = remote;
    let d = vm.request("GET", "/api/x", "h", &[("authorization", &format!("Bearer {token}"))]);
    (d.status().unwrap_or(200), d.verdict().reason.code())
}

#[test]
fn tokens_verify_with_remote_keys_while_the_set_is_fresh() {
    let cfg = remote_config(None);
    assert_eq!(status_and_reason(&cfg, fetched(now() - 10), &auth0_token("auth0-1")), (200, "verified"));
    assert_eq!(status_and_reason(&cfg, fetched(now() - 10), &auth0_token("rotated-2")), (401, "unknown_kid"));
}

#[test]
fn a_missing_or_stale_remote_set_is_a_503_not_a_401() {
    let cfg = remote_config(None);
    assert_eq!(status_and_reason(&cfg, RemoteKeys::default(), &auth0_token("auth0-1")), (503, "keys_stale"));
    assert_eq!(status_and_reason(&cfg, fetched(now() - 3601), &auth0_token("auth0-1")), (503, "keys_stale"));
    let forced = remote_config(Some(json!({"allow": true, "keys_stale": true})));
    assert_eq!(status_and_reason(&forced, fetched(now()), &auth0_token("auth0-1")), (503, "keys_stale"));
}

#[test]
fn pinned_keys_keep_working_when_the_remote_set_is_stale() {
    let cfg = remote_config(None);
    let dat_token = sign(&dat(), Alg::ES256);
    assert_eq!(status_and_reason(&cfg, RemoteKeys::default(), &dat_token), (200, "verified"));
}

#[test]
fn a_fetched_jwks_keeps_only_usable_signing_keys_and_a_set_without_any_is_refused() {
    let mut no_alg = public_jwk("p256", Alg::ES256, "p1");
    no_alg.as_object_mut().unwrap().remove("alg");
    let body = json!({"keys": [no_alg.clone(), public_jwk("rsa", Alg::RS256, "r1")]}).to_string();
    assert_eq!(parse_jwks(body.as_bytes(), None).unwrap().len(), 1, "no alg, no default: skipped");
    assert_eq!(parse_jwks(body.as_bytes(), Some(Alg::ES256)).unwrap().len(), 2);
    for bad in ["", "{}", "{\"keys\": []}", "{\"keys\": [{\"kty\": \"oct\"}]}", "<html>"] {
        assert!(parse_jwks(bad.as_bytes(), None).is_err(), "{bad}");
    }
    assert!(parse_jwks(&vec![b' '; 300 * 1024], None).is_err());
}

#[test]
fn remote_jwks_settings_are_validated() {
    let mut v = config_json();
    v["issuers"][1]["remote_jwks"] = json!({"cluster": "idp", "authority": "a", "path": "jwks", "refresh_seconds": 60, "retry_seconds": 120, "max_stale_seconds": 60});
    let e = crate::config::load_config(v.to_string().as_bytes(), &env).unwrap_err().to_string();
    for want in [
        "$.issuers[1].remote_jwks.path: expected a path starting with",
        "$.issuers[1].remote_jwks.retry_seconds: the retry after a failure must not be longer",
        "$.issuers[1].remote_jwks.max_stale_seconds: must be longer than refresh_seconds",
    ] {
        assert!(e.contains(want), "missing {want:?} in\n{e}");
    }
}

#[test]
fn the_jwks_path_from_discovery_is_trusted_only_for_the_configured_issuer() {
    use crate::jwks::jwks_path_from_discovery;
    let doc = |iss: &str, uri: &str| json!({"issuer": iss, "jwks_uri": uri}).to_string().into_bytes();
    assert_eq!(
        jwks_path_from_discovery(&doc(AUTH0, "https://tenant.auth0.test/.well-known/jwks.json"), AUTH0).unwrap(),
        "/.well-known/jwks.json"
    );
    assert!(jwks_path_from_discovery(&doc("https://evil.test/", "https://evil.test/k"), AUTH0).is_err());
    assert!(jwks_path_from_discovery(&doc(AUTH0, "ftp://x/k"), AUTH0).is_err());
    assert!(jwks_path_from_discovery(b"<html>", AUTH0).is_err());
    // Only a path on the issuer's own host: the keys are fetched from the issuer's cluster. Found by fuzzing.
    for elsewhere in ["https://evil.test/k", "https://tps://tenant.auth0.test/k", "https://tenant.auth0.test//evil/k"] {
        assert!(jwks_path_from_discovery(&doc(AUTH0, elsewhere), AUTH0).is_err(), "{elsewhere}");
    }
}

#[test]
fn a_remote_key_never_stands_in_for_a_pinned_key_with_the_same_kid() {
    // The platform issuer pins k-rs256 for RS256; a remote set offering the same kid must not be consulted.
    let mut v = config_json();
    v["issuers"][0]["remote_jwks"] = json!({"cluster": "idp", "authority": "a", "path": "/jwks"});
    let cfg = config_from(&v);
    let mut key = untrusted_rsa_key(Alg::RS384);
    key.kid = Some(kid(Alg::RS256));
    let token = key.sign(&Value::Object(dat()), &mut rand_core::OsRng).unwrap();
    let mut remote = RemoteKeys::default();
    let jwk = public_jwk("rsa_other", Alg::RS384, &kid(Alg::RS256));
    remote.sets.insert(
        "platform".into(),
        KeySet { keys: parse_jwks(json!({"keys": [jwk]}).to_string().as_bytes(), None).unwrap(), fetched_at: now() },
    );
    assert_eq!(status_and_reason(&cfg, remote, &token), (401, "alg_mismatch"));
}
