//! The token endpoint's answer to the code (OIDC Core §3.1.3.3 and §3.1.3.7), then, when configured, the
//! RFC 8693 exchange of the provider's token for the upstream's; the session is sealed at the end.

use super::pages::{show, Page};
use super::session::seal_session;
use super::{jar, token_request};
use crate::call::CallResponse;
use crate::config::{Config, SessionConfig};
use crate::context::Inputs;
use crate::decision::{Decision, Pending, PendingState};
use crate::oidc::id_token;
use crate::oidc::token_response::{self, TokenError};
use crate::reason::Reason;
use crate::respond::{redirect, verdict};
use crate::session::{FlowState, Session};

pub fn code_answered(
    cfg: &Config,
    sc: &SessionConfig,
    flow: FlowState,
    flow_cookie: &str,
    stale_cookies: Vec<String>,
    resp: &CallResponse,
    inp: &mut Inputs<'_>,
) -> Decision {
    let set = vec![sc.attributes.clear(flow_cookie)];
    let tokens = match token_response::parse(resp) {
        Ok(t) => t,
        Err(TokenError::Unavailable(fault)) => return show(Page::ProviderNotAnswering, Reason::Provider(fault), set),
        Err(TokenError::Rejected(_)) => return show(Page::ProviderRefused, Reason::TokenRejected, set),
    };
    let p = &sc.provider;
    let Some(id_token) = tokens.id_token else {
        return show(Page::ProviderAnswerIncomplete, Reason::IdpNoIdToken, set);
    };
    // RFC 6749 §5.1: a successful answer always has an access token; one without is not a sign-in.
    let Some(access_token) = &tokens.access_token else {
        return show(Page::ProviderAnswerIncomplete, Reason::IdpNoAccessToken, set);
    };
    let bound = id_token::Bound { nonce: Some(&flow.nonce), access_token: Some(access_token.expose()) };
    let claims = match id_token::validate(
        id_token.expose(),
        &p.issuer,
        &p.client_id,
        bound,
        p.roles_claim.as_deref(),
        Some(inp.remote),
        inp.now,
    ) {
        Ok(c) => c,
        Err(e) => return show(Page::AnswerNotVerified, Reason::IdToken(e), set),
    };
    let session = Session {
        sub: claims.sub,
        name: claims.name,
        email: claims.email,
        roles: claims.roles,
        sid: claims.sid,
        iat: inp.now,
        seen: inp.now,
        abs: inp.now.saturating_add(sc.lifetime_seconds),
        id_token: p.may_end_session().then(|| id_token.expose().to_owned()),
        refresh_token: if p.keep_refresh_token { tokens.refresh_token.map(|r| r.expose().to_owned()) } else { None },
        provider_exp: claims.exp.or(tokens.expires_in.map(|e| inp.now.saturating_add(e))),
        upstream_token: None,
        upstream_exp: None,
    };
    let Some(ex) = &cfg.exchange else {
        return signed_in(sc, &session, &stale_cookies, set, &flow.return_to, inp);
    };
    // RFC 8693 §2.1: the provider's token for this person buys the upstream's token, once, now.
    let subject = if ex.subject_id_token { Some(id_token) } else { tokens.access_token };
    let Some(subject) = subject else {
        return show(Page::ProviderAnswerIncomplete, Reason::IdpNoAccessToken, set);
    };
    let kind = if ex.subject_id_token { "id_token" } else { "access_token" };
    let subject_type = format!("urn:ietf:params:oauth:token-type:{kind}");
    let mut fields = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", subject.expose()),
        ("subject_token_type", subject_type.as_str()),
        ("audience", ex.audience.as_str()),
    ];
    if let Some(t) = &ex.requested_token_type {
        fields.push(("requested_token_type", t));
    }
    let then = Pending::new(
        PendingState::TokenExchange {
            session: Box::new(session),
            return_to: flow.return_to,
            cookies: set,
            stale_cookies,
        },
        inp.deployment.map(|(i, _)| i),
    );
    Decision::Call(Box::new(token_request::call(
        sc,
        &ex.endpoint,
        &fields,
        then,
        verdict(None, Reason::TokenExchange, None),
    )))
}

#[allow(clippy::too_many_arguments)]
pub fn exchange_answered(
    sc: &SessionConfig,
    mut session: Session,
    return_to: &str,
    set: Vec<String>,
    stale_cookies: Vec<String>,
    resp: &CallResponse,
    inp: &mut Inputs<'_>,
) -> Decision {
    match token_response::parse_exchange(resp) {
        Ok((token, expires_in)) => {
            session.upstream_exp = Some(inp.now.saturating_add(expires_in.unwrap_or(300)));
            session.upstream_token = Some(token.expose().to_owned());
        }
        Err(TokenError::Unavailable(fault)) => return show(Page::TokenServiceDown, Reason::Provider(fault), set),
        Err(TokenError::Rejected(_)) => return show(Page::NoAccess, Reason::ExchangeRejected, set),
    }
    signed_in(sc, &session, &stale_cookies, set, return_to, inp)
}

/// The end of a sign-in: the new session's cookies and back to where the person started.
fn signed_in(
    sc: &SessionConfig,
    session: &Session,
    stale_cookies: &[String],
    mut set: Vec<String>,
    return_to: &str,
    inp: &mut Inputs<'_>,
) -> Decision {
    let Some(j) = jar(sc, inp) else { return show(Page::LinkInvalid, Reason::UnknownState, set) };
    match seal_session(sc, j, session, stale_cookies, inp) {
        Ok(cookies) => set.extend(cookies),
        Err(reason) => return show(Page::CannotStore, reason, set),
    }
    redirect(return_to, set, Reason::SignedIn, None)
}
