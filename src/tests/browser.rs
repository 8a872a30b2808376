use serde_json::{json, Value};

use std::sync::Arc;

use crate::call::CallResponse;
use crate::config::Config;
use crate::decision::{Decision, Pending, PendingState};
use crate::oidc::query_param;
use crate::testing::*;

struct Browser {
    jar: Vec<(String, String)>,
    /// This browser's requests land on one VM of the proxy: one engine per configuration, as the filter.
    vm: Option<Vm>,
    now: u64,
    /// Keeps the proxy-wide breaker open, as after a provider failure seen by another request.
    provider_down: bool,
}

impl Browser {
    fn new() -> Self {
        Browser { jar: Vec::new(), vm: None, now: now(), provider_down: false }
    }

    fn cookie_header(&self) -> String {
        self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Applies the Set-Cookie headers of a reply or an allowed response, as a browser would.
    fn store(&mut self, headers: &[(String, String)]) {
        for (n, v) in headers {
            if n != "set-cookie" {
                continue;
            }
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.jar.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") {
                self.jar.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// The VM for `cfg`: a new configuration is a new engine, with empty caches.
    fn vm(&mut self, cfg: &Arc<Config>) -> &mut Vm {
        if !self.vm.as_ref().is_some_and(|vm| Arc::ptr_eq(vm.engine.config(), cfg)) {
            self.vm = Some(Vm::new(cfg));
        }
        let (now, down) = (self.now, self.provider_down);
        let vm = self.vm.as_mut().unwrap();
        vm.now = now;
        if down {
            vm.open_breaker();
        }
        vm
    }

    fn go(&mut self, cfg: &Arc<Config>, method: &str, path: &str, extra: &[(&str, &str)]) -> Decision {
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        let cookie = self.cookie_header();
        if !self.jar.is_empty() {
            headers.push(("cookie", &cookie));
        }
        let d = self.vm(cfg).request(method, path, "airflow.test", &headers);
        match &d {
            Decision::Reply(r) => self.store(&r.headers.clone()),
            Decision::Allow(a) => self.store(&a.response_headers.clone()),
            Decision::Call(_) | Decision::Pass(_) | Decision::ReadBody(_) => {}
        }
        d
    }

    fn navigate(&mut self, cfg: &Arc<Config>, path: &str) -> Decision {
        self.go(cfg, "GET", path, &[("accept", "text/html"), ("sec-fetch-mode", "navigate")])
    }

    fn answer(&mut self, cfg: &Arc<Config>, pending: Pending, resp: CallResponse) -> Decision {
        let d = self.vm(cfg).answer(pending, resp);
        if let Decision::Reply(r) = &d {
            self.store(&r.headers.clone());
        }
        d
    }
}

fn location(d: &Decision) -> String {
    let Decision::Reply(r) = d else { panic!("expected a reply, got {d:?}") };
    assert_eq!(r.status, 302, "{r:?}");
    r.headers.iter().find(|(n, _)| n == "location").unwrap().1.clone()
}

fn ok_response(body: Value) -> CallResponse {
    CallResponse::Answered(crate::call::Answer {
        status: 200,
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        truncated: false,
    })
}

/// Runs login up to the token call: returns the pending continuation, the authorize URL's query and the call.
fn until_token_call(b: &mut Browser, cfg: &Arc<Config>, start: &str) -> (Pending, String, Sent) {
    let authorize = location(&b.navigate(cfg, start));
    let query = authorize.split_once('?').unwrap().1.to_owned();
    let state = query_param(&query, "state").unwrap();
    let d = b.navigate(cfg, &format!("/oauth2/callback?code=the-code&state={state}"));
    let Decision::Call(call) = d else { panic!("expected the token call, got {d:?}") };
    let (pending, call) = split(call);
    assert_eq!(pending.kind(), crate::decision::PendingKind::Code);
    (pending, query, call)
}

fn nonce_of(query: &str) -> String {
    query_param(query, "nonce").unwrap()
}

fn signed_in(b: &mut Browser, cfg: &Arc<Config>, roles: &[&str]) {
    let (pending, query, _) = until_token_call(b, cfg, "/ui/dags?tab=1");
    let body =
        json!({"token_type": "Bearer", "access_token": "at", "id_token": id_token(&nonce_of(&query), roles, b.now)});
    let d = b.answer(cfg, pending, ok_response(body));
    assert_eq!(location(&d), "/ui/dags?tab=1");
}

#[test]
fn a_browser_without_a_session_is_sent_to_the_provider_with_pkce_state_nonce_and_a_flow_cookie() {
    let cfg = session_config();
    let mut b = Browser::new();
    let to = location(&b.navigate(&cfg, "/ui/dags"));
    let (base, q) = to.split_once('?').unwrap();
    assert_eq!(base, "https://idp.test/authorize");
    for (k, v) in [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", "https://airflow.test/oauth2/callback"),
        ("scope", "openid profile email"),
        ("code_challenge_method", "S256"),
        ("audience", "https://api.test"),
    ] {
        assert_eq!(query_param(q, k).as_deref(), Some(v), "{k}");
    }
    for k in ["state", "nonce", "code_challenge"] {
        assert!(query_param(q, k).unwrap().len() >= 32, "{k}");
    }
    let Decision::Reply(r) = b.navigate(&cfg, "/ui/other") else { panic!() };
    let flow_cookies: Vec<&String> = r.headers.iter().filter(|(n, _)| n == "set-cookie").map(|(_, v)| v).collect();
    assert_eq!(flow_cookies.len(), 1);
    let c = flow_cookies[0];
    assert!(c.starts_with("__Host-gatehouse-flow-"), "{c}");
    assert!(c.ends_with("; Path=/; Max-Age=600; Secure; HttpOnly; SameSite=Lax"), "{c}");
    assert_eq!(b.jar.len(), 2, "two tabs, two flows");
}

#[test]
fn api_and_xhr_requests_without_a_session_get_401_not_a_redirect() {
    let cfg = session_config();
    let mut b = Browser::new();
    for headers in [
        vec![("accept", "application/json")],
        vec![("accept", "text/html"), ("x-requested-with", "XMLHttpRequest")],
        vec![],
    ] {
        let d = b.go(&cfg, "GET", "/ui/dags", &headers);
        assert_eq!(d.status(), Some(401), "{headers:?}");
    }
    assert_eq!(b.go(&cfg, "POST", "/ui/dags", &[("accept", "text/html")]).status(), Some(401));
}

#[test]
fn the_code_is_exchanged_with_the_verifier_and_client_secret_basic() {
    let cfg = session_config();
    let mut b = Browser::new();
    let (pending, query, call) = until_token_call(&mut b, &cfg, "/ui/");
    assert_eq!(call.cluster, "idp");
    assert_eq!(call.timeout_ms, 3000);
    let h = |n: &str| call.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(h(":method").as_deref(), Some("POST"));
    assert_eq!(h(":path").as_deref(), Some("/oauth/token"));
    assert_eq!(h(":authority").as_deref(), Some("idp.test"));
    // RFC 6749 §2.3.1: both parts form-encoded before base64.
    let basic = h("authorization").unwrap();
    let decoded =
        String::from_utf8(crate::b64::decode_standard(basic.strip_prefix("Basic ").unwrap()).unwrap()).unwrap();
    assert_eq!(decoded, "gatehouse-client:s3cr3t%3Awith%2Fodd+chars");
    let body = String::from_utf8(call.body.clone()).unwrap();
    let PendingState::CodeExchange { flow, .. } = &pending.state else { panic!() };
    assert_eq!(query_param(&body, "grant_type").as_deref(), Some("authorization_code"));
    assert_eq!(query_param(&body, "code").as_deref(), Some("the-code"));
    assert_eq!(query_param(&body, "code_verifier").as_deref(), Some(flow.verifier.as_str()));
    assert_eq!(crate::oidc::pkce::challenge(&flow.verifier), query_param(&query, "code_challenge").unwrap());
    assert!(query_param(&body, "client_secret").is_none(), "basic auth keeps the secret out of the body");
}

#[test]
fn a_signed_in_browser_reaches_the_upstream_with_a_minted_airflow_token_and_without_our_cookies() {
    let cfg = session_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["viewer", "ops"]);
    assert!(b.jar.iter().any(|(n, _)| n == "__Host-gatehouse"), "{:?}", b.jar);
    assert!(!b.jar.iter().any(|(n, _)| n.contains("-flow-")), "the flow cookie is cleared");
    b.jar.push(("_token".into(), "airflow-own".into()));
    b.jar.push(("theme".into(), "dark".into()));
    let d = b.go(&cfg, "GET", "/ui/dags", &[("authorization", "Bearer forged")]);
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    assert!(a.removes("authorization"));
    let set = |n: &str| a.set_headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(set("cookie").as_deref(), Some("theme=dark"));
    assert_eq!(set("x-gatehouse-subject").as_deref(), Some("auth0|alice"));
    let token = set("authorization").unwrap();
    let token = token.strip_prefix("Bearer ").unwrap();
    let claims: Value =
        serde_json::from_slice(&crate::b64::decode_strict(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["sub"], "auth0|alice");
    assert_eq!(claims["role"], "OP", "the most privileged mapped role");
    assert_eq!(claims["aud"], "apache-airflow");
    for c in ["iat", "nbf", "exp", "jti"] {
        assert!(claims.get(c).is_some(), "{c}");
    }
    // The same token is reused, without a new signature, until close to expiry.
    let Decision::Allow(again) = b.go(&cfg, "GET", "/ui/x", &[]) else { panic!() };
    assert!(again.set_headers.iter().any(|(k, v)| k == "authorization" && v.ends_with(token)));
}

#[test]
fn a_person_whose_roles_map_to_no_airflow_role_is_refused() {
    let cfg = session_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["intern"]);
    let d = b.go(&cfg, "GET", "/ui/dags", &[]);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(403), "no_upstream_role"));
}

