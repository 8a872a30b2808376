//! Published examples: if these fail, the primitives or the signing-input handling are wrong, whatever our
//! own sign/verify round trips say.

use serde_json::json;

use crate::b64;
use crate::jwt::jwk::verify_key_from_jwk;
use crate::jwt::token::parse;
use crate::jwt::{Alg, VerifyKey};
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
