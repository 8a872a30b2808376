//! What a route can require of a bearer token beyond "valid": its issuers and audiences, optional
//! authentication (jwt_authn's `allow_missing` and `allow_missing_or_failed`) and passing unauthenticated
//! while keys are stale.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::config::{load_config, Config};
use crate::decision::Decision;
use crate::jwt::Alg;
use crate::testing::*;

fn with_route(route: Value) -> Value {
    let mut v = config_json();
    v["routes"].as_array_mut().unwrap().insert(0, route);
    v
}

fn get(cfg: &Arc<Config>, path: &str, token: Option<&str>) -> Decision {
    let auth = token.map(|t| format!("Bearer {t}"));
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    Vm::new(cfg).request("GET", path, "gatehouse.test", &h)
}

fn outcome(d: &Decision) -> (u16, &'static str) {
    (d.status().unwrap_or(200), d.verdict().reason.code())
}

fn set_header<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    match d {
        Decision::Allow(a) => a.set_headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()),
        _ => None,
    }
}

fn auth0_token(aud: &str) -> String {
    let mut key = signing_key(Alg::RS256);
    key.kid = Some("auth0-1".into());
    let now = now();
    let claims = json!({"iss": AUTH0, "aud": aud, "sub": "auth0|bob", "iat": now, "exp": now + 600,
                        "permissions": ["read"]});
    key.sign(&claims, &mut rand_core::OsRng).unwrap()
}

