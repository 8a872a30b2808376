use std::sync::Arc;

use serde_json::json;

use crate::config::Config;
use crate::decision::Decision;
use crate::jwt::Alg;
use crate::testing::*;

/// Each request on a fresh VM: nothing cached from an earlier one.
fn run(cfg: &Arc<Config>, method: &str, path: &str, host: &str, headers: &[(&str, &str)]) -> Decision {
    Vm::new(cfg).request(method, path, host, headers)
}

fn get(cfg: &Arc<Config>, path: &str, token: Option<&str>) -> Decision {
    let auth = token.map(|t| format!("Bearer {t}"));
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    run(cfg, "GET", path, "gatehouse.test", &h)
}

fn status(d: &Decision) -> u16 {
    d.status().unwrap_or(200)
}

fn header<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    match d {
        Decision::Allow(a) => a.set_headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()),
        Decision::Reply(r) => r.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()),
        Decision::Call(_) | Decision::Pass(_) | Decision::ReadBody(_) => None,
    }
}

#[test]
fn a_missing_credential_gets_401_with_a_challenge_without_error_code() {
    let cfg = config();
    let d = get(&cfg, "/api/dags", None);
    assert_eq!(status(&d), 401);
    assert_eq!(header(&d, "www-authenticate"), Some("Bearer realm=\"airflow\""));
    assert_eq!(d.verdict().reason.code(), "missing_credential");
    let Decision::Reply(r) = &d else { panic!() };
    assert_eq!(r.body, "{\"error\":\"unauthorized\"}\n");
}

#[test]
fn an_invalid_token_gets_401_invalid_token_and_a_generic_body() {
    let cfg = config();
    let mut c = dat();
    c.insert("exp".into(), json!(now() - 3600));
    let d = get(&cfg, "/api/dags", Some(&sign(&c, Alg::ES256)));
    assert_eq!(status(&d), 401);
    assert_eq!(header(&d, "www-authenticate"), Some("Bearer realm=\"airflow\", error=\"invalid_token\""));
    assert_eq!(d.verdict().reason.code(), "expired");
    let Decision::Reply(r) = &d else { panic!() };
    assert!(!r.body.contains("expired"), "the reason stays in logs, not in the body");
}

#[test]
fn a_valid_token_is_forwarded_with_identity_headers_and_without_credentials_or_forgeries() {
    let cfg = config();
    let d = get(&cfg, "/api/dags", Some(&sign(&dat(), Alg::EdDSA)));
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    assert!(a.removes("authorization"));
    for forged in ["x-gatehouse-subject", "x_gatehouse_subject", "x-gatehouse-permissions"] {
        assert!(a.removes(forged), "{forged}");
    }
    assert_eq!(header(&d, "x-gatehouse-subject"), Some("robot-1"));
    assert_eq!(header(&d, "x-gatehouse-issuer"), Some("platform"));
    assert_eq!(header(&d, "x-gatehouse-scope"), Some("deployment:dep-1"));
    assert_eq!(header(&d, "x-gatehouse-role"), Some("ADMIN"));
    assert_eq!(header(&d, "x-gatehouse-permissions"), Some("admin,operate,read"));
    assert_eq!(header(&d, "x-gatehouse-token-id"), Some("jti-1"));
    assert_eq!(header(&d, ":path"), None, "a normal path is not rewritten");
}

#[test]
fn direct_access_tokens_pass_only_when_their_scope_covers_this_dataplane() {
    let cfg = config();
    type Case<'a> = (&'a str, Vec<(&'a str, serde_json::Value)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("deployment", vec![], 200, "verified"),
        ("workspace", vec![("deployment_id", json!(null))], 200, "verified"),
        ("organization", vec![("deployment_id", json!(null)), ("workspace_id", json!(null))], 200, "verified"),
        ("deployment", vec![("deployment_id", json!("dep-2"))], 403, "scope_mismatch"),
        ("workspace", vec![("deployment_id", json!(null)), ("workspace_id", json!("ws-2"))], 403, "scope_mismatch"),
        (
            "organization",
            vec![("deployment_id", json!(null)), ("workspace_id", json!(null)), ("organization_id", json!("org-2"))],
            403,
            "scope_mismatch",
        ),
        // An organization token that also names another workspace is stretched, not scoped: refused.
        ("organization", vec![("deployment_id", json!(null)), ("workspace_id", json!("ws-2"))], 403, "scope_mismatch"),
        ("deployment", vec![("deployment_id", json!(null))], 401, "missing_claim"),
        ("galaxy", vec![], 401, "claim_type"),
        ("deployment", vec![("organization_id", json!(1))], 401, "claim_type"),
    ];
    for (scope, changes, want_status, want_reason) in cases {
        let mut c = dat();
        c.insert("scope_type".into(), json!(scope));
        for (k, v) in &changes {
            if v.is_null() {
                c.remove(*k);
            } else {
                c.insert((*k).into(), v.clone());
            }
        }
        let d = get(&cfg, "/api/dags", Some(&sign(&c, Alg::HS384)));
        assert_eq!((status(&d), d.verdict().reason.code()), (want_status, want_reason), "{scope} {changes:?}");
    }
}

