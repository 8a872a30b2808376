//! The root context: a new engine for each accepted configuration, the tick, and the key-set fetches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse::call::NotSent;
use gatehouse::engine::{configure, Build, Effect, World};
use gatehouse::metrics;
use gatehouse::{CallResponse, Engine};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use rand_core::OsRng;

use crate::host::{self, ERROR, WARN};
use crate::http::Http;
use crate::metrics::Metrics;
use crate::store::HostStore;

const BUILD: Build = Build { version: env!("CARGO_PKG_VERSION"), commit: option_env!("GATEHOUSE_GIT_COMMIT") };

#[derive(Default)]
pub struct Root {
    engine: Option<Rc<RefCell<Engine>>>,
    metrics: Rc<RefCell<Metrics>>,
    /// Call token → the engine that started the fetch (an older generation's, possibly), its id and body limit.
    fetches: HashMap<u32, (Rc<RefCell<Engine>>, u64, usize)>,
}

/// Configurations accepted by this VM so far. VM-wide: Envoy gives every pushed configuration (ECDS, or an
/// xDS listener update) a new root context in the same VM.
static GENERATION: AtomicU64 = AtomicU64::new(0);

impl Root {
    /// Writes out the engine's metrics and logs and starts its fetches; a fetch the host refuses to send goes
    /// back to the engine as not sent.
    fn carry_out(&mut self, engine: &Rc<RefCell<Engine>>, mut effects: Vec<Effect>, now: u64) {
        while !effects.is_empty() {
            let fetches = self.metrics.borrow_mut().publish(std::mem::take(&mut effects));
            for f in fetches {
                match host::dispatch_call(&f.cluster, &f.headers, &[], f.timeout_ms) {
                    Ok(token) => {
                        self.fetches.insert(token, (Rc::clone(engine), f.id, f.max_body));
                    }
                    Err(status) => {
                        host::log(WARN, &format!("fetch from cluster {} not sent: host status {status}", f.cluster));
                        let mut w = World { now, rng: &mut OsRng, store: &mut HostStore };
                        let resp = CallResponse::NotSent(NotSent::DispatchFailed);
                        effects.extend(engine.borrow_mut().on_fetch_response(f.id, resp, &mut w));
                    }
                }
            }
        }
    }
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _num_headers: usize, body_size: usize, _num_trailers: usize) {
        let (Some((engine, id, max_body)), Ok(now)) = (self.fetches.remove(&token), host::now_seconds()) else {
            return;
        };
        let resp = host::call_response(body_size, max_body);
        let mut w = World { now, rng: &mut OsRng, store: &mut HostStore };
        let effects = engine.borrow_mut().on_fetch_response(id, resp, &mut w);
        self.carry_out(&engine, effects, now);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = match host::plugin_configuration() {
            Ok(b) => b,
            Err(status) => {
                host::log(ERROR, &format!("cannot read plugin configuration: host status {status}"));
                return false;
            }
        };
        let env = |name: &str| std::env::var(name).ok();
        let generation = GENERATION.load(Ordering::Relaxed) + 1;
        match configure(&bytes, &env, generation, &BUILD, &mut HostStore) {
            Ok(engine) => {
                GENERATION.store(generation, Ordering::Relaxed);
                // The tick keeps remote key sets fresh and publishes the VM's gauges. The first fetch waits
                // for it: calls sent while Envoy is still applying the configuration may never be answered.
                if let Err(status) = host::set_tick_period_ms(1000) {
                    host::log(ERROR, &format!("cannot start the timer: host status {status}"));
                }
                // Requests in flight finish on the engine they started with.
                let engine = Rc::new(RefCell::new(engine));
                let effects = engine.borrow_mut().drain_effects();
                let _ = self.metrics.borrow_mut().publish(effects);
                self.engine = Some(engine);
                true
            }
            // Envoy refuses the configuration (or NACKs the update) and keeps the last good one serving.
            Err(problems) => {
                let _ = self.metrics.borrow_mut().publish(problems);
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let (Some(engine), Ok(now)) = (self.engine.clone(), host::now_seconds()) else { return };
        let mut w = World { now, rng: &mut OsRng, store: &mut HostStore };
        let mut effects = engine.borrow_mut().on_tick(&mut w);
        // What this VM costs the proxy, and what must stay flat under load.
        effects.push(Effect::Gauge(metrics::VM_MEMORY.stat(&[]).into(), host::memory_bytes()));
        self.carry_out(&engine, effects, now);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::new(self.engine.clone(), Rc::clone(&self.metrics))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
