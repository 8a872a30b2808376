//! Bearer tokens (RFC 6750): every credential the configured sources carry is verified, scoped to this
//! dataplane, checked against the route's permissions, and turned into identity headers and, when
//! configured, the upstream's own token.

use crate::claim_forward::{forward, Forwarded};
use crate::config::deployments::Deployment;
use crate::config::{Config, TokenSource};
use crate::context::Inputs;
use crate::dat::{identify, Identity, IdentityError};
use crate::decision::{Decision, Verdict};
use crate::forward::{allow, identity_properties, unauthenticated, Forward};
use crate::jwt::IssuerKind;
use crate::jwt::{verify_token_with, JwtError};
use crate::policy::{OnUnavailable, Optional, Requirement, Route};
use crate::reason::{Passed, Reason};
use crate::request::Request;
use crate::respond::{deny, verdict, Deny};
use crate::secret::Credential;
use crate::session::cookies;
use crate::upstream;

pub fn has_bearer(cfg: &Config, req: &Request<'_>, query: Option<&str>) -> bool {
    !sourced(cfg, req, query).0.is_empty()
}

/// Every credential the configured sources carry, in source order (`None` for one that is present but
/// empty: refused as malformed), and whether a source header also held a value of another scheme (never
/// verified, so such a header is never kept for the upstream).
fn sourced(cfg: &Config, req: &Request<'_>, query: Option<&str>) -> (Vec<Option<Credential>>, bool) {
    let mut out = Vec::new();
    let mut other_scheme = false;
    let token = |t: &str| (!t.is_empty()).then(|| Credential::new(t.to_owned()));
    for source in &cfg.token_sources {
        match source {
            TokenSource::Header { header, scheme } => {
                for value in req.headers_named(header) {
                    match extract(value, scheme.as_deref()) {
                        Extracted::Token(t) => out.push(Some(Credential::new(t.to_owned()))),
                        Extracted::Empty => out.push(None),
                        Extracted::OtherScheme => other_scheme = true,
                    }
                }
            }
            TokenSource::Cookie(name) => {
                for line in req.headers_named("cookie") {
                    for (n, v) in cookies::parse(line) {
                        if n == name {
                            out.push(token(v.trim()));
                        }
                    }
                }
            }
            TokenSource::Query(name) => {
                let q = query.unwrap_or_default();
                for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                    if k == name.as_str() {
                        out.push(token(&v));
                    }
                }
            }
        }
    }
    (out, other_scheme)
}

