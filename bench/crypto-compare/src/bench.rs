use std::hint::black_box;
use std::time::{Duration, Instant};

// The fixtures are made with Gatehouse's own crates, so a benchmark build needs them.
#[cfg(not(all(
    feature = "c-rsa09",
    feature = "c-p256-013",
    feature = "c-dalek2",
    feature = "c-aesgcm010",
    feature = "c-hmac012"
)))]
compile_error!("the benchmark needs the Gatehouse crates (features c-rsa09 c-p256-013 c-dalek2 c-aesgcm010 c-hmac012); use the default features, or --features rustcrypto");

const MIN_BATCH: Duration = Duration::from_millis(200);
const BATCHES: usize = 5;
const SEED: u64 = 0x6761_7465_686f_7573; // "gatehous"

/// Which build this is: the crates as Gatehouse configures them, or with their upstream default features.
const VARIANT: &str = if cfg!(feature = "upstream-defaults") { "upstream-defaults" } else { "gatehouse-features" };

struct Fixtures {
    /// A JWT signing input (`base64url(header).base64url(payload)`), about 600 bytes.
    msg: Vec<u8>,
    rsa_n: Vec<u8>,
    rsa_e: Vec<u8>,
    rsa_sig: Vec<u8>,
    /// SEC1 uncompressed public point (65 bytes), and the fixed-size r||s signature (64 bytes).
    p256_pub: Vec<u8>,
    p256_sig: Vec<u8>,
    ed_pub: [u8; 32],
    ed_sig: [u8; 64],
    aes_key: [u8; 32],
    aes_nonce: [u8; 12],
    aad: Vec<u8>,
    /// ciphertext || tag for 1 KiB and 4 KiB plaintexts.
    ct_1k: Vec<u8>,
    ct_4k: Vec<u8>,
    hmac_key: [u8; 64],
    hs512_tag: Vec<u8>,
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn fixtures() -> Fixtures {
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);

