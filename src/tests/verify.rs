use serde_json::{json, Value};

use crate::b64;
use crate::jwt::{verify_token, Alg, JwtError};
use crate::testing::*;

fn verify(token: &str) -> Result<String, JwtError> {
    let cfg = config();
    verify_token(token, &cfg.issuers, cfg.max_token_bytes, now()).map(|v| v.issuer.name.clone())
}

#[test]
fn a_token_of_every_supported_algorithm_verifies_with_its_pinned_key() {
    for alg in ALL_ALGS {
        assert_eq!(verify(&sign(&dat(), alg)), Ok("platform".into()), "{alg}");
    }
}

#[test]
fn a_token_signed_by_an_untrusted_key_with_a_trusted_kid_is_a_bad_signature() {
    for alg in [Alg::RS256, Alg::RS384, Alg::RS512, Alg::PS256] {
        let token = untrusted_rsa_key(alg).sign(&Value::Object(dat()), &mut rand_core::OsRng).unwrap();
        assert_eq!(verify(&token), Err(JwtError::BadSignature), "{alg}");
    }
}

#[test]
fn a_key_never_verifies_a_token_whose_alg_differs_from_the_key_alg() {
    // RS256 key id, but the header says RS512 (the same RSA key is pinned to RS512 under another kid).
    let mut key = signing_key(Alg::RS512);
    key.kid = Some(kid(Alg::RS256));
    let token = key.sign(&Value::Object(dat()), &mut rand_core::OsRng).unwrap();
    assert_eq!(verify(&token), Err(JwtError::AlgMismatch));
}

#[test]
fn an_hs256_token_keyed_with_the_rsa_public_key_is_refused_rs_hs_confusion() {
    // The classic attack: HMAC over the token using the RSA public key (as PEM-ish bytes) as the secret.
    let public = public_jwk("rsa", Alg::RS256, &kid(Alg::RS256));
    let secret = public["n"].as_str().unwrap().as_bytes().to_vec();
    let mut key =
        crate::jwt::SigningKey::hmac(Some(kid(Alg::RS256)), Alg::HS256, crate::secret::Secret::new(secret)).unwrap();
    key.kid = Some(kid(Alg::RS256));
    let token = key.sign(&Value::Object(dat()), &mut rand_core::OsRng).unwrap();
    assert_eq!(verify(&token), Err(JwtError::AlgMismatch));
}

#[test]
fn alg_none_and_its_case_variants_are_refused() {
    let payload = serde_json::to_vec(&Value::Object(dat())).unwrap();
    for alg in ["none", "None", "NONE", "nOnE", "hs256"] {
        let header = json!({"alg": alg, "typ": "JWT"});
        let unsigned = format!("{}.{}.", b64::encode(header.to_string().as_bytes()), b64::encode(&payload));
        assert_eq!(verify(&unsigned), Err(JwtError::Malformed), "{alg} without signature");
        let signed = sign_raw(&header, &payload, Alg::HS256);
        assert_eq!(verify(&signed), Err(JwtError::UnsupportedAlg), "{alg} with signature");
    }
}

#[test]
fn tampering_with_any_part_of_the_token_breaks_it() {
    let token = sign(&dat(), Alg::ES256);
    let parts: Vec<&str> = token.split('.').collect();
    let mut other = dat();
    other.insert("role".into(), json!("ADMIN"));
    other.insert("deployment_id".into(), json!("dep-2"));
    let forged_payload = b64::encode(&serde_json::to_vec(&Value::Object(other)).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(verify(&forged), Err(JwtError::BadSignature));
    let mut sig = b64::decode_strict(parts[2]).unwrap();
    sig[10] ^= 1;
    assert_eq!(verify(&format!("{}.{}.{}", parts[0], parts[1], b64::encode(&sig))), Err(JwtError::BadSignature));
}

#[test]
fn base64_that_is_padded_standard_or_non_canonical_is_refused() {
    let token = sign(&dat(), Alg::HS256);
    let parts: Vec<&str> = token.split('.').collect();
    let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
    assert_eq!(verify(&padded), Err(JwtError::BadBase64));
    let spaced = format!("{} .{}.{}", parts[0], parts[1], parts[2]);
    assert_eq!(verify(&spaced), Err(JwtError::BadBase64));
    // The signature of HS256 is 32 bytes = 43 chars; the last char carries 2 unused bits. Flipping them
    // gives another string for the same bytes, which a strict decoder refuses.
    let last = parts[2].chars().last().unwrap();
    let idx = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".find(last).unwrap();
    let twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".chars().nth(idx ^ 1).unwrap();
    let noncanonical = format!("{}.{}.{}{}", parts[0], parts[1], &parts[2][..parts[2].len() - 1], twin);
    assert_eq!(verify(&noncanonical), Err(JwtError::BadBase64));
}

#[test]
fn tokens_with_the_wrong_number_of_parts_are_malformed() {
    for t in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "..", "a..c"] {
        assert_eq!(verify(t), Err(JwtError::Malformed), "{t:?}");
    }
}