#[test]
fn tampered_swapped_expired_and_idle_sessions_behave_like_no_session() {
    let cfg = session_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    let good = b.jar.clone();
    let (name, value) = good.iter().find(|(n, _)| n == "__Host-gatehouse").unwrap().clone();
    type Jar = Vec<(String, String)>;
    let mut cases: Vec<(&str, Jar, u64)> = Vec::new();
    let mut flipped = value.clone().into_bytes();
    let i = flipped.len() - 5;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    cases.push(("tampered", vec![(name.clone(), String::from_utf8(flipped).unwrap())], 0));
    cases.push(("truncated", vec![(name.clone(), value[..value.len() / 2].to_owned())], 0));
    // A flow cookie's value presented as the session: sealed under another name, so it does not open.
    let mut tab = Browser::new();
    tab.navigate(&cfg, "/ui/");
    let flow_value = tab.jar[0].1.clone();
    cases.push(("a flow cookie swapped in", vec![(name.clone(), flow_value)], 0));
    cases.push(("idle too long", good.clone(), 3601));
    cases.push(("past its lifetime", good.clone(), 13 * 3600));
    for (what, jar, later) in cases {
        let mut other = Browser::new();
        other.jar = jar;
        other.now = b.now + later;
        let d = other.go(&cfg, "GET", "/ui/dags", &[("accept", "application/json")]);
        assert_eq!(d.status(), Some(401), "{what}");
        assert!(location(&other.navigate(&cfg, "/ui/dags")).starts_with("https://idp.test/authorize"), "{what}");
    }
}

#[test]
fn activity_slides_the_idle_timeout_and_an_old_key_is_replaced_on_the_next_request() {
    let cfg = session_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    b.now += 3000;
    let Decision::Allow(a) = b.go(&cfg, "GET", "/ui/", &[]) else { panic!() };
    assert!(a.response_headers.iter().any(|(n, v)| n == "set-cookie" && v.starts_with("__Host-gatehouse=")));
    b.now += 3000;
    assert!(
        matches!(b.go(&cfg, "GET", "/ui/", &[]), Decision::Allow(_)),
        "6000 s after sign-in, 3000 s after last use"
    );

    // Sessions sealed before a rotation open with the old key and come back sealed with the new one.
    let mut v = session_config_json();
    v["session"]["keys_env"] = json!("COOKIE_KEYS_OLD_FIRST");
    let old_cfg = session_config_from(&v, &session_env);
    let mut o = Browser::new();
    signed_in(&mut o, &old_cfg, &["admin"]);
    assert!(o.jar.iter().any(|(_, v)| v.starts_with("v1.old.")));
    let Decision::Allow(a) = o.go(&cfg, "GET", "/ui/", &[]) else { panic!("old-key session refused after rotation") };
    let resealed = a.response_headers.iter().find(|(n, _)| n == "set-cookie").unwrap();
    assert!(resealed.1.starts_with("__Host-gatehouse=v1.new."), "{}", resealed.1);
}

