//! The engine: everything one configuration generation knows in one VM (the configuration, caches, remote
//! key sets, the key fetcher's and the shadow comparison's state), behind a sans-IO interface in the style of
//! quinn-proto's `Connection`. The filter feeds it host callbacks as data and carries out what comes back:
//!
//! - `on_request` → a `Decision` (allow with header changes, a local reply, a call to make, or a pass);
//! - `on_call_response` → the decision for a request that waited on its call;
//! - `on_tick` / `on_fetch_response` → `Effect`s: key-set fetches to start, metrics, log lines;
//! - `on_upstream_response` → the shadow comparison with the legacy path's answer.
//!
//! Inside, a request is classified once (path, host, route), passed through the rollout gate (pure, data
//! in, data out), evaluated, and then the engine applies faults and single flight to any call it asks for.
//! Time, randomness and the proxy-wide store come in through `World`.

pub mod breaker;
mod configure;
pub mod effect;
pub mod flight;
pub mod keys;
pub mod logouts;
pub mod shadow;
pub mod shared;
pub mod states;

use std::collections::HashMap;
use std::sync::Arc;

use rand_core::RngCore;

pub use configure::{configure, Build};
pub use effect::{Effect, Fetch, Level};
pub use shared::{MemoryStore, SharedStore, StoreError};

use crate::cache::Caches;
use crate::call::{CallResponse, NotSent};
use crate::classify::{classify, Classified};
use crate::config::rollout::Mode;
use crate::config::Config;
use crate::context::{Inputs, Strip};
use crate::decision::{Decision, Pass, Pending, PendingKind, RequestMeta, Verdict};
use crate::jwks::RemoteKeys;
use crate::jwt::JwtError;
use crate::metrics;
use crate::oidc::token_response::provider_answered;
use crate::policy::ResponseFormat;
use crate::reason::Reason;
use crate::request::{Captured, Request};
use crate::respond::{deny, Deny};
use crate::rollout::{self, Gate};
use effect::Outbox;
use keys::KeyFetcher;

/// What a callback needs from the world: the host clock (seconds), a cryptographically secure random source
/// (WASI `random_get` in the filter) and the proxy-wide shared store.
pub struct World<'a> {
    pub now: u64,
    pub rng: &'a mut dyn RngCore,
    pub store: &'a mut dyn SharedStore,
}

pub struct Engine {
    config: Arc<Config>,
    strip: Strip,
    caches: Caches,
    remote: RemoteKeys,
    keys: KeyFetcher,
    shadow_logged: shadow::Logged,
    out: Outbox,
    /// Running totals already published as counters (counters from all VMs add up at Envoy's `/stats`).
    published: HashMap<&'static str, u64>,
}

