//! Remote key sets: an issuer's JWKS fetched out of band (by the filter, once per proxy) and added to its
//! pinned keys. Remote keys never replace pinned ones; the last good set is kept until `max_stale_seconds`,
//! after which tokens that need it get a distinct 503 instead of a 401 (the keys, not the token, are the
//! problem).

use std::collections::HashMap;

use serde_json::Value;

use crate::jwt::jwk::verify_key_from_jwk;
use crate::jwt::{Alg, VerifyKey};

#[derive(Debug, Clone)]
pub struct RemoteJwks {
    pub cluster: String,
    pub authority: String,
    /// The JWKS path; empty when it comes from OIDC discovery.
    pub path: String,
    /// OpenID Provider metadata (OIDC Discovery §4): its `jwks_uri` gives the path.
    pub discovery_path: Option<String>,
    pub timeout_ms: u32,
    pub refresh_seconds: u64,
    /// Shorter than `refresh_seconds`: after a failure, try again soon.
    pub retry_seconds: u64,
    pub max_stale_seconds: u64,
    /// A token naming an unknown `kid` triggers a refetch at most this often (a rotation at the provider
    /// shows up within seconds; a flood of made-up kids costs one fetch per interval).
    pub unknown_kid_refetch_seconds: u64,
    /// For JWKs that do not say their `alg` (common at real providers): the algorithm to pin them to.
    pub default_alg: Option<Alg>,
    /// The sign-in provider takes its endpoints from the same discovery document (`discover_endpoints`).
    pub endpoints: bool,
}

/// One fetched set, as the filter last stored it.
#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<VerifyKey>,
    pub fetched_at: u64,
}

/// A provider's endpoints from its discovery document (OIDC Discovery §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization: String,
    /// The token endpoint's path on the issuer's host (the configured cluster reaches it).
    pub token_path: String,
    pub end_session: Option<String>,
}

/// Fetched sets, and discovered endpoints, by issuer name.
#[derive(Debug, Default)]
pub struct RemoteKeys {
    pub sets: HashMap<String, KeySet>,
    pub endpoints: HashMap<String, Endpoints>,
}

impl RemoteKeys {
    /// The issuer's set if it is fresh enough to use.
    pub fn fresh(&self, issuer: &str, remote: &RemoteJwks, now: u64, force_stale: bool) -> Option<&KeySet> {
        let set = self.sets.get(issuer)?;
        (!force_stale && now < set.fetched_at.saturating_add(remote.max_stale_seconds)).then_some(set)
    }
}

pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The provider's endpoints from its discovery document, after the same `issuer` check as the JWKS path:
/// each must be on the issuer's own host with the issuer's scheme (https, or http on loopback as the
/// configuration allows), so a document cannot send browsers, codes or client secrets anywhere else.
pub fn endpoints_from_discovery(body: &[u8], issuer: &str) -> Result<Endpoints, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "discovery_bad_json".to_owned())?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err("discovery_issuer_mismatch".into());
    }
    let issuer_host = split_url(issuer).map(|(h, _)| h).ok_or("discovery_bad_endpoint")?;
    let on_issuer_host = |name: &str| -> Result<Option<(String, String)>, String> {
        let Some(uri) = doc.get(name) else { return Ok(None) };
        let uri = uri
            .as_str()
            .filter(|u| !u.chars().any(|c| c.is_control() || c.is_whitespace()))
            .ok_or("discovery_bad_endpoint")?;
        let (host, path) = split_url(uri).ok_or("discovery_bad_endpoint")?;
        let same_scheme = uri.split("://").next() == issuer.split("://").next();
        if !host.eq_ignore_ascii_case(issuer_host) || !same_scheme || path.starts_with("//") {
            return Err("discovery_endpoint_elsewhere".into());
        }
        Ok(Some((uri.to_owned(), path.to_owned())))
    };
    let (authorization, _) = on_issuer_host("authorization_endpoint")?.ok_or("discovery_no_authorization_endpoint")?;
    let (_, token_path) = on_issuer_host("token_endpoint")?.ok_or("discovery_no_token_endpoint")?;
    let end_session = on_issuer_host("end_session_endpoint")?.map(|(u, _)| u);
    Ok(Endpoints { authorization, token_path, end_session })
}

/// The JWKS path from a discovery document, checked as OIDC Discovery §4.3 asks: the document's `issuer`
/// must be exactly the configured one, or the keys could belong to someone else.
pub fn jwks_path_from_discovery(body: &[u8], issuer: &str) -> Result<String, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "discovery_bad_json".to_owned())?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err("discovery_issuer_mismatch".into());
    }
    let uri = doc.get("jwks_uri").and_then(Value::as_str).ok_or("discovery_no_jwks_uri")?;
    // The keys are fetched from the issuer's own cluster, so the document may only point at a path on the
    // issuer's host: another host (or a `//host` path, found by fuzzing) would be a request we cannot honour.
    let (host, path) = split_url(uri).ok_or("discovery_bad_jwks_uri")?;
    let issuer_host = split_url(issuer).map(|(h, _)| h).ok_or("discovery_bad_jwks_uri")?;
    if !host.eq_ignore_ascii_case(issuer_host) || path.starts_with("//") {
        return Err("discovery_jwks_uri_elsewhere".into());
    }
    Ok(path.to_owned())
}

/// `scheme://host[:port]/path` → (host with port, path starting with `/`).
fn split_url(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("https://").or_else(|| uri.strip_prefix("http://"))?;
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, path) = rest.split_at(cut);
    let path = if path.is_empty() { "/" } else { path };
    (!host.is_empty() && path.starts_with('/')).then_some((host, path))
}

/// Parses a fetched JWKS. Keys that are not for signatures, not supported or malformed are skipped (a real
/// provider's set may hold encryption keys); a set with no usable key is an error, so a broken answer can
/// never replace a good set.
pub fn parse_jwks(body: &[u8], default_alg: Option<Alg>) -> Result<Vec<VerifyKey>, String> {
    if body.len() > MAX_JWKS_BYTES {
        return Err("jwks_too_large".into());
    }
    let doc: Value = serde_json::from_slice(body).map_err(|_| "jwks_bad_json".to_owned())?;
    let keys = doc.get("keys").and_then(Value::as_array).ok_or("jwks_no_keys")?;
    let mut out = Vec::new();
    for jwk in keys {
        let mut jwk = jwk.clone();
        if let (Some(alg), Some(obj)) = (default_alg, jwk.as_object_mut()) {
            obj.entry("alg").or_insert_with(|| Value::String(alg.name().to_owned()));
        }
        if let Ok(k) = verify_key_from_jwk(&jwk) {
            out.push(k);
        }
    }
    if out.is_empty() {
        return Err("jwks_no_usable_key".into());
    }
    Ok(out)
}
