//! ID token validation, OIDC Core §3.1.3.7: signature with the provider's pinned keys, `iss` exact, `aud`
//! contains our client id, `azp` when several audiences, `exp`/`iat`, and `nonce` equal to the one this
//! browser's flow cookie holds. Identity claims are taken from the verified token only.

use subtle::ConstantTimeEq;

use crate::jwks::RemoteKeys;
use crate::jwt::{verify_token_with, Alg, Issuer, JwtError};

pub struct IdClaims {
    pub sub: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub roles: Vec<String>,
    pub exp: Option<u64>,
    /// The provider's session id (OIDC Front-/Back-Channel Logout §2), for revocation.
    pub sid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdTokenError {
    Jwt(JwtError),
    Nonce,
    Azp,
    /// OIDC Core §3.1.3.8: the ID token's `at_hash` does not match the access token it came with.
    AtHash,
}

impl IdTokenError {
    pub fn code(&self) -> &'static str {
        match self {
            IdTokenError::Jwt(e) => e.code(),
            IdTokenError::Nonce => "nonce_mismatch",
            IdTokenError::Azp => "azp_mismatch",
            IdTokenError::AtHash => "at_hash_mismatch",
        }
    }
}

impl From<JwtError> for IdTokenError {
    fn from(e: JwtError) -> Self {
        IdTokenError::Jwt(e)
    }
}

/// What the ID token must be bound to: the sign-in's `nonce` (none on refresh, OIDC Core §12.2) and the
/// access token of the same answer (`at_hash`, checked when the token carries one).
#[derive(Clone, Copy, Default)]
pub struct Bound<'a> {
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
}

pub fn validate(
    token: &str,
    provider: &Issuer,
    client_id: &str,
    bound: Bound<'_>,
    roles_claim: Option<&str>,
    remote: Option<&RemoteKeys>,
    now: u64,
) -> Result<IdClaims, IdTokenError> {
    let v = verify_token_with(token, std::slice::from_ref(provider), remote, false, 16 * 1024, now, None)?;
    let c = &v.claims;
    // `verify_token` checked that one audience is ours; with several, `azp` must name us (§3.1.3.7 item 4–5).
    let audiences = c.audiences()?;
    let azp = c.string("azp")?;
    if (audiences.len() > 1 && azp.is_none()) || azp.is_some_and(|a| a != client_id) {
        return Err(IdTokenError::Azp);
    }
    if c.numeric_date("iat")?.is_none() {
        return Err(JwtError::MissingClaim("iat".into()).into());
    }
    // A refreshed ID token carries no nonce (OIDC Core §12.2); a sign-in's must match the flow's.
    if let Some(nonce) = bound.nonce {
        let got = c.string("nonce")?.unwrap_or("");
        if got.is_empty() || !bool::from(got.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(IdTokenError::Nonce);
        }
    }
    // §3.1.3.8 (§3.3.2.11): when present, `at_hash` binds the ID token to the access token it came with.
    if let Some(at_hash) = c.string("at_hash")? {
        let expected = bound.access_token.map(|t| access_token_hash(v.header.alg, t));
        if !expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(at_hash.as_bytes()))) {
            return Err(IdTokenError::AtHash);
        }
    }
    let roles = match roles_claim {
        Some(claim) => c.string_or_list(claim, false)?.into_iter().map(str::to_owned).collect(),
        None => Vec::new(),
    };
    // These become header values and a comma-joined list upstream: refuse what could split or smuggle one.
    let sub = c.required_string("sub")?;
    let bad = |v: &str| v.is_empty() || v.chars().any(char::is_control);
    if bad(sub) {
        return Err(JwtError::ClaimType("sub".into()).into());
    }
    if roles.iter().any(|r: &String| bad(r) || r.contains(',')) {
        return Err(JwtError::ClaimType(roles_claim.unwrap_or("roles").into()).into());
    }
    // Name and email may become header values too (`claim_headers`).
    for claim in ["name", "email", "sid"] {
        if c.string(claim)?.is_some_and(|v| v.chars().any(char::is_control)) {
            return Err(JwtError::ClaimType(claim.into()).into());
        }
    }
    Ok(IdClaims {
        sid: c.string("sid")?.map(str::to_owned),
        sub: sub.to_owned(),
        name: c.string("name")?.map(str::to_owned),
        email: c.string("email")?.map(str::to_owned),
        roles,
        exp: c.numeric_date("exp")?,
    })
}

/// The left half of the access token's hash with the hash function of the ID token's `alg`, base64url
/// (OIDC Core §3.1.3.8; EdDSA over Ed25519 hashes with SHA-512, as OpenID's errata settle it).
fn access_token_hash(alg: Alg, token: &str) -> String {
    use sha2::Digest;
    let digest: Vec<u8> = match alg {
        Alg::HS256 | Alg::RS256 | Alg::PS256 | Alg::ES256 => sha2::Sha256::digest(token.as_bytes()).to_vec(),
        Alg::HS384 | Alg::RS384 | Alg::PS384 | Alg::ES384 => sha2::Sha384::digest(token.as_bytes()).to_vec(),
        Alg::HS512 | Alg::RS512 | Alg::PS512 | Alg::ES512 | Alg::EdDSA => {
            sha2::Sha512::digest(token.as_bytes()).to_vec()
        }
    };
    crate::b64::encode(digest.get(..digest.len() / 2).unwrap_or_default())
}
