//! Remote JWKS, fetched once per proxy: every VM's tick reads the shared store, and the one VM that wins a
//! compare-and-swap on the issuer's state makes the call. The fetched set goes back into the store, where
//! every VM (one per worker) picks it up on its next tick.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use gatehouse::jwks::{jwks_path_from_discovery, parse_jwks, KeySet, RemoteKeys, MAX_JWKS_BYTES};
use gatehouse::Config;
use proxy_wasm::hostcalls;
use serde_json::{json, Value};

use crate::host::{self, CALL_RESPONSE_HEADERS, WARN};
use crate::metrics::Metrics;
use crate::root::log;

/// Per issuer, in the shared store: when it was last fetched well and last tried, until when a fetch is
/// in flight, and refetch requests (unknown kids seen) as a counter with the value the last fetch answered:
/// counters, not timestamps, so a request in the same second as a fetch is not lost.
#[derive(Default, Clone)]
struct State {
    /// From OIDC discovery; empty until discovered (or when a fetch failed, to discover again).
    jwks_path: String,
    lock_until: u64,
    last_attempt: u64,
    last_ok: u64,
    want: u64,
    want_served: u64,
}

impl State {
    fn decode(bytes: &[u8]) -> State {
        let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        State {
            jwks_path: v.get("jwks_path").and_then(Value::as_str).unwrap_or("").to_owned(),
            lock_until: n("lock_until"),
            last_attempt: n("last_attempt"),
            last_ok: n("last_ok"),
            want: n("want"),
            want_served: n("want_served"),
        }
    }

    fn encode(&self) -> Vec<u8> {
        json!({"lock_until": self.lock_until, "last_attempt": self.last_attempt, "last_ok": self.last_ok,
               "want": self.want, "want_served": self.want_served, "jwks_path": self.jwks_path})
        .to_string()
        .into_bytes()
    }
}

fn keys_key(issuer: &str) -> String {
    format!("gatehouse.jwks.{issuer}")
}

fn state_key(issuer: &str) -> String {
    format!("gatehouse.jwks_state.{issuer}")
}

#[derive(Default)]
pub struct Fetcher {
    /// Call token → (issuer name, whether it is the discovery document).
    in_flight: HashMap<u32, (String, bool)>,
    seen_cas: HashMap<String, u32>,
}

/// Reads, changes and writes an issuer's state with compare-and-swap; `None` when another VM won or nothing
/// was to change, else the state written.
fn update_state(issuer: &str, change: impl Fn(&mut State) -> bool) -> Option<State> {
    for _ in 0..4 {
        let (mut state, cas) = match host::shared_get(&state_key(issuer)) {
            Ok(Some((bytes, cas))) => (State::decode(&bytes), cas),
            // Keys are created in `on_configure` (see `create_keys`); until then there is nothing to update.
            Ok(None) => return None,
            Err(_) => return None,
        };
        if !change(&mut state) {
            return None;
        }
        match host::shared_set(&state_key(issuer), &state.encode(), cas) {
            Ok(()) => return Some(state),
            Err(8) => continue,
            Err(_) => return None,
        }
    }
    None
}

