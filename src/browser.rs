//! Browser sessions: sign-in start, the callback, the answer of the token exchange, logout, and opening the
//! session cookie on every request. The only call that leaves the proxy is the token request.

use rand_core::RngCore;
use subtle::ConstantTimeEq;

use crate::b64;
use crate::cache::{Bounded, OpenedSession};
use crate::config::{ClientAuth, Config, SessionConfig, TokenEndpoint};
use crate::dat::Identity;
use crate::decide::Inputs;
use crate::decision::{Allow, Call, Decision, Pending, RefreshWait, Verdict};
use crate::oidc::token_response::{self, CallResponse, TokenError};
use crate::oidc::{form, id_token, pkce, query_param, return_path};
use crate::policy::{ResponseFormat, Route};
use crate::request::Request;
use crate::respond::{deny, page, redirect, verdict, Deny};
use crate::session::cookies::{CookieAttributes, SameSite};
use crate::session::{chunks, cookies, open, seal, FlowState, Session};
use crate::upstream;

fn random_b64(rng: &mut dyn RngCore, n: usize) -> String {
    let mut buf = vec![0u8; n];
    rng.fill_bytes(&mut buf);
    b64::encode(&buf)
}

fn binding(cfg: &Config) -> &str {
    &cfg.dataplane.deployment_id
}

/// The upstream's own session cookie (Airflow's `_token`): stripped from requests and from its responses.
pub const UPSTREAM_SESSION_COOKIES: &[&str] = &["_token"];

/// The `Cookie` header for the upstream without our cookies and its own `_token`: `None` when nothing
/// changes, `Some(None)` when nothing is left.
/// `Some(Some(rest))`: replace every `Cookie` line with `rest`; `Some(None)`: remove them all. HTTP/2 may
/// split cookies over several lines (RFC 9113 §8.2.3) and a client may send several anyway: all of them are
/// read and filtered as one (found by the hostile-request suite: a second line passed unfiltered).
pub fn upstream_cookie(cfg: &Config, req: &Request<'_>) -> Option<Option<String>> {
    let header = joined_cookies(req)?;
    let header = header.as_str();
    let ours = |n: &str| {
        UPSTREAM_SESSION_COOKIES.contains(&n)
            || cfg.session.as_ref().is_some_and(|sc| chunks::is_family(n, &sc.cookie_name) || sc.is_flow_cookie(n))
    };
    if !cookies::parse(header).iter().any(|(n, _)| ours(n)) {
        return None;
    }
    Some(cookies::without(header, ours))
}

pub fn request_cookies<'a>(req: &Request<'a>) -> Vec<(&'a str, &'a str)> {
    req.headers_named("cookie").flat_map(cookies::parse).collect()
}

fn joined_cookies(req: &Request<'_>) -> Option<String> {
    let lines: Vec<&str> = req.headers_named("cookie").collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// Whether `path` belongs to the sign-in flow (callback, logout, login pages) rather than to a route.
pub fn is_flow_path(sc: &SessionConfig, path: &str) -> bool {
    path == sc.callback_path
        || path == sc.logout_path
        || sc.logout_paths.iter().any(|p| p == path)
        || sc.login_paths.iter().any(|p| p == path)
}

/// Paths the login flow owns, whatever the routes say: the callback, logout, and the upstream's own login
/// and logout pages (Airflow's `/api/v2/auth/login` would otherwise show its password form).
pub fn special<'c>(
    cfg: &'c Config,
    sc: &'c SessionConfig,
    req: &Request<'_>,
    path: &str,
    query: Option<&str>,
    inp: &mut Inputs<'_>,
) -> Option<Decision<'c>> {
    if path == sc.callback_path {
        return Some(callback(cfg, sc, req, query.unwrap_or(""), inp));
    }
    if path == sc.logout_path || sc.logout_paths.iter().any(|p| p == path) {
        return Some(logout(cfg, sc, req, inp.now));
    }
    if sc.login_paths.iter().any(|p| p == path) {
        let next = return_path::sanitize(&query.and_then(|q| query_param(q, "next")).unwrap_or_else(|| "/".to_owned()));
        // Already signed in: go where the person wanted, keeping the session.
        if open_session(cfg, sc, &request_cookies(req), inp.now, Some(&mut inp.caches.sessions)).is_ok() {
            return Some(redirect(&next, Vec::new(), "already_signed_in", None));
        }
        return Some(start_login(cfg, sc, req, &next, None, inp));
    }
    None
}