fn config_errors(v: &Value) -> Vec<String> {
    match load_config(v.to_string().as_bytes(), &env) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_route_that_names_its_issuers_refuses_tokens_of_the_others() {
    let cfg = config_from(&with_route(
        json!({"name": "auth0-only", "path": {"prefix": "/partner"}, "require": "bearer", "issuers": ["auth0"]}),
    ));
    assert_eq!(outcome(&get(&cfg, "/partner/x", Some(&auth0_token("https://api.test")))), (200, "verified"));
    let platform = sign(&dat(), Alg::ES256);
    assert_eq!(outcome(&get(&cfg, "/partner/x", Some(&platform))), (401, "issuer_not_allowed"));
    assert_eq!(outcome(&get(&cfg, "/api/dags", Some(&platform))), (200, "verified"), "other routes take any issuer");
}

#[test]
fn a_route_that_names_audiences_needs_one_of_them_beside_the_issuers_own() {
    let mut v = with_route(json!({"name": "reports", "path": {"prefix": "/reports"}, "require": "bearer",
                                  "audiences": ["https://reports.test"]}));
    v["issuers"][1]["audiences"] = json!(["https://api.test", "https://reports.test"]);
    let cfg = config_from(&v);
    assert_eq!(outcome(&get(&cfg, "/reports/1", Some(&auth0_token("https://reports.test")))), (200, "verified"));
    assert_eq!(outcome(&get(&cfg, "/reports/1", Some(&auth0_token("https://api.test")))), (401, "aud_mismatch"));
    assert_eq!(outcome(&get(&cfg, "/api/x", Some(&auth0_token("https://api.test")))), (200, "verified"));
}

#[test]
fn allow_missing_passes_a_request_without_a_token_but_refuses_a_bad_one() {
    let cfg = config_from(&with_route(
        json!({"name": "maybe", "path": {"prefix": "/maybe"}, "require": "bearer", "allow_missing": true}),
    ));
    let d = get(&cfg, "/maybe/x", None);
    assert_eq!(outcome(&d), (200, "passed_missing"));
    assert_eq!(set_header(&d, "x-gatehouse-unauthenticated"), Some("missing_credential"));
    assert_eq!(set_header(&d, "x-gatehouse-subject"), None);
    let mut expired = dat();
    expired.insert("exp".into(), json!(now() - 3600));
    assert_eq!(outcome(&get(&cfg, "/maybe/x", Some(&sign(&expired, Alg::ES256)))), (401, "expired"));
    let d = get(&cfg, "/maybe/x", Some(&sign(&dat(), Alg::ES256)));
    assert_eq!(outcome(&d), (200, "verified"));
    assert_eq!(set_header(&d, "x-gatehouse-subject"), Some("robot-1"));
    assert_eq!(set_header(&d, "x-gatehouse-unauthenticated"), None);
}

#[test]
fn allow_missing_or_failed_passes_a_bad_token_without_its_identity_and_keeps_what_verified() {
    let cfg = config_from(&with_route(
        json!({"name": "maybe", "path": {"prefix": "/maybe"}, "require": "bearer", "allow_missing_or_failed": true}),
    ));
    assert_eq!(outcome(&get(&cfg, "/maybe/x", None)), (200, "passed_missing"));
    let mut expired = dat();
    expired.insert("exp".into(), json!(now() - 3600));
    let d = get(&cfg, "/maybe/x", Some(&sign(&expired, Alg::ES256)));
    assert_eq!(outcome(&d), (200, "passed_failed"));
    assert_eq!(set_header(&d, "x-gatehouse-unauthenticated"), Some("expired"));
    assert_eq!(set_header(&d, "x-gatehouse-subject"), None);
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    assert!(a.removes("authorization"), "the failed token never reaches the upstream");
    // A good token beside a bad one (two sources): the good one's identity goes on.
    let mut v = with_route(
        json!({"name": "maybe", "path": {"prefix": "/maybe"}, "require": "bearer", "allow_missing_or_failed": true}),
    );
    v["token_sources"] = json!([{"header": "authorization", "scheme": "Bearer"}, {"header": "x-token"}]);
    let cfg = config_from(&v);
    let good = sign(&dat(), Alg::ES256);
    let bad = format!("Bearer {}", sign(&expired, Alg::ES256));
    let d = Vm::new(&cfg).request("GET", "/maybe/x", "gatehouse.test", &[("authorization", &bad), ("x-token", &good)]);
    assert_eq!(outcome(&d), (200, "verified"));
    assert_eq!(set_header(&d, "x-gatehouse-subject"), Some("robot-1"));
}

#[test]
fn on_unavailable_pass_unauthenticated_lets_requests_through_while_keys_are_stale_and_deny_does_not() {
    let mut v = with_route(json!({"name": "status", "path": {"prefix": "/status"}, "require": "bearer",
                                  "issuers": ["auth0"], "on_unavailable": "pass_unauthenticated"}));
    v["issuers"][1].as_object_mut().unwrap().remove("jwks");
    v["issuers"][1]["remote_jwks"] = json!({"cluster": "idp", "authority": "tenant.auth0.test", "path": "/jwks"});
    let cfg = config_from(&v);
    let token = auth0_token("https://api.test");
    let d = get(&cfg, "/status/x", Some(&token));
    assert_eq!(outcome(&d), (200, "passed_unavailable"));
    assert_eq!(set_header(&d, "x-gatehouse-unauthenticated"), Some("keys_stale"));
    assert_eq!(outcome(&get(&cfg, "/api/x", Some(&token))), (503, "keys_stale"), "the default fails closed");
    // Only outages pass: a token that is bad whatever the keys say is still refused.
    assert_eq!(outcome(&get(&cfg, "/status/x", Some("not-a-jwt"))), (401, "malformed"));
    assert_eq!(outcome(&get(&cfg, "/status/x", Some(&sign(&dat(), Alg::ES256)))), (401, "issuer_not_allowed"));
}

#[test]
fn a_pass_without_identity_is_logged_with_its_cause() {
    let cfg = config_from(&with_route(
        json!({"name": "maybe", "path": {"prefix": "/maybe"}, "require": "bearer", "allow_missing": true}),
    ));
    let mut vm = Vm::new(&cfg);
    let pairs = [(":method", "GET"), (":path", "/maybe/x"), (":authority", "gatehouse.test")]
        .map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec()))
        .to_vec();
    let mut rng = rand_core::OsRng;
    let mut w = crate::engine::World { now: vm.now, rng: &mut rng, store: &mut vm.store };
    assert_eq!(outcome(&vm.engine.on_request_headers(pairs, &mut w)), (200, "passed_missing"));
    let logs: Vec<String> = vm
        .engine
        .drain_effects()
        .into_iter()
        .filter_map(|e| match e {
            crate::engine::Effect::Log(_, line) => Some(line),
            _ => None,
        })
        .collect();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("pass_unauthenticated reason=passed_missing cause=missing_credential route=maybe")),
        "{logs:?}"
    );
}

