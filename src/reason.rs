//! Why the core decided what it did, as one typed value. `code()` is the stable string that logs and
//! metrics carry (`gatehouse.decision.<outcome>.<code>`); callers that must act on a reason match on the
//! variant, never on the string. Nothing here is secret.

use crate::call::ProviderFault;
use crate::dat::IdentityError;
use crate::jwt::JwtError;
use crate::oidc::id_token::IdTokenError;
use crate::policy::PathError;
use crate::session::SealError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    // Passed to the upstream.
    Public,
    Verified,
    Session,
    SessionRefreshed,
    CorsPreflight,
    UnmatchedAllowed,
    /// A route that makes its credential optional, or passes during outages, let the request through
    /// without identity; the cause is what failed (for the log line and the `unauthenticated` header).
    Passed(Passed, Box<Reason>),
    // Rollout: the request went down the legacy path untouched.
    CanaryLegacy,
    RolloutOff,
    // Refused before any credential was looked at.
    BadPath(PathError),
    BadHeaderEncoding,
    NoRoute,
    NoDeployment,
    /// RFC 6750 §2: a bearer token in the URL (`access_token`), where it leaks into logs and the upstream.
    TokenInQuery,
    /// Method-override headers that name no method, or different ones.
    BadMethodOverride,
    // Bearer tokens.
    MissingCredential,
    /// all_of: the credentials verified, but not every listed requirement was met.
    RequirementUnmet,
    Token(JwtError),
    ScopeMismatch,
    UnknownRole,
    InsufficientPermissions,
    NoUpstreamRole,
    MintFailed,
    // Browser sessions.
    NoSession,
    Cookie(SealError),
    SessionExpired,
    SessionIdle,
    /// The session's `sid` or subject was revoked since sign-in.
    SessionRevoked,
    SessionUnavailable,
    UpstreamTokenExpired,
    SessionRefresh,
    RefreshIdTokenInvalid,
    RefreshRejected,
    RefreshGraceExceeded,
    SessionEncode,
    SessionTooLarge,
    // The sign-in flow.
    /// OIDC Back-Channel Logout: a logout token arrived and its sessions are over.
    BackchannelLogout,
    LogoutToken(crate::oidc::logout_token::LogoutTokenError),
    /// The logout token's `jti` was seen before (§2.6 step 7).
    LogoutReplayed,
    LoginRedirect,
    AlreadySignedIn,
    SignedIn,
    Logout,
    CodeExchange,
    TokenExchange,
    IdpDown,
    IdpError,
    BadState,
    MissingState,
    UnknownState,
    BadFlowCookie,
    StateMismatch,
    FlowExpired,
    MissingCode,
    /// A callback whose `state` was already spent at this proxy: a replayed flow cookie and state.
    StateReplayed,
    /// The proxy's shared store would not record the state as spent: the sign-in fails closed.
    StateUnrecorded,
    /// A callback parameter (`code`, `state`, `iss`) given more than once.
    DuplicateParameter,
    /// RFC 9207: the callback's `iss` is not our provider's, or is missing where the provider sends it.
    IssMismatch,
    MissingIss,
    FlowEncode,
    FlowSeal,
    NoSessionConfig,
    IdToken(IdTokenError),
    IdpNoIdToken,
    IdpNoAccessToken,
    TokenRejected,
    ExchangeRejected,
    /// The provider or the token service did not answer as one (outage, garbage, not sent).
    Provider(ProviderFault),
}

