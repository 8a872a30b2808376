//! `routes[]`: ordered rules from host, method and path to a requirement.

use std::collections::HashSet;

use regex_lite::Regex;

use super::fields;
use super::reader::{array, Obj};
use super::ConfigErrors;
use crate::policy::host::{route_host, HostMatching};
use crate::policy::{
    normalize_path, BearerRule, HostMatch, OnUnavailable, Optional, PathMatch, Requirement, ResponseFormat, Route,
};

const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
const MAX_REGEX_LEN: usize = 1024;

pub(super) fn load(errs: &mut ConfigErrors, top: &Obj<'_>, issuer_names: &[&str]) -> Vec<Route> {
    let Some(v) = top.required(errs, "routes") else {
        return Vec::new();
    };
    let path = top.at("routes");
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, item) in array(errs, &path, v).iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(o) = Obj::open(errs, &p, item, &fields::ROUTE) else {
            continue;
        };
        let name = o.string(errs, "name").unwrap_or_default().to_owned();
        if !name.is_empty() && !names.insert(name.clone()) {
            errs.push(o.at("name"), format!("duplicate route name {name:?}"));
        }
        let class = o.opt_string(errs, "class").unwrap_or("default").to_owned();
        if !crate::metrics::is_label_value(&class) {
            errs.push(o.at("class"), crate::metrics::LABEL_VALUE);
        }
        let hosts = o
            .string_list(errs, "hosts")
            .into_iter()
            .enumerate()
            .filter_map(|(j, h)| host(errs, &format!("{}[{j}]", o.at("hosts")), &h))
            .collect();
        let methods: Vec<String> = o.string_list(errs, "methods");
        for (j, m) in methods.iter().enumerate() {
            if !METHODS.contains(&m.as_str()) {
                errs.push(
                    format!("{}[{j}]", o.at("methods")),
                    format!("expected an upper-case method, one of {}; got {m:?}", METHODS.join(", ")),
                );
            }
        }
        let (require, mut rules, with_session) = match o.get("require") {
            Some(v) => match requirement(errs, &o.at("require"), v, issuer_names) {
                Some((r, rules, with_session)) => (Some(r), rules, with_session),
                None => (None, Vec::new(), false),
            },
            None => {
                errs.push(
                    o.at("require"),
                    "required field is missing; expected \"public\", \"bearer\", \"session\", \"bearer_or_session\", {\"any_of\": [...]} or {\"all_of\": [...]}",
                );
                (None, Vec::new(), false)
            }
        };
        for list in ["hosts", "methods"] {
            if o.get(list).and_then(|v| v.as_array()).is_some_and(Vec::is_empty) {
                errs.push(o.at(list), "an empty list matches nothing; leave the field out to match any");
            }
        }
        let permissions = o.string_list(errs, "permissions");
        if require == Some(Requirement::Public) && !permissions.is_empty() {
            errs.push(o.at("permissions"), "a public route cannot require permissions");
        }
        let response = o
            .choice(errs, "response", &[("json", ResponseFormat::Json), ("text", ResponseFormat::Text)])
            .unwrap_or(ResponseFormat::Json);
        let redirect_browsers =
            o.choice(errs, "on_unauthenticated", &[("redirect", true), ("deny", false)]).unwrap_or(true);
        let path_match = o.required(errs, "path").and_then(|v| path_match(errs, &o.at("path"), v));
        let issuers = o.string_list(errs, "issuers");
        check_issuers(errs, &o.at("issuers"), &issuers, issuer_names);
        let audiences = o.string_list(errs, "audiences");
        let combined = matches!(require, Some(Requirement::AnyOf | Requirement::AllOf));
        for key in ["issuers", "audiences"] {
            if combined && o.has(key) {
                errs.push(o.at(key), "with any_of / all_of, name issuers and audiences in each bearer item");
            }
        }
        if let (Some(Requirement::Bearer | Requirement::BearerOrSession), [rule]) = (require, rules.as_mut_slice()) {
            *rule = BearerRule { issuers, audiences };
        }
        let optional = match (o.flag(errs, "allow_missing"), o.flag(errs, "allow_missing_or_failed")) {
            (true, true) => {
                errs.push(
                    o.at("allow_missing_or_failed"),
                    "give one of \"allow_missing\" and \"allow_missing_or_failed\"",
                );
                Optional::MissingOrFailed
            }
            (true, false) => Optional::Missing,
            (false, true) => Optional::MissingOrFailed,
            (false, false) => Optional::No,
        };
        let on_unavailable = o
            .choice(
                errs,
                "on_unavailable",
                &[("deny", OnUnavailable::Deny), ("pass_unauthenticated", OnUnavailable::PassUnauthenticated)],
            )
            .unwrap_or(OnUnavailable::Deny);
        check_requirement_options(errs, &o, require, &permissions, optional);
        if let (Some(require), Some(path)) = (require, path_match) {
            out.push(Route {
                name,
                class,
                hosts,
                path,
                methods,
                require,
                permissions,
                response,
                redirect_browsers,
                rules,
                with_session,
                optional,
                on_unavailable,
            });
        }
    }
    out
}

