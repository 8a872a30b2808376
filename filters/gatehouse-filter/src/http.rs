//! Per-request glue: capture what the core needs while request headers are readable, decide, apply.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse::{Config, Request};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use crate::apply::{apply, local_error};
use crate::host::{self, ERROR, REQUEST_HEADERS};
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

/// A request header as text. `Err` when the value is not UTF-8: HTTP allows obs-text bytes, but nothing we
/// read (paths, hosts, tokens, origins) may contain them, so such a request is refused rather than guessed at.
fn header(name: &str) -> Result<Option<String>, ()> {
    match host::header(REQUEST_HEADERS, name) {
        Ok(Some(bytes)) => String::from_utf8(bytes).map(Some).map_err(|_| ()),
        Ok(None) => Ok(None),
        // A header map the host cannot read is treated like a missing header: the core then refuses
        // whatever needed it.
        Err(_) => Ok(None),
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(config) = self.config.clone() else {
            // Without a valid configuration Envoy never accepted the plugin; refuse rather than pass through.
            log(ERROR, "no configuration; refusing request");
            return local_error(503, "unavailable");
        };
        let Ok(now) = host::now_seconds() else {
            log(ERROR, "host clock unavailable; refusing request");
            return local_error(503, "unavailable");
        };
        let (Ok(method), Ok(path), Ok(authority)) = (header(":method"), header(":path"), header(":authority")) else {
            self.metrics.borrow_mut().count("gatehouse.decision.deny.bad_header_encoding");
            return local_error(400, "bad_request");
        };
        let mut headers: Vec<(String, String)> = Vec::with_capacity(config.request_headers.len());
        for name in &config.request_headers {
            match header(name) {
                Ok(Some(v)) => headers.push((name.clone(), v)),
                Ok(None) => {}
                Err(()) => {
                    self.metrics.borrow_mut().count("gatehouse.decision.deny.bad_header_encoding");
                    return local_error(400, "bad_request");
                }
            }
        }
        let method = method.unwrap_or_default();
        let path = path.unwrap_or_default();
        let authority = authority.unwrap_or_default();
        let request = Request { method: &method, path: &path, authority: &authority, headers: &headers };
        let decision = gatehouse::decide(&config, &request, now);
        self.metrics.borrow_mut().record(&decision);
        apply(&decision, &method)
    }
}
