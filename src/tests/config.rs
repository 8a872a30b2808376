use serde_json::json;

use crate::config::{load_config, ConfigErrors};
use crate::testing::*;

fn errors(v: &serde_json::Value) -> ConfigErrors {
    match load_config(v.to_string().as_bytes(), &env) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

fn lines(e: &ConfigErrors) -> Vec<String> {
    e.iter().map(ToString::to_string).collect()
}

#[test]
fn the_fixture_configuration_loads() {
    let cfg = config();
    assert_eq!(cfg.routes.len(), 7);
    assert_eq!(cfg.issuers.len(), 2);
    assert_eq!(cfg.issuers[0].keys.len(), 13);
}

#[test]
fn every_problem_is_reported_at_once_each_with_its_json_path() {
    let mut v = config_json();
    v["routes"][0]["require"] = json!("publik");
    v["routes"][1]["pathh"] = json!({"exact": "/x"});
    v["routes"][2]["methods"] = json!(["get"]);
    v["issuers"][0]["leeway_seconds"] = json!(-1);
    v["dataplane"]["deployment_id"] = json!(7);
    v["surprise"] = json!(true);
    let got = lines(&errors(&v));
    let want = [
        "$.dataplane.deployment_id: expected a string; got a number",
        "$.issuers[0].leeway_seconds: expected an integer from 0 to 300; got -1",
        "$.routes[0].require: expected one of \"public\", \"bearer\", \"session\", \"bearer_or_session\", {\"any_of\": [...]} or {\"all_of\": [...]}; got \"publik\"",
        "$.routes[1].pathh: unknown field (did you mean \"path\"?); expected one of: name, class, hosts, path, methods, require, permissions, response, on_unauthenticated, issuers, audiences, allow_missing, allow_missing_or_failed, on_unavailable",
        "$.routes[2].methods[0]: expected an upper-case method, one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE; got \"get\"",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w:?} in\n{}", got.join("\n"));
    }
    assert!(got.iter().any(|g| g.starts_with("$.surprise: unknown field")), "{got:?}");
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted, "messages are sorted for stable output");
}

#[test]
fn secrets_come_from_the_environment_and_are_checked_without_being_printed() {
    let mut v = config_json();
    v["issuers"][0]["hmac_keys"] = json!([
        {"kid": "a", "alg": "HS256", "secret_env": "NOT_SET_ANYWHERE"},
        {"kid": "b", "alg": "HS512", "secret_env": "SHORT"}
    ]);
    let short = |name: &str| (name == "SHORT").then(|| "too-short-secret".to_owned());
    let e = load_config(v.to_string().as_bytes(), &short).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("$.issuers[0].hmac_keys[0].secret_env: environment variable NOT_SET_ANYWHERE is not set"),
        "{text}"
    );
    assert!(
        text.contains("$.issuers[0].hmac_keys[1].secret_env: HS512 needs a secret of at least 64 bytes; SHORT has 16"),
        "{text}"
    );
    assert!(!text.contains("too-short-secret"));
}

