//! The root context: loads the plugin configuration once per VM and hands it to every HTTP context.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse::Config;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use sha2::Digest;

use gatehouse::cache::Caches;
use gatehouse::jwks::RemoteKeys;

use crate::host::{self, ERROR, INFO};
use crate::http::Http;
use crate::jwks::Fetcher;
use crate::metrics::Metrics;

#[derive(Default)]
pub struct Root {
    config: Option<Rc<Config>>,
    metrics: Rc<RefCell<Metrics>>,
    caches: Rc<RefCell<Caches>>,
    remote: Rc<RefCell<RemoteKeys>>,
    fetcher: Fetcher,
    /// Configurations accepted by this VM so far.
    generation: u64,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, _num_headers: usize, body_size: usize, _num_trailers: usize) {
        let (Some(config), Ok(now)) = (self.config.clone(), host::now_seconds()) else { return };
        if self.fetcher.owns(token) {
            self.fetcher.response(&config, &self.metrics, token, body_size, now);
            // Pick the new set up at once rather than on the next tick.
            self.fetcher.tick(&config, &self.remote, &self.metrics, now);
        }
    }
}

pub fn log(level: u32, message: &str) {
    host::log(level, message);
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = match host::plugin_configuration() {
            Ok(b) => b,
            Err(status) => {
                log(ERROR, &format!("cannot read plugin configuration: host status {status}"));
                return false;
            }
        };
        let env = |name: &str| std::env::var(name).ok();
        match gatehouse::load_config(&bytes, &env) {
            Ok(config) => {
                let digest = sha2::Sha256::digest(&bytes);
                let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
                self.generation += 1;
                log(
                    INFO,
                    &format!(
                        "configured version={} commit={} config_sha256={short} generation={} routes={} issuers={} rollout={}",
                        env!("CARGO_PKG_VERSION"),
                        option_env!("GATEHOUSE_GIT_COMMIT").unwrap_or("unknown"),
                        self.generation,
                        config.routes.len(),
                        config.issuers.len(),
                        if config.rollout.is_some() { "on" } else { "off" },
                    ),
                );
                // Which configuration each proxy runs, comparable across proxies: the generation counts
                // pushes to this VM, the digest (first 32 bits of the SHA-256) names the content.
                let digest32 = digest.iter().take(4).fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                let mut m = self.metrics.borrow_mut();
                m.gauge("gatehouse.config.generation", self.generation);
                m.gauge("gatehouse.config.digest", digest32);
                drop(m);
                // The tick keeps remote key sets fresh (once a second every VM looks at the shared store;
                // fetches follow each issuer's refresh and retry intervals) and publishes the VM's gauges.
                if let Err(status) = host::set_tick_period_ms(1000) {
                    log(ERROR, &format!("cannot start the timer: host status {status}"));
                }
                // Cached answers belong to the configuration they were computed under.
                self.caches = Rc::new(RefCell::new(Caches::new(&config.cache)));
                // The first fetch waits for the first tick: calls sent while Envoy is still applying the
                // configuration may never be answered.
                crate::jwks::create_keys(&config);
                if config.session.as_ref().is_some_and(|s| s.provider.keep_refresh_token) {
                    crate::http::create_slots();
                }
                self.config = Some(Rc::new(config));
                self.metrics.borrow_mut().count("gatehouse.config.loaded");
                true
            }
            Err(errors) => {
                // Envoy refuses the configuration (or NACKs the xDS update) when this returns false; every
                // problem is logged first so the operator sees all of them at once.
                log(ERROR, &format!("invalid configuration ({} problems):", errors.len()));
                for e in errors.iter() {
                    log(ERROR, &format!("config error: {e}"));
                }
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let (Some(config), Ok(now)) = (self.config.clone(), host::now_seconds()) else { return };
        self.fetcher.tick(&config, &self.remote, &self.metrics, now);
        self.metrics.borrow_mut().vm_state(&self.caches.borrow(), &config, &self.remote.borrow(), now);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http::new(self.config.clone(), self.metrics.clone(), self.caches.clone(), self.remote.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
