//! The plugin configuration: parsed once (in `on_configure`, or by `gatehouse validate-config`), validated
//! completely, and compiled into the structures the request path reads.

pub mod deployments;
mod error;
pub mod fields;
pub(crate) mod issuers;
pub(crate) mod load;
pub(crate) mod provider;
pub mod reader;
mod roles;
pub mod rollout;
pub(crate) mod routes;
pub mod schema;
pub(crate) mod session;
pub mod spec;
pub(crate) mod upstream_token;

use std::collections::HashMap;

pub use error::{ConfigError, ConfigErrors};
pub use load::{load_config, Env};
pub use provider::{ClientAuth, Provider, TokenEndpoint};
pub use session::SessionConfig;
pub use upstream_token::Exchange;

use crate::jwt::Issuer;
use crate::policy::Route;

/// The ids of one deployment; Direct Access Tokens are checked against those of the deployment a request is
/// for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataplane {
    pub organization_id: String,
    pub workspace_id: String,
    pub deployment_id: String,
}

/// The method-override headers frameworks read (Rails, Express `method-override`, Symfony, ASP.NET, Google
/// APIs): an upstream that honours them runs the method they name.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-method-override", "x-http-method"];

/// What happens to method-override headers (see `method_override`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodOverride {
    Strip,
    Judge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmatched {
    Deny,
    Allow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorsPreflight {
    /// Browsers send preflights without credentials (Fetch standard §3.2.2), so they pass to the upstream,
    /// which answers CORS itself. Envoy's `jwt_authn` does the same by default (`bypass_cors_preflight`).
    Pass,
    /// Preflights go through the route's requirement like any request.
    Enforce,
}

/// Where a bearer credential may be found. `scheme` (e.g. `Bearer`) is compared case-insensitively
/// (RFC 7235 §2.1); without a scheme the whole header value is the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// A request header; with a scheme (`Bearer`), the value after it.
    Header { header: String, scheme: Option<String> },
    /// A cookie's value (removed from the `Cookie` header the upstream sees).
    Cookie(String),
    /// A query parameter (removed from the path the upstream sees: a URL is logged by every hop).
    Query(String),
}

impl TokenSource {
    pub fn header(&self) -> Option<&str> {
        match self {
            TokenSource::Header { header, .. } => Some(header),
            TokenSource::Cookie(_) | TokenSource::Query(_) => None,
        }
    }
}

/// Header names for the verified identity given to the upstream. `None` means "do not send".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// The deployment the request was matched to.
    pub deployment: Option<String>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub scope: Option<String>,
    pub role: Option<String>,
    pub permissions: Option<String>,
    pub token_id: Option<String>,
    /// Set, to the reason, on requests an optional route lets through without identity.
    pub unauthenticated: Option<String>,
}

impl Config {
    /// Whether the upstream's credentials are ours to give (browser sessions, or an upstream token for
    /// any deployment): then the client's `Authorization` and our cookies never reach it.
    pub fn gives_credentials(&self) -> bool {
        self.gives_credentials
    }

    /// Whether cookie `name` carries a token (and so never reaches the upstream).
    pub fn is_token_cookie(&self, name: &str) -> bool {
        self.token_sources.iter().any(|s| matches!(s, TokenSource::Cookie(c) if c == name))
    }

    /// Whether query parameter `name` is configured as a token source.
    pub fn is_token_param(&self, name: &str) -> bool {
        self.token_params().any(|p| p == name)
    }

    /// The query parameters that carry tokens.
    pub fn token_params(&self) -> impl Iterator<Item = &str> {
        self.token_sources.iter().filter_map(|s| match s {
            TokenSource::Query(q) => Some(q.as_str()),
            _ => None,
        })
    }

    /// The upstream token for deployment `d`: its own, else the shared one.
    pub fn minter_for<'a>(&'a self, d: &'a deployments::Deployment) -> Option<&'a crate::mint::Minter> {
        d.minter.as_ref().or(self.minter.as_ref())
    }

    /// Every issuer whose keys the proxy holds: the bearer-token issuers and the sign-in provider.
    pub fn all_issuers(&self) -> impl Iterator<Item = &Issuer> {
        self.issuers.iter().chain(self.session.iter().map(|s| &s.provider.issuer))
    }
}

