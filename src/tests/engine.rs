//! The engine as the filter drives it: several VMs (engines) on one shared store, a virtual clock, and the
//! effects they hand back. Key fetching, the breaker, single flight, shadow comparison and faults are all
//! core logic, so they are tested here without a proxy.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::call::{Answer, CallResponse, NotSent};
use crate::config::Config;
use crate::decision::{Decision, Outcome, Pass, Predicted};
use crate::engine::shadow::legacy_outcome;
use crate::engine::shared::SharedStore;
use crate::engine::{Effect, Engine, Fetch, MemoryStore, World};
use crate::jwt::Alg;
use crate::oidc::query_param;
use crate::request::Request;
use crate::testing::*;

/// The fixture config with the Auth0 issuer's keys fetched from a remote JWKS.
fn remote_config() -> Arc<Config> {
    let mut v = config_json();
    v["issuers"][1].as_object_mut().unwrap().remove("jwks");
    v["issuers"][1]["remote_jwks"] = json!({"cluster": "idp", "authority": "tenant.auth0.test", "path": "/jwks",
        "refresh_seconds": 300, "retry_seconds": 10, "unknown_kid_refetch_seconds": 30, "max_stale_seconds": 3600});
    config_from(&v)
}

fn jwks() -> Vec<u8> {
    json!({"keys": [public_jwk("rsa", Alg::RS256, "auth0-1")]}).to_string().into_bytes()
}

fn auth0_token(kid: &str, now: u64) -> String {
    let mut key = signing_key(Alg::RS256);
    key.kid = Some(kid.into());
    key.sign(
        &json!({"iss": AUTH0, "aud": "https://api.test", "sub": "auth0|bob", "exp": now + 600, "permissions": ["read"]}),
        &mut rand_core::OsRng,
    )
    .unwrap()
}

fn ok(body: Vec<u8>) -> CallResponse {
    CallResponse::Answered(Answer {
        status: 200,
        content_type: Some("application/json".into()),
        body,
        truncated: false,
    })
}

fn tick(e: &mut Engine, store: &mut MemoryStore, now: u64) -> Vec<Effect> {
    e.on_tick(&mut World { now, rng: &mut rand_core::OsRng, store })
}

fn fetches(effects: &[Effect]) -> Vec<&Fetch> {
    effects.iter().filter_map(|e| if let Effect::Fetch(f) = e { Some(f) } else { None }).collect()
}

fn counted(effects: &[Effect], name: &str) -> bool {
    effects.iter().any(|e| matches!(e, Effect::Count(n, _) if n == name))
}

fn request(e: &mut Engine, store: &mut MemoryStore, now: u64, path: &str, headers: &[(&str, &str)]) -> Decision {
    let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let mut w = World { now, rng: &mut rand_core::OsRng, store };
    e.on_request(&Request { method: "GET", path, authority: "airflow.test", headers: &headers }, &mut w)
}

fn bearer(e: &mut Engine, store: &mut MemoryStore, now: u64, token: &str) -> (u16, &'static str) {
    let d = request(e, store, now, "/api/x", &[("authorization", &format!("Bearer {token}"))]);
    (d.status().unwrap_or(200), d.verdict().reason.code())
}

/// Two VMs of one proxy, configured as Envoy does it: the main thread's first.
fn two_vms(cfg: &Arc<Config>) -> (Engine, Engine, MemoryStore) {
    let mut store = MemoryStore::default();
    let mut a = Engine::new(Arc::clone(cfg));
    a.on_configure(&mut store);
    let mut b = Engine::new(Arc::clone(cfg));
    b.on_configure(&mut store);
    (a, b, store)
}

#[test]
fn one_vm_fetches_a_key_set_for_the_whole_proxy_and_every_vm_picks_it_up() {
    let cfg = remote_config();
    let (mut a, mut b, mut store) = two_vms(&cfg);
    let t = now();
    let from_a = tick(&mut a, &mut store, t);
    let from_b = tick(&mut b, &mut store, t);
    assert_eq!((fetches(&from_a).len(), fetches(&from_b).len()), (1, 0), "only the VM that won the lock fetches");
    let f = fetches(&from_a)[0];
    assert_eq!(f.cluster, "idp");
    assert!(f.headers.contains(&(":path".to_owned(), "/jwks".to_owned())));
    let token = auth0_token("auth0-1", t);
    assert_eq!(bearer(&mut b, &mut store, t, &token), (503, "keys_stale"), "no keys yet: retry, not refuse");

    let answered =
        a.on_fetch_response(f.id, ok(jwks()), &mut World { now: t, rng: &mut rand_core::OsRng, store: &mut store });
    assert!(counted(&answered, "gatehouse.jwks_fetches_total.auth0.ok"), "{answered:?}");
    // B has not ticked since, yet finds the set in the store when a token needs it.
    assert_eq!(bearer(&mut b, &mut store, t, &token), (200, "verified"));
    assert_eq!(bearer(&mut a, &mut store, t, &token), (200, "verified"));
    // Nothing is due again until refresh_seconds have passed.
    assert!(fetches(&tick(&mut a, &mut store, t + 299)).is_empty());
    assert_eq!(fetches(&tick(&mut b, &mut store, t + 300)).len(), 1);
}

