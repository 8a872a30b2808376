//! Remote key sets, fetched once per proxy: every VM's tick reads the shared store, and the one VM that wins
//! a compare-and-swap on the issuer's state makes the call. The fetched set goes back into the store, where
//! every VM (one per worker) picks it up on its next tick. Refresh follows `refresh_seconds`, with the shorter
//! `retry_seconds` after a failure (as Envoy's `jwt_authn` async fetcher does), and a token naming an
//! unknown `kid` asks for an early refetch, at most every `unknown_kid_refetch_seconds`.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::breaker;
use super::effect::{Fetch, Level, Outbox};
use super::shared::{SharedStore, StoreError};
use crate::call::CallResponse;
use crate::config::Config;
use crate::jwks::{
    endpoints_from_discovery, jwks_path_from_discovery, parse_jwks, Endpoints, KeySet, RemoteJwks, RemoteKeys,
    MAX_JWKS_BYTES,
};
use crate::metrics;

/// Per issuer, in the shared store: when it was last fetched well and last tried, until when a fetch is in
/// flight, and refetch requests (unknown kids seen) as a counter with the value the last fetch answered:
/// counters, not timestamps, so a request in the same second as a fetch is not lost.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub(crate) struct State {
    /// From OIDC discovery; empty until discovered (or when a fetch failed, to discover again).
    pub jwks_path: String,
    pub lock_until: u64,
    pub last_attempt: u64,
    pub last_ok: u64,
    pub want: u64,
    pub want_served: u64,
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

    /// Whether a fetch is due now (and not already in flight); claims it if so.
    fn claim(&mut self, r: &RemoteJwks, now: u64) -> bool {
        let failed_last = self.last_attempt > self.last_ok;
        let due = if self.last_ok == 0 || failed_last {
            now >= self.last_attempt.saturating_add(r.retry_seconds)
        } else {
            now >= self.last_ok.saturating_add(r.refresh_seconds)
        };
        let wanted =
            self.want > self.want_served && now >= self.last_attempt.saturating_add(r.unknown_kid_refetch_seconds);
        if !(due || wanted) || self.lock_until > now {
            return false;
        }
        self.lock_until = now + u64::from(r.timeout_ms / 1000) + 2;
        self.last_attempt = now;
        self.want_served = self.want;
        true
    }
}

pub(crate) fn keys_key(issuer: &str) -> String {
    format!("gatehouse.jwks.{issuer}")
}

/// The provider's endpoints from its discovery document (`discover_endpoints`), as JSON.
pub(crate) fn endpoints_key(issuer: &str) -> String {
    format!("gatehouse.discovered.{issuer}")
}

fn stored_endpoints(bytes: &[u8]) -> Option<Endpoints> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(Endpoints {
        authorization: text("authorization")?,
        token_path: text("token_path")?,
        end_session: text("end_session"),
    })
}

/// Reads the discovered endpoints of every provider that discovers them, when this VM has none yet (a VM
/// started after the document was fetched, before its first tick).
pub fn pick_up_endpoints(cfg: &Config, store: &mut dyn SharedStore, remote: &mut RemoteKeys) {
    for issuer in cfg.all_issuers().filter(|i| i.remote_jwks.as_ref().is_some_and(|r| r.endpoints)) {
        if remote.endpoints.contains_key(&issuer.name) {
            continue;
        }
        if let Some(e) = store.get(&endpoints_key(&issuer.name)).and_then(|(b, _)| stored_endpoints(&b)) {
            remote.endpoints.insert(issuer.name.clone(), e);
        }
    }
}

pub(crate) fn state_key(issuer: &str) -> String {
    format!("gatehouse.jwks_state.{issuer}")
}

/// Reads, changes and writes an issuer's state with compare-and-swap; `None` when another VM won or nothing
/// was to change, else the state written.
fn update_state(store: &mut dyn SharedStore, issuer: &str, change: impl Fn(&mut State) -> bool) -> Option<State> {
    let key = state_key(issuer);
    for _ in 0..4 {
        // Keys are created at configuration (see `create`); until then there is nothing to update.
        let (bytes, cas) = store.get(&key)?;
        let mut state = State::decode(&bytes);
        if !change(&mut state) {
            return None;
        }
        match store.set(&key, &state.encode(), cas) {
            Ok(()) => return Some(state),
            Err(StoreError::CasMismatch) => continue,
            Err(StoreError::Host(_)) => return None,
        }
    }
    None
}