#[test]
fn roles_map_to_permissions_through_the_role_table() {
    let cfg = config();
    let with_role = |role: &str| {
        let mut c = dat();
        c.insert("role".into(), json!(role));
        sign(&c, Alg::RS256)
    };
    let post = |token: &str, path: &str| {
        let auth = format!("Bearer {token}");
        status(&run(&cfg, "POST", path, "h", &[("authorization", &auth)]))
    };
    assert_eq!(status(&get(&cfg, "/api/admin/users", Some(&with_role("ADMIN")))), 200);
    assert_eq!(status(&get(&cfg, "/api/admin/users", Some(&with_role("OPERATOR")))), 403);
    assert_eq!(post(&with_role("OPERATOR"), "/api/dags/etl/runs"), 200);
    assert_eq!(post(&with_role("VIEWER"), "/api/dags/etl/runs"), 403);
    assert_eq!(
        status(&get(&cfg, "/api/dags/etl/runs", Some(&with_role("VIEWER")))),
        200,
        "GET falls to the read route"
    );
    let d = get(&cfg, "/api/dags", Some(&with_role("SUPERUSER")));
    assert_eq!((status(&d), d.verdict().reason.code()), (403, "unknown_role"));
    let d = get(&cfg, "/api/admin/x", Some(&with_role("VIEWER")));
    assert_eq!(header(&d, "www-authenticate"), Some("Bearer realm=\"airflow\", error=\"insufficient_scope\""));
}

#[test]
fn access_tokens_take_permissions_from_their_claim_and_namespaced_roles() {
    let cfg = config();
    let now = now();
    let mut c = serde_json::Map::new();
    for (k, v) in [
        ("iss", json!(AUTH0)),
        ("aud", json!(["https://api.test", "https://tenant.auth0.test/userinfo"])),
        ("sub", json!("auth0|alice")),
        ("exp", json!(now + 60)),
        ("permissions", json!(["read"])),
        ("https://test/roles", json!(["OPERATOR"])),
    ] {
        c.insert(k.into(), v);
    }
    let mut key = signing_key(Alg::RS256);
    key.kid = Some("auth0-1".into());
    let token = key.sign(&serde_json::Value::Object(c.clone()), &mut rand_core::OsRng).unwrap();
    let d = get(&cfg, "/api/dags", Some(&token));
    assert_eq!(status(&d), 200);
    assert_eq!(header(&d, "x-gatehouse-permissions"), Some("operate,read"));
    assert_eq!(header(&d, "x-gatehouse-scope"), None);
    c.insert("permissions".into(), json!("read admin"));
    let token = key.sign(&serde_json::Value::Object(c), &mut rand_core::OsRng).unwrap();
    assert_eq!(status(&get(&cfg, "/api/admin/x", Some(&token))), 200, "space-separated permissions");
}

#[test]
fn every_credential_on_a_request_must_verify() {
    let mut v = config_json();
    v["token_sources"] = json!([{"header": "authorization", "scheme": "Bearer"}, {"header": "x-api-token"}]);
    let cfg = config_from(&v);
    let good = sign(&dat(), Alg::ES384);
    let auth = format!("Bearer {good}");
    let d = run(&cfg, "GET", "/api/x", "h", &[("authorization", &auth), ("x-api-token", "garbage")]);
    assert_eq!((status(&d), d.verdict().reason.code()), (401, "malformed"));
    let d = run(&cfg, "GET", "/api/x", "h", &[("authorization", &auth), ("x-api-token", &good)]);
    assert_eq!(status(&d), 200);
    let Decision::Allow(a) = &d else { panic!() };
    assert!(a.removes("x-api-token") && a.removes("authorization"));
    let d = run(&cfg, "GET", "/api/x", "h", &[("x-api-token", &good)]);
    assert_eq!(status(&d), 200, "any configured source alone is enough");
}