#[test]
fn bad_combinations_of_route_requirements_are_reported_with_their_paths() {
    let v = with_route(json!({"name": "x", "path": {"prefix": "/x"}, "require": "public", "issuers": ["auth0"],
                              "allow_missing": true}));
    let e = config_errors(&v);
    assert!(e.iter().any(|l| l.starts_with("$.routes[0].issuers: only routes that take bearer tokens")), "{e:?}");
    assert!(e.iter().any(|l| l.starts_with("$.routes[0].allow_missing: a public route")), "{e:?}");
    let v = with_route(json!({"name": "x", "path": {"prefix": "/x"}, "require": "bearer", "issuers": ["okta"],
                              "allow_missing": true, "allow_missing_or_failed": true, "permissions": ["read"],
                              "audiences": []}));
    let e = config_errors(&v);
    for want in [
        "$.routes[0].issuers[0]: unknown issuer \"okta\"",
        "$.routes[0].allow_missing_or_failed: give one of",
        "$.routes[0].allow_missing_or_failed: a request without a credential holds no permissions",
        "$.routes[0].audiences: an empty list accepts no token",
    ] {
        assert!(e.iter().any(|l| l.starts_with(want)), "{want} not in {e:?}");
    }
    let mut v = config_json();
    v["issuers"][0]["max_lifetime_seconds"] = json!(600);
    v["issuers"][0]["require_exp"] = json!(false);
    let e = config_errors(&v);
    assert!(e.iter().any(|l| l.starts_with("$.issuers[0].max_lifetime_seconds: a maximum lifetime needs")), "{e:?}");
}

#[test]
fn a_deployments_own_routes_name_issuers_checked_against_the_configuration() {
    let mut v = config_json();
    let o = v.as_object_mut().unwrap();
    o.remove("dataplane");
    o.insert(
        "deployments".into(),
        json!([{"organization_id": ORG, "workspace_id": WS, "deployment_id": DEP, "hosts": ["a.test"],
                "routes": [{"name": "own", "path": {"prefix": "/own"}, "require": "bearer", "issuers": ["nope"]}]}]),
    );
    let e = config_errors(&v);
    assert!(e.iter().any(|l| l.starts_with("$.deployments[0].routes[0].issuers[0]: unknown issuer \"nope\"")), "{e:?}");
}

fn sourced_config() -> Arc<Config> {
    let mut v = config_json();
    v["token_sources"] = json!([{"header": "authorization", "scheme": "Bearer"}, {"cookie": "gh_token"},
                                {"query": "access_token"}]);
    config_from(&v)
}

#[test]
fn a_token_in_a_configured_cookie_verifies_and_the_cookie_never_reaches_the_upstream() {
    let cfg = sourced_config();
    let cookie = format!("theme=dark; gh_token={}; lang=en", sign(&dat(), Alg::ES256));
    let d = Vm::new(&cfg).request("GET", "/api/dags", "gatehouse.test", &[("cookie", &cookie)]);
    assert_eq!(outcome(&d), (200, "verified"));
    assert_eq!(set_header(&d, "cookie"), Some("theme=dark; lang=en"));
    let bad = format!("gh_token={}", "x.y.z");
    let d = Vm::new(&cfg).request("GET", "/api/dags", "gatehouse.test", &[("cookie", &bad)]);
    assert_eq!(d.status(), Some(401));
    // Without the source, the same cookie is nobody's credential and passes as it is (control).
    let d = Vm::new(&config()).request("GET", "/health", "gatehouse.test", &[("cookie", &cookie)]);
    assert_eq!(set_header(&d, "cookie"), None);
}

#[test]
fn a_token_in_a_configured_query_parameter_verifies_and_leaves_the_path_the_upstream_sees() {
    let cfg = sourced_config();
    let path = format!("/api/dags?limit=5&access_token={}&order=a%20b", sign(&dat(), Alg::ES256));
    let d = Vm::new(&cfg).request("GET", &path, "gatehouse.test", &[]);
    assert_eq!(outcome(&d), (200, "verified"));
    assert_eq!(set_header(&d, ":path"), Some("/api/dags?limit=5&order=a%20b"));
    let path = format!("/api/dags?access_token={}", sign(&dat(), Alg::ES256));
    assert_eq!(set_header(&Vm::new(&cfg).request("GET", &path, "gatehouse.test", &[]), ":path"), Some("/api/dags"));
    // Not configured: refused as before (RFC 6750 §2.3).
    assert_eq!(outcome(&Vm::new(&config()).request("GET", &path, "gatehouse.test", &[])), (400, "token_in_query"));
}

#[test]
fn every_credential_of_every_source_must_verify() {
    let cfg = sourced_config();
    let good = sign(&dat(), Alg::ES256);
    let mut expired = dat();
    expired.insert("exp".into(), json!(now() - 3600));
    let path = format!("/api/dags?access_token={}", sign(&expired, Alg::ES256));
    let auth = format!("Bearer {good}");
    let d = Vm::new(&cfg).request("GET", &path, "gatehouse.test", &[("authorization", &auth)]);
    assert_eq!(outcome(&d), (401, "expired"), "a bad query token beside a good header one");
}

