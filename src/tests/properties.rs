//! Property tests: the invariants the hand-written cases illustrate, checked on generated inputs. The case
//! count is modest (the same binary runs compiled to wasm32-wasip1), failure persistence is off (there is no
//! filesystem under the wasm runner), and every run starts from a fresh random seed, so repeated CI runs
//! keep exploring.

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{Map, Number, Value};

use crate::config::load_config;
use crate::jwt::token::parse;
use crate::jwt::verify_token;
use crate::policy::normalize_path;
use crate::session::{chunks, open, seal, KeyRing, SealError};
use crate::testing::*;

const CASES: u32 = 64;

fn runner_config() -> RunnerConfig {
    RunnerConfig { cases: CASES, failure_persistence: None, ..RunnerConfig::default() }
}

/// Runs `test` on `CASES` generated inputs and fails with proptest's minimal counterexample.
fn check<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(runner_config());
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

fn ring() -> KeyRing {
    KeyRing::parse(&session_env("COOKIE_KEYS").unwrap()).unwrap()
}

/// Cookie names and deployment ids as strings without NUL: `associated_data` separates its parts with NUL
/// because neither configuration nor code can put one in a name or a binding.
fn label() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,24}"
}

/// The sealed format's own alphabet plus a few characters that are not in it.
fn cookie_chars() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.=+/ -]{1,8}"
}

// --- Sealed cookies (AES-256-GCM, NIST SP 800-38D) ---

#[test]
fn any_plaintext_sealed_under_any_name_and_binding_opens_to_the_same_bytes() {
    let r = ring();
    let inputs = (prop::collection::vec(any::<u8>(), 0..2048), label(), label(), any::<[u8; 12]>());
    check(inputs, |(plaintext, name, binding, nonce)| {
        let sealed = seal(&r, &name, &binding, &plaintext, nonce).unwrap();
        let opened = open(&r, &name, &binding, &sealed).unwrap();
        prop_assert_eq!(opened.plaintext, plaintext);
        prop_assert!(!opened.stale_key);
        Ok(())
    });
}

#[test]
fn every_single_byte_change_to_a_sealed_cookie_makes_it_fail_to_open() {
    let r = ring();
    let inputs =
        (prop::collection::vec(any::<u8>(), 0..256), any::<[u8; 12]>(), any::<prop::sample::Index>(), 0u8..128);
    check(inputs, |(plaintext, nonce, at, replacement)| {
        let sealed = seal(&r, "__Host-s", DEP, &plaintext, nonce).unwrap();
        let i = at.index(sealed.len());
        prop_assume!(sealed.as_bytes()[i] != replacement);
        // The value is ASCII and so is the replacement, so the result is still a string.
        let mut bytes = sealed.into_bytes();
        bytes[i] = replacement;
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(open(&r, "__Host-s", DEP, &tampered).is_err(), "change at {} accepted", i);
        Ok(())
    });
}

#[test]
fn every_truncation_of_a_sealed_cookie_makes_it_fail_to_open() {
    let r = ring();
    let inputs = (prop::collection::vec(any::<u8>(), 0..256), any::<[u8; 12]>(), any::<prop::sample::Index>());
    check(inputs, |(plaintext, nonce, cut)| {
        let sealed = seal(&r, "__Host-s", DEP, &plaintext, nonce).unwrap();
        let cut = cut.index(sealed.len());
        prop_assert!(open(&r, "__Host-s", DEP, &sealed[..cut]).is_err(), "prefix of {} bytes accepted", cut);
        Ok(())
    });
}

#[test]
fn appending_anything_to_a_sealed_cookie_makes_it_fail_to_open() {
    let r = ring();
    let inputs = (prop::collection::vec(any::<u8>(), 0..256), any::<[u8; 12]>(), cookie_chars());
    check(inputs, |(plaintext, nonce, tail)| {
        let sealed = seal(&r, "__Host-s", DEP, &plaintext, nonce).unwrap();
        prop_assert!(open(&r, "__Host-s", DEP, &format!("{sealed}{tail}")).is_err(), "tail {:?} accepted", tail);
        Ok(())
    });
}

#[test]
fn a_sealed_cookie_fails_to_open_under_any_other_name_or_binding() {
    let r = ring();
    let inputs = (prop::collection::vec(any::<u8>(), 0..256), any::<[u8; 12]>(), label(), label(), label(), label());
    check(inputs, |(plaintext, nonce, name, binding, other_name, other_binding)| {
        let sealed = seal(&r, &name, &binding, &plaintext, nonce).unwrap();
        // The name and binding are in the GCM associated data (RFC 5116 §2.1), so the tag covers them.
        if other_name != name {
            prop_assert_eq!(open(&r, &other_name, &binding, &sealed).err(), Some(SealError::Decrypt));
        }
        if other_binding != binding {
            prop_assert_eq!(open(&r, &name, &other_binding, &sealed).err(), Some(SealError::Decrypt));
        }
        Ok(())
    });
}