/// The configuration's names for the identity headers, in the order of `IdentityHeaders::slots`.
const IDENTITY_FIELDS: [&str; 8] =
    ["deployment", "subject", "issuer", "scope", "role", "permissions", "token_id", "unauthenticated"];

impl IdentityHeaders {
    pub fn defaults() -> Self {
        IdentityHeaders {
            deployment: Some("x-gatehouse-deployment".into()),
            subject: Some("x-gatehouse-subject".into()),
            issuer: Some("x-gatehouse-issuer".into()),
            scope: Some("x-gatehouse-scope".into()),
            role: Some("x-gatehouse-role".into()),
            permissions: Some("x-gatehouse-permissions".into()),
            token_id: Some("x-gatehouse-token-id".into()),
            unauthenticated: Some("x-gatehouse-unauthenticated".into()),
        }
    }

    fn slots(&self) -> [&Option<String>; 8] {
        [
            &self.deployment,
            &self.subject,
            &self.issuer,
            &self.scope,
            &self.role,
            &self.permissions,
            &self.token_id,
            &self.unauthenticated,
        ]
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.slots().into_iter().filter_map(|h| h.as_deref())
    }

    /// The header named for configuration field `field` (`"subject"`, …).
    pub fn field(&self, field: &str) -> Option<&str> {
        let i = IDENTITY_FIELDS.iter().position(|f| *f == field)?;
        self.slots().get(i).and_then(|h| h.as_deref())
    }

    pub fn field_mut(&mut self, field: &str) -> Option<&mut Option<String>> {
        Some(match field {
            "deployment" => &mut self.deployment,
            "subject" => &mut self.subject,
            "issuer" => &mut self.issuer,
            "scope" => &mut self.scope,
            "role" => &mut self.role,
            "permissions" => &mut self.permissions,
            "token_id" => &mut self.token_id,
            "unauthenticated" => &mut self.unauthenticated,
            _ => return None,
        })
    }
}

/// Staging-only switches that simulate outages (the outage runbook's drills). Off by default, and refused
/// by validation unless `faults.allow` says the operator means it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every call to the identity provider fails as if it answered 503, without being made.
    pub provider_unavailable: bool,
    /// Keys fetched from remote JWKS count as older than `max_stale_seconds`.
    pub keys_stale: bool,
    /// Added to the clock for every decision.
    pub clock_offset_seconds: i64,
}

/// Sizes of the per-VM caches (see `crate::cache`); 0 turns a cache off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    pub verified_tokens: usize,
    pub sessions: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings { verified_tokens: 2048, sessions: 1024 }
    }
}

#[derive(Debug)]
pub struct Config {
    /// The deployments this Gatehouse serves, and how a request finds its own (a table of one for a
    /// `dataplane` configuration).
    pub deployments: deployments::Deployments,
    /// Browser sessions, or an upstream token for any deployment (computed once: see `gives_credentials`).
    gives_credentials: bool,
    pub realm: String,
    pub unmatched: Unmatched,
    pub cors_preflight: CorsPreflight,
    pub max_token_bytes: usize,
    pub token_sources: Vec<TokenSource>,
    pub identity_headers: IdentityHeaders,
    /// Every header removed before an allowed request goes upstream: identity headers in their `-` and `_`
    /// spellings plus the configured extras. Computed once here, not per request.
    pub forged_headers: Vec<String>,
    /// The identity headers alone (every spelling): Gatehouse owns them, so they are removed in every rollout
    /// mode, also when the legacy path decides (it sets its own after us).
    pub owned_headers: Vec<String>,
    pub method_override: MethodOverride,
    /// Publish the verified identity as Envoy filter state (`wasm.gatehouse.*`).
    pub identity_filter_state: bool,
    /// Some token source is a cookie: every allowed request's `Cookie` header is filtered.
    pub token_cookies: bool,
    pub roles: HashMap<String, Vec<String>>,
    pub issuers: Vec<Issuer>,
    pub routes: Vec<Route>,
    pub session: Option<SessionConfig>,
    pub minter: Option<crate::mint::Minter>,
    pub exchange: Option<Exchange>,
    pub faults: Faults,
    pub cache: CacheSettings,
    pub rollout: Option<rollout::Rollout>,
    /// How `:authority` is compared with routes' `hosts`: as the proxy's virtual hosts compare it.
    pub host_matching: crate::policy::host::HostMatching,
    /// The request headers the core reads: the filter fetches exactly these, one host call each.
    pub request_headers: Vec<String>,
}