#[test]
fn the_bearer_scheme_is_case_insensitive_and_other_schemes_count_as_missing() {
    let cfg = config();
    let token = sign(&dat(), Alg::HS256);
    for value in [format!("bearer {token}"), format!("BEARER   {token}")] {
        assert_eq!(status(&run(&cfg, "GET", "/api/x", "h", &[("authorization", &value)])), 200, "{value:.10}");
    }
    let d = run(&cfg, "GET", "/api/x", "h", &[("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")]);
    assert_eq!((status(&d), d.verdict().reason.code()), (401, "missing_credential"));
    let d = run(&cfg, "GET", "/api/x", "h", &[("authorization", "Bearer ")]);
    assert_eq!((status(&d), d.verdict().reason.code()), (401, "malformed"));
}

#[test]
fn public_routes_pass_without_credentials_but_still_lose_credentials_and_forged_identity_headers() {
    let cfg = config();
    let d = run(&cfg, "GET", "/health", "h", &[("x-gatehouse-subject", "admin")]);
    let Decision::Allow(a) = &d else { panic!() };
    assert!(a.removes("x-gatehouse-subject"));
    assert!(a.removes("authorization"), "an unverified credential never reaches the upstream");
    assert!(a.set_headers.is_empty());
}

#[test]
fn routes_match_host_method_and_path_in_order() {
    let cfg = config();
    assert_eq!(run(&cfg, "GET", "/anything", "static.test", &[]).verdict().route.as_deref(), Some("static"));
    assert_eq!(run(&cfg, "GET", "/anything", "STATIC.test", &[]).verdict().route.as_deref(), Some("static"));
    // Envoy's virtual hosts keep the port and trailing dot unless told to strip them; so do routes, or a
    // public host-specific route would open the paths of whatever host Envoy sends these to.
    for spelling in ["static.test:443", "static.test.", "static.test.:80"] {
        assert_eq!(run(&cfg, "GET", "/anything", spelling, &[]).verdict().reason.code(), "no_route", "{spelling}");
    }
    let mut stripping = config_json();
    stripping["host_matching"] = json!({"strip_port": true, "strip_trailing_dot": true});
    let stripping = config_from(&stripping);
    for spelling in ["static.test:443", "static.test.", "static.test.:80"] {
        assert_eq!(run(&stripping, "GET", "/anything", spelling, &[]).verdict().route.as_deref(), Some("static"));
    }
    assert_eq!(run(&cfg, "GET", "/x", "img.cdn.test", &[]).verdict().route.as_deref(), Some("static"));
    assert_eq!(status(&run(&cfg, "GET", "/x", "cdn.test", &[])), 403, "*.cdn.test does not match the apex");
    assert_eq!(status(&run(&cfg, "GET", "/apix", "h", &[])), 403, "prefix /api does not match /apix");
    assert_eq!(run(&cfg, "GET", "/apix", "h", &[]).verdict().reason.code(), "no_route");
    assert_eq!(run(&cfg, "GET", "/api", "h", &[]).verdict().route.as_deref(), Some("api"));
    assert_eq!(run(&cfg, "GET", "/health?debug=1", "h", &[]).verdict().route.as_deref(), Some("health"));
    assert_eq!(status(&run(&cfg, "GET", "/health/", "h", &[])), 403, "exact means exact");
}

#[test]
fn dot_segments_cannot_dodge_a_rule_and_the_upstream_gets_the_matched_path() {
    let cfg = config();
    let d = run(&cfg, "GET", "/health/../api/admin/users?x=1", "h", &[]);
    assert_eq!((status(&d), d.verdict().route.as_deref()), (401, Some("admin")));
    let token = sign(&dat(), Alg::HS256);
    let auth = format!("Bearer {token}");
    let d = run(&cfg, "GET", "/api//dags/./x?q=/../a", "h", &[("authorization", &auth)]);
    assert_eq!(header(&d, ":path"), Some("/api/dags/x?q=/../a"));
}

#[test]
fn ambiguous_paths_get_400_before_any_route_is_chosen() {
    let cfg = config();
    for p in ["/api%2Fadmin", "/health\\..\\api", "/api%00", "/api%zz"] {
        let d = run(&cfg, "GET", p, "h", &[]);
        assert_eq!(status(&d), 400, "{p}");
        assert!(d.verdict().reason.code().starts_with("path_"));
    }
}

