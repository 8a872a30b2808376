//! Core costs in ns/op, natively and compiled to wasm32-wasip1 (run by `scripts/bench.sh` under V8 and
//! wasmtime). Each case goes through the same public entry points the filter calls (`decide`, `load_config`,
//! `find_route`), so a figure here is what a request pays in the VM before any host call.
//!
//! Output: one `BENCH {json}` line per case, which the script turns into the table; plus a readable line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use gatehouse::engine::{MemoryStore, World};
use gatehouse::jwt::{Alg, SigningKey};
use gatehouse::session::{chunks, seal, Session};
use gatehouse::{load_config, Config, Decision, Engine, Request};
use rand_core::OsRng;
use serde_json::{json, Value};

const ISS: &str = "https://platform.bench/";
const AUD: &str = "gatehouse-bench";
const HS512_SECRET: &str = "bench-hs512-secret-bench-hs512-secret-bench-hs512-secret-0123456789";
const COOKIE_KEY: [u8; 32] = [5u8; 32];

use gatehouse_fixtures::{private_jwk as fixture, public_jwk as public};

fn env(name: &str) -> Option<String> {
    match name {
        "HS512" => Some(HS512_SECRET.into()),
        "COOKIE_KEYS" => Some(format!("k1:{}", gatehouse::b64::encode(&COOKIE_KEY))),
        "CLIENT_SECRET" => Some("bench-client-secret".into()),
        "AIRFLOW_SECRET" => Some("a".repeat(64)),
        _ => None,
    }
}

/// 100 routes, the matching one last, and 20 keys: the shape of a large real deployment's config.
fn config_json(cache: usize, session: bool) -> Value {
    let mut keys = vec![public("rsa", "RS256", "rs"), public("p256", "ES256", "es"), public("ed25519", "EdDSA", "ed")];
    for i in 0..16 {
        let (f, a) = [("rsa_other", "RS256"), ("p256", "ES256"), ("ed25519", "EdDSA"), ("p384", "ES384")][i % 4];
        keys.push(public(f, a, &format!("extra-{i}")));
    }
    let mut routes: Vec<Value> = (0..97)
        .map(|i| {
            json!({"name": format!("r{i}"), "path": {"prefix": format!("/svc{i}/")}, "methods": ["GET", "POST"],
                         "require": "bearer"})
        })
        .collect();
    routes.push(json!({"name": "health", "path": {"exact": "/health"}, "require": "public"}));
    routes.push(json!({"name": "ui", "path": {"prefix": "/ui"}, "require": "session"}));
    routes.push(json!({"name": "api", "path": {"regex": "/api/v[0-9]+/.*"}, "require": "bearer"}));
    let mut v = json!({
        "dataplane": {"organization_id": "org", "workspace_id": "ws", "deployment_id": "dep"},
        "issuers": [{"name": "platform", "issuer": ISS, "audiences": [AUD], "kind": "access_token", "jwks": {"keys": keys},
                     "hmac_keys": [{"kid": "hs", "alg": "HS512", "secret_env": "HS512"}]}],
        "routes": routes,
        "unmatched": "deny",
        "cache": {"verified_tokens": cache, "sessions": cache}
    });
    if session {
        v["session"] = json!({
            "keys_env": "COOKIE_KEYS",
            "redirect_uri": "https://airflow.bench/oauth2/callback",
            "provider": {
                "issuer": "https://idp.bench/", "client_id": "c", "client_secret_env": "CLIENT_SECRET",
                "authorization_endpoint": "https://idp.bench/authorize",
                "token_endpoint": {"cluster": "idp", "authority": "idp.bench", "path": "/token"},
                "jwks": {"keys": [public("rsa", "RS256", "idp")]},
                "roles_claim": "roles"
            }
        });
        v["upstream_token"] = json!({
            "signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET"},
            "roles": {"admin": "ADMIN"}
        });
    }
    v
}

