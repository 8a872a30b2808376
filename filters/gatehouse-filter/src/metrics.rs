//! Envoy's stats (`wasmcustom.gatehouse.*`) and log: where the engine's effects are written out. Metric ids
//! are defined on first use (not in `main!`, where defining traps) and kept.

use std::collections::HashMap;

use gatehouse::engine::{Effect, Level};
use gatehouse::Fetch;

use crate::host::{self, ERROR, INFO, WARN};

#[derive(Default)]
pub struct Metrics {
    counters: HashMap<String, u32>,
    gauges: HashMap<String, u32>,
    histograms: HashMap<String, u32>,
}

fn id_of(ids: &mut HashMap<String, u32>, name: &str, kind: u32) -> Option<u32> {
    if let Some(id) = ids.get(name) {
        return Some(*id);
    }
    let id = host::define_metric(kind, name).ok()?;
    ids.insert(name.to_owned(), id);
    Some(id)
}

impl Metrics {
    /// A sample for a histogram (Envoy keeps the buckets and quantiles).
    pub fn observe(&mut self, name: &str, value: u64) {
        if let Some(id) = id_of(&mut self.histograms, name, host::HISTOGRAM) {
            host::record(id, value);
        }
    }

    /// Writes out the engine's metrics and log lines; fetches are returned for the root context to start.
    pub fn publish(&mut self, effects: Vec<Effect>) -> Vec<Fetch> {
        let mut fetches = Vec::new();
        for e in effects {
            match e {
                Effect::Count(name, by) => {
                    if let Some(id) = id_of(&mut self.counters, &name, host::COUNTER) {
                        host::increment(id, i64::try_from(by).unwrap_or(i64::MAX));
                    }
                }
                Effect::Gauge(name, value) => {
                    if let Some(id) = id_of(&mut self.gauges, &name, host::GAUGE) {
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