fn check_issuers(errs: &mut ConfigErrors, path: &str, issuers: &[String], known: &[&str]) {
    for (j, name) in issuers.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            errs.push(format!("{path}[{j}]"), format!("unknown issuer {name:?}; expected one of {known:?}"));
        }
    }
}

const REQUIREMENTS: &str =
    "\"public\", \"bearer\", \"session\", \"bearer_or_session\", {\"any_of\": [...]} or {\"all_of\": [...]}";

/// `require`: a name, or a combinator over requirement items (`"bearer"`, `"session"`,
/// `{"bearer": {"issuers": [...], "audiences": [...]}}`), as jwt_authn's `requires_any` / `requires_all`.
/// Returns the requirement, its bearer rules, and whether a session is one of them.
fn requirement(
    errs: &mut ConfigErrors,
    path: &str,
    v: &serde_json::Value,
    issuer_names: &[&str],
) -> Option<(Requirement, Vec<BearerRule>, bool)> {
    use serde_json::Value;
    match v {
        Value::String(s) => match s.as_str() {
            "public" => Some((Requirement::Public, Vec::new(), false)),
            "bearer" => Some((Requirement::Bearer, vec![BearerRule::default()], false)),
            "session" => Some((Requirement::Session, Vec::new(), true)),
            "bearer_or_session" => Some((Requirement::BearerOrSession, vec![BearerRule::default()], true)),
            other => {
                errs.push(path, format!("expected one of {REQUIREMENTS}; got {other:?}"));
                None
            }
        },
        Value::Object(m) if m.len() == 1 && (m.contains_key("any_of") || m.contains_key("all_of")) => {
            let (key, kind) =
                if m.contains_key("any_of") { ("any_of", Requirement::AnyOf) } else { ("all_of", Requirement::AllOf) };
            let list_path = format!("{path}.{key}");
            let items = array(errs, &list_path, m.get(key).unwrap_or(&Value::Null));
            if items.len() < 2 {
                errs.push(&list_path, "expected at least two requirements (one is the requirement itself)");
            }
            let (mut rules, mut sessions) = (Vec::new(), 0);
            for (i, item) in items.iter().enumerate() {
                let at = format!("{list_path}[{i}]");
                match item {
                    Value::String(s) if s == "session" => sessions += 1,
                    Value::String(s) if s == "bearer" => rules.push(BearerRule::default()),
                    Value::Object(b) if b.len() == 1 && b.contains_key("bearer") => {
                        let Some(r) = Obj::open(
                            errs,
                            format!("{at}.bearer"),
                            b.get("bearer").unwrap_or(&Value::Null),
                            &fields::BEARER_ITEM,
                        ) else {
                            continue;
                        };
                        let issuers = r.string_list(errs, "issuers");
                        check_issuers(errs, &r.at("issuers"), &issuers, issuer_names);
                        rules.push(BearerRule { issuers, audiences: r.string_list(errs, "audiences") });
                    }
                    _ => errs.push(
                        at,
                        "expected \"bearer\", \"session\" or {\"bearer\": {\"issuers\": [...], \"audiences\": [...]}}",
                    ),
                }
            }
            if sessions > 1 {
                errs.push(&list_path, "\"session\" is listed more than once");
            }
            if kind == Requirement::AllOf
                && rules.iter().filter(|r| r.issuers.is_empty() && r.audiences.is_empty()).count() > 1
            {
                errs.push(&list_path, "two plain \"bearer\" items are the same requirement");
            }
            Some((kind, rules, sessions > 0))
        }
        other => {
            errs.push(path, format!("expected one of {REQUIREMENTS}; got {}", super::reader::kind(other)));
            None
        }
    }
}