impl Engine {
    pub fn new(config: impl Into<Arc<Config>>) -> Self {
        let config: Arc<Config> = config.into();
        Engine {
            strip: Strip::new(&config),
            caches: Caches::new(&config.cache),
            remote: RemoteKeys::default(),
            keys: KeyFetcher::default(),
            shadow_logged: shadow::Logged::default(),
            out: Outbox::default(),
            published: HashMap::new(),
            config,
        }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Once, when the configuration is accepted: creates the shared-store entries later updated by
    /// compare-and-swap (Envoy configures the main thread's VM before it starts the workers' VMs).
    pub fn on_configure(&mut self, store: &mut dyn SharedStore) {
        keys::create(&self.config, store);
        if self.config.session.as_ref().is_some_and(|s| s.provider.keep_refresh_token) {
            flight::create(store);
        }
        if self.config.session.is_some() {
            states::create(store);
        }
    }

    fn now(&self, w: &World<'_>) -> u64 {
        w.now.saturating_add_signed(self.config.faults.clock_offset_seconds)
    }

    /// The filter's entry point: the request's header map as the host hands it over.
    pub fn on_request_headers(&mut self, pairs: Vec<(String, Vec<u8>)>, w: &mut World<'_>) -> Decision {
        let c = match Captured::from_pairs(pairs, &self.config.request_headers) {
            Ok(c) => c,
            Err(reason) => {
                let mut d = deny(&self.config, None, ResponseFormat::Json, Deny::BadRequest, reason, None);
                self.finish(&mut d, &RequestMeta::default());
                return d;
            }
        };
        let mut d = self.on_request(&c.request(), w);
        let meta = RequestMeta { method: c.method, present: c.present, authority: c.authority };
        self.finish(&mut d, &meta);
        if let Decision::Call(call) = &mut d {
            call.then.request = meta;
        }
        d
    }

    /// What only the whole request shows: a header to remove that the request does not carry is left out;
    /// a reply to HEAD has no body; a shadowed request keeps its authority for the comparison; and each
    /// reply gets one log line with a stable reason code (never a token, cookie or header value).
    fn finish(&mut self, d: &mut Decision, meta: &RequestMeta) {
        match d {
            Decision::Allow(a) => {
                a.remove_headers.retain(|h| meta.present.iter().any(|p| **p == **h));
                // Passing without identity is a choice a route made; each one is seen in the log.
                if let Reason::Passed(how, cause) = &a.verdict.reason {
                    self.out.log(
                        Level::Info,
                        format!(
                            "pass_unauthenticated reason={} cause={} route={} class={} method={}",
                            how.code(),
                            cause.code(),
                            a.verdict.route.as_deref().unwrap_or("-"),
                            a.verdict.class,
                            meta.method,
                        ),
                    );
                }
            }
            Decision::Reply(r) => {
                if meta.method == "HEAD" {
                    r.body.clear();
                }
                let v = &r.verdict;
                // Redirects and sign-in pages are part of the flow, not refusals.
                let word = if r.status < 400 { "reply" } else { "deny" };
                self.out.log(
                    Level::Info,
                    format!(
                        "{word} status={} reason={} route={} class={} issuer={} method={}",
                        r.status,
                        v.reason.code(),
                        v.route.as_deref().unwrap_or("-"),
                        v.class,
                        v.issuer.as_deref().unwrap_or("-"),
                        meta.method,
                    ),
                );
            }
            Decision::Pass(p) => {
                p.remove_headers.retain(|h| meta.present.iter().any(|p| **p == **h));
                if p.shadow.is_some() {
                    p.authority.clone_from(&meta.authority);
                }
            }
            Decision::ReadBody(r) => r.remove_headers.retain(|h| meta.present.iter().any(|p| **p == **h)),
            Decision::Call(_) => {}
        }
        self.out.count(metrics::DECISIONS.stat(&[d.outcome(), d.verdict().reason.code()]));
        self.out.count(metrics::CLASS_DECISIONS.stat(&[d.outcome(), &d.verdict().class]));
        self.out.count(metrics::PATHS.stat(&[d.path(), &d.verdict().class]));
    }

    /// The body the last decision asked for (`Decision::ReadBody`): an OIDC back-channel logout POST.
    /// `truncated`: the body was longer than asked for.
    pub fn on_request_body(&mut self, body: &[u8], truncated: bool, w: &mut World<'_>) -> Decision {
        let now = self.now(w);
        let mut d = self.backchannel_logout(body, truncated, w, now);
        self.finish(&mut d, &RequestMeta { method: "POST".to_owned(), ..RequestMeta::default() });
        d
    }

    /// OIDC Back-Channel Logout §2.7–2.8: a verified, unspent logout token ends its sessions in every VM;
    /// 200 once recorded, 400 for a token that is not one, 503 when the store could not record it (the
    /// provider may retry).
    fn backchannel_logout(&mut self, body: &[u8], truncated: bool, w: &mut World<'_>, now: u64) -> Decision {
        use crate::oidc::logout_token::{verify, LogoutTokenError};
        let cfg = &self.config;
        let refuse =
            |deny_as: Deny, reason: Reason| deny(cfg, None, ResponseFormat::Json, deny_as, reason, Some("oidc".into()));
        let Some(sc) = &cfg.session else {
            return refuse(Deny::BadRequest, Reason::NoSessionConfig);
        };
        if truncated {
            return refuse(Deny::BadRequest, Reason::LogoutToken(LogoutTokenError::Jwt(JwtError::TooLarge)));
        }
        let claims = match verify(body, &sc.provider.issuer, Some(&self.remote), now) {
            Ok(c) => c,
            Err(e) => return refuse(Deny::BadRequest, Reason::LogoutToken(e)),
        };
        match states::spend(w.store, &format!("logout-jti:{}", claims.jti), claims.expires, now) {
            states::Spend::Fresh => {}
            states::Spend::Replayed => return refuse(Deny::BadRequest, Reason::LogoutReplayed),
            states::Spend::Unavailable => return refuse(Deny::Unavailable, Reason::StateUnrecorded),
        }
        // The provider's time of the logout, not ours: a retried token must not end sessions signed in since.
        if logouts::record(w.store, claims.sid.as_deref(), &claims.sub, claims.iat.min(now)).is_err() {
            return refuse(Deny::Unavailable, Reason::StateUnrecorded);
        }
        Decision::Reply(crate::decision::Reply {
            status: 200,
            headers: vec![("cache-control".to_owned(), "no-store".to_owned())],
            body: String::new(),
            verdict: crate::respond::verdict(None, Reason::BackchannelLogout, Some("oidc".into())),
        })
    }

    /// Decides a request given as data (tests, benchmarks and fuzzing drive the engine here).
    pub fn on_request(&mut self, req: &Request<'_>, w: &mut World<'_>) -> Decision {
        let now = self.now(w);
        let cfg = &self.config;
        // With `method_override_headers: "judge"`, the request is routed and judged as the method it overrides
        // to (an unreadable override is refused in `evaluate`).
        let judged;
        let req = match crate::method_override::judged_method(cfg, req) {
            Ok(Some(method)) => {
                judged = Request { method, ..*req };
                if !same_target(&classify(cfg, req).target, &classify(cfg, &judged).target) {
                    return deny(cfg, None, ResponseFormat::Json, Deny::BadRequest, Reason::BadMethodOverride, None);
                }
                &judged
            }
            _ => req,
        };
        let c = classify(cfg, req);
        let gate = match &cfg.rollout {
            Some(r) => match rollout::gate(r, &c, req, now) {
                Gate::Legacy(reason) => {
                    return Decision::Pass(Pass {
                        remove_headers: self.strip.owned.clone(),
                        shadow: None,
                        verdict: legacy(&c, reason),
                        authority: String::new(),
                    })
                }
                Gate::Evaluate { flag, forced } => Some((r, flag, forced)),
            },
            None => None,
        };
        let provider_down = cfg.session.is_some() && breaker::is_open(w.store, now);
        if cfg.session.as_ref().is_some_and(|sc| {
            sc.provider.discover_endpoints && !self.remote.endpoints.contains_key(&sc.provider.issuer.name)
        }) {
            keys::pick_up_endpoints(cfg, w.store, &mut self.remote);
        }
        // No fresh key set in this VM: another VM may have stored one since the last tick; then once more.
        let mut picked_up = false;
        let d = loop {
            let mut inp = Inputs {
                now,
                rng: &mut *w.rng,
                caches: &mut self.caches,
                remote: &self.remote,
                provider_down,
                strip: &self.strip,
                deployment: c.deployment,
                store: &mut *w.store,
            };
            let d = crate::evaluate::evaluate(cfg, &c, req, &mut inp);
            let stale = d.verdict().reason.keys_stale();
            if picked_up || !stale || !keys::pick_up_now(cfg, w.store, &mut self.remote) {
                break d;
            }
            picked_up = true;
        };
        if d.verdict().reason == Reason::Token(JwtError::UnknownKid) {
            // A rotation at the provider: ask for an early refetch.
            keys::want_refetch(cfg, w.store);
        }
        let mode = match gate {
            Some((r, flag, forced)) => {
                let deployment = c.deployment.map_or("", |(_, d)| d.id());
                rollout::mode(r, flag, forced, deployment, d.verdict().subject.as_deref())
            }
            None => Mode::Enforce,
        };
        match mode {
            Mode::Enforce => self.settle(d, w, now),
            Mode::Shadow => {
                let predicted = rollout::predict(&d);
                let mut verdict = d.verdict().clone();
                verdict.subject = None;
                Decision::Pass(Pass {
                    remove_headers: self.strip.owned.clone(),
                    shadow: Some(predicted),
                    verdict,
                    authority: String::new(),
                })
            }
            Mode::Off => Decision::Pass(Pass {
                remove_headers: self.strip.owned.clone(),
                shadow: None,
                verdict: legacy(&c, Reason::RolloutOff),
                authority: String::new(),
            }),
        }
    }

    fn resume(&mut self, pending: Pending, resp: &CallResponse, w: &mut World<'_>, now: u64) -> Decision {
        let provider_down = self.config.session.is_some() && breaker::is_open(w.store, now);
        let deployment = pending.deployment.and_then(|i| self.config.deployments.get(i).map(|d| (i, d)));
        let mut inp = Inputs {
            now,
            rng: w.rng,
            caches: &mut self.caches,
            remote: &self.remote,
            provider_down,
            strip: &self.strip,
            deployment,
            store: &mut *w.store,
        };
        crate::browser::resume(&self.config, pending, resp, &mut inp)
    }

    /// A call the decision asks for is made only if it can be: under `faults.provider_unavailable` it is
    /// answered at once as a provider outage (so every outage path runs exactly as in a real one); while the
    /// breaker is open a refresh would only wait for the timeout, so it fails at once too (the session
    /// carries on within its grace window); and a refresh whose session another request is already
    /// refreshing goes on with the session as it is.
    fn settle(&mut self, mut d: Decision, w: &mut World<'_>, now: u64) -> Decision {
        loop {
            match d {
                Decision::Call(call)
                    if self.config.faults.provider_unavailable
                        || (call.then.kind() == PendingKind::Refresh && breaker::is_open(w.store, now)) =>
                {
                    d = self.resume(call.then, &CallResponse::NotSent(NotSent::ProviderDown), w, now);
                }
                // A sign-in's state is spent before its code goes to the provider, once per proxy.
                Decision::Call(call) if call.then.kind() == PendingKind::Code => {
                    let spent = match (call.then.flow(), &self.config.session) {
                        (Some((state, iat)), Some(sc)) => {
                            states::spend(w.store, state, iat.saturating_add(sc.flow_lifetime_seconds), now)
                        }
                        _ => states::Spend::Unavailable,
                    };
                    let reason = match spent {
                        states::Spend::Fresh => return Decision::Call(call),
                        states::Spend::Replayed => Reason::StateReplayed,
                        states::Spend::Unavailable => Reason::StateUnrecorded,
                    };
                    return crate::browser::state_refused(&self.config, call.then, reason);
                }
                Decision::Call(mut call) => {
                    if let Some(key) = call.then.single_flight_key() {
                        if !flight::take(w.store, &key, call.timeout_ms, now) {
                            d = self.resume(call.then, &CallResponse::NotSent(NotSent::InFlight), w, now);
                            continue;
                        }
                        call.then.flight = Some(key);
                    }
                    return Decision::Call(call);
                }
                other => return other,
            }
        }
    }

    /// The answer to a call a decision asked for (or `NotSent` when the host could not dispatch it).
    pub fn on_call_response(&mut self, mut pending: Pending, resp: CallResponse, w: &mut World<'_>) -> Decision {
        let now = self.now(w);
        let meta = std::mem::take(&mut pending.request);
        if let Some(key) = &pending.flight {
            flight::release(w.store, key, resp.status() == Some(200), now);
        }
        let backoff = self.config.session.as_ref().map_or(30, |s| s.provider.outage_backoff_seconds);
        match &resp {
            CallResponse::NotSent(NotSent::DispatchFailed) => {
                // An unknown cluster is a configuration mistake: counted, and treated as an outage.
                self.out.count(metrics::IDP_DISPATCH_FAILED.stat(&[]));
                breaker::mark(w.store, false, now, backoff);
            }
            CallResponse::NotSent(_) => {}
            answered => {
                if let Some(outcome) = answered.outcome() {
                    self.out.count(metrics::IDP_CALLS.stat(&[pending.kind().code(), outcome]));
                }
                breaker::mark(w.store, provider_answered(answered), now, backoff);
            }
        }
        let d = self.resume(pending, &resp, w, now);
        let mut d = self.settle(d, w, now);
        self.finish(&mut d, &meta);
        if let Decision::Call(call) = &mut d {
            call.then.request = meta;
        }
        d
    }

    /// Once a second: key sets other VMs fetched are picked up, due fetches start, and the VM's gauges are
    /// published.
    pub fn on_tick(&mut self, w: &mut World<'_>) -> Vec<Effect> {
        let now = self.now(w);
        self.keys.tick(&self.config, w.store, &mut self.remote, now, &mut self.out);
        self.publish_state(now);
        self.out.drain()
    }

    /// Whether `id` is a fetch this engine started (a new generation's engine does not own the old one's).
    pub fn owns_fetch(&self, id: u64) -> bool {
        self.keys.owns(id)
    }

    pub fn on_fetch_response(&mut self, id: u64, resp: CallResponse, w: &mut World<'_>) -> Vec<Effect> {
        let now = self.now(w);
        self.keys.response(&self.config, w.store, id, &resp, now, &mut self.out);
        // Pick the new set up at once rather than on the next tick.
        self.keys.tick(&self.config, w.store, &mut self.remote, now, &mut self.out);
        self.out.drain()
    }

    /// The legacy path answered a request passed in shadow mode: its response headers as the host has them.
    pub fn on_upstream_response(&mut self, pass: &Pass, headers: &[(String, Vec<u8>)]) {
        let value = |name: &str| {
            headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| String::from_utf8_lossy(v))
        };
        let status: u16 = value(":status").and_then(|s| s.parse().ok()).unwrap_or(0);
        let location = value("location");
        shadow::compare(&mut self.out, &mut self.shadow_logged, pass, status, location.as_deref());
    }

