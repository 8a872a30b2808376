//! What a session and a sign-in flow hold. Times are unix seconds; they live inside the sealed plaintext so
//! the browser cannot extend them (cookie `Max-Age` is only a hint to the browser).

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Roles as the provider states them; mapped to upstream roles when a token is minted.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The provider's session id from the ID token, for revocation (`revoked_session_ids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Signed in at.
    pub iat: u64,
    /// Last activity written into the cookie; with the idle timeout it bounds inactivity.
    pub seen: u64,
    /// Absolute end of the session, whatever the activity.
    pub abs: u64,
    /// Kept for RP-initiated logout (`id_token_hint`, OIDC RP-Initiated Logout §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the provider's tokens expire; with a refresh token they are renewed shortly before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_exp: Option<u64>,
    /// The upstream's token from an RFC 8693 exchange at sign-in, and when it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_exp: Option<u64>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("sub", &self.sub)
            .field("roles", &self.roles)
            .field("iat", &self.iat)
            .field("seen", &self.seen)
            .field("abs", &self.abs)
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("upstream_token", &self.upstream_token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// One sign-in attempt, in its own cookie named after the state so that several tabs can sign in at once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowState {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub return_to: String,
    pub iat: u64,
}

impl std::fmt::Debug for FlowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowState").field("return_to", &self.return_to).field("iat", &self.iat).finish_non_exhaustive()
    }
}