#[test]
fn a_failed_fetch_keeps_the_last_good_set_and_is_retried_after_the_shorter_retry_interval() {
    let cfg = remote_config();
    let (mut a, _, mut store) = two_vms(&cfg);
    let t = now();
    let id = fetches(&tick(&mut a, &mut store, t))[0].id;
    let mut w = World { now: t, rng: &mut rand_core::OsRng, store: &mut store };
    a.on_fetch_response(id, ok(jwks()), &mut w);
    let id = fetches(&tick(&mut a, &mut store, t + 300))[0].id;
    let garbage =
        CallResponse::Answered(Answer { status: 200, content_type: None, body: b"<html>".to_vec(), truncated: false });
    let mut w = World { now: t + 300, rng: &mut rand_core::OsRng, store: &mut store };
    let effects = a.on_fetch_response(id, garbage, &mut w);
    assert!(counted(&effects, "gatehouse.jwks_fetches_total.auth0.failed"));
    assert!(effects.iter().any(|e| matches!(e, Effect::Log(_, l) if l.contains("keeping the last good set"))));
    assert_eq!(bearer(&mut a, &mut store, t + 301, &auth0_token("auth0-1", t + 301)), (200, "verified"));
    assert!(fetches(&tick(&mut a, &mut store, t + 309)).is_empty());
    assert_eq!(fetches(&tick(&mut a, &mut store, t + 310)).len(), 1, "retry_seconds after a failure");
}

#[test]
fn a_fetch_the_host_could_not_send_releases_the_lock_for_the_next_attempt() {
    let cfg = remote_config();
    let (mut a, mut b, mut store) = two_vms(&cfg);
    let t = now();
    let id = fetches(&tick(&mut a, &mut store, t))[0].id;
    let mut w = World { now: t, rng: &mut rand_core::OsRng, store: &mut store };
    let effects = a.on_fetch_response(id, CallResponse::NotSent(NotSent::DispatchFailed), &mut w);
    assert!(counted(&effects, "gatehouse.jwks_fetches_total.auth0.failed"));
    assert_eq!(fetches(&tick(&mut b, &mut store, t + 10)).len(), 1, "another VM may try once retry_seconds passed");
}

#[test]
fn a_token_naming_an_unknown_kid_asks_for_an_early_refetch_at_most_once_per_interval() {
    let cfg = remote_config();
    let (mut a, mut b, mut store) = two_vms(&cfg);
    let t = now();
    let id = fetches(&tick(&mut a, &mut store, t))[0].id;
    let mut w = World { now: t, rng: &mut rand_core::OsRng, store: &mut store };
    a.on_fetch_response(id, ok(jwks()), &mut w);
    assert_eq!(bearer(&mut b, &mut store, t + 5, &auth0_token("rotated-2", t)), (401, "unknown_kid"));
    assert!(fetches(&tick(&mut a, &mut store, t + 29)).is_empty(), "not before unknown_kid_refetch_seconds");
    assert_eq!(fetches(&tick(&mut a, &mut store, t + 30)).len(), 1, "long before refresh_seconds");
}

/// The session fixture, with the provider's token endpoint on cluster `idp`.
fn until_code_exchange(e: &mut Engine, store: &mut MemoryStore, now: u64) -> Decision {
    let nav = [("accept", "text/html"), ("sec-fetch-mode", "navigate")];
    let Decision::Reply(r) = request(e, store, now, "/ui/dags", &nav) else { panic!("no redirect") };
    let location = &r.headers.iter().find(|(n, _)| n == "location").unwrap().1;
    let state = query_param(location.split_once('?').unwrap().1, "state").unwrap();
    let flow = &r.headers.iter().find(|(n, v)| n == "set-cookie" && v.contains("-flow-")).unwrap().1;
    let cookie = flow.split(';').next().unwrap().to_owned();
    let mut headers = nav.to_vec();
    headers.push(("cookie", &cookie));
    request(e, store, now, &format!("/oauth2/callback?code=c&state={state}"), &headers)
}