// --- Cookie chunks (RFC 6265 §6.1 size limits) ---

fn jar(parts: &[(String, String)]) -> Vec<(&str, &str)> {
    parts.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

#[test]
fn a_sealed_value_of_up_to_16_kb_survives_chunk_split_and_join() {
    let r = ring();
    // 12,000 plaintext bytes seal to about 16,100 characters: five chunks.
    let inputs = (prop::collection::vec(any::<u8>(), 0..12_000), any::<[u8; 12]>());
    check(inputs, |(plaintext, nonce)| {
        let sealed = seal(&r, "__Host-s", DEP, &plaintext, nonce).unwrap();
        let parts = chunks::split("__Host-s", &sealed).unwrap();
        prop_assert!(parts.iter().all(|(_, v)| v.len() <= chunks::CHUNK_LEN));
        let joined = chunks::join(&jar(&parts), "__Host-s").unwrap();
        prop_assert_eq!(&joined, &sealed);
        prop_assert_eq!(open(&r, "__Host-s", DEP, &joined).unwrap().plaintext, plaintext);
        Ok(())
    });
}

#[test]
fn swapping_two_chunks_or_dropping_one_makes_the_joined_value_fail_to_open() {
    let r = ring();
    // Above 3,000 bytes the sealed value always needs at least two chunks.
    let inputs = (
        prop::collection::vec(any::<u8>(), 3_000..12_000),
        any::<[u8; 12]>(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
    );
    check(inputs, |(plaintext, nonce, a, b, dropped)| {
        let sealed = seal(&r, "__Host-s", DEP, &plaintext, nonce).unwrap();
        let parts = chunks::split("__Host-s", &sealed).unwrap();
        prop_assert!(parts.len() >= 2);
        let (a, b) = (a.index(parts.len()), b.index(parts.len()));
        if parts[a].1 != parts[b].1 {
            let mut swapped = parts.clone();
            let (va, vb) = (swapped[a].1.clone(), swapped[b].1.clone());
            swapped[a].1 = vb;
            swapped[b].1 = va;
            let joined = chunks::join(&jar(&swapped), "__Host-s");
            prop_assert!(
                joined.is_none_or(|j| open(&r, "__Host-s", DEP, &j).is_err()),
                "chunks {} and {} swapped and accepted",
                a,
                b
            );
        }
        let mut fewer = parts.clone();
        let d = dropped.index(fewer.len());
        fewer.remove(d);
        let joined = chunks::join(&jar(&fewer), "__Host-s");
        prop_assert!(joined.is_none_or(|j| open(&r, "__Host-s", DEP, &j).is_err()), "chunk {} dropped and accepted", d);
        Ok(())
    });
}

// --- Path normalization (RFC 3986 §6.2.2, §5.2.4) ---

/// Paths made of the pieces normalization treats specially (separators, dot segments plain and escaped,
/// unreserved and reserved escapes, path parameters, backslashes, a query mark, broken escapes, non-ASCII),
/// and, less often, free runs of the same characters.
fn raw_path() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "/", "/", "//", ".", "..", "%2e", "%2E", "%2e%2e", "%41", "%7e", "%7E", "%25", "%252e", "%3b", "%3B", ";",
        ";x", "a", "B", "0f", "\u{e9}", "%C3%A9", "~", "-", "?", "%", "%zz", "%2f", "\\", "%5c", "%00", "#", " ",
    ];
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(PIECES), 0..16).prop_map(|p| format!("/{}", p.concat())),
        1 => "/?[/./%0-9a-fA-F;\\\\gxz~?\u{e9}]{0,40}",
    ]
}

#[test]
fn normalizing_a_normalized_path_changes_nothing() {
    check(raw_path(), |raw| {
        if let Ok((path, query)) = normalize_path(&raw) {
            prop_assert_eq!(normalize_path(&path), Ok((path.clone(), None)), "path of {:?}", raw);
            if let Some(q) = query {
                let again = format!("{path}?{q}");
                prop_assert_eq!(normalize_path(&again), Ok((path.clone(), Some(q))), "path and query of {:?}", raw);
            }
        }
        Ok(())
    });
}

// --- JWT parsing (RFC 7515 §7.1) ---