#[test]
fn a_token_source_names_exactly_one_place() {
    let mut v = config_json();
    v["token_sources"] =
        json!([{"header": "x-t", "cookie": "t"}, {"cookie": "bad name"}, {"query": "q"}, {"query": "q"}]);
    let e = config_errors(&v);
    for want in [
        "$.token_sources[0]: give exactly one of \"header\", \"cookie\" and \"query\"",
        "$.token_sources[1].cookie: \"bad name\" is not a cookie name",
        "$.token_sources[3].query: query parameter \"q\" is already a token source",
    ] {
        assert!(e.iter().any(|l| l.starts_with(want)), "{want} not in {e:?}");
    }
}

#[test]
fn any_of_accepts_a_token_that_meets_one_of_its_bearer_requirements() {
    let mut v = with_route(json!({"name": "one-of-two", "path": {"prefix": "/either"}, "require": {"any_of": [
        {"bearer": {"issuers": ["auth0"], "audiences": ["https://reports.test"]}},
        {"bearer": {"issuers": ["platform"]}}
    ]}}));
    v["issuers"][1]["audiences"] = json!(["https://api.test", "https://reports.test"]);
    let cfg = config_from(&v);
    assert_eq!(outcome(&get(&cfg, "/either/x", Some(&sign(&dat(), Alg::ES256)))), (200, "verified"));
    assert_eq!(outcome(&get(&cfg, "/either/x", Some(&auth0_token("https://reports.test")))), (200, "verified"));
    assert_eq!(outcome(&get(&cfg, "/either/x", Some(&auth0_token("https://api.test")))), (401, "aud_mismatch"));
    assert_eq!(outcome(&get(&cfg, "/either/x", None)), (401, "missing_credential"));
}

#[test]
fn all_of_needs_every_bearer_requirement_met_by_one_of_the_credentials() {
    let mut v = with_route(json!({"name": "both", "path": {"prefix": "/both"}, "require": {"all_of": [
        {"bearer": {"issuers": ["platform"]}},
        {"bearer": {"issuers": ["auth0"]}}
    ]}}));
    v["token_sources"] = json!([{"header": "authorization", "scheme": "Bearer"}, {"header": "x-user-token"}]);
    let cfg = config_from(&v);
    let platform = format!("Bearer {}", sign(&dat(), Alg::ES256));
    let user = auth0_token("https://api.test");
    let req = |h: &[(&str, &str)]| Vm::new(&cfg).request("GET", "/both/x", "gatehouse.test", h);
    let d = req(&[("authorization", &platform), ("x-user-token", &user)]);
    assert_eq!(outcome(&d), (200, "verified"));
    assert_eq!(set_header(&d, "x-gatehouse-issuer"), Some("platform"), "the first credential speaks upstream");
    assert_eq!(outcome(&req(&[("authorization", &platform)])), (401, "requirement_unmet"));
    assert_eq!(outcome(&req(&[])), (401, "missing_credential"));
    let mut expired = dat();
    expired.insert("exp".into(), json!(now() - 3600));
    let bad = format!("Bearer {}", sign(&expired, Alg::ES256));
    assert_eq!(outcome(&req(&[("authorization", &bad), ("x-user-token", &user)])), (401, "expired"));
}

#[test]
fn combinators_that_say_nothing_or_contradict_themselves_are_reported_with_their_paths() {
    let routes = [
        (json!({"any_of": ["bearer"]}), "$.routes[0].require.any_of: expected at least two requirements"),
        (json!({"all_of": ["session", "session"]}), "$.routes[0].require.all_of: \"session\" is listed more than once"),
        (json!({"all_of": ["bearer", "bearer"]}), "$.routes[0].require.all_of: two plain \"bearer\" items"),
        (json!({"any_of": ["public", "bearer"]}), "$.routes[0].require.any_of[0]: expected \"bearer\", \"session\""),
        (
            json!({"any_of": [{"bearer": {"issuers": ["okta"]}}, "session"]}),
            "$.routes[0].require.any_of[0].bearer.issuers[0]: unknown issuer \"okta\"",
        ),
        (json!({"one_of": ["bearer", "session"]}), "$.routes[0].require: expected one of"),
    ];
    for (require, want) in routes {
        let e = config_errors(&with_route(json!({"name": "x", "path": {"prefix": "/x"}, "require": require})));
        assert!(e.iter().any(|l| l.starts_with(want)), "{want} not in {e:?}");
    }
    let v = with_route(json!({"name": "x", "path": {"prefix": "/x"}, "issuers": ["auth0"], "allow_missing": true,
                              "require": {"all_of": ["bearer", "session"]}}));
    let e = config_errors(&v);
    for want in
        ["$.routes[0].issuers: with any_of / all_of", "$.routes[0].allow_missing: all_of needs every requirement"]
    {
        assert!(e.iter().any(|l| l.starts_with(want)), "{want} not in {e:?}");
    }
}

