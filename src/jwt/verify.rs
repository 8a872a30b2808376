//! Verifying a bearer token against the configured issuers. Order matters: structure, then the issuer and
//! key the token names (as hints only), then the signature, and only then the claims.

use super::token::{parse, Header};
use super::{Claims, Issuer, JwtError, VerifyKey};
use crate::cache::{Bounded, KeyFingerprint};
use crate::jwks::RemoteKeys;

pub struct Verified<'c> {
    pub issuer: &'c Issuer,
    pub header: Header,
    pub claims: Claims,
}

pub fn verify_token<'c>(
    token: &str,
    issuers: &'c [Issuer],
    max_len: usize,
    now: u64,
) -> Result<Verified<'c>, JwtError> {
    verify_token_with(token, issuers, None, false, max_len, now, None)
}

/// How long a verified signature is remembered when the token has no `exp`: the claims are re-checked on
/// every hit anyway; this only bounds how long an entry occupies the cache.
const NO_EXP_CACHE_SECONDS: u64 = 3600;

/// As `verify_token`, with keys fetched from remote JWKS next to the pinned ones. `keys_stale` treats every
/// remote set as too old (a staging fault switch).
pub fn verify_token_with<'c>(
    token: &str,
    issuers: &'c [Issuer],
    remote: Option<&RemoteKeys>,
    keys_stale: bool,
    max_len: usize,
    now: u64,
    cache: Option<&mut Bounded<KeyFingerprint>>,
) -> Result<Verified<'c>, JwtError> {
    let unverified = parse(token, max_len)?;
    // `iss` picks the issuer before the signature is checked; a forged `iss` only selects keys that will
    // then refuse the signature. Exact comparison: no trailing-slash or case games (RFC 7519 §4.1.1).
    let iss = unverified.claims.required_string("iss")?;
    let issuer = issuers.iter().find(|i| i.issuer == iss).ok_or(JwtError::UnknownIssuer)?;
    let kid = unverified.header.kid.as_deref();
    let alg = unverified.header.alg;
    let key = match select_key(&issuer.keys, kid, alg) {
        Ok(k) => k,
        // Pinned keys first; a remote set is consulted only while it is fresh enough to trust.
        // A pinned key with this kid but another algorithm is a mismatch, not a reason to look elsewhere: a
        // remote key must never stand in for a pinned one.
        Err(JwtError::AlgMismatch) => return Err(JwtError::AlgMismatch),
        Err(pinned_err) => match (&issuer.remote_jwks, remote) {
            (Some(cfg), Some(remote)) => match remote.fresh(&issuer.name, cfg, now, keys_stale) {
                Some(set) => select_key(&set.keys, kid, alg)?,
                None => return Err(JwtError::KeysUnavailable),
            },
            (Some(_), None) => return Err(JwtError::KeysUnavailable),
            (None, _) => return Err(pinned_err),
        },
    };
    // Only the signature check is skipped on a hit, and only for this exact token string and a key with the
    // same fingerprint: a key removed or replaced since stops the token here, through `select_key` above.
    let cached = match cache {
        Some(c) => {
            let hit = c.get(token, now).is_some_and(|fp| fp == key.fingerprint());
            Some((c, hit))
        }
        None => None,
    };
    if !cached.as_ref().is_some_and(|(_, hit)| *hit) {
        key.verify(unverified.header.alg, unverified.signing_input, &unverified.signature)?;
    }
    check_claims(issuer, &unverified.claims, now)?;
    if let Some((c, false)) = cached {
        let until =
            unverified.claims.numeric_date("exp").ok().flatten().unwrap_or(now.saturating_add(NO_EXP_CACHE_SECONDS));
        c.insert(token, *key.fingerprint(), until);
    }
    Ok(Verified { issuer, header: unverified.header, claims: unverified.claims })
}

fn select_key<'i>(keys: &'i [VerifyKey], kid: Option<&str>, alg: super::Alg) -> Result<&'i VerifyKey, JwtError> {
    match kid {
        Some(kid) => {
            let mut named = keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).peekable();
            if named.peek().is_none() {
                return Err(JwtError::UnknownKid);
            }
            // A JWKS may publish one kid under two algorithms; the token's alg must match one of them exactly.
            named.find(|k| k.alg == alg).ok_or(JwtError::AlgMismatch)
        }
        // Without a kid there is no choice to make only when the issuer has a single key.
        None => match keys {
            [only] => Ok(only),
            _ => Err(JwtError::UnknownKid),
        },
    }
}

fn check_claims(issuer: &Issuer, claims: &Claims, now: u64) -> Result<(), JwtError> {
    let leeway = issuer.leeway_seconds;
    let audiences = claims.audiences()?;
    if audiences.is_empty() {
        return Err(JwtError::MissingClaim("aud".into()));
    }
    if !audiences.iter().any(|a| issuer.audiences.iter().any(|want| want == a)) {
        return Err(JwtError::AudienceMismatch);
    }
    // RFC 7519 §4.1.4: the token must not be accepted on or after `exp`.
    let exp = claims.numeric_date("exp")?;
    match exp {
        Some(exp) if now >= exp.saturating_add(leeway) => return Err(JwtError::Expired),
        Some(_) => {}
        None if issuer.require_exp => return Err(JwtError::MissingClaim("exp".into())),
        None => {}
    }
    if let Some(max) = issuer.max_lifetime_seconds {
        // jwt_authn's `max_lifetime`: a bound on how long a stolen token stays useful, so it needs `exp`;
        // measured from `iat` when the token says when it was issued, and from now in any case (a token
        // "issued" long ago but valid for centuries ahead is refused too).
        let Some(exp) = exp else { return Err(JwtError::MissingClaim("exp".into())) };
        let from_iat = claims.numeric_date("iat")?.map(|iat| exp.saturating_sub(iat));
        if from_iat.is_some_and(|l| l > max) || exp.saturating_sub(now) > max.saturating_add(leeway) {
            return Err(JwtError::LifetimeTooLong);
        }
    }
    if let Some(nbf) = claims.numeric_date("nbf")? {
        if now.saturating_add(leeway) < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    let iat = claims.numeric_date("iat")?;
    if let Some(iat) = iat {
        if iat > now.saturating_add(leeway) {
            return Err(JwtError::IssuedInFuture);
        }
    }
    let sub = claims.required_string("sub")?;
    let jti = claims.string("jti")?;
    if jti.is_some_and(|j| issuer.revoked_token_ids.contains(j)) {
        return Err(JwtError::Revoked);
    }
    // A per-subject "not before" revokes every token issued earlier; a token without `iat` cannot prove it
    // is newer, so it is revoked too.
    if let Some(cutoff) = issuer.subject_not_before.get(sub) {
        if iat.is_none_or(|iat| iat < *cutoff) {
            return Err(JwtError::Revoked);
        }
    }
    Ok(())
}