#[test]
fn a_provider_failure_seen_by_one_vm_sends_new_sign_ins_on_another_to_the_outage_page() {
    let cfg = session_config();
    let (mut a, mut b, mut store) = two_vms(&cfg);
    let t = now();
    let Decision::Call(call) = until_code_exchange(&mut a, &mut store, t) else { panic!("no token call") };
    let timeout = CallResponse::TimedOut;
    let mut w = World { now: t, rng: &mut rand_core::OsRng, store: &mut store };
    let d = a.on_call_response(call.then, timeout, &mut w);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(503), "idp_timeout"));
    let effects = a.drain_effects();
    assert!(counted(&effects, "gatehouse.idp_calls_total.code.unavailable"));

    let nav = [("accept", "text/html"), ("sec-fetch-mode", "navigate")];
    let d = request(&mut b, &mut store, t + 1, "/ui/dags", &nav);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(503), "idp_down"), "the breaker is proxy-wide");
    // After the backoff (30 s by default) sign-in is offered again.
    let d = request(&mut b, &mut store, t + 31, "/ui/dags", &nav);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(302), "login_redirect"));
}

#[test]
fn a_call_the_host_cannot_send_is_counted_opens_the_breaker_and_gets_a_clear_503() {
    let cfg = session_config();
    let (mut a, mut b, mut store) = two_vms(&cfg);
    let t = now();
    let Decision::Call(call) = until_code_exchange(&mut a, &mut store, t) else { panic!("no token call") };
    let mut w = World { now: t, rng: &mut rand_core::OsRng, store: &mut store };
    let d = a.on_call_response(call.then, CallResponse::NotSent(NotSent::DispatchFailed), &mut w);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(503), "idp_not_sent"));
    assert!(counted(&a.drain_effects(), "gatehouse.idp_dispatch_failed_total"));
    let d = request(&mut b, &mut store, t, "/ui/dags", &[("accept", "text/html")]);
    assert_eq!(d.verdict().reason.code(), "idp_down");
}

#[test]
fn with_the_provider_unavailable_fault_no_call_leaves_the_engine_and_the_outage_path_runs() {
    let mut v = session_config_json();
    v["faults"] = json!({"allow": true, "provider_unavailable": true});
    let cfg = session_config_from(&v, &session_env);
    let (mut a, _, mut store) = two_vms(&cfg);
    let t = now();
    // Sign-in starts are refused at once (the outage page), so no callback can even be reached.
    let d = request(&mut a, &mut store, t, "/ui/dags", &[("accept", "text/html")]);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(503), "idp_down"));
}

#[test]
fn the_legacy_path_refuses_with_401_403_or_a_redirect_to_another_site() {
    assert_eq!(legacy_outcome(401, None, "a.test"), Outcome::Deny);
    assert_eq!(legacy_outcome(403, None, "a.test"), Outcome::Deny);
    assert_eq!(legacy_outcome(302, Some("https://idp.test/authorize?x"), "a.test"), Outcome::Deny);
    assert_eq!(legacy_outcome(302, Some("//idp.test/login"), "a.test"), Outcome::Deny);
    assert_eq!(legacy_outcome(302, Some("/home"), "a.test"), Outcome::Allow);
    assert_eq!(legacy_outcome(302, Some("https://A.test/home"), "a.test"), Outcome::Allow);
    assert_eq!(legacy_outcome(200, None, "a.test"), Outcome::Allow);
    assert_eq!(legacy_outcome(404, None, "a.test"), Outcome::Allow);
}

#[test]
fn shadow_comparisons_are_counted_by_class_and_each_mismatch_kind_is_logged_once() {
    let mut e = Engine::new(config());
    let pass = |outcome, status| Pass {
        remove_headers: Vec::new(),
        shadow: Some(Predicted { outcome, status }),
        verdict: crate::decision::Verdict {
            reason: crate::reason::Reason::MissingCredential,
            route: Some("api".into()),
            class: "api".into(),
            issuer: None,
            subject: None,
        },
        authority: "a.test".into(),
    };
    e.on_upstream_response(&pass(Outcome::Deny, 401), &[(":status".into(), b"401".to_vec())]);
    let effects = e.drain_effects();
    assert!(counted(&effects, "gatehouse.shadow_agreements_total.api"), "{effects:?}");
    for _ in 0..3 {
        e.on_upstream_response(&pass(Outcome::Deny, 401), &[(":status".into(), b"200".to_vec())]);
    }
    let effects = e.drain_effects();
    let kind = "gatehouse.shadow_mismatches_total.api.new_denies_legacy_allows.missing_credential";
    assert_eq!(effects.iter().filter(|e| matches!(e, Effect::Count(n, _) if n == kind)).count(), 3);
    let logs: Vec<&Effect> = effects.iter().filter(|e| matches!(e, Effect::Log(..))).collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
}

