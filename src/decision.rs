//! What the core decided, as data the filter applies with one function.

/// Why, for one log line and the metrics. `reason` is a stable code; nothing here is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub reason: &'static str,
    pub route: Option<String>,
    pub class: String,
    pub issuer: Option<String>,
    /// Who was authenticated, for rollout buckets by subject; never logged.
    pub subject: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Allow<'c> {
    /// Removed first (credentials, forged identity headers), then `set_headers` are added.
    pub remove_headers: Vec<&'c str>,
    pub set_headers: Vec<(String, String)>,
    /// Added to the upstream's response (a re-sealed session cookie).
    pub response_headers: Vec<(String, String)>,
    /// Cookies the upstream may not set in the browser: on session routes Airflow's own `_token` would
    /// otherwise outlive our session and fight it.
    pub drop_set_cookies: &'static [&'static str],
    pub verdict: Verdict,
}

/// An out-of-band HTTP call the filter makes (`dispatch_http_call`), then hands the answer and `then` to
/// `resume`. `then` is moved into `resume`, so a continuation cannot be used twice.
#[derive(Debug)]
pub struct Call {
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
    pub then: Pending,
    pub verdict: Verdict,
}

/// What to do when a call's answer arrives.
#[derive(Debug)]
pub enum Pending {
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

#[derive(Debug)]
pub struct RefreshWait {
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

/// The request goes on exactly as it came (rollout `shadow` or `off`): nothing removed, nothing added.
#[derive(Debug, PartialEq, Eq)]
pub struct Pass {
    /// In shadow mode, what the new path would have done; compared with the legacy path's answer.
    pub shadow: Option<Predicted>,
    pub verdict: Verdict,
}

#[derive(Debug)]
pub enum Decision<'c> {
    Allow(Allow<'c>),
    Reply(Reply),
    Call(Call),
    Pass(Pass),
}

impl Decision<'_> {
    pub fn verdict(&self) -> &Verdict {
        match self {
            Decision::Allow(a) => &a.verdict,
            Decision::Reply(r) => &r.verdict,
            Decision::Call(c) => &c.verdict,
            Decision::Pass(p) => &p.verdict,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Decision::Allow(_) | Decision::Call(_) | Decision::Pass(_) => None,
            Decision::Reply(r) => Some(r.status),
        }
    }
}
