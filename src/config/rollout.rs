//! `rollout`: how much of the traffic the new path decides, per route and route class. Absent, Gatehouse
//! enforces everything (the end state of a rollout).

use std::collections::HashMap;

use serde_json::Value;

use super::fields;
use super::reader::{kind, Obj};
use super::{ConfigErrors, Env};
use crate::policy::Route;
use crate::secret::Secret;

/// What the new path does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Decide and enforce: refuse, redirect, strip and inject as configured.
    Enforce,
    /// Decide, enforce nothing: the request reaches the legacy path unchanged; the decision is compared
    /// with the legacy path's answer.
    Shadow,
    /// Do not decide: the request reaches the legacy path unchanged.
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketBy {
    /// One bucket per dataplane: a platform-wide percentage moves whole deployments.
    Deployment,
    /// One bucket per person or robot (token `sub`, session subject); requests without one use the
    /// deployment's bucket.
    Subject,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub mode: Mode,
    /// Share of buckets in `mode`, in hundredths of a percent (0..=10000); the rest get `otherwise`.
    pub basis_points: u32,
    pub otherwise: Mode,
    pub bucket_by: BucketBy,
    /// Unix seconds after which this flag no longer applies (the next one down does).
    pub until: Option<u64>,
}

impl Flag {
    pub const ENFORCE: Flag = Flag {
        mode: Mode::Enforce,
        basis_points: 10000,
        otherwise: Mode::Shadow,
        bucket_by: BucketBy::Subject,
        until: None,
    };

    pub fn active(&self, now: u64) -> bool {
        self.until.is_none_or(|u| now < u)
    }

