//! One Gatehouse in front of a dataplane of deployments: matching a request to its deployment by host and
//! path prefix, scopes of Direct Access Tokens, sessions and upstream tokens per deployment, and every
//! mistake in the table reported at once.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::decision::Decision;
use crate::jwt::Alg;
use crate::oidc::query_param;
use crate::policy::deployments::{Conflict, HostKey, Index, Place};
use crate::testing::*;

fn place(host: HostKey, prefix: Option<&str>) -> Place {
    Place { host, prefix: prefix.map(str::to_owned) }
}

#[test]
fn a_request_finds_its_deployment_by_exact_host_then_wildcard_then_any_host_and_the_longest_prefix() {
    let mut ix = Index::default();
    ix.add(0, &place(HostKey::Exact("a.test".into()), None)).unwrap();
    ix.add(1, &place(HostKey::Suffix(".d.test".into()), None)).unwrap();
    ix.add(2, &place(HostKey::Exact("cluster.test".into()), Some("/x"))).unwrap();
    ix.add(3, &place(HostKey::Exact("cluster.test".into()), Some("/y/z"))).unwrap();
    ix.add(4, &place(HostKey::Any, Some("/shared"))).unwrap();
    assert_eq!(ix.find("a.test", "/anything"), Some((0, 0)));
    assert_eq!(ix.find("one.d.test", "/"), Some((1, 0)));
    assert_eq!(ix.find("two.one.d.test", "/"), Some((1, 0)));
    assert_eq!(ix.find("d.test", "/"), None, "a wildcard is for subdomains, not the apex");
    assert_eq!(ix.find("cluster.test", "/x/api/dags"), Some((2, 2)));
    assert_eq!(ix.find("cluster.test", "/x"), Some((2, 2)));
    assert_eq!(ix.find("cluster.test", "/xy"), None, "prefixes end at a segment boundary");
    assert_eq!(ix.find("cluster.test", "/y/z/ui"), Some((3, 4)));
    assert_eq!(ix.find("cluster.test", "/y"), None);
    assert_eq!(ix.find("elsewhere.test", "/shared/api"), Some((4, 7)));
}

#[test]
fn two_deployments_at_one_place_or_with_nested_prefixes_on_one_host_conflict() {
    let mut ix = Index::default();
    ix.add(0, &place(HostKey::Exact("h.test".into()), Some("/a"))).unwrap();
    assert_eq!(ix.add(1, &place(HostKey::Exact("h.test".into()), Some("/a"))), Err(Conflict::Same { earlier: 0 }));
    assert_eq!(ix.add(2, &place(HostKey::Exact("h.test".into()), Some("/a/b"))), Err(Conflict::Nested { other: 0 }));
    ix.add(3, &place(HostKey::Exact("h.test".into()), Some("/ab"))).unwrap();
    ix.add(4, &place(HostKey::Exact("other.test".into()), Some("/a"))).unwrap();
}

#[test]
fn finding_a_deployment_costs_the_same_with_ten_thousand_of_them() {
    let mut ix = Index::default();
    for i in 0..10_000 {
        ix.add(i, &place(HostKey::Exact("cluster.test".into()), Some(&format!("/dep-{i}")))).unwrap();
        ix.add(i, &place(HostKey::Exact(format!("dep-{i}.test")), None)).unwrap();
    }
    assert_eq!(ix.find("cluster.test", "/dep-9999/api/v2/dags"), Some((9999, 9)));
    assert_eq!(ix.find("dep-4242.test", "/api"), Some((4242, 0)));
}

/// The session fixture as a dataplane of four deployments: two on one cluster host by path prefix, one on
/// its own host with its own Airflow token, one on a wildcard host in another organization.
fn dataplane_json() -> Value {
    let mut v = session_config_json();
    v.as_object_mut().unwrap().remove("dataplane");
    v["deployments"] = json!([
        {"deployment_id": "dep-a", "organization_id": ORG, "workspace_id": WS, "hosts": ["cluster.test"], "path_prefix": "/a"},
        {"deployment_id": "dep-b", "organization_id": ORG, "workspace_id": WS, "hosts": ["cluster.test"], "path_prefix": "/b"},
        {"deployment_id": "dep-c", "organization_id": ORG, "workspace_id": "ws-2", "hosts": ["c.test"],
         "redirect_uri": "https://c.test/oauth2/callback",
         "upstream_token": {"signing": {"alg": "HS512", "secret_env": "AIRFLOW_SECRET_C"}, "audience": "airflow-c",
                            "roles": {"admin": "ADMIN"}, "direct_access_roles": {"ADMIN": "ADMIN", "VIEWER": "VIEWER"}}},
        {"deployment_id": "dep-d", "organization_id": "org-2", "workspace_id": "ws-9", "hosts": ["*.d.test"]}
    ]);
    v
}

