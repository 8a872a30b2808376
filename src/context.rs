//! What one evaluation needs from the engine besides the configuration and the request: the time, a
//! cryptographically secure random source (the filter passes WASI's `random_get`), the per-VM caches, the
//! remote key sets as last read, and whether the provider's circuit breaker is open.

use std::sync::Arc;

use rand_core::RngCore;

use crate::cache::Caches;
use crate::config::deployments::Deployment;
use crate::config::{Config, TokenSource};
use crate::engine::shared::SharedStore;
use crate::jwks::RemoteKeys;

pub struct Inputs<'a> {
    pub now: u64,
    pub rng: &'a mut dyn RngCore,
    pub caches: &'a mut Caches,
    /// Keys fetched from remote JWKS, as this VM last read them from the proxy's shared store.
    pub remote: &'a RemoteKeys,
    /// A recent call to the provider failed for a transient reason (the circuit breaker): new sign-ins get
    /// a clear 503 instead of a redirect to a provider that will not answer.
    pub provider_down: bool,
    pub strip: &'a Strip,
    /// The deployment the request is for, and its index (`None` only for a sign-in callback whose `state`
    /// names none of ours).
    pub deployment: Option<(usize, &'a Deployment)>,
    /// The proxy-wide store, for what other VMs learned (sessions the provider logged out).
    pub store: &'a mut dyn SharedStore,
}

/// Header names every allowed request has removed, computed once per configuration: a decision holds
/// shared references to them rather than a copy per request.
#[derive(Debug)]
pub struct Strip {
    /// Token source headers, every spelling of the identity headers, the configured extras, and the rollout
    /// canary header (ours, never the upstream's).
    pub always: Vec<Arc<str>>,
    /// The identity headers alone, removed in rollout `off` and `shadow` too.
    pub owned: Vec<Arc<str>>,
    pub authorization: Arc<str>,
    pub cookie: Arc<str>,
}

impl Strip {
    pub fn new(cfg: &Config) -> Self {
        let mut always: Vec<Arc<str>> = Vec::new();
        let sources = cfg.token_sources.iter().filter_map(TokenSource::header);
        let canary = cfg.rollout.as_ref().and_then(|r| r.canary.as_ref()).map(|c| c.header.as_str());
        for name in sources.chain(cfg.forged_headers.iter().map(String::as_str)).chain(canary) {
            always.push(Arc::from(name));
        }
        let owned = cfg.owned_headers.iter().map(|h| Arc::from(h.as_str())).collect();
        Strip { always, owned, authorization: Arc::from("authorization"), cookie: Arc::from("cookie") }
    }
}
