//! The token endpoint answered a refresh (RFC 6749 §6). Success renews the session; `invalid_grant` ends it;
//! an outage leaves it as it was, so people keep working while the provider is down.

use super::jar;
use super::session::{end_session, seal_session};
use crate::call::CallResponse;
use crate::config::{Config, SessionConfig};
use crate::context::Inputs;
use crate::decision::{Decision, RefreshWait, Verdict};
use crate::forward::{allow, Forward};
use crate::oidc::id_token;
use crate::oidc::token_response::{self, TokenError};
use crate::reason::Reason;
use crate::respond::verdict;

pub fn refreshed(
    cfg: &Config,
    sc: &SessionConfig,
    wait: RefreshWait,
    resp: &CallResponse,
    inp: &mut Inputs<'_>,
) -> Decision {
    let RefreshWait { mut session, route_index, set_headers, remove_cookie, present, wants_redirect, return_to } = wait;
    let route = cfg.routes.get(route_index);
    let p = &sc.provider;
    let mut response_headers = Vec::new();
    let end = |reason: Reason, inp: &mut Inputs<'_>| {
        end_session(cfg, sc, route, &present, wants_redirect, &return_to, inp, reason)
    };
    let reason = match token_response::parse(resp) {
        Ok(tokens) => {
            // RFC 6749 §5.1 (and §6): an answer without an access token renews nothing.
            let Some(access_token) = &tokens.access_token else {
                return end(Reason::IdpNoAccessToken, inp);
            };
            let mut renewed = true;
            let bound = id_token::Bound { nonce: None, access_token: Some(access_token.expose()) };
            if let Some(id) = &tokens.id_token {
                match id_token::validate(
                    id.expose(),
                    &p.issuer,
                    &p.client_id,
                    bound,
                    p.roles_claim.as_deref(),
                    Some(inp.remote),
                    inp.now,
                ) {
                    // OIDC Core §12.2: the refreshed ID token is about the same person.
                    Ok(c) if c.sub == session.sub => {
                        session.roles = c.roles;
                        session.provider_exp = c.exp;
                        if p.may_end_session() {
                            session.id_token = Some(id.expose().to_owned());
                        }
                    }
                    _ => renewed = false,
                }
            } else {
                // Without an ID token or `expires_in`, assume the usual five minutes rather than never
                // refreshing again (and never hearing `invalid_grant`).
                session.provider_exp = Some(inp.now.saturating_add(tokens.expires_in.unwrap_or(300)));
            }
            if let Some(r) = tokens.refresh_token {
                session.refresh_token = Some(r.expose().to_owned());
            }
            if !renewed {
                return end(Reason::RefreshIdTokenInvalid, inp);
            }
            session.seen = inp.now;
            if let Some(Ok(cs)) = jar(sc, inp).map(|j| seal_session(sc, j, &session, &present, inp)) {
                response_headers.extend(cs.into_iter().map(|c| ("set-cookie".to_owned(), c)));
            }
            Reason::SessionRefreshed
        }
        Err(TokenError::Rejected(_)) => return end(Reason::RefreshRejected, inp),
        // Transient: the session keeps working for the grace window past the provider's expiry, and the next
        // request tries again. Past the window the provider has been gone too long to vouch for anyone.
        Err(TokenError::Unavailable(fault)) => {
            let grace_end =
                session.provider_exp.unwrap_or(session.iat).saturating_add(sc.provider.refresh_grace_seconds);
            if inp.now >= grace_end {
                return end(Reason::RefreshGraceExceeded, inp);
            }
            // The person is active: slide the idle timeout as a normal request would, or the idle limit would
            // end the session long before the grace window does.
            if inp.now >= session.seen.saturating_add(sc.idle_timeout_seconds / 10) {
                session.seen = inp.now;
                if let Some(Ok(cs)) = jar(sc, inp).map(|j| seal_session(sc, j, &session, &present, inp)) {
                    response_headers.extend(cs.into_iter().map(|c| ("set-cookie".to_owned(), c)));
                }
            }
            Reason::Provider(fault)
        }
    };
    let fwd = Forward { response_headers, cookie_done: Some(remove_cookie), ..Forward::new(set_headers) };
    let v = Verdict { subject: Some(session.sub.clone()), ..verdict(route, reason, Some("oidc".into())) };
    allow(cfg, inp.strip, None, fwd, v)
}
