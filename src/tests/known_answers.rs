//! Published examples: if these fail, the primitives or the signing-input handling are wrong, whatever our
//! own sign/verify round trips say.

use serde_json::json;

use crate::b64;
use crate::jwt::jwk::verify_key_from_jwk;
use crate::jwt::token::parse;
use crate::jwt::{Alg, JwtError, VerifyKey};
use crate::secret::Secret;

fn check(token: &str, key: &VerifyKey) -> bool {
    let t = parse(token, 8192).unwrap();
    key.verify(t.header.alg, t.signing_input, &t.signature).is_ok()
}

#[test]
fn rfc7515_appendix_a1_hs256_example_verifies_and_a_flipped_bit_does_not() {
    let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let k =
        b64::decode_strict("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
    let key = VerifyKey::hmac(None, Alg::HS256, Secret::new(k));
    assert!(check(token, &key));
    let tampered = token.replace("dBjftJeZ4CVP", "dBjftJeZ4CVQ");
    assert!(!check(&tampered, &key));
}

#[test]
fn rfc8037_appendix_a4_ed25519_example_verifies() {
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    let key = verify_key_from_jwk(&jwk).unwrap();
    let token = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    // The payload is not a JSON object, so go below `parse` to the signature check itself.
    let (input, sig) = token.rsplit_once('.').unwrap();
    assert!(key.verify(Alg::EdDSA, input.as_bytes(), &b64::decode_strict(sig).unwrap()).is_ok());
    assert!(key.verify(Alg::EdDSA, b"eyJhbGciOiJFZERTQSJ9.other", &b64::decode_strict(sig).unwrap()).is_err());
}

/// Flips one bit of the decoded signature: the published signature must be the only one that verifies.
fn flipped(sig: &[u8], at: usize) -> Vec<u8> {
    let mut s = sig.to_vec();
    let at = at % s.len();
    s[at] ^= 0x01;
    s
}

/// Checks the signature below `parse` (for payloads that are not JSON objects, as in RFC 7520 §4), and
/// that a changed signature or signing input fails.
fn verifies_only_as_published(key: &VerifyKey, alg: Alg, token: &str) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = b64::decode_strict(sig).unwrap();
    assert_eq!(key.verify(alg, input.as_bytes(), &sig), Ok(()), "{token}");
    for at in [0, sig.len() / 2, sig.len() - 1] {
        assert_eq!(key.verify(alg, input.as_bytes(), &flipped(&sig, at)), Err(JwtError::BadSignature), "byte {at}");
    }
    let mut other_input = input.as_bytes().to_vec();
    other_input[input.len() - 1] ^= 0x01;
    assert_eq!(key.verify(alg, &other_input, &sig), Err(JwtError::BadSignature));
}

// RFC 7515 Appendix A: the JWS examples. A.2–A.3 use the A.1 payload, a JSON object with CRLF line breaks.
const RFC7515_PAYLOAD: &str =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

#[test]
fn rfc7515_appendix_a2_rs256_example_verifies_and_a_flipped_byte_does_not() {
    let jwk = json!({"kty": "RSA", "alg": "RS256", "e": "AQAB",
        "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"});
    let key = verify_key_from_jwk(&jwk).unwrap();
    let token = format!(
        "eyJhbGciOiJSUzI1NiJ9.{RFC7515_PAYLOAD}.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
    );
    assert!(check(&token, &key));
    verifies_only_as_published(&key, Alg::RS256, &token);
}

#[test]
fn rfc7515_appendix_a3_es256_example_verifies_and_a_flipped_byte_does_not() {
    let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    let key = verify_key_from_jwk(&jwk).unwrap();
    let token = format!(
        "eyJhbGciOiJFUzI1NiJ9.{RFC7515_PAYLOAD}.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
    );
    assert!(check(&token, &key));
    verifies_only_as_published(&key, Alg::ES256, &token);
}

#[test]
fn rfc7515_appendix_a4_es512_example_verifies_and_a_flipped_byte_does_not() {
    let token = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";
    let jwk = json!({"kty": "EC", "crv": "P-521", "alg": "ES512",
        "x": "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk",
        "y": "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"});
    let key = verify_key_from_jwk(&jwk).unwrap();
    // The payload is the text "Payload", not a claims set: below `parse`, to the signature.
    verifies_only_as_published(&key, Alg::ES512, token);
}

