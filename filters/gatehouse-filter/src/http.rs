//! Per-request glue: capture what the core needs while request headers are readable, decide, apply; for
//! sign-in, make the token call and resume the request when it answers.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gatehouse::cache::Caches;
use gatehouse::jwks::RemoteKeys;
use gatehouse::oidc::token_response::{provider_answered, CallResponse, MAX_BODY};
use gatehouse::{Config, Decision, Inputs, Pending, Predicted, Request, Verdict};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use rand_core::OsRng;
use sha2::Digest;

use crate::apply::{apply, local_error, Applied};
use crate::host::{self, CALL_RESPONSE_HEADERS, ERROR, REQUEST_HEADERS, RESPONSE_HEADERS};
use crate::metrics::Metrics;
use crate::root::log;

pub struct Http {
    config: Option<Rc<Config>>,
    metrics: Rc<RefCell<Metrics>>,
    caches: Rc<RefCell<Caches>>,
    remote: Rc<RefCell<RemoteKeys>>,
    method: String,
    /// The continuation of a request waiting for its token call, with its single-flight slot.
    pending: Option<(u32, Pending, Option<String>)>,
    /// Headers to add to the upstream's response (a re-sealed session cookie).
    response_headers: Vec<(String, String)>,
    /// Cookie names the upstream's response may not set.
    drop_set_cookies: &'static [&'static str],
    /// Names of the request's headers (lower case), so only those present are removed.
    present: Vec<String>,
    /// In shadow mode: what the new path would have done, compared with the legacy answer on the response.
    shadow: Option<(Predicted, Verdict)>,
    authority: String,
    /// When the pending call was sent (host nanoseconds), for the provider latency histogram.
    call_started: u64,
}

impl Http {
    pub fn new(
        config: Option<Rc<Config>>,
        metrics: Rc<RefCell<Metrics>>,
        caches: Rc<RefCell<Caches>>,
        remote: Rc<RefCell<RemoteKeys>>,
    ) -> Self {
        Http {
            config,
            metrics,
            caches,
            remote,
            method: String::new(),
            pending: None,
            response_headers: Vec::new(),
            drop_set_cookies: &[],
            present: Vec::new(),
            shadow: None,
            authority: String::new(),
            call_started: 0,
        }
    }

    /// Applies a decision; a `Call` is dispatched here, so `apply` stays free of continuations.
    fn act(&mut self, decision: Decision<'_>) -> Action {
        self.metrics.borrow_mut().record(&decision);
        match decision {
            Decision::Call(call) => {
                let flight = single_flight_key(&call.then);
                if let Some(key) = &flight {
                    if !take_flight(key, call.timeout_ms) {
                        // Another request of this session is refreshing it: carry on with the session as is.
                        return self.finish(call.then, CallResponse::in_flight());
                    }
                }
                let headers: Vec<(&str, &str)> = call.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                match hostcalls::dispatch_http_call(
                    &call.cluster,
                    headers,
                    Some(&call.body),
                    Vec::new(),
                    Duration::from_millis(u64::from(call.timeout_ms)),
                ) {
                    Ok(token) => {
                        self.call_started = host::now_nanos().unwrap_or(0);
                        self.pending = Some((token, call.then, flight));
                        Action::Pause
                    }
                    Err(status) => {
                        // An unknown cluster is a configuration mistake: logged, and treated as an outage.
                        log(ERROR, &format!("call to cluster {} not sent: {status:?}", call.cluster));
                        self.metrics.borrow_mut().count("gatehouse.idp.call.dispatch_failed");
                        if let Some(config) = self.config.clone() {
                            mark_provider(&config, false);
                        }
                        if let Some(key) = &flight {
                            release_flight(key, false);
                        }
                        self.finish(
                            call.then,
                            CallResponse { status: None, content_type: None, body: Vec::new(), truncated: false },
                        )
                    }
                }
            }
            Decision::Pass(pass) => {
                // Shadow and off: the request goes on exactly as it came.
                if let Some(predicted) = pass.shadow {
                    self.shadow = Some((predicted, pass.verdict));
                }
                Action::Continue
            }
            other => match apply(&other, &self.method, &self.present) {
                Applied::Continue(response_headers, drop) => {
                    self.response_headers = response_headers;
                    self.drop_set_cookies = drop;
                    Action::Continue
                }
                Applied::Stop => Action::Pause,
            },
        }
    }

    /// Resumes the core with a call's answer and applies what it decides.
    fn finish(&mut self, pending: Pending, response: CallResponse) -> Action {
        let Some(config) = self.config.clone() else { return local_error(503, "unavailable") };
        let Ok(now) = host::now_seconds() else { return local_error(503, "unavailable") };
        let mut rng = OsRng;
        let caches = self.caches.clone();
        let mut caches = caches.borrow_mut();
        let remote = self.remote.clone();
        let remote = remote.borrow();
        let mut inputs =
            Inputs { now, rng: &mut rng, caches: &mut caches, remote: &remote, provider_down: provider_down(now) };
        let decision = gatehouse::resume(&config, pending, &response, &mut inputs);
        drop(caches);
        drop(remote);
        self.act(decision)
    }
}