    let header = br#"{"alg":"RS256","typ":"JWT","kid":"gatehouse-bench-2026"}"#;
    let mut payload = String::from(
        r#"{"iss":"https://login.example.com/realms/main","aud":["gatehouse","api"],"sub":"f4c1e2d3-9a8b-4c7d-8e6f-5a4b3c2d1e0f","#,
    );
    payload.push_str(r#""iat":1790000000,"exp":1790003600,"nbf":1790000000,"scope":"openid profile email","#);
    payload.push_str(r#""email":"someone@example.com","name":"Some One","groups":["eng","ops","oncall"],"nonce":""#);
    let mut nonce = [0u8; 48];
    rng.fill_bytes(&mut nonce);
    payload.push_str(&b64url(&nonce));
    payload.push_str(r#"","roles":["reader","writer"],"sid":"0b5e2c3a-1d4f-4e6a-9b8c-7d6e5f4a3b2c"}"#);
    let msg = format!("{}.{}", b64url(header), b64url(payload.as_bytes())).into_bytes();

    // RSA-2048, e = 65537, RS256.
    let (rsa_n, rsa_e, rsa_sig) = {
        use rsa09::signature::{SignatureEncoding, Signer};
        use rsa09::traits::PublicKeyParts;
        let sk = rsa09::RsaPrivateKey::new(&mut rng, 2048).expect("rsa keygen");
        let n = sk.n().to_bytes_be();
        let e = sk.e().to_bytes_be();
        let signer = rsa09::pkcs1v15::SigningKey::<rsa09::sha2::Sha256>::new(sk);
        (n, e, signer.sign(&msg).to_vec())
    };

    // ECDSA P-256, ES256 (RFC 6979 nonces: deterministic).
    let (p256_pub, p256_sig) = {
        use p256_013::ecdsa::signature::Signer;
        let sk = p256_013::ecdsa::SigningKey::random(&mut rng);
        let sig: p256_013::ecdsa::Signature = sk.sign(&msg);
        (sk.verifying_key().to_encoded_point(false).as_bytes().to_vec(), sig.to_bytes().to_vec())
    };

    // Ed25519.
    let (ed_pub, ed_sig) = {
        use ed25519_dalek2::Signer;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let sk = ed25519_dalek2::SigningKey::from_bytes(&seed);
        (sk.verifying_key().to_bytes(), sk.sign(&msg).to_bytes())
    };

    // AES-256-GCM with an AAD like Gatehouse's session cookies.
    let mut aes_key = [0u8; 32];
    rng.fill_bytes(&mut aes_key);
    let mut aes_nonce = [0u8; 12];
    rng.fill_bytes(&mut aes_nonce);
    let aad = b"gatehouse-cookie\0v1\0k2026\0__Host-gh_session\0".to_vec();
    let seal = |len: usize, rng: &mut ChaCha20Rng| {
        use aes_gcm_010::aead::{Aead, KeyInit, Payload};
        let mut pt = vec![0u8; len];
        rng.fill_bytes(&mut pt);
        let c = aes_gcm_010::Aes256Gcm::new_from_slice(&aes_key).expect("key");
        c.encrypt(&aes_gcm_010::Nonce::from(aes_nonce), Payload { msg: &pt, aad: &aad }).expect("seal")
    };
    let ct_1k = seal(1024, &mut rng);
    let ct_4k = seal(4096, &mut rng);

    // HS512.
    let mut hmac_key = [0u8; 64];
    rng.fill_bytes(&mut hmac_key);
    let hs512_tag = {
        use hmac012::{Mac, Hmac};
        let mut m = <Hmac<sha2_010::Sha512> as Mac>::new_from_slice(&hmac_key).expect("key");
        m.update(&msg);
        m.finalize().into_bytes().to_vec()
    };

    Fixtures { msg, rsa_n, rsa_e, rsa_sig, p256_pub, p256_sig, ed_pub, ed_sig, aes_key, aes_nonce, aad, ct_1k, ct_4k, hmac_key, hs512_tag }
}

/// One candidate for one primitive. `run` does one operation on the good input and says whether it succeeded;
/// `tampered` does it on a corrupted input and must say false.
struct Case<'a> {
    primitive: &'static str,
    krate: String,
    note: &'static str,
    /// Built differently by the upstream-defaults variant (the others are the same code in both variants).
    variant_sensitive: bool,
    run: Box<dyn FnMut() -> bool + 'a>,
    tampered: Box<dyn FnMut() -> bool + 'a>,
}

const RS256: &str = "RS256 verify (RSA-2048 PKCS#1 v1.5 SHA-256)";
const ES256: &str = "ES256 verify (ECDSA P-256 SHA-256)";
const EDDSA: &str = "EdDSA verify (Ed25519)";
const GCM1K: &str = "AES-256-GCM open 1 KiB";
const GCM4K: &str = "AES-256-GCM open 4 KiB";
const HS512: &str = "HS512 (HMAC-SHA512, ~600 B)";

fn flip(v: &[u8], i: usize) -> Vec<u8> {
    let mut v = v.to_vec();
    v[i] ^= 1;
    v
}

/// A case from one operation `op(input, other)`: run on (`good`, `other`), and tampered on (`bad`, `other`).
#[allow(clippy::too_many_arguments)]
fn case<'a>(
    primitive: &'static str,
    krate: impl Into<String>,
    note: &'static str,
    variant_sensitive: bool,
    op: impl Fn(&[u8], &[u8]) -> bool + Clone + 'a,
    good: &'a [u8],
    bad: Vec<u8>,
    other: &'a [u8],
) -> Case<'a> {
    let op2 = op.clone();
    Case {
        primitive,
        krate: krate.into(),
        note,
        variant_sensitive,
        run: Box::new(move || op(good, other)),
        tampered: Box::new(move || op2(&bad, other)),
    }
}