fn dataplane_env(name: &str) -> Option<String> {
    match name {
        "AIRFLOW_SECRET_C" => Some("c".repeat(64)),
        other => session_env(other),
    }
}

fn dataplane() -> Arc<Config> {
    session_config_from(&dataplane_json(), &dataplane_env)
}

fn token(scope: &str, org: &str, ws: Option<&str>, dep: Option<&str>) -> String {
    let mut c: Map<String, Value> = dat();
    c.insert("scope_type".into(), json!(scope));
    c.insert("organization_id".into(), json!(org));
    c.remove("workspace_id");
    c.remove("deployment_id");
    if let Some(ws) = ws {
        c.insert("workspace_id".into(), json!(ws));
    }
    if let Some(dep) = dep {
        c.insert("deployment_id".into(), json!(dep));
    }
    sign(&c, Alg::ES256)
}

fn api(vm: &mut Vm, host: &str, path: &str, token: &str) -> Decision {
    vm.request("GET", path, host, &[("authorization", &format!("Bearer {token}")), ("accept", "application/json")])
}

fn header<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    let Decision::Allow(a) = d else { return None };
    a.set_headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn a_token_opens_the_deployments_its_scope_covers_and_the_upstream_learns_which_one() {
    let cfg = dataplane();
    let mut vm = Vm::new(&cfg);
    let org = token("organization", ORG, None, None);
    let ws = token("workspace", ORG, Some(WS), None);
    let dep = token("deployment", ORG, Some(WS), Some("dep-a"));
    let places = [
        ("cluster.test", "/a/api/dags"),
        ("cluster.test", "/b/api/dags"),
        ("c.test", "/api/dags"),
        ("x.d.test", "/api/dags"),
    ];
    let outcome = |vm: &mut Vm, t: &str| -> Vec<(u16, String)> {
        places
            .iter()
            .map(|(h, p)| {
                let d = api(vm, h, p, t);
                (d.status().unwrap_or(200), d.verdict().reason.code().to_owned())
            })
            .collect()
    };
    let ok = || (200, "verified".to_owned());
    let scope = || (403, "scope_mismatch".to_owned());
    assert_eq!(outcome(&mut vm, &org), [ok(), ok(), ok(), scope()], "organization: every deployment of org-1");
    assert_eq!(outcome(&mut vm, &ws), [ok(), ok(), scope(), scope()], "workspace: dep-a and dep-b");
    assert_eq!(outcome(&mut vm, &dep), [ok(), scope(), scope(), scope()], "deployment: dep-a only");

    let d = api(&mut vm, "cluster.test", "/b/api/dags", &org);
    assert_eq!(header(&d, "x-gatehouse-deployment"), Some("dep-b"));
    assert_eq!(header(&d, "x-gatehouse-scope"), Some("organization:org-1"));
    let d = api(&mut vm, "x.d.test", "/api/dags", &token("deployment", "org-2", Some("ws-9"), Some("dep-d")));
    assert_eq!((d.status(), header(&d, "x-gatehouse-deployment")), (None, Some("dep-d")));
}

#[test]
fn a_request_for_no_deployment_of_the_dataplane_is_refused_with_its_own_reason() {
    let cfg = dataplane();
    let mut vm = Vm::new(&cfg);
    let org = token("organization", ORG, None, None);
    for (host, path) in
        [("cluster.test", "/api/dags"), ("cluster.test", "/z/api/dags"), ("unknown.test", "/a/api/dags")]
    {
        let d = api(&mut vm, host, path, &org);
        assert_eq!((d.status(), d.verdict().reason.code()), (Some(403), "no_deployment"), "{host}{path}");
    }
}

