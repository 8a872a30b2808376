//! Controlled rollout: which requests the new path decides (`enforce`), watches (`shadow`) or leaves alone
//! (`off`). Buckets are deterministic and sticky: the same deployment or subject always lands in the same
//! bucket for the same salt, so raising a percentage only ever adds people to the new path.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::classify::Classified;
use crate::config::rollout::{BucketBy, Flag, Mode, Rollout};
use crate::decision::{Decision, Outcome, Predicted};
use crate::reason::Reason;
use crate::request::Request;

/// Buckets per 100%: a percentage has two decimals.
const BUCKETS: u64 = 10000;

/// The gate's answer before the request is evaluated.
pub enum Gate<'r> {
    /// Do not evaluate: the request goes down the legacy path untouched, for this reason.
    Legacy(Reason),
    /// Evaluate; then `mode` says what to do with the decision (it may depend on who was authenticated).
    Evaluate { flag: &'r Flag, forced: Option<Mode> },
}

/// Pure: the flags, the canary header and the buckets decide; nothing is evaluated here.
pub fn gate<'r>(r: &'r Rollout, c: &Classified<'_, '_>, req: &Request<'_>, now: u64) -> Gate<'r> {
    let (route, class) = c.route_and_class();
    let flag = flag_for(r, route, class, now);
    let forced = canary(r, req);
    if forced == Some(Mode::Off) {
        return Gate::Legacy(Reason::CanaryLegacy);
    }
    // When who is asking cannot change the answer, `off` costs nothing: the request is not evaluated.
    let subject_matters = flag.needs_subject() || !r.allow.subjects.is_empty() || !r.deny.subjects.is_empty();
    let deployment = c.deployment.map_or("", |(_, d)| d.id());
    if forced.is_none() && !subject_matters && choose(r, flag, deployment, None) == Mode::Off {
        return Gate::Legacy(Reason::RolloutOff);
    }
    Gate::Evaluate { flag, forced }
}

/// What to do with an evaluated request: the canary's choice, else the flag's for this subject.
pub fn mode(r: &Rollout, flag: &Flag, forced: Option<Mode>, deployment: &str, subject: Option<&str>) -> Mode {
    forced.unwrap_or_else(|| choose(r, flag, deployment, subject))
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

/// `deployment`: the id of the deployment the request is for.
pub fn choose(r: &Rollout, flag: &Flag, deployment: &str, subject: Option<&str>) -> Mode {
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
pub fn predict(d: &Decision) -> Predicted {
    match d {
        Decision::Allow(_) | Decision::Pass(_) => Predicted { outcome: Outcome::Allow, status: 200 },
        // A call is made only for a session that exists (refresh) or a sign-in in progress (callback).
        Decision::Call(_) | Decision::ReadBody(_) => Predicted { outcome: Outcome::Allow, status: 200 },
        Decision::Reply(r) if r.status >= 400 || r.verdict.reason == Reason::LoginRedirect => {
            Predicted { outcome: Outcome::Deny, status: r.status }
        }
        Decision::Reply(r) => Predicted { outcome: Outcome::Allow, status: r.status },
    }
}
