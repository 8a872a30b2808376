//! The provider's redirect back (RFC 6749 §4.1.2): the state must name a flow cookie this browser holds,
//! sealed by us, unexpired and matching in full; then the code goes to the token endpoint.

use subtle::ConstantTimeEq;

use super::pages::{show, Page};
use super::{family, jar, redirect_uri, request_cookies, token_request};
use crate::config::SessionConfig;
use crate::context::Inputs;
use crate::decision::{Decision, Pending, PendingState};
use crate::oidc::{query_param, repeated_param};
use crate::reason::Reason;
use crate::request::Request;
use crate::respond::verdict;
use crate::session::{open, FlowState};

pub fn callback(sc: &SessionConfig, req: &Request<'_>, query: &str, inp: &mut Inputs<'_>) -> Decision {
    if repeated_param(query, &["code", "state", "iss", "error"]) {
        return show(Page::ResponseInvalid, Reason::DuplicateParameter, Vec::new());
    }
    // Our states are 32 base64url characters; anything else is not ours, and must not reach a cookie name.
    let raw_state = query_param(query, "state");
    let state = raw_state
        .clone()
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if raw_state.is_some() && state.is_none() {
        return show(Page::ResponseInvalid, Reason::BadState, Vec::new());
    }
    let flow_name = state.as_deref().map(|s| sc.flow_cookie_name(s));
    let clear_flow = || flow_name.iter().map(|n| sc.attributes.clear(n)).collect::<Vec<_>>();
    // RFC 9207 §2.4: a response naming another issuer is a mix-up attack (or a misconfiguration); one without
    // `iss` is refused when the provider says it always sends it.
    match query_param(query, "iss") {
        Some(iss) if iss != sc.provider.issuer.issuer => {
            return show(Page::ResponseMismatch, Reason::IssMismatch, clear_flow())
        }
        None if sc.provider.iss_parameter_required => {
            return show(Page::ResponseIncomplete, Reason::MissingIss, clear_flow())
        }
        _ => {}
    }
    if query_param(query, "error").is_some() {
        return show(Page::ProviderDidNotSignIn, Reason::IdpError, clear_flow());
    }
    let (Some(state), Some(flow_name)) = (state.as_deref(), flow_name.as_deref()) else {
        return show(Page::ResponseIncomplete, Reason::MissingState, Vec::new());
    };
    let cookies = request_cookies(req);
    // The deployment the state names (classification read its tag); a state that names none of ours cannot
    // have a flow cookie of ours either.
    let Some(j) = jar(sc, inp) else {
        return show(Page::LinkInvalid, Reason::UnknownState, Vec::new());
    };
    let Some(value) = cookies.iter().find(|(n, _)| *n == flow_name).map(|(_, v)| *v) else {
        // No flow cookie for this state: expired, already used (replay), or started in another browser.
        return show(Page::LinkInvalid, Reason::UnknownState, Vec::new());
    };
    let flow: Option<FlowState> =
        open(&sc.keys, flow_name, j.binding, value).ok().and_then(|o| serde_json::from_slice(&o.plaintext).ok());
    let Some(flow) = flow else {
        return show(Page::LinkInvalid, Reason::BadFlowCookie, clear_flow());
    };
    // The cookie name carries only a prefix of the state; the whole state is compared in constant time.
    if !bool::from(flow.state.as_bytes().ct_eq(state.as_bytes())) {
        return show(Page::ResponseMismatch, Reason::StateMismatch, clear_flow());
    }
    if inp.now >= flow.iat.saturating_add(sc.flow_lifetime_seconds) {
        return show(Page::TookTooLong, Reason::FlowExpired, clear_flow());
    }
    let Some(code) = query_param(query, "code").filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return show(Page::ResponseIncomplete, Reason::MissingCode, clear_flow());
    };
    let verifier = flow.verifier.clone();
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri(sc, inp)),
        ("code_verifier", verifier.as_str()),
    ];
    let stale_cookies = family(&cookies, j.name);
    let state = PendingState::CodeExchange { flow, flow_cookie: flow_name.to_owned(), stale_cookies };
    let then = Pending::new(state, Some(j.index));
    let v = verdict(None, Reason::CodeExchange, None);
    let Some(endpoints) = sc.provider.endpoints(inp.remote) else {
        return show(Page::ProviderNotAnswering, Reason::IdpDown, clear_flow());
    };
    Decision::Call(Box::new(token_request::call(sc, &endpoints.token, &fields, then, v)))
}