fn load(v: &Value) -> Arc<Config> {
    Arc::new(load_config(v.to_string().as_bytes(), &env).unwrap())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn token(alg: Alg, kid: &str) -> String {
    let mut key = if alg == Alg::HS512 {
        SigningKey::hmac(None, alg, gatehouse::secret::Secret::new(HS512_SECRET.as_bytes().to_vec())).unwrap()
    } else {
        let f = match alg {
            Alg::ES256 => "p256",
            Alg::EdDSA => "ed25519",
            _ => "rsa",
        };
        SigningKey::from_private_jwk(&fixture(f), Some(alg)).unwrap()
    };
    key.kid = Some(kid.into());
    let n = now();
    key.sign(&json!({"iss": ISS, "aud": AUD, "sub": "robot-1", "iat": n, "exp": n + 86400, "jti": "j-1"}), &mut OsRng)
        .unwrap()
}

/// Session cookies whose sealed value is about `size` bytes (padding in the ID token field, as a real
/// provider's ID token would), split into chunks past 3800 bytes as the filter writes them.
fn session_cookie(cfg: &Config, size: usize) -> String {
    let sc = cfg.session.as_ref().unwrap();
    let n = now();
    let mut s = Session {
        sub: "auth0|alice".into(),
        name: None,
        email: None,
        roles: vec!["admin".into()],
        sid: None,
        iat: n,
        seen: n,
        abs: n + 86400,
        id_token: Some(String::new()),
        refresh_token: None,
        provider_exp: None,
        upstream_token: None,
        upstream_exp: None,
    };
    let base = serde_json::to_vec(&s).unwrap().len();
    // Sealing base64url-encodes nonce + plaintext + tag: about 4/3 of the plaintext.
    s.id_token = Some("x".repeat((size * 3 / 4).saturating_sub(base + 40)));
    let sealed = seal(&sc.keys, &sc.cookie_name, "dep", &serde_json::to_vec(&s).unwrap(), [1; 12]).unwrap();
    let parts = chunks::split(&sc.cookie_name, &sealed).unwrap();
    parts.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
}

struct Bench {
    filter: Option<String>,
    results: Vec<(String, f64)>,
}

impl Bench {
    /// Median of 5 batches, each at least 100 ms, after a warm-up batch.
    fn run(&mut self, name: &str, mut f: impl FnMut()) {
        if self.filter.as_ref().is_some_and(|p| !name.contains(p.as_str())) {
            return;
        }
        let mut iters = 1u64;
        loop {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            if t.elapsed().as_millis() >= 100 {
                break;
            }
            iters *= 2;
        }
        let mut batches: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..iters {
                    f();
                }
                t.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect();
        batches.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let ns = batches[2];
        println!("{name:<44} {:>12.0} ns/op", ns);
        println!("BENCH {}", json!({"case": name, "ns_per_op": ns}));
        self.results.push((name.to_owned(), ns));
    }
}

/// One request through the engine, as the filter makes it (the clock read per request, as the host's is).
fn decide_status(vm: &mut (Engine, MemoryStore), path: &str, headers: &[(String, String)]) -> u16 {
    decide_at(vm, "airflow.bench", path, headers)
}

fn decide_at(vm: &mut (Engine, MemoryStore), host: &str, path: &str, headers: &[(String, String)]) -> u16 {
    let mut w = World { now: now(), rng: &mut OsRng, store: &mut vm.1 };
    let d = vm.0.on_request(&Request { method: "GET", path, authority: host, headers }, &mut w);
    match d {
        Decision::Allow(_) => 200,
        other => other.status().unwrap_or(0),
    }
}

/// The wasm linear memory in bytes (0 natively: there the allocator's figures are not comparable).
fn memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) * 65536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

fn engine(cfg: &Arc<Config>) -> (Engine, MemoryStore) {
    let mut store = MemoryStore::default();
    let mut engine = Engine::new(Arc::clone(cfg));
    engine.on_configure(&mut store);
    (engine, store)
}

