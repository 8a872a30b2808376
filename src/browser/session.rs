//! The session cookie on every request: opened (or taken from the cache), checked for expiry and idleness,
//! turned into the upstream's credential, re-sealed as the idle timeout slides, and refreshed at the
//! provider when its tokens are about to expire.

use super::login::{start_login, start_login_with};
use super::{family, jar, request_cookies, token_request, wants_redirect, Jar};
use crate::cache::{Bounded, OpenedSession};
use crate::config::{Config, SessionConfig};
use crate::context::Inputs;
use crate::dat::Identity;
use crate::decision::{Decision, Pending, PendingState, RefreshWait, Verdict};
use crate::forward::{allow, identity_properties, unauthenticated, upstream_cookie, Forward};
use crate::oidc::return_path;
use crate::policy::{OnUnavailable, ResponseFormat, Route};
use crate::reason::{Passed, Reason, SessionError};
use crate::request::Request;
use crate::respond::{deny, verdict, Deny};
use crate::session::{chunks, open, seal, Session};
use crate::upstream;

/// Tampered, truncated, swapped, expired and idle cookies all come back as `Err`: exactly like no session.
/// With a cache, a cookie value opened before is not decrypted again; the expiry checks run every time.
pub fn open_session(
    sc: &SessionConfig,
    jar: Jar<'_>,
    cookies: &[(&str, &str)],
    now: u64,
    mut cache: Option<&mut Bounded<OpenedSession>>,
) -> Result<OpenedSession, SessionError> {
    let value = chunks::join(cookies, jar.name).ok_or(SessionError::Missing)?;
    let cached = match &mut cache {
        Some(c) => c.get(&value, now).cloned(),
        None => None,
    };
    let opened = match cached {
        // A value opened for one deployment never counts for another: it would not open under its binding.
        Some(o) if o.deployment != jar.index => return Err(SessionError::Sealed(crate::session::SealError::Decrypt)),
        Some(o) => o,
        None => {
            let sealed = open(&sc.keys, jar.name, jar.binding, &value).map_err(SessionError::Sealed)?;
            let session: Session = serde_json::from_slice(&sealed.plaintext).map_err(|_| SessionError::Format)?;
            let o = OpenedSession { session, stale_key: sealed.stale_key, deployment: jar.index };
            if let Some(c) = cache {
                c.insert(&value, o.clone(), o.session.abs);
            }
            o
        }
    };
    if now >= opened.session.abs {
        return Err(SessionError::Expired);
    }
    if now >= opened.session.seen.saturating_add(sc.idle_timeout_seconds) {
        return Err(SessionError::Idle);
    }
    Ok(opened)
}

/// `Set-Cookie` values for `session`, clearing chunks the browser holds beyond the new ones.
pub(super) fn seal_session(
    sc: &SessionConfig,
    jar: Jar<'_>,
    session: &Session,
    present: &[String],
    inp: &mut Inputs<'_>,
) -> Result<Vec<String>, Reason> {
    let plain = serde_json::to_vec(session).map_err(|_| Reason::SessionEncode)?;
    let mut nonce = [0u8; 12];
    inp.rng.fill_bytes(&mut nonce);
    let sealed = seal(&sc.keys, jar.name, jar.binding, &plain, nonce).map_err(Reason::Cookie)?;
    let parts = chunks::split(jar.name, &sealed).ok_or(Reason::SessionTooLarge)?;
    let max_age = session.abs.saturating_sub(inp.now);
    let mut out: Vec<String> = parts.iter().map(|(n, v)| sc.attributes.set_cookie(n, v, Some(max_age))).collect();
    for name in present {
        if !parts.iter().any(|(n, _)| n == name) {
            out.push(sc.attributes.clear(name));
        }
    }
    Ok(out)
}

