//! Size probe: for each enabled candidate, the code Gatehouse would carry for it at run time (build the key from
//! raw bytes, then verify or open), called on opaque input. The program is built once with no candidate (the
//! baseline) and once per candidate; the difference in .wasm size is that candidate's contribution.
//! The inputs are all zeros, so every call fails: this build is for its size, not to be run for results.
#![allow(unused_variables, unused_mut)]

use std::hint::black_box;

pub fn main() {
    let n = std::env::args().count();
    let input = black_box(vec![n as u8; 4096 + 16]);
    let key32: [u8; 32] = black_box([n as u8; 32]);
    let nonce12: [u8; 12] = black_box([n as u8; 12]);
    let sig64: [u8; 64] = black_box([n as u8; 64]);
    let msg = &input[..600];
    let mut ok = 0u32;

    #[cfg(feature = "c-rsa09")]
    {
        use rsa09::signature::Verifier;
        let r = rsa09::RsaPublicKey::new(rsa09::BigUint::from_bytes_be(&input[..256]), rsa09::BigUint::from_bytes_be(&input[256..259]))
            .ok()
            .map(rsa09::pkcs1v15::VerifyingKey::<rsa09::sha2::Sha256>::new)
            .is_some_and(|vk| {
                rsa09::pkcs1v15::Signature::try_from(&input[300..556]).is_ok_and(|s| vk.verify(msg, &s).is_ok())
            });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-rsa010")]
    {
        use rsa010::signature::Verifier;
        let n = rsa010::BoxedUint::from_be_slice(&input[..256], 2048).ok();
        let e = rsa010::BoxedUint::from_be_slice(&input[256..259], 64).ok();
        let r = n
            .zip(e)
            .and_then(|(n, e)| rsa010::PublicKey::new(n, e).ok())
            .map(rsa010::pkcs1v15::VerifyingKey::<sha2_011::Sha256>::new)
            .is_some_and(|vk| {
                rsa010::pkcs1v15::Signature::try_from(&input[300..556]).is_ok_and(|s| vk.verify(msg, &s).is_ok())
            });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-p256-013")]
    {
        use p256_013::ecdsa::signature::Verifier;
        let r = p256_013::ecdsa::VerifyingKey::from_sec1_bytes(&input[..65]).is_ok_and(|vk| {
            p256_013::ecdsa::Signature::from_slice(&sig64).is_ok_and(|s| vk.verify(msg, &s).is_ok())
        });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-p256-014")]
    {
        use p256_014::ecdsa::signature::Verifier;
        let r = p256_014::ecdsa::VerifyingKey::from_sec1_bytes(&input[..65]).is_ok_and(|vk| {
            p256_014::ecdsa::Signature::from_slice(&sig64).is_ok_and(|s| vk.verify(msg, &s).is_ok())
        });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-dalek2")]
    {
        let r = ed25519_dalek2::VerifyingKey::from_bytes(&key32).is_ok_and(|vk| {
            vk.verify_strict(msg, &ed25519_dalek2::Signature::from_bytes(&sig64)).is_ok()
        });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-dalek3")]
    {
        let r = ed25519_dalek3::VerifyingKey::from_bytes(&key32).is_ok_and(|vk| {
            vk.verify_strict(msg, &ed25519_dalek3::Signature::from_bytes(&sig64)).is_ok()
        });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-compact")]
    {
        let r = ed25519_compact::PublicKey::from_slice(&key32).is_ok_and(|pk| {
            ed25519_compact::Signature::from_slice(&sig64).is_ok_and(|s| pk.verify(msg, &s).is_ok())
        });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-aesgcm010")]
    {
        use aes_gcm_010::aead::{Aead, KeyInit, Payload};
        let r = aes_gcm_010::Aes256Gcm::new_from_slice(&key32).is_ok_and(|c| {
            c.decrypt(&aes_gcm_010::Nonce::from(nonce12), Payload { msg: &input[..1040], aad: &input[2000..2040] }).is_ok()
        });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-aesgcm011")]
    {
        use aes_gcm_011::aead::{Aead, KeyInit, Payload};
        let r = aes_gcm_011::Aes256Gcm::new_from_slice(&key32).is_ok_and(|c| {
            c.decrypt(&aes_gcm_011::Nonce::from(nonce12), Payload { msg: &input[..1040], aad: &input[2000..2040] }).is_ok()
        });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-hmac012")]
    {
        use hmac012::{Hmac, Mac};
        let r = <Hmac<sha2_010::Sha512> as Mac>::new_from_slice(&key32).is_ok_and(|mut m| {
            m.update(msg);
            m.verify_slice(&sig64).is_ok()
        });
        ok += u32::from(r);
    }
    #[cfg(feature = "c-hmac013")]
    {
        use hmac013::{Hmac, KeyInit, Mac};
        let r = <Hmac<sha2_011::Sha512> as KeyInit>::new_from_slice(&key32).is_ok_and(|mut m| {
            m.update(msg);
            m.verify_slice(&sig64).is_ok()
        });
        ok += u32::from(r);
    }
    // ring: one primitive per build (probe-* features), so each compares with the RustCrypto crate for it.
    #[cfg(all(feature = "c-ring", feature = "probe-rs256"))]
    {
        use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
        let r = RsaPublicKeyComponents { n: &input[..256], e: &input[256..259] }
            .verify(&RSA_PKCS1_2048_8192_SHA256, msg, &input[300..556])
            .is_ok();
        ok += u32::from(r);
    }
    #[cfg(all(feature = "c-ring", feature = "probe-es256"))]
    {
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
        ok += u32::from(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &input[..65]).verify(msg, &sig64).is_ok());
    }
    #[cfg(all(feature = "c-ring", feature = "probe-eddsa"))]
    {
        use ring::signature::{UnparsedPublicKey, ED25519};
        ok += u32::from(UnparsedPublicKey::new(&ED25519, &key32).verify(msg, &sig64).is_ok());
    }
    #[cfg(all(feature = "c-ring", feature = "probe-gcm"))]
    {
        use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        if let Ok(k) = UnboundKey::new(&AES_256_GCM, &key32) {
            let key = LessSafeKey::new(k);
            let mut buf = input[..1040].to_vec();
            let r = key.open_in_place(Nonce::assume_unique_for_key(nonce12), Aad::from(&input[2000..2040]), &mut buf);
            ok += u32::from(r.is_ok());
        }
    }
    #[cfg(all(feature = "c-ring", feature = "probe-hs512"))]
    {
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA512, &key32);
        ok += u32::from(ring::hmac::verify(&k, msg, &sig64).is_ok());
    }
    println!("{}", black_box(ok));
}