/// A top-level browser navigation gets redirected to sign in; API calls and XHR get 401 instead, since a
/// redirect to an HTML login page is useless (and confusing) to them.
pub fn wants_redirect(req: &Request<'_>) -> bool {
    let nav = req.header("sec-fetch-mode").map(|m| m == "navigate");
    let html = req.header("accept").is_some_and(|a| a.contains("text/html"));
    matches!(req.method, "GET" | "HEAD") && req.header("x-requested-with").is_none() && nav.unwrap_or(html)
}

pub fn start_login<'c>(
    cfg: &'c Config,
    sc: &'c SessionConfig,
    req: &Request<'_>,
    return_to: &str,
    route: Option<&Route>,
    inp: &mut Inputs<'_>,
) -> Decision<'c> {
    // API clients asking to sign in during an outage get the 503 as JSON; browsers get the page.
    let json = req.header("accept").is_some_and(|a| a.contains("application/json") && !a.contains("text/html"));
    if json && (inp.provider_down || cfg.faults.provider_unavailable) {
        return deny(cfg, route, ResponseFormat::Json, Deny::Unavailable, "idp_down", None);
    }
    start_login_with(cfg, sc, &family(&request_cookies(req), sc), return_to, route, inp)
}

fn start_login_with<'c>(
    cfg: &'c Config,
    sc: &'c SessionConfig,
    present: &[String],
    return_to: &str,
    route: Option<&Route>,
    inp: &mut Inputs<'_>,
) -> Decision<'c> {
    if inp.provider_down || cfg.faults.provider_unavailable {
        return page(503, "Sign-in unavailable", "The identity provider is not answering. If you were signed in, you still are; please try signing in again in a moment.", "idp_down", present.iter().map(|n| sc.attributes.clear(n)).collect());
    }
    let state = random_b64(inp.rng, 24);
    let nonce = random_b64(inp.rng, 24);
    let mut v = [0u8; 32];
    inp.rng.fill_bytes(&mut v);
    let verifier = pkce::verifier(v);
    let challenge = pkce::challenge(&verifier);
    let flow = FlowState { state, nonce, verifier, return_to: return_to.to_owned(), iat: inp.now };
    let flow_name = sc.flow_cookie_name(&flow.state);
    let Ok(plain) = serde_json::to_vec(&flow) else {
        return deny(cfg, route, ResponseFormat::Json, Deny::Unavailable, "flow_encode", None);
    };
    let mut nonce12 = [0u8; 12];
    inp.rng.fill_bytes(&mut nonce12);
    let Ok(sealed) = seal(&sc.keys, &flow_name, binding(cfg), &plain, nonce12) else {
        return deny(cfg, route, ResponseFormat::Json, Deny::Unavailable, "flow_seal", None);
    };
    let p = &sc.provider;
    let scope = p.scopes.join(" ");
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &p.client_id),
        ("redirect_uri", &sc.redirect_uri),
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
    redirect(&location, set, "login_redirect", route)
}

