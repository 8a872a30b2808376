//! Each check: one request and what its answer must look like.

use std::time::Duration;

use super::client::{Client, Reply};
use super::options::Target;

/// One check's result. `status` is `None` when no response came.
#[derive(Debug)]
pub(super) struct Check {
    /// The deployment checked (with `--deployment`).
    pub(super) deployment: Option<String>,
    pub(super) name: &'static str,
    pub(super) ok: bool,
    pub(super) status: Option<u16>,
    pub(super) latency: Duration,
    pub(super) reason: Option<String>,
}

/// Runs one request and judges its answer: `Ok(())` or a reason code.
pub(super) fn check(
    client: &Client,
    target: &Target,
    name: &'static str,
    path: &str,
    headers: &[(&str, &str)],
    judge: impl Fn(&Reply) -> Result<(), String>,
) -> Check {
    let (latency, result) = client.get(target.host.as_deref(), &format!("{}{path}", target.prefix), headers);
    let deployment = target.deployment.clone();
    match result {
        Ok(reply) => {
            let verdict = judge(&reply);
            Check { deployment, name, ok: verdict.is_ok(), status: Some(reply.status), latency, reason: verdict.err() }
        }
        Err(reason) => Check { deployment, name, ok: false, status: None, latency, reason: Some(reason.to_owned()) },
    }
}

pub(super) fn status_reason(status: u16) -> String {
    format!("status_{status}")
}

pub(super) fn success(reply: &Reply) -> Result<(), String> {
    if (200..300).contains(&reply.status) {
        Ok(())
    } else {
        Err(status_reason(reply.status))
    }
}

/// A request without a credential: 401 with a Bearer challenge proves the filter is enforcing.
pub(super) fn bearer_challenge(reply: &Reply) -> Result<(), String> {
    match reply.status {
        401 => {
            let scheme = reply.www_authenticate.as_deref().and_then(|v| v.split_whitespace().next());
            if scheme.is_some_and(|s| s.eq_ignore_ascii_case("bearer")) {
                Ok(())
            } else {
                Err("no_bearer_challenge".into())
            }
        }
        200..=299 => Err("not_enforcing".into()),
        other => Err(status_reason(other)),
    }
}

/// A browser navigation without a session: 302 to the provider's authorize endpoint with PKCE S256.
pub(super) fn sign_in_redirect(reply: &Reply) -> Result<(), String> {
    match reply.status {
        302 => match reply.location.as_deref() {
            None => Err("no_redirect".into()),
            Some(location) if is_sign_in_location(location) => Ok(()),
            Some(_) => Err("not_sign_in_redirect".into()),
        },
        200..=299 => Err("not_enforcing".into()),
        500..=599 => Err(status_reason(reply.status)),
        _ => Err("no_redirect".into()),
    }
}

/// An absolute URL whose query is an OAuth authorization request with PKCE S256 and a state.
pub(super) fn is_sign_in_location(location: &str) -> bool {
    if !(location.starts_with("https://") || location.starts_with("http://")) {
        return false;
    }
    let without_fragment = location.split('#').next().unwrap_or_default();
    let Some((_, query)) = without_fragment.split_once('?') else { return false };
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    param("response_type") == Some("code")
        && param("code_challenge_method") == Some("S256")
        && param("code_challenge").is_some_and(|v| !v.is_empty())
        && param("state").is_some_and(|v| !v.is_empty())
}

/// An API call without a session: 401, never a redirect.
pub(super) fn unauthorized(reply: &Reply) -> Result<(), String> {
    match reply.status {
        401 => Ok(()),
        200..=299 => Err("not_enforcing".into()),
        other => Err(status_reason(other)),
    }
}