/// With `all_of` and a session among its requirements: once the tokens check out, the session decides and
/// speaks for the request upstream (its identity, its upstream token).
pub type SessionStep<'r> = &'r dyn Fn(&mut Inputs<'_>, Vec<(String, String)>) -> Decision;

pub fn bearer(
    cfg: &Config,
    route: &Route,
    req: &Request<'_>,
    query: Option<&str>,
    inp: &mut Inputs<'_>,
    mut set: Vec<(String, String)>,
    then_session: Option<SessionStep<'_>>,
) -> Decision {
    let Some((dep_index, dep)) = inp.deployment else {
        return deny(cfg, Some(route), route.response, Deny::Forbidden, Reason::NoDeployment, None);
    };
    let (credentials, other_scheme) = sourced(cfg, req, query);
    // Every credential must verify: otherwise a good token could carry a bad one past us to an upstream that
    // reads the other header. Routes that make credentials optional (jwt_authn's `allow_missing_or_failed`) or
    // pass during outages let failures through instead, without their identity.
    let mut first: Option<Found> = None;
    // The credential headers go upstream only when every credential present came from an issuer that says so.
    let mut keep = !credentials.is_empty() && !other_scheme;
    let mut passed: Option<Failure> = None;
    // all_of: which of the route's bearer requirements some credential met (nothing to track otherwise).
    let mut met = if route.require == Requirement::AllOf { vec![false; route.rules.len()] } else { Vec::new() };
    let permissions = then_session.is_none();
    for credential in &credentials {
        let checked = match credential {
            Some(c) => check(cfg, route, dep, c, inp, permissions, &mut met),
            None => Err(Failure { deny: Deny::InvalidToken, reason: Reason::Token(JwtError::Malformed), issuer: None }),
        };
        match checked {
            Ok(found) => {
                keep &= found.keep;
                if first.is_none() {
                    first = Some(found);
                }
            }
            Err(f) => {
                let unavailable =
                    f.deny == Deny::Unavailable && route.on_unavailable == OnUnavailable::PassUnauthenticated;
                if !unavailable && route.optional != Optional::MissingOrFailed {
                    return deny(cfg, Some(route), route.response, f.deny, f.reason, f.issuer);
                }
                keep = false;
                passed.get_or_insert(f);
            }
        }
    }
    let Some(Found { identity, kind, forwarded, .. }) = first else {
        return match passed {
            Some(f) if f.deny == Deny::Unavailable => {
                unauthenticated(cfg, route, req, inp, set, Passed::Unavailable, f.reason)
            }
            Some(f) => unauthenticated(cfg, route, req, inp, set, Passed::Failed, f.reason),
            None if route.optional != Optional::No => {
                unauthenticated(cfg, route, req, inp, set, Passed::Missing, Reason::MissingCredential)
            }
            None => deny(cfg, Some(route), route.response, Deny::MissingCredential, Reason::MissingCredential, None),
        };
    };
    // jwt_authn's `requires_all`: every listed requirement, each met by one of the credentials.
    if route.require == Requirement::AllOf && met.iter().any(|m| !m) {
        return deny(cfg, Some(route), route.response, Deny::InvalidToken, Reason::RequirementUnmet, None);
    }
    if let Some(session) = then_session {
        return session(inp, set);
    }
    set.extend(upstream::identity_headers(&cfg.identity_headers, &identity));
    set.extend(forwarded.headers);
    let mut properties = forwarded.properties;
    properties.extend(identity_properties(cfg, &identity));
    // With an upstream token configured, the upstream gets a token it accepts instead of nothing.
    if let Some(minter) = cfg.minter_for(dep) {
        let table = match kind {
            IssuerKind::DirectAccess => &minter.direct_access_roles,
            IssuerKind::AccessToken => &minter.roles,
        };
        let Some(role) = minter.role_for(&identity.roles, table) else {
            return deny(
                cfg,
                Some(route),
                route.response,
                Deny::Forbidden,
                Reason::NoUpstreamRole,
                Some(identity.issuer),
            );
        };
        match inp.caches.minted.get_or_mint(minter, dep_index, &identity.subject, role, inp.now, inp.rng) {
            Ok(token) => set.push(("authorization".to_owned(), format!("Bearer {token}"))),
            Err(_) => return deny(cfg, Some(route), route.response, Deny::Unavailable, Reason::MintFailed, None),
        }
    }
    let v =
        Verdict { subject: Some(identity.subject), ..verdict(Some(route), Reason::Verified, Some(identity.issuer)) };
    let fwd = Forward { properties, keep_credentials: keep, ..Forward::new(set) };
    allow(cfg, inp.strip, Some(req), fwd, v)
}

/// Why one credential did not give an identity, and how that is answered when the route requires it.
struct Failure {
    deny: Deny,
    reason: Reason,
    issuer: Option<String>,
}

/// One credential: verified, scoped to the deployment, from an issuer and for an audience the route accepts,
/// holding the route's permissions.
fn check(
    cfg: &Config,
    route: &Route,
    dep: &Deployment,
    credential: &Credential,
    inp: &mut Inputs<'_>,
    permissions: bool,
    met: &mut [bool],
) -> Result<Found, Failure> {
    let verified = verify_token_with(
        credential.expose(),
        &cfg.issuers,
        Some(inp.remote),
        cfg.faults.keys_stale,
        cfg.max_token_bytes,
        inp.now,
        Some(&mut inp.caches.tokens),
    );
    let invalid = |e: JwtError, issuer: Option<String>| Failure {
        // Not the token's fault: the keys to check it are too old. 503, so clients retry rather than throw the
        // token away.
        deny: if e == JwtError::KeysUnavailable { Deny::Unavailable } else { Deny::InvalidToken },
        reason: Reason::Token(e),
        issuer,
    };
    let v = verified.map_err(|e| invalid(e, None))?;
    let issuer = Some(v.issuer.name.clone());
    // A route's issuers and audiences narrow what the configuration trusts (jwt_authn's requirement
    // `provider_and_audiences`); a token outside them is as invalid here as an unknown issuer's. With several
    // bearer requirements (any_of / all_of), the token counts for each one it meets (`met`, for all_of).
    let auds = v.claims.audiences().map_err(|e| invalid(e, issuer.clone()))?;
    let mut mismatch = JwtError::IssuerNotAllowed;
    let mut any = false;
    for (i, rule) in route.rules.iter().enumerate() {
        if !rule.issuers.is_empty() && !rule.issuers.contains(&v.issuer.name) {
            continue;
        }
        if !rule.audiences.is_empty() && !auds.iter().any(|a| rule.audiences.iter().any(|want| want == a)) {
            mismatch = JwtError::AudienceMismatch;
            continue;
        }
        any = true;
        if let Some(m) = met.get_mut(i) {
            *m = true;
        }
    }
    if !any {
        return Err(invalid(mismatch, issuer));
    }
    let identity = identify(cfg, dep, &v).map_err(|e| {
        let d = match e {
            IdentityError::Invalid(JwtError::KeysUnavailable) => Deny::Unavailable,
            IdentityError::Invalid(_) => Deny::InvalidToken,
            IdentityError::ScopeMismatch | IdentityError::UnknownRole => Deny::Forbidden,
        };
        Failure { deny: d, reason: e.into(), issuer: issuer.clone() }
    })?;
    if permissions && !route.permissions.iter().all(|p| identity.permissions.contains(p)) {
        return Err(Failure {
            deny: Deny::InsufficientScope,
            reason: Reason::InsufficientPermissions,
            issuer: Some(identity.issuer),
        });
    }
    let forwarded =
        forward(&v.issuer.forward_claims, v.issuer.forward_payload_header.as_deref(), credential.expose(), &v.claims)
            .map_err(|e| invalid(e, Some(identity.issuer.clone())))?;
    Ok(Found { identity, kind: v.issuer.kind, forwarded, keep: v.issuer.forward })
}

/// A credential that gave an identity, with what its issuer passes on.
struct Found {
    identity: Identity,
    kind: IssuerKind,
    forwarded: Forwarded,
    /// Its issuer keeps the credential for the upstream.
    keep: bool,
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