#[test]
fn callback_problems_get_clear_pages_and_no_call_out() {
    let cfg = session_config();
    let mut b = Browser::new();
    let authorize = location(&b.navigate(&cfg, "/ui/"));
    let state = query_param(authorize.split_once('?').unwrap().1, "state").unwrap();
    for (path, status, reason) in [
        ("/oauth2/callback?code=c".to_owned(), 400, "missing_state"),
        ("/oauth2/callback?code=c&state=forged-state".to_owned(), 400, "bad_state"),
        (format!("/oauth2/callback?code=c&state={}", "A".repeat(32)), 400, "unknown_state"),
        ("/oauth2/callback?error=x&state=abc%3B%20Domain%3Devil.test".to_owned(), 400, "bad_state"),
        (format!("/oauth2/callback?state={state}"), 400, "missing_code"),
        (format!("/oauth2/callback?error=access_denied&state={state}"), 401, "idp_error"),
    ] {
        let mut fresh = Browser::new();
        fresh.jar = b.jar.clone();
        let d = fresh.navigate(&cfg, &path);
        assert_eq!((d.status(), d.verdict().reason.code()), (Some(status), reason), "{path}");
    }
    // A state whose first 16 characters match but the rest differs is not the same state.
    let forged = format!("{}{}", &state[..16], "X".repeat(state.len() - 16));
    let d = b.navigate(&cfg, &format!("/oauth2/callback?code=c&state={forged}"));
    assert_eq!(d.verdict().reason.code(), "state_mismatch");
}

#[test]
fn a_replayed_callback_finds_no_flow_and_makes_no_call() {
    let cfg = session_config();
    let mut b = Browser::new();
    let (pending, query, _) = until_token_call(&mut b, &cfg, "/ui/");
    let body = json!({"token_type": "Bearer", "access_token": "at", "id_token": id_token(&nonce_of(&query), &["admin"], b.now)});
    b.answer(&cfg, pending, ok_response(body));
    let state = query_param(&query, "state").unwrap();
    let d = b.navigate(&cfg, &format!("/oauth2/callback?code=the-code&state={state}"));
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(400), "unknown_state"));
}

#[test]
fn provider_failures_give_503_or_401_pages_never_a_session() {
    let cfg = session_config();
    let cases: Vec<(CallResponse, u16, &str)> = vec![
        (
            CallResponse::Answered(crate::call::Answer {
                status: 504,
                content_type: None,
                body: b"upstream request timeout".to_vec(),
                truncated: false,
            }),
            503,
            "idp_timeout",
        ),
        (
            CallResponse::Answered(crate::call::Answer {
                status: 503,
                content_type: None,
                body: b"no healthy upstream".to_vec(),
                truncated: false,
            }),
            503,
            "idp_unavailable",
        ),
        (CallResponse::Reset, 503, "idp_reset"),
        (
            CallResponse::Answered(crate::call::Answer {
                status: 200,
                content_type: None,
                body: b"<html>".to_vec(),
                truncated: false,
            }),
            503,
            "idp_bad_json",
        ),
        (
            CallResponse::Answered(crate::call::Answer {
                status: 200,
                content_type: None,
                body: Vec::new(),
                truncated: true,
            }),
            503,
            "idp_body_too_large",
        ),
        (
            CallResponse::Answered(crate::call::Answer {
                status: 400,
                content_type: None,
                body: br#"{"error":"invalid_grant"}"#.to_vec(),
                truncated: false,
            }),
            401,
            "token_rejected",
        ),
    ];
    for (resp, status, reason) in cases {
        let mut b = Browser::new();
        let (pending, _, _) = until_token_call(&mut b, &cfg, "/ui/");
        let d = b.answer(&cfg, pending, resp);
        assert_eq!((d.status(), d.verdict().reason.code()), (Some(status), reason));
        assert!(!b.jar.iter().any(|(n, _)| n.starts_with("__Host-gatehouse")), "{reason}: {:?}", b.jar);
    }
}

#[test]
fn id_tokens_with_the_wrong_nonce_audience_or_signer_are_refused() {
    let cfg = session_config();
    let mut b = Browser::new();
    let (pending, _, _) = until_token_call(&mut b, &cfg, "/ui/");
    let body =
        json!({"token_type": "Bearer", "access_token": "at", "id_token": id_token("another-nonce", &["admin"], b.now)});
    assert_eq!(b.answer(&cfg, pending, ok_response(body)).verdict().reason.code(), "nonce_mismatch");

    let mut b = Browser::new();
    let (pending, query, _) = until_token_call(&mut b, &cfg, "/ui/");
    let mut key = untrusted_rsa_key(crate::jwt::Alg::RS256);
    key.kid = Some("idp-1".into());
    let forged = key
        .sign(&json!({"iss": IDP, "aud": CLIENT_ID, "sub": "mallory", "iat": b.now, "exp": b.now + 60, "nonce": nonce_of(&query)}), &mut rand_core::OsRng)
        .unwrap();
    let body = json!({"token_type": "Bearer", "access_token": "at", "id_token": forged});
    assert_eq!(b.answer(&cfg, pending, ok_response(body)).verdict().reason.code(), "bad_signature");
}

#[test]
fn airflow_login_and_logout_paths_belong_to_the_flow() {
    let cfg = session_config();
    let mut b = Browser::new();
    let to = location(&b.navigate(&cfg, "/api/v2/auth/login?next=/dags"));
    assert!(to.starts_with("https://idp.test/authorize?"));
    let to = location(&b.navigate(&cfg, "/auth/login?next=//evil.test"));
    assert!(to.starts_with("https://idp.test/authorize?"));
    signed_in(&mut b, &cfg, &["admin"]);
    let to = location(&b.navigate(&cfg, "/api/v2/auth/logout"));
    let (base, q) = to.split_once('?').unwrap();
    assert_eq!(base, "https://idp.test/logout");
    assert_eq!(query_param(q, "post_logout_redirect_uri").as_deref(), Some("https://airflow.test/"));
    assert!(query_param(q, "id_token_hint").is_some());
    assert!(!b.jar.iter().any(|(n, _)| n.starts_with("__Host-gatehouse")), "{:?}", b.jar);
    assert_eq!(b.go(&cfg, "GET", "/ui/", &[]).status(), Some(401));
}