#[test]
fn cache_hits_are_published_as_counter_increments_of_the_running_totals() {
    let cfg = config();
    let (mut a, _, mut store) = two_vms(&cfg);
    let t = now();
    let token = sign(&dat(), Alg::ES256);
    for _ in 0..3 {
        assert_eq!(bearer(&mut a, &mut store, t, &token), (200, "verified"));
    }
    let added = |effects: &[Effect], name: &str| {
        effects.iter().find_map(|e| match e {
            Effect::Count(n, by) if n == name => Some(*by),
            _ => None,
        })
    };
    let first = tick(&mut a, &mut store, t);
    assert_eq!(
        (added(&first, "gatehouse.cache_hits_total.tokens"), added(&first, "gatehouse.cache_misses_total.tokens")),
        (Some(2), Some(1))
    );
    assert_eq!(bearer(&mut a, &mut store, t, &token), (200, "verified"));
    let second = tick(&mut a, &mut store, t + 1);
    assert_eq!(
        (added(&second, "gatehouse.cache_hits_total.tokens"), added(&second, "gatehouse.cache_misses_total.tokens")),
        (Some(1), None)
    );
    assert!(second.iter().any(|e| matches!(e, Effect::Gauge(n, 1) if n == "gatehouse.cache_entries.tokens")));
}

#[test]
fn reasons_keep_the_stable_codes_logs_and_metrics_use() {
    use crate::reason::Reason;
    let v: Value = json!([
        Reason::Public.code(),
        Reason::Token(crate::jwt::JwtError::KeysUnavailable).code(),
        Reason::Provider(crate::call::ProviderFault::InFlight).code(),
        Reason::BadPath(crate::policy::PathError::Nul).code(),
        Reason::from(crate::reason::SessionError::Idle).code()
    ]);
    assert_eq!(v, json!(["public", "keys_stale", "refresh_in_flight", "path_nul", "session_idle"]));
}

fn headers_request(e: &mut Engine, store: &mut MemoryStore, pairs: &[(&str, &[u8])]) -> Decision {
    let pairs: Vec<(String, Vec<u8>)> = pairs.iter().map(|(n, v)| ((*n).to_owned(), v.to_vec())).collect();
    e.on_request_headers(pairs, &mut World { now: now(), rng: &mut rand_core::OsRng, store })
}

#[test]
fn a_header_the_core_reads_with_bytes_outside_utf8_is_a_400_and_is_counted() {
    let (mut e, _, mut store) = two_vms(&config());
    let d = headers_request(
        &mut e,
        &mut store,
        &[(":method", b"GET"), (":path", b"/api/x"), (":authority", b"h"), ("authorization", b"Bearer \xff")],
    );
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(400), "bad_header_encoding"));
    assert!(counted(&e.drain_effects(), "gatehouse.decisions_total.deny.bad_header_encoding"));
    // Headers the core does not read may carry any bytes.
    let d = headers_request(&mut e, &mut store, &[(":method", b"GET"), (":path", b"/health"), ("x-other", b"\xff")]);
    assert!(matches!(d, Decision::Allow(_)), "{d:?}");
}

