//! Where a request belongs, worked out once per request before any credential is looked at: its path as the
//! upstream will see it, its host as the routes compare it, and the route or sign-in step that owns it. The
//! rollout gate and the evaluation both read this one answer.

use crate::config::rollout::{AUTH_CLASS, UNMATCHED_CLASS};
use crate::config::{Config, SessionConfig};
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
}

#[derive(Debug)]
pub enum Target<'c> {
    /// A path that servers could read differently (RFC 3986 ambiguities): refused with 400.
    BadPath(PathError),
    Flow(FlowPath),
    Route(&'c Route),
    Unmatched,
}

#[derive(Debug)]
pub struct Classified<'c, 'r> {
    /// Normalized (RFC 3986 §6.2.2); empty for a bad path.
    pub path: String,
    pub query: Option<&'r str>,
    pub target: Target<'c>,
}

impl<'c> Classified<'c, '_> {
    /// The route name and class the rollout flags are keyed by.
    pub fn route_and_class(&self) -> (Option<&'c str>, &'c str) {
        match self.target {
            Target::Route(r) => (Some(r.name.as_str()), r.class.as_str()),
            Target::Flow(_) => (None, AUTH_CLASS),
            Target::BadPath(_) | Target::Unmatched => (None, UNMATCHED_CLASS),
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
        Err(e) => return Classified { path: String::new(), query: None, target: Target::BadPath(e) },
    };
    if let Some(flow) = cfg.session.as_ref().and_then(|sc| flow_path(sc, &path)) {
        return Classified { path, query, target: Target::Flow(flow) };
    }
    let host = route_host(req.authority, cfg.host_matching);
    let target = match find_route(&cfg.routes, &host, &path, req.method) {
        Some(route) => Target::Route(route),
        None => Target::Unmatched,
    };
    Classified { path, query, target }
}

fn flow_path(sc: &SessionConfig, path: &str) -> Option<FlowPath> {
    if path == sc.callback_path {
        Some(FlowPath::Callback)
    } else if path == sc.logout_path || sc.logout_paths.iter().any(|p| p == path) {
        Some(FlowPath::Logout)
    } else if sc.login_paths.iter().any(|p| p == path) {
        Some(FlowPath::Login)
    } else {
        None
    }
}
