//! `session`: browser sign-in (the sealed cookie, its lifetimes, the flow's paths) against the provider
//! in `provider.rs`.

use super::fields;
use super::provider::{load_provider, url, Provider};
use super::reader::{check_header_name, Obj};
use super::{ConfigErrors, Env};
use crate::policy::normalize_path;
use crate::session::cookies::{CookieAttributes, SameSite};
use crate::session::KeyRing;

#[derive(Debug)]
pub struct SessionConfig {
    pub cookie_name: String,
    pub attributes: CookieAttributes,
    pub keys: KeyRing,
    pub lifetime_seconds: u64,
    pub idle_timeout_seconds: u64,
    pub flow_lifetime_seconds: u64,
    pub provider: Provider,
    pub redirect_uri: String,
    pub callback_path: String,
    pub logout_path: String,
    pub post_logout_redirect_uri: Option<String>,
    pub login_paths: Vec<String>,
    pub logout_paths: Vec<String>,
    pub claim_headers: ClaimHeaders,
    /// OIDC Back-Channel Logout: where the provider POSTs logout tokens.
    pub backchannel_logout_path: Option<String>,
    /// Sessions with these provider `sid`s are over.
    pub revoked_session_ids: std::collections::HashSet<String>,
    /// Sessions of a subject signed in before its time are over.
    pub subject_not_before: std::collections::HashMap<String, u64>,
}

/// Header names for the session's claims; `None` sends none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimHeaders {
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Option<String>,
}

impl ClaimHeaders {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        [&self.email, &self.name, &self.groups].into_iter().filter_map(|h| h.as_deref())
    }
}

impl SessionConfig {
    pub fn flow_cookie_name(&self, state: &str) -> String {
        let tag: String = state.chars().take(16).collect();
        format!("{}-flow-{tag}", self.cookie_name)
    }

    pub fn is_flow_cookie(&self, name: &str) -> bool {
        name.starts_with(&format!("{}-flow-", self.cookie_name))
    }
}

fn paths(errs: &mut ConfigErrors, o: &Obj<'_>, key: &str, default: &[&str]) -> Vec<String> {
    let list = if o.has(key) { o.string_list(errs, key) } else { default.iter().map(|s| (*s).to_owned()).collect() };
    for (i, p) in list.iter().enumerate() {
        if normalize_path(p).map(|(n, q)| n != *p || q.is_some()).unwrap_or(true) {
            errs.push(format!("{}[{i}]", o.at(key)), format!("{p:?} is not a normalized path"));
        }
    }
    list
}

