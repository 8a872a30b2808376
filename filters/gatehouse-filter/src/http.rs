//! Per-request glue: the request's headers go to the engine while they are readable; its decision is
//! carried out; a call it asks for is dispatched and its answer handed back.

use std::cell::RefCell;
use std::rc::Rc;

use gatehouse::call::{NotSent, MAX_BODY};
use gatehouse::engine::World;
use gatehouse::metrics;
use gatehouse::{CallResponse, Decision, Engine, Pass, Pending};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use rand_core::OsRng;

use crate::apply::{self, local_error};
use crate::host::{self, ERROR, REQUEST_HEADERS, RESPONSE_HEADERS};
use crate::metrics::Metrics;
use crate::store::HostStore;

/// What the response needs from the request's decision.
enum OnResponse {
    Nothing,
    /// Shadow mode: the legacy path's answer goes to the engine for the comparison.
    Compare(Pass),
    /// Add these headers (a re-sealed session cookie) and drop these cookies the upstream may not set.
    Amend(Vec<(String, String)>, &'static [&'static str]),
}

pub struct Http {
    engine: Option<Rc<RefCell<Engine>>>,
    metrics: Rc<RefCell<Metrics>>,
    /// The continuation of a request waiting for its call, with the call's token and start time.
    pending: Option<(u32, Pending, u64)>,
    on_response: OnResponse,
    /// The decision needs the request body, at most this many bytes (`Decision::ReadBody`).
    body_wanted: Option<usize>,
    /// The request ended with its headers: a body that was asked for is empty.
    headers_ended_stream: bool,
}

impl Http {
    pub fn new(engine: Option<Rc<RefCell<Engine>>>, metrics: Rc<RefCell<Metrics>>) -> Self {
        Http {
            engine,
            metrics,
            pending: None,
            on_response: OnResponse::Nothing,
            body_wanted: None,
            headers_ended_stream: false,
        }
    }

    /// Carries out a decision (and writes out the engine's effects first).
    fn act(&mut self, engine: &Rc<RefCell<Engine>>, decision: Decision, now: u64) -> Action {
        // A request's callbacks produce metrics and log lines only; fetches start from the tick.
        let _ = self.metrics.borrow_mut().publish(engine.borrow_mut().drain_effects());
        match decision {
            Decision::Call(call) => {
                match host::dispatch_call(&call.cluster, &call.headers, &call.body, call.timeout_ms) {
                    Ok(token) => {
                        self.pending = Some((token, call.then, host::now_nanos().unwrap_or(0)));
                        Action::Pause
                    }
                    Err(status) => {
                        host::log(ERROR, &format!("call to cluster {} not sent: host status {status}", call.cluster));
                        let mut w = World { now, rng: &mut OsRng, store: &mut HostStore };
                        let resp = CallResponse::NotSent(NotSent::DispatchFailed);
                        let next = engine.borrow_mut().on_call_response(call.then, resp, &mut w);
                        self.act(engine, next, now)
                    }
                }
            }
            Decision::Pass(pass) => {
                if apply::pass(&pass).is_err() {
                    return Action::Pause;
                }
                if pass.shadow.is_some() {
                    self.on_response = OnResponse::Compare(pass);
                }
                Action::Continue
            }
            Decision::Allow(a) => match apply::allow(&a) {
                Ok(()) => {
                    self.on_response = OnResponse::Amend(a.response_headers, a.drop_set_cookies);
                    Action::Continue
                }
                Err(()) => Action::Pause,
            },
            Decision::Reply(r) => {
                apply::reply(&r);
                Action::Pause
            }
            // A request that ended with its headers has no body to wait for.
            Decision::ReadBody(_) if self.headers_ended_stream => {
                let mut w = World { now, rng: &mut OsRng, store: &mut HostStore };
                let next = engine.borrow_mut().on_request_body(&[], false, &mut w);
                self.act(engine, next, now)
            }
            // The body only reaches `on_http_request_body` once the headers go on: Envoy's proxy-wasm host
            // turns a paused request's headers into StopAllIterationAndWatermark, which holds the body back
            // too. So the headers continue (the router may open the upstream request), the body is held
            // there (StopIterationAndBuffer) and never sent, and the local reply resets the upstream stream.
            Decision::ReadBody(r) => {
                if apply::read_body(&r).is_err() {
                    return Action::Pause;
                }
                self.body_wanted = Some(r.max);
                Action::Continue
            }
        }
    }
}