#[test]
fn a_token_larger_than_the_bound_is_refused_before_decoding() {
    let mut claims = dat();
    claims.insert("pad".into(), json!("x".repeat(9000)));
    assert_eq!(verify(&sign(&claims, Alg::HS256)), Err(JwtError::TooLarge));
}

#[test]
fn duplicate_members_in_header_or_payload_are_refused() {
    let header = json!({"alg": "HS256", "kid": kid(Alg::HS256)});
    let now = now();
    let payload = format!(
        r#"{{"iss":"{PLATFORM}","aud":"{AUD}","sub":"a","exp":{},"scope_type":"deployment","organization_id":"{ORG}","workspace_id":"{WS}","deployment_id":"dep-2","deployment_id":"{DEP}","role":"ADMIN"}}"#,
        now + 60
    );
    assert_eq!(verify(&sign_raw(&header, payload.as_bytes(), Alg::HS256)), Err(JwtError::DuplicateMember));
    let dup_header = format!(r#"{{"alg":"HS256","alg":"none","kid":"{}"}}"#, kid(Alg::HS256));
    let input = format!("{}.{}", b64::encode(dup_header.as_bytes()), b64::encode(b"{}"));
    assert_eq!(verify(&format!("{input}.AAAA")), Err(JwtError::DuplicateMember));
}

#[test]
fn any_crit_header_is_refused_because_no_extension_is_understood() {
    let header = json!({"alg": "HS256", "kid": kid(Alg::HS256), "crit": ["b64"], "b64": false});
    let payload = serde_json::to_vec(&Value::Object(dat())).unwrap();
    assert_eq!(verify(&sign_raw(&header, &payload, Alg::HS256)), Err(JwtError::CriticalHeader));
}

#[test]
fn keys_named_by_jku_x5u_or_an_embedded_jwk_are_never_used() {
    // The token embeds the attacker's own public key and points at a URL; both are ignored, so the token
    // is checked against the configured key for its kid and fails.
    let attacker = public_jwk("rsa_other", Alg::RS256, "evil");
    let mut key = untrusted_rsa_key(Alg::RS256);
    key.kid = Some("evil".into());
    let token = key.sign(&Value::Object(dat()), &mut rand_core::OsRng).unwrap();
    assert_eq!(verify(&token), Err(JwtError::UnknownKid));
    // Same with a trusted kid plus jku/jwk in the header: still the pinned key decides.
    let header = json!({"alg": "HS256", "kid": kid(Alg::HS256), "jku": "https://evil.test/jwks", "jwk": attacker, "x5u": "https://evil.test/c"});
    let payload = serde_json::to_vec(&Value::Object(dat())).unwrap();
    assert_eq!(
        verify(&sign_raw(&header, &payload, Alg::HS256)),
        Ok("platform".into()),
        "a valid pinned signature still passes"
    );
}

#[test]
fn claim_checks_refuse_each_invalid_claim_with_its_own_reason() {
    let now = now();
    let cases: Vec<(&str, Value, JwtError)> = vec![
        ("exp", json!(now - 31), JwtError::Expired),
        ("exp", json!("never"), JwtError::ClaimType("exp".into())),
        ("exp", json!(-5), JwtError::ClaimType("exp".into())),
        ("nbf", json!(now + 120), JwtError::NotYetValid),
        ("nbf", json!(true), JwtError::ClaimType("nbf".into())),
        ("iat", json!(now + 120), JwtError::IssuedInFuture),
        ("aud", json!("someone-else"), JwtError::AudienceMismatch),
        ("aud", json!(["a", "b"]), JwtError::AudienceMismatch),
        ("aud", json!(42), JwtError::ClaimType("aud".into())),
        ("aud", json!([AUD, 1]), JwtError::ClaimType("aud".into())),
        ("aud", json!([]), JwtError::MissingClaim("aud".into())),
        ("iss", json!("https://platform.test"), JwtError::UnknownIssuer),
        ("iss", json!(["https://platform.test/"]), JwtError::ClaimType("iss".into())),
        ("sub", json!(7), JwtError::ClaimType("sub".into())),
        ("jti", json!("revoked-1"), JwtError::Revoked),
        ("jti", json!({"id": 1}), JwtError::ClaimType("jti".into())),
    ];
    for (claim, value, want) in cases {
        let mut c = dat();
        c.insert(claim.into(), value.clone());
        assert_eq!(verify(&sign(&c, Alg::HS512)), Err(want.clone()), "{claim}={value}");
    }
    for missing in ["iss", "aud", "exp", "sub"] {
        let mut c = dat();
        c.remove(missing);
        let got = verify(&sign(&c, Alg::HS512));
        assert!(matches!(got, Err(JwtError::MissingClaim(ref m)) if m == missing), "{missing}: {got:?}");
    }
}

#[test]
fn leeway_accepts_small_clock_skew_in_both_directions() {
    let now = now();
    let mut c = dat();
    c.insert("exp".into(), json!(now - 20));
    c.insert("nbf".into(), json!(now + 20));
    c.insert("iat".into(), json!(now + 20));
    assert_eq!(verify(&sign(&c, Alg::HS256)), Ok("platform".into()));
}

#[test]
fn an_audience_array_passes_when_it_contains_a_configured_audience() {
    let mut c = dat();
    c.insert("aud".into(), json!(["other", AUD]));
    assert_eq!(verify(&sign(&c, Alg::EdDSA)), Ok("platform".into()));
}

#[test]
fn subject_not_before_revokes_older_tokens_and_tokens_without_iat() {
    let mut c = dat();
    c.insert("sub".into(), json!("fired"));
    assert_eq!(verify(&sign(&c, Alg::HS256)), Err(JwtError::Revoked));
    c.remove("iat");
    assert_eq!(verify(&sign(&c, Alg::HS256)), Err(JwtError::Revoked));
}

#[test]
fn a_token_without_kid_is_refused_when_the_issuer_has_several_keys() {
    let mut key = signing_key(Alg::ES256);
    key.kid = None;
    let token = key.sign(&Value::Object(dat()), &mut rand_core::OsRng).unwrap();
    assert_eq!(verify(&token), Err(JwtError::UnknownKid));
}

#[test]
fn exp_may_be_absent_only_when_the_issuer_allows_non_expiring_tokens() {
    let mut v = config_json();
    v["issuers"][0]["require_exp"] = json!(false);
    let cfg = config_from(&v);
    let mut c = dat();
    c.remove("exp");
    let token = sign(&c, Alg::HS256);
    assert!(verify_token(&token, &cfg.issuers, 8192, now()).is_ok());
    assert_eq!(verify(&token), Err(JwtError::MissingClaim("exp".into())));
}

// --- What `VerifyKey` refuses beyond `ring`'s own checks (it verifies with `ring` since the switch from the
// RustCrypto crates; these keep the properties the earlier code had) ---

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn rsa_keys_below_2048_bits_are_refused_at_configuration_and_by_the_key_constructor() {
    use crate::jwt::jwk::verify_key_from_jwk;
    use crate::jwt::VerifyKey;
    // An odd 1024-bit modulus: a well-formed RSA public key, only too small.
    let mut n = vec![0u8; 128];
    n[0] = 0x80;
    n[127] = 0x01;
    let e = [0x01, 0x00, 0x01];
    let jwk = json!({"kty": "RSA", "alg": "RS256", "n": b64::encode(&n), "e": b64::encode(&e)});
    let errors = verify_key_from_jwk(&jwk).unwrap_err();
    assert_eq!(errors, vec![(".n".to_string(), "RSA modulus too small; expected at least 2048 bits".to_string())]);
    // Built directly, the key is refused too (ring's RSA_*_2048_8192 could never verify with it).
    assert_eq!(
        VerifyKey::rsa(None, Alg::RS256, n, e.to_vec()).unwrap_err(),
        "RSA modulus too small; expected at least 2048 bits"
    );
}

#[test]
fn the_ed25519_small_order_list_is_exactly_the_eight_torsion_points_canonically_encoded() {
    use crate::jwt::key::ED25519_SMALL_ORDER;
    for (i, enc) in ED25519_SMALL_ORDER.iter().enumerate() {
        let point = ed25519_dalek::VerifyingKey::from_bytes(enc).unwrap();
        assert!(point.is_weak(), "entry {i} is not of small order");
        assert_eq!(&point.to_edwards().compress().to_bytes(), enc, "entry {i} is not canonical");
        assert!(!ED25519_SMALL_ORDER[..i].contains(enc), "entry {i} is listed twice");
    }
    // Eight distinct points of order dividing 8 are the whole 8-torsion subgroup: none is missing.
    assert_eq!(ED25519_SMALL_ORDER.len(), 8);
}

#[test]
fn an_ed25519_small_order_public_key_is_refused_at_configuration_and_verifies_nothing() {
    use crate::jwt::jwk::verify_key_from_jwk;
    use crate::jwt::VerifyKey;
    use ring::signature::{UnparsedPublicKey, ED25519};
    // The identity as public key: R = [s]B satisfies [s]B = R + [k]A for every message, so (B, s = 1) is a
    // "signature" of anything, made with no private key. `ring` alone accepts it; Gatehouse must not.
    let identity = hex("0100000000000000000000000000000000000000000000000000000000000000");
    let forged = hex(concat!(
        "5866666666666666666666666666666666666666666666666666666666666666",
        "0100000000000000000000000000000000000000000000000000000000000000"
    ));
    let message = b"eyJhbGciOiJFZERTQSJ9.anything";
    assert!(UnparsedPublicKey::new(&ED25519, &identity).verify(message, &forged).is_ok());

    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64::encode(&identity)});
    let errors = verify_key_from_jwk(&jwk).unwrap_err();
    assert_eq!(errors, vec![(".x".to_string(), "a small-order Ed25519 point, not a usable public key".to_string())]);

    let weak = ed25519_dalek::VerifyingKey::from_bytes(&identity.clone().try_into().unwrap()).unwrap();
    let key = VerifyKey::ed25519(None, weak);
    assert_eq!(key.verify(Alg::EdDSA, message, &forged), Err(JwtError::BadSignature));
}

