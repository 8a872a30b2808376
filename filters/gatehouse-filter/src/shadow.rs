//! Shadow mode's other half: the legacy path answered; did it agree with what the new path would have done?

use gatehouse::policy::host::normalize_host;
use gatehouse::{Outcome, Predicted, Verdict};

use crate::host::{self, INFO, RESPONSE_HEADERS};
use crate::metrics::Metrics;
use crate::root::log;

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

/// Reads the response status, compares, counts by route class and reason, and logs each kind of mismatch
/// once per VM with codes only (no header values, no tokens). `authority` is the request's, as sent.
pub fn compare(metrics: &mut Metrics, predicted: Predicted, verdict: &Verdict, authority: &str) {
    let pairs = host::header_pairs(RESPONSE_HEADERS).unwrap_or_default();
    let value = |name: &str| {
        pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let status: u16 = value(":status").and_then(|s| s.parse().ok()).unwrap_or(0);
    let legacy = legacy_outcome(status, value("location").as_deref(), &normalize_host(authority));
    let class = &verdict.class;
    if legacy == predicted.outcome {
        metrics.count(&format!("gatehouse.shadow.{class}.agree"));
        return;
    }
    let kind = match predicted.outcome {
        Outcome::Allow => "new_allows_legacy_denies",
        Outcome::Deny => "new_denies_legacy_allows",
    };
    metrics.count(&format!("gatehouse.shadow.{class}.mismatch.{kind}.{}", verdict.reason));
    if metrics.first_time(&format!("{class}.{kind}.{}", verdict.reason)) {
        log(
            INFO,
            &format!(
                "shadow mismatch class={class} route={} reason={} kind={kind} new_status={} legacy_status={status} (logged once per kind)",
                verdict.route.as_deref().unwrap_or("-"),
                verdict.reason,
                predicted.status,
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::legacy_outcome;
    use gatehouse::Outcome;

    #[test]
    fn refusals_and_off_site_redirects_count_as_the_legacy_path_denying() {
        assert_eq!(legacy_outcome(401, None, "a.test"), Outcome::Deny);
        assert_eq!(legacy_outcome(403, None, "a.test"), Outcome::Deny);
        assert_eq!(legacy_outcome(302, Some("https://idp.test/authorize?x"), "a.test"), Outcome::Deny);
        assert_eq!(legacy_outcome(302, Some("//idp.test/login"), "a.test"), Outcome::Deny);
        assert_eq!(legacy_outcome(302, Some("/home"), "a.test"), Outcome::Allow);
        assert_eq!(legacy_outcome(302, Some("https://A.test/home"), "a.test"), Outcome::Allow);
        assert_eq!(legacy_outcome(200, None, "a.test"), Outcome::Allow);
        assert_eq!(legacy_outcome(404, None, "a.test"), Outcome::Allow);
    }
}
