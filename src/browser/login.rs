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
    let cookies = request_cookies(req);
    let present = jar(sc, inp).map(|j| family(&cookies, j.name)).unwrap_or_default();
    let flows: Vec<Flow> = cookies
        .iter()
        .filter(|(n, _)| sc.is_flow_cookie(n))
        .map(|(n, v)| Flow { name: n, bytes: n.len() + 1 + v.len() })
        .collect();
    start_login_with(cfg, sc, &present, &flows, return_to, route, inp)
}

/// A sign-in in progress in this browser: its flow cookie's name and size on the wire.
pub(super) struct Flow<'a> {
    pub name: &'a str,
    pub bytes: usize,
}

/// Sign-ins one browser may have in progress at once (tabs), and the bytes their cookies may take together:
/// without a bound, every abandoned start leaves a cookie until the `Cookie` header passes the proxy's limit
/// (Envoy's default 8 KiB for all headers) and the person is locked out.
const MAX_FLOWS: usize = 4;
const FLOW_BYTES: usize = 4096;

/// The flow cookies to clear so that, with the new one, at most `MAX_FLOWS` remain within `FLOW_BYTES`. The
/// oldest go first: browsers send cookies of the same path in order of creation (RFC 6265 §5.4 step 2).
fn evicted<'f>(flows: &'f [Flow<'f>], new_bytes: usize) -> impl Iterator<Item = &'f str> {
    let mut bytes = new_bytes;
    // Newest first, keep while both limits hold; everything older than the last one kept goes.
    let kept = flows
        .iter()
        .rev()
        .take(MAX_FLOWS - 1)
        .take_while(|f| {
            bytes += f.bytes;
            bytes <= FLOW_BYTES
        })
        .count();
    flows.iter().take(flows.len() - kept).map(|f| f.name)
}

/// The redirect to the provider; `present` names session cookies to clear (they did not open).
#[allow(clippy::too_many_arguments)]
pub(super) fn start_login_with(
    cfg: &Config,
    sc: &SessionConfig,
    present: &[String],
    flows: &[Flow<'_>],
    return_to: &str,
    route: Option<&Route>,
    inp: &mut Inputs<'_>,
) -> Decision {
    // Not yet discovered (the document has not been fetched) is an outage like any other for a sign-in.
    let authorization = sc.provider.endpoints(inp.remote).map(|e| e.authorization.to_owned());
    let Some(authorization) = authorization.filter(|_| !(inp.provider_down || cfg.faults.provider_unavailable)) else {
        let clear = present.iter().map(|n| sc.attributes.clear(n)).collect();
        return show(Page::ProviderDown, Reason::IdpDown, clear);
    };
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
    let sep = if authorization.contains('?') { '&' } else { '?' };
    let location = format!("{authorization}{sep}{}", form(&params));
    // The flow cookie must come back on the provider's cross-site redirect to the callback, which a Strict
    // cookie would not (RFC 6265bis §5.5.7.1): it is always Lax, whatever the session cookie is.
    let flow_attributes = CookieAttributes { same_site: SameSite::Lax, ..sc.attributes.clone() };
    let flow_cookie = flow_attributes.set_cookie(&flow_name, &sealed, Some(sc.flow_lifetime_seconds));
    let new_bytes = flow_name.len() + 1 + sealed.len();
    let mut set: Vec<String> = evicted(flows, new_bytes).map(|name| sc.attributes.clear(name)).collect();
    set.push(flow_cookie);
    // A session cookie that did not open is cleared now, so it cannot shadow the new one.
    set.extend(present.iter().map(|name| sc.attributes.clear(name)));
    redirect(&location, set, Reason::LoginRedirect, route)
}
