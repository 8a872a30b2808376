//! Where a request belongs, worked out once per request before any credential is looked at: its path as the
//! upstream will see it, its host as the routes compare it, the deployment it is for, and the route or
//! sign-in step that owns it. The rollout gate and the evaluation both read this one answer.

use crate::config::deployments::{tag, Deployment};
use crate::config::rollout::{AUTH_CLASS, UNMATCHED_CLASS};
use crate::config::{Config, SessionConfig};
use crate::oidc::query_param;
use crate::policy::host::route_host;
use crate::policy::{find_route, normalize_path, PathError, Route};
use crate::request::Request;

/// Paths the sign-in flow owns, whatever the routes say: the callback, logout, and the upstream's own login
/// and logout pages (Airflow's `/api/v2/auth/login` would otherwise show its password form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowPath {
    Callback,
    Logout,
    Login,
    /// OIDC Back-Channel Logout: the provider's POST of a logout token.
    BackchannelLogout,
}

#[derive(Debug)]
pub enum Target<'c> {
    /// A path that servers could read differently (RFC 3986 ambiguities): refused with 400.
    BadPath(PathError),
    /// No deployment of this dataplane is reached at this host and path.
    NoDeployment,
    Flow(FlowPath),
    Route(&'c Route),
    Unmatched,
}

#[derive(Debug)]
pub struct Classified<'c, 'r> {
    /// Normalized (RFC 3986 §6.2.2); empty for a bad path.
    pub path: String,
    pub query: Option<&'r str>,
    /// The deployment the request is for (for a sign-in callback, the one its `state` names), and its index.
    pub deployment: Option<(usize, &'c Deployment)>,
    pub target: Target<'c>,
}

impl<'c> Classified<'c, '_> {
    /// The route name and class the rollout flags are keyed by.
    pub fn route_and_class(&self) -> (Option<&'c str>, &'c str) {
        match self.target {
            Target::Route(r) => (Some(r.name.as_str()), r.class.as_str()),
            Target::Flow(_) => (None, AUTH_CLASS),
            Target::BadPath(_) | Target::NoDeployment | Target::Unmatched => (None, UNMATCHED_CLASS),
        }
    }

    /// The path and query to come back to after signing in.
    pub fn return_to(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

pub fn classify<'c, 'r>(cfg: &'c Config, req: &Request<'r>) -> Classified<'c, 'r> {
    let (path, query) = match normalize_path(req.path) {
        Ok(p) => p,
        Err(e) => return Classified { path: String::new(), query: None, deployment: None, target: Target::BadPath(e) },
    };
    let host = route_host(req.authority, cfg.host_matching);
    let found = cfg.deployments.find(&host, &path);
    let deployment = found.and_then(|(i, _)| cfg.deployments.get(i).map(|d| (i, d)));
    // The callback is one path per host, whatever deployment the sign-in was for: the `state` says which.
    if cfg.session.as_ref().is_some_and(|sc| path == sc.callback_path) {
        let from_state = query.and_then(|q| query_param(q, "state")).and_then(|s| state_tag(&s));
        let deployment = from_state.and_then(|t| cfg.deployments.by_tag(&t)).or(deployment);
        return Classified { path, query, deployment, target: Target::Flow(FlowPath::Callback) };
    }
    // The provider's logout tokens end sessions on every deployment: one path, whatever the host.
    if cfg.session.as_ref().and_then(|sc| sc.backchannel_logout_path.as_deref()) == Some(path.as_str()) {
        return Classified { path, query, deployment, target: Target::Flow(FlowPath::BackchannelLogout) };
    }
    let Some((_, prefix_len)) = found else {
        return Classified { path, query, deployment: None, target: Target::NoDeployment };
    };
    // Within its deployment, a request is routed by the path after the deployment's prefix.
    let inner = match path.get(prefix_len..) {
        Some("") | None => "/",
        Some(rest) => rest,
    };
    let target = match cfg.session.as_ref().and_then(|sc| flow_path(sc, inner)) {
        Some(flow) => Target::Flow(flow),
        // The deployment's own routes first, then the shared ones.
        None => match deployment
            .and_then(|(_, d)| find_route(&d.routes, &host, inner, req.method))
            .or_else(|| find_route(&cfg.routes, &host, inner, req.method))
        {
            Some(route) => Target::Route(route),
            None => Target::Unmatched,
        },
    };
    Classified { path, query, deployment, target }
}

/// Whether a place to return to after sign-in is one of the flow's own paths on this host (the callback, a
/// login or logout path, also behind a deployment's prefix): returning there would end on an error page or
/// sign the person straight out again. A path that does not normalize counts as one.
pub fn is_flow_target(cfg: &Config, authority: &str, target: &str) -> bool {
    let Some(sc) = &cfg.session else { return false };
    let Ok((path, _)) = normalize_path(target) else { return true };
    if path == sc.callback_path {
        return true;
    }
    let host = route_host(authority, cfg.host_matching);
    let inner = match cfg.deployments.find(&host, &path).and_then(|(_, len)| path.get(len..)) {
        Some("") => "/",
        Some(rest) => rest,
        None => path.as_str(),
    };
    flow_path(sc, inner).is_some()
}

/// The deployment tag a `state` of ours carries in its last eight bytes (see `browser::login`).
pub fn state_tag(state: &str) -> Option<[u8; 8]> {
    let bytes = crate::b64::decode_strict(state)?;
    let tail = bytes.len().checked_sub(8).and_then(|start| bytes.get(start..))?;
    tail.try_into().ok()
}

/// A sign-in `state`: 16 random bytes and the deployment's tag, as 32 base64url characters.
pub fn new_state(random: [u8; 16], deployment_id: &str) -> String {
    let mut bytes = [0u8; 24];
    let (head, tail) = bytes.split_at_mut(16);
    head.copy_from_slice(&random);
    tail.copy_from_slice(&tag(deployment_id));
    crate::b64::encode(&bytes)
}

fn flow_path(sc: &SessionConfig, path: &str) -> Option<FlowPath> {
    if path == sc.logout_path || sc.logout_paths.iter().any(|p| p == path) {
        Some(FlowPath::Logout)
    } else if sc.login_paths.iter().any(|p| p == path) {
        Some(FlowPath::Login)
    } else {
        None
    }
}