/// The session cannot go on: its cookies are cleared, and a browser is sent to sign in again.
#[allow(clippy::too_many_arguments)]
pub(super) fn end_session(
    cfg: &Config,
    sc: &SessionConfig,
    route: Option<&Route>,
    present: &[String],
    wants_redirect: bool,
    return_to: &str,
    inp: &mut Inputs<'_>,
    reason: Reason,
) -> Decision {
    let clear: Vec<String> = present.iter().map(|n| sc.attributes.clear(n)).collect();
    let mut d = if wants_redirect {
        start_login_with(cfg, sc, &[], &[], return_to, route, inp)
    } else {
        let format = route.map_or(ResponseFormat::Json, |r| r.response);
        deny(cfg, route, format, Deny::MissingCredential, reason.clone(), Some("oidc".into()))
    };
    if let Decision::Reply(r) = &mut d {
        r.headers.extend(clear.into_iter().map(|c| ("set-cookie".to_owned(), c)));
        r.verdict.reason = reason;
    }
    d
}

pub fn session_route(
    cfg: &Config,
    route: &Route,
    req: &Request<'_>,
    return_to: &str,
    inp: &mut Inputs<'_>,
    mut set: Vec<(String, String)>,
) -> Decision {
    let (Some(sc), Some((_, dep))) = (&cfg.session, inp.deployment) else {
        return deny(cfg, Some(route), route.response, Deny::MissingCredential, Reason::SessionUnavailable, None);
    };
    let Some(jar) = jar(sc, inp) else {
        return deny(cfg, Some(route), route.response, Deny::MissingCredential, Reason::SessionUnavailable, None);
    };
    let cookies = request_cookies(req);
    let OpenedSession { mut session, stale_key, .. } =
        match open_session(sc, jar, &cookies, inp.now, Some(&mut inp.caches.sessions)) {
            Ok(o) => o,
            Err(e) => {
                // Signing in needs the provider: while it is down, a route that chose to pass does so
                // instead of sending the browser to a provider that cannot answer.
                let provider_down = inp.provider_down || cfg.faults.provider_unavailable;
                if provider_down && route.on_unavailable == OnUnavailable::PassUnauthenticated {
                    return unauthenticated(cfg, route, req, inp, set, Passed::Unavailable, Reason::IdpDown);
                }
                if route.redirect_browsers && wants_redirect(req) {
                    return start_login(cfg, sc, req, &return_path::sanitize(return_to), Some(route), inp);
                }
                return deny(cfg, Some(route), route.response, Deny::MissingCredential, e.into(), None);
            }
        };
    // Revoked since sign-in: by the provider's session id, or everything the subject signed in before a time.
    let revoked = session.sid.as_ref().is_some_and(|sid| sc.revoked_session_ids.contains(sid))
        || sc.subject_not_before.get(&session.sub).is_some_and(|cutoff| session.iat < *cutoff)
        || (sc.backchannel_logout_path.is_some()
            && crate::engine::logouts::ended(inp.store, session.sid.as_deref(), &session.sub, session.iat));
    if revoked {
        let present = family(&cookies, jar.name);
        let redirect = route.redirect_browsers && wants_redirect(req);
        return end_session(cfg, sc, Some(route), &present, redirect, return_to, inp, Reason::SessionRevoked);
    }
    let mut permissions = std::collections::BTreeSet::new();
    for r in &session.roles {
        if let Some(p) = dep.permissions(&cfg.roles, r) {
            permissions.extend(p.iter().cloned());
        }
    }
    if !route.permissions.iter().all(|p| permissions.contains(p)) {
        let reason = Reason::InsufficientPermissions;
        return deny(cfg, Some(route), route.response, Deny::Forbidden, reason, Some("oidc".into()));
    }
    let (token, roles) = if cfg.exchange.is_some() {
        // The exchanged token is kept until it expires; then the person signs in again (a refresh token
        // renews the provider's tokens, not the exchanged one).
        match (&session.upstream_token, session.upstream_exp) {
            (Some(t), Some(exp)) if inp.now.saturating_add(10) < exp => (t.clone(), session.roles.clone()),
            _ => {
                let present = family(&cookies, jar.name);
                let redirect = route.redirect_browsers && wants_redirect(req);
                let reason = Reason::UpstreamTokenExpired;
                return end_session(cfg, sc, Some(route), &present, redirect, return_to, inp, reason);
            }
        }
    } else if let Some(minter) = cfg.minter_for(dep) {
        let Some(role) = minter.role_for(&session.roles, &minter.roles) else {
            let reason = Reason::NoUpstreamRole;
            return deny(cfg, Some(route), route.response, Deny::Forbidden, reason, Some("oidc".into()));
        };
        match inp.caches.minted.get_or_mint(minter, jar.index, &session.sub, role, inp.now, inp.rng) {
            Ok(t) => (t, vec![role.to_owned()]),
            Err(_) => return deny(cfg, Some(route), route.response, Deny::Unavailable, Reason::MintFailed, None),
        }
    } else {
        return deny(cfg, Some(route), route.response, Deny::MissingCredential, Reason::SessionUnavailable, None);
    };
    let identity = Identity {
        deployment: Some(dep.id().to_owned()),
        issuer: "oidc".into(),
        subject: session.sub.clone(),
        token_id: None,
        scope: None,
        roles,
        permissions,
    };
    set.extend(upstream::identity_headers(&cfg.identity_headers, &identity));
    let h = &sc.claim_headers;
    let groups = (!session.roles.is_empty()).then(|| session.roles.join(","));
    for (name, value) in [(&h.email, &session.email), (&h.name, &session.name), (&h.groups, &groups)] {
        if let (Some(name), Some(value)) = (name, value) {
            set.push((name.clone(), value.clone()));
        }
    }
    set.push(("authorization".to_owned(), format!("Bearer {token}")));
    // Our cookies and the upstream's own `_token` never reach it: the minted header is the only credential.
    let cookie = upstream_cookie(cfg, req);
    let cookie_removed = cookie.is_some();
    if let Some(Some(rest)) = cookie {
        set.push(("cookie".to_owned(), rest));
    }
    let present = family(&cookies, jar.name);
    let refresh_due = session.refresh_token.is_some()
        && session.provider_exp.is_some_and(|exp| inp.now.saturating_add(sc.provider.refresh_before_seconds) >= exp);
    // Not discovered in this VM yet: the session goes on as it is, and a later request refreshes it.
    let remote = inp.remote;
    if let (true, Some(refresh), Some(endpoints)) =
        (refresh_due, session.refresh_token.clone(), sc.provider.endpoints(remote))
    {
        let route_index = cfg.routes.iter().position(|r| std::ptr::eq(r, route)).unwrap_or(usize::MAX);
        let wait = RefreshWait {
            session,
            route_index,
            set_headers: set,
            remove_cookie: cookie_removed,
            present,
            wants_redirect: route.redirect_browsers && wants_redirect(req),
            return_to: return_to.to_owned(),
        };
        let grant = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        let then = Pending::new(PendingState::Refresh(Box::new(wait)), Some(jar.index));
        let v = verdict(Some(route), Reason::SessionRefresh, Some("oidc".into()));
        return Decision::Call(Box::new(token_request::call(sc, &endpoints.token, &grant, then, v)));
    }
    // Sliding idle timeout: re-seal at most every tenth of it, and whenever an older key opened the cookie
    // (so key rotation completes without logging anyone out).
    let mut fwd = Forward {
        cookie_done: Some(cookie_removed),
        properties: identity_properties(cfg, &identity),
        ..Forward::new(set)
    };
    if stale_key || inp.now >= session.seen.saturating_add(sc.idle_timeout_seconds / 10) {
        session.seen = inp.now;
        if let Ok(cs) = seal_session(sc, jar, &session, &present, inp) {
            fwd.response_headers.extend(cs.into_iter().map(|c| ("set-cookie".to_owned(), c)));
        }
    }
    let v =
        Verdict { subject: Some(session.sub.clone()), ..verdict(Some(route), Reason::Session, Some("oidc".into())) };
    allow(cfg, inp.strip, None, fwd, v)
}
