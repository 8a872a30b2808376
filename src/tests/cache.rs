use serde_json::json;

use crate::browser::open_session;
use crate::cache::{Bounded, Caches, KeyFingerprint, OpenedSession};
use crate::jwt::{verify_token_with, Alg, JwtError};
use crate::reason::SessionError;
use crate::session::{seal, Session};
use crate::testing::*;

fn verify(cfg: &crate::Config, token: &str, now: u64, cache: &mut Bounded<KeyFingerprint>) -> Result<(), JwtError> {
    verify_token_with(token, &cfg.issuers, None, false, cfg.max_token_bytes, now, Some(cache)).map(|_| ())
}

#[test]
fn a_repeated_token_is_verified_once_for_every_algorithm() {
    let cfg = config();
    for alg in ALL_ALGS {
        let mut cache = Bounded::new(16);
        let token = sign(&dat(), alg);
        for _ in 0..3 {
            verify(&cfg, &token, now(), &mut cache).unwrap();
        }
        assert_eq!((cache.misses, cache.hits), (1, 2), "{alg}");
    }
}

#[test]
fn a_cached_token_still_expires_and_is_still_revoked() {
    let cfg = config();
    let mut cache = Bounded::new(16);
    let mut claims = dat();
    claims.insert("exp".into(), json!(now() + 60));
    let token = sign(&claims, Alg::ES256);
    verify(&cfg, &token, now(), &mut cache).unwrap();
    assert_eq!(verify(&cfg, &token, now() + 1000, &mut cache), Err(JwtError::Expired));

    let token = sign(&dat(), Alg::ES256);
    verify(&cfg, &token, now(), &mut cache).unwrap();
    let mut revoking = config_json();
    revoking["issuers"][0]["revoked_token_ids"] = json!(["jti-1"]);
    let revoking = config_from(&revoking);
    assert_eq!(verify(&revoking, &token, now(), &mut cache), Err(JwtError::Revoked));
}

#[test]
fn a_cached_token_stops_when_its_key_is_replaced_or_removed() {
    let cfg = config();
    let mut cache = Bounded::new(16);
    let token = sign(&dat(), Alg::RS256);
    verify(&cfg, &token, now(), &mut cache).unwrap();

    // The same kid now names another RSA key: the cached answer is for the old key's fingerprint.
    let mut replaced = config_json();
    let keys = replaced["issuers"][0]["jwks"]["keys"].as_array_mut().unwrap();
    for k in keys.iter_mut().filter(|k| k["kid"] == kid(Alg::RS256)) {
        *k = public_jwk("rsa_other", Alg::RS256, &kid(Alg::RS256));
    }
    let replaced = config_from(&replaced);
    assert_eq!(verify(&replaced, &token, now(), &mut cache), Err(JwtError::BadSignature));

    let mut removed = config_json();
    removed["issuers"][0]["jwks"]["keys"].as_array_mut().unwrap().retain(|k| k["kid"] != kid(Alg::RS256));
    let removed = config_from(&removed);
    assert_eq!(verify(&removed, &token, now(), &mut cache), Err(JwtError::UnknownKid));
}

#[test]
fn a_token_that_differs_from_a_cached_one_in_any_byte_is_checked_in_full() {
    let cfg = config();
    let mut cache = Bounded::new(16);
    let token = sign(&dat(), Alg::HS512);
    verify(&cfg, &token, now(), &mut cache).unwrap();
    // Same header and payload, another signature; and the same token with a byte appended.
    let (input, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{input}.{}", crate::b64::encode(&[0u8; 64]));
    assert_eq!(verify(&cfg, &forged, now(), &mut cache), Err(JwtError::BadSignature));
    assert!(verify(&cfg, &format!("{token}A"), now(), &mut cache).is_err());
    assert_eq!(cache.hits, 0);
}

#[test]
fn refused_tokens_are_never_cached() {
    let cfg = config();
    let mut cache = Bounded::new(16);
    let mut claims = dat();
    claims.insert("jti".into(), json!("revoked-1"));
    let token = sign(&claims, Alg::ES256);
    for _ in 0..2 {
        assert_eq!(verify(&cfg, &token, now(), &mut cache), Err(JwtError::Revoked));
    }
    assert!(cache.is_empty());
}

#[test]
fn the_cache_holds_at_most_its_capacity_and_zero_turns_it_off() {
    let mut cache: Bounded<u8> = Bounded::new(3);
    for i in 0..10u8 {
        cache.insert(&format!("k{i}"), i, 100);
    }
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.get("k0", 1), None, "the oldest entries go first");
    assert_eq!(cache.get("k9", 1), Some(&9));
    assert_eq!(cache.get("k9", 100), None, "an entry is not served at its deadline");

    let cfg = config();
    let mut off = Bounded::new(0);
    let token = sign(&dat(), Alg::EdDSA);
    for _ in 0..3 {
        verify(&cfg, &token, now(), &mut off).unwrap();
    }
    assert_eq!((off.len(), off.hits), (0, 0));
}

