//! Browser sessions, one step per file: starting sign-in (`login`), the provider's redirect back
//! (`callback`), the token endpoint's answers (`exchange`, `refresh`), the session cookie on every request
//! (`session`), and `logout`. The only calls that leave the proxy are token requests (`token_request`).

mod callback;
mod exchange;
mod login;
mod logout;
pub mod pages;
mod refresh;
mod session;
mod token_request;

use rand_core::RngCore;

pub use session::{open_session, session_route};

use crate::b64;
use crate::call::CallResponse;
use crate::classify::{Classified, FlowPath};
use crate::config::{Config, SessionConfig};
use crate::context::Inputs;
use crate::decision::{Decision, Pending, PendingState};
use crate::oidc::{query_param, return_path};
use crate::reason::Reason;
use crate::request::Request;
use crate::respond::{deny, redirect, verdict, Deny};
use crate::session::chunks;

fn random_b64(rng: &mut dyn RngCore, n: usize) -> String {
    let mut buf = vec![0u8; n];
    rng.fill_bytes(&mut buf);
    b64::encode(&buf)
}

/// Where one deployment's browser session lives: its cookie's name, what its sealed values are bound to
/// besides their name (the associated data: the deployment's id), and the deployment's index.
#[derive(Clone, Copy)]
pub(crate) struct Jar<'a> {
    pub name: &'a str,
    pub binding: &'a str,
    pub index: usize,
}

/// The jar of the deployment a request or a call is for; `None` when it is for none of ours.
pub(crate) fn jar<'s, 'a: 's>(sc: &'s SessionConfig, inp: &Inputs<'a>) -> Option<Jar<'s>> {
    let (index, d) = inp.deployment?;
    Some(Jar { name: d.cookie_name.as_deref().unwrap_or(&sc.cookie_name), binding: d.id(), index })
}

pub fn request_cookies<'a>(req: &Request<'a>) -> Vec<(&'a str, &'a str)> {
    req.headers_named("cookie").flat_map(crate::session::cookies::parse).collect()
}

/// Where the provider sends the browser back: the deployment's own callback URL, or the shared one.
fn redirect_uri<'s, 'a: 's>(sc: &'s SessionConfig, inp: &Inputs<'a>) -> &'s str {
    inp.deployment.and_then(|(_, d)| d.redirect_uri.as_ref()).map_or(sc.redirect_uri.as_str(), |(uri, _)| uri.as_str())
}

/// The names of the session cookie's family (`name`, `name.0`, …) present in the request.
fn family(cookies: &[(&str, &str)], name: &str) -> Vec<String> {
    cookies.iter().filter(|(n, _)| chunks::is_family(n, name)).map(|(n, _)| (*n).to_owned()).collect()
}

/// A top-level browser navigation gets redirected to sign in; API calls and XHR get 401 instead, since a
/// redirect to an HTML login page is useless (and confusing) to them.
pub fn wants_redirect(req: &Request<'_>) -> bool {
    let nav = req.header("sec-fetch-mode").map(|m| m == "navigate");
    let html = req.header("accept").is_some_and(|a| a.contains("text/html"));
    matches!(req.method, "GET" | "HEAD") && req.header("x-requested-with").is_none() && nav.unwrap_or(html)
}

/// A request to one of the sign-in flow's own paths.
pub fn flow(
    cfg: &Config,
    sc: &SessionConfig,
    step: FlowPath,
    req: &Request<'_>,
    c: &Classified<'_, '_>,
    inp: &mut Inputs<'_>,
) -> Decision {
    match step {
        FlowPath::Callback => callback::callback(sc, req, c.query.unwrap_or(""), inp),
        FlowPath::Logout => logout::logout(sc, jar(sc, inp), req, inp.now, inp.remote),
        // §2.5: the provider POSTs the token as a form; anything else is not a logout.
        FlowPath::BackchannelLogout if req.method == "POST" => {
            let mut remove_headers = inp.strip.always.clone();
            remove_headers
                .extend([std::sync::Arc::clone(&inp.strip.authorization), std::sync::Arc::clone(&inp.strip.cookie)]);
            Decision::ReadBody(crate::decision::ReadBody {
                max: crate::oidc::logout_token::MAX_BODY,
                remove_headers,
                verdict: verdict(None, Reason::BackchannelLogout, Some("oidc".into())),
            })
        }
        FlowPath::BackchannelLogout => {
            let reason = Reason::LogoutToken(crate::oidc::logout_token::LogoutTokenError::NoToken);
            deny(cfg, None, crate::policy::ResponseFormat::Json, Deny::BadRequest, reason, Some("oidc".into()))
        }
        FlowPath::Login => {
            let next = c.query.and_then(|q| query_param(q, "next")).unwrap_or_else(|| "/".to_owned());
            let next = return_path::sanitize(&next);
            let next = if crate::classify::is_flow_target(cfg, req.authority, &next) { "/".to_owned() } else { next };
            // Already signed in: go where the person wanted, keeping the session.
            if let Some(j) = jar(sc, inp) {
                if open_session(sc, j, &request_cookies(req), inp.now, Some(&mut inp.caches.sessions)).is_ok() {
                    return redirect(&next, Vec::new(), Reason::AlreadySignedIn, None);
                }
            }
            login::start_login(cfg, sc, req, &next, None, inp)
        }
    }
}

/// A callback whose state was spent already (a replayed flow cookie and state), or could not be marked spent.
pub fn state_refused(cfg: &Config, pending: Pending, reason: Reason) -> Decision {
    let clear = match (&cfg.session, &pending.state) {
        (Some(sc), PendingState::CodeExchange { flow_cookie, .. }) => vec![sc.attributes.clear(flow_cookie)],
        _ => Vec::new(),
    };
    let page = if reason == Reason::StateReplayed { pages::Page::LinkInvalid } else { pages::Page::CannotStore };
    pages::show(page, reason, clear)
}

/// Continues a sign-in or a session after its token call answered.
pub fn resume(cfg: &Config, pending: Pending, resp: &CallResponse, inp: &mut Inputs<'_>) -> Decision {
    let Some(sc) = &cfg.session else {
        return pages::show(pages::Page::NotConfigured, Reason::NoSessionConfig, Vec::new());
    };
    match pending.state {
        PendingState::CodeExchange { flow, flow_cookie, stale_cookies } => {
            exchange::code_answered(cfg, sc, flow, &flow_cookie, stale_cookies, resp, inp)
        }
        PendingState::Refresh(wait) => refresh::refreshed(cfg, sc, *wait, resp, inp),
        PendingState::TokenExchange { session, return_to, cookies, stale_cookies } => {
            exchange::exchange_answered(sc, *session, &return_to, cookies, stale_cookies, resp, inp)
        }
    }
}
