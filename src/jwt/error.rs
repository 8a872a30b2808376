//! Why a token was refused. `code()` is stable: it appears in logs and metrics, never in client bodies.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    TooLarge,
    Malformed,
    BadBase64,
    BadJson,
    DuplicateMember,
    UnsupportedAlg,
    CriticalHeader,
    UnknownIssuer,
    /// A trusted issuer, but not one of those the route accepts.
    IssuerNotAllowed,
    UnknownKid,
    AlgMismatch,
    BadSignature,
    MissingClaim(String),
    ClaimType(String),
    AudienceMismatch,
    Expired,
    NotYetValid,
    IssuedInFuture,
    Revoked,
    /// Valid for longer than the issuer's `max_lifetime_seconds`.
    LifetimeTooLong,
    /// The key set the token needs is missing or older than `max_stale_seconds`.
    KeysUnavailable,
}

impl JwtError {
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::TooLarge => "token_too_large",
            JwtError::Malformed => "malformed",
            JwtError::BadBase64 => "bad_base64",
            JwtError::BadJson => "bad_json",
            JwtError::DuplicateMember => "duplicate_member",
            JwtError::UnsupportedAlg => "unsupported_alg",
            JwtError::CriticalHeader => "unsupported_crit",
            JwtError::UnknownIssuer => "unknown_issuer",
            JwtError::IssuerNotAllowed => "issuer_not_allowed",
            JwtError::UnknownKid => "unknown_kid",
            JwtError::AlgMismatch => "alg_mismatch",
            JwtError::BadSignature => "bad_signature",
            JwtError::MissingClaim(_) => "missing_claim",
            JwtError::ClaimType(_) => "claim_type",
            JwtError::AudienceMismatch => "aud_mismatch",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::IssuedInFuture => "iat_in_future",
            JwtError::Revoked => "revoked",
            JwtError::LifetimeTooLong => "lifetime_too_long",
            JwtError::KeysUnavailable => "keys_stale",
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::MissingClaim(c) => write!(f, "missing_claim({c})"),
            JwtError::ClaimType(c) => write!(f, "claim_type({c})"),
            other => f.write_str(other.code()),
        }
    }
}
