//! A trusted token issuer as configured: its keys and the rules its tokens must meet.

use std::collections::{HashMap, HashSet};

use super::VerifyKey;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerKind {
    /// The platform's Direct Access Tokens: scoped to an organization, workspace or deployment, checked
    /// against this dataplane's ids, with a role mapped through the role table.
    DirectAccess,
    /// Plain OAuth access tokens (e.g. from Auth0): permissions from a claim and/or roles.
    AccessToken,
}

#[derive(Debug)]
pub struct Issuer {
    pub name: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub kind: IssuerKind,
    pub keys: Vec<VerifyKey>,
    pub require_exp: bool,
    /// jwt_authn's `max_lifetime`: a token valid for longer than this is refused whatever its signature.
    pub max_lifetime_seconds: Option<u64>,
    pub leeway_seconds: u64,
    /// `None` for access-token issuers that do not map roles.
    pub role_claim: Option<String>,
    pub permissions_claim: Option<String>,
    pub revoked_token_ids: HashSet<String>,
    pub subject_not_before: HashMap<String, u64>,
    pub remote_jwks: Option<crate::jwks::RemoteJwks>,
    /// Claims passed on to the upstream and later filters.
    pub forward_claims: Vec<crate::claim_forward::ForwardClaim>,
    pub forward_payload_header: Option<String>,
    /// Keep the credential header for the upstream (jwt_authn's `forward`).
    pub forward: bool,
}
