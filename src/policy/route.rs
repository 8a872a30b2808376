//! Ordered route rules; the first that matches host, method and normalized path wins.

use regex_lite::Regex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    Public,
    Bearer,
    Session,
    BearerOrSession,
    /// `{"any_of": [...]}`: one of the listed requirements (`Route::rules`, `Route::with_session`).
    AnyOf,
    /// `{"all_of": [...]}`: every one of them.
    AllOf,
}

impl Requirement {
    pub fn name(self) -> &'static str {
        match self {
            Requirement::Public => "public",
            Requirement::Bearer => "bearer",
            Requirement::Session => "session",
            Requirement::BearerOrSession => "bearer_or_session",
            Requirement::AnyOf => "any_of",
            Requirement::AllOf => "all_of",
        }
    }

    /// Whether bearer tokens can satisfy it.
    pub fn takes_bearer(self) -> bool {
        !matches!(self, Requirement::Public | Requirement::Session)
    }
}

/// What a bearer token must be to satisfy one requirement: from one of `issuers` (names; empty: any) and,
/// when `audiences` is not empty, for one of them besides its issuer's (jwt_authn's `provider_and_audiences`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BearerRule {
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
}

/// jwt_authn's optional authentication: which failures still let the request through, unauthenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Optional {
    /// A credential is required and every one present must verify.
    No,
    /// `allow_missing`: no credential passes unauthenticated; a credential that fails is refused.
    Missing,
    /// `allow_missing_or_failed`: a missing or failing credential passes unauthenticated; what verified
    /// still reaches the upstream as identity.
    MissingOrFailed,
}

/// What a route does when the keys to check a token are too old or the provider is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnUnavailable {
    /// 503 with `Retry-After` (fail closed).
    Deny,
    /// The request goes on without identity, marked unauthenticated; counted and logged.
    PassUnauthenticated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFormat {
    Json,
    Text,
}

#[derive(Debug)]
pub enum PathMatch {
    Exact(String),
    /// Segment-aware: `/api` matches `/api` and `/api/x` but not `/apix` (Envoy's `path_separated_prefix`),
    /// so a rule for one directory cannot leak onto a sibling that shares its spelling.
    Prefix(String),
    /// Anchored at both ends, as Envoy's `safe_regex` is.
    Regex(Regex),
}

impl PathMatch {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || p.ends_with('/') || rest.starts_with('/')),
            PathMatch::Regex(r) => r.is_match(path),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum HostMatch {
    Exact(String),
    /// `*.example.com`, stored as `.example.com`: any subdomain, not the apex.
    Suffix(String),
}

impl HostMatch {
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => host == h,
            HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub class: String,
    pub hosts: Vec<HostMatch>,
    pub path: PathMatch,
    /// Upper-case method names; empty means any method.
    pub methods: Vec<String>,
    pub require: Requirement,
    pub permissions: Vec<String>,
    pub response: ResponseFormat,
    /// On a `session` route without a session: send browser navigations to sign in (`true`), or answer
    /// 401 to everyone (`false`, for API-only paths).
    pub redirect_browsers: bool,
    /// The bearer requirements: one for `bearer` and `bearer_or_session` (from the route's `issuers` and
    /// `audiences`), one per bearer item of `any_of` / `all_of`; empty for `public` and `session`.
    pub rules: Vec<BearerRule>,
    /// A browser session is one of the requirements (`bearer_or_session`, or listed in `any_of` / `all_of`).
    pub with_session: bool,
    pub optional: Optional,
    pub on_unavailable: OnUnavailable,
}

impl Route {
    pub fn matches(&self, host: &str, path: &str, method: &str) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|h| h.matches(host)))
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && self.path.matches(path)
    }
}

pub fn find_route<'r>(routes: &'r [Route], host: &str, path: &str, method: &str) -> Option<&'r Route> {
    routes.iter().find(|r| r.matches(host, path, method))
}
