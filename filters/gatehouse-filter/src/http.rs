//! Per-request glue: capture what the core needs while request headers are readable, decide, apply.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use gatehouse::{Config, Request};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};

use crate::apply::{apply, local_error};
use crate::metrics::Metrics;
use crate::root::log;

pub struct Http {
    config: Option<Rc<Config>>,
    metrics: Rc<RefCell<Metrics>>,
}

impl Http {
    pub fn new(config: Option<Rc<Config>>, metrics: Rc<RefCell<Metrics>>) -> Self {
        Http { config, metrics }
    }
}

impl Context for Http {}

fn header(name: &str) -> String {
    hostcalls::get_map_value(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            // No valid configuration means Envoy never accepted the plugin; refuse rather than pass through.
            log(LogLevel::Error, "no configuration; refusing request");
            return local_error(503);
        };
        let now = match hostcalls::get_current_time().map(|t| t.duration_since(UNIX_EPOCH)) {
            Ok(Ok(d)) => d.as_secs(),
            _ => {
                log(LogLevel::Error, "host clock unavailable; refusing request");
                return local_error(503);
            }
        };
        let method = header(":method");
        let path = header(":path");
        let authority = header(":authority");
        let mut headers: Vec<(String, String)> = Vec::with_capacity(config.request_headers.len());
        for name in &config.request_headers {
            if let Ok(Some(v)) = hostcalls::get_map_value(MapType::HttpRequestHeaders, name) {
                headers.push((name.clone(), v));
            }
        }
        let request = Request {
            method: &method,
            path: &path,
            authority: &authority,
            headers: &headers,
        };
        let decision = gatehouse::decide(&config, &request, now);
        self.metrics.borrow_mut().record(&decision);
        apply(&decision, &method)
    }
}