#[test]
fn an_ed25519_signature_with_a_small_order_r_is_refused_as_verify_strict_refused_it() {
    use crate::jwt::jwk::verify_key_from_jwk;
    use ring::signature::{UnparsedPublicKey, ED25519};
    // Made by the owner of the key with seed 0x42 × 32: R is the identity and S = k·a mod L, so the verification
    // equation holds. Only the owner can make one, but it is a second signature for a message (malleability);
    // ed25519-dalek's `verify_strict` refused it, `ring` alone accepts it, and Gatehouse refuses it.
    let seed = [0x42u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(public.to_bytes().to_vec(), hex("2152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12"));
    let message = b"gatehouse: small-order R";
    let sig = hex(concat!(
        "0100000000000000000000000000000000000000000000000000000000000000",
        "6903fa72eca4c0c4e5793ce5ce218e314fa9456faa6f8cdf09873ddb35e34f01"
    ));
    assert!(UnparsedPublicKey::new(&ED25519, public.as_bytes()).verify(message, &sig).is_ok());
    assert!(public.verify_strict(message, &ed25519_dalek::Signature::from_slice(&sig).unwrap()).is_err());

    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64::encode(public.as_bytes())});
    let key = verify_key_from_jwk(&jwk).unwrap();
    assert_eq!(key.verify(Alg::EdDSA, message, &sig), Err(JwtError::BadSignature));
    // The same key still verifies its ordinary signatures.
    use ed25519_dalek::Signer;
    let ordinary = ed25519_dalek::SigningKey::from_bytes(&seed).sign(message);
    assert_eq!(key.verify(Alg::EdDSA, message, &ordinary.to_bytes()), Ok(()));
}

