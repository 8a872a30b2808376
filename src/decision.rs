//! What the core decided, as data the filter carries out. A decision owns everything in it, so the filter
//! can hold it across host calls without borrowing the engine.

use std::sync::Arc;

use crate::reason::Reason;

/// Why, for one log line and the metrics. Nothing here is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub reason: Reason,
    pub route: Option<String>,
    pub class: String,
    pub issuer: Option<String>,
    /// Who was authenticated, for rollout buckets by subject; never logged.
    pub subject: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Allow {
    /// Removed first (credentials, forged identity headers), then `set_headers` are added.
    pub remove_headers: Vec<Arc<str>>,
    pub set_headers: Vec<(String, String)>,
    /// Added to the upstream's response (a re-sealed session cookie).
    pub response_headers: Vec<(String, String)>,
    /// Cookies the upstream may not set in the browser: on session routes Airflow's own `_token` would
    /// otherwise outlive our session and fight it.
    pub drop_set_cookies: &'static [&'static str],
    /// Envoy filter state to publish (`proxy_set_property`; Envoy stores `wasm.<name>`), for filters after
    /// ours (RBAC) and access logs.
    pub properties: Vec<(String, Vec<u8>)>,
    pub verdict: Verdict,
}

impl Allow {
    /// Whether the request's `name` header (lower case) is removed before it goes upstream.
    pub fn removes(&self, name: &str) -> bool {
        self.remove_headers.iter().any(|h| &**h == name)
    }
}

/// An out-of-band HTTP call the filter makes (`dispatch_http_call`), then hands the answer and `then` back
/// to the engine. `then` is moved there, so a continuation cannot be used twice.
#[derive(Debug)]
pub struct Call {
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
    pub then: Pending,
    pub verdict: Verdict,
}

/// What to do when a call's answer arrives. Opaque to the filter: it can only ask what kind of call it was
/// (for metrics) and hand it back.
#[derive(Debug)]
pub struct Pending {
    pub(crate) state: PendingState,
    /// The proxy-wide single-flight slot this call holds, released when it answers.
    pub(crate) flight: Option<String>,
    /// What the answer's decision needs to know about the request that waits.
    pub(crate) request: RequestMeta,
    /// The deployment the call is for (its index in the configuration that made the call).
    pub(crate) deployment: Option<usize>,
}

/// The parts of a request that shape how its decision is carried out (see `Engine::on_request_headers`).
#[derive(Debug, Default)]
pub(crate) struct RequestMeta {
    pub method: String,
    pub present: Vec<String>,
    pub authority: String,
}

#[derive(Debug)]
pub(crate) enum PendingState {
    /// The authorization code was sent to the token endpoint (OIDC Core §3.1.3.1).
    CodeExchange { flow: crate::session::FlowState, flow_cookie: String, stale_cookies: Vec<String> },
    /// The session's refresh token was sent to the token endpoint (RFC 6749 §6). The request waits with the
    /// headers it would have been forwarded with.
    Refresh(Box<RefreshWait>),
    /// The provider's token was sent to the RFC 8693 exchange; the browser waits for its session cookie.
    TokenExchange {
        session: Box<crate::session::Session>,
        return_to: String,
        cookies: Vec<String>,
        stale_cookies: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingKind {
    Code,
    Refresh,
    Exchange,
}

impl PendingKind {
    pub fn code(self) -> &'static str {
        match self {
            PendingKind::Code => "code",
            PendingKind::Refresh => "refresh",
            PendingKind::Exchange => "exchange",
        }
    }
}

impl Pending {
    pub(crate) fn new(state: PendingState, deployment: Option<usize>) -> Self {
        Pending { state, flight: None, request: RequestMeta::default(), deployment }
    }

    pub fn kind(&self) -> PendingKind {
        match self.state {
            PendingState::CodeExchange { .. } => PendingKind::Code,
            PendingState::Refresh(_) => PendingKind::Refresh,
            PendingState::TokenExchange { .. } => PendingKind::Exchange,
        }
    }

