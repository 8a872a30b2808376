//! From a verified token to an identity with permissions: Direct Access Token scope checks against this
//! dataplane's ids, and role tables.

use std::collections::BTreeSet;

use crate::config::deployments::Deployment;
use crate::config::{Config, Dataplane};
use crate::jwt::{IssuerKind, JwtError, Verified};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The deployment the request is for (named to the upstream).
    pub deployment: Option<String>,
    pub issuer: String,
    pub subject: String,
    pub token_id: Option<String>,
    /// `deployment:<id>`, `workspace:<id>` or `organization:<id>` for Direct Access Tokens.
    pub scope: Option<String>,
    pub roles: Vec<String>,
    pub permissions: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The token verified but its claims are not a well-formed token of its kind: 401 `invalid_token`.
    Invalid(JwtError),
    /// A Direct Access Token for another organization, workspace or deployment: 403.
    ScopeMismatch,
    /// None of the token's roles is in the role table: 403.
    UnknownRole,
}

impl IdentityError {
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::Invalid(e) => e.code(),
            IdentityError::ScopeMismatch => "scope_mismatch",
            IdentityError::UnknownRole => "unknown_role",
        }
    }
}

impl From<JwtError> for IdentityError {
    fn from(e: JwtError) -> Self {
        IdentityError::Invalid(e)
    }
}

/// Direct Access Token claims. The scope level says which ids must be present; every id present must equal
/// this dataplane's, so a token can never be stretched from one deployment to another.
pub const SCOPE_TYPE: &str = "scope_type";
pub const ORGANIZATION_ID: &str = "organization_id";
pub const WORKSPACE_ID: &str = "workspace_id";
pub const DEPLOYMENT_ID: &str = "deployment_id";

/// Who the verified token speaks for, as seen by deployment `d` (the one the request is for).
pub fn identify(cfg: &Config, d: &Deployment, v: &Verified<'_>) -> Result<Identity, IdentityError> {
    let dp = &d.ids;
    let issuer = v.issuer;
    let claims = &v.claims;
    let subject = claims.required_string("sub")?.to_owned();
    let token_id = claims.string("jti")?.map(str::to_owned);
    let controls = |v: &str| v.chars().any(char::is_control);
    if subject.is_empty() || controls(&subject) {
        return Err(IdentityError::Invalid(JwtError::ClaimType("sub".into())));
    }
    if token_id.as_deref().is_some_and(controls) {
        return Err(IdentityError::Invalid(JwtError::ClaimType("jti".into())));
    }
    let roles: Vec<String> = match &issuer.role_claim {
        Some(claim) => claims.string_or_list(claim, false)?.into_iter().map(str::to_owned).collect(),
        None => Vec::new(),
    };
    // Values become header values and a comma-joined list: refuse what could split or smuggle a header.
    let unsafe_value = |v: &str| v.is_empty() || v.chars().any(|c| c.is_control() || c == ',');
    if roles.iter().any(|r| unsafe_value(r)) {
        return Err(IdentityError::Invalid(JwtError::ClaimType("role".into())));
    }
    let mut permissions: BTreeSet<String> = BTreeSet::new();
    let mut known_role = false;
    for role in &roles {
        if let Some(perms) = d.permissions(&cfg.roles, role) {
            known_role = true;
            permissions.extend(perms.iter().cloned());
        }
    }
    let scope = match issuer.kind {
        IssuerKind::DirectAccess => {
            let scope = check_scope(dp, v)?;
            if !known_role {
                return Err(IdentityError::UnknownRole);
            }
            Some(scope)
        }
        IssuerKind::AccessToken => {
            if let Some(claim) = &issuer.permissions_claim {
                // Auth0 RBAC puts an array in `permissions`; OAuth `scope` is space-separated (RFC 8693 §4.2).
                let granted = claims.string_or_list(claim, true)?;
                if granted.iter().any(|p| p.chars().any(|c| c.is_control() || c == ',')) {
                    return Err(IdentityError::Invalid(JwtError::ClaimType(claim.clone())));
                }
                permissions.extend(granted.into_iter().map(str::to_owned));
            }
            None
        }
    };
    let deployment = Some(dp.deployment_id.clone());
    Ok(Identity { deployment, issuer: issuer.name.clone(), subject, token_id, scope, roles, permissions })
}

/// A Direct Access Token opens deployment `dp` when every id it carries is `dp`'s: an organization token
/// every deployment of its organization, a workspace token every one of its workspace.
fn check_scope(dp: &Dataplane, v: &Verified<'_>) -> Result<String, IdentityError> {
    let claims = &v.claims;
    let level = claims.required_string(SCOPE_TYPE)?;
    let needed: &[&str] = match level {
        "organization" => &[ORGANIZATION_ID],
        "workspace" => &[ORGANIZATION_ID, WORKSPACE_ID],
        "deployment" => &[ORGANIZATION_ID, WORKSPACE_ID, DEPLOYMENT_ID],
        _ => return Err(IdentityError::Invalid(JwtError::ClaimType(SCOPE_TYPE.into()))),
    };
    for (claim, ours) in
        [(ORGANIZATION_ID, &dp.organization_id), (WORKSPACE_ID, &dp.workspace_id), (DEPLOYMENT_ID, &dp.deployment_id)]
    {
        match claims.string(claim)? {
            Some(theirs) if theirs != ours => return Err(IdentityError::ScopeMismatch),
            Some(_) => {}
            None if needed.contains(&claim) => {
                return Err(IdentityError::Invalid(JwtError::MissingClaim(claim.into())))
            }
            None => {}
        }
    }
    let id = match level {
        "organization" => &dp.organization_id,
        "workspace" => &dp.workspace_id,
        _ => &dp.deployment_id,
    };
    Ok(format!("{level}:{id}"))
}