/// What a fresh VM's linear memory grows to when it loads a configuration of 10,000 deployments from its
/// bytes, as `on_configure` does (the peak: wasm memory never shrinks). Run first, on an untouched heap.
fn vm_memory_for_a_large_dataplane() {
    // The document is written as text, not built as a JSON tree, so the heap holds little else before.
    let mut base = config_json(2048, false);
    base.as_object_mut().unwrap().remove("dataplane");
    let base = base.to_string();
    let mut doc = String::with_capacity(1_500_000);
    doc.push_str("{\"deployments\":[");
    for i in 0..10_000 {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(
            "{{\"deployment_id\":\"dep-{i}\",\"organization_id\":\"org-{}\",\"workspace_id\":\"ws-{}\",\"hosts\":[\"cluster-{}.bench\"],\"path_prefix\":\"/dep-{i}\"}}",
            i % 100,
            i % 1000,
            i % 10
        ));
    }
    doc.push_str("],");
    doc.push_str(base.strip_prefix('{').unwrap());
    let before = memory_bytes();
    let cfg = load_config(doc.as_bytes(), &env).unwrap();
    let after = memory_bytes();
    black_box(&cfg);
    let m = |case: &str, bytes: usize| println!("MEASURE {}", json!({"case": case, "bytes": bytes}));
    m("VM memory with the 10000-deployment configuration text in it, before loading", before);
    m("VM memory after loading 10000 deployments (peak: wasm memory does not shrink)", after);
}