/// Ends an attempt: the lock is released; `ok` records a good fetch.
fn release(store: &mut dyn SharedStore, name: &str, ok: bool, now: u64) {
    update_state(store, name, move |s| {
        s.lock_until = 0;
        if ok {
            s.last_ok = now;
        }
        true
    });
}

/// This VM's side of the protocol: the fetches it started and the store versions it has read.
#[derive(Debug, Default)]
pub struct KeyFetcher {
    /// Fetch id → (issuer name, whether it is the discovery document).
    in_flight: HashMap<u64, (String, bool)>,
    seen_cas: HashMap<String, u32>,
    next_id: u64,
}

/// Creates the shared keys this proxy will compare-and-swap. The ABI has no "create if absent" (a write with
/// CAS 0 is unconditional), so creation happens once, at configuration, where Envoy runs the main thread's
/// VM before it starts the workers' VMs: from then on every update is a real compare-and-swap.
pub fn create(cfg: &Config, store: &mut dyn SharedStore) {
    for issuer in cfg.all_issuers().filter(|i| i.remote_jwks.is_some()) {
        if store.get(&state_key(&issuer.name)).is_none() {
            let _ = store.set(&state_key(&issuer.name), &State::default().encode(), 0);
        }
    }
}

/// A stored set as (when it was fetched, the JWKS document).
fn stored(bytes: &[u8]) -> (u64, String) {
    let stored: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let fetched_at = stored.get("fetched_at").and_then(Value::as_u64).unwrap_or(0);
    (fetched_at, stored.get("jwks").and_then(Value::as_str).unwrap_or("").to_owned())
}

fn key_set(fetched_at: u64, body: &str, r: &RemoteJwks) -> Option<KeySet> {
    parse_jwks(body.as_bytes(), r.default_alg).ok().map(|keys| KeySet { keys, fetched_at })
}

impl KeyFetcher {
    /// Every tick: pick up sets other VMs fetched, and fetch what is due.
    pub fn tick(
        &mut self,
        cfg: &Config,
        store: &mut dyn SharedStore,
        remote: &mut RemoteKeys,
        now: u64,
        out: &mut Outbox,
    ) {
        for issuer in cfg.all_issuers() {
            let Some(r) = &issuer.remote_jwks else { continue };
            if let Some((bytes, cas)) = store.get(&keys_key(&issuer.name)) {
                if self.seen_cas.get(&issuer.name) != Some(&cas) {
                    self.seen_cas.insert(issuer.name.clone(), cas);
                    let (at, body) = stored(&bytes);
                    if let Some(set) = key_set(at, &body, r) {
                        remote.sets.insert(issuer.name.clone(), set);
                    }
                }
            }
            if r.endpoints {
                let key = endpoints_key(&issuer.name);
                if let Some((bytes, cas)) = store.get(&key) {
                    if self.seen_cas.get(&key) != Some(&cas) {
                        self.seen_cas.insert(key, cas);
                        if let Some(e) = stored_endpoints(&bytes) {
                            remote.endpoints.insert(issuer.name.clone(), e);
                        }
                    }
                }
            }
            let Some(state) = update_state(store, &issuer.name, |s| s.claim(r, now)) else { continue };
            if cfg.faults.provider_unavailable {
                out.count(metrics::JWKS_FETCHES.stat(&[&issuer.name, "failed"]));
                release(store, &issuer.name, false, now);
                continue;
            }
            let discover = r.discovery_path.is_some() && state.jwks_path.is_empty();
            let path = match (&r.discovery_path, discover) {
                (Some(d), true) => d.clone(),
                (Some(_), false) => state.jwks_path.clone(),
                (None, _) => r.path.clone(),
            };
            self.send(&issuer.name, r, &path, discover, out);
        }
    }

    fn send(&mut self, name: &str, r: &RemoteJwks, path: &str, discover: bool, out: &mut Outbox) {
        self.next_id += 1;
        let id = self.next_id;
        self.in_flight.insert(id, (name.to_owned(), discover));
        out.fetch(Fetch {
            id,
            cluster: r.cluster.clone(),
            headers: vec![
                (":method".to_owned(), "GET".to_owned()),
                (":path".to_owned(), path.to_owned()),
                (":authority".to_owned(), r.authority.clone()),
                ("accept".to_owned(), "application/json".to_owned()),
            ],
            timeout_ms: r.timeout_ms,
            max_body: MAX_JWKS_BYTES,
        });
    }

    pub fn owns(&self, id: u64) -> bool {
        self.in_flight.contains_key(&id)
    }