#[test]
fn direct_access_tokens_get_an_airflow_token_for_their_mapped_role() {
    let cfg = session_config();
    let mut c = dat();
    c.insert("role".into(), json!("OPERATOR"));
    let auth = format!("Bearer {}", sign(&c, crate::jwt::Alg::ES256));
    let mut b = Browser::new();
    let Decision::Allow(a) = b.go(&cfg, "GET", "/api/dags", &[("authorization", &auth)]) else { panic!() };
    let token = a.set_headers.iter().find(|(k, _)| k == "authorization").unwrap().1.clone();
    let claims: Value =
        serde_json::from_slice(&crate::b64::decode_strict(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!((claims["sub"].as_str(), claims["role"].as_str()), (Some("robot-1"), Some("OP")));
}

#[test]
fn session_config_problems_are_reported_with_paths() {
    let mut v = session_config_json();
    v["session"]["cookie_name"] = json!("__Host-x");
    v["session"]["secure"] = json!(false);
    v["session"]["redirect_uri"] = json!("http://airflow.test/cb");
    v["session"]["provider"]["scopes"] = json!(["profile"]);
    v["session"]["provider"]["extra_params"] = json!({"state": "fixed"});
    v["upstream_token"]["roles"] = json!({"admin": "SUPERUSER"});
    let e = crate::config::load_config(v.to_string().as_bytes(), &|n| {
        if n == "CLIENT_SECRET" {
            None
        } else {
            session_env(n)
        }
    })
    .unwrap_err();
    let text = e.to_string();
    for want in [
        "$.session.cookie_name: a __Host- cookie needs secure: true",
        "$.session.redirect_uri: expected an absolute https URL (http only on loopback)",
        "$.session.provider.scopes: must include \"openid\"",
        "$.session.provider.extra_params.state: set by Gatehouse; cannot be overridden",
        "$.session.provider.client_secret_env: environment variable CLIENT_SECRET is not set",
        "$.upstream_token.roles.admin: expected one of ADMIN, OP, USER, VIEWER",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("a".repeat(64).as_str()));
}

fn refresh_config() -> Arc<Config> {
    let mut v = session_config_json();
    v["session"]["provider"]["keep_refresh_token"] = json!(true);
    v["session"]["provider"]["scopes"] = json!(["openid", "email", "offline_access"]);
    session_config_from(&v, &session_env)
}

/// Signs in with a refresh token, then moves the clock to 40 s before the provider's tokens expire.
fn signed_in_with_refresh(b: &mut Browser, cfg: &Arc<Config>) {
    let (pending, query, _) = until_token_call(b, cfg, "/ui/");
    let body = json!({"token_type": "Bearer", "access_token": "at", "refresh_token": "rt-1", "expires_in": 300,
                      "id_token": id_token(&nonce_of(&query), &["admin"], b.now)});
    b.answer(cfg, pending, ok_response(body));
    b.now += 260;
}

fn refresh_call(b: &mut Browser, cfg: &Arc<Config>, headers: &[(&str, &str)]) -> (Pending, Sent) {
    let d = b.go(cfg, "GET", "/ui/dags", headers);
    let Decision::Call(call) = d else { panic!("expected a refresh call, got {d:?}") };
    let body = String::from_utf8(call.body.clone()).unwrap();
    assert_eq!(query_param(&body, "grant_type").as_deref(), Some("refresh_token"));
    split(call)
}

#[test]
fn sessions_with_a_refresh_token_are_renewed_out_of_band_before_the_provider_tokens_expire() {
    let cfg = refresh_config();
    let mut b = Browser::new();
    signed_in_with_refresh(&mut b, &cfg);
    let (pending, call) = refresh_call(&mut b, &cfg, &[]);
    assert_eq!(query_param(&String::from_utf8(call.body).unwrap(), "refresh_token").as_deref(), Some("rt-1"));
    let body = json!({"token_type": "Bearer", "access_token": "at", "refresh_token": "rt-2", "expires_in": 300, "id_token": id_token("", &["viewer"], b.now)});
    let d = b.answer(&cfg, pending, ok_response(body));
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    assert_eq!(d.verdict().reason.code(), "session_refreshed");
    assert!(a.set_headers.iter().any(|(n, _)| n == "authorization"), "the request goes on with its upstream token");
    b.store(&a.response_headers.clone());
    // Renewed: no new call, and the roles from the refreshed ID token apply.
    let d = b.go(&cfg, "GET", "/ui/dags", &[]);
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    let token = &a.set_headers.iter().find(|(n, _)| n == "authorization").unwrap().1;
    let claims: Value =
        serde_json::from_slice(&crate::b64::decode_strict(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["role"], "VIEWER");
}

#[test]
fn invalid_grant_on_refresh_ends_the_session_and_outages_do_not() {
    let cfg = refresh_config();
    // Provider down: the request goes on with the session as it was.
    let mut b = Browser::new();
    signed_in_with_refresh(&mut b, &cfg);
    let (pending, _) = refresh_call(&mut b, &cfg, &[]);
    let d = b.answer(
        &cfg,
        pending,
        CallResponse::Answered(crate::call::Answer {
            status: 504,
            content_type: None,
            body: Vec::new(),
            truncated: false,
        }),
    );
    assert!(matches!(d, Decision::Allow(_)), "{d:?}");
    assert_eq!(d.verdict().reason.code(), "idp_timeout");
    assert!(b.jar.iter().any(|(n, _)| n == "__Host-gatehouse"));

    // invalid_grant: API callers get 401 and the cookies are cleared; browsers are sent to sign in again.
    for (headers, status) in [
        (vec![("accept", "application/json")], 401),
        (vec![("accept", "text/html"), ("sec-fetch-mode", "navigate")], 302),
    ] {
        let mut b = Browser::new();
        signed_in_with_refresh(&mut b, &cfg);
        let (pending, _) = refresh_call(&mut b, &cfg, &headers);
        let resp = CallResponse::Answered(crate::call::Answer {
            status: 400,
            content_type: None,
            body: br#"{"error":"invalid_grant"}"#.to_vec(),
            truncated: false,
        });
        let d = b.answer(&cfg, pending, resp);
        assert_eq!((d.status(), d.verdict().reason.code()), (Some(status), "refresh_rejected"));
        assert!(!b.jar.iter().any(|(n, _)| n == "__Host-gatehouse"), "{:?}", b.jar);
    }
}

#[test]
fn a_refreshed_id_token_about_someone_else_ends_the_session() {
    let cfg = refresh_config();
    let mut b = Browser::new();
    signed_in_with_refresh(&mut b, &cfg);
    let (pending, _) = refresh_call(&mut b, &cfg, &[("accept", "application/json")]);
    let mut key = signing_key(crate::jwt::Alg::RS256);
    key.kid = Some("idp-1".into());
    let other = key
        .sign(
            &json!({"iss": IDP, "aud": CLIENT_ID, "sub": "mallory", "iat": b.now, "exp": b.now + 300}),
            &mut rand_core::OsRng,
        )
        .unwrap();
    let d =
        b.answer(&cfg, pending, ok_response(json!({"token_type": "Bearer", "access_token": "at", "id_token": other})));
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(401), "refresh_id_token_invalid"));
}

#[test]
fn a_route_set_to_deny_answers_401_even_to_browser_navigations() {
    let mut v = session_config_json();
    v["routes"][4]["on_unauthenticated"] = json!("deny");
    let cfg = session_config_from(&v, &session_env);
    let mut b = Browser::new();
    assert_eq!(b.navigate(&cfg, "/ui/dags").status(), Some(401));
}

fn exchange_config() -> Arc<Config> {
    let mut v = session_config_json();
    v["upstream_token"] = json!({
        "mode": "exchange",
        "exchange": {"cluster": "sts", "authority": "sts.test", "path": "/exchange", "timeout_ms": 2000, "audience": "apache-airflow"}
    });
    session_config_from(&v, &session_env)
}

/// Signs in up to the exchange call; returns its continuation and the call.
fn until_exchange(b: &mut Browser, cfg: &Arc<Config>) -> (Pending, Sent, String) {
    let (pending, query, _) = until_token_call(b, cfg, "/ui/home");
    let id = id_token(&nonce_of(&query), &["admin"], b.now);
    let d = b.answer(
        cfg,
        pending,
        ok_response(
            json!({"token_type": "Bearer", "access_token": "at", "id_token": id.clone(), "access_token": "at"}),
        ),
    );
    let Decision::Call(call) = d else { panic!("expected the exchange call, got {d:?}") };
    let (then, call) = split(call);
    (then, call, id)
}

#[test]
fn in_exchange_mode_the_provider_token_is_exchanged_once_at_sign_in_and_kept_in_the_session() {
    let cfg = exchange_config();
    let mut b = Browser::new();
    let (pending, call, id) = until_exchange(&mut b, &cfg);
    assert_eq!((call.cluster.as_str(), call.timeout_ms), ("sts", 2000));
    let body = String::from_utf8(call.body).unwrap();
    assert_eq!(query_param(&body, "grant_type").as_deref(), Some("urn:ietf:params:oauth:grant-type:token-exchange"));
    assert_eq!(query_param(&body, "subject_token").as_deref(), Some(id.as_str()));
    assert_eq!(query_param(&body, "subject_token_type").as_deref(), Some("urn:ietf:params:oauth:token-type:id_token"));
    assert_eq!(query_param(&body, "audience").as_deref(), Some("apache-airflow"));
    assert!(call.headers.iter().any(|(n, v)| n == ":path" && v == "/exchange"));
    let d = b.answer(&cfg, pending, ok_response(json!({"access_token": "exchanged-airflow-jwt", "issued_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_type": "N_A", "expires_in": 300})));
    assert_eq!(location(&d), "/ui/home");
    let Decision::Allow(a) = b.go(&cfg, "GET", "/ui/dags", &[]) else { panic!() };
    assert!(a.set_headers.contains(&("authorization".to_owned(), "Bearer exchanged-airflow-jwt".to_owned())));
    // Once it expires the person signs in again (browsers) or gets 401 (API).
    b.now += 300;
    assert_eq!(
        b.go(&cfg, "GET", "/ui/dags", &[("accept", "application/json")]).verdict().reason.code(),
        "upstream_token_expired"
    );
}

#[test]
fn a_failed_exchange_never_creates_a_session() {
    let cfg = exchange_config();
    for (resp, status, reason) in [
        (
            CallResponse::Answered(crate::call::Answer {
                status: 500,
                content_type: None,
                body: br#"{"error":"server_error"}"#.to_vec(),
                truncated: false,
            }),
            503,
            "idp_unavailable",
        ),
        (
            CallResponse::Answered(crate::call::Answer {
                status: 400,
                content_type: None,
                body: br#"{"error":"invalid_grant"}"#.to_vec(),
                truncated: false,
            }),
            403,
            "exchange_rejected",
        ),
        (ok_response(json!({"issued_token_type": "x"})), 503, "exchange_no_token"),
    ] {
        let mut b = Browser::new();
        let (pending, _, _) = until_exchange(&mut b, &cfg);
        let d = b.answer(&cfg, pending, resp);
        assert_eq!((d.status(), d.verdict().reason.code()), (Some(status), reason));
        assert!(!b.jar.iter().any(|(n, _)| n.starts_with("__Host-gatehouse")), "{:?}", b.jar);
    }
}

#[test]
fn auth0_style_logout_sends_the_client_id_and_return_to() {
    let mut v = session_config_json();
    v["session"]["provider"]["end_session_endpoint"] = json!("https://tenant.auth0.test/v2/logout");
    v["session"]["provider"]["logout_style"] = json!("auth0");
    let cfg = session_config_from(&v, &session_env);
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    let to = location(&b.navigate(&cfg, "/oauth2/sign_out"));
    let (base, q) = to.split_once('?').unwrap();
    assert_eq!(base, "https://tenant.auth0.test/v2/logout");
    assert_eq!(query_param(q, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query_param(q, "returnTo").as_deref(), Some("https://airflow.test/"));
    assert!(query_param(q, "id_token_hint").is_none());
}

#[test]
fn during_a_provider_outage_sessions_last_the_grace_window_past_provider_expiry_and_no_longer() {
    let mut v = session_config_json();
    v["session"]["provider"]["keep_refresh_token"] = json!(true);
    v["session"]["provider"]["scopes"] = json!(["openid", "offline_access"]);
    v["session"]["provider"]["refresh_grace_seconds"] = json!(600);
    let cfg = session_config_from(&v, &session_env);
    let down = || {
        CallResponse::Answered(crate::call::Answer {
            status: 503,
            content_type: None,
            body: b"no healthy upstream".to_vec(),
            truncated: false,
        })
    };
    let mut b = Browser::new();
    signed_in_with_refresh(&mut b, &cfg); // provider tokens expire 40 s from now
    for (later, allowed) in [(0, true), (500, true), (640, false)] {
        let mut t = Browser::new();
        t.jar = b.jar.clone();
        t.now = b.now + later;
        let (pending, _) = refresh_call(&mut t, &cfg, &[("accept", "application/json")]);
        let d = t.answer(&cfg, pending, down());
        assert_eq!(matches!(d, Decision::Allow(_)), allowed, "{later}: {d:?}");
        if !allowed {
            assert_eq!(d.verdict().reason.code(), "refresh_grace_exceeded");
        }
    }
}

#[test]
fn fault_switches_are_refused_unless_allowed_and_then_simulate_the_outage() {
    let mut v = session_config_json();
    v["faults"] = json!({"provider_unavailable": true, "clock_offset_seconds": 30});
    let e = crate::config::load_config(v.to_string().as_bytes(), &session_env).unwrap_err().to_string();
    assert!(e.contains("$.faults.provider_unavailable: fault switches are for staging drills"), "{e}");
    assert!(e.contains("$.faults.clock_offset_seconds: fault switches are for staging drills"), "{e}");
    v["faults"]["allow"] = json!(true);
    let cfg = session_config_from(&v, &session_env);
    // New sign-ins get the outage page at once.
    let d = Browser::new().navigate(&cfg, "/ui/");
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(503), "idp_down"));
    // A callback already under way would call the provider; with the switch on it fails as an outage does.
    let plain = session_config();
    let mut b = Browser::new();
    let authorize = location(&b.navigate(&plain, "/ui/"));
    let state = query_param(authorize.split_once('?').unwrap().1, "state").unwrap();
    let d = b.navigate(&cfg, &format!("/oauth2/callback?code=c&state={state}"));
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(503), "idp_unavailable"));
}

