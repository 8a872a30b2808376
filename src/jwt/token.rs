//! Compact JWS parsing (RFC 7515 §7.1) with every ambiguity refused before any crypto runs.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

use super::{Alg, Claims, JwtError};
use crate::b64;

#[derive(Debug)]
pub struct Header {
    pub alg: Alg,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A token whose structure is sound but whose signature is not yet checked. Nothing in it may be trusted
/// except as a hint for choosing the issuer and key.
pub struct Unverified<'a> {
    pub header: Header,
    pub claims: Claims,
    pub signing_input: &'a [u8],
    pub signature: Vec<u8>,
}

pub fn parse(token: &str, max_len: usize) -> Result<Unverified<'_>, JwtError> {
    // Bound the work before decoding anything: a megabyte "token" must cost nothing.
    if token.len() > max_len {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        // Five parts would be JWE, one or two garbage: neither is a signed token.
        return Err(JwtError::Malformed);
    };
    // An empty signature is how `alg: none` tokens look (RFC 7519 §6.1); refuse them by shape too.
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(JwtError::Malformed);
    }
    let header_bytes = b64::decode_strict(h).ok_or(JwtError::BadBase64)?;
    let payload_bytes = b64::decode_strict(p).ok_or(JwtError::BadBase64)?;
    let signature = b64::decode_strict(s).ok_or(JwtError::BadBase64)?;

    let header = parse_header(parse_object(&header_bytes)?)?;
    let claims = Claims::new(parse_object(&payload_bytes)?);
    let signing_input = token.get(..h.len() + 1 + p.len()).ok_or(JwtError::Malformed)?.as_bytes();
    Ok(Unverified { header, claims, signing_input, signature })
}

fn parse_header(mut obj: Map<String, Value>) -> Result<Header, JwtError> {
    let alg = match obj.remove("alg") {
        Some(Value::String(s)) => Alg::parse(&s).ok_or(JwtError::UnsupportedAlg)?,
        Some(_) => return Err(JwtError::ClaimType("alg".into())),
        None => return Err(JwtError::MissingClaim("alg".into())),
    };
    let kid = optional_string(&mut obj, "kid")?;
    let typ = optional_string(&mut obj, "typ")?;
    // RFC 7515 §4.1.11: a recipient that does not understand a listed extension must reject the token. We
    // understand none (not even RFC 7797 `b64`), so any `crit` is fatal.
    if obj.contains_key("crit") {
        return Err(JwtError::CriticalHeader);
    }
    // `jku`, `x5u`, `x5c` and `jwk` stay unread: keys come from configuration only (RFC 8725 §3.10).
    Ok(Header { alg, kid, typ })
}

fn optional_string(obj: &mut Map<String, Value>, name: &str) -> Result<Option<String>, JwtError> {
    match obj.remove(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtError::ClaimType(name.into())),
    }
}

/// Parses a JSON object and refuses duplicate member names. RFC 7515 §5.2 allows "last wins", but two
/// parsers that pick different duplicates is the classic way to make a verifier and an upstream disagree.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JwtError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let obj = de.deserialize_map(UniqueKeys).map_err(|e| {
        if e.to_string().contains(DUPLICATE) {
            JwtError::DuplicateMember
        } else {
            JwtError::BadJson
        }
    })?;
    de.end().map_err(|_| JwtError::BadJson)?;
    Ok(obj)
}

const DUPLICATE: &str = "gatehouse: duplicate member";

struct UniqueKeys;

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(serde::de::Error::custom(DUPLICATE));
            }
        }
        Ok(map)
    }
}
