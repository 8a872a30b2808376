//! Controlled rollout: which requests the new path decides (`enforce`), watches (`shadow`) or leaves alone
//! (`off`). Buckets are deterministic and sticky: the same deployment or subject always lands in the same
//! bucket for the same salt, so raising a percentage only ever adds people to the new path.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::browser;
use crate::config::rollout::{BucketBy, Flag, Mode, Rollout, AUTH_CLASS, UNMATCHED_CLASS};
use crate::config::Config;
use crate::decide::{decide_now, simulate_outage, Inputs};
use crate::decision::{Decision, Outcome, Pass, Predicted, Verdict};
use crate::policy::host::route_host;
use crate::policy::{find_route, normalize_path};
use crate::request::Request;

/// Buckets per 100%: a percentage has two decimals.
const BUCKETS: u64 = 10000;

pub fn decide<'c>(cfg: &'c Config, r: &'c Rollout, req: &Request<'_>, inp: &mut Inputs<'_>) -> Decision<'c> {
    let (route, class) = classify(cfg, req);
    let flag = flag_for(r, route, class, inp.now);
    let forced = canary(r, req);
    let verdict = |reason: &'static str| Verdict {
        reason,
        route: route.map(str::to_owned),
        class: class.to_owned(),
        issuer: None,
        subject: None,
    };
    if forced == Some(Mode::Off) {
        return Decision::Pass(Pass { shadow: None, verdict: verdict("canary_legacy") });
    }
    // When who is asking cannot change the answer, `off` costs nothing: the request is not evaluated.
    let subject_matters = flag.needs_subject() || !r.allow.subjects.is_empty() || !r.deny.subjects.is_empty();
    if forced.is_none() && !subject_matters && choose(cfg, r, flag, None) == Mode::Off {
        return Decision::Pass(Pass { shadow: None, verdict: verdict("rollout_off") });
    }
    let d = decide_now(cfg, req, inp);
    let mode = forced.unwrap_or_else(|| choose(cfg, r, flag, d.verdict().subject.as_deref()));
    match mode {
        Mode::Enforce => {
            let mut d = simulate_outage(cfg, d, inp);
            // The override header is ours: the upstream never sees it on the new path.
            if let (Decision::Allow(a), Some(c)) = (&mut d, &r.canary) {
                a.remove_headers.push(c.header.as_str());
            }
            d
        }
        Mode::Shadow => {
            let predicted = predict(&d);
            let mut v = d.verdict().clone();
            v.subject = None;
            Decision::Pass(Pass { shadow: Some(predicted), verdict: v })
        }
        Mode::Off => Decision::Pass(Pass { shadow: None, verdict: verdict("rollout_off") }),
    }
}

/// The route name and class the request falls under, before any credential is looked at.
fn classify<'c>(cfg: &'c Config, req: &Request<'_>) -> (Option<&'c str>, &'c str) {
    let Ok((path, _)) = normalize_path(req.path) else { return (None, UNMATCHED_CLASS) };
    if cfg.session.as_ref().is_some_and(|sc| browser::is_flow_path(sc, &path)) {
        return (None, AUTH_CLASS);
    }
    match find_route(&cfg.routes, &route_host(req.authority, cfg.host_matching), &path, req.method) {
        Some(route) => (Some(route.name.as_str()), route.class.as_str()),
        None => (None, UNMATCHED_CLASS),
    }
}

/// The most specific flag still in force: route, then class, then the default, then `enforce` (what an
/// expired rollout falls back to, so a forgotten temporary setting cannot linger).
pub fn flag_for<'r>(r: &'r Rollout, route: Option<&str>, class: &str, now: u64) -> &'r Flag {
    route
        .and_then(|name| r.routes.get(name))
        .filter(|f| f.active(now))
        .or_else(|| r.classes.get(class).filter(|f| f.active(now)))
        .or_else(|| Some(&r.default).filter(|f| f.active(now)))
        .unwrap_or(&Flag::ENFORCE)
}

pub fn choose(cfg: &Config, r: &Rollout, flag: &Flag, subject: Option<&str>) -> Mode {
    let deployment = cfg.dataplane.deployment_id.as_str();
    let listed = |l: &crate::config::rollout::Lists| {
        l.deployments.iter().any(|d| d == deployment) || subject.is_some_and(|s| l.subjects.iter().any(|x| x == s))
    };
    if listed(&r.deny) {
        return flag.otherwise;
    }
    if listed(&r.allow) {
        return flag.mode;
    }
    let key = match flag.bucket_by {
        BucketBy::Deployment => deployment,
        BucketBy::Subject => subject.unwrap_or(deployment),
    };
    if bucket(&r.salt, key) < u64::from(flag.basis_points) {
        flag.mode
    } else {
        flag.otherwise
    }
}

/// A uniform bucket in 0..10000 from the salted key. SHA-256 rather than a fast hash: keys are
/// attacker-influenced (token subjects), and a bucket must not be steerable by choosing a name.
pub fn bucket(salt: &str, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(first) % BUCKETS
}

/// `new:<secret>` sends this request down the new path in `enforce`, `legacy:<secret>` down the legacy
/// path untouched. A wrong or missing secret is ignored (never an error: the header may be anyone's).
fn canary(r: &Rollout, req: &Request<'_>) -> Option<Mode> {
    let c = r.canary.as_ref()?;
    let value = req.header(&c.header)?;
    let (which, secret) = value.split_once(':')?;
    let mode = match which {
        "new" => Mode::Enforce,
        "legacy" => Mode::Off,
        _ => return None,
    };
    bool::from(secret.as_bytes().ct_eq(c.secret.expose())).then_some(mode)
}

/// What the new path would have answered, in the terms the legacy path's answer can be compared in.
fn predict(d: &Decision<'_>) -> Predicted {
    match d {
        Decision::Allow(_) | Decision::Pass(_) => Predicted { outcome: Outcome::Allow, status: 200 },
        // A call is made only for a session that exists (refresh) or a sign-in in progress (callback).
        Decision::Call(_) => Predicted { outcome: Outcome::Allow, status: 200 },
        Decision::Reply(r) if r.status >= 400 || r.verdict.reason == "login_redirect" => {
            Predicted { outcome: Outcome::Deny, status: r.status }
        }
        Decision::Reply(r) => Predicted { outcome: Outcome::Allow, status: r.status },
    }
}