impl Fetcher {
    /// Every tick: pick up sets other VMs fetched, and fetch what is due.
    pub fn tick(
        &mut self,
        config: &Config,
        remote: &Rc<RefCell<RemoteKeys>>,
        metrics: &Rc<RefCell<Metrics>>,
        now: u64,
    ) {
        for issuer in config.all_issuers() {
            let Some(r) = &issuer.remote_jwks else { continue };
            if let Ok(Some((bytes, cas))) = host::shared_get(&keys_key(&issuer.name)) {
                if self.seen_cas.get(&issuer.name) != Some(&cas) {
                    self.seen_cas.insert(issuer.name.clone(), cas);
                    let stored: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let fetched_at = stored.get("fetched_at").and_then(Value::as_u64).unwrap_or(0);
                    let body = stored.get("jwks").and_then(Value::as_str).unwrap_or("");
                    if let Ok(keys) = parse_jwks(body.as_bytes(), r.default_alg) {
                        remote.borrow_mut().sets.insert(issuer.name.clone(), KeySet { keys, fetched_at });
                    }
                }
            }
            let won = update_state(&issuer.name, |s| {
                let failed_last = s.last_attempt > s.last_ok;
                let due = if s.last_ok == 0 || failed_last {
                    now >= s.last_attempt.saturating_add(r.retry_seconds)
                } else {
                    now >= s.last_ok.saturating_add(r.refresh_seconds)
                };
                let wanted =
                    s.want > s.want_served && now >= s.last_attempt.saturating_add(r.unknown_kid_refetch_seconds);
                if !(due || wanted) || s.lock_until > now {
                    return false;
                }
                s.lock_until = now + u64::from(r.timeout_ms / 1000) + 2;
                s.last_attempt = now;
                s.want_served = s.want;
                true
            });
            let Some(state) = won else { continue };
            if config.faults.provider_unavailable {
                metrics.borrow_mut().count(&format!("gatehouse.jwks.{}.fetch_failed", issuer.name));
                release(&issuer.name, false);
                continue;
            }
            let discover = r.discovery_path.is_some() && state.jwks_path.is_empty();
            let path = match (&r.discovery_path, discover) {
                (Some(d), true) => d.clone(),
                (Some(_), false) => state.jwks_path.clone(),
                (None, _) => r.path.clone(),
            };
            self.send(&issuer.name, r, &path, discover, metrics);
        }
    }

    fn send(
        &mut self,
        name: &str,
        r: &gatehouse::jwks::RemoteJwks,
        path: &str,
        discover: bool,
        metrics: &Rc<RefCell<Metrics>>,
    ) {
        let headers = vec![
            (":method", "GET"),
            (":path", path),
            (":authority", r.authority.as_str()),
            ("accept", "application/json"),
        ];
        match hostcalls::dispatch_http_call(
            &r.cluster,
            headers,
            None,
            Vec::new(),
            Duration::from_millis(u64::from(r.timeout_ms)),
        ) {
            Ok(token) => {
                self.in_flight.insert(token, (name.to_owned(), discover));
            }
            Err(status) => {
                log(WARN, &format!("jwks fetch for issuer {name} not sent: {status:?}"));
                metrics.borrow_mut().count(&format!("gatehouse.jwks.{name}.fetch_failed"));
                release(name, false);
            }
        }
    }

    /// A fetch answered (on the root context that sent it).
    pub fn response(
        &mut self,
        config: &Config,
        metrics: &Rc<RefCell<Metrics>>,
        token: u32,
        body_size: usize,
        now: u64,
    ) {
        let Some((name, discovery)) = self.in_flight.remove(&token) else { return };
        let Some(issuer) = config.all_issuers().find(|i| i.name == name) else { return };
        let Some(r) = issuer.remote_jwks.as_ref() else { return };
        let headers = host::header_pairs(CALL_RESPONSE_HEADERS).unwrap_or_default();
        let ok_status = headers.iter().any(|(n, v)| n == ":status" && v == b"200");
        let body = if ok_status && body_size <= MAX_JWKS_BYTES {
            host::call_response_body(body_size).unwrap_or_default()
        } else {
            Vec::new()
        };
        if discovery {
            match jwks_path_from_discovery(&body, &issuer.issuer) {
                Ok(path) => {
                    let p = path.clone();
                    if update_state(&name, move |s| {
                        s.jwks_path = p.clone();
                        true
                    })
                    .is_some()
                    {
                        self.send(&name, r, &path, false, metrics);
                        return;
                    }
                }
                Err(e) => log(WARN, &format!("discovery for issuer {name} failed: {e}")),
            }
            metrics.borrow_mut().count(&format!("gatehouse.jwks.{name}.fetch_failed"));
            release(&name, false);
            return;
        }
        // A broken answer never replaces the last good set: it only counts as a failed attempt.
        let good = ok_status && parse_jwks(&body, r.default_alg).is_ok();
        if good {
            let stored = json!({"fetched_at": now, "jwks": String::from_utf8_lossy(&body)}).to_string();
            let _ = host::shared_set(&keys_key(&name), stored.as_bytes(), 0);
        } else {
            log(WARN, &format!("jwks fetch for issuer {name} failed; keeping the last good set"));
        }
        metrics
            .borrow_mut()
            .count(&format!("gatehouse.jwks.{name}.{}", if good { "fetch_ok" } else { "fetch_failed" }));
        // The sign-in provider's key endpoint doubles as its health check: new sign-ins get the outage page
        // while it fails, instead of a redirect to a provider that does not answer.
        if config.session.as_ref().is_some_and(|s| s.provider.issuer.name == name) {
            crate::http::mark_provider(config, good);
        }
        let forget_path = !good && r.discovery_path.is_some();
        update_state(&name, move |s| {
            s.lock_until = 0;
            if good {
                s.last_ok = now;
            }
            if forget_path {
                // Discover again next time: the provider may have moved its keys.
                s.jwks_path.clear();
            }
            true
        });
    }