#[test]
fn rfc7515_appendix_a5_unsecured_example_is_refused_by_shape_and_by_algorithm() {
    // RFC 7515 A.5 / RFC 7519 §6.1: `alg: none` and an empty signature. The empty part is refused before the
    // header is read; with a signature glued on, `none` is still not an algorithm (RFC 8725 §3.1).
    let token = format!("eyJhbGciOiJub25lIn0.{RFC7515_PAYLOAD}.");
    assert_eq!(parse(&token, 8192).err(), Some(JwtError::Malformed));
    assert_eq!(parse(&format!("{token}AAAA"), 8192).err(), Some(JwtError::UnsupportedAlg));
    assert_eq!(Alg::parse("none"), None);
}

// RFC 7520 §4: the JWS cookbook. Every example signs the same non-JSON payload (§4 "Payload Content"),
// which has two U+2019 apostrophes; its base64url is copied from the RFC.
const RFC7520_PAYLOAD: &str = "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4";

/// RFC 7520 §3.3 (public part of §3.4): the "bilbo.baggins@hobbiton.example" RSA key.
fn rfc7520_rsa_jwk(alg: &str) -> serde_json::Value {
    json!({"kty": "RSA", "kid": "bilbo.baggins@hobbiton.example", "use": "sig", "alg": alg, "e": "AQAB",
        "n": "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHdrNP5zw"})
}

#[test]
fn rfc7520_payload_is_the_one_with_unicode_apostrophes() {
    let text = String::from_utf8(b64::decode_strict(RFC7520_PAYLOAD).unwrap()).unwrap();
    assert_eq!(
        text,
        "It\u{2019}s a dangerous business, Frodo, going out your door. You step onto the road, and if you don't keep your feet, there\u{2019}s no knowing where you might be swept off to."
    );
}

#[test]
fn rfc7520_section_4_1_rs256_example_verifies_and_a_flipped_byte_does_not() {
    let key = verify_key_from_jwk(&rfc7520_rsa_jwk("RS256")).unwrap();
    let token = format!(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.{RFC7520_PAYLOAD}.MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg"
    );
    // The payload is text, not a claims set, so the token is not a JWT (RFC 7519 §7.2 step 10) ...
    assert_eq!(parse(&token, 8192).err(), Some(JwtError::BadJson));
    // ... but the signature over it is exactly RFC 7515's, and the key from the cookbook verifies it.
    verifies_only_as_published(&key, Alg::RS256, &token);
}

#[test]
fn rfc7520_section_4_2_ps384_example_verifies_and_a_flipped_byte_does_not() {
    let token = format!(
        "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.{RFC7520_PAYLOAD}.cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXUvdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRXe8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw"
    );
    // RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt (RFC 7518 §3.5), the cookbook's own key.
    let key = verify_key_from_jwk(&rfc7520_rsa_jwk("PS384")).unwrap();
    verifies_only_as_published(&key, Alg::PS384, &token);
    // One key, one algorithm: the same key pinned to PS512 refuses the PS384 signature.
    let ps512 = verify_key_from_jwk(&rfc7520_rsa_jwk("PS512")).unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    assert_eq!(
        ps512.verify(Alg::PS384, input.as_bytes(), &b64::decode_strict(sig).unwrap()),
        Err(JwtError::AlgMismatch)
    );
}

#[test]
fn rfc7520_section_4_3_es512_example_verifies_and_a_flipped_byte_does_not() {
    let token = format!(
        "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.{RFC7520_PAYLOAD}.AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2"
    );
    // RFC 7520 §3.1: the P-521 key.
    let jwk = json!({"kty": "EC", "kid": "bilbo.baggins@hobbiton.example", "use": "sig", "crv": "P-521", "alg": "ES512",
        "x": "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt",
        "y": "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"});
    let key = verify_key_from_jwk(&jwk).unwrap();
    verifies_only_as_published(&key, Alg::ES512, &token);
}

#[test]
fn rfc7520_section_4_4_hs256_example_verifies_and_a_flipped_byte_does_not() {
    // RFC 7520 §3.5: the symmetric key "018c0ae5-4d9b-471b-bfd6-eef314bc7037".
    let k = b64::decode_strict("hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg").unwrap();
    let key = VerifyKey::hmac(Some("018c0ae5-4d9b-471b-bfd6-eef314bc7037".into()), Alg::HS256, Secret::new(k));
    let token = format!(
        "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.{RFC7520_PAYLOAD}.s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0"
    );
    assert_eq!(parse(&token, 8192).err(), Some(JwtError::BadJson));
    verifies_only_as_published(&key, Alg::HS256, &token);
    // One key, one algorithm (RFC 8725 §3.1): the same bytes under another `alg` are a mismatch, not a check.
    let (input, sig) = token.rsplit_once('.').unwrap();
    assert_eq!(key.verify(Alg::HS512, input.as_bytes(), &b64::decode_strict(sig).unwrap()), Err(JwtError::AlgMismatch));
}