#[test]
fn only_headers_the_request_carries_are_removed_and_every_decision_is_counted_and_replies_logged() {
    let (mut e, _, mut store) = two_vms(&config());
    let d = headers_request(
        &mut e,
        &mut store,
        &[(":method", b"GET"), (":path", b"/health"), (":authority", b"h"), ("X-Gatehouse-Subject", b"forged")],
    );
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    let removed: Vec<&str> = a.remove_headers.iter().map(|h| &**h).collect();
    assert_eq!(removed, ["x-gatehouse-subject"], "no host call for headers that are not there");
    assert!(counted(&e.drain_effects(), "gatehouse.decisions_total.allow.public"));

    let token = sign(&dat(), Alg::HS256);
    let d = headers_request(
        &mut e,
        &mut store,
        &[(":method", b"HEAD"), (":path", b"/api/admin/x"), ("authorization", format!("Bearer {token}x").as_bytes())],
    );
    let Decision::Reply(r) = &d else { panic!("{d:?}") };
    assert_eq!((r.status, r.body.as_str()), (401, ""), "no body for HEAD");
    let effects = e.drain_effects();
    let line = effects.iter().find_map(|e| if let Effect::Log(_, l) = e { Some(l.clone()) } else { None }).unwrap();
    assert!(line.starts_with("deny status=401 reason=bad_signature route=admin class=api"), "{line}");
    assert!(!line.contains(&token[..20]), "never the token");
    assert!(
        counted(&effects, "gatehouse.class_decisions_total.deny.api")
            && counted(&effects, "gatehouse.paths_total.new.api")
    );
}

#[test]
fn the_hosts_answer_to_a_call_is_sorted_into_answered_reset_and_timed_out() {
    let h = |pairs: &[(&str, &str)]| -> Vec<(String, Vec<u8>)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec())).collect()
    };
    assert!(matches!(CallResponse::from_host(&[], None), CallResponse::Reset));
    assert!(matches!(CallResponse::from_host(&h(&[(":status", "504")]), Some(vec![])), CallResponse::TimedOut));
    let CallResponse::Answered(a) =
        CallResponse::from_host(&h(&[(":status", "200"), ("content-type", "application/json")]), None)
    else {
        panic!()
    };
    assert_eq!((a.status, a.content_type.as_deref(), a.truncated), (200, Some("application/json"), true));
}

#[test]
fn only_the_named_cookies_are_dropped_from_the_upstreams_set_cookie_headers() {
    use crate::forward::kept_set_cookies;
    let v = |s: &[&str]| s.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
    assert_eq!(kept_set_cookies(v(&["theme=dark; Path=/"]), &["_token"]), None, "nothing to drop: untouched");
    assert_eq!(
        kept_set_cookies(v(&["_token=x; Path=/", "theme=dark", " _token =y", "_tokenx=z"]), &["_token"]),
        Some(v(&["theme=dark", "_tokenx=z"]))
    );
}

#[test]
fn a_sign_in_state_is_spent_once_per_proxy_until_its_flow_would_have_expired() {
    use crate::engine::states::{create, spend, Spend};
    let mut store = MemoryStore::default();
    create(&mut store);
    assert_eq!(spend(&mut store, "state-a", 1_600, 1_000), Spend::Fresh);
    // Another VM of the same proxy shares the store: the state is spent there too.
    assert_eq!(spend(&mut store, "state-a", 1_600, 1_001), Spend::Replayed);
    assert_eq!(spend(&mut store, "state-b", 1_600, 1_001), Spend::Fresh);
    // Past the flow's end no flow cookie for it can be valid, so the entry may go.
    assert_eq!(spend(&mut store, "state-a", 2_200, 1_600), Spend::Fresh);
}

#[test]
fn the_spent_state_ledger_stays_bounded_however_many_sign_ins_there_are() {
    use crate::engine::states::{create, spend, Spend, BUCKETS, PER_BUCKET};
    let mut store = MemoryStore::default();
    create(&mut store);
    for i in 0..50_000u32 {
        assert_eq!(spend(&mut store, &format!("state-{i}"), 10_000 + u64::from(i), 1_000), Spend::Fresh);
    }
    let bytes: usize =
        (0..BUCKETS).filter_map(|b| store.get(&format!("gatehouse.state.{b:03x}")).map(|(v, _)| v.len())).sum();
    assert!(bytes <= usize::from(BUCKETS) * PER_BUCKET * 28, "{bytes} bytes");
    // The most recent states are all still remembered.
    for i in 49_000..50_000u32 {
        assert_eq!(spend(&mut store, &format!("state-{i}"), 99_999, 1_000), Spend::Replayed, "state-{i}");
    }
}

/// The sign-in provider with its keys and endpoints from its discovery document.
fn discovering_config() -> Arc<Config> {
    let mut v = session_config_json();
    let p = v["session"]["provider"].as_object_mut().unwrap();
    for key in ["jwks", "authorization_endpoint", "end_session_endpoint"] {
        p.remove(key);
    }
    p["token_endpoint"].as_object_mut().unwrap().remove("path");
    p.insert("discover_endpoints".into(), json!(true));
    p.insert(
        "remote_jwks".into(),
        json!({"cluster": "idp", "authority": "idp.test", "discovery_path": "/.well-known/openid-configuration"}),
    );
    session_config_from(&v, &session_env)
}

