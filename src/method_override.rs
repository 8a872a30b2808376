//! Method-override headers (`X-HTTP-Method-Override` and kin): frameworks that honour them run the overridden
//! method, so a request judged as `GET` could run a `DELETE` upstream. By default they are removed from every
//! request Gatehouse lets through; with `method_override_headers: "judge"` they stay, and the request is
//! judged by the method they name.

use crate::config::{Config, MethodOverride, METHOD_OVERRIDE_HEADERS as HEADERS};
use crate::request::Request;

/// Override headers that name something other than one method (RFC 9110 §9.1: a token), or disagree.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable;

/// The method to judge the request by, when it differs from the request line's; `Unreadable` is refused with
/// 400.
pub fn judged_method<'a>(cfg: &Config, req: &Request<'a>) -> Result<Option<&'a str>, Unreadable> {
    if cfg.method_override != MethodOverride::Judge {
        return Ok(None);
    }
    let mut named: Option<&'a str> = None;
    for value in HEADERS.iter().flat_map(|h| req.headers_named(h)) {
        let value = value.trim();
        let token = !value.is_empty() && value.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
        if !token || named.is_some_and(|m| m != value) {
            return Err(Unreadable);
        }
        named = Some(value);
    }
    Ok(named.filter(|m| *m != req.method))
}