    /// A fetch answered, or could not be sent.
    pub fn response(
        &mut self,
        cfg: &Config,
        store: &mut dyn SharedStore,
        id: u64,
        resp: &CallResponse,
        now: u64,
        out: &mut Outbox,
    ) {
        let Some((name, discovery)) = self.in_flight.remove(&id) else { return };
        let Some(issuer) = cfg.all_issuers().find(|i| i.name == name) else { return };
        let Some(r) = issuer.remote_jwks.as_ref() else { return };
        if matches!(resp, CallResponse::NotSent(_)) {
            out.log(Level::Warn, format!("jwks fetch for issuer {name} not sent"));
            out.count(metrics::JWKS_FETCHES.stat(&[&name, "failed"]));
            release(store, &name, false, now);
            return;
        }
        let body: &[u8] = match resp {
            CallResponse::Answered(a) if a.status == 200 && !a.truncated => &a.body,
            _ => &[],
        };
        let ok_status = resp.status() == Some(200);
        if discovery {
            // The sign-in provider's endpoints come from the same document; a document without usable ones
            // is a failed discovery, as one without a usable `jwks_uri` is.
            let endpoints = match r.endpoints.then(|| endpoints_from_discovery(body, &issuer.issuer)) {
                Some(Err(e)) => Err(e),
                Some(Ok(e)) => Ok(Some(e)),
                None => Ok(None),
            };
            match endpoints.and_then(|e| jwks_path_from_discovery(body, &issuer.issuer).map(|p| (p, e))) {
                Ok((path, endpoints)) => {
                    if let Some(e) = endpoints {
                        let v = json!({"authorization": e.authorization, "token_path": e.token_path,
                                       "end_session": e.end_session});
                        let _ = store.set(&endpoints_key(&name), v.to_string().as_bytes(), 0);
                    }
                    let p = path.clone();
                    if update_state(store, &name, move |s| {
                        s.jwks_path = p.clone();
                        true
                    })
                    .is_some()
                    {
                        self.send(&name, r, &path, false, out);
                        return;
                    }
                }
                Err(e) => out.log(Level::Warn, format!("discovery for issuer {name} failed: {e}")),
            }
            out.count(metrics::JWKS_FETCHES.stat(&[&name, "failed"]));
            release(store, &name, false, now);
            return;
        }
        // A broken answer never replaces the last good set: it only counts as a failed attempt.
        let good = ok_status && parse_jwks(body, r.default_alg).is_ok();
        if good {
            let stored = json!({"fetched_at": now, "jwks": String::from_utf8_lossy(body)}).to_string();
            let _ = store.set(&keys_key(&name), stored.as_bytes(), 0);
        } else {
            out.log(Level::Warn, format!("jwks fetch for issuer {name} failed; keeping the last good set"));
        }
        out.count(metrics::JWKS_FETCHES.stat(&[&name, if good { "ok" } else { "failed" }]));
        // The sign-in provider's key endpoint doubles as its health check: new sign-ins get the outage page
        // while it fails, instead of a redirect to a provider that does not answer.
        if let Some(sc) = cfg.session.as_ref().filter(|s| s.provider.issuer.name == name) {
            breaker::mark(store, good, now, sc.provider.outage_backoff_seconds);
        }
        let forget_path = !good && r.discovery_path.is_some();
        update_state(store, &name, move |s| {
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
}

/// Reads every remote set from the shared store now. Used when no fresh set was found for a token: another
/// VM may have stored one since this VM's last tick (right after start, for instance).
pub fn pick_up_now(cfg: &Config, store: &mut dyn SharedStore, remote: &mut RemoteKeys) -> bool {
    let mut changed = false;
    for issuer in cfg.all_issuers() {
        let Some(r) = &issuer.remote_jwks else { continue };
        let Some((bytes, _)) = store.get(&keys_key(&issuer.name)) else { continue };
        let (at, body) = stored(&bytes);
        if remote.sets.get(&issuer.name).is_some_and(|s| s.fetched_at >= at) {
            continue;
        }
        if let Some(set) = key_set(at, &body, r) {
            remote.sets.insert(issuer.name.clone(), set);
            changed = true;
        }
    }
    changed
}

/// Asks for a prompt refetch of every remote set: a token named a kid no set has (a rotation at the provider).
pub fn want_refetch(cfg: &Config, store: &mut dyn SharedStore) {
    for issuer in cfg.all_issuers().filter(|i| i.remote_jwks.is_some()) {
        // One pending request is enough: further unknown kids before the next fetch write nothing.
        update_state(store, &issuer.name, |s| {
            if s.want > s.want_served {
                return false;
            }
            s.want += 1;
            true
        });
    }
}
