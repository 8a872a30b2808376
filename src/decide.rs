//! Request in, decision out.

use rand_core::RngCore;

use crate::browser;
use crate::cache::Caches;
use crate::config::{Config, CorsPreflight, Unmatched};
use crate::dat::{identify, Identity, IdentityError};
use crate::decision::{Allow, Decision, Pending};
use crate::jwks::RemoteKeys;
use crate::jwt::IssuerKind;
use crate::jwt::{verify_token_with, JwtError};
use crate::oidc::token_response::CallResponse;
use crate::policy::host::route_host;
use crate::policy::{find_route, normalize_path, Requirement, ResponseFormat, Route};
use crate::request::Request;
use crate::respond::{deny, verdict, Deny};
use crate::secret::Credential;
use crate::upstream;

/// What the core needs from the world besides the request: the time, a cryptographically secure random
/// source (the filter passes WASI's `random_get`), and the per-VM caches.
pub struct Inputs<'a> {
    pub now: u64,
    pub rng: &'a mut dyn RngCore,
    pub caches: &'a mut Caches,
    /// Keys fetched from remote JWKS, as this VM last read them from the proxy's shared store.
    pub remote: &'a RemoteKeys,
    /// A recent call to the provider failed for a transient reason (the filter's circuit breaker): new
    /// sign-ins get a clear 503 instead of a redirect to a provider that will not answer.
    pub provider_down: bool,
}

pub fn decide<'c>(cfg: &'c Config, req: &Request<'_>, inp: &mut Inputs<'_>) -> Decision<'c> {
    inp.now = inp.now.saturating_add_signed(cfg.faults.clock_offset_seconds);
    if let Some(r) = &cfg.rollout {
        return crate::rollout::decide(cfg, r, req, inp);
    }
    let d = decide_now(cfg, req, inp);
    simulate_outage(cfg, d, inp)
}

/// With `faults.provider_unavailable`, a call to the provider is not made: it is answered at once as a
/// refused connection is (Envoy's 503), so every outage path runs exactly as in a real outage.
pub(crate) fn simulate_outage<'c>(cfg: &'c Config, d: Decision<'c>, inp: &mut Inputs<'_>) -> Decision<'c> {
    match d {
        Decision::Call(call) if cfg.faults.provider_unavailable => {
            let down = CallResponse { status: Some(503), content_type: None, body: Vec::new(), truncated: false };
            let next = browser::resume(cfg, call.then, &down, inp);
            simulate_outage(cfg, next, inp)
        }
        other => other,
    }
}

pub(crate) fn decide_now<'c>(cfg: &'c Config, req: &Request<'_>, inp: &mut Inputs<'_>) -> Decision<'c> {
    let (path, query) = match normalize_path(req.path) {
        Ok(p) => p,
        Err(e) => return deny(cfg, None, ResponseFormat::Json, Deny::BadRequest, e.code(), None),
    };
    if let Some(sc) = &cfg.session {
        if let Some(d) = browser::special(cfg, sc, req, &path, query, inp) {
            return d;
        }
    }
    let host = route_host(req.authority, cfg.host_matching);
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
            Unmatched::Deny => deny(cfg, None, ResponseFormat::Json, Deny::Forbidden, "no_route", None),
            Unmatched::Allow => allow(cfg, req, None, "unmatched_allowed", None, set_headers),
        };
    };
    // Preflights carry no credentials (Fetch §3.2.2), so they pass to a route's upstream unauthenticated;
    // only for a route that exists, so they cannot probe past `unmatched: deny`.
    if cfg.cors_preflight == CorsPreflight::Pass && is_preflight(req) {
        return allow(cfg, req, Some(route), "cors_preflight", None, set_headers);
    }
    let return_to = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    match route.require {
        Requirement::Public => allow(cfg, req, Some(route), "public", None, set_headers),
        Requirement::Session => browser::session_route(cfg, route, req, &return_to, inp, set_headers),
        Requirement::BearerOrSession if cfg.session.is_some() && !has_bearer(cfg, req) => {
            browser::session_route(cfg, route, req, &return_to, inp, set_headers)
        }
        Requirement::Bearer | Requirement::BearerOrSession => bearer(cfg, route, req, inp, set_headers),
    }
}

/// Continues a request after its out-of-band call answered. `pending` is consumed: each continuation runs
/// once.
pub fn resume<'c>(cfg: &'c Config, pending: Pending, response: &CallResponse, inp: &mut Inputs<'_>) -> Decision<'c> {
    inp.now = inp.now.saturating_add_signed(cfg.faults.clock_offset_seconds);
    let d = browser::resume(cfg, pending, response, inp);
    simulate_outage(cfg, d, inp)
}

fn is_preflight(req: &Request<'_>) -> bool {
    req.method == "OPTIONS" && req.header("origin").is_some() && req.header("access-control-request-method").is_some()
}

fn has_bearer(cfg: &Config, req: &Request<'_>) -> bool {
    cfg.token_sources.iter().any(|s| {
        req.headers_named(&s.header).any(|v| !matches!(extract(v, s.scheme.as_deref()), Extracted::OtherScheme))
    })
}

