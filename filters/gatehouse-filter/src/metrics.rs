//! Counters at Envoy's `/stats` as `wasmcustom.gatehouse.*`. Metric ids are defined lazily on first use
//! (not in `main!`, where defining traps) and cached, so a request costs one map lookup per counter.

use std::collections::HashMap;

use gatehouse::cache::Caches;
use gatehouse::jwks::RemoteKeys;
use gatehouse::Config;
use gatehouse::Decision;

use crate::host;

#[derive(Default)]
pub struct Metrics {
    ids: HashMap<String, u32>,
    gauges: HashMap<String, u32>,
    /// Totals already added to each counter fed from a running total (cache hits and misses).
    published: HashMap<&'static str, u64>,
    /// Things logged once per VM (shadow mismatch kinds).
    logged: std::collections::HashSet<String>,
}

impl Metrics {
    pub fn gauge(&mut self, name: &str, value: u64) {
        self.record_as(name, value, host::define_gauge)
    }

    /// A sample for a histogram (Envoy keeps the buckets and quantiles).
    pub fn observe(&mut self, name: &str, value: u64) {
        self.record_as(name, value, host::define_histogram)
    }

    fn record_as(&mut self, name: &str, value: u64, define: fn(&str) -> Result<u32, u32>) {
        let id = match self.gauges.get(name) {
            Some(id) => *id,
            None => match define(name) {
                Ok(id) => {
                    self.gauges.insert(name.to_owned(), id);
                    id
                }
                Err(_) => return,
            },
        };
        host::record(id, value);
    }

    /// Once a tick: the VM's memory and how well its caches do. Gauges, because each VM reports its own.
    /// Also each remote key set: how many keys, how old, and whether still fresh enough to use.
    pub fn vm_state(&mut self, caches: &Caches, config: &Config, remote: &RemoteKeys, now: u64) {
        for issuer in config.all_issuers() {
            let Some(r) = &issuer.remote_jwks else { continue };
            let name = &issuer.name;
            let (keys, age) = match remote.sets.get(name) {
                Some(set) => (set.keys.len() as u64, now.saturating_sub(set.fetched_at)),
                None => (0, 0),
            };
            let fresh = remote.fresh(name, r, now, config.faults.keys_stale).is_some();
            self.gauge(&format!("gatehouse.jwks.{name}.keys"), keys);
            self.gauge(&format!("gatehouse.jwks.{name}.age_seconds"), age);
            self.gauge(&format!("gatehouse.jwks.{name}.fresh"), u64::from(fresh));
        }
        self.gauge("gatehouse.vm.memory_bytes", host::memory_bytes());
        self.gauge("gatehouse.cache.tokens.entries", caches.tokens.len() as u64);
        self.gauge("gatehouse.cache.sessions.entries", caches.sessions.len() as u64);
        self.count_to("gatehouse.cache.tokens.hits", caches.tokens.hits);
        self.count_to("gatehouse.cache.tokens.misses", caches.tokens.misses);
        self.count_to("gatehouse.cache.sessions.hits", caches.sessions.hits);
        self.count_to("gatehouse.cache.sessions.misses", caches.sessions.misses);
        self.gauge("gatehouse.cache.minted.entries", caches.minted.len() as u64);
    }

    pub fn count(&mut self, name: &str) {
        self.add(name, 1);
    }

    /// Adds to a counter, defining it on first use.
    fn add(&mut self, name: &str, by: u64) {
        let id = match self.ids.get(name) {
            Some(id) => *id,
            None => match host::define_counter(name) {
                Ok(id) => {
                    self.ids.insert(name.to_owned(), id);
                    id
                }
                Err(_) => return,
            },
        };
        host::increment(id, i64::try_from(by).unwrap_or(i64::MAX));
    }

    /// Brings a counter up to `total`, a running total kept elsewhere; counters from all VMs add up at
    /// Envoy's `/stats`, where gauges would overwrite each other. A total that went down (new caches with a
    /// new configuration) starts over.
    fn count_to(&mut self, name: &'static str, total: u64) {
        let last = self.published.insert(name, total).unwrap_or(0);
        let delta = if total >= last { total - last } else { total };
        if delta > 0 {
            self.add(name, delta);
        }
    }

    /// True the first time `key` is seen by this VM (bounded: after 1,000 keys, never again).
    pub fn first_time(&mut self, key: &str) -> bool {
        self.logged.len() < 1000 && self.logged.insert(key.to_owned())
    }

    /// Each decision by outcome and reason, by route class, and by path: `new` when the new path decided
    /// (allow, deny, reply, call), `legacy` when the request went on untouched (shadow, off).
    pub fn record(&mut self, decision: &Decision<'_>) {
        let v = decision.verdict();
        let outcome = match decision {
            Decision::Allow(_) => "allow",
            Decision::Reply(r) if r.status < 400 => "reply",
            Decision::Reply(_) => "deny",
            Decision::Call(_) => "call",
            Decision::Pass(p) if p.shadow.is_some() => "shadow",
            Decision::Pass(_) => "off",
        };
        let path = if matches!(decision, Decision::Pass(_)) { "legacy" } else { "new" };
        self.count(&format!("gatehouse.decision.{outcome}.{}", v.reason));
        self.count(&format!("gatehouse.class_decision.{outcome}.{}", v.class));
        self.count(&format!("gatehouse.path.{path}.{}", v.class));
    }
}
