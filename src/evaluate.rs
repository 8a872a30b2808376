//! The new path's decision for a classified request: the sign-in flow's own paths, then the route's
//! requirement. Rollout and faults are the engine's business, around this.

use crate::bearer::{bearer, has_bearer};
use crate::browser;
use crate::classify::{Classified, Target};
use crate::config::{Config, CorsPreflight, Unmatched};
use crate::context::Inputs;
use crate::decision::Decision;
use crate::forward::{allow, Forward};
use crate::policy::{Requirement, ResponseFormat};
use crate::reason::Reason;
use crate::request::Request;
use crate::respond::{deny, verdict, Deny};

pub fn evaluate(cfg: &Config, c: &Classified<'_, '_>, req: &Request<'_>, inp: &mut Inputs<'_>) -> Decision {
    let route = match c.target {
        Target::BadPath(e) => return deny(cfg, None, ResponseFormat::Json, Deny::BadRequest, Reason::BadPath(e), None),
        Target::NoDeployment => {
            return deny(cfg, None, ResponseFormat::Json, Deny::Forbidden, Reason::NoDeployment, None)
        }
        Target::Flow(step) => match &cfg.session {
            Some(sc) => return browser::flow(cfg, sc, step, req, c, inp),
            None => None,
        },
        Target::Route(r) => Some(r),
        Target::Unmatched => None,
    };
    if crate::method_override::judged_method(cfg, req).is_err() {
        return deny(cfg, route, ResponseFormat::Json, Deny::BadRequest, Reason::BadMethodOverride, None);
    }
    // RFC 6750 §2.3 and §2: a token in the URL is logged by every hop and would reach the upstream in its path,
    // and a request must not carry its credential in more than one place. Tokens come from the configured
    // headers only, so an `access_token` parameter is refused, alone or beside a header.
    // A query parameter configured as a token source is the exception the configuration states; it is taken
    // out of the path the upstream sees either way.
    let configured = |name: &str| cfg.is_token_param(name);
    if c.query.is_some_and(|q| token_spelling_refused(cfg, q)) {
        let format = route.map_or(ResponseFormat::Json, |r| r.response);
        return deny(cfg, route, format, Deny::InvalidRequest, Reason::TokenInQuery, None);
    }
    let query = c.query.filter(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| configured(&k)));
    let mut set_headers = Vec::new();
    // The upstream must see the path the rules matched, not a spelling it might resolve differently.
    if let Some(q) = query {
        set_headers.push((":path".to_owned(), without_params(&c.path, q, &configured)));
    } else if Some(c.path.as_str()) != req.path.split('?').next() {
        set_headers.push((":path".to_owned(), c.return_to()));
    }
    let pass = |route, reason, set_headers, inp: &mut Inputs<'_>| {
        allow(cfg, inp.strip, Some(req), Forward::new(set_headers), verdict(route, reason, None))
    };
    let Some(route) = route else {
        return match cfg.unmatched {
            Unmatched::Deny => deny(cfg, None, ResponseFormat::Json, Deny::Forbidden, Reason::NoRoute, None),
            Unmatched::Allow => pass(None, Reason::UnmatchedAllowed, set_headers, inp),
        };
    };
    // Preflights carry no credentials (Fetch §3.2.2), so they pass to a route's upstream unauthenticated;
    // only for a route that exists, so they cannot probe past `unmatched: deny`.
    if cfg.cors_preflight == CorsPreflight::Pass && is_preflight(req) {
        return pass(Some(route), Reason::CorsPreflight, set_headers, inp);
    }
    let session = |inp: &mut Inputs<'_>, set: Vec<(String, String)>| {
        browser::session_route(cfg, route, req, &c.return_to(), inp, set)
    };
    match route.require {
        Requirement::Public => pass(Some(route), Reason::Public, set_headers, inp),
        Requirement::Session => session(inp, set_headers),
        // One of them: a request without a bearer token is the session's to decide.
        Requirement::BearerOrSession | Requirement::AnyOf
            if route.with_session && cfg.session.is_some() && !has_bearer(cfg, req, c.query) =>
        {
            session(inp, set_headers)
        }
        Requirement::AllOf if route.with_session => bearer(cfg, route, req, c.query, inp, set_headers, Some(&session)),
        Requirement::Bearer | Requirement::BearerOrSession | Requirement::AnyOf | Requirement::AllOf => {
            bearer(cfg, route, req, c.query, inp, set_headers, None)
        }
    }
}

/// Whether the query carries a credential in a spelling Gatehouse does not take as a token source but an
/// upstream might: `access_token` (unless configured), or a configured parameter's name in another case
/// (ASP.NET reads query keys case-insensitively) or behind a `;` (a separator to older Python, Tomcat and
/// PHP configurations).
fn token_spelling_refused(cfg: &Config, query: &str) -> bool {
    let names_a_token = |name: &str| {
        name.eq_ignore_ascii_case("access_token") || cfg.token_params().any(|p| p.eq_ignore_ascii_case(name))
    };
    query.split('&').any(|pair| {
        let parts: Vec<&str> = pair.split(';').collect();
        parts.iter().any(|part| {
            let raw = part.split('=').next().unwrap_or_default();
            form_urlencoded::parse(raw.as_bytes())
                .any(|(name, _)| names_a_token(&name) && !(parts.len() == 1 && cfg.is_token_param(&name)))
        })
    })
}

/// `path` with the query minus the parameters `drop` names, each other parameter kept byte for byte.
fn without_params(path: &str, query: &str, drop: &dyn Fn(&str) -> bool) -> String {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !form_urlencoded::parse(name.as_bytes()).any(|(k, _)| drop(&k))
        })
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

fn is_preflight(req: &Request<'_>) -> bool {
    req.method == "OPTIONS" && req.header("origin").is_some() && req.header("access-control-request-method").is_some()
}
