//! Bearer tokens (RFC 6750): every credential the configured sources carry is verified, scoped to this
//! dataplane, checked against the route's permissions, and turned into identity headers and, when
//! configured, the upstream's own token.

use crate::config::Config;
use crate::context::Inputs;
use crate::dat::{identify, Identity, IdentityError};
use crate::decision::{Decision, Verdict};
use crate::forward::{allow, Forward};
use crate::jwt::IssuerKind;
use crate::jwt::{verify_token_with, JwtError};
use crate::policy::Route;
use crate::reason::Reason;
use crate::request::Request;
use crate::respond::{deny, verdict, Deny};
use crate::secret::Credential;
use crate::upstream;

pub fn has_bearer(cfg: &Config, req: &Request<'_>) -> bool {
    cfg.token_sources.iter().any(|s| {
        req.headers_named(&s.header).any(|v| !matches!(extract(v, s.scheme.as_deref()), Extracted::OtherScheme))
    })
}

pub fn bearer(
    cfg: &Config,
    route: &Route,
    req: &Request<'_>,
    inp: &mut Inputs<'_>,
    mut set: Vec<(String, String)>,
) -> Decision {
    let Some((dep_index, dep)) = inp.deployment else {
        return deny(cfg, Some(route), route.response, Deny::Forbidden, Reason::NoDeployment, None);
    };
    let mut credentials: Vec<Credential> = Vec::new();
    for source in &cfg.token_sources {
        for value in req.headers_named(&source.header) {
            match extract(value, source.scheme.as_deref()) {
                Extracted::Token(t) => credentials.push(Credential::new(t.to_owned())),
                Extracted::Empty => {
                    return deny(
                        cfg,
                        Some(route),
                        route.response,
                        Deny::InvalidToken,
                        Reason::Token(JwtError::Malformed),
                        None,
                    );
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
            Ok(v) => identify(cfg, dep, &v).map(|i| (i, v.issuer.kind)).map_err(|e| (e, Some(v.issuer.name.clone()))),
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
                return deny(cfg, Some(route), route.response, d, e.into(), issuer);
            }
        };
        if !route.permissions.iter().all(|p| identity.permissions.contains(p)) {
            return deny(
                cfg,
                Some(route),
                route.response,
                Deny::InsufficientScope,
                Reason::InsufficientPermissions,
                Some(identity.issuer),
            );
        }
        if first.is_none() {
            first = Some((identity, kind));
        }
    }
    let Some((identity, kind)) = first else {
        return deny(cfg, Some(route), route.response, Deny::MissingCredential, Reason::MissingCredential, None);
    };
    set.extend(upstream::identity_headers(&cfg.identity_headers, &identity));
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
    allow(cfg, inp.strip, Some(req), Forward::new(set), v)
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
