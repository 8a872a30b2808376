//! OIDC Back-Channel Logout 1.0: the provider POSTs a logout token when a person's session at the provider
//! ends, and every session of ours bound to it (by `sid`, or all of the subject's) must end too. The token
//! is a JWT from the provider, checked as §2.6 says: signature, `iss`, `aud`, `iat`, the logout event, no
//! `nonce` (so an ID token cannot be replayed as a logout token), and a `jti`. §2.4 lets a token carry a `sid`
//! without a `sub`; Gatehouse's verifier requires `sub` of every token, as the providers it was tried with
//! (Auth0, `oidc-provider`) always send one, so such a token is refused (`missing_claim`).

use crate::jwks::RemoteKeys;
use crate::jwt::{verify_token_with, Issuer, JwtError};

/// §2.4: the event member that makes a JWT a logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Logout tokens are small; a larger body is not one.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub struct LogoutClaims {
    pub sid: Option<String>,
    pub sub: String,
    pub jti: String,
    /// When the provider issued it: a subject's sessions signed in before this end.
    pub iat: u64,
    /// When the token stops being acceptable: `exp` if it has one, else `iat` plus the allowance below.
    pub expires: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogoutTokenError {
    Jwt(JwtError),
    /// No `logout_token` parameter, or more than one.
    NoToken,
    /// The `events` claim lacks the back-channel logout event (§2.6 step 4).
    NoEvent,
    /// A `nonce`: an ID token is not a logout token (§2.6 step 6).
    Nonce,
}

impl LogoutTokenError {
    pub fn code(&self) -> &'static str {
        match self {
            LogoutTokenError::Jwt(e) => e.code(),
            LogoutTokenError::NoToken => "logout_no_token",
            LogoutTokenError::NoEvent => "logout_no_event",
            LogoutTokenError::Nonce => "logout_nonce",
        }
    }
}

impl From<JwtError> for LogoutTokenError {
    fn from(e: JwtError) -> Self {
        LogoutTokenError::Jwt(e)
    }
}

/// How long a logout token without `exp` stays acceptable after its `iat` (§2.6 step 3 leaves the window to
/// the receiver; its `jti` is remembered that long).
const NO_EXP_SECONDS: u64 = 300;

/// The logout token from a form body (`application/x-www-form-urlencoded`, §2.5), checked.
pub fn verify(
    body: &[u8],
    provider: &Issuer,
    remote: Option<&RemoteKeys>,
    now: u64,
) -> Result<LogoutClaims, LogoutTokenError> {
    let mut tokens = form_urlencoded::parse(body).filter(|(k, _)| k == "logout_token").map(|(_, v)| v);
    let (Some(token), None) = (tokens.next(), tokens.next()) else {
        return Err(LogoutTokenError::NoToken);
    };
    let v = verify_token_with(&token, std::slice::from_ref(provider), remote, false, 16 * 1024, now, None)?;
    let c = &v.claims;
    let iat = c.numeric_date("iat")?.ok_or_else(|| JwtError::MissingClaim("iat".into()))?;
    let has_event = c.get("events").and_then(|e| e.get(LOGOUT_EVENT)).is_some_and(serde_json::Value::is_object);
    if !has_event {
        return Err(LogoutTokenError::NoEvent);
    }
    if c.get("nonce").is_some() {
        return Err(LogoutTokenError::Nonce);
    }
    let sid = c.string("sid")?.map(str::to_owned);
    let sub = c.required_string("sub")?.to_owned();
    let jti = c.required_string("jti")?.to_owned();
    let expires = c.numeric_date("exp")?.unwrap_or(iat.saturating_add(NO_EXP_SECONDS));
    Ok(LogoutClaims { sid, sub, jti, iat, expires: expires.saturating_add(provider.leeway_seconds) })
}