#[test]
fn a_clock_offset_fault_moves_token_checks_in_time() {
    let mut v = config_json();
    v["faults"] = json!({"allow": true, "clock_offset_seconds": 3600});
    let cfg = config_from(&v);
    let mut b = Browser::new();
    let auth = format!("Bearer {}", sign(&dat(), crate::jwt::Alg::HS256));
    let d = b.go(&cfg, "GET", "/api/x", &[("authorization", &auth)]);
    assert_eq!(d.verdict().reason.code(), "expired", "a 10-minute token is expired an hour from now");
}

#[test]
fn while_the_provider_is_down_new_sign_ins_get_a_503_page_and_signed_in_people_carry_on() {
    let cfg = session_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    b.provider_down = true;
    assert!(matches!(b.go(&cfg, "GET", "/ui/dags", &[]), Decision::Allow(_)), "an existing session needs no provider");
    let mut newcomer = Browser::new();
    newcomer.provider_down = true;
    let d = newcomer.navigate(&cfg, "/ui/dags");
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(503), "idp_down"));
    let Decision::Reply(r) = &d else { panic!() };
    assert!(r.headers.iter().any(|(n, _)| n == "retry-after"));
    assert!(r.headers.iter().any(|(n, v)| n == "content-type" && v.starts_with("text/html")));
    // An API client asking Airflow's login endpoint gets the same answer as JSON.
    let d = newcomer.go(&cfg, "GET", "/api/v2/auth/login", &[("accept", "application/json")]);
    let Decision::Reply(r) = &d else { panic!() };
    assert_eq!((r.status, r.body.as_str()), (503, "{\"error\":\"identity_unavailable\"}\n"));
}