fn callback<'c>(
    cfg: &'c Config,
    sc: &'c SessionConfig,
    req: &Request<'_>,
    query: &str,
    inp: &mut Inputs<'_>,
) -> Decision<'c> {
    // Our states are 32 base64url characters; anything else is not ours, and must not reach a cookie name.
    let raw_state = query_param(query, "state");
    let state = raw_state
        .clone()
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if raw_state.is_some() && state.is_none() {
        return page(400, "Sign-in failed", "The sign-in response was not valid.", "bad_state", Vec::new());
    }
    let flow_name = state.as_deref().map(|s| sc.flow_cookie_name(s));
    let clear_flow = || flow_name.iter().map(|n| sc.attributes.clear(n)).collect::<Vec<_>>();
    if query_param(query, "error").is_some() {
        // RFC 6749 §4.1.2.1: the provider refused (the person cancelled, or policy). Not an outage.
        return page(401, "Sign-in failed", "The identity provider did not sign you in.", "idp_error", clear_flow());
    }
    let (Some(state), Some(flow_name)) = (state.as_deref(), flow_name.as_deref()) else {
        return page(400, "Sign-in failed", "The sign-in response was incomplete.", "missing_state", Vec::new());
    };
    let cookies = request_cookies(req);
    let Some(value) = cookies.iter().find(|(n, _)| *n == flow_name).map(|(_, v)| *v) else {
        // No flow cookie for this state: expired, already used (replay), or started in another browser.
        return page(400, "Sign-in expired", "This sign-in link is no longer valid.", "unknown_state", Vec::new());
    };
    let flow: Option<FlowState> =
        open(&sc.keys, flow_name, binding(cfg), value).ok().and_then(|o| serde_json::from_slice(&o.plaintext).ok());
    let Some(flow) = flow else {
        return page(400, "Sign-in expired", "This sign-in link is no longer valid.", "bad_flow_cookie", clear_flow());
    };
    // The cookie name carries only a prefix of the state; the whole state is compared in constant time.
    if !bool::from(flow.state.as_bytes().ct_eq(state.as_bytes())) {
        return page(400, "Sign-in failed", "The sign-in response did not match.", "state_mismatch", clear_flow());
    }
    if inp.now >= flow.iat.saturating_add(sc.flow_lifetime_seconds) {
        return page(400, "Sign-in expired", "This sign-in took too long.", "flow_expired", clear_flow());
    }
    let Some(code) = query_param(query, "code").filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return page(400, "Sign-in failed", "The sign-in response was incomplete.", "missing_code", clear_flow());
    };
    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", sc.redirect_uri.as_str()),
        ("code_verifier", flow.verifier.as_str()),
    ];
    let (headers, body) = token_request(sc, &sc.provider.token_endpoint, &fields);
    let stale_cookies = family(&cookies, sc);
    Decision::Call(Call {
        cluster: sc.provider.token_endpoint.cluster.clone(),
        headers,
        body,
        timeout_ms: sc.provider.token_endpoint.timeout_ms,
        then: Pending::CodeExchange { flow, flow_cookie: flow_name.to_owned(), stale_cookies },
        verdict: verdict(None, "code_exchange", None),
    })
}

/// A token endpoint request (RFC 6749 §4.1.3, §6) with the configured client authentication.
fn token_request(sc: &SessionConfig, t: &TokenEndpoint, grant: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let p = &sc.provider;
    let mut headers = vec![
        (":method".to_owned(), "POST".to_owned()),
        (":path".to_owned(), t.path.clone()),
        (":authority".to_owned(), t.authority.clone()),
        ("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
        ("accept".to_owned(), "application/json".to_owned()),
    ];
    let secret = String::from_utf8_lossy(p.client_secret.expose()).into_owned();
    let mut fields: Vec<(&str, &str)> = grant.to_vec();
    match p.client_auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
            let userpass = format!("{}:{}", form_component(&p.client_id), form_component(&secret));
            let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, userpass.as_bytes());
            headers.push(("authorization".to_owned(), format!("Basic {basic}")));
        }
        ClientAuth::Post => {
            fields.push(("client_id", &p.client_id));
            fields.push(("client_secret", &secret));
        }
    }
    (headers, form(&fields).into_bytes())
}