    pub fn owns(&self, token: u32) -> bool {
        self.in_flight.contains_key(&token)
    }
}

/// Ends an attempt: the lock is released; `ok` records a good fetch.
fn release(name: &str, ok: bool) {
    let now = host::now_seconds().unwrap_or(0);
    update_state(name, move |s| {
        s.lock_until = 0;
        if ok {
            s.last_ok = now;
        }
        true
    });
}

/// Creates the shared keys this proxy will compare-and-swap. The ABI has no "create if absent" (a write with
/// CAS 0 is unconditional), so creation happens once, at configuration, where Envoy runs the main thread's
/// VM before it starts the workers' VMs: from then on every update is a real compare-and-swap.
pub fn create_keys(config: &Config) {
    for issuer in config.all_issuers().filter(|i| i.remote_jwks.is_some()) {
        if matches!(host::shared_get(&state_key(&issuer.name)), Ok(None)) {
            let _ = host::shared_set(&state_key(&issuer.name), &State::default().encode(), 0);
        }
    }
}

/// Reads every remote set from the shared store now. Used when a VM found no fresh set for a token: another
/// VM may have stored one since this VM's last tick (right after start, for instance).
pub fn pick_up_now(config: &Config, remote: &Rc<RefCell<RemoteKeys>>) -> bool {
    let mut changed = false;
    for issuer in config.all_issuers() {
        let Some(r) = &issuer.remote_jwks else { continue };
        let Ok(Some((bytes, _))) = host::shared_get(&keys_key(&issuer.name)) else { continue };
        let stored: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let fetched_at = stored.get("fetched_at").and_then(Value::as_u64).unwrap_or(0);
        let newer = remote.borrow().sets.get(&issuer.name).is_none_or(|s| s.fetched_at < fetched_at);
        if !newer {
            continue;
        }
        let body = stored.get("jwks").and_then(Value::as_str).unwrap_or("");
        if let Ok(keys) = parse_jwks(body.as_bytes(), r.default_alg) {
            remote.borrow_mut().sets.insert(issuer.name.clone(), KeySet { keys, fetched_at });
            changed = true;
        }
    }
    changed
}

/// Asks for a prompt refetch of every remote set: a token named a kid no set has (a rotation at the provider).
pub fn want_refetch(config: &Config) {
    for issuer in config.all_issuers().filter(|i| i.remote_jwks.is_some()) {
        // One pending request is enough: further unknown kids before the next fetch write nothing.
        update_state(&issuer.name, |s| {
            if s.want > s.want_served {
                return false;
            }
            s.want += 1;
            true
        });
    }
}
