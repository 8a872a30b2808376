//! Shadow mode's other half: the legacy path answered; did it agree with what the new path would have done?

use std::collections::HashSet;

use super::effect::{Level, Outbox};
use crate::decision::{Outcome, Pass};
use crate::metrics;
use crate::policy::host::normalize_host;

/// What the legacy path's answer means for access: 401 and 403 refuse, and so does a redirect to another
/// site (a sign-in page at the identity provider); anything else let the request through. `authority` is
/// the request's, normalized.
pub fn legacy_outcome(status: u16, location: Option<&str>, authority: &str) -> Outcome {
    if status == 401 || status == 403 {
        return Outcome::Deny;
    }
    if (300..400).contains(&status) {
        if let Some(loc) = location {
            let rest =
                loc.strip_prefix("https://").or_else(|| loc.strip_prefix("http://")).or_else(|| loc.strip_prefix("//"));
            if let Some(rest) = rest {
                let host = normalize_host(rest.split(['/', '?', '#']).next().unwrap_or(""));
                if host != authority {
                    return Outcome::Deny;
                }
            }
        }
    }
    Outcome::Allow
}

/// Mismatch kinds already logged by this VM: each is logged once (bounded: after 1,000, never again).
#[derive(Debug, Default)]
pub struct Logged(HashSet<String>);

impl Logged {
    fn first_time(&mut self, key: String) -> bool {
        self.0.len() < 1000 && self.0.insert(key)
    }
}

/// Compares, counts by route class and reason, and logs each kind of mismatch once per VM with codes only
/// (no header values, no tokens).
pub fn compare(out: &mut Outbox, logged: &mut Logged, pass: &Pass, status: u16, location: Option<&str>) {
    let Some(predicted) = pass.shadow else { return };
    let verdict = &pass.verdict;
    let legacy = legacy_outcome(status, location, &normalize_host(&pass.authority));
    let class = &verdict.class;
    if legacy == predicted.outcome {
        out.count(metrics::SHADOW_AGREEMENTS.stat(&[class]));
        return;
    }
    let kind = match predicted.outcome {
        Outcome::Allow => "new_allows_legacy_denies",
        Outcome::Deny => "new_denies_legacy_allows",
    };
    let reason = verdict.reason.code();
    out.count(metrics::SHADOW_MISMATCHES.stat(&[class, kind, reason]));
    if logged.first_time(format!("{class}.{kind}.{reason}")) {
        out.log(
            Level::Info,
            format!(
                "shadow mismatch class={class} route={} reason={reason} kind={kind} new_status={} legacy_status={status} (logged once per kind)",
                verdict.route.as_deref().unwrap_or("-"),
                predicted.status,
            ),
        );
    }
}
