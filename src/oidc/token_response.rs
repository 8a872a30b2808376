//! The token endpoint's answer (RFC 6749 §5.1/§5.2, OIDC Core §3.1.3.3), classified so that a provider outage
//! is never mistaken for a refused sign-in and nothing here can crash on a hostile or broken body.

use serde_json::Value;

use crate::secret::Credential;

/// Bodies larger than this are not parsed: an ID token plus an access token fit many times over.
pub const MAX_BODY: usize = 64 * 1024;

pub struct CallResponse {
    /// `None` when the call failed without an HTTP answer (Envoy reports a reset with no headers).
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The body was cut at `MAX_BODY` by the filter.
    pub truncated: bool,
}

/// The content type of the answer the filter gives itself when it does not make a refresh call because
/// another request of the same session already is (single flight).
pub const IN_FLIGHT: &str = "application/x-gatehouse-in-flight";

impl CallResponse {
    /// Not made: another request is refreshing this session.
    pub fn in_flight() -> Self {
        CallResponse { status: Some(503), content_type: Some(IN_FLIGHT.into()), body: Vec::new(), truncated: false }
    }
}

pub struct Tokens {
    pub id_token: Option<Credential>,
    pub access_token: Option<Credential>,
    pub refresh_token: Option<Credential>,
    pub expires_in: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Timeouts (Envoy: 504), refused connections (503), resets, any 5xx, garbage: try again later.
    Unavailable(&'static str),
    /// The provider refused the grant (`invalid_grant` and friends): sign in again.
    Rejected(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Unavailable(c) => c,
            TokenError::Rejected(_) => "token_rejected",
        }
    }
}

/// The JSON object of a successful answer, or why there is none.
fn success(resp: &CallResponse) -> Result<serde_json::Map<String, Value>, TokenError> {
    if resp.content_type.as_deref() == Some(IN_FLIGHT) {
        return Err(TokenError::Unavailable("refresh_in_flight"));
    }
    let Some(status) = resp.status else { return Err(TokenError::Unavailable("idp_reset")) };
    if resp.truncated || resp.body.len() > MAX_BODY {
        return Err(TokenError::Unavailable("idp_body_too_large"));
    }
    let json: Option<Value> = serde_json::from_slice(&resp.body).ok();
    if status >= 500 || status == 429 {
        return Err(TokenError::Unavailable(if status == 504 { "idp_timeout" } else { "idp_unavailable" }));
    }
    if status != 200 {
        // RFC 6749 §5.2: errors are JSON with an `error` code; without one this is not the provider talking.
        return match json.as_ref().and_then(|j| j.get("error")).and_then(Value::as_str) {
            Some(code) => Err(TokenError::Rejected(code.chars().take(64).collect())),
            None => Err(TokenError::Unavailable("idp_bad_response")),
        };
    }
    match json {
        Some(Value::Object(obj)) => Ok(obj),
        _ => Err(TokenError::Unavailable("idp_bad_json")),
    }
}

fn optional_string(obj: &serde_json::Map<String, Value>, name: &'static str) -> Result<Option<Credential>, TokenError> {
    match obj.get(name) {
        Some(Value::String(t)) if !t.is_empty() => Ok(Some(Credential::new(t.clone()))),
        None => Ok(None),
        Some(_) => Err(TokenError::Unavailable("idp_bad_json")),
    }
}

/// Whether the provider is answering as a provider: a JSON success or a JSON OAuth error. Timeouts, resets,
/// 5xx and garbage are an outage (the filter's circuit breaker opens on them).
pub fn provider_answered(resp: &CallResponse) -> bool {
    !matches!(success(resp), Err(TokenError::Unavailable(_)))
}

pub fn parse(resp: &CallResponse) -> Result<Tokens, TokenError> {
    let obj = success(resp)?;
    let token_type = obj.get("token_type").and_then(Value::as_str).unwrap_or("");
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Unavailable("idp_bad_token_type"));
    }
    Ok(Tokens {
        id_token: optional_string(&obj, "id_token")?,
        access_token: optional_string(&obj, "access_token")?,
        refresh_token: optional_string(&obj, "refresh_token")?,
        expires_in: obj.get("expires_in").and_then(Value::as_u64),
    })
}

/// An RFC 8693 §2.2.1 answer: the issued token is in `access_token` whatever its type.
pub fn parse_exchange(resp: &CallResponse) -> Result<(Credential, Option<u64>), TokenError> {
    let obj = success(resp)?;
    let token = optional_string(&obj, "access_token")?.ok_or(TokenError::Unavailable("exchange_no_token"))?;
    Ok((token, obj.get("expires_in").and_then(Value::as_u64)))
}