fn cases(f: &Fixtures) -> Vec<Case<'_>> {
    let mut cases: Vec<Case<'_>> = Vec::new();
    let msg = &f.msg[..];
    let bad_msg = flip(&f.msg, 10);
    let defaults = cfg!(feature = "upstream-defaults");

    // ---------------------------------------------------------------- RS256
    {
        use rsa09::signature::Verifier;
        let pk = rsa09::RsaPublicKey::new(rsa09::BigUint::from_bytes_be(&f.rsa_n), rsa09::BigUint::from_bytes_be(&f.rsa_e))
            .expect("rsa 0.9 public key");
        let vk = rsa09::pkcs1v15::VerifyingKey::<rsa09::sha2::Sha256>::new(pk);
        let krate = if defaults {
            "rsa 0.9.10 (default features: u64_digit)"
        } else {
            "rsa 0.9.10 (no default features; Gatehouse signs with it)"
        };
        let op = move |msg: &[u8], sig: &[u8]| {
            rsa09::pkcs1v15::Signature::try_from(black_box(sig)).is_ok_and(|s| vk.verify(black_box(msg), &s).is_ok())
        };
        cases.push(case(RS256, krate, "", true, op, msg, bad_msg.clone(), &f.rsa_sig));
    }
    #[cfg(feature = "c-rsa010")]
    {
        use rsa010::signature::Verifier;
        let n = rsa010::BoxedUint::from_be_slice(&f.rsa_n, 2048).expect("n");
        let e = rsa010::BoxedUint::from_be_slice(&f.rsa_e, 64).expect("e");
        let pk = rsa010::PublicKey::new(n, e).expect("rsa 0.10 public key");
        let vk = rsa010::pkcs1v15::VerifyingKey::<sha2_011::Sha256>::new(pk);
        let op = move |msg: &[u8], sig: &[u8]| {
            rsa010::pkcs1v15::Signature::try_from(black_box(sig)).is_ok_and(|s| vk.verify(black_box(msg), &s).is_ok())
        };
        cases.push(case(RS256, "rsa 0.10.0 (pkcs1v15)", "", false, op, msg, bad_msg.clone(), &f.rsa_sig));
    }
    #[cfg(feature = "c-ring")]
    {
        use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
        let op = move |msg: &[u8], sig: &[u8]| {
            RsaPublicKeyComponents { n: black_box(&f.rsa_n[..]), e: black_box(&f.rsa_e[..]) }
                .verify(&RSA_PKCS1_2048_8192_SHA256, black_box(msg), black_box(sig))
                .is_ok()
        };
        let note = "key parsed per call (ring keeps no parsed RSA public key)";
        cases.push(case(RS256, "ring 0.17.14 [Gatehouse]", note, false, op, msg, bad_msg.clone(), &f.rsa_sig));
    }

    // ---------------------------------------------------------------- ES256
    {
        use p256_013::ecdsa::signature::Verifier;
        let vk = p256_013::ecdsa::VerifyingKey::from_sec1_bytes(&f.p256_pub).expect("p256 0.13 key");
        let op = move |msg: &[u8], sig: &[u8]| {
            p256_013::ecdsa::Signature::from_slice(black_box(sig)).is_ok_and(|s| vk.verify(black_box(msg), &s).is_ok())
        };
        cases.push(case(ES256, "p256 0.13.2 (Gatehouse signs with it)", "", false, op, msg, bad_msg.clone(), &f.p256_sig));
    }
    #[cfg(feature = "c-p256-014")]
    {
        use p256_014::ecdsa::signature::Verifier;
        let vk = p256_014::ecdsa::VerifyingKey::from_sec1_bytes(&f.p256_pub).expect("p256 0.14 key");
        let op = move |msg: &[u8], sig: &[u8]| {
            p256_014::ecdsa::Signature::from_slice(black_box(sig)).is_ok_and(|s| vk.verify(black_box(msg), &s).is_ok())
        };
        cases.push(case(ES256, "p256 0.14.0", "", false, op, msg, bad_msg.clone(), &f.p256_sig));
    }
    #[cfg(feature = "c-ring")]
    {
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
        let op = move |msg: &[u8], sig: &[u8]| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, black_box(&f.p256_pub[..]))
                .verify(black_box(msg), black_box(sig))
                .is_ok()
        };
        cases.push(case(ES256, "ring 0.17.14 [Gatehouse]", "key parsed per call", false, op, msg, bad_msg.clone(), &f.p256_sig));
    }

    // ---------------------------------------------------------------- EdDSA
    {
        let vk = ed25519_dalek2::VerifyingKey::from_bytes(&f.ed_pub).expect("dalek 2 key");
        let krate = if defaults {
            "ed25519-dalek 2.2.0 (default features: fast)"
        } else {
            "ed25519-dalek 2.2.0 (no default features; Gatehouse signs with it)"
        };
        let op = move |msg: &[u8], sig: &[u8]| {
            ed25519_dalek2::Signature::from_slice(black_box(sig)).is_ok_and(|s| vk.verify_strict(black_box(msg), &s).is_ok())
        };
        cases.push(case(EDDSA, krate, "verify_strict", true, op, msg, bad_msg.clone(), &f.ed_sig));
    }
    #[cfg(feature = "c-dalek3")]
    {
        let vk = ed25519_dalek3::VerifyingKey::from_bytes(&f.ed_pub).expect("dalek 3 key");
        let krate = if defaults {
            "ed25519-dalek 3.0.0 (default features: fast)"
        } else {
            "ed25519-dalek 3.0.0 (no default features)"
        };
        let op = move |msg: &[u8], sig: &[u8]| {
            ed25519_dalek3::Signature::from_slice(black_box(sig)).is_ok_and(|s| vk.verify_strict(black_box(msg), &s).is_ok())
        };
        cases.push(case(EDDSA, krate, "verify_strict", true, op, msg, bad_msg.clone(), &f.ed_sig));
    }
    #[cfg(feature = "c-compact")]
    {
        let pk = ed25519_compact::PublicKey::from_slice(&f.ed_pub).expect("compact key");
        let op = move |msg: &[u8], sig: &[u8]| {
            ed25519_compact::Signature::from_slice(black_box(sig)).is_ok_and(|s| pk.verify(black_box(msg), &s).is_ok())
        };
        cases.push(case(EDDSA, "ed25519-compact 2.6.1", "", false, op, msg, bad_msg.clone(), &f.ed_sig));
    }
    #[cfg(feature = "c-ring")]
    {
        use ring::signature::{UnparsedPublicKey, ED25519};
        let op = move |msg: &[u8], sig: &[u8]| {
            UnparsedPublicKey::new(&ED25519, black_box(&f.ed_pub[..])).verify(black_box(msg), black_box(sig)).is_ok()
        };
        cases.push(case(EDDSA, "ring 0.17.14 [Gatehouse]", "", false, op, msg, bad_msg.clone(), &f.ed_sig));
    }

    // ---------------------------------------------------------------- AES-256-GCM open
    for (primitive, ct) in [(GCM1K, &f.ct_1k[..]), (GCM4K, &f.ct_4k[..])] {
        let bad_ct = flip(ct, 5);
        {
            use aes_gcm_010::aead::{Aead, KeyInit, Payload};
            let op = move |ct: &[u8], aad: &[u8]| {
                let c = aes_gcm_010::Aes256Gcm::new_from_slice(black_box(&f.aes_key)).expect("key");
                c.decrypt(&aes_gcm_010::Nonce::from(f.aes_nonce), Payload { msg: black_box(ct), aad })
                    .map(|pt| black_box(pt).len())
                    .is_ok()
            };
            let note = "key schedule + Vec output per call";
            cases.push(case(primitive, "aes-gcm 0.10.3 (Gatehouse: 0.11.1)", note, false, op, ct, bad_ct.clone(), &f.aad));
        }
        #[cfg(feature = "c-aesgcm011")]
        {
            use aes_gcm_011::aead::{Aead, KeyInit, Payload};
            let op = move |ct: &[u8], aad: &[u8]| {
                let c = aes_gcm_011::Aes256Gcm::new_from_slice(black_box(&f.aes_key)).expect("key");
                c.decrypt(&aes_gcm_011::Nonce::from(f.aes_nonce), Payload { msg: black_box(ct), aad })
                    .map(|pt| black_box(pt).len())
                    .is_ok()
            };
            let note = "key schedule + Vec output per call";
            cases.push(case(primitive, "aes-gcm 0.11.1", note, false, op, ct, bad_ct.clone(), &f.aad));
        }
        #[cfg(feature = "c-ring")]
        {
            use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
            let op = move |ct: &[u8], aad: &[u8]| {
                let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, black_box(&f.aes_key)).expect("key"));
                let mut buf = black_box(ct).to_vec();
                key.open_in_place(Nonce::assume_unique_for_key(f.aes_nonce), Aad::from(aad), &mut buf)
                    .map(|pt| black_box(pt).len())
                    .is_ok()
            };
            let note = "key schedule + Vec copy per call";
            cases.push(case(primitive, "ring 0.17.14", note, false, op, ct, bad_ct, &f.aad));
        }
    }

    // ---------------------------------------------------------------- HS512
    {
        use hmac012::{Hmac, Mac};
        let op = move |msg: &[u8], tag: &[u8]| {
            let mut m = <Hmac<sha2_010::Sha512> as Mac>::new_from_slice(black_box(&f.hmac_key)).expect("key");
            m.update(black_box(msg));
            m.verify_slice(black_box(tag)).is_ok()
        };
        let krate = "hmac 0.12.1 + sha2 0.10.9 [Gatehouse]";
        cases.push(case(HS512, krate, "keyed per call", false, op, msg, bad_msg.clone(), &f.hs512_tag));
    }
    #[cfg(feature = "c-hmac013")]
    {
        use hmac013::{Hmac, KeyInit, Mac};
        let op = move |msg: &[u8], tag: &[u8]| {
            let mut m = <Hmac<sha2_011::Sha512> as KeyInit>::new_from_slice(black_box(&f.hmac_key)).expect("key");
            m.update(black_box(msg));
            m.verify_slice(black_box(tag)).is_ok()
        };
        let krate = "hmac 0.13.0 + sha2 0.11.1";
        cases.push(case(HS512, krate, "keyed per call", false, op, msg, bad_msg.clone(), &f.hs512_tag));
    }
    #[cfg(feature = "c-ring")]
    {
        let op = move |msg: &[u8], tag: &[u8]| {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA512, black_box(&f.hmac_key));
            ring::hmac::verify(&key, black_box(msg), black_box(tag)).is_ok()
        };
        cases.push(case(HS512, "ring 0.17.14", "keyed per call", false, op, msg, bad_msg, &f.hs512_tag));
    }
    cases
}