impl Context for Http {
    fn on_http_call_response(&mut self, token: u32, _num_headers: usize, body_size: usize, _num_trailers: usize) {
        let Some((expected, pending, flight)) = self.pending.take() else { return };
        if expected != token {
            return;
        }
        let headers = host::header_pairs(CALL_RESPONSE_HEADERS).unwrap_or_default();
        let find =
            |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
        // Envoy answers a reset with no headers at all, a timeout with 504 and a refused connection with 503.
        let status = find(":status").and_then(|s| s.parse::<u16>().ok());
        let truncated = body_size > MAX_BODY;
        let body = if truncated { Vec::new() } else { host::call_response_body(body_size).unwrap_or_default() };
        let response = CallResponse { status, content_type: find("content-type"), body, truncated };
        if let Some(key) = &flight {
            release_flight(key, status == Some(200));
        }
        let outcome = match status {
            Some(200) => "ok",
            Some(s) if s >= 500 => "unavailable",
            Some(_) => "error",
            None => "reset",
        };
        let kind = match &pending {
            Pending::CodeExchange { .. } => "code",
            Pending::Refresh(_) => "refresh",
            Pending::TokenExchange { .. } => "exchange",
        };
        let elapsed_ms = host::now_nanos().unwrap_or(0).saturating_sub(self.call_started) / 1_000_000;
        let mut m = self.metrics.borrow_mut();
        m.count(&format!("gatehouse.idp.token.{outcome}"));
        m.count(&format!("gatehouse.idp.{kind}.{outcome}"));
        m.observe("gatehouse.idp.call.latency_ms", elapsed_ms);
        drop(m);
        if let Some(config) = self.config.clone() {
            mark_provider(&config, provider_answered(&response));
        }
        if let Action::Continue = self.finish(pending, response) {
            if let Err(status) = host::continue_request() {
                log(ERROR, &format!("cannot resume request: host status {status}"));
            }
        }
    }
}

const PROVIDER_DOWN: &str = "gatehouse.idp.down_until";

fn provider_down(now: u64) -> bool {
    match host::shared_get(PROVIDER_DOWN) {
        Ok(Some((bytes, _))) => {
            std::str::from_utf8(&bytes).ok().and_then(|s| s.parse::<u64>().ok()).is_some_and(|until| until > now)
        }
        _ => false,
    }
}

/// The circuit breaker: after a transient failure, new sign-ins get the outage page for the configured
/// backoff; the next successful call (a refresh, say) closes it at once.
pub(crate) fn mark_provider(config: &Config, healthy: bool) {
    let backoff = config.session.as_ref().map_or(30, |s| s.provider.outage_backoff_seconds);
    let until = if healthy { 0 } else { host::now_seconds().unwrap_or(0) + backoff };
    let _ = host::shared_set(PROVIDER_DOWN, until.to_string().as_bytes(), 0);
}

/// Refreshes are single-flight per session across the proxy. The slot is one of `SLOTS`, chosen by a digest
/// of the session (subject and sign-in time, never its tokens), so the shared store stays bounded; two
/// sessions sharing a slot only take turns.
pub const SLOTS: u16 = 4096;

fn slot_key(slot: u16) -> String {
    format!("gatehouse.refresh.{slot:03x}")
}

fn single_flight_key(pending: &Pending) -> Option<String> {
    let Pending::Refresh(wait) = pending else { return None };
    let digest = sha2::Sha256::digest(format!("{}\0{}", wait.session.sub, wait.session.iat).as_bytes());
    let slot = ((u16::from(digest.first().copied().unwrap_or(0)) << 8)
        | u16::from(digest.get(1).copied().unwrap_or(0)))
        % SLOTS;
    Some(slot_key(slot))
}

/// Creates the refresh slots once, at configuration (see `jwks::create_keys` for why there), so that taking
/// one is always a real compare-and-swap.
pub fn create_slots() {
    if matches!(host::shared_get(&slot_key(0)), Ok(Some(_))) {
        return;
    }
    for slot in 0..SLOTS {
        let _ = host::shared_set(&slot_key(slot), b"0:free", 0);
    }
}

fn held_until(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes).ok().and_then(|s| s.split(':').next()).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// Takes the slot unless it is held, by compare-and-swap on the value read.
fn take_flight(key: &str, timeout_ms: u32) -> bool {
    let Ok(now) = host::now_seconds() else { return true };
    let cas = match host::shared_get(key) {
        Ok(Some((bytes, _))) if held_until(&bytes) > now => return false,
        Ok(Some((_, cas))) if cas != 0 => cas,
        // A slot that does not exist (yet) is not taken: the refresh goes ahead, as without single flight.
        _ => return true,
    };
    let until = now + u64::from(timeout_ms).div_ceil(1000) + 1;
    host::shared_set(key, format!("{until}:held").as_bytes(), cas).is_ok()
}