#[test]
fn a_refresh_already_in_flight_for_the_session_is_not_repeated() {
    let cfg = refresh_config();
    let mut b = Browser::new();
    signed_in_with_refresh(&mut b, &cfg);
    let (_pending, _) = refresh_call(&mut b, &cfg, &[]);
    // A second request of the same session while the first one's refresh is on its way.
    let d = b.go(&cfg, "GET", "/ui/dags", &[]);
    assert!(matches!(d, Decision::Allow(_)), "{d:?}");
    assert_eq!(d.verdict().reason.code(), "refresh_in_flight");
}

#[test]
fn during_an_outage_active_sessions_slide_their_idle_timeout_so_the_grace_window_is_what_ends_them() {
    let mut v = session_config_json();
    v["session"]["provider"]["keep_refresh_token"] = json!(true);
    v["session"]["provider"]["scopes"] = json!(["openid", "offline_access"]);
    v["session"]["idle_timeout_seconds"] = json!(600);
    v["session"]["provider"]["refresh_grace_seconds"] = json!(3600);
    let cfg = session_config_from(&v, &session_env);
    let mut b = Browser::new();
    signed_in_with_refresh(&mut b, &cfg);
    b.provider_down = true; // the breaker is open: refreshes fail at once, without a call
                            // Sign-in +260 s, then a request every 400 s: allowed until provider expiry (+300 s) + grace (3600 s).
    for _ in 0..10 {
        let d = b.go(&cfg, "GET", "/ui/dags", &[("accept", "application/json")]);
        let Decision::Allow(a) = &d else { panic!("signed out: {d:?}") };
        assert!(a.response_headers.iter().any(|(n, _)| n == "set-cookie"), "the session is re-sealed");
        b.store(&a.response_headers.clone());
        b.now += 400; // longer than a tenth of the idle timeout, shorter than the timeout itself
    }
    let d = b.go(&cfg, "GET", "/ui/dags", &[("accept", "application/json")]);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(401), "refresh_grace_exceeded"));
}

#[test]
fn the_login_path_keeps_a_valid_session_and_goes_to_next() {
    let cfg = session_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    let d = b.navigate(&cfg, "/api/v2/auth/login?next=/dags/etl");
    assert_eq!(location(&d), "/dags/etl");
    assert!(b.jar.iter().any(|(n, _)| n == "__Host-gatehouse"));
}

#[test]
fn flow_cookies_are_lax_even_when_the_session_cookie_is_strict() {
    let mut v = session_config_json();
    v["session"]["same_site"] = json!("strict");
    let cfg = session_config_from(&v, &session_env);
    let Decision::Reply(r) = Browser::new().navigate(&cfg, "/ui/") else { panic!() };
    let flow = r.headers.iter().find(|(n, v)| n == "set-cookie" && v.contains("-flow-")).unwrap();
    assert!(flow.1.ends_with("SameSite=Lax"), "{}", flow.1);
}

