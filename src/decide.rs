//! Request in, decision out. The one place that maps failures to statuses and `WWW-Authenticate`.

use crate::config::{Config, CorsPreflight, Unmatched};
use crate::dat::{identify, Identity, IdentityError};
use crate::decision::{Allow, Decision, Reply, Verdict};
use crate::jwt::verify_token;
use crate::policy::host::normalize_host;
use crate::policy::{find_route, normalize_path, Requirement, ResponseFormat, Route};
use crate::request::Request;
use crate::secret::Credential;
use crate::upstream;

pub fn decide<'c>(cfg: &'c Config, req: &Request<'_>, now: u64) -> Decision<'c> {
    let (path, query) = match normalize_path(req.path) {
        Ok(p) => p,
        Err(e) => return reply(cfg, None, ResponseFormat::Json, Deny::BadRequest, e.code(), None),
    };
    let host = normalize_host(req.authority);
    let route = find_route(&cfg.routes, &host, &path, req.method);
    let mut set_headers = Vec::new();
    // The upstream must see the path the rules matched, not a spelling it might resolve differently.
    if Some(path.as_str()) != req.path.split('?').next() {
        let rewritten = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        set_headers.push((":path".to_owned(), rewritten));
    }

    let Some(route) = route else {
        return match cfg.unmatched {
            Unmatched::Deny => reply(cfg, None, ResponseFormat::Json, Deny::Forbidden, "no_route", None),
            Unmatched::Allow => allow(cfg, None, "unmatched_allowed", None, Vec::new(), set_headers),
        };
    };
    // Preflights carry no credentials (Fetch §3.2.2), so they pass to a route's upstream unauthenticated;
    // only for a route that exists, so they cannot probe past `unmatched: deny`.
    if cfg.cors_preflight == CorsPreflight::Pass && is_preflight(req) {
        return allow(cfg, Some(route), "cors_preflight", None, Vec::new(), set_headers);
    }
    match route.require {
        Requirement::Public => allow(cfg, Some(route), "public", None, Vec::new(), set_headers),
        // Browser sessions arrive with the OIDC login; until then a session route cannot be satisfied.
        Requirement::Session => reply(cfg, Some(route), route.response, Deny::Session, "session_unavailable", None),
        Requirement::Bearer | Requirement::BearerOrSession => bearer(cfg, route, req, now, set_headers),
    }
}

fn is_preflight(req: &Request<'_>) -> bool {
    req.method == "OPTIONS" && req.header("origin").is_some() && req.header("access-control-request-method").is_some()
}

fn bearer<'c>(
    cfg: &'c Config,
    route: &'c Route,
    req: &Request<'_>,
    now: u64,
    mut set: Vec<(String, String)>,
) -> Decision<'c> {
    let mut credentials: Vec<Credential> = Vec::new();
    for source in &cfg.token_sources {
        for value in req.headers_named(&source.header) {
            match extract(value, source.scheme.as_deref()) {
                Extracted::Token(t) => credentials.push(Credential::new(t.to_owned())),
                Extracted::Empty => {
                    return reply(cfg, Some(route), route.response, Deny::InvalidToken, "malformed", None);
                }
                Extracted::OtherScheme => {}
            }
        }
    }
    if credentials.is_empty() {
        return reply(cfg, Some(route), route.response, Deny::MissingCredential, "missing_credential", None);
    }
    // Every credential must verify: otherwise a good token could carry a bad one past us to an upstream that
    // reads the other header.
    let mut first: Option<Identity> = None;
    for credential in &credentials {
        let identity = match verify_token(credential.expose(), &cfg.issuers, cfg.max_token_bytes, now) {
            Ok(verified) => identify(cfg, &verified).map_err(|e| (e, Some(verified.issuer.name.clone()))),
            Err(e) => Err((IdentityError::Invalid(e), None)),
        };
        let identity = match identity {
            Ok(i) => i,
            Err((e, issuer)) => {
                let deny = match e {
                    IdentityError::Invalid(_) => Deny::InvalidToken,
                    IdentityError::ScopeMismatch | IdentityError::UnknownRole => Deny::Forbidden,
                };
                return reply(cfg, Some(route), route.response, deny, e.code(), issuer);
            }
        };
        if !route.permissions.iter().all(|p| identity.permissions.contains(p)) {
            return reply(
                cfg,
                Some(route),
                route.response,
                Deny::InsufficientScope,
                "insufficient_permissions",
                Some(identity.issuer),
            );
        }
        if first.is_none() {
            first = Some(identity);
        }
    }
    let Some(identity) = first else {
        return reply(cfg, Some(route), route.response, Deny::MissingCredential, "missing_credential", None);
    };
    set.extend(upstream::identity_headers(&cfg.identity_headers, &identity));
    allow(cfg, Some(route), "verified", Some(identity.issuer), Vec::new(), set)
}