    /// Effects produced by the last callbacks (metrics, log lines); the filter drains them after each one.
    pub fn drain_effects(&mut self) -> Vec<Effect> {
        self.out.drain()
    }

    /// Each remote key set (how many keys, how old, whether still fresh enough to use) and how the caches do.
    fn publish_state(&mut self, now: u64) {
        for issuer in self.config.all_issuers() {
            let Some(r) = &issuer.remote_jwks else { continue };
            let name = &issuer.name;
            let (keys, age) = match self.remote.sets.get(name) {
                Some(set) => (set.keys.len() as u64, now.saturating_sub(set.fetched_at)),
                None => (0, 0),
            };
            let fresh = self.remote.fresh(name, r, now, self.config.faults.keys_stale).is_some();
            self.out.gauge(metrics::JWKS_KEYS.stat(&[name]), keys);
            self.out.gauge(metrics::JWKS_AGE.stat(&[name]), age);
            self.out.gauge(metrics::JWKS_FRESH.stat(&[name]), u64::from(fresh));
        }
        let c = &self.caches;
        self.out.gauge(metrics::CACHE_ENTRIES.stat(&["tokens"]), c.tokens.len() as u64);
        self.out.gauge(metrics::CACHE_ENTRIES.stat(&["sessions"]), c.sessions.len() as u64);
        self.out.gauge(metrics::CACHE_ENTRIES.stat(&["minted"]), c.minted.len() as u64);
        let totals = [
            (metrics::CACHE_TOKEN_HITS, c.tokens.hits),
            (metrics::CACHE_TOKEN_MISSES, c.tokens.misses),
            (metrics::CACHE_SESSION_HITS, c.sessions.hits),
            (metrics::CACHE_SESSION_MISSES, c.sessions.misses),
        ];
        for (name, total) in totals {
            let last = self.published.insert(name, total).unwrap_or(0);
            let delta = total.saturating_sub(last);
            if delta > 0 {
                self.out.add(name, delta);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn remote_mut(&mut self) -> &mut RemoteKeys {
        &mut self.remote
    }

    #[cfg(test)]
    pub(crate) fn caches(&self) -> &Caches {
        &self.caches
    }
}

/// The verdict of a request that went down the legacy path without being evaluated.
fn legacy(c: &Classified<'_, '_>, reason: Reason) -> Verdict {
    let (route, class) = c.route_and_class();
    Verdict { reason, route: route.map(str::to_owned), class: class.to_owned(), issuer: None, subject: None }
}

/// Whether two classifications of one request lead to the same rule (the same route, or the same flow step
/// or refusal).
fn same_target(a: &crate::classify::Target<'_>, b: &crate::classify::Target<'_>) -> bool {
    use crate::classify::Target;
    match (a, b) {
        (Target::Route(x), Target::Route(y)) => std::ptr::eq(*x, *y),
        (Target::Flow(x), Target::Flow(y)) => x == y,
        (x, y) => std::mem::discriminant(x) == std::mem::discriminant(y) && !matches!(x, Target::Route(_)),
    }
}