#[test]
fn jwt_parsing_never_panics_on_arbitrary_strings() {
    let cfg = config();
    let issuers = &cfg.issuers;
    check(any::<String>(), |s| {
        let _ = parse(&s, 8192);
        let _ = verify_token(&s, issuers, 8192, now());
        Ok(())
    });
}

#[test]
fn jwt_parsing_never_panics_on_arbitrary_three_part_base64url_strings() {
    let cfg = config();
    let issuers = &cfg.issuers;
    let part = || "[A-Za-z0-9_-]{0,64}";
    check((part(), part(), part()), |(h, p, s)| {
        let token = format!("{h}.{p}.{s}");
        let _ = parse(&token, 8192);
        let _ = verify_token(&token, issuers, 8192, now());
        Ok(())
    });
}

#[test]
fn jwt_parsing_never_panics_on_arbitrary_json_headers_and_payloads() {
    // Random base64url rarely decodes to JSON; encoding generated JSON reaches the header and claim checks.
    let cfg = config();
    let issuers = &cfg.issuers;
    check((json(), json(), prop::collection::vec(any::<u8>(), 0..80)), |(header, payload, sig)| {
        let enc = |v: &Value| crate::b64::encode(v.to_string().as_bytes());
        let token = format!("{}.{}.{}", enc(&header), enc(&payload), crate::b64::encode(&sig));
        let _ = parse(&token, 8192);
        let _ = verify_token(&token, issuers, 8192, now());
        Ok(())
    });
}

/// A member that is usually plausible and sometimes any JSON at all.
fn member(plausible: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(0.95, prop_oneof![19 => prop::sample::select(plausible).prop_map(Value::from), 1 => json()])
}

fn object(members: Vec<(&'static str, Option<Value>)>, extra: Option<(String, Value)>) -> Value {
    let mut map: Map<String, Value> = members.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))).collect();
    if let Some((k, v)) = extra {
        map.insert(k, v);
    }
    Value::Object(map)
}

#[test]
fn jwt_verification_never_panics_on_generated_headers_and_claims_signed_or_not() {
    // Headers and claims close to real ones, half of them with a valid HS256 signature over exactly these
    // bytes, so the claim checks after the signature (RFC 7519 §4.1, RFC 8725 §3) see generated input too.
    let cfg = config();
    let issuers = &cfg.issuers;
    let now = now();
    let t = |d: i64| Value::from(now.saturating_add_signed(d));
    let times =
        vec![t(-1_000_000), t(-600), t(-1), t(0), t(1), t(600), t(1_000_000), Value::from(-5), Value::from(1e30)];
    let number =
        move || prop::option::weighted(0.9, prop_oneof![19 => prop::sample::select(times.clone()), 1 => json()]);
    let wild_header = (
        member(&["HS256", "HS384", "RS256", "ES256", "EdDSA", "none", "hs256", "ES512", "PS384"]),
        member(&["k-hs256", "k-rs256", "k-es256", "auth0-1", "unknown"]),
        member(&["JWT", "at+jwt"]),
        prop::option::weighted(0.05, json()),
    )
        .prop_map(|(alg, kid, typ, crit)| object(vec![("alg", alg), ("kid", kid), ("typ", typ), ("crit", crit)], None));
    // Half the headers name the HS256 fixture key, so that signed tokens get past the signature check.
    let header = prop_oneof![
        member(&["JWT", "at+jwt"]).prop_map(|typ| object(
            vec![("alg", Some(Value::from("HS256"))), ("kid", Some(Value::from("k-hs256"))), ("typ", typ)],
            None
        )),
        wild_header,
    ];
    let claims = (
        (
            member(&[PLATFORM, PLATFORM, PLATFORM, AUTH0, "https://platform.test"]),
            member(&[AUD, AUD, "https://api.test", "other"]),
        ),
        (member(&["robot-1", "fired", ""]), member(&["jti-1", "revoked-1"])),
        (number(), number(), number()),
        prop::option::weighted(0.3, (prop::sample::select(CONFIG_WORDS).prop_map(str::to_owned), json())),
    )
        .prop_map(|((iss, aud), (sub, jti), (exp, nbf, iat), extra)| {
            object(
                vec![("iss", iss), ("aud", aud), ("sub", sub), ("jti", jti), ("exp", exp), ("nbf", nbf), ("iat", iat)],
                extra,
            )
        });
    let inputs = (header, claims, any::<bool>(), prop::collection::vec(any::<u8>(), 0..300));
    check(inputs, |(header, claims, signed, sig)| {
        let token = if signed {
            sign_raw(&header, claims.to_string().as_bytes(), crate::jwt::Alg::HS256)
        } else {
            let enc = |v: &Value| crate::b64::encode(v.to_string().as_bytes());
            format!("{}.{}.{}", enc(&header), enc(&claims), crate::b64::encode(&sig))
        };
        let _ = parse(&token, 8192);
        let _ = verify_token(&token, issuers, 8192, now);
        Ok(())
    });
}