    /// A sign-in's `state` and when its flow started.
    pub fn flow(&self) -> Option<(&str, u64)> {
        match &self.state {
            PendingState::CodeExchange { flow, .. } => Some((flow.state.as_str(), flow.iat)),
            _ => None,
        }
    }

    /// The shared-store key under which only one call of this kind may be in flight across the proxy:
    /// refreshes are single-flight per session. `None` for calls that are not.
    pub fn single_flight_key(&self) -> Option<String> {
        match &self.state {
            PendingState::Refresh(wait) => Some(crate::engine::flight::key_for(&wait.session)),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct RefreshWait {
    pub session: crate::session::Session,
    pub route_index: usize,
    pub set_headers: Vec<(String, String)>,
    pub remove_cookie: bool,
    pub present: Vec<String>,
    pub wants_redirect: bool,
    pub return_to: String,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub verdict: Verdict,
}

/// Whether a request may proceed, as both paths can be judged: the new path's decision, or the legacy
/// path's answer (401/403 and redirects off-site are refusals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Predicted {
    pub outcome: Outcome,
    /// The status the new path would have answered (200 for a pass to the upstream).
    pub status: u16,
}

/// The request goes on as it came (rollout `shadow` or `off`): nothing added, and only the identity headers
/// Gatehouse owns removed, so a client cannot forge them whichever path decides.
#[derive(Debug, PartialEq, Eq)]
pub struct Pass {
    pub remove_headers: Vec<std::sync::Arc<str>>,
    /// In shadow mode, what the new path would have done; compared with the legacy path's answer.
    pub shadow: Option<Predicted>,
    pub verdict: Verdict,
    /// In shadow mode, the request's authority as sent: a redirect back to it is not a refusal.
    pub authority: String,
}

/// The request's body is needed to decide (an OIDC back-channel logout POST): the filter buffers it, at most
/// `max` bytes, and hands it to `Engine::on_request_body`.
#[derive(Debug, PartialEq, Eq)]
pub struct ReadBody {
    pub max: usize,
    /// Removed before the headers go on (they must, for the body to arrive): what no upstream may see.
    pub remove_headers: Vec<Arc<str>>,
    pub verdict: Verdict,
}

#[derive(Debug)]
pub enum Decision {
    Allow(Allow),
    Reply(Reply),
    /// Boxed: rare, and larger than the others.
    Call(Box<Call>),
    Pass(Pass),
    ReadBody(ReadBody),
}

impl Decision {
    pub fn verdict(&self) -> &Verdict {
        match self {
            Decision::Allow(a) => &a.verdict,
            Decision::Reply(r) => &r.verdict,
            Decision::Call(c) => &c.verdict,
            Decision::Pass(p) => &p.verdict,
            Decision::ReadBody(b) => &b.verdict,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Decision::Allow(_) | Decision::Call(_) | Decision::Pass(_) | Decision::ReadBody(_) => None,
            Decision::Reply(r) => Some(r.status),
        }
    }

    /// The outcome word of the decision metrics: `allow`, `reply` (a redirect or page that is part of the
    /// flow), `deny`, `call`, `shadow` or `off`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Decision::Allow(_) => "allow",
            Decision::Reply(r) if r.status < 400 => "reply",
            Decision::Reply(_) => "deny",
            Decision::Call(_) => "call",
            Decision::Pass(p) if p.shadow.is_some() => "shadow",
            Decision::Pass(_) => "off",
            Decision::ReadBody(_) => "read_body",
        }
    }

    /// Which path decided: `new` (Gatehouse), or `legacy` when the request went on untouched.
    pub fn path(&self) -> &'static str {
        if matches!(self, Decision::Pass(_)) {
            "legacy"
        } else {
            "new"
        }
    }
}