pub(super) fn load_session(errs: &mut ConfigErrors, top: &Obj<'_>, env: Env<'_>) -> Option<SessionConfig> {
    let v = top.get("session")?;
    let o = Obj::open(errs, top.at("session"), v, &fields::SESSION)?;
    let cookie_name = o.opt_string(errs, "cookie_name").unwrap_or("__Host-gatehouse").to_owned();
    if !cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
        errs.push(o.at("cookie_name"), "expected letters, digits, '-' and '_' only");
    }
    let secure = o.flag(errs, "secure");
    let same_site = o
        .choice(errs, "same_site", &[("strict", SameSite::Strict), ("lax", SameSite::Lax), ("none", SameSite::None)])
        .unwrap_or(SameSite::Lax);
    let cookie_path = o.opt_string(errs, "path").unwrap_or("/").to_owned();
    let domain = o.opt_string(errs, "domain").map(str::to_owned);
    // RFC 6265bis §4.1.3: `__Host-` cookies are Secure, Path=/ and host-only; `__Secure-` cookies are Secure.
    if cookie_name.starts_with("__Host-") && (!secure || cookie_path != "/" || domain.is_some()) {
        errs.push(o.at("cookie_name"), "a __Host- cookie needs secure: true, path \"/\" and no domain");
    }
    if cookie_name.starts_with("__Secure-") && !secure {
        errs.push(o.at("cookie_name"), "a __Secure- cookie needs secure: true");
    }
    if same_site == SameSite::None && !secure {
        errs.push(o.at("same_site"), "SameSite=None cookies must be secure");
    }
    let keys = match o.string(errs, "keys_env") {
        Some(var) => match env(var) {
            Some(value) => match KeyRing::parse(&value) {
                Ok(r) => Some(r),
                Err(e) => {
                    errs.push(o.at("keys_env"), format!("environment variable {var}: {e}"));
                    None
                }
            },
            None => {
                errs.push(
                    o.at("keys_env"),
                    format!("environment variable {var} is not set in the VM (vm_config.environment_variables)"),
                );
                None
            }
        },
        None => None,
    };
    let lifetime = o.int(errs, "lifetime_seconds");
    let idle = o.int(errs, "idle_timeout_seconds");
    let flow = o.int(errs, "flow_lifetime_seconds");
    let redirect = o.string(errs, "redirect_uri").and_then(|u| url(errs, &o.at("redirect_uri"), u));
    let logout_path = o.opt_string(errs, "logout_path").unwrap_or("/oauth2/sign_out").to_owned();
    let post_logout = o
        .opt_string(errs, "post_logout_redirect_uri")
        .and_then(|u| url(errs, &o.at("post_logout_redirect_uri"), u))
        .map(|(u, _)| u);
    let login_paths = paths(errs, &o, "login_paths", &["/api/v2/auth/login", "/auth/login"]);
    let logout_paths = paths(errs, &o, "logout_paths", &["/api/v2/auth/logout"]);
    let provider = o.required(errs, "provider").and_then(|p| load_provider(errs, &o.at("provider"), p, env));
    let claim_headers = load_claim_headers(errs, &o);
    let backchannel_logout_path = o.opt_string(errs, "backchannel_logout_path").map(str::to_owned);
    if let Some(p) = &backchannel_logout_path {
        if normalize_path(p).map(|(n, q)| n != *p || q.is_some()).unwrap_or(true) {
            errs.push(o.at("backchannel_logout_path"), format!("{p:?} is not a normalized path"));
        }
        let taken = [logout_path.as_str()]
            .into_iter()
            .chain(login_paths.iter().map(String::as_str))
            .chain(logout_paths.iter().map(String::as_str));
        if taken.into_iter().any(|t| t == p) || redirect.as_ref().is_some_and(|(_, cb)| cb == p) {
            errs.push(o.at("backchannel_logout_path"), "already one of the sign-in flow's paths");
        }
    }
    let revoked_session_ids = o.string_list(errs, "revoked_session_ids").into_iter().collect();
    let subject_not_before = super::issuers::load_not_before(errs, &o);
    let (Some(keys), Some((redirect_uri, callback_path)), Some(provider)) = (keys, redirect, provider) else {
        return None;
    };
    Some(SessionConfig {
        cookie_name,
        attributes: CookieAttributes { secure, http_only: true, same_site, path: cookie_path, domain },
        keys,
        lifetime_seconds: lifetime,
        idle_timeout_seconds: idle,
        flow_lifetime_seconds: flow,
        provider,
        redirect_uri,
        callback_path,
        logout_path,
        post_logout_redirect_uri: post_logout,
        login_paths,
        logout_paths,
        claim_headers,
        backchannel_logout_path,
        revoked_session_ids,
        subject_not_before,
    })
}

fn load_claim_headers(errs: &mut ConfigErrors, o: &Obj<'_>) -> ClaimHeaders {
    let mut h = ClaimHeaders::default();
    let Some(v) = o.get("claim_headers") else { return h };
    let Some(c) = Obj::open(errs, o.at("claim_headers"), v, &fields::SESSION_CLAIM_HEADERS) else { return h };
    for (key, slot) in [("email", &mut h.email), ("name", &mut h.name), ("groups", &mut h.groups)] {
        if let Some(name) = c.opt_string(errs, key) {
            check_header_name(errs, &c.at(key), name);
            *slot = Some(name.to_owned());
        }
    }
    h
}
