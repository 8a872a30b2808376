//! The token endpoint's answer (RFC 6749 §5.1/§5.2, OIDC Core §3.1.3.3), classified so that a provider outage
//! is never mistaken for a refused sign-in and nothing here can crash on a hostile or broken body.

use serde_json::Value;

use crate::secret::Credential;

use crate::call::{Answer, NotSent, ProviderFault};
pub use crate::call::{CallResponse, MAX_BODY};

pub struct Tokens {
    pub id_token: Option<Credential>,
    pub access_token: Option<Credential>,
    pub refresh_token: Option<Credential>,
    pub expires_in: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Timeouts (Envoy: 504), refused connections (503), resets, any 5xx, garbage: try again later.
    Unavailable(ProviderFault),
    /// The provider refused the grant (`invalid_grant` and friends): sign in again.
    Rejected(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Unavailable(f) => f.code(),
            TokenError::Rejected(_) => "token_rejected",
        }
    }
}

/// The JSON object of a successful answer, or why there is none.
fn success(resp: &CallResponse) -> Result<serde_json::Map<String, Value>, TokenError> {
    let a: &Answer = match resp {
        CallResponse::Answered(a) => a,
        CallResponse::Reset => return Err(TokenError::Unavailable(ProviderFault::Reset)),
        CallResponse::TimedOut => return Err(TokenError::Unavailable(ProviderFault::Timeout)),
        CallResponse::NotSent(NotSent::InFlight) => return Err(TokenError::Unavailable(ProviderFault::InFlight)),
        CallResponse::NotSent(NotSent::ProviderDown) => {
            return Err(TokenError::Unavailable(ProviderFault::Unavailable))
        }
        CallResponse::NotSent(NotSent::DispatchFailed) => return Err(TokenError::Unavailable(ProviderFault::NotSent)),
    };
    if a.truncated || a.body.len() > MAX_BODY {
        return Err(TokenError::Unavailable(ProviderFault::BodyTooLarge));
    }
    let json: Option<Value> = serde_json::from_slice(&a.body).ok();
    if a.status >= 500 || a.status == 429 {
        let fault = if a.status == 504 { ProviderFault::Timeout } else { ProviderFault::Unavailable };
        return Err(TokenError::Unavailable(fault));
    }
    if a.status != 200 {
        // RFC 6749 §5.2: errors are JSON with an `error` code; without one this is not the provider talking.
        return match json.as_ref().and_then(|j| j.get("error")).and_then(Value::as_str) {
            Some(code) => Err(TokenError::Rejected(code.chars().take(64).collect())),
            None => Err(TokenError::Unavailable(ProviderFault::BadResponse)),
        };
    }
    match json {
        Some(Value::Object(obj)) => Ok(obj),
        _ => Err(TokenError::Unavailable(ProviderFault::BadJson)),
    }
}

fn optional_string(obj: &serde_json::Map<String, Value>, name: &'static str) -> Result<Option<Credential>, TokenError> {
    match obj.get(name) {
        Some(Value::String(t)) if !t.is_empty() => Ok(Some(Credential::new(t.clone()))),
        None => Ok(None),
        Some(_) => Err(TokenError::Unavailable(ProviderFault::BadJson)),
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
        return Err(TokenError::Unavailable(ProviderFault::BadTokenType));
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
    let token =
        optional_string(&obj, "access_token")?.ok_or(TokenError::Unavailable(ProviderFault::ExchangeNoToken))?;
    Ok((token, obj.get("expires_in").and_then(Value::as_u64)))
}
