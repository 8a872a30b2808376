use crate::oidc::{pkce, return_path};
use crate::session::{chunks, cookies, open, seal, KeyRing, SealError};
use crate::testing::*;

fn ring(v: &str) -> KeyRing {
    KeyRing::parse(&session_env(v).unwrap()).unwrap()
}

#[test]
fn a_sealed_value_opens_only_under_its_own_name_binding_and_bytes() {
    let r = ring("COOKIE_KEYS");
    let sealed = seal(&r, "__Host-s", "dep-1", b"{\"sub\":\"a\"}", [1; 12]).unwrap();
    assert!(sealed.starts_with("v1.new."));
    assert_eq!(open(&r, "__Host-s", "dep-1", &sealed).unwrap().plaintext, b"{\"sub\":\"a\"}");
    assert_eq!(open(&r, "__Host-other", "dep-1", &sealed).err(), Some(SealError::Decrypt), "cookie name is bound");
    assert_eq!(open(&r, "__Host-s", "dep-2", &sealed).err(), Some(SealError::Decrypt), "deployment is bound");
    // Every single-character change anywhere in the value makes it fail.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for i in 0..sealed.len() {
        let mut bytes = sealed.clone().into_bytes();
        let c = bytes[i] as char;
        bytes[i] = if c == 'A' {
            b'B'
        } else if alphabet.contains(c) {
            b'A'
        } else {
            b'x'
        };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(open(&r, "__Host-s", "dep-1", &tampered).is_err(), "change at {i} accepted");
    }
    for cut in [0, 3, 7, sealed.len() / 2, sealed.len() - 1] {
        assert!(open(&r, "__Host-s", "dep-1", &sealed[..cut]).is_err(), "truncation at {cut}");
    }
    assert_eq!(open(&r, "__Host-s", "dep-1", &"x".repeat(40_000)).err(), Some(SealError::TooLarge));
}

#[test]
fn keys_rotate_without_logging_anyone_out() {
    let old_only = ring("COOKIE_KEYS_OLD_FIRST");
    let both = ring("COOKIE_KEYS");
    let sealed = seal(&old_only, "c", "d", b"x", [2; 12]).unwrap();
    let opened = open(&both, "c", "d", &sealed).unwrap();
    assert!(opened.stale_key, "opened with the second key: the caller re-seals with the first");
    let resealed = seal(&both, "c", "d", &opened.plaintext, [3; 12]).unwrap();
    assert!(!open(&both, "c", "d", &resealed).unwrap().stale_key);
    assert_eq!(open(&old_only, "c", "d", &resealed).err(), Some(SealError::UnknownKey));
}

#[test]
fn key_ring_errors_name_the_entry_but_never_the_key() {
    assert!(KeyRing::parse("").is_err());
    let e = KeyRing::parse("k1:c2hvcnQ").unwrap_err();
    assert!(e.contains("32 bytes") && !e.contains("c2hvcnQ"), "{e}");
    assert!(KeyRing::parse("k1").unwrap_err().contains("id:base64url-key"));
    let k = crate::b64::encode(&[1u8; 32]);
    assert!(KeyRing::parse(&format!("a:{k},a:{k}")).unwrap_err().contains("twice"));
}

#[test]
fn large_values_are_chunked_and_rejoined_and_stale_chunks_are_named_for_clearing() {
    let value = "v".repeat(9000);
    let parts = chunks::split("s", &value).unwrap();
    assert_eq!(parts.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["s.0", "s.1", "s.2"]);
    assert!(parts.iter().all(|(_, v)| v.len() <= chunks::CHUNK_LEN));
    let jar: Vec<(&str, &str)> = parts.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(chunks::join(&jar, "s").unwrap(), value);
    let small = chunks::split("s", "short").unwrap();
    let mut present = jar.clone();
    present.push(("s.7", "old"));
    present.push(("other", "x"));
    assert_eq!(chunks::stale(&present, "s", &small), ["s.0", "s.1", "s.2", "s.7"]);
    assert!(chunks::split("s", &"v".repeat(chunks::CHUNK_LEN * 9)).is_none(), "bounded chunk count");
    // A gap ends the run: s.0 and s.2 without s.1 is not a value.
    assert_eq!(chunks::join(&[("s.0", "a"), ("s.2", "c")], "s").unwrap(), "a");
}

#[test]
fn cookie_headers_parse_like_browsers_send_them() {
    assert_eq!(cookies::parse("a=1; b=\"2\";c=3 ; junk; d="), [("a", "1"), ("b", "\"2\""), ("c", "3"), ("d", "")]);
    assert_eq!(cookies::without("a=1; _token=x; s.0=y", |n| n == "_token" || n.starts_with("s.")), Some("a=1".into()));
    assert_eq!(cookies::without("_token=x", |n| n == "_token"), None);
}

#[test]
fn rfc7636_appendix_b_pkce_vector() {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    assert_eq!(pkce::challenge(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    assert_eq!(pkce::verifier([0u8; 32]).len(), 43);
}

#[test]
fn return_paths_keep_same_origin_paths_and_drop_open_redirect_payloads() {
    for ok in ["/", "/dags?x=1", "/ui/dags/etl#graph", "/a/%2Fb"] {
        assert_eq!(return_path::sanitize(ok), ok, "{ok}");
    }
    for bad in [
        "//evil.test",
        "/\\evil.test",
        "https://evil.test",
        "javascript:alert(1)",
        "/%2F%2Fevil.test",
        "/%5Cevil.test",
        "/%09/evil.test",
        "/%2f/evil.test",
        "/\t/evil.test",
        "evil",
        "",
        "/%252F/evil.test",
        "/ /evil",
        "/\u{0}",
    ] {
        assert_eq!(return_path::sanitize(bad), "/", "{bad:?}");
    }
}