#[test]
fn cors_preflights_pass_by_default_and_are_enforced_when_configured() {
    let cfg = config();
    let pre = [("origin", "https://ui.test"), ("access-control-request-method", "POST")];
    assert_eq!(run(&cfg, "OPTIONS", "/api/dags", "h", &pre).verdict().reason.code(), "cors_preflight");
    assert_eq!(
        status(&run(&cfg, "OPTIONS", "/api/dags", "h", &[("origin", "https://ui.test")])),
        401,
        "a plain OPTIONS is no preflight"
    );
    let mut v = config_json();
    v["cors_preflight"] = json!("enforce");
    let cfg = config_from(&v);
    assert_eq!(status(&run(&cfg, "OPTIONS", "/api/dags", "h", &pre)), 401);
}

#[test]
fn unmatched_requests_are_denied_unless_configured_to_pass() {
    let mut v = config_json();
    v["routes"] = json!([{"name": "api", "path": {"prefix": "/api"}, "require": "bearer"}]);
    assert_eq!(status(&run(&config_from(&v), "GET", "/other", "h", &[])), 403);
    v["unmatched"] = json!("allow");
    assert_eq!(run(&config_from(&v), "GET", "/other", "h", &[]).verdict().reason.code(), "unmatched_allowed");
}

#[test]
fn session_routes_answer_401_until_browser_login_exists_and_text_routes_reply_in_text() {
    let cfg = config();
    let d = get(&cfg, "/ui/dags", None);
    assert_eq!((status(&d), d.verdict().reason.code()), (401, "session_unavailable"));
    assert_eq!(header(&d, "content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        status(&get(&cfg, "/either/x", Some(&sign(&dat(), Alg::HS256)))),
        200,
        "bearer_or_session takes a bearer"
    );
    assert_eq!(status(&get(&cfg, "/either/x", None)), 401);
}

#[test]
fn identity_headers_are_stripped_in_every_mix_of_dash_and_underscore_even_when_switched_off() {
    let mut v = config_json();
    v["identity_headers"] = json!({"token_id": null, "subject": "x-user"});
    let cfg = config_from(&v);
    let d = run(&cfg, "GET", "/health", "h", &[]);
    let Decision::Allow(a) = &d else { panic!() };
    for h in [
        "x-user",
        "x_user",
        "x-gatehouse_token-id",
        "x_gatehouse-token_id",
        "x-gatehouse-subject",
        "x-gatehouse_subject",
    ] {
        assert!(a.removes(h), "{h}");
    }
}

#[test]
fn preflights_to_paths_no_route_matches_are_denied_like_any_unmatched_request() {
    let cfg = config();
    let pre = [("origin", "https://ui.test"), ("access-control-request-method", "POST")];
    assert_eq!(status(&run(&cfg, "OPTIONS", "/nothing/here", "h", &pre)), 403);
}

#[test]
fn claims_that_would_smuggle_header_values_are_refused() {
    let cfg = config();
    for (claim, value) in
        [("sub", "robot\r\nx-gatehouse-role: ADMIN"), ("sub", ""), ("role", "ADMIN,VIEWER"), ("jti", "a\u{0}b")]
    {
        let mut c = dat();
        c.insert(claim.into(), json!(value));
        let d = get(&cfg, "/api/dags", Some(&sign(&c, Alg::HS256)));
        assert_eq!((status(&d), d.verdict().reason.code()), (401, "claim_type"), "{claim}={value:?}");
    }
}

#[test]
fn servlet_style_dot_segment_parameters_get_400() {
    let cfg = config();
    for p in ["/health/..;/api/admin", "/health/.;/x"] {
        assert_eq!(status(&run(&cfg, "GET", p, "h", &[])), 400, "{p}");
    }
}

#[test]
fn with_an_upstream_token_configured_no_route_forwards_the_clients_authorization_or_our_cookies() {
    let cfg = crate::testing::session_config();
    let d = run(
        &cfg,
        "GET",
        "/health",
        "h",
        &[("authorization", "Bearer x"), ("cookie", "__Host-gatehouse=v1.a.b; _token=t; theme=dark")],
    );
    let Decision::Allow(a) = &d else { panic!() };
    assert!(a.removes("authorization"));
    assert_eq!(header(&d, "cookie"), Some("theme=dark"));
    assert_eq!(a.drop_set_cookies, &["_token"]);
    let d = run(&cfg, "GET", "/health", "h", &[("cookie", "_token=t")]);
    let Decision::Allow(a) = &d else { panic!() };
    assert!(a.removes("cookie"));
}