fn main() {
    // `cargo bench -- <filter>` passes `--bench` first; anything else is a substring filter.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if cfg!(target_arch = "wasm32")
        && filter.as_deref().is_none_or(|f| "10000 deployments".contains(f) || f.contains("deployments"))
    {
        vm_memory_for_a_large_dataplane();
    }
    let mut b = Bench { filter, results: Vec::new() };
    // Bearer cases verify only, as `jwt_authn` does; session cases also mint the Airflow token (cached).
    let cached = load(&config_json(2048, false));
    let uncached = load(&config_json(0, false));
    let cached_s = load(&config_json(2048, true));
    let uncached_s = load(&config_json(0, true));

    // The baselines the uncached RS256 path is judged against: one RSA-2048 PKCS#1 v1.5 verify, nothing else,
    // with each RSA implementation at hand (the budget takes the faster one in the same runtime).
    {
        use rsa::pkcs1v15::{Signature, VerifyingKey};
        use rsa::signature::Verifier;
        let t = token(Alg::RS256, "rs");
        let (input, sig) = t.rsplit_once('.').unwrap();
        let sig = Signature::try_from(gatehouse::b64::decode_strict(sig).unwrap().as_slice()).unwrap();
        let jwk = fixture("rsa");
        let n = rsa::BigUint::from_bytes_be(&gatehouse::b64::decode_strict(jwk["n"].as_str().unwrap()).unwrap());
        let e = rsa::BigUint::from_bytes_be(&gatehouse::b64::decode_strict(jwk["e"].as_str().unwrap()).unwrap());
        let key = VerifyingKey::<sha2::Sha256>::new(rsa::RsaPublicKey::new(n, e).unwrap());
        b.run("raw rsa-2048 pkcs1v15 verify (rsa crate)", || {
            key.verify(black_box(input.as_bytes()), black_box(&sig)).unwrap();
        });
    }
    // The same verify with ring, which `VerifyKey` uses: ring keeps no parsed RSA public key, so the modulus
    // and exponent are parsed per call, as they are on the uncached bearer path.
    {
        use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
        let t = token(Alg::RS256, "rs");
        let (input, sig) = t.rsplit_once('.').unwrap();
        let sig = gatehouse::b64::decode_strict(sig).unwrap();
        let jwk = fixture("rsa");
        let n = gatehouse::b64::decode_strict(jwk["n"].as_str().unwrap()).unwrap();
        let e = gatehouse::b64::decode_strict(jwk["e"].as_str().unwrap()).unwrap();
        let key = RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() };
        b.run("raw rsa-2048 pkcs1v15 verify (ring)", || {
            key.verify(&RSA_PKCS1_2048_8192_SHA256, black_box(input.as_bytes()), black_box(&sig)).unwrap();
        });
    }

    for (alg, kid) in [(Alg::RS256, "rs"), (Alg::ES256, "es"), (Alg::EdDSA, "ed"), (Alg::HS512, "hs")] {
        let headers = vec![("authorization".to_owned(), format!("Bearer {}", token(alg, kid)))];
        for (label, cfg) in [("cached", &cached), ("uncached", &uncached)] {
            let mut vm = engine(cfg);
            assert_eq!(decide_status(&mut vm, "/api/v2/dags", &headers), 200, "{alg} {label}");
            b.run(&format!("bearer {alg} {label}"), || {
                black_box(decide_status(&mut vm, "/api/v2/dags", &headers));
            });
        }
    }

    for size in [1024usize, 4096] {
        let cookie = session_cookie(&cached_s, size);
        let headers = vec![("cookie".to_owned(), cookie)];
        for (label, cfg) in [("cached", &cached_s), ("uncached", &uncached_s)] {
            let mut vm = engine(cfg);
            assert_eq!(decide_status(&mut vm, "/ui/dags", &headers), 200, "session {size} {label}");
            b.run(&format!("session {} KiB {label}", size / 1024), || {
                black_box(decide_status(&mut vm, "/ui/dags", &headers));
            });
        }
    }

    {
        let mut vm = engine(&cached);
        b.run("public route (decide)", || {
            black_box(decide_status(&mut vm, "/health", &[]));
        });
        b.run("route match over 100 routes (last one)", || {
            let (path, _) = gatehouse::policy::normalize_path(black_box("/api/v2/dags/x/runs?limit=5")).unwrap();
            black_box(gatehouse::policy::find_route(&cached.routes, "airflow.bench", &path, "GET").unwrap());
        });
    }

    let doc = config_json(2048, false).to_string();
    b.run("config load (100 routes, 20 keys)", || {
        black_box(load_config(black_box(doc.as_bytes()), &env).unwrap());
    });

    // A dataplane: 10,000 deployments on 10 cluster hosts by path prefix, as managed Airflow URLs look.
    {
        let mut dp = config_json(2048, false);
        dp.as_object_mut().unwrap().remove("dataplane");
        dp["deployments"] = Value::Array(
            (0..10_000)
                .map(|i| {
                    json!({"deployment_id": format!("dep-{i}"), "organization_id": format!("org-{}", i % 100),
                           "workspace_id": format!("ws-{}", i % 1000), "hosts": [format!("cluster-{}.bench", i % 10)],
                           "path_prefix": format!("/dep-{i}")})
                })
                .collect(),
        );
        let doc = dp.to_string();
        drop(dp);
        let big = Arc::new(load_config(doc.as_bytes(), &env).unwrap());
        println!("MEASURE {}", json!({"case": "plugin configuration with 10000 deployments", "bytes": doc.len()}));
        b.run("config parse only, serde_json::Value (10000 deployments)", || {
            black_box(serde_json::from_slice::<Value>(black_box(doc.as_bytes())).unwrap());
        });
        b.run("config load (10000 deployments)", || {
            black_box(load_config(black_box(doc.as_bytes()), &env).unwrap());
        });
        let headers = vec![("authorization".to_owned(), format!("Bearer {}", token(Alg::HS512, "hs")))];
        let mut one = engine(&cached);
        let mut many = engine(&big);
        assert_eq!(decide_at(&mut many, "cluster-3.bench", "/dep-9993/api/v2/dags", &headers), 200);
        b.run("bearer HS512 cached, 1 deployment", || {
            black_box(decide_at(&mut one, "airflow.bench", "/api/v2/dags", &headers));
        });
        b.run("bearer HS512 cached, 10000 deployments", || {
            black_box(decide_at(&mut many, "cluster-3.bench", "/dep-9993/api/v2/dags", &headers));
        });
    }

    let summary: serde_json::Map<String, Value> = b.results.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    println!("BENCH-SUMMARY {}", Value::Object(summary));
}