#[test]
fn a_cache_size_out_of_range_is_a_config_error_with_its_path() {
    let mut v = config_json();
    v["cache"] = json!({"verified_tokens": -1, "session": 5});
    let errs = crate::load_config(v.to_string().as_bytes(), &env).unwrap_err().to_string();
    assert!(errs.contains("$.cache.verified_tokens"), "{errs}");
    assert!(errs.contains("$.cache.session: unknown field (did you mean \"sessions\"?)"), "{errs}");
}

fn sealed_session(cfg: &crate::Config, session: &Session) -> String {
    let sc = cfg.session.as_ref().unwrap();
    seal(&sc.keys, &sc.cookie_name, DEP, &serde_json::to_vec(session).unwrap(), [3; 12]).unwrap()
}

/// The fixture's one deployment's jar.
fn jar(sc: &crate::config::SessionConfig) -> crate::browser::Jar<'_> {
    crate::browser::Jar { name: &sc.cookie_name, binding: DEP, index: 0 }
}

fn session(now: u64) -> Session {
    Session {
        sub: "auth0|alice".into(),
        name: None,
        email: None,
        roles: vec!["admin".into()],
        sid: None,
        iat: now,
        seen: now,
        abs: now + 30 * 24 * 3600,
        id_token: None,
        refresh_token: None,
        provider_exp: None,
        upstream_token: None,
        upstream_exp: None,
    }
}

#[test]
fn a_session_cookie_is_decrypted_once_and_its_timeouts_still_apply_on_every_hit() {
    let cfg = session_config();
    let sc = cfg.session.as_ref().unwrap();
    let t = now();
    let value = sealed_session(&cfg, &session(t));
    let cookies = [(sc.cookie_name.as_str(), value.as_str())];
    let mut caches = Caches::default();
    for _ in 0..3 {
        let o: OpenedSession = open_session(sc, jar(sc), &cookies, t, Some(&mut caches.sessions)).unwrap();
        assert_eq!(o.session.sub, "auth0|alice");
    }
    assert_eq!((caches.sessions.misses, caches.sessions.hits), (1, 2));
    let idle = t + sc.idle_timeout_seconds;
    assert_eq!(open_session(sc, jar(sc), &cookies, idle, Some(&mut caches.sessions)).err(), Some(SessionError::Idle));
    assert_eq!(
        open_session(sc, jar(sc), &cookies, t + 30 * 24 * 3600, Some(&mut caches.sessions)).err(),
        Some(SessionError::Expired)
    );
}

#[test]
fn a_tampered_session_cookie_is_never_served_from_the_cache() {
    let cfg = session_config();
    let sc = cfg.session.as_ref().unwrap();
    let t = now();
    let value = sealed_session(&cfg, &session(t));
    let mut caches = Caches::default();
    open_session(sc, jar(sc), &[(sc.cookie_name.as_str(), value.as_str())], t, Some(&mut caches.sessions)).unwrap();
    let mut tampered = value.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let r = open_session(sc, jar(sc), &[(sc.cookie_name.as_str(), tampered.as_str())], t, Some(&mut caches.sessions));
    assert!(r.is_err());
    assert_eq!(caches.sessions.hits, 0);
}
