//! Starting sign-in: OIDC Core §3.1.2.1 with PKCE (RFC 7636) and a fresh state and nonce, kept in a sealed
//! flow cookie named after the state, so several sign-ins in several tabs do not overwrite each other.

use super::pages::{show, Page};
use super::{family, jar, random_b64, redirect_uri, request_cookies};
use crate::config::{Config, SessionConfig};
use crate::context::Inputs;
use crate::decision::Decision;
use crate::oidc::{form, pkce};
use crate::policy::{ResponseFormat, Route};
use crate::reason::Reason;
use crate::request::Request;
use crate::respond::{deny, redirect, Deny};
use crate::session::cookies::{CookieAttributes, SameSite};
use crate::session::{seal, FlowState};

pub fn start_login(
    cfg: &Config,
    sc: &SessionConfig,
    req: &Request<'_>,
    return_to: &str,
    route: Option<&Route>,
    inp: &mut Inputs<'_>,
) -> Decision {
    // API clients asking to sign in during an outage get the 503 as JSON; browsers get the page.
    let json = req.header("accept").is_some_and(|a| a.contains("application/json") && !a.contains("text/html"));
    if json && (inp.provider_down || cfg.faults.provider_unavailable) {
        return deny(cfg, route, ResponseFormat::Json, Deny::Unavailable, Reason::IdpDown, None);
    }
    let present = jar(sc, inp).map(|j| family(&request_cookies(req), j.name)).unwrap_or_default();
    start_login_with(cfg, sc, &present, return_to, route, inp)
}

/// The redirect to the provider; `present` names session cookies to clear (they did not open).
pub(super) fn start_login_with(
    cfg: &Config,
    sc: &SessionConfig,
    present: &[String],
    return_to: &str,
    route: Option<&Route>,
    inp: &mut Inputs<'_>,
) -> Decision {
    if inp.provider_down || cfg.faults.provider_unavailable {
        let clear = present.iter().map(|n| sc.attributes.clear(n)).collect();
        return show(Page::ProviderDown, Reason::IdpDown, clear);
    }
    let Some(j) = jar(sc, inp) else {
        return deny(cfg, route, ResponseFormat::Json, Deny::Forbidden, Reason::NoDeployment, None);
    };
    // The state names the deployment (its tag), so the shared callback knows which one the flow is for.
    let mut random = [0u8; 16];
    inp.rng.fill_bytes(&mut random);
    let state = crate::classify::new_state(random, j.binding);
    let nonce = random_b64(inp.rng, 24);
    let mut v = [0u8; 32];
    inp.rng.fill_bytes(&mut v);
    let verifier = pkce::verifier(v);
    let challenge = pkce::challenge(&verifier);
    let flow = FlowState { state, nonce, verifier, return_to: return_to.to_owned(), iat: inp.now };
    let flow_name = sc.flow_cookie_name(&flow.state);
    let Ok(plain) = serde_json::to_vec(&flow) else {
        return deny(cfg, route, ResponseFormat::Json, Deny::Unavailable, Reason::FlowEncode, None);
    };
    let mut nonce12 = [0u8; 12];
    inp.rng.fill_bytes(&mut nonce12);
    let Ok(sealed) = seal(&sc.keys, &flow_name, j.binding, &plain, nonce12) else {
        return deny(cfg, route, ResponseFormat::Json, Deny::Unavailable, Reason::FlowSeal, None);
    };
    let p = &sc.provider;
    let scope = p.scopes.join(" ");
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &p.client_id),
        ("redirect_uri", redirect_uri(sc, inp)),
        ("scope", &scope),
        ("state", &flow.state),
        ("nonce", &flow.nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(a) = &p.audience {
        params.push(("audience", a));
    }
    params.extend(p.extra_params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let sep = if p.authorization_endpoint.contains('?') { '&' } else { '?' };
    let location = format!("{}{sep}{}", p.authorization_endpoint, form(&params));
    // The flow cookie must come back on the provider's cross-site redirect to the callback, which a Strict
    // cookie would not (RFC 6265bis §5.5.7.1): it is always Lax, whatever the session cookie is.
    let flow_attributes = CookieAttributes { same_site: SameSite::Lax, ..sc.attributes.clone() };
    let mut set = vec![flow_attributes.set_cookie(&flow_name, &sealed, Some(sc.flow_lifetime_seconds))];
    // A session cookie that did not open is cleared now, so it cannot shadow the new one.
    set.extend(present.iter().map(|name| sc.attributes.clear(name)));
    redirect(&location, set, Reason::LoginRedirect, route)
}
