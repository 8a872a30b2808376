//! Verified claims passed on to the upstream and to later Envoy filters: a claim to a request header
//! (jwt_authn's `claim_to_headers`), to filter state (`wasm.gatehouse.claim.<key>`, which Envoy's RBAC filter
//! and access logs read), and the verified payload as one header (jwt_authn's `forward_payload_header`).

use serde_json::Value;

use crate::jwt::{Claims, JwtError};

/// One claim to pass on, as configured on its issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardClaim {
    /// Member names from the top of the payload down.
    pub path: Vec<String>,
    pub header: Option<String>,
    /// The property it is published under, `gatehouse.claim.<key>` (Envoy stores `wasm.` and that).
    pub property: Option<String>,
    pub separator: String,
    /// Its place in the issuer's `forward_claims`, for problems found after loading.
    pub index: usize,
}

/// Headers to set and filter-state entries to publish for one verified token.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub headers: Vec<(String, String)>,
    pub properties: Vec<(String, Vec<u8>)>,
}

/// The prefix of the properties claims are published under (Envoy adds `wasm.`).
pub const CLAIM_PROPERTY_PREFIX: &str = "gatehouse.claim.";

impl ForwardClaim {
    /// The claim's value as one header-safe string: strings as they are, numbers and booleans as JSON writes
    /// them, arrays of those joined by the separator. `Ok(None)` when the claim is absent, null, or an
    /// object (nothing plain to pass). A value that would smuggle header content (control characters, or an
    /// array item holding the separator, which would split into two items upstream) makes the token
    /// invalid, as identity claims do.
    pub fn render(&self, claims: &Claims) -> Result<Option<String>, JwtError> {
        let mut names = self.path.iter();
        let Some(first) = names.next() else { return Ok(None) };
        let mut value = claims.get(first);
        for name in names {
            value = value.and_then(|v| v.get(name.as_str()));
        }
        let type_error = || JwtError::ClaimType(self.path.join("."));
        let plain = |v: &Value| -> Result<Option<String>, JwtError> {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Ok(None),
            };
            if s.chars().any(char::is_control) {
                return Err(type_error());
            }
            Ok(Some(s))
        };
        match value {
            None | Some(Value::Null | Value::Object(_)) => Ok(None),
            Some(Value::Array(items)) => {
                let mut out: Vec<String> = Vec::with_capacity(items.len());
                for item in items {
                    match plain(item)? {
                        Some(s) if s.contains(self.separator.as_str()) => return Err(type_error()),
                        Some(s) => out.push(s),
                        None => return Err(type_error()),
                    }
                }
                Ok(Some(out.join(&self.separator)))
            }
            Some(v) => plain(v),
        }
    }
}

/// Everything an issuer's configuration passes on for one verified token: its mapped claims and, with
/// `payload_header`, the token's payload segment (already base64url, exactly the bytes that were signed).
pub fn forward(
    mappings: &[ForwardClaim],
    payload_header: Option<&str>,
    token: &str,
    claims: &Claims,
) -> Result<Forwarded, JwtError> {
    let mut out = Forwarded::default();
    for m in mappings {
        let Some(value) = m.render(claims)? else { continue };
        if let Some(name) = &m.property {
            out.properties.push((name.clone(), value.as_bytes().to_vec()));
        }
        if let Some(h) = &m.header {
            out.headers.push((h.clone(), value));
        }
    }
    if let (Some(h), Some(payload)) = (payload_header, token.split('.').nth(1)) {
        out.headers.push((h.to_owned(), payload.to_owned()));
    }
    Ok(out)
}
