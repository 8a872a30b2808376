//! A JSON walker that keeps going after a problem. serde stops at the first error; operators want every
//! problem of a pushed config at once, each with its path, so loading reads a `serde_json::Value` with this.

use serde_json::{Map, Value};

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
}

impl<'v> Obj<'v> {
    /// Opens `value` as an object whose members must all be in `known`; unknown members are errors
    /// (the `deny_unknown_fields` rule), with a suggestion when one is a near miss.
    pub fn open(errs: &mut ConfigErrors, path: &str, value: &'v Value, known: &[&str]) -> Option<Obj<'v>> {
        let Some(map) = value.as_object() else {
            errs.push(path, format!("expected an object; got {}", kind(value)));
            return None;
        };
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let hint = known
                    .iter()
                    .find(|k| edit_distance(k, key) <= 2)
                    .map(|k| format!(" (did you mean {k:?}?)"))
                    .unwrap_or_default();
                errs.push(
                    format!("{path}.{key}"),
                    format!("unknown field{hint}; expected one of: {}", known.join(", ")),
                );
            }
        }
        Some(Obj { path: path.to_owned(), map })
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
        self.required(errs, key).and_then(|v| as_nonempty_str(errs, &self.at(key), v))
    }

    pub fn opt_string(&self, errs: &mut ConfigErrors, key: &str) -> Option<&'v str> {
        self.get(key).and_then(|v| as_nonempty_str(errs, &self.at(key), v))
    }

    pub fn bool_or(&self, errs: &mut ConfigErrors, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                errs.push(self.at(key), format!("expected a boolean; got {}", kind(other)));
                default
            }
        }
    }

    pub fn u64_or(&self, errs: &mut ConfigErrors, key: &str, default: u64, min: u64, max: u64) -> u64 {
        match self.get(key) {
            None => default,
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => n,
                _ => {
                    errs.push(self.at(key), format!("expected an integer from {min} to {max}; got {v}"));
                    default
                }
            },
        }
    }

    /// One of a fixed set of strings; `None` when absent (the caller applies the default).
    pub fn choice<T: Copy>(&self, errs: &mut ConfigErrors, key: &str, options: &[(&str, T)]) -> Option<T> {
        let v = self.get(key)?;
        let found = v.as_str().and_then(|s| options.iter().find(|(name, _)| *name == s)).map(|(_, t)| *t);
        if found.is_none() {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
            errs.push(self.at(key), format!("expected one of {}; got {v}", names.join(", ")));
        }
        found
    }

    pub fn string_list(&self, errs: &mut ConfigErrors, key: &str) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
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
        .filter_map(|(i, item)| as_nonempty_str(errs, &format!("{path}[{i}]"), item).map(str::to_owned))
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