#[test]
fn keys_that_break_one_key_one_algorithm_or_leak_private_material_are_refused() {
    let mut v = config_json();
    let mut no_alg = public_jwk("p256", crate::jwt::Alg::ES256, "x1");
    no_alg.as_object_mut().unwrap().remove("alg");
    let mut private = public_jwk("p256", crate::jwt::Alg::ES256, "x2");
    private["d"] = json!("AAAA");
    let wrong_curve = public_jwk("p384", crate::jwt::Alg::ES256, "x3");
    v["issuers"][1]["jwks"]["keys"] =
        json!([no_alg, private, wrong_curve, {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "x4"}]);
    let text = errors(&v).to_string();
    for want in [
        "$.issuers[1].jwks.keys[0].alg: required: every key is pinned to one algorithm",
        "$.issuers[1].jwks.keys[1].d: private key material must not be in the configuration",
        "$.issuers[1].jwks.keys[2].crv: expected \"P-256\"",
        "$.issuers[1].jwks.keys[3].alg: HMAC keys are configured with secret_env, not inline",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn cross_references_and_duplicates_are_checked_at_load() {
    let mut v = config_json();
    v["routes"][1]["name"] = json!("health");
    v["issuers"][1]["issuer"] = json!(PLATFORM);
    v["routes"][3]["path"] = json!({"prefix": "/api/../x"});
    v["routes"][4]["path"] = json!({"regex": "(unclosed"});
    v["routes"][5]["path"] = json!({"exact": "/a", "prefix": "/a"});
    v["routes"][0]["permissions"] = json!(["read"]);
    v["identity_headers"] = json!({"subject": "authorization", "role": "X-Role"});
    let text = errors(&v).to_string();
    for want in [
        "$.routes[1].name: duplicate route name \"health\"",
        "$.issuers[1].issuer: another issuer already has iss",
        "$.routes[3].path.prefix: \"/api/../x\" is not a normalized path; write \"/x\"",
        "$.routes[4].path.regex: invalid regex",
        "$.routes[5].path: expected exactly one of \"exact\", \"prefix\", \"regex\"; got 2",
        "$.routes[0].permissions: a public route cannot require permissions",
        "$.identity_headers.subject: \"authorization\" is reserved and cannot carry identity",
        "$.identity_headers.role: \"X-Role\" is not a lower-case HTTP header name",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn invalid_json_and_non_object_documents_get_one_clear_error() {
    assert!(load_config(b"{", &env).unwrap_err().to_string().starts_with("$: not valid JSON"));
    assert_eq!(load_config(b"[]", &env).unwrap_err().to_string(), "$: expected an object; got an array");
    let text = load_config(b"{}", &env).unwrap_err().to_string();
    assert!(text.contains("$.dataplane: required field is missing"), "{text}");
    assert!(text.contains("$.routes: required field is missing"), "{text}");
}

#[test]
fn forged_header_list_covers_dash_and_underscore_spellings() {
    let cfg = config();
    for h in ["x-gatehouse-subject", "x_gatehouse_subject", "x-gatehouse-role", "x_gatehouse_role"] {
        assert!(cfg.forged_headers.iter().any(|f| f == h), "{h}");
    }
}

#[test]
fn issuer_kind_is_required_and_key_ids_must_be_unambiguous_across_inline_and_hmac_keys() {
    let mut v = config_json();
    v["issuers"][1].as_object_mut().unwrap().remove("kind");
    v["issuers"][1]["hmac_keys"] = json!([{"alg": "HS256", "secret_env": "HMAC_HS256"}]);
    let text = errors(&v).to_string();
    assert!(text.contains("$.issuers[1].kind: required field is missing"), "{text}");
    assert!(text.contains("$.issuers[1]: with more than one key every key needs a \"kid\""), "{text}");
}

#[test]
fn host_patterns_that_could_never_match_and_empty_lists_are_refused() {
    let mut v = config_json();
    v["routes"][6]["hosts"] =
        json!(["static.test:x", "::1", "Static.test", "*.cdn.test:443", "static.test:8443", "[::1]"]);
    v["routes"][5]["methods"] = json!([]);
    let text = errors(&v).to_string();
    for i in 0..4 {
        assert!(
            text.contains(&format!("$.routes[6].hosts[{i}]: expected a lower-case host with an optional port")),
            "{i}: {text}"
        );
    }
    for i in 4..6 {
        assert!(!text.contains(&format!("$.routes[6].hosts[{i}]")), "{i}: {text}");
    }
    assert!(text.contains("$.routes[5].methods: an empty list matches nothing"), "{text}");
}

#[test]
fn header_name_collisions_are_refused() {
    let mut v = config_json();
    v["identity_headers"] = json!({"subject": "x-who", "role": "x-who"});
    v["token_sources"] = json!([{"header": "authorization", "scheme": "Bearer"}, {"header": "authorization"}, {"header": "x-gatehouse-subject"}]);
    v["strip_request_headers"] = json!(["host"]);
    let text = errors(&v).to_string();
    for want in [
        "$.identity_headers.role: \"x-who\" is already used by another identity header",
        "$.token_sources[1].header: header \"authorization\" is already a token source",
        "$.token_sources[2].header: \"x-gatehouse-subject\" is also an identity header",
        "$.strip_request_headers[0]: \"host\" cannot be stripped",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn bearer_routes_without_any_issuer_are_refused() {
    let mut v = config_json();
    v["issuers"] = json!([]);
    let text = errors(&v).to_string();
    assert!(
        text.contains("$.routes[1].require: route \"admin\" needs bearer tokens but no issuers are configured"),
        "{text}"
    );
}
