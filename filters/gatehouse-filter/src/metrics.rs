//! Envoy's stats (`wasmcustom.gatehouse.*`) and log: where the engine's effects are written out. Metric ids
//! are defined on first use (not in `main!`, where defining traps) and kept.

use std::collections::HashMap;

use gatehouse::engine::{Effect, Level};
use gatehouse::Fetch;

use crate::host::{self, ERROR, INFO, WARN};

/// Metric ids by name, one map per kind (`host::COUNTER`, `GAUGE`, `HISTOGRAM`).
#[derive(Default)]
pub struct Metrics {
    ids: [HashMap<String, u32>; 3],
}

impl Metrics {
    fn id(&mut self, kind: u32, name: &str) -> Option<u32> {
        let ids = self.ids.get_mut(kind as usize)?;
        if let Some(id) = ids.get(name) {
            return Some(*id);
        }
        let id = host::define_metric(kind, name).ok()?;
        ids.insert(name.to_owned(), id);
        Some(id)
    }

    /// A sample for a histogram (Envoy keeps the buckets and quantiles).
    pub fn observe(&mut self, name: &str, value: u64) {
        if let Some(id) = self.id(host::HISTOGRAM, name) {
            host::record(id, value);
        }
    }

    /// Writes out the engine's metrics and log lines; fetches are returned for the root context to start.
    pub fn publish(&mut self, effects: Vec<Effect>) -> Vec<Fetch> {
        let mut fetches = Vec::new();
        for e in effects {
            match e {
                Effect::Count(name, by) => {
                    if let Some(id) = self.id(host::COUNTER, &name) {
                        host::increment(id, i64::try_from(by).unwrap_or(i64::MAX));
                    }
                }
                Effect::Gauge(name, value) => {
                    if let Some(id) = self.id(host::GAUGE, &name) {
                        host::record(id, value);
                    }
                }
                Effect::Log(level, line) => {
                    let level = match level {
                        Level::Info => INFO,
                        Level::Warn => WARN,
                        Level::Error => ERROR,
                    };
                    host::log(level, &line);
                }
                Effect::Fetch(f) => fetches.push(f),
            }
        }
        fetches
    }
}