fn form_component(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn resume<'c>(cfg: &'c Config, pending: Pending, resp: &CallResponse, inp: &mut Inputs<'_>) -> Decision<'c> {
    let Some(sc) = &cfg.session else {
        return page(503, "Sign-in unavailable", "Sign-in is not configured.", "no_session_config", Vec::new());
    };
    match pending {
        Pending::CodeExchange { flow, flow_cookie, stale_cookies } => {
            let set = vec![sc.attributes.clear(&flow_cookie)];
            let tokens = match token_response::parse(resp) {
                Ok(t) => t,
                Err(TokenError::Unavailable(code)) => {
                    return page(
                        503,
                        "Sign-in unavailable",
                        "The identity provider is not answering. Please try again in a moment.",
                        code,
                        set,
                    );
                }
                Err(TokenError::Rejected(_)) => {
                    return page(
                        401,
                        "Sign-in failed",
                        "The identity provider refused the sign-in.",
                        "token_rejected",
                        set,
                    );
                }
            };
            let p = &sc.provider;
            let Some(id_token) = tokens.id_token else {
                return page(
                    503,
                    "Sign-in unavailable",
                    "The identity provider's answer was incomplete.",
                    "idp_no_id_token",
                    set,
                );
            };
            let claims = match id_token::validate(
                id_token.expose(),
                &p.issuer,
                &p.client_id,
                Some(&flow.nonce),
                p.roles_claim.as_deref(),
                Some(inp.remote),
                inp.now,
            ) {
                Ok(c) => c,
                Err(e) => {
                    return page(
                        401,
                        "Sign-in failed",
                        "The identity provider's answer could not be verified.",
                        e.code(),
                        set,
                    )
                }
            };
            let session = Session {
                sub: claims.sub,
                name: claims.name,
                email: claims.email,
                roles: claims.roles,
                iat: inp.now,
                seen: inp.now,
                abs: inp.now.saturating_add(sc.lifetime_seconds),
                id_token: p.end_session_endpoint.as_ref().map(|_| id_token.expose().to_owned()),
                refresh_token: if p.keep_refresh_token {
                    tokens.refresh_token.map(|r| r.expose().to_owned())
                } else {
                    None
                },
                provider_exp: claims.exp.or(tokens.expires_in.map(|e| inp.now.saturating_add(e))),
                upstream_token: None,
                upstream_exp: None,
            };
            if let Some(ex) = &cfg.exchange {
                // RFC 8693 §2.1: the provider's token for this person buys the upstream's token, once, now.
                let subject = if ex.subject_id_token { Some(id_token) } else { tokens.access_token };
                let Some(subject) = subject else {
                    return page(
                        503,
                        "Sign-in unavailable",
                        "The identity provider's answer was incomplete.",
                        "idp_no_access_token",
                        set,
                    );
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
                let (headers, body) = token_request(sc, &ex.endpoint, &fields);
                return Decision::Call(Call {
                    cluster: ex.endpoint.cluster.clone(),
                    headers,
                    body,
                    timeout_ms: ex.endpoint.timeout_ms,
                    then: Pending::TokenExchange {
                        session: Box::new(session),
                        return_to: flow.return_to,
                        cookies: set,
                        stale_cookies,
                    },
                    verdict: verdict(None, "token_exchange", None),
                });
            }
            signed_in(cfg, sc, &session, &stale_cookies, set, &flow.return_to, inp)
        }
        Pending::Refresh(wait) => refreshed(cfg, sc, *wait, resp, inp),
        Pending::TokenExchange { session, return_to, cookies, stale_cookies } => {
            let mut session = *session;
            let set = cookies;
            match token_response::parse_exchange(resp) {
                Ok((token, expires_in)) => {
                    session.upstream_exp = Some(inp.now.saturating_add(expires_in.unwrap_or(300)));
                    session.upstream_token = Some(token.expose().to_owned());
                }
                Err(TokenError::Unavailable(code)) => {
                    return page(
                        503,
                        "Sign-in unavailable",
                        "The token service is not answering. Please try again in a moment.",
                        code,
                        set,
                    );
                }
                Err(TokenError::Rejected(_)) => {
                    return page(
                        403,
                        "Sign-in refused",
                        "You are signed in, but no access to this deployment was granted.",
                        "exchange_rejected",
                        set,
                    );
                }
            }
            signed_in(cfg, sc, &session, &stale_cookies, set, &return_to, inp)
        }
    }
}

/// The token endpoint answered a refresh. Success renews the session; `invalid_grant` ends it; an outage
/// leaves it as it was, so people keep working while the provider is down.
fn refreshed<'c>(
    cfg: &'c Config,
    sc: &'c SessionConfig,
    wait: RefreshWait,
    resp: &CallResponse,
    inp: &mut Inputs<'_>,
) -> Decision<'c> {
    let RefreshWait { mut session, route_index, set_headers, remove_cookie, present, wants_redirect, return_to } = wait;
    let route = cfg.routes.get(route_index);
    let p = &sc.provider;
    let mut response_headers = Vec::new();
    let reason = match token_response::parse(resp) {
        Ok(tokens) => {
            let mut renewed = true;
            if let Some(id) = &tokens.id_token {
                match id_token::validate(
                    id.expose(),
                    &p.issuer,
                    &p.client_id,
                    None,
                    p.roles_claim.as_deref(),
                    Some(inp.remote),
                    inp.now,
                ) {
                    // OIDC Core §12.2: the refreshed ID token is about the same person.
                    Ok(c) if c.sub == session.sub => {
                        session.roles = c.roles;
                        session.provider_exp = c.exp;
                        if p.end_session_endpoint.is_some() {
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
                return end_session(
                    cfg,
                    sc,
                    route,
                    &present,
                    wants_redirect,
                    &return_to,
                    inp,
                    "refresh_id_token_invalid",
                );
            }
            session.seen = inp.now;
            if let Ok(cs) = seal_session(cfg, sc, &session, &present, inp) {
                response_headers.extend(cs.into_iter().map(|c| ("set-cookie".to_owned(), c)));
            }
            "session_refreshed"
        }
        Err(TokenError::Rejected(_)) => {
            return end_session(cfg, sc, route, &present, wants_redirect, &return_to, inp, "refresh_rejected");
        }
        // Transient: the session keeps working for the grace window past the provider's expiry, and the next
        // request tries again. Past the window the provider has been gone too long to vouch for anyone.
        Err(TokenError::Unavailable(code)) => {
            let grace_end =
                session.provider_exp.unwrap_or(session.iat).saturating_add(sc.provider.refresh_grace_seconds);
            if inp.now >= grace_end {
                return end_session(
                    cfg,
                    sc,
                    route,
                    &present,
                    wants_redirect,
                    &return_to,
                    inp,
                    "refresh_grace_exceeded",
                );
            }
            // The person is active: slide the idle timeout as a normal request would, or the idle limit would
            // end the session long before the grace window does.
            if inp.now >= session.seen.saturating_add(sc.idle_timeout_seconds / 10) {
                session.seen = inp.now;
                if let Ok(cs) = seal_session(cfg, sc, &session, &present, inp) {
                    response_headers.extend(cs.into_iter().map(|c| ("set-cookie".to_owned(), c)));
                }
            }
            code
        }
    };
    let mut remove: Vec<&'c str> = cfg.token_sources.iter().map(|s| s.header.as_str()).collect();
    remove.extend(cfg.forged_headers.iter().map(String::as_str));
    if remove_cookie {
        remove.push("cookie");
    }
    Decision::Allow(Allow {
        remove_headers: remove,
        set_headers,
        response_headers,
        drop_set_cookies: UPSTREAM_SESSION_COOKIES,
        verdict: Verdict { subject: Some(session.sub.clone()), ..verdict(route, reason, Some("oidc".into())) },
    })
}

#[allow(clippy::too_many_arguments)]
fn end_session<'c>(
    cfg: &'c Config,
    sc: &'c SessionConfig,
    route: Option<&'c Route>,
    present: &[String],
    wants_redirect: bool,
    return_to: &str,
    inp: &mut Inputs<'_>,
    reason: &'static str,
) -> Decision<'c> {
    let clear: Vec<String> = present.iter().map(|n| sc.attributes.clear(n)).collect();
    if wants_redirect {
        if let Decision::Reply(mut r) = start_login_with(cfg, sc, &[], return_to, route, inp) {
            r.headers.extend(clear.into_iter().map(|c| ("set-cookie".to_owned(), c)));
            r.verdict.reason = reason;
            return Decision::Reply(r);
        }
    }
    let format = route.map_or(ResponseFormat::Json, |r| r.response);
    match deny(cfg, route, format, Deny::MissingCredential, reason, Some("oidc".into())) {
        Decision::Reply(mut r) => {
            r.headers.extend(clear.into_iter().map(|c| ("set-cookie".to_owned(), c)));
            Decision::Reply(r)
        }
        other => other,
    }
}

/// The end of a sign-in: the new session's cookies and back to where the person started.
fn signed_in<'c>(
    cfg: &Config,
    sc: &SessionConfig,
    session: &Session,
    stale_cookies: &[String],
    mut set: Vec<String>,
    return_to: &str,
    inp: &mut Inputs<'_>,
) -> Decision<'c> {
    match seal_session(cfg, sc, session, stale_cookies, inp) {
        Ok(cookies) => set.extend(cookies),
        Err(reason) => return page(500, "Sign-in failed", "The session could not be stored.", reason, set),
    }
    redirect(return_to, set, "signed_in", None)
}