enum Extracted<'a> {
    Token(&'a str),
    Empty,
    OtherScheme,
}

fn extract<'a>(value: &'a str, scheme: Option<&str>) -> Extracted<'a> {
    let token = match scheme {
        None => value.trim(),
        Some(scheme) => {
            // RFC 7235 §2.1: the scheme is case-insensitive and followed by one or more spaces.
            let Some((given, rest)) = value.split_once(' ') else {
                return if value.eq_ignore_ascii_case(scheme) { Extracted::Empty } else { Extracted::OtherScheme };
            };
            if !given.eq_ignore_ascii_case(scheme) {
                return Extracted::OtherScheme;
            }
            rest.trim()
        }
    };
    if token.is_empty() {
        Extracted::Empty
    } else {
        Extracted::Token(token)
    }
}

fn verdict(route: Option<&Route>, reason: &'static str, issuer: Option<String>) -> Verdict {
    Verdict {
        reason,
        route: route.map(|r| r.name.clone()),
        class: route.map_or_else(|| "unmatched".to_owned(), |r| r.class.clone()),
        issuer,
    }
}

fn allow<'c>(
    cfg: &'c Config,
    route: Option<&Route>,
    reason: &'static str,
    issuer: Option<String>,
    mut remove_headers: Vec<&'c str>,
    set_headers: Vec<(String, String)>,
) -> Decision<'c> {
    // Identity headers are ours alone, and a credential we did not verify must not reach an upstream that
    // might trust it: both are removed on every allowed request, public routes included.
    remove_headers.extend(cfg.token_sources.iter().map(|s| s.header.as_str()));
    remove_headers.extend(cfg.forged_headers.iter().map(String::as_str));
    Decision::Allow(Allow { remove_headers, set_headers, verdict: verdict(route, reason, issuer) })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deny {
    BadRequest,
    MissingCredential,
    InvalidToken,
    InsufficientScope,
    Forbidden,
    Session,
}

fn reply<'c>(
    cfg: &Config,
    route: Option<&Route>,
    format: ResponseFormat,
    deny: Deny,
    reason: &'static str,
    issuer: Option<String>,
) -> Decision<'c> {
    let realm = &cfg.realm;
    // RFC 6750 §3: no error code when the request had no credential; `invalid_token` (401) or
    // `insufficient_scope` (403) otherwise. The reason code itself stays in our logs.
    let (status, challenge, generic) = match deny {
        Deny::BadRequest => (400, None, "bad_request"),
        Deny::MissingCredential => (401, Some(format!("Bearer realm=\"{realm}\"")), "unauthorized"),
        Deny::Session => (401, Some(format!("Bearer realm=\"{realm}\"")), "unauthorized"),
        Deny::InvalidToken => (401, Some(format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")), "unauthorized"),
        Deny::InsufficientScope => {
            (403, Some(format!("Bearer realm=\"{realm}\", error=\"insufficient_scope\"")), "forbidden")
        }
        Deny::Forbidden => (403, None, "forbidden"),
    };
    let mut headers = Vec::new();
    if let Some(c) = challenge {
        headers.push(("www-authenticate".to_owned(), c));
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
