//! The answer to an out-of-band call, as the filter saw it. Envoy reports failures in-band (a timeout as
//! 504, a refused connection as 503 with its own body, a reset as no headers at all); the filter sorts them
//! into these cases so the core never has to guess from made-up statuses or content types.

/// Bodies larger than this are not read: an ID token plus an access token, or a key set, fit many times over.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug)]
pub enum CallResponse {
    /// An HTTP answer from whoever is behind the cluster (possibly Envoy itself answering 503).
    Answered(Answer),
    /// No HTTP answer: the connection was reset (Envoy passes no headers).
    Reset,
    /// Envoy gave up waiting (it answers its own timeout with 504).
    TimedOut,
    /// The call was never made.
    NotSent(NotSent),
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The body was longer than the reader's limit and was not read.
    pub truncated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotSent {
    /// The host refused to dispatch it (an unknown cluster: a configuration mistake).
    DispatchFailed,
    /// The circuit breaker is open, or `faults.provider_unavailable` simulates an outage.
    ProviderDown,
    /// Another request is already refreshing the same session (single flight).
    InFlight,
}

impl CallResponse {
    /// Sorts the host's answer: no headers at all is a reset, and Envoy answers its own timeout with 504
    /// (an IdP's own 504 means the same to us: no answer in time). `body` is `None` when it was longer than
    /// the caller's limit and not read.
    pub fn from_host(headers: &[(String, Vec<u8>)], body: Option<Vec<u8>>) -> Self {
        let find =
            |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        let Some(status) = find(":status").and_then(|s| s.parse::<u16>().ok()) else { return CallResponse::Reset };
        if status == 504 {
            return CallResponse::TimedOut;
        }
        let truncated = body.is_none();
        CallResponse::Answered(Answer {
            status,
            content_type: find("content-type"),
            body: body.unwrap_or_default(),
            truncated,
        })
    }

    pub fn answered(status: u16, content_type: Option<&str>, body: Vec<u8>) -> Self {
        CallResponse::Answered(Answer { status, content_type: content_type.map(str::to_owned), body, truncated: false })
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallResponse::Answered(a) => Some(a.status),
            CallResponse::TimedOut => Some(504),
            CallResponse::Reset | CallResponse::NotSent(_) => None,
        }
    }

    /// For the provider call metrics: `ok`, `unavailable`, `error` or `reset`; `None` when nothing was sent.
    pub fn outcome(&self) -> Option<&'static str> {
        match self {
            CallResponse::Answered(a) if a.status == 200 => Some("ok"),
            CallResponse::Answered(a) if a.status >= 500 => Some("unavailable"),
            CallResponse::Answered(_) => Some("error"),
            CallResponse::TimedOut => Some("unavailable"),
            CallResponse::Reset => Some("reset"),
            CallResponse::NotSent(_) => None,
        }
    }
}

/// Why the provider's (or the token service's) answer could not be used; all of them mean "try again later",
/// never "this person may not sign in".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderFault {
    Reset,
    Timeout,
    Unavailable,
    NotSent,
    InFlight,
    BodyTooLarge,
    BadResponse,
    BadJson,
    BadTokenType,
    ExchangeNoToken,
}

impl ProviderFault {
    pub fn code(self) -> &'static str {
        match self {
            ProviderFault::Reset => "idp_reset",
            ProviderFault::Timeout => "idp_timeout",
            ProviderFault::Unavailable => "idp_unavailable",
            ProviderFault::NotSent => "idp_not_sent",
            ProviderFault::InFlight => "refresh_in_flight",
            ProviderFault::BodyTooLarge => "idp_body_too_large",
            ProviderFault::BadResponse => "idp_bad_response",
            ProviderFault::BadJson => "idp_bad_json",
            ProviderFault::BadTokenType => "idp_bad_token_type",
            ProviderFault::ExchangeNoToken => "exchange_no_token",
        }
    }
}