/// `Set-Cookie` values for `session`, clearing chunks the browser holds beyond the new ones.
fn seal_session(
    cfg: &Config,
    sc: &SessionConfig,
    session: &Session,
    present: &[String],
    inp: &mut Inputs<'_>,
) -> Result<Vec<String>, &'static str> {
    let plain = serde_json::to_vec(session).map_err(|_| "session_encode")?;
    let mut nonce = [0u8; 12];
    inp.rng.fill_bytes(&mut nonce);
    let sealed = seal(&sc.keys, &sc.cookie_name, binding(cfg), &plain, nonce).map_err(|e| e.code())?;
    let parts = chunks::split(&sc.cookie_name, &sealed).ok_or("session_too_large")?;
    let max_age = session.abs.saturating_sub(inp.now);
    let mut out: Vec<String> = parts.iter().map(|(n, v)| sc.attributes.set_cookie(n, v, Some(max_age))).collect();
    for name in present {
        if !parts.iter().any(|(n, _)| n == name) {
            out.push(sc.attributes.clear(name));
        }
    }
    Ok(out)
}

/// The names of the session cookie's family (`name`, `name.0`, …) present in the request.
fn family(cookies: &[(&str, &str)], sc: &SessionConfig) -> Vec<String> {
    cookies.iter().filter(|(n, _)| chunks::is_family(n, &sc.cookie_name)).map(|(n, _)| (*n).to_owned()).collect()
}

