//! The one place an `Allow` is built: what every request passed upstream has removed (credentials we did not
//! verify, forged identity headers, our own cookies) and what it carries instead.

use std::sync::Arc;

use crate::config::Config;
use crate::context::Inputs;
use crate::context::Strip;
use crate::decision::{Allow, Decision, Verdict};
use crate::policy::Route;
use crate::reason::{Passed, Reason};
use crate::request::Request;
use crate::session::{chunks, cookies};

/// The upstream's own session cookie (Airflow's `_token`): stripped from requests and from its responses.
pub const UPSTREAM_SESSION_COOKIES: &[&str] = &["_token"];

/// An allowed request: `set_headers` go upstream; `response_headers` go back to the client.
pub struct Forward {
    pub set_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    /// Whether the `Cookie` header was already rewritten (a refresh that waited carries its decision).
    pub cookie_done: Option<bool>,
    /// Filter state to publish with the request.
    pub properties: Vec<(String, Vec<u8>)>,
    /// The verified credential goes on to the upstream (issuers with `forward: true`).
    pub keep_credentials: bool,
}

impl Forward {
    pub fn new(set_headers: Vec<(String, String)>) -> Self {
        Forward {
            set_headers,
            response_headers: Vec::new(),
            cookie_done: None,
            properties: Vec::new(),
            keep_credentials: false,
        }
    }
}

/// Builds the `Allow`. Identity headers are ours alone, and a credential we did not verify must not reach an
/// upstream that might trust it: both are removed on every allowed request, public routes included. With
/// browser sessions or an upstream token configured, the upstream's credentials are ours to give: the
/// client's `Authorization`, our cookies and the upstream's own `_token` never pass, on any route.
pub fn allow(cfg: &Config, strip: &Strip, req: Option<&Request<'_>>, mut fwd: Forward, verdict: Verdict) -> Decision {
    let mut remove_headers: Vec<Arc<str>> = strip.always.clone();
    if fwd.keep_credentials {
        remove_headers.retain(|h| !cfg.token_sources.iter().any(|s| s.header() == Some(&**h)));
    }
    let mut drop_set_cookies: &'static [&'static str] = &[];
    if cfg.gives_credentials() || cfg.token_cookies {
        let sets_authorization = fwd.set_headers.iter().any(|(n, _)| n == "authorization");
        if cfg.gives_credentials() && !sets_authorization && !remove_headers.iter().any(|h| &**h == "authorization") {
            remove_headers.push(Arc::clone(&strip.authorization));
        }
        let rewrite = match (fwd.cookie_done, req) {
            (Some(removed), _) => removed.then_some(None),
            (None, Some(req)) => upstream_cookie(cfg, req),
            (None, None) => None,
        };
        match rewrite {
            Some(Some(rest)) => {
                remove_headers.push(Arc::clone(&strip.cookie));
                fwd.set_headers.push(("cookie".to_owned(), rest));
            }
            Some(None) => remove_headers.push(Arc::clone(&strip.cookie)),
            None => {}
        }
        if cfg.gives_credentials() {
            drop_set_cookies = UPSTREAM_SESSION_COOKIES;
        }
    }
    Decision::Allow(Allow {
        remove_headers,
        set_headers: fwd.set_headers,
        response_headers: fwd.response_headers,
        drop_set_cookies,
        properties: fwd.properties,
        verdict,
    })
}

/// The verified identity as filter state (`identity_filter_state`), under the names the docs give.
pub fn identity_properties(cfg: &Config, identity: &crate::dat::Identity) -> Vec<(String, Vec<u8>)> {
    if !cfg.identity_filter_state {
        return Vec::new();
    }
    let values = [
        ("gatehouse.subject", Some(identity.subject.clone())),
        ("gatehouse.issuer", Some(identity.issuer.clone())),
        ("gatehouse.deployment", identity.deployment.clone()),
        ("gatehouse.scope", identity.scope.clone()),
        ("gatehouse.roles", Some(identity.roles.join(","))),
    ];
    values.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?.into_bytes()))).collect()
}

/// A request the route lets through without identity: the identity headers stay stripped, and the
/// `unauthenticated` header tells the upstream why (the code of what failed).
pub fn unauthenticated(
    cfg: &Config,
    route: &Route,
    req: &Request<'_>,
    inp: &mut Inputs<'_>,
    mut set: Vec<(String, String)>,
    how: Passed,
    cause: Reason,
) -> Decision {
    if let Some(name) = &cfg.identity_headers.unauthenticated {
        set.push((name.clone(), cause.code().to_owned()));
    }
    let v = crate::respond::verdict(Some(route), Reason::Passed(how, Box::new(cause)), None);
    allow(cfg, inp.strip, Some(req), Forward::new(set), v)
}

/// The `Cookie` header for the upstream without our cookies and its own `_token`: `None` when nothing
/// changes, `Some(None)` when nothing is left, `Some(Some(rest))` to replace every `Cookie` line with `rest`.
/// HTTP/2 may split cookies over several lines (RFC 9113 §8.2.3) and a client may send several anyway: all of
/// them are read and filtered as one (found by the hostile-request suite: a second line passed unfiltered).
pub fn upstream_cookie(cfg: &Config, req: &Request<'_>) -> Option<Option<String>> {
    let lines: Vec<&str> = req.headers_named("cookie").collect();
    if lines.is_empty() {
        return None;
    }
    let header = lines.join("; ");
    // Ours: the session cookie's family, every deployment's own (`<name>-<deployment>`) and flow cookies
    // (`<name>-flow-…`), all of which start with the configured name and a `-`.
    // Ours too: cookies configured as token sources (a credential the upstream must not see).
    let ours = |n: &str| {
        (cfg.gives_credentials() && UPSTREAM_SESSION_COOKIES.contains(&n))
            || cfg.is_token_cookie(n)
            || cfg.session.as_ref().is_some_and(|sc| {
                chunks::is_family(n, &sc.cookie_name)
                    || n.strip_prefix(sc.cookie_name.as_str()).is_some_and(|rest| rest.starts_with('-'))
            })
    };
    if !cookies::parse(&header).iter().any(|(n, _)| ours(n)) {
        return None;
    }
    Some(cookies::without(&header, ours))
}

/// The upstream's `Set-Cookie` values without the cookies named in `drop`; `None` when none is dropped (the
/// response stays as it is).
pub fn kept_set_cookies(values: Vec<String>, drop: &[&str]) -> Option<Vec<String>> {
    let dropped = |c: &str| drop.iter().any(|n| c.split('=').next().is_some_and(|name| name.trim() == *n));
    if !values.iter().any(|c| dropped(c)) {
        return None;
    }
    Some(values.into_iter().filter(|c| !dropped(c)).collect())
}
