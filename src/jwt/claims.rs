//! Typed access to claims. A claim of the wrong JSON type is an error, never "absent": treating
//! `"exp": "never"` as a missing `exp` is how tokens become immortal.

use serde_json::{Map, Value};

use super::JwtError;

#[derive(Debug, Clone, Default)]
pub struct Claims(Map<String, Value>);

impl Claims {
    pub fn new(map: Map<String, Value>) -> Self {
        Claims(map)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    pub fn string(&self, name: &str) -> Result<Option<&str>, JwtError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(JwtError::ClaimType(name.into())),
        }
    }

    pub fn required_string(&self, name: &str) -> Result<&str, JwtError> {
        self.string(name)?.ok_or_else(|| JwtError::MissingClaim(name.into()))
    }

    /// RFC 7519 §2 NumericDate: seconds, possibly fractional. Negative, non-finite or absurd values are type
    /// errors rather than being clamped into something that passes.
    pub fn numeric_date(&self, name: &str) -> Result<Option<u64>, JwtError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                // The same bound for integers and decimals: a date past year 33,658 is a type error however it
                // is written (found by the hostile-request suite: 10^16 as an integer passed, 1e16 did not).
                if let Some(u) = n.as_u64() {
                    if u < 1_000_000_000_000_000 {
                        Ok(Some(u))
                    } else {
                        Err(JwtError::ClaimType(name.into()))
                    }
                } else {
                    match n.as_f64() {
                        Some(f) if f.is_finite() && (0.0..1e15).contains(&f) => Ok(Some(f.floor() as u64)),
                        _ => Err(JwtError::ClaimType(name.into())),
                    }
                }
            }
            Some(_) => Err(JwtError::ClaimType(name.into())),
        }
    }

    /// `aud` is a string or an array of strings (RFC 7519 §4.1.3); anything else is a type error.
    pub fn audiences(&self) -> Result<Vec<&str>, JwtError> {
        self.string_or_list("aud", false)
    }

    /// A claim that may be one string or a list of strings; with `split_spaces`, a single string is an
    /// OAuth `scope` style space-separated list (RFC 8693 §4.2).
    pub fn string_or_list(&self, name: &str, split_spaces: bool) -> Result<Vec<&str>, JwtError> {
        match self.0.get(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) if split_spaces => Ok(s.split(' ').filter(|p| !p.is_empty()).collect()),
            Some(Value::String(s)) => Ok(vec![s.as_str()]),
            Some(Value::Array(items)) => {
                items.iter().map(|v| v.as_str().ok_or_else(|| JwtError::ClaimType(name.into()))).collect()
            }
            Some(_) => Err(JwtError::ClaimType(name.into())),
        }
    }
}