/// Tampered, truncated, swapped, expired and idle cookies all come back as `Err`: exactly like no session.
/// With a cache, a cookie value opened before is not decrypted again; the expiry checks run every time.
pub fn open_session(
    cfg: &Config,
    sc: &SessionConfig,
    cookies: &[(&str, &str)],
    now: u64,
    mut cache: Option<&mut Bounded<OpenedSession>>,
) -> Result<OpenedSession, &'static str> {
    let value = chunks::join(cookies, &sc.cookie_name).ok_or("no_session")?;
    let cached = match &mut cache {
        Some(c) => c.get(&value, now).cloned(),
        None => None,
    };
    let opened = match cached {
        Some(o) => o,
        None => {
            let sealed = open(&sc.keys, &sc.cookie_name, binding(cfg), &value).map_err(|e| e.code())?;
            let session: Session = serde_json::from_slice(&sealed.plaintext).map_err(|_| "cookie_format")?;
            let o = OpenedSession { session, stale_key: sealed.stale_key };
            if let Some(c) = cache {
                c.insert(&value, o.clone(), o.session.abs);
            }
            o
        }
    };
    if now >= opened.session.abs {
        return Err("session_expired");
    }
    if now >= opened.session.seen.saturating_add(sc.idle_timeout_seconds) {
        return Err("session_idle");
    }
    Ok(opened)
}