fn discovery_doc(authorization: &str) -> Vec<u8> {
    json!({"issuer": IDP, "authorization_endpoint": authorization, "token_endpoint": "https://idp.test/oauth/token2",
           "end_session_endpoint": "https://idp.test/v2/logout", "jwks_uri": "https://idp.test/keys"})
    .to_string()
    .into_bytes()
}

/// Runs discovery and the key fetch on VM `a`; returns the final fetch response's effects.
fn discover(a: &mut Engine, store: &mut MemoryStore, t: u64, doc: Vec<u8>) -> Vec<Effect> {
    let first = tick(a, store, t);
    let f = fetches(&first)[0];
    assert!(f.headers.contains(&(":path".to_owned(), "/.well-known/openid-configuration".to_owned())));
    let then = a.on_fetch_response(f.id, ok(doc), &mut World { now: t, rng: &mut rand_core::OsRng, store });
    match fetches(&then).first() {
        Some(k) => {
            let keys = json!({"keys": [public_jwk("rsa", Alg::RS256, "idp-1")]}).to_string().into_bytes();
            a.on_fetch_response(k.id, ok(keys), &mut World { now: t, rng: &mut rand_core::OsRng, store })
        }
        None => then,
    }
}

fn sign_in_location(e: &mut Engine, store: &mut MemoryStore, t: u64) -> Option<String> {
    let d = request(e, store, t, "/ui/dags", &[("accept", "text/html"), ("sec-fetch-mode", "navigate")]);
    match d {
        Decision::Reply(r) => r.headers.iter().find(|(n, _)| n == "location").map(|(_, v)| v.clone()),
        _ => None,
    }
}

#[test]
fn the_providers_endpoints_come_from_its_discovery_document_for_every_vm() {
    let cfg = discovering_config();
    let (mut a, mut b, mut store) = two_vms(&cfg);
    let t = now();
    assert_eq!(sign_in_location(&mut b, &mut store, t), None, "nothing discovered yet: the outage page, no redirect");
    discover(&mut a, &mut store, t, discovery_doc("https://idp.test/authorize2"));
    // VM b never ticked since: it picks the endpoints up from the store on its next sign-in.
    let nav = [("accept", "text/html"), ("sec-fetch-mode", "navigate")];
    let Decision::Reply(start) = request(&mut b, &mut store, t, "/ui/dags", &nav) else { panic!("no redirect") };
    let header = |name: &str| start.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap();
    let to = header("location");
    assert!(to.starts_with("https://idp.test/authorize2?"), "{to}");
    let state = query_param(to.split_once('?').unwrap().1, "state").unwrap();
    let flow_cookie = header("set-cookie").split(';').next().unwrap().to_owned();
    let callback = format!("/oauth2/callback?code=c&state={state}");
    let d = request(&mut b, &mut store, t, &callback, &[("cookie", &flow_cookie), ("accept", "text/html")]);
    let Decision::Call(call) = d else { panic!("expected the token call, got {d:?}") };
    assert!(call.headers.contains(&(":path".to_owned(), "/oauth/token2".to_owned())), "{:?}", call.headers);
    assert_eq!(call.cluster, "idp", "through the configured cluster");
}

#[test]
fn a_discovery_document_that_sends_sign_ins_to_another_host_or_names_another_issuer_is_refused() {
    for doc in [
        discovery_doc("https://evil.test/authorize"),
        discovery_doc("//evil.test/authorize"),
        discovery_doc("http://idp.test/authorize"),
        json!({"issuer": "https://other.test/", "authorization_endpoint": "https://idp.test/a",
               "token_endpoint": "https://idp.test/t", "jwks_uri": "https://idp.test/keys"})
        .to_string()
        .into_bytes(),
        json!({"issuer": IDP, "token_endpoint": "https://idp.test/t", "jwks_uri": "https://idp.test/keys"})
            .to_string()
            .into_bytes(),
    ] {
        let cfg = discovering_config();
        let (mut a, _, mut store) = two_vms(&cfg);
        let t = now();
        let effects = discover(&mut a, &mut store, t, doc.clone());
        assert!(counted(&effects, "gatehouse.jwks_fetches_total.oidc.failed"), "{}", String::from_utf8_lossy(&doc));
        assert_eq!(sign_in_location(&mut a, &mut store, t), None, "{}", String::from_utf8_lossy(&doc));
    }
}