/// Frees the slot. After a successful refresh it stays held a little longer: requests already on their way
/// with the old cookie would otherwise refresh again with a refresh token the provider just rotated away.
fn release_flight(key: &str, refreshed: bool) {
    let until = if refreshed { host::now_seconds().unwrap_or(0) + 30 } else { 0 };
    let _ = host::shared_set(key, format!("{until}:done").as_bytes(), 0);
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
        // One host call for the whole map: reading the few headers the core needs one by one, and then
        // removing every forged-header spelling blind, costs dozens of calls per request; with the map we
        // know which names are present and remove only those.
        let pairs = host::header_pairs(REQUEST_HEADERS).unwrap_or_default();
        let mut method = None;
        let mut path = None;
        let mut authority = None;
        let mut headers: Vec<(String, String)> = Vec::with_capacity(config.request_headers.len());
        let mut present: Vec<String> = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let slot = match name.as_str() {
                ":method" => Some(&mut method),
                ":path" => Some(&mut path),
                ":authority" => Some(&mut authority),
                _ => None,
            };
            let wanted = slot.is_some() || config.request_headers.iter().any(|h| h.eq_ignore_ascii_case(&name));
            if wanted {
                // HTTP allows obs-text bytes, but nothing we read (paths, hosts, tokens, cookies) may contain
                // them, so such a request is refused rather than guessed at.
                let Ok(value) = String::from_utf8(value) else {
                    self.metrics.borrow_mut().count("gatehouse.decision.deny.bad_header_encoding");
                    return local_error(400, "bad_request");
                };
                match slot {
                    Some(slot) => *slot = Some(value),
                    None => headers.push((name.to_ascii_lowercase(), value)),
                }
            }
            present.push(name.to_ascii_lowercase());
        }
        self.present = present;
        self.method = method.unwrap_or_default();
        let path = path.unwrap_or_default();
        let authority = authority.unwrap_or_default();
        let request = Request { method: &self.method, path: &path, authority: &authority, headers: &headers };
        let down = config.session.is_some() && provider_down(now);
        let mut rng = OsRng;
        let caches = self.caches.clone();
        let mut caches = caches.borrow_mut();
        let remote = self.remote.clone();
        let remote = remote.borrow();
        let mut inputs = Inputs { now, rng: &mut rng, caches: &mut caches, remote: &remote, provider_down: down };
        let mut decision = gatehouse::decide(&config, &request, &mut inputs);
        drop(remote);
        if decision.verdict().reason == "keys_stale" && crate::jwks::pick_up_now(&config, &self.remote) {
            let remote = self.remote.borrow();
            let mut inputs = Inputs { now, rng: &mut rng, caches: &mut caches, remote: &remote, provider_down: down };
            decision = gatehouse::decide(&config, &request, &mut inputs);
        }
        drop(caches);
        // Kept as sent; only a shadowed request's response needs it (normalized there).
        self.authority = authority;
        if decision.verdict().reason == "unknown_kid" {
            crate::jwks::want_refetch(&config);
        }
        self.act(decision)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if let Some((predicted, verdict)) = self.shadow.take() {
            crate::shadow::compare(&mut self.metrics.borrow_mut(), predicted, &verdict, &self.authority);
            return Action::Continue;
        }
        if !self.drop_set_cookies.is_empty() {
            drop_set_cookies(self.drop_set_cookies);
        }
        for (name, value) in std::mem::take(&mut self.response_headers) {
            if let Err(status) = host::add_header(RESPONSE_HEADERS, &name, &value) {
                log(ERROR, &format!("cannot add response header {name}: host status {status}"));
            }
        }
        Action::Continue
    }
}

/// Removes `Set-Cookie` headers for the named cookies from the upstream's response, keeping the others. The
/// ABI has no per-value removal, so all `set-cookie` headers are removed and the kept ones added back.
fn drop_set_cookies(names: &[&str]) {
    let Ok(pairs) = host::header_pairs(RESPONSE_HEADERS) else { return };
    let cookies: Vec<String> = pairs
        .into_iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
        .collect();
    let dropped = |c: &str| names.iter().any(|n| c.split('=').next().is_some_and(|name| name.trim() == *n));
    if !cookies.iter().any(|c| dropped(c)) {
        return;
    }
    if host::remove_header(RESPONSE_HEADERS, "set-cookie").is_err() {
        return;
    }
    for c in cookies.iter().filter(|c| !dropped(c)) {
        let _ = host::add_header(RESPONSE_HEADERS, "set-cookie", c);
    }
}