/// Options that mean nothing, or contradict each other, for the route's requirement.
fn check_requirement_options(
    errs: &mut ConfigErrors,
    o: &Obj<'_>,
    require: Option<Requirement>,
    permissions: &[String],
    optional: Optional,
) {
    let checks_bearer = matches!(require, Some(Requirement::Bearer | Requirement::BearerOrSession));
    if require == Some(Requirement::AllOf) && optional != Optional::No {
        let key = if optional == Optional::Missing { "allow_missing" } else { "allow_missing_or_failed" };
        errs.push(o.at(key), "all_of needs every requirement met: optional authentication goes with any_of");
    }
    for key in ["issuers", "audiences"] {
        if o.has(key) && !checks_bearer {
            errs.push(
                o.at(key),
                "only routes that take bearer tokens (\"bearer\", \"bearer_or_session\") check issuers and audiences",
            );
        }
        if o.get(key).and_then(|v| v.as_array()).is_some_and(Vec::is_empty) {
            errs.push(o.at(key), "an empty list accepts no token; leave the field out to accept any");
        }
    }
    if require == Some(Requirement::Public) {
        for key in ["allow_missing", "allow_missing_or_failed", "on_unavailable"] {
            if o.has(key) {
                errs.push(o.at(key), "a public route checks no credential");
            }
        }
    }
    let key = if optional == Optional::Missing { "allow_missing" } else { "allow_missing_or_failed" };
    if optional != Optional::No && !permissions.is_empty() {
        errs.push(
            o.at(key),
            "a request without a credential holds no permissions: drop \"permissions\" or make the credential required",
        );
    }
    if o.get("on_unavailable").and_then(|v| v.as_str()) == Some("pass_unauthenticated") && !permissions.is_empty() {
        errs.push(
            o.at("on_unavailable"),
            "a request passed without identity holds no permissions: drop \"permissions\" or keep \"deny\"",
        );
    }
    if optional != Optional::No && require == Some(Requirement::Session) {
        errs.push(o.at(key), "session routes: use \"on_unauthenticated\" to choose between sign-in and 401");
    }
}

pub(super) fn host(errs: &mut ConfigErrors, path: &str, h: &str) -> Option<HostMatch> {
    let found = host_pattern(h);
    if found.is_none() {
        errs.push(
            path,
            format!(
                "expected a lower-case host with an optional port (IPv6 in brackets), or \"*.\" and a domain; got {h:?}"
            ),
        );
    }
    found
}

/// A host pattern: exact, or `*.` and a domain (subdomains only).
pub(super) fn host_pattern(h: &str) -> Option<HostMatch> {
    // The common case first: a lower-case DNS name of labels (RFC 1123 §2.1), which `route_host` leaves as is.
    let dns = |s: &str| {
        s.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    };
    if let Some(rest) = h.strip_prefix("*.").filter(|r| dns(r)) {
        return Some(HostMatch::Suffix(format!(".{rest}")));
    }
    if dns(h) {
        return Some(HostMatch::Exact(h.to_owned()));
    }
    // A pattern must already be what `route_host` makes of a request's authority, or it never matches.
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:[]".contains(&b))
            && route_host(s, HostMatching::default()) == s
    };
    if let Some(rest) = h.strip_prefix("*.") {
        if valid(rest) && !rest.contains(':') {
            return Some(HostMatch::Suffix(format!(".{rest}")));
        }
    } else if valid(h) {
        return Some(HostMatch::Exact(h.to_owned()));
    }
    None
}

fn path_match(errs: &mut ConfigErrors, path: &str, v: &serde_json::Value) -> Option<PathMatch> {
    let o = Obj::open(errs, path, v, &fields::PATH_MATCH)?;
    let given: Vec<&str> = ["exact", "prefix", "regex"].into_iter().filter(|k| o.has(k)).collect();
    if given.len() != 1 {
        errs.push(path, format!("expected exactly one of \"exact\", \"prefix\", \"regex\"; got {}", given.len()));
        return None;
    }
    let kind = given.first().copied().unwrap_or("exact");
    let value = o.string(errs, kind)?;
    if kind == "regex" {
        if value.len() > MAX_REGEX_LEN {
            errs.push(o.at(kind), format!("regex longer than {MAX_REGEX_LEN} characters"));
            return None;
        }
        return match Regex::new(&format!("^(?:{value})$")) {
            Ok(r) => Some(PathMatch::Regex(r)),
            Err(e) => {
                errs.push(o.at(kind), format!("invalid regex: {e}"));
                None
            }
        };
    }
    // A literal must already be in normal form, or it could never match a normalized request path.
    match normalize_path(value) {
        Ok((normal, None)) if normal == value => {}
        Ok((normal, None)) => {
            errs.push(o.at(kind), format!("{value:?} is not a normalized path; write {normal:?}"));
            return None;
        }
        Ok((_, Some(_))) => {
            errs.push(o.at(kind), "paths match without the query string; remove the \"?\" part");
            return None;
        }
        Err(e) => {
            errs.push(o.at(kind), format!("{value:?} is not a valid request path ({e})"));
            return None;
        }
    }
    Some(if kind == "exact" { PathMatch::Exact(value.to_owned()) } else { PathMatch::Prefix(value.to_owned()) })
}