// --- Configuration loading ---

/// Member names the loader knows (so generated objects reach past the unknown-field check) and others.
const CONFIG_WORDS: &[&str] = &[
    "dataplane",
    "organization_id",
    "workspace_id",
    "deployment_id",
    "realm",
    "roles",
    "issuers",
    "routes",
    "session",
    "upstream_token",
    "name",
    "issuer",
    "audiences",
    "kind",
    "jwks",
    "keys",
    "hmac_keys",
    "kid",
    "alg",
    "secret_env",
    "kty",
    "crv",
    "x",
    "y",
    "n",
    "e",
    "path",
    "exact",
    "prefix",
    "regex",
    "require",
    "methods",
    "permissions",
    "hosts",
    "class",
    "response",
    "remote_jwks",
    "leeway_seconds",
    "token_sources",
    "cache",
    "identity_headers",
    "strip_request_headers",
    "max_token_bytes",
    "unmatched",
    "provider",
    "keys_env",
    "signing",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(CONFIG_WORDS).prop_map(Value::from),
        prop::sample::select(&["RS256", "ES256", "EdDSA", "HS256", "none", "public", "bearer", "/", "/api", "GET"][..])
            .prop_map(Value::from),
        ".{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        let key = prop_oneof![prop::sample::select(CONFIG_WORDS).prop_map(str::to_owned), "[a-z_]{0,8}"];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

#[test]
fn config_loading_never_panics_on_arbitrary_json() {
    check(json(), |v| {
        let _ = load_config(v.to_string().as_bytes(), &session_env);
        Ok(())
    });
}

#[test]
fn config_loading_never_panics_on_arbitrary_bytes() {
    check(prop::collection::vec(any::<u8>(), 0..256), |bytes| {
        let _ = load_config(&bytes, &session_env);
        Ok(())
    });
}

#[derive(Clone, Debug)]
enum Mutation {
    Replace(Value),
    Remove,
    Insert(String, Value),
}

/// Follows `steps` down from `here`, each choosing a member or element, and applies the mutation at the
/// last one (or at a scalar, where the walk cannot go further).
fn mutate(here: &mut Value, steps: &[prop::sample::Index], mutation: Mutation) {
    match (steps.split_first(), here) {
        (Some((step, rest)), Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(step.index(map.len())).cloned().unwrap();
            match (rest.is_empty(), mutation) {
                (true, Mutation::Remove) => {
                    map.remove(&key);
                }
                (true, Mutation::Insert(k, v)) => {
                    map.insert(k, v);
                }
                (true, Mutation::Replace(v)) => {
                    map.insert(key, v);
                }
                (false, mutation) => mutate(map.get_mut(&key).unwrap(), rest, mutation),
            }
        }
        (Some((step, rest)), Value::Array(items)) if !items.is_empty() => {
            let i = step.index(items.len());
            match (rest.is_empty(), mutation) {
                (true, Mutation::Remove) => {
                    items.remove(i);
                }
                (true, Mutation::Replace(v)) => items[i] = v,
                (_, mutation) => mutate(&mut items[i], rest, mutation),
            }
        }
        (_, here) => match mutation {
            Mutation::Replace(v) => *here = v,
            Mutation::Remove => *here = Value::Null,
            Mutation::Insert(k, v) => {
                if let Value::Object(map) = here {
                    map.insert(k, v);
                }
            }
        },
    }
}

#[test]
fn config_loading_never_panics_on_mutations_of_a_valid_config() {
    let valid = session_config_json();
    // The starting point loads; each mutation may or may not still load, but never panics.
    assert!(load_config(valid.to_string().as_bytes(), &session_env).is_ok());
    let mutation = prop_oneof![
        json().prop_map(Mutation::Replace),
        Just(Mutation::Remove),
        (prop::sample::select(CONFIG_WORDS).prop_map(str::to_owned), json()).prop_map(|(k, v)| Mutation::Insert(k, v)),
    ];
    let mutations = prop::collection::vec((prop::collection::vec(any::<prop::sample::Index>(), 1..7), mutation), 1..4);
    check(mutations, |mutations| {
        let mut doc = valid.clone();
        for (steps, m) in mutations {
            mutate(&mut doc, &steps, m);
        }
        let _ = load_config(doc.to_string().as_bytes(), &session_env);
        Ok(())
    });
}