fn judging_config() -> Arc<Config> {
    let mut v = config_json();
    v["method_override_headers"] = json!("judge");
    config_from(&v)
}

#[test]
fn an_override_is_judged_only_from_post_to_a_method_reaching_the_same_route() {
    let cfg = judging_config();
    let admin = format!("Bearer {}", sign(&dat(), Alg::ES256));
    let req = |method: &str, path: &str, to: &str| {
        Vm::new(&cfg).request(
            method,
            path,
            "gatehouse.test",
            &[("authorization", &admin), ("x-http-method-override", to)],
        )
    };
    // A public GET route and a protected DELETE: an override must not borrow the public route's rule.
    assert_eq!(outcome(&req("DELETE", "/health", "GET")), (400, "bad_method_override"));
    assert_eq!(outcome(&req("POST", "/api/x", "GET")), (400, "bad_method_override"), "to a safe method");
    assert_eq!(outcome(&req("POST", "/api/x", "OPTIONS")), (400, "bad_method_override"), "no preflight by override");
    // `runs` takes POST only, `api` DELETE: two routes, two rules.
    assert_eq!(outcome(&req("POST", "/api/dags/d/runs", "DELETE")), (400, "bad_method_override"));
    let d = req("POST", "/api/admin/x", "DELETE");
    assert_eq!(outcome(&d), (200, "verified"), "the same route either way: judged");
    let Decision::Allow(a) = &d else { panic!() };
    assert!(!a.removes("x-http-method-override"), "judged, the header goes on");
}

#[test]
fn in_judge_mode_the_underscore_spellings_are_stripped_and_in_strip_mode_every_spelling() {
    let cfg = judging_config();
    let h = [("x_http_method_override", "DELETE"), ("x-http_method-override", "DELETE")];
    let Decision::Allow(a) = Vm::new(&cfg).request("POST", "/health", "gatehouse.test", &h) else { panic!() };
    assert!(a.removes("x_http_method_override") && a.removes("x-http_method-override"));
    let Decision::Allow(a) = Vm::new(&config()).request("POST", "/health", "gatehouse.test", &h) else { panic!() };
    assert!(a.removes("x_http_method_override"));
}

#[test]
fn forward_never_keeps_a_token_header_that_also_carries_another_scheme() {
    let mut v = config_json();
    v["issuers"][0]["forward"] = json!(true);
    let cfg = config_from(&v);
    let good = format!("Bearer {}", sign(&dat(), Alg::ES256));
    let d = Vm::new(&cfg).request("GET", "/api/x", "gatehouse.test", &[("authorization", &good)]);
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    assert!(!a.removes("authorization"), "control: forwarded");
    let h = [("authorization", good.as_str()), ("authorization", "Basic dXNlcjpwYXNz")];
    let d = Vm::new(&cfg).request("GET", "/api/x", "gatehouse.test", &h);
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    assert!(a.removes("authorization"), "an unverified Basic credential rides along otherwise");
}

#[test]
fn a_query_token_in_another_spelling_is_refused_rather_than_passed_on() {
    let token = sign(&dat(), Alg::ES256);
    for path in [format!("/api/x?a=1;access_token={token}"), format!("/api/x?Access_Token={token}")] {
        assert_eq!(outcome(&Vm::new(&config()).request("GET", &path, "gatehouse.test", &[])), (400, "token_in_query"));
    }
    let cfg = sourced_config();
    let path = format!("/api/x?ACCESS_TOKEN={token}");
    assert_eq!(outcome(&Vm::new(&cfg).request("GET", &path, "gatehouse.test", &[])), (400, "token_in_query"));
    let path = format!("/api/x?access_token={token}");
    assert_eq!(outcome(&Vm::new(&cfg).request("GET", &path, "gatehouse.test", &[])), (200, "verified"));
}

#[test]
fn a_route_that_passes_during_outages_cannot_require_permissions() {
    let v = with_route(json!({"name": "x", "path": {"prefix": "/x"}, "require": "bearer",
                              "on_unavailable": "pass_unauthenticated", "permissions": ["read"]}));
    let e = config_errors(&v);
    assert!(e.iter().any(|l| l.starts_with("$.routes[0].on_unavailable: a request passed without identity")), "{e:?}");
}
