//! A JSON walker that keeps going after a problem. serde stops at the first error; operators want every
//! problem of a pushed config at once, each with its path, so loading reads a `serde_json::Value` with this.

use serde_json::{Map, Value};

use super::spec::{Kind, Spec};
use super::ConfigErrors;

/// Describes a JSON value's type for messages ("expected a string; got a number").
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub struct Obj<'v> {
    pub path: String,
    map: &'v Map<String, Value>,
    spec: &'static Spec,
}

impl<'v> Obj<'v> {
    /// Opens `value` as the object `spec` describes: members it does not list are errors (the
    /// `deny_unknown_fields` rule), with a suggestion when one is a near miss.
    pub fn open(
        errs: &mut ConfigErrors,
        path: impl Into<String>,
        value: &'v Value,
        spec: &'static Spec,
    ) -> Option<Obj<'v>> {
        let path: String = path.into();
        let Some(map) = value.as_object() else {
            errs.push(&path, format!("expected an object; got {}", kind(value)));
            return None;
        };
        for key in map.keys() {
            if spec.field(key).is_none() {
                let hint = spec
                    .keys()
                    .find(|k| edit_distance(k, key) <= 2)
                    .map(|k| format!(" (did you mean {k:?}?)"))
                    .unwrap_or_default();
                let known: Vec<&str> = spec.keys().collect();
                errs.push(
                    format!("{path}.{key}"),
                    format!("unknown field{hint}; expected one of: {}", known.join(", ")),
                );
            }
        }
        Some(Obj { path, map, spec })
    }

    pub fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    pub fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn required(&self, errs: &mut ConfigErrors, key: &str) -> Option<&'v Value> {
        let v = self.map.get(key);
        if v.is_none() {
            errs.push(self.at(key), "required field is missing");
        }
        v
    }

    pub fn string(&self, errs: &mut ConfigErrors, key: &str) -> Option<&'v str> {
        self.required(errs, key).and_then(|v| self.text(errs, key, v))
    }

    pub fn opt_string(&self, errs: &mut ConfigErrors, key: &str) -> Option<&'v str> {
        self.get(key).and_then(|v| self.text(errs, key, v))
    }

    /// A non-empty string; the path is only spelled out for a problem (a configuration of ten thousand
    /// deployments reads a hundred thousand fields).
    fn text(&self, errs: &mut ConfigErrors, key: &str, v: &'v Value) -> Option<&'v str> {
        match v.as_str() {
            Some(s) if !s.is_empty() => Some(s),
            _ => as_nonempty_str(errs, &self.at(key), v),
        }
    }

    /// A boolean field, with the default its spec gives.
    pub fn flag(&self, errs: &mut ConfigErrors, key: &str) -> bool {
        let default = match self.spec.field(key).map(|f| &f.kind) {
            Some(Kind::Bool { default }) => default.unwrap_or(false),
            _ => {
                errs.push(self.at(key), "internal: not described as a boolean field");
                return false;
            }
        };
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                errs.push(self.at(key), format!("expected a boolean; got {}", kind(other)));
                default
            }
        }
    }

    /// An integer field, within the range and with the default its spec gives.
    pub fn int(&self, errs: &mut ConfigErrors, key: &str) -> u64 {
        let (min, max, default) = match self.spec.field(key).map(|f| &f.kind) {
            Some(Kind::Int { min, max, default }) => (*min, *max, *default),
            _ => {
                errs.push(self.at(key), "internal: not described as an integer field");
                return 0;
            }
        };
        match self.get(key) {
            None => default.unwrap_or(min),
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => n,
                _ => {
                    errs.push(self.at(key), format!("expected an integer from {min} to {max}; got {v}"));
                    default.unwrap_or(min)
                }
            },
        }
    }

    /// One of the options its spec lists, as the caller's value for it; absent, the spec's default (`None`
    /// without one). `options` maps each name the spec lists to a value: a name the spec does not list, or
    /// one it lists that is not mapped, is reported as an internal error on every load.
    pub fn choice<T: Copy>(&self, errs: &mut ConfigErrors, key: &str, options: &[(&str, T)]) -> Option<T> {
        let (names, default) = match self.spec.field(key).map(|f| &f.kind) {
            Some(Kind::Enum { options, default }) => (*options, *default),
            _ => {
                errs.push(self.at(key), "internal: not described as a choice");
                return None;
            }
        };
        if names.len() != options.len() || !options.iter().all(|(n, _)| names.contains(n)) {
            errs.push(self.at(key), "internal: the loader's options differ from the field's");
        }
        let pick = |name: &str| options.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
        let Some(v) = self.get(key) else { return default.and_then(pick) };
        match v.as_str().and_then(pick) {
            Some(t) => Some(t),
            None => {
                let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
                errs.push(self.at(key), format!("expected one of {}; got {v}", names.join(", ")));
                default.and_then(pick)
            }
        }
    }

    pub fn string_list(&self, errs: &mut ConfigErrors, key: &str) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(|i| i.as_str().is_some_and(|s| !s.is_empty())) => {
                items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            Some(v) => string_list(errs, &self.at(key), v),
        }
    }
}

pub fn as_nonempty_str<'v>(errs: &mut ConfigErrors, path: &str, v: &'v Value) -> Option<&'v str> {
    match v.as_str() {
        Some(s) if !s.is_empty() => Some(s),
        Some(_) => {
            errs.push(path, "expected a non-empty string");
            None
        }
        None => {
            errs.push(path, format!("expected a string; got {}", kind(v)));
            None
        }
    }
}

pub fn string_list(errs: &mut ConfigErrors, path: &str, v: &Value) -> Vec<String> {
    let Some(items) = v.as_array() else {
        errs.push(path, format!("expected an array of strings; got {}", kind(v)));
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item.as_str() {
            Some(s) if !s.is_empty() => Some(s.to_owned()),
            _ => as_nonempty_str(errs, &format!("{path}[{i}]"), item).map(str::to_owned),
        })
        .collect()
}

pub fn array<'v>(errs: &mut ConfigErrors, path: &str, v: &'v Value) -> &'v [Value] {
    match v.as_array() {
        Some(items) => items,
        None => {
            errs.push(path, format!("expected an array; got {}", kind(v)));
            &[]
        }
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

pub fn check_header_name(errs: &mut ConfigErrors, path: &str, name: &str) {
    // RFC 9110 §5.1 token characters, lower-case because Envoy presents header names lower-cased.
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        errs.push(path, format!("{name:?} is not a lower-case HTTP header name"));
    }
}
