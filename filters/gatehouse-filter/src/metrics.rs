//! Counters at Envoy's `/stats` as `wasmcustom.gatehouse.*`. Metric ids are defined lazily on first use
//! (not in `main!`, where defining traps) and cached, so a request costs one map lookup per counter.

use std::collections::HashMap;

use gatehouse::Decision;

use crate::host;

#[derive(Default)]
pub struct Metrics {
    ids: HashMap<String, u32>,
}

impl Metrics {
    pub fn count(&mut self, name: &str) {
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
        host::increment(id, 1);
    }

    pub fn record(&mut self, decision: &Decision<'_>) {
        let v = decision.verdict();
        let outcome = match decision {
            Decision::Allow(_) => "allow",
            Decision::Reply(r) if r.status < 400 => "reply",
            Decision::Reply(_) => "deny",
            Decision::Call(_) => "call",
        };
        self.count(&format!("gatehouse.decision.{outcome}.{}", v.reason));
        self.count(&format!("gatehouse.class.{}.{outcome}", v.class));
    }
}