#[test]
fn a_jwk_whose_key_ops_do_not_include_verify_is_refused_and_one_that_does_is_loaded() {
    use crate::jwt::jwk::verify_key_from_jwk;
    let mut jwk = public_jwk("rsa", Alg::RS256, "k1");
    jwk["key_ops"] = serde_json::json!(["encrypt"]);
    let errs = verify_key_from_jwk(&jwk).err().unwrap_or_default();
    assert!(errs.iter().any(|(at, why)| at == ".key_ops" && why.contains("verify")), "{errs:?}");
    jwk["key_ops"] = serde_json::json!("verify");
    assert!(verify_key_from_jwk(&jwk).is_err(), "key_ops is an array (RFC 7517 §4.3)");
    jwk["key_ops"] = serde_json::json!(["verify"]);
    assert!(verify_key_from_jwk(&jwk).is_ok());
}

/// A 2048-bit modulus built the way the flawed library built its keys: a product of two numbers of the form
/// `k·M + 65537^a mod M`, M the product of the first primes (only the form matters to the fingerprint).
fn roca_modulus(k1: u64, a: u32, k2: u64, b: u32) -> Vec<u8> {
    use rsa::BigUint;
    let m = [
        2u32, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103,
        107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ]
    .iter()
    .fold(BigUint::from(1u32), |acc, p| acc * BigUint::from(*p));
    let g = BigUint::from(65537u32);
    let shift = BigUint::from(1u32) << 830;
    let prime_like = |k: u64, e: u32| (BigUint::from(k) * &shift + 1u32) * &m + g.modpow(&BigUint::from(e), &m);
    (prime_like(k1, a) * prime_like(k2, b)).to_bytes_be()
}