#[test]
fn id_tokens_whose_claims_would_smuggle_header_values_are_refused() {
    let cfg = session_config();
    let mut b = Browser::new();
    let (pending, query, _) = until_token_call(&mut b, &cfg, "/ui/");
    let body = json!({"token_type": "Bearer", "access_token": "at", "id_token": id_token(&nonce_of(&query), &["admin,viewer"], b.now)});
    let d = b.answer(&cfg, pending, ok_response(body));
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(401), "claim_type"));
}

fn allowed_header<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    match d {
        Decision::Allow(a) => a.set_headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()),
        _ => None,
    }
}

#[test]
fn session_claims_reach_the_upstream_under_the_configured_headers() {
    let mut v = session_config_json();
    v["session"]["claim_headers"] = json!({"email": "x-user-email", "name": "x-user-name", "groups": "x-user-groups"});
    let cfg = session_config_from(&v, &session_env);
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin", "data-eng"]);
    let d = b.go(&cfg, "GET", "/ui/dags", &[("x-user-email", "forged@evil.test")]);
    assert_eq!(allowed_header(&d, "x-user-email"), Some("alice@test"));
    assert_eq!(allowed_header(&d, "x-user-name"), Some("Alice"));
    assert_eq!(allowed_header(&d, "x-user-groups"), Some("admin,data-eng"));
    let Decision::Allow(a) = &d else { panic!("{d:?}") };
    assert!(a.removes("x-user-email"), "the client's copy is stripped");
}

#[test]
fn a_session_whose_sid_is_revoked_ends_and_the_browser_signs_in_again() {
    let cfg = session_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    assert!(matches!(b.navigate(&cfg, "/ui/dags"), Decision::Allow(_)), "control: the session works");
    let mut v = session_config_json();
    v["session"]["revoked_session_ids"] = json!(["sid-alice"]);
    let revoked = session_config_from(&v, &session_env);
    let d = b.navigate(&revoked, "/ui/dags");
    assert_eq!(d.verdict().reason.code(), "session_revoked");
    assert!(location(&d).starts_with("https://idp.test/authorize?"), "sent to sign in again");
    let d = b.go(&revoked, "GET", "/ui/dags", &[("accept", "application/json")]);
    assert_eq!(d.status(), Some(401), "the cookie was cleared: no session at all now");
}

#[test]
fn subject_not_before_ends_sessions_signed_in_before_it_and_spares_later_ones() {
    let mut b = Browser::new();
    let cfg = session_config();
    signed_in(&mut b, &cfg, &["admin"]);
    let mut v = session_config_json();
    v["session"]["subject_not_before"] = json!({"auth0|alice": b.now + 1});
    let cut = session_config_from(&v, &session_env);
    let d = b.go(&cut, "GET", "/ui/dags", &[("accept", "application/json")]);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(401), "session_revoked"));
    b.now += 5;
    signed_in(&mut b, &cut, &["admin"]);
    assert!(matches!(b.navigate(&cut, "/ui/dags"), Decision::Allow(_)), "signed in after the cut-off");
}

#[test]
fn all_of_a_session_and_a_bearer_token_needs_both_and_the_session_speaks_upstream() {
    let mut v = session_config_json();
    v["routes"].as_array_mut().unwrap().insert(
        0,
        json!({"name": "both", "path": {"prefix": "/ui/secure"}, "on_unauthenticated": "deny",
               "require": {"all_of": ["session", {"bearer": {"issuers": ["platform"]}}]}}),
    );
    let cfg = session_config_from(&v, &session_env);
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    let token = format!("Bearer {}", sign(&dat(), crate::jwt::Alg::ES256));
    let d = b.go(&cfg, "GET", "/ui/secure/x", &[("authorization", &token)]);
    assert_eq!(d.verdict().reason.code(), "session", "{d:?}");
    assert_eq!(allowed_header(&d, "x-gatehouse-subject"), Some("auth0|alice"));
    let d = b.go(&cfg, "GET", "/ui/secure/x", &[]);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(401), "missing_credential"), "the session alone");
    let mut fresh = Browser::new();
    let d = fresh.go(&cfg, "GET", "/ui/secure/x", &[("authorization", &token), ("accept", "application/json")]);
    assert_eq!(d.status(), Some(401), "the token alone");
}

fn logout_token(claims: Value) -> String {
    let mut key = signing_key(crate::jwt::Alg::RS256);
    key.kid = Some("idp-1".into());
    let now = now();
    let mut body = json!({"iss": IDP, "aud": CLIENT_ID, "sub": "auth0|alice", "iat": now, "exp": now + 120,
                          "jti": "logout-1", "sid": "sid-alice",
                          "events": {"http://schemas.openid.net/event/backchannel-logout": {}}});
    if let (Some(b), Value::Object(over)) = (body.as_object_mut(), claims) {
        for (k, v) in over {
            if v.is_null() {
                b.remove(&k);
            } else {
                b.insert(k, v);
            }
        }
    }
    key.sign(&body, &mut rand_core::OsRng).unwrap()
}

fn backchannel_config() -> Arc<Config> {
    let mut v = session_config_json();
    v["session"]["backchannel_logout_path"] = json!("/oauth2/backchannel-logout");
    session_config_from(&v, &session_env)
}

/// The provider's POST, as the filter hands it over: headers first (the engine asks for the body), then the body.
fn post_logout(vm: &mut Vm, body: &str) -> Decision {
    let d = vm.request("POST", "/oauth2/backchannel-logout", "airflow.test", &[]);
    let Decision::ReadBody(r) = d else { panic!("expected the engine to ask for the body, got {d:?}") };
    assert_eq!(r.max, crate::oidc::logout_token::MAX_BODY);
    let mut rng = rand_core::OsRng;
    let mut w = crate::engine::World { now: vm.now, rng: &mut rng, store: &mut vm.store };
    vm.engine.on_request_body(body.as_bytes(), false, &mut w)
}

