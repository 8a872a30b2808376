//! Local replies: the one place that maps refusals to statuses, `WWW-Authenticate` and bodies.

use crate::config::Config;
use crate::decision::{Decision, Reply, Verdict};
use crate::policy::{ResponseFormat, Route};
use crate::reason::Reason;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deny {
    BadRequest,
    /// RFC 6750 §3.1 `invalid_request`: a malformed credential request (e.g. a token in two places).
    InvalidRequest,
    MissingCredential,
    InvalidToken,
    InsufficientScope,
    Forbidden,
    Unavailable,
}

pub fn verdict(route: Option<&Route>, reason: Reason, issuer: Option<String>) -> Verdict {
    Verdict {
        reason,
        route: route.map(|r| r.name.clone()),
        class: route.map_or_else(|| "unmatched".to_owned(), |r| r.class.clone()),
        issuer,
        subject: None,
    }
}

pub fn deny(
    cfg: &Config,
    route: Option<&Route>,
    format: ResponseFormat,
    deny: Deny,
    reason: Reason,
    issuer: Option<String>,
) -> Decision {
    let realm = &cfg.realm;
    // RFC 6750 §3: no error code when the request had no credential; `invalid_token` (401) or
    // `insufficient_scope` (403) otherwise. The reason code itself stays in our logs.
    let (status, challenge, generic) = match deny {
        Deny::BadRequest => (400, None, "bad_request"),
        Deny::InvalidRequest => {
            (400, Some(format!("Bearer realm=\"{realm}\", error=\"invalid_request\"")), "bad_request")
        }
        Deny::MissingCredential => (401, Some(format!("Bearer realm=\"{realm}\"")), "unauthorized"),
        Deny::InvalidToken => (401, Some(format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")), "unauthorized"),
        Deny::InsufficientScope => {
            (403, Some(format!("Bearer realm=\"{realm}\", error=\"insufficient_scope\"")), "forbidden")
        }
        Deny::Forbidden => (403, None, "forbidden"),
        Deny::Unavailable => (503, None, "identity_unavailable"),
    };
    let mut headers = Vec::new();
    if let Some(c) = challenge {
        headers.push(("www-authenticate".to_owned(), c));
    }
    if deny == Deny::Unavailable {
        headers.push(("retry-after".to_owned(), "30".to_owned()));
    }
    let body = match format {
        ResponseFormat::Json => {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
            format!("{{\"error\":\"{generic}\"}}\n")
        }
        ResponseFormat::Text => {
            headers.push(("content-type".to_owned(), "text/plain; charset=utf-8".to_owned()));
            format!("{generic}\n")
        }
    };
    headers.push(("cache-control".to_owned(), "no-store".to_owned()));
    Decision::Reply(Reply { status, headers, body, verdict: verdict(route, reason, issuer) })
}

/// Every answer of the sign-in flow is neither stored nor the source of a `Referer`: the callback's URL holds
/// the authorization code and state (RFC 9700 §4.2.4 recommends `Referrer-Policy: no-referrer`).
fn flow_headers() -> [(String, String); 2] {
    [("cache-control".to_owned(), "no-store".to_owned()), ("referrer-policy".to_owned(), "no-referrer".to_owned())]
}

/// A small HTML page for a person in a browser (sign-in failed or expired, provider unavailable).
pub fn page(status: u16, title: &str, message: &str, reason: Reason, cookies: Vec<String>) -> Decision {
    let mut headers = vec![("content-type".to_owned(), "text/html; charset=utf-8".to_owned())];
    headers.extend(flow_headers());
    if status == 503 {
        headers.push(("retry-after".to_owned(), "30".to_owned()));
    }
    headers.extend(cookies.into_iter().map(|c| ("set-cookie".to_owned(), c)));
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{m}</p><p><a href=\"/\">Start again</a></p></body></html>\n",
        t = escape(title),
        m = escape(message)
    );
    Decision::Reply(Reply { status, headers, body, verdict: verdict(None, reason, None) })
}

pub fn redirect(location: &str, cookies: Vec<String>, reason: Reason, route: Option<&Route>) -> Decision {
    let mut headers = vec![("location".to_owned(), location.to_owned())];
    headers.extend(flow_headers());
    headers.extend(cookies.into_iter().map(|c| ("set-cookie".to_owned(), c)));
    Decision::Reply(Reply { status: 302, headers, body: String::new(), verdict: verdict(route, reason, None) })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