fn bearer<'c>(
    cfg: &'c Config,
    route: &'c Route,
    req: &Request<'_>,
    inp: &mut Inputs<'_>,
    mut set: Vec<(String, String)>,
) -> Decision<'c> {
    let mut credentials: Vec<Credential> = Vec::new();
    for source in &cfg.token_sources {
        for value in req.headers_named(&source.header) {
            match extract(value, source.scheme.as_deref()) {
                Extracted::Token(t) => credentials.push(Credential::new(t.to_owned())),
                Extracted::Empty => {
                    return deny(cfg, Some(route), route.response, Deny::InvalidToken, "malformed", None);
                }
                Extracted::OtherScheme => {}
            }
        }
    }
    // Every credential must verify: otherwise a good token could carry a bad one past us to an upstream that
    // reads the other header.
    let mut first: Option<(Identity, IssuerKind)> = None;
    for credential in &credentials {
        let verified = verify_token_with(
            credential.expose(),
            &cfg.issuers,
            Some(inp.remote),
            cfg.faults.keys_stale,
            cfg.max_token_bytes,
            inp.now,
            Some(&mut inp.caches.tokens),
        );
        let identity = match verified {
            Ok(v) => identify(cfg, &v).map(|i| (i, v.issuer.kind)).map_err(|e| (e, Some(v.issuer.name.clone()))),
            Err(e) => Err((IdentityError::Invalid(e), None)),
        };
        let (identity, kind) = match identity {
            Ok(i) => i,
            Err((e, issuer)) => {
                let d = match e {
                    // Not the token's fault: the keys to check it are too old. 503, so clients retry rather
                    // than throw the token away.
                    IdentityError::Invalid(JwtError::KeysUnavailable) => Deny::Unavailable,
                    IdentityError::Invalid(_) => Deny::InvalidToken,
                    IdentityError::ScopeMismatch | IdentityError::UnknownRole => Deny::Forbidden,
                };
                return deny(cfg, Some(route), route.response, d, e.code(), issuer);
            }
        };
        if !route.permissions.iter().all(|p| identity.permissions.contains(p)) {
            return deny(
                cfg,
                Some(route),
                route.response,
                Deny::InsufficientScope,
                "insufficient_permissions",
                Some(identity.issuer),
            );
        }
        if first.is_none() {
            first = Some((identity, kind));
        }
    }
    let Some((identity, kind)) = first else {
        return deny(cfg, Some(route), route.response, Deny::MissingCredential, "missing_credential", None);
    };
    set.extend(upstream::identity_headers(&cfg.identity_headers, &identity));
    // With an upstream token configured, the upstream gets a token it accepts instead of nothing.
    if let Some(minter) = &cfg.minter {
        let table = match kind {
            IssuerKind::DirectAccess => &minter.direct_access_roles,
            IssuerKind::AccessToken => &minter.roles,
        };
        let Some(role) = minter.role_for(&identity.roles, table) else {
            return deny(cfg, Some(route), route.response, Deny::Forbidden, "no_upstream_role", Some(identity.issuer));
        };
        match inp.caches.minted.get_or_mint(minter, &identity.subject, role, inp.now, inp.rng) {
            Ok(token) => set.push(("authorization".to_owned(), format!("Bearer {token}"))),
            Err(_) => return deny(cfg, Some(route), route.response, Deny::Unavailable, "mint_failed", None),
        }
    }
    let subject = identity.subject;
    let mut d = allow(cfg, req, Some(route), "verified", Some(identity.issuer), set);
    if let Decision::Allow(a) = &mut d {
        a.verdict.subject = Some(subject);
    }
    d
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

fn allow<'c>(
    cfg: &'c Config,
    req: &Request<'_>,
    route: Option<&Route>,
    reason: &'static str,
    issuer: Option<String>,
    mut set_headers: Vec<(String, String)>,
) -> Decision<'c> {
    // Identity headers are ours alone, and a credential we did not verify must not reach an upstream that
    // might trust it: both are removed on every allowed request, public routes included.
    let mut remove_headers: Vec<&'c str> = cfg.token_sources.iter().map(|s| s.header.as_str()).collect();
    remove_headers.extend(cfg.forged_headers.iter().map(String::as_str));
    let mut drop_set_cookies: &'static [&'static str] = &[];
    // With browser sessions or an upstream token configured, the upstream's credentials are ours to give:
    // the client's `Authorization`, our cookies and the upstream's own `_token` never pass, on any route.
    if cfg.session.is_some() || cfg.minter.is_some() {
        if !remove_headers.contains(&"authorization") && !set_headers.iter().any(|(n, _)| n == "authorization") {
            remove_headers.push("authorization");
        }
        match browser::upstream_cookie(cfg, req) {
            Some(Some(rest)) => {
                remove_headers.push("cookie");
                set_headers.push(("cookie".to_owned(), rest));
            }
            Some(None) => remove_headers.push("cookie"),
            None => {}
        }
        drop_set_cookies = browser::UPSTREAM_SESSION_COOKIES;
    }
    Decision::Allow(Allow {
        remove_headers,
        set_headers,
        response_headers: Vec::new(),
        drop_set_cookies,
        verdict: verdict(route, reason, issuer),
    })
}
