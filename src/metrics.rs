//! Every metric Gatehouse defines, with its labels, in one table: the engine names its stats through it, and
//! the Envoy `stats_config` that turns those names into Prometheus labels is generated from it
//! (`gatehouse stats-tags`; checked in as envoy-config/stats-tags.json, a unit test fails on drift).
//!
//! Proxy-wasm can only define metrics by name, so a label's value travels inside the name:
//! `gatehouse.<family>.<value>…`, in the order of the family's labels. Envoy's tag extraction (one regex per
//! family and label, `stats_config.stats_tags`) takes each value out again, so Prometheus sees
//! `gatehouse_<family>{gatehouse_<label>="<value>",…}` and the issuer, route class or call kind is never part of
//! a family's name. Counters end in `_total` and units are spelled out, as the Prometheus naming conventions
//! ask (https://prometheus.io/docs/practices/naming/).

use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    /// Label names without the `gatehouse_` prefix, in the order their values follow the family's name.
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

macro_rules! family {
    ($id:ident, $name:literal, $kind:ident, [$($label:literal),*], $help:literal) => {
        pub const $id: Family = Family { name: $name, kind: Kind::$kind, labels: &[$($label),*], help: $help };
    };
}

family!(DECISIONS, "decisions_total", Counter, ["outcome", "reason"], "Every decision, by outcome and reason code.");
family!(CLASS_DECISIONS, "class_decisions_total", Counter, ["outcome", "class"], "Decisions by route class.");
family!(
    PATHS,
    "paths_total",
    Counter,
    ["path", "class"],
    "Which path (new, legacy) took each request, by route class."
);
family!(SHADOW_AGREEMENTS, "shadow_agreements_total", Counter, ["class"], "Shadowed requests where both paths agreed.");
family!(
    SHADOW_MISMATCHES,
    "shadow_mismatches_total",
    Counter,
    ["class", "direction", "reason"],
    "Shadowed requests where the paths disagreed, by direction and the new path's reason."
);
family!(
    IDP_CALLS,
    "idp_calls_total",
    Counter,
    ["call", "result"],
    "Calls to the provider by kind (code, refresh, exchange) and result."
);
family!(IDP_CALL_DURATION, "idp_call_duration_milliseconds", Histogram, [], "How long provider calls took.");
family!(
    IDP_DISPATCH_FAILED,
    "idp_dispatch_failed_total",
    Counter,
    [],
    "Provider calls the proxy could not send (an unknown cluster)."
);
family!(
    JWKS_FETCHES,
    "jwks_fetches_total",
    Counter,
    ["issuer", "result"],
    "Key-set fetches by issuer and result (ok, failed)."
);
family!(JWKS_KEYS, "jwks_keys", Gauge, ["issuer"], "Keys in the issuer's current key set.");
family!(JWKS_AGE, "jwks_age_seconds", Gauge, ["issuer"], "Age of the issuer's current key set.");
family!(JWKS_FRESH, "jwks_fresh", Gauge, ["issuer"], "1 while the issuer's key set is fresh enough to use.");
family!(CACHE_HITS, "cache_hits_total", Counter, ["cache"], "Cache hits (tokens, sessions).");
family!(CACHE_MISSES, "cache_misses_total", Counter, ["cache"], "Cache misses (tokens, sessions).");
family!(CACHE_ENTRIES, "cache_entries", Gauge, ["cache"], "Entries in each cache of the reporting VM.");
family!(CONFIG_GENERATION, "config_generation", Gauge, [], "The generation of the configuration running.");
family!(CONFIG_DIGEST, "config_digest", Gauge, [], "The first 32 bits of the running configuration's SHA-256.");
family!(CONFIG_LOADED, "config_loaded_total", Counter, [], "Configurations loaded.");
family!(
    CONFIG_REJECTED,
    "config_rejected_total",
    Counter,
    [],
    "Configurations refused (the last good one keeps serving)."
);
family!(VM_MEMORY, "vm_memory_bytes", Gauge, [], "The reporting VM's linear memory.");

pub const FAMILIES: &[&Family] = &[
    &DECISIONS,
    &CLASS_DECISIONS,
    &PATHS,
    &SHADOW_AGREEMENTS,
    &SHADOW_MISMATCHES,
    &IDP_CALLS,
    &IDP_CALL_DURATION,
    &IDP_DISPATCH_FAILED,
    &JWKS_FETCHES,
    &JWKS_KEYS,
    &JWKS_AGE,
    &JWKS_FRESH,
    &CACHE_HITS,
    &CACHE_MISSES,
    &CACHE_ENTRIES,
    &CONFIG_GENERATION,
    &CONFIG_DIGEST,
    &CONFIG_LOADED,
    &CONFIG_REJECTED,
    &VM_MEMORY,
];

/// The caches' running totals, by the names the engine keeps its last published figure under.
pub const CACHE_TOKEN_HITS: &str = "gatehouse.cache_hits_total.tokens";
pub const CACHE_TOKEN_MISSES: &str = "gatehouse.cache_misses_total.tokens";
pub const CACHE_SESSION_HITS: &str = "gatehouse.cache_hits_total.sessions";
pub const CACHE_SESSION_MISSES: &str = "gatehouse.cache_misses_total.sessions";

/// The loader's message for a route class or issuer name that `is_label_value` refuses.
pub const LABEL_VALUE: &str = "must be letters, digits, '_' or '-' (it is a metric label)";

/// What a label's value may hold: a value with a `.` would split into two, and Envoy's tag regexes match
/// `[\w-]`. The loader holds route classes and issuer names to it.
pub fn is_label_value(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Family {
    /// The stat name for these label values (one per label, in order).
    pub fn stat(&self, values: &[&str]) -> String {
        let mut name = String::with_capacity(16 + self.name.len() + values.iter().map(|v| v.len() + 1).sum::<usize>());
        name.push_str("gatehouse.");
        name.push_str(self.name);
        for v in values {
            name.push('.');
            name.push_str(v);
        }
        name
    }

    /// The name Prometheus shows, once the tags are extracted.
    pub fn prometheus_name(&self) -> String {
        format!("gatehouse_{}", self.name)
    }
}

/// Envoy's `stats_config` for the bootstrap: for each family and label, a regex whose first group (the
/// label's value with the `.` before it) Envoy removes from the name and whose second group is the value.
pub fn stats_config() -> Value {
    let mut tags = Vec::new();
    for f in FAMILIES {
        let n = f.labels.len();
        for (i, label) in f.labels.iter().enumerate() {
            let before = "(?:\\.[\\w-]+)".repeat(i);
            let after = "(?:\\.[\\w-]+)".repeat(n - 1 - i);
            let regex = format!("^wasmcustom\\.gatehouse\\.{}{before}(\\.([\\w-]+)){after}$", f.name);
            tags.push(json!({"tag_name": format!("gatehouse_{label}"), "regex": regex}));
        }
    }
    json!({"stats_tags": tags})
}
