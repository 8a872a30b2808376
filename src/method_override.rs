//! Method-override headers (`X-HTTP-Method-Override` and kin): frameworks that honour them run the overridden
//! method, so a request judged as `GET` could run a `DELETE` upstream. By default they are removed from every
//! request Gatehouse lets through; with `method_override_headers: "judge"` they stay, and the request is
//! judged by the method they name.

use crate::config::{Config, MethodOverride, METHOD_OVERRIDE_HEADERS as HEADERS};
use crate::request::Request;

/// Override headers that name something other than one method (RFC 9110 §9.1: a token), or disagree.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable;

/// What an override may turn a request into: frameworks honour overrides on POST only (Rails, Symfony,
/// Laravel, Express's default), so an override on another method, or to a safe method (which would also make
/// a POST look like a CORS preflight), is refused rather than judged by a method the upstream may not run.
const OVERRIDABLE_TO: [&str; 3] = ["PUT", "PATCH", "DELETE"];

/// The method to judge the request by, when it differs from the request line's; `Unreadable` is refused with
/// 400. The engine then also requires both methods to reach the same route, so the request is judged the same
/// whichever method the upstream runs.
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
    match named.filter(|m| *m != req.method) {
        Some(m) if req.method != "POST" || !OVERRIDABLE_TO.contains(&m) => Err(Unreadable),
        other => Ok(other),
    }
}