    /// The flag depends on who is asking only if some buckets differ from others by subject.
    pub fn needs_subject(&self) -> bool {
        self.bucket_by == BucketBy::Subject
            && self.basis_points > 0
            && self.basis_points < 10000
            && self.mode != self.otherwise
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lists {
    pub subjects: Vec<String>,
    pub deployments: Vec<String>,
}

#[derive(Debug)]
pub struct Canary {
    pub header: String,
    pub secret: Secret,
}

#[derive(Debug)]
pub struct Rollout {
    pub default: Flag,
    pub classes: HashMap<String, Flag>,
    pub routes: HashMap<String, Flag>,
    /// Always the flag's `mode`, whatever the percentage.
    pub allow: Lists,
    /// Always the flag's `otherwise`.
    pub deny: Lists,
    pub canary: Option<Canary>,
    pub salt: String,
}

/// Sign-in, callback and logout paths: not routes, but governed by this class's flag.
pub const AUTH_CLASS: &str = "auth";
pub const UNMATCHED_CLASS: &str = "unmatched";

/// `routes`: every route a flag may name, the shared ones and each deployment's own (flags apply by name and
/// class wherever the route is defined).
pub(super) fn load(errs: &mut ConfigErrors, top: &Obj<'_>, routes: &[&Route], env: Env<'_>) -> Option<Rollout> {
    let v = top.get("rollout")?;
    let o = Obj::open(errs, top.at("rollout"), v, &fields::ROLLOUT)?;
    let default = o.get("default").map_or(Some(Flag::ENFORCE), |v| flag(errs, &o.at("default"), v));
    let mut classes = HashMap::new();
    if let Some(v) = o.get("classes") {
        let path = o.at("classes");
        match v.as_object() {
            Some(map) => {
                for (name, f) in map {
                    let p = format!("{path}.{name}");
                    let known =
                        routes.iter().any(|r| &r.class == name) || name == AUTH_CLASS || name == UNMATCHED_CLASS;
                    if !known {
                        errs.push(&p, format!("no route has class {name:?} (nor is it \"auth\" or \"unmatched\")"));
                    }
                    if let Some(f) = flag(errs, &p, f) {
                        classes.insert(name.clone(), f);
                    }
                }
            }
            None => errs.push(path, format!("expected an object of class name to flag; got {}", kind(v))),
        }
    }
    let mut by_route = HashMap::new();
    if let Some(v) = o.get("routes") {
        let path = o.at("routes");
        match v.as_object() {
            Some(map) => {
                for (name, f) in map {
                    let p = format!("{path}.{name}");
                    if !routes.iter().any(|r| &r.name == name) {
                        errs.push(&p, format!("no route is named {name:?}"));
                    }
                    if let Some(f) = flag(errs, &p, f) {
                        by_route.insert(name.clone(), f);
                    }
                }
            }
            None => errs.push(path, format!("expected an object of route name to flag; got {}", kind(v))),
        }
    }
    let allow = lists(errs, &o, "allow");
    let deny = lists(errs, &o, "deny");
    let canary = o.get("canary").and_then(|v| canary(errs, &o.at("canary"), v, env));
    let salt = o.opt_string(errs, "salt").unwrap_or("").to_owned();
    Some(Rollout { default: default.unwrap_or(Flag::ENFORCE), classes, routes: by_route, allow, deny, canary, salt })
}

fn mode(errs: &mut ConfigErrors, o: &Obj<'_>, key: &str) -> Option<Mode> {
    o.choice(errs, key, &[("enforce", Mode::Enforce), ("shadow", Mode::Shadow), ("off", Mode::Off)])
}

fn flag(errs: &mut ConfigErrors, path: &str, v: &Value) -> Option<Flag> {
    let o = Obj::open(errs, path, v, &fields::ROLLOUT_FLAG)?;
    let m = o.required(errs, "mode").and_then(|_| mode(errs, &o, "mode"));
    let basis_points = match o.get("percent") {
        None => 10000,
        Some(p) => match p.as_f64() {
            // Hundredths of a percent are the finest step: a canary of 0.01% is one request in 10,000.
            Some(x) if (0.0..=100.0).contains(&x) && (x * 100.0).fract() == 0.0 => (x * 100.0) as u32,
            _ => {
                errs.push(o.at("percent"), format!("expected a number from 0 to 100 in steps of 0.01; got {p}"));
                10000
            }
        },
    };
    // Never `enforce`: requests outside the percentage take the legacy path.
    let otherwise =
        o.choice(errs, "otherwise", &[("shadow", Mode::Shadow), ("off", Mode::Off)]).unwrap_or(Mode::Shadow);
    let bucket_by = o
        .choice(errs, "bucket_by", &[("deployment", BucketBy::Deployment), ("subject", BucketBy::Subject)])
        .unwrap_or(BucketBy::Subject);
    let until = o.get("until").map(|u| match u.as_u64() {
        Some(n) => n,
        None => {
            errs.push(o.at("until"), format!("expected unix seconds (a whole number); got {u}"));
            0
        }
    });
    Some(Flag { mode: m?, basis_points, otherwise, bucket_by, until })
}

fn lists(errs: &mut ConfigErrors, o: &Obj<'_>, key: &str) -> Lists {
    let Some(v) = o.get(key) else { return Lists::default() };
    let Some(l) = Obj::open(errs, o.at(key), v, &fields::ROLLOUT_LISTS) else { return Lists::default() };
    Lists { subjects: l.string_list(errs, "subjects"), deployments: l.string_list(errs, "deployments") }
}

fn canary(errs: &mut ConfigErrors, path: &str, v: &Value, env: Env<'_>) -> Option<Canary> {
    let o = Obj::open(errs, path, v, &fields::ROLLOUT_CANARY)?;
    let header = o.string(errs, "header")?.to_ascii_lowercase();
    if !header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        errs.push(o.at("header"), "expected a header name (letters, digits, '-' and '_')");
    }
    let var = o.string(errs, "secret_env")?;
    match env(var) {
        // Short secrets can be guessed by anyone who can send a header; the override must stay an
        // operator's tool.
        Some(s) if s.len() >= 16 => Some(Canary { header, secret: Secret::new(s.into_bytes()) }),
        Some(_) => {
            errs.push(o.at("secret_env"), format!("environment variable {var} must hold at least 16 characters"));
            None
        }
        None => {
            errs.push(o.at("secret_env"), format!("environment variable {var} is not set"));
            None
        }
    }
}