/// This thread's CPU time, where the platform has that clock (Linux natively; in wasm, a runtime whose WASI
/// answers clock id 3: Node does, wasmtime does through scripts/wasi-run-wasmtime.py --cpu-clocks).
#[cfg(unix)]
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(target_os = "wasi")]
fn thread_cpu_ns() -> Option<u64> {
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
    }
    const CLOCK_THREAD_CPUTIME_ID: u32 = 3;
    let mut t = 0u64;
    // SAFETY: a WASI preview1 import that writes one u64 through a valid pointer.
    let errno = unsafe { clock_time_get(CLOCK_THREAD_CPUTIME_ID, 1, &mut t) };
    (errno == 0).then_some(t)
}

#[cfg(not(any(unix, target_os = "wasi")))]
fn thread_cpu_ns() -> Option<u64> {
    None
}

/// Runs `run` `n` times and returns the elapsed wall time and, where there is that clock, this thread's CPU time.
fn time(run: &mut dyn FnMut() -> bool, n: u64) -> (Duration, Option<Duration>) {
    let c = thread_cpu_ns();
    let t = Instant::now();
    for _ in 0..n {
        black_box(run());
    }
    let wall = t.elapsed();
    let cpu = c.zip(thread_cpu_ns()).map(|(a, b)| Duration::from_nanos(b.saturating_sub(a)));
    (wall, cpu)
}