#[test]
fn each_deployment_gets_its_own_upstream_token() {
    use base64::Engine as _;
    let cfg = dataplane();
    let mut vm = Vm::new(&cfg);
    let org = token("organization", ORG, None, None);
    let claims = |d: &Decision| -> Value {
        let auth = header(d, "authorization").unwrap().strip_prefix("Bearer ").unwrap().to_owned();
        let payload = auth.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let a = claims(&api(&mut vm, "cluster.test", "/a/api/dags", &org));
    let c = claims(&api(&mut vm, "c.test", "/api/dags", &org));
    assert_eq!(c["aud"], json!("airflow-c"), "dep-c's own token");
    assert_ne!(a["aud"], c["aud"]);
    // The cached token of one deployment is never given to another.
    let a_again = claims(&api(&mut vm, "cluster.test", "/a/api/dags", &org));
    assert_eq!(a_again["aud"], a["aud"]);
}

/// Signs in to the deployment at `host` + `prefix` through the shared callback, as a browser would.
fn sign_in(vm: &mut Vm, host: &str, prefix: &str) -> Vec<(String, String)> {
    let nav = [("accept", "text/html"), ("sec-fetch-mode", "navigate")];
    let start = vm.request("GET", &format!("{prefix}/ui/dags"), host, &nav);
    let Decision::Reply(r) = &start else { panic!("{start:?}") };
    let location = &r.headers.iter().find(|(n, _)| n == "location").unwrap().1;
    let query = location.split_once('?').unwrap().1;
    let (state, nonce) = (query_param(query, "state").unwrap(), query_param(query, "nonce").unwrap());
    let redirect = query_param(query, "redirect_uri").unwrap();
    let flow = r.headers.iter().find(|(n, v)| n == "set-cookie" && v.contains("-flow-")).unwrap();
    let flow_cookie = flow.1.split(';').next().unwrap().to_owned();
    let callback_host = redirect.split('/').nth(2).unwrap().to_owned();
    let mut headers = nav.to_vec();
    headers.push(("cookie", &flow_cookie));
    let d = vm.request("GET", &format!("/oauth2/callback?code=c&state={state}"), &callback_host, &headers);
    let Decision::Call(call) = d else { panic!("{d:?}") };
    let (pending, sent) = split(call);
    let body = String::from_utf8(sent.body).unwrap();
    assert_eq!(query_param(&body, "redirect_uri").unwrap(), redirect, "the code goes with the redirect it came to");
    let tokens =
        json!({"token_type": "Bearer", "access_token": "at", "id_token": id_token(&nonce, &["admin"], vm.now)});
    let ok = crate::call::CallResponse::answered(200, Some("application/json"), tokens.to_string().into_bytes());
    let d = vm.answer(pending, ok);
    let Decision::Reply(r) = &d else { panic!("{d:?}") };
    assert_eq!(r.headers.iter().find(|(n, _)| n == "location").unwrap().1, format!("{prefix}/ui/dags"));
    r.headers
        .iter()
        .filter(|(n, v)| n == "set-cookie" && !v.contains("Max-Age=0"))
        .map(|(_, v)| {
            let (n, v) = v.split(';').next().unwrap().split_once('=').unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect()
}

fn with_cookies(vm: &mut Vm, host: &str, path: &str, jar: &[(String, String)]) -> Decision {
    let cookie = jar.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
    vm.request("GET", path, host, &[("cookie", &cookie), ("accept", "application/json")])
}

#[test]
fn a_session_for_one_deployment_never_opens_another_on_the_same_host_or_by_its_value() {
    let cfg = dataplane();
    let mut vm = Vm::new(&cfg);
    let a = sign_in(&mut vm, "cluster.test", "/a");
    assert_eq!(a.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["__Host-gatehouse-dep-a"], "its own cookie");
    let d = with_cookies(&mut vm, "cluster.test", "/a/ui/dags", &a);
    assert_eq!((d.status(), header(&d, "x-gatehouse-deployment")), (None, Some("dep-a")));
    let d = with_cookies(&mut vm, "cluster.test", "/b/ui/dags", &a);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(401), "no_session"), "B has no session");
    // The same value under B's name (copied by hand) does not open either, cached as A's or not.
    let as_b: Vec<(String, String)> = a.iter().map(|(_, v)| ("__Host-gatehouse-dep-b".to_owned(), v.clone())).collect();
    let d = with_cookies(&mut vm, "cluster.test", "/b/ui/dags", &as_b);
    assert_eq!(d.status(), Some(401));
    let d = with_cookies(&mut Vm::new(&cfg), "cluster.test", "/b/ui/dags", &as_b);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(401), "cookie_decrypt"));
}

#[test]
fn a_deployment_on_its_own_host_signs_in_through_its_own_callback_and_a_cookie_of_the_same_name_elsewhere_fails() {
    let cfg = dataplane();
    let mut vm = Vm::new(&cfg);
    let c = sign_in(&mut vm, "c.test", "");
    assert_eq!(c.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["__Host-gatehouse"]);
    assert_eq!(with_cookies(&mut vm, "c.test", "/ui/dags", &c).status(), None);
    // Same name on another host of the dataplane (a browser would not send it; a client can): bound to dep-c.
    let d = with_cookies(&mut vm, "x.d.test", "/ui/dags", &c);
    assert_eq!(d.status(), Some(401));
}

#[test]
fn logout_ends_the_session_of_its_own_deployment_only() {
    let cfg = dataplane();
    let mut vm = Vm::new(&cfg);
    let mut jar = sign_in(&mut vm, "cluster.test", "/a");
    jar.extend(sign_in(&mut vm, "cluster.test", "/b"));
    let d = with_cookies(&mut vm, "cluster.test", "/b/api/v2/auth/logout", &jar);
    let Decision::Reply(r) = &d else { panic!("{d:?}") };
    let cleared: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, v)| n == "set-cookie" && v.contains("Max-Age=0"))
        .map(|(_, v)| v.split('=').next().unwrap())
        .collect();
    assert_eq!(cleared, ["__Host-gatehouse-dep-b"]);
}

