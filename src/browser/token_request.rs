//! A token endpoint request (RFC 6749 §4.1.3, §6; RFC 8693 §2.1) with the configured client authentication.

use crate::config::{ClientAuth, SessionConfig, TokenEndpoint};
use crate::decision::{Call, Pending, Verdict};
use crate::oidc::form;

pub fn call(sc: &SessionConfig, t: &TokenEndpoint, grant: &[(&str, &str)], then: Pending, verdict: Verdict) -> Call {
    let (headers, body) = request(sc, t, grant);
    Call { cluster: t.cluster.clone(), headers, body, timeout_ms: t.timeout_ms, then, verdict }
}

fn request(sc: &SessionConfig, t: &TokenEndpoint, grant: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let p = &sc.provider;
    let mut headers = vec![
        (":method".to_owned(), "POST".to_owned()),
        (":path".to_owned(), t.path.clone()),
        (":authority".to_owned(), t.authority.clone()),
        ("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
        ("accept".to_owned(), "application/json".to_owned()),
    ];
    let secret = String::from_utf8_lossy(p.client_secret.expose()).into_owned();
    let mut fields: Vec<(&str, &str)> = grant.to_vec();
    match p.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
            let userpass = format!("{}:{}", form_component(&p.client_id), form_component(&secret));
            let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, userpass.as_bytes());
            headers.push(("authorization".to_owned(), format!("Basic {basic}")));
        }
        ClientAuth::Post => {
            fields.push(("client_id", &p.client_id));
            fields.push(("client_secret", &secret));
        }
    }
    (headers, form(&fields).into_bytes())
}

fn form_component(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