#[test]
fn rsa_moduli_with_the_roca_fingerprint_are_recognized_and_ordinary_ones_are_not() {
    use crate::jwt::roca::fingerprinted;
    for (k1, a, k2, b) in [(3, 17, 5, 1234), (99, 4, 12345, 77), (1, 0, 1, 1)] {
        assert!(fingerprinted(&roca_modulus(k1, a, k2, b)), "{k1} {a} {k2} {b}");
    }
    let ordinary = public_jwk("rsa", Alg::RS256, "k1");
    let n = crate::b64::decode_strict(ordinary["n"].as_str().unwrap_or_default()).unwrap_or_default();
    assert!(!fingerprinted(&n));
    // One residue off the subgroup is enough to clear a modulus.
    let mut almost = roca_modulus(3, 17, 5, 1234);
    if let Some(last) = almost.last_mut() {
        *last ^= 1;
    }
    assert!(!fingerprinted(&almost));
}

#[test]
fn an_rsa_jwk_with_the_roca_fingerprint_is_refused_with_the_reason() {
    use crate::jwt::jwk::verify_key_from_jwk;
    let mut jwk = public_jwk("rsa", Alg::RS256, "k1");
    jwk["n"] = serde_json::json!(crate::b64::encode(&roca_modulus(3, 17, 5, 1234)));
    let errs = verify_key_from_jwk(&jwk).err().unwrap_or_default();
    assert!(errs.iter().any(|(at, why)| at == ".n" && why.contains("ROCA")), "{errs:?}");
}

fn verify_with_max_lifetime(claims: &serde_json::Map<String, Value>, max: u64) -> Result<String, JwtError> {
    let mut cfg = config_json();
    cfg["issuers"][0]["max_lifetime_seconds"] = json!(max);
    let cfg = config_from(&cfg);
    verify_token(&sign(claims, Alg::ES256), &cfg.issuers, cfg.max_token_bytes, now()).map(|v| v.issuer.name.clone())
}

#[test]
fn a_token_valid_for_longer_than_the_issuers_max_lifetime_is_refused() {
    let mut claims = dat();
    assert_eq!(verify_with_max_lifetime(&claims, 600), Ok("platform".into()), "exactly the maximum passes");
    claims.insert("exp".into(), json!(now() + 601));
    assert_eq!(verify_with_max_lifetime(&claims, 600), Err(JwtError::LifetimeTooLong));
    // Year 2286: without a maximum it passes (control), with one it does not.
    claims.insert("exp".into(), json!(9_999_999_999u64));
    assert_eq!(verify(&sign(&claims, Alg::ES256)), Ok("platform".into()));
    assert_eq!(verify_with_max_lifetime(&claims, 86_400), Err(JwtError::LifetimeTooLong));
}

#[test]
fn max_lifetime_counts_from_iat_and_from_now_and_needs_exp() {
    let mut claims = dat();
    // Issued an hour ago for 70 minutes: 10 minutes left, but a lifetime of 70 minutes.
    claims.insert("iat".into(), json!(now() - 3600));
    claims.insert("nbf".into(), json!(now() - 3600));
    claims.insert("exp".into(), json!(now() + 600));
    assert_eq!(verify_with_max_lifetime(&claims, 3600), Err(JwtError::LifetimeTooLong));
    assert_eq!(verify_with_max_lifetime(&claims, 4200), Ok("platform".into()));
    // Without iat, the time left counts.
    claims.remove("iat");
    assert_eq!(verify_with_max_lifetime(&claims, 600), Ok("platform".into()));
    assert_eq!(verify_with_max_lifetime(&claims, 500), Err(JwtError::LifetimeTooLong));
    claims.remove("exp");
    assert_eq!(verify_with_max_lifetime(&claims, 600), Err(JwtError::MissingClaim("exp".into())));
}