#[test]
fn every_mistake_in_the_deployment_table_is_reported_at_once_with_its_path() {
    let mut v = dataplane_json();
    v["deployments"][1]["path_prefix"] = json!("/a/nested");
    v["deployments"][2]["deployment_id"] = json!("dep-a");
    v["deployments"][3]["hosts"] = json!(["c.test"]);
    v["deployments"][3]["path_prefix"] = json!("/trailing/");
    v["deployments"]
        .as_array_mut()
        .unwrap()
        .push(json!({"deployment_id": "dep-e", "organization_id": ORG, "workspace_id": WS}));
    v["dataplane"] = json!({"organization_id": ORG, "workspace_id": WS, "deployment_id": DEP});
    let errs = crate::load_config(v.to_string().as_bytes(), &dataplane_env).unwrap_err().to_string();
    for want in [
        "$.deployments[1].path_prefix: overlaps the path prefix of $.deployments[0]",
        "$.deployments[2].deployment_id: duplicate deployment_id \"dep-a\"",
        "$.deployments[3].path_prefix: expected a normalized path",
        "$.deployments[3]: claims the same host and path as $.deployments[2]",
        "$.deployments[4]: with several deployments, each needs \"hosts\", \"path_prefix\" or both",
        "$.deployments: give either \"dataplane\"",
    ] {
        assert!(errs.contains(want), "missing {want:?} in\n{errs}");
    }
}

#[test]
fn a_deployment_can_have_routes_and_roles_of_its_own_over_the_shared_ones() {
    let mut v = dataplane_json();
    v["deployments"][0]["routes"] = json!([{"name": "a-status", "path": {"exact": "/status"}, "require": "public"}]);
    v["deployments"][0]["roles"] = json!({"VIEWER": ["read", "operate", "admin"]});
    let cfg = session_config_from(&v, &dataplane_env);
    let mut vm = Vm::new(&cfg);
    let d = vm.request("GET", "/a/status", "cluster.test", &[]);
    assert_eq!((d.status(), d.verdict().reason.code()), (None, "public"), "dep-a's own route");
    let d = vm.request("GET", "/b/status", "cluster.test", &[]);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(403), "no_route"), "not dep-b's");
    // A viewer is an admin in dep-a (its own table), a viewer elsewhere (the shared one).
    let viewer = {
        let mut c = dat();
        c.insert("scope_type".into(), json!("workspace"));
        c.remove("deployment_id");
        c.insert("role".into(), json!("VIEWER"));
        sign(&c, Alg::ES256)
    };
    assert_eq!(api(&mut vm, "cluster.test", "/a/api/admin/settings", &viewer).status(), None);
    let d = api(&mut vm, "cluster.test", "/b/api/admin/settings", &viewer);
    assert_eq!((d.status(), d.verdict().reason.code()), (Some(403), "insufficient_permissions"));
}

#[test]
fn rollout_flags_can_name_the_routes_and_classes_a_deployment_defines_itself() {
    let mut v = dataplane_json();
    v["deployments"][0]["routes"] = json!([
        {"name": "a-runs", "class": "a-api", "path": {"prefix": "/runs"}, "require": "bearer"},
        {"name": "a-jobs", "path": {"prefix": "/jobs"}, "require": "bearer"}
    ]);
    v["rollout"] = json!({"classes": {"a-api": {"mode": "off"}}, "routes": {"a-jobs": {"mode": "off"}}});
    let cfg = session_config_from(&v, &dataplane_env);
    let mut vm = Vm::new(&cfg);
    for path in ["/a/runs/1", "/a/jobs/1"] {
        let d = vm.request("GET", path, "cluster.test", &[]);
        assert_eq!((d.status(), d.verdict().reason.code()), (None, "rollout_off"), "{path}");
    }
    let d = vm.request("GET", "/a/api/x", "cluster.test", &[("accept", "application/json")]);
    assert_eq!(d.status(), Some(401), "the shared routes stay enforced");
    // A flag naming a class or route no deployment defines is still a mistake.
    v["rollout"] = json!({"classes": {"a-apj": {"mode": "off"}}, "routes": {"a-jbos": {"mode": "off"}}});
    let text = crate::load_config(v.to_string().as_bytes(), &dataplane_env).unwrap_err().to_string();
    assert!(text.contains("$.rollout.classes.a-apj") && text.contains("$.rollout.routes.a-jbos"), "{text}");
}