pub fn session_route<'c>(
    cfg: &'c Config,
    route: &'c Route,
    req: &Request<'_>,
    return_to: &str,
    inp: &mut Inputs<'_>,
    mut set: Vec<(String, String)>,
) -> Decision<'c> {
    let Some(sc) = &cfg.session else {
        return deny(cfg, Some(route), route.response, Deny::MissingCredential, "session_unavailable", None);
    };
    let cookies = request_cookies(req);
    let OpenedSession { mut session, stale_key } =
        match open_session(cfg, sc, &cookies, inp.now, Some(&mut inp.caches.sessions)) {
            Ok(o) => o,
            Err(reason) => {
                if route.redirect_browsers && wants_redirect(req) {
                    return start_login(cfg, sc, req, &return_path::sanitize(return_to), Some(route), inp);
                }
                return deny(cfg, Some(route), route.response, Deny::MissingCredential, reason, None);
            }
        };
    let mut permissions = std::collections::BTreeSet::new();
    for r in &session.roles {
        if let Some(p) = cfg.roles.get(r) {
            permissions.extend(p.iter().cloned());
        }
    }
    if !route.permissions.iter().all(|p| permissions.contains(p)) {
        return deny(
            cfg,
            Some(route),
            route.response,
            Deny::Forbidden,
            "insufficient_permissions",
            Some("oidc".into()),
        );
    }
    let (token, roles) = if cfg.exchange.is_some() {
        // The exchanged token is kept until it expires; then the person signs in again (a refresh token
        // renews the provider's tokens, not the exchanged one).
        match (&session.upstream_token, session.upstream_exp) {
            (Some(t), Some(exp)) if inp.now.saturating_add(10) < exp => (t.clone(), session.roles.clone()),
            _ => {
                let present = family(&cookies, sc);
                let redirect = route.redirect_browsers && wants_redirect(req);
                return end_session(cfg, sc, Some(route), &present, redirect, return_to, inp, "upstream_token_expired");
            }
        }
    } else if let Some(minter) = &cfg.minter {
        let Some(role) = minter.role_for(&session.roles, &minter.roles) else {
            return deny(cfg, Some(route), route.response, Deny::Forbidden, "no_upstream_role", Some("oidc".into()));
        };
        match inp.caches.minted.get_or_mint(minter, &session.sub, role, inp.now, inp.rng) {
            Ok(t) => (t, vec![role.to_owned()]),
            Err(_) => return deny(cfg, Some(route), route.response, Deny::Unavailable, "mint_failed", None),
        }
    } else {
        return deny(cfg, Some(route), route.response, Deny::MissingCredential, "session_unavailable", None);
    };
    let identity = Identity {
        issuer: "oidc".into(),
        subject: session.sub.clone(),
        token_id: None,
        scope: None,
        roles,
        permissions,
    };
    set.extend(upstream::identity_headers(&cfg.identity_headers, &identity));
    set.push(("authorization".to_owned(), format!("Bearer {token}")));
    let mut remove = Vec::new();
    // Our cookies and the upstream's own `_token` never reach it: the minted header is the only credential.
    match upstream_cookie(cfg, req) {
        Some(Some(rest)) => {
            remove.push("cookie");
            set.push(("cookie".to_owned(), rest));
        }
        Some(None) => remove.push("cookie"),
        None => {}
    }
    let present = family(&cookies, sc);
    let refresh_due = session.refresh_token.is_some()
        && session.provider_exp.is_some_and(|exp| inp.now.saturating_add(sc.provider.refresh_before_seconds) >= exp);
    if let (true, Some(refresh)) = (refresh_due, session.refresh_token.clone()) {
        let skip = inp.provider_down || cfg.faults.provider_unavailable;
        let (headers, body) = token_request(
            sc,
            &sc.provider.token_endpoint,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        );
        let route_index = cfg.routes.iter().position(|r| std::ptr::eq(r, route)).unwrap_or(usize::MAX);
        let remove_cookie = remove.contains(&"cookie");
        let wait = RefreshWait {
            session,
            route_index,
            set_headers: set,
            remove_cookie,
            present,
            wants_redirect: route.redirect_browsers && wants_redirect(req),
            return_to: return_to.to_owned(),
        };
        // While the circuit breaker is open, a refresh would only wait for the timeout: fail it at once.
        if skip {
            let down = CallResponse { status: Some(503), content_type: None, body: Vec::new(), truncated: false };
            return refreshed(cfg, sc, wait, &down, inp);
        }
        return Decision::Call(Call {
            cluster: sc.provider.token_endpoint.cluster.clone(),
            headers,
            body,
            timeout_ms: sc.provider.token_endpoint.timeout_ms,
            then: Pending::Refresh(Box::new(wait)),
            verdict: verdict(Some(route), "session_refresh", Some("oidc".into())),
        });
    }
    // Sliding idle timeout: re-seal at most every tenth of it, and whenever an older key opened the cookie
    // (so key rotation completes without logging anyone out).
    let mut response_headers = Vec::new();
    if stale_key || inp.now >= session.seen.saturating_add(sc.idle_timeout_seconds / 10) {
        session.seen = inp.now;
        if let Ok(cs) = seal_session(cfg, sc, &session, &present, inp) {
            response_headers.extend(cs.into_iter().map(|c| ("set-cookie".to_owned(), c)));
        }
    }
    remove.extend(cfg.token_sources.iter().map(|s| s.header.as_str()));
    remove.extend(cfg.forged_headers.iter().map(String::as_str));
    Decision::Allow(Allow {
        remove_headers: remove,
        set_headers: set,
        response_headers,
        drop_set_cookies: UPSTREAM_SESSION_COOKIES,
        verdict: Verdict { subject: Some(session.sub.clone()), ..verdict(Some(route), "session", Some("oidc".into())) },
    })
}