impl Http {
    /// The body asked for is complete (or over the limit): the engine decides on it.
    fn decide_on_body(&mut self, max: usize, body_size: usize) -> Action {
        self.body_wanted = None;
        let Some(engine) = self.engine.clone() else { return local_error(503, "unavailable") };
        let Ok(now) = host::now_seconds() else { return local_error(503, "unavailable") };
        let body = host::request_body(max.saturating_add(1)).unwrap_or_default();
        let truncated = body_size > max || body.len() > max;
        let mut w = World { now, rng: &mut OsRng, store: &mut HostStore };
        let decision = engine.borrow_mut().on_request_body(body.get(..max).unwrap_or(&body), truncated, &mut w);
        match self.act(&engine, decision, now) {
            // Only a local reply answers a body: never let it go on.
            Action::Continue => Action::Pause,
            other => other,
        }
    }
}

impl Context for Http {
    fn on_http_call_response(&mut self, token: u32, _num_headers: usize, body_size: usize, _num_trailers: usize) {
        let (Some((expected, pending, started)), Some(engine)) = (self.pending.take(), self.engine.clone()) else {
            return;
        };
        if expected != token {
            return;
        }
        let resp = host::call_response(body_size, MAX_BODY);
        let elapsed_ms = host::now_nanos().unwrap_or(0).saturating_sub(started) / 1_000_000;
        self.metrics.borrow_mut().observe(&metrics::IDP_CALL_DURATION.stat(&[]), elapsed_ms);
        let Ok(now) = host::now_seconds() else {
            local_error(503, "unavailable");
            return;
        };
        let mut w = World { now, rng: &mut OsRng, store: &mut HostStore };
        let decision = engine.borrow_mut().on_call_response(pending, resp, &mut w);
        if let Action::Continue = self.act(&engine, decision, now) {
            if let Err(status) = host::continue_request() {
                host::log(ERROR, &format!("cannot resume request: host status {status}"));
            }
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.headers_ended_stream = end_of_stream;
        let Some(engine) = self.engine.clone() else {
            // Without a valid configuration Envoy never accepted the plugin; refuse rather than pass through.
            host::log(ERROR, "no configuration; refusing request");
            return local_error(503, "unavailable");
        };
        let Ok(now) = host::now_seconds() else {
            host::log(ERROR, "host clock unavailable; refusing request");
            return local_error(503, "unavailable");
        };
        // One host call for the whole map: reading the few headers the core needs one by one, and then
        // removing every forged-header spelling blind, costs dozens of calls per request; with the map the
        // engine knows which names are present and asks to remove only those.
        let pairs = host::header_pairs(REQUEST_HEADERS).unwrap_or_default();
        let mut w = World { now, rng: &mut OsRng, store: &mut HostStore };
        let decision = engine.borrow_mut().on_request_headers(pairs, &mut w);
        self.act(&engine, decision, now)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(max) = self.body_wanted else { return Action::Continue };
        // Past the limit there is no need to wait for the rest: it is refused either way.
        if !end_of_stream && body_size <= max {
            return Action::Pause;
        }
        self.decide_on_body(max, body_size)
    }

    // Trailers end the stream too (HTTP/2): the body buffered so far is all there is, and continuing here
    // would release it to the upstream undecided.
    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        match self.body_wanted {
            Some(max) => {
                let size = host::request_body(max.saturating_add(1)).map(|b| b.len()).unwrap_or(0);
                self.decide_on_body(max, size)
            }
            None => Action::Continue,
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match std::mem::replace(&mut self.on_response, OnResponse::Nothing) {
            OnResponse::Nothing => {}
            OnResponse::Compare(pass) => {
                let Some(engine) = self.engine.clone() else { return Action::Continue };
                let headers = host::header_pairs(RESPONSE_HEADERS).unwrap_or_default();
                engine.borrow_mut().on_upstream_response(&pass, &headers);
                let _ = self.metrics.borrow_mut().publish(engine.borrow_mut().drain_effects());
            }
            OnResponse::Amend(headers, drop) => {
                if !drop.is_empty() {
                    drop_set_cookies(drop);
                }
                for (name, value) in headers {
                    if let Err(status) = host::add_header(RESPONSE_HEADERS, &name, &value) {
                        host::log(ERROR, &format!("cannot add response header {name}: host status {status}"));
                    }
                }
            }
        }
        Action::Continue
    }
}

/// Removes `Set-Cookie` headers for the named cookies from the upstream's response, keeping the others. The
/// ABI has no per-value removal, so all `set-cookie` headers are removed and the kept ones added back.
fn drop_set_cookies(names: &[&str]) {
    let Ok(pairs) = host::header_pairs(RESPONSE_HEADERS) else { return };
    let values =
        pairs.into_iter().filter(|(n, _)| n == "set-cookie").map(|(_, v)| String::from_utf8_lossy(&v).into_owned());
    let Some(kept) = gatehouse::forward::kept_set_cookies(values.collect(), names) else { return };
    if host::remove_header(RESPONSE_HEADERS, "set-cookie").is_err() {
        return;
    }
    for c in &kept {
        let _ = host::add_header(RESPONSE_HEADERS, "set-cookie", c);
    }
}
