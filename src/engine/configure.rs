//! A pushed plugin configuration becomes a new engine (a new generation) or is refused with every problem.
//! What the operator sees either way (the start-up line, the problems with their JSON paths, the generation
//! and digest gauges) is decided here; the filter only writes it out.

use sha2::Digest;

use super::effect::{Effect, Level, Outbox};
use super::shared::SharedStore;
use super::Engine;
use crate::config::{load_config, Env};
use crate::metrics;

/// What the build is: the version, and the commit the filter was built from when the build says so.
pub struct Build {
    pub version: &'static str,
    pub commit: Option<&'static str>,
}

/// Loads `bytes` as the `generation`-th configuration of this VM. `Ok`: the engine, with its start-up line
/// and gauges waiting in its outbox. `Err`: the log lines that name every problem (Envoy refuses the
/// configuration, or NACKs the xDS update, and keeps serving the last good one).
pub fn configure(
    bytes: &[u8],
    env: Env<'_>,
    generation: u64,
    build: &Build,
    store: &mut dyn SharedStore,
) -> Result<Engine, Vec<Effect>> {
    let config = match load_config(bytes, env) {
        Ok(c) => c,
        Err(errors) => {
            let mut out = Outbox::default();
            out.log(Level::Error, format!("invalid configuration ({} problems):", errors.len()));
            for e in errors.iter() {
                out.log(Level::Error, format!("config error: {e}"));
            }
            out.count(metrics::CONFIG_REJECTED.stat(&[]));
            return Err(out.drain());
        }
    };
    let digest = sha2::Sha256::digest(bytes);
    let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let line = format!(
        "configured version={} commit={} config_sha256={short} generation={generation} routes={} issuers={} rollout={}",
        build.version,
        build.commit.unwrap_or("unknown"),
        config.routes.len(),
        config.issuers.len(),
        if config.rollout.is_some() { "on" } else { "off" },
    );
    let mut engine = Engine::new(config);
    engine.on_configure(store);
    engine.out.log(Level::Info, line);
    // Which configuration each proxy runs, comparable across proxies: the generation counts pushes to this
    // VM, the digest (first 32 bits of the SHA-256) names the content.
    let digest32 = digest.iter().take(4).fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    engine.out.gauge(metrics::CONFIG_GENERATION.stat(&[]), generation);
    engine.out.gauge(metrics::CONFIG_DIGEST.stat(&[]), digest32);
    engine.out.count(metrics::CONFIG_LOADED.stat(&[]));
    Ok(engine)
}