fn logout<'c>(cfg: &'c Config, sc: &'c SessionConfig, req: &Request<'_>, now: u64) -> Decision<'c> {
    let cookies = request_cookies(req);
    let mut clear: Vec<String> = cookies
        .iter()
        .filter(|(n, _)| chunks::is_family(n, &sc.cookie_name) || sc.is_flow_cookie(n))
        .map(|(n, _)| sc.attributes.clear(n))
        .collect();
    clear.dedup();
    let id_token = open_session(cfg, sc, &cookies, now, None).ok().and_then(|o| o.session.id_token);
    let after = sc.post_logout_redirect_uri.clone().unwrap_or_else(|| "/".to_owned());
    let location = match (&sc.provider.end_session_endpoint, id_token) {
        // Auth0's /v2/logout takes the client and an allow-listed `returnTo`, no hint.
        (Some(end), _) if sc.provider.auth0_logout => {
            let mut params = vec![("client_id", sc.provider.client_id.as_str())];
            if let Some(uri) = &sc.post_logout_redirect_uri {
                params.push(("returnTo", uri));
            }
            let sep = if end.contains('?') { '&' } else { '?' };
            format!("{end}{sep}{}", form(&params))
        }
        // OIDC RP-Initiated Logout §2: the hint names the session; the redirect must be registered.
        (Some(end), Some(hint)) => {
            let mut params = vec![("id_token_hint", hint.as_str()), ("client_id", sc.provider.client_id.as_str())];
            if let Some(uri) = &sc.post_logout_redirect_uri {
                params.push(("post_logout_redirect_uri", uri));
            }
            let sep = if end.contains('?') { '&' } else { '?' };
            format!("{end}{sep}{}", form(&params))
        }
        _ => after,
    };
    redirect(&location, clear, "logout", None)
}