impl Reason {
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Public => "public",
            Reason::Verified => "verified",
            Reason::Session => "session",
            Reason::SessionRefreshed => "session_refreshed",
            Reason::CorsPreflight => "cors_preflight",
            Reason::UnmatchedAllowed => "unmatched_allowed",
            Reason::Passed(how, _) => how.code(),
            Reason::CanaryLegacy => "canary_legacy",
            Reason::RolloutOff => "rollout_off",
            Reason::BadPath(e) => e.code(),
            Reason::BadHeaderEncoding => "bad_header_encoding",
            Reason::NoRoute => "no_route",
            Reason::NoDeployment => "no_deployment",
            Reason::TokenInQuery => "token_in_query",
            Reason::BadMethodOverride => "bad_method_override",
            Reason::MissingCredential => "missing_credential",
            Reason::RequirementUnmet => "requirement_unmet",
            Reason::Token(e) => e.code(),
            Reason::ScopeMismatch => "scope_mismatch",
            Reason::UnknownRole => "unknown_role",
            Reason::InsufficientPermissions => "insufficient_permissions",
            Reason::NoUpstreamRole => "no_upstream_role",
            Reason::MintFailed => "mint_failed",
            Reason::NoSession => "no_session",
            Reason::Cookie(e) => e.code(),
            Reason::SessionExpired => "session_expired",
            Reason::SessionIdle => "session_idle",
            Reason::SessionRevoked => "session_revoked",
            Reason::SessionUnavailable => "session_unavailable",
            Reason::UpstreamTokenExpired => "upstream_token_expired",
            Reason::SessionRefresh => "session_refresh",
            Reason::RefreshIdTokenInvalid => "refresh_id_token_invalid",
            Reason::RefreshRejected => "refresh_rejected",
            Reason::RefreshGraceExceeded => "refresh_grace_exceeded",
            Reason::SessionEncode => "session_encode",
            Reason::SessionTooLarge => "session_too_large",
            Reason::BackchannelLogout => "backchannel_logout",
            Reason::LogoutToken(e) => e.code(),
            Reason::LogoutReplayed => "logout_replayed",
            Reason::LoginRedirect => "login_redirect",
            Reason::AlreadySignedIn => "already_signed_in",
            Reason::SignedIn => "signed_in",
            Reason::Logout => "logout",
            Reason::CodeExchange => "code_exchange",
            Reason::TokenExchange => "token_exchange",
            Reason::IdpDown => "idp_down",
            Reason::IdpError => "idp_error",
            Reason::BadState => "bad_state",
            Reason::MissingState => "missing_state",
            Reason::UnknownState => "unknown_state",
            Reason::BadFlowCookie => "bad_flow_cookie",
            Reason::StateMismatch => "state_mismatch",
            Reason::FlowExpired => "flow_expired",
            Reason::MissingCode => "missing_code",
            Reason::StateReplayed => "state_replayed",
            Reason::StateUnrecorded => "state_unrecorded",
            Reason::DuplicateParameter => "duplicate_parameter",
            Reason::IssMismatch => "iss_mismatch",
            Reason::MissingIss => "missing_iss",
            Reason::FlowEncode => "flow_encode",
            Reason::FlowSeal => "flow_seal",
            Reason::NoSessionConfig => "no_session_config",
            Reason::IdToken(e) => e.code(),
            Reason::IdpNoIdToken => "idp_no_id_token",
            Reason::IdpNoAccessToken => "idp_no_access_token",
            Reason::TokenRejected => "token_rejected",
            Reason::ExchangeRejected => "exchange_rejected",
            Reason::Provider(f) => f.code(),
        }
    }
}

/// How a request passed without identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passed {
    /// No credential, on an `allow_missing` or `allow_missing_or_failed` route.
    Missing,
    /// Credentials that failed, on an `allow_missing_or_failed` route.
    Failed,
    /// Keys too old or the provider down, on an `on_unavailable: pass_unauthenticated` route.
    Unavailable,
}

impl Passed {
    pub fn code(self) -> &'static str {
        match self {
            Passed::Missing => "passed_missing",
            Passed::Failed => "passed_failed",
            Passed::Unavailable => "passed_unavailable",
        }
    }
}

impl Reason {
    /// Whether the decision came from key sets too old to trust (refused, or passed unauthenticated): the
    /// engine then looks once more for a set another VM may have stored.
    pub fn keys_stale(&self) -> bool {
        match self {
            Reason::Token(JwtError::KeysUnavailable) => true,
            Reason::Passed(Passed::Unavailable, cause) => cause.keys_stale(),
            _ => false,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl From<IdentityError> for Reason {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Invalid(e) => Reason::Token(e),
            IdentityError::ScopeMismatch => Reason::ScopeMismatch,
            IdentityError::UnknownRole => Reason::UnknownRole,
        }
    }
}

/// Why a session cookie did not open: the same answer as no session at all, with the code kept for logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    Missing,
    Sealed(SealError),
    /// The plaintext opened but is not a session (a different format version's layout).
    Format,
    Expired,
    Idle,
}

impl From<SessionError> for Reason {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Missing => Reason::NoSession,
            SessionError::Sealed(e) => Reason::Cookie(e),
            SessionError::Format => Reason::Cookie(SealError::Format),
            SessionError::Expired => Reason::SessionExpired,
            SessionError::Idle => Reason::SessionIdle,
        }
    }
}