#[test]
fn a_back_channel_logout_ends_the_session_with_that_sid_on_every_vm_and_only_that_one() {
    let cfg = backchannel_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    assert!(matches!(b.navigate(&cfg, "/ui/dags"), Decision::Allow(_)), "control");
    // Another VM of the proxy receives the provider's POSTs: a second engine on the same store.
    let mut other = Vm::new(&cfg);
    std::mem::swap(&mut other.store, &mut b.vm.as_mut().unwrap().store);
    let elsewhere = logout_token(json!({"sid": "sid-of-another-browser", "jti": "logout-0"}));
    assert_eq!(post_logout(&mut other, &format!("logout_token={elsewhere}")).status(), Some(200));
    std::mem::swap(&mut other.store, &mut b.vm.as_mut().unwrap().store);
    assert!(matches!(b.navigate(&cfg, "/ui/dags"), Decision::Allow(_)), "another sid's logout leaves this one");
    std::mem::swap(&mut other.store, &mut b.vm.as_mut().unwrap().store);
    let d = post_logout(&mut other, &format!("logout_token={}", logout_token(json!({}))));
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(200), "backchannel_logout"));
    let Decision::Reply(r) = &d else { panic!() };
    assert!(r.headers.contains(&("cache-control".into(), "no-store".into())));
    std::mem::swap(&mut other.store, &mut b.vm.as_mut().unwrap().store);
    let d = b.go(&cfg, "GET", "/ui/dags", &[("accept", "application/json")]);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(401), "session_revoked"));
}

#[test]
fn a_logout_token_without_sid_ends_every_session_of_its_subject_signed_in_before_it() {
    let cfg = backchannel_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    let vm = b.vm.as_mut().unwrap();
    let d = post_logout(vm, &format!("logout_token={}", logout_token(json!({"sid": null}))));
    assert_eq!(d.status(), Some(200));
    let d = b.go(&cfg, "GET", "/ui/dags", &[("accept", "application/json")]);
    assert_eq!(d.verdict().reason.code(), "session_revoked");
    b.now += 5;
    signed_in(&mut b, &cfg, &["admin"]);
    assert!(matches!(b.navigate(&cfg, "/ui/dags"), Decision::Allow(_)), "signing in again after it works");
}

#[test]
fn logout_tokens_that_are_not_one_are_refused_with_400_and_change_nothing() {
    let cfg = backchannel_config();
    let mut b = Browser::new();
    signed_in(&mut b, &cfg, &["admin"]);
    let cases = [
        (String::new(), "logout_no_token"),
        (format!("logout_token={}", logout_token(json!({"events": null}))), "logout_no_event"),
        (format!("logout_token={}", logout_token(json!({"events": {"other": {}}}))), "logout_no_event"),
        (format!("logout_token={}", logout_token(json!({"nonce": "n"}))), "logout_nonce"),
        (format!("logout_token={}", logout_token(json!({"jti": null}))), "missing_claim"),
        (format!("logout_token={}", logout_token(json!({"aud": "someone-else"}))), "aud_mismatch"),
        (format!("logout_token={}", logout_token(json!({"iat": null}))), "missing_claim"),
        (format!("logout_token={0}&logout_token={0}", logout_token(json!({}))), "logout_no_token"),
        (format!("logout_token={}", id_token("n", &["admin"], now())), "logout_no_event"),
    ];
    for (body, code) in cases {
        let vm = b.vm.as_mut().unwrap();
        let d = post_logout(vm, &body);
        assert_eq!((d.status(), d.verdict().reason.code()), (Some(400), code), "{body}");
    }
    assert!(matches!(b.navigate(&cfg, "/ui/dags"), Decision::Allow(_)), "the session still works");
    let vm = b.vm.as_mut().unwrap();
    let d = vm.request("GET", "/oauth2/backchannel-logout", "airflow.test", &[]);
    assert_eq!(d.status(), Some(400), "only POST");
}

#[test]
fn a_logout_token_is_accepted_once() {
    let cfg = backchannel_config();
    let mut vm = Vm::new(&cfg);
    let body = format!("logout_token={}", logout_token(json!({"jti": "once"})));
    assert_eq!(post_logout(&mut vm, &body).status(), Some(200));
    let d = post_logout(&mut vm, &body);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(400), "logout_replayed"));
}

#[test]
fn discovered_endpoints_and_configured_ones_do_not_mix_and_discovery_needs_its_document() {
    let errors = |v: &Value| -> Vec<String> {
        match crate::config::load_config(v.to_string().as_bytes(), &session_env) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    };
    let mut v = session_config_json();
    v["session"]["provider"]["discover_endpoints"] = json!(true);
    let e = errors(&v);
    for want in [
        "$.session.provider.authorization_endpoint: comes from the discovery document",
        "$.session.provider.end_session_endpoint: comes from the discovery document",
        "$.session.provider.token_endpoint.path: comes from the discovery document",
        "$.session.provider.discover_endpoints: needs remote_jwks.discovery_path",
    ] {
        assert!(e.iter().any(|l| l.starts_with(want)), "{want} not in {e:?}");
    }
    let mut v = session_config_json();
    v["session"]["provider"].as_object_mut().unwrap().remove("authorization_endpoint");
    v["session"]["provider"]["token_endpoint"].as_object_mut().unwrap().remove("path");
    let e = errors(&v);
    for want in [
        "$.session.provider.authorization_endpoint: required (or \"discover_endpoints\": true)",
        "$.session.provider.token_endpoint.path: required (or \"discover_endpoints\": true)",
    ] {
        assert!(e.iter().any(|l| l.starts_with(want)), "{want} not in {e:?}");
    }
}

#[test]
fn the_headers_of_a_logout_post_lose_forged_identity_credentials_and_cookies_before_the_body_is_read() {
    let cfg = backchannel_config();
    let mut vm = Vm::new(&cfg);
    let pairs = [
        (":method", "POST"),
        (":path", "/oauth2/backchannel-logout"),
        (":authority", "airflow.test"),
        ("x-gatehouse-subject", "admin"),
        ("authorization", "Bearer x"),
        ("cookie", "a=b"),
    ]
    .map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec()))
    .to_vec();
    let mut rng = rand_core::OsRng;
    let mut w = crate::engine::World { now: vm.now, rng: &mut rng, store: &mut vm.store };
    let Decision::ReadBody(r) = vm.engine.on_request_headers(pairs, &mut w) else { panic!("expected ReadBody") };
    for name in ["x-gatehouse-subject", "authorization", "cookie"] {
        assert!(r.remove_headers.iter().any(|h| &**h == name), "{name}: {:?}", r.remove_headers);
    }
}