/// The iteration count at which one batch takes at least MIN_BATCH.
fn calibrate(run: &mut dyn FnMut() -> bool) -> u64 {
    let mut n: u64 = 1;
    loop {
        let (took, _) = time(run, n);
        if took >= MIN_BATCH {
            return n;
        }
        let ns = took.as_nanos().max(1);
        // Aim 10% past the minimum, at most 100× per step.
        let want = (MIN_BATCH.as_nanos() * 11 / 10 * u128::from(n) / ns).max(u128::from(n) + 1);
        n = want.min(u128::from(n) * 100) as u64;
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

pub fn main() {
    let mut format = "table".to_string();
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--format" => format = args.next().unwrap_or_default(),
            "--only" => only.push(args.next().unwrap_or_default().to_lowercase()),
            "-h" | "--help" => {
                println!("usage: crypto-compare [--format table|tsv] [--only SUBSTRING]...");
                return;
            }
            other => {
                eprintln!("crypto-compare: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let target = if cfg!(target_arch = "wasm32") { "wasm32" } else { std::env::consts::ARCH };
    let t0 = Instant::now();
    let f = fixtures();
    eprintln!("crypto-compare: {target}, {VARIANT}, fixtures in {:.1} s", t0.elapsed().as_secs_f64());

    let mut cases = cases(&f);
    // The upstream-defaults build only reruns the cases it builds differently.
    cases.retain(|c| !cfg!(feature = "upstream-defaults") || c.variant_sensitive);
    cases.retain(|c| {
        only.is_empty() || only.iter().any(|o| c.primitive.to_lowercase().contains(o) || c.krate.to_lowercase().contains(o))
    });

    if format == "tsv" {
        println!(
            "variant\tprimitive\tcrate\tns_per_op\tcpu_ns_per_op\titers_per_batch\tbatches_ns_per_op\tcpu_batches_ns_per_op\tnote"
        );
    } else {
        println!("{:<44} | {:<53} | {:>12} | {:>12}", "primitive", "crate", "ns/op", "CPU ns/op");
        println!("{:-<44}-+-{:-<53}-+-{:->12}-+-{:->12}", "", "", "", "");
    }
    // One primitive at a time; within it the candidates' batches take turns (round r of every candidate, then
    // round r + 1), so that load from elsewhere on the machine falls on all of them alike.
    let mut i = 0;
    while i < cases.len() {
        let primitive = cases[i].primitive;
        let j = cases[i..].iter().position(|c| c.primitive != primitive).map_or(cases.len(), |k| i + k);
        let group = &mut cases[i..j];
        let mut iters = Vec::new();
        for c in group.iter_mut() {
            assert!((c.run)(), "{} / {}: good input rejected", c.primitive, c.krate);
            assert!(!(c.tampered)(), "{} / {}: tampered input accepted", c.primitive, c.krate);
            iters.push(calibrate(&mut c.run));
        }
        let mut wall = vec![Vec::with_capacity(BATCHES); group.len()];
        let mut cpu = vec![Vec::with_capacity(BATCHES); group.len()];
        for _ in 0..BATCHES {
            for (k, c) in group.iter_mut().enumerate() {
                let (w, t) = time(&mut c.run, iters[k]);
                wall[k].push(w.as_nanos() as f64 / iters[k] as f64);
                if let Some(t) = t {
                    cpu[k].push(t.as_nanos() as f64 / iters[k] as f64);
                }
            }
        }
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(",");
        for (k, c) in group.iter().enumerate() {
            let ns = median(&wall[k]);
            let cpu_ns = (cpu[k].len() == BATCHES).then(|| median(&cpu[k]));
            if format == "tsv" {
                println!(
                    "{VARIANT}\t{}\t{}\t{ns:.1}\t{}\t{}\t{}\t{}\t{}",
                    c.primitive,
                    c.krate,
                    cpu_ns.map_or(String::new(), |x| format!("{x:.1}")),
                    iters[k],
                    list(&wall[k]),
                    if cpu_ns.is_some() { list(&cpu[k]) } else { String::new() },
                    c.note
                );
            } else {
                let cpu_s = cpu_ns.map_or("—".to_string(), |x| format!("{x:.0}"));
                println!("{:<44} | {:<53} | {:>12.0} | {:>12}", c.primitive, c.krate, ns, cpu_s);
            }
        }
        i = j;
    }
}
