//! Claims passed on to the upstream and to later Envoy filters: rendering, header smuggling, the payload
//! header, keeping the credential, filter state, and the configuration's checks.

use serde_json::{json, Value};

use crate::claim_forward::ForwardClaim;
use crate::config::load_config;
use crate::decision::Decision;
use crate::jwt::{Alg, Claims, JwtError};
use crate::testing::*;

fn claims(v: Value) -> Claims {
    match v {
        Value::Object(m) => Claims::new(m),
        _ => Claims::default(),
    }
}

fn mapping(path: &[&str], separator: &str) -> ForwardClaim {
    ForwardClaim {
        path: path.iter().map(|s| (*s).to_owned()).collect(),
        header: Some("x-c".into()),
        property: None,
        separator: separator.into(),
        index: 0,
    }
}

#[test]
fn claims_render_plainly_whatever_their_json_type() {
    let c = claims(json!({"s": "text", "n": 42, "f": 1.5, "b": false, "a": ["x", 2, true], "o": {"in": {"deep": "v"}},
                          "https://x.test/roles": ["r1"], "nul": null}));
    let r = |path: &[&str]| mapping(path, ",").render(&c);
    assert_eq!(r(&["s"]), Ok(Some("text".into())));
    assert_eq!(r(&["n"]), Ok(Some("42".into())));
    assert_eq!(r(&["f"]), Ok(Some("1.5".into())));
    assert_eq!(r(&["b"]), Ok(Some("false".into())));
    assert_eq!(r(&["a"]), Ok(Some("x,2,true".into())));
    assert_eq!(r(&["o", "in", "deep"]), Ok(Some("v".into())));
    assert_eq!(r(&["https://x.test/roles"]), Ok(Some("r1".into())));
    assert_eq!(mapping(&["a"], " | ").render(&c), Ok(Some("x | 2 | true".into())));
    for absent in [&["missing"][..], &["o"], &["o", "nope"], &["nul"], &["s", "deeper"]] {
        assert_eq!(r(absent), Ok(None), "{absent:?}");
    }
}

#[test]
fn claim_values_that_would_smuggle_header_content_are_type_errors() {
    let c = claims(json!({"crlf": "a\r\nx-admin: 1", "del": "a\u{7f}", "c1": "a\u{85}", "sep": ["a,b"],
                          "nested": [["a"]], "obj": [{"k": 1}]}));
    for name in ["crlf", "del", "c1", "sep", "nested", "obj"] {
        assert_eq!(mapping(&[name], ",").render(&c), Err(JwtError::ClaimType(name.into())), "{name}");
    }
    assert_eq!(mapping(&["sep"], ";").render(&c), Ok(Some("a,b".into())), "only the chosen separator splits");
}

fn auth0(claims: Value) -> String {
    let mut key = signing_key(Alg::RS256);
    key.kid = Some("auth0-1".into());
    let now = now();
    let mut body = json!({"iss": AUTH0, "aud": "https://api.test", "sub": "auth0|bob", "iat": now, "exp": now + 600,
                          "permissions": ["read"]});
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), claims) {
        b.extend(extra);
    }
    key.sign(&body, &mut rand_core::OsRng).unwrap()
}

fn forwarding_config(forward: bool) -> std::sync::Arc<crate::config::Config> {
    let mut v = config_json();
    v["issuers"][1]["forward_claims"] = json!([
        {"claim": "email", "header": "x-email"},
        {"claim": "tier", "filter_state": "tier"}
    ]);
    v["issuers"][1]["forward_payload_header"] = json!("x-payload");
    v["issuers"][1]["forward"] = json!(forward);
    v["identity_filter_state"] = json!(true);
    config_from(&v)
}

fn allow(d: Decision) -> crate::decision::Allow {
    match d {
        Decision::Allow(a) => a,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_verified_token_passes_its_mapped_claims_payload_and_filter_state_on() {
    let cfg = forwarding_config(false);
    let token = auth0(json!({"email": "bob@example.com", "tier": "gold"}));
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str()), ("x-email", "forged"), ("x-payload", "forged")];
    let a = allow(Vm::new(&cfg).request("GET", "/api/x", "gatehouse.test", &headers));
    let set = |n: &str| a.set_headers.iter().find(|(h, _)| h == n).map(|(_, v)| v.as_str());
    assert_eq!(set("x-email"), Some("bob@example.com"));
    assert_eq!(set("x-payload"), token.split('.').nth(1));
    assert!(a.removes("x-email") && a.removes("x-payload") && a.removes("authorization"));
    let prop =
        |n: &str| a.properties.iter().find(|(k, _)| k == n).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    assert_eq!(prop("gatehouse.claim.tier").as_deref(), Some("gold"));
    assert_eq!(prop("gatehouse.subject").as_deref(), Some("auth0|bob"));
    assert_eq!(prop("gatehouse.issuer").as_deref(), Some("auth0"));
    assert_eq!(prop("gatehouse.deployment").as_deref(), Some(DEP));
}

#[test]
fn forward_keeps_the_credential_only_for_the_issuer_that_asks() {
    let cfg = forwarding_config(true);
    let auth = format!("Bearer {}", auth0(json!({})));
    let a = allow(Vm::new(&cfg).request("GET", "/api/x", "gatehouse.test", &[("authorization", &auth)]));
    assert!(!a.removes("authorization"));
    let dat = format!("Bearer {}", sign(&dat(), Alg::ES256));
    let a = allow(Vm::new(&cfg).request("GET", "/api/x", "gatehouse.test", &[("authorization", &dat)]));
    assert!(a.removes("authorization"));
}

#[test]
fn claim_forwarding_mistakes_are_reported_with_their_paths() {
    let mut v = config_json();
    v["issuers"][1]["forward_claims"] = json!([
        {"claim": "a", "claim_path": ["a"], "header": "x-a"},
        {"claim": "b"},
        {"claim": "a..b", "header": "x-b"},
        {"claim": "c", "header": "x-gatehouse-subject"},
        {"claim": "d", "header": "X-Upper"}
    ]);
    let e: Vec<String> = match load_config(v.to_string().as_bytes(), &env) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    for want in [
        "$.issuers[1].forward_claims[0]: give exactly one of",
        "$.issuers[1].forward_claims[1]: give \"header\", \"filter_state\" or both",
        "$.issuers[1].forward_claims[2]: a claim name has an empty member",
        "$.issuers[1].forward_claims[3].header: \"x-gatehouse-subject\" is already an identity header",
        "$.issuers[1].forward_claims[4].header: \"X-Upper\" is not a lower-case HTTP header name",
    ] {
        assert!(e.iter().any(|l| l.starts_with(want)), "{want} not in {e:?}");
    }
}
