//! The three outputs: text for people, JSON for scripts, Prometheus text for a scrape or a push.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use super::checks::Check;
use super::options::Options;

pub(super) fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub(super) fn text(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let status = c.status.map_or("-".to_string(), |s| s.to_string());
        let mark = if c.ok { "ok" } else { "FAIL" };
        let name = match &c.deployment {
            Some(d) => format!("{d}/{}", c.name),
            None => c.name.to_owned(),
        };
        let line = format!(
            "{mark:<5} {name:<17} {status:>3} {:>9.1} ms  {}",
            millis(c.latency),
            c.reason.as_deref().unwrap_or_default()
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.deployment.as_ref().map_or_else(|| c.name.to_owned(), |d| format!("{d}/{}", c.name)))
        .collect();
    if failed.is_empty() {
        let _ = writeln!(out, "probe ok: all {} checks passed", checks.len());
    } else {
        let _ =
            writeln!(out, "probe FAILED: {} of {} checks failed ({})", failed.len(), checks.len(), failed.join(", "));
    }
    out
}

pub(super) fn json_report(options: &Options, checks: &[Check]) -> String {
    let items: Vec<Value> = checks
        .iter()
        .map(|c| {
            let mut v = json!({"name": c.name, "ok": c.ok, "status": c.status, "latency_ms": millis(c.latency),
                               "reason": c.reason});
            if let (Some(d), Some(o)) = (&c.deployment, v.as_object_mut()) {
                o.insert("deployment".into(), json!(d));
            }
            v
        })
        .collect();
    let report = json!({"ok": checks.iter().all(|c| c.ok), "url": options.base, "checks": items});
    format!("{report}\n")
}

/// Prometheus text exposition (one family per metric, HELP and TYPE first). Check names and reasons come
/// from fixed sets of `[a-z0-9_]` and deployment ids are `[A-Za-z0-9_-]`, so label values need no escaping.
pub(super) fn prometheus(checks: &[Check]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, sample: &dyn Fn(&Check) -> Option<String>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for c in checks {
            if let Some(line) = sample(c) {
                let _ = writeln!(out, "{name}{line}");
            }
        }
    };
    let labels = |c: &Check| match &c.deployment {
        Some(d) => format!("check=\"{}\",deployment=\"{d}\"", c.name),
        None => format!("check=\"{}\"", c.name),
    };
    family("gatehouse_probe_up", "1 if the check passed, 0 if it failed.", &|c| {
        Some(format!("{{{}}} {}", labels(c), u8::from(c.ok)))
    });
    family("gatehouse_probe_latency_seconds", "Time from sending the check's request to its response.", &|c| {
        Some(format!("{{{}}} {:.6}", labels(c), c.latency.as_secs_f64()))
    });
    family("gatehouse_probe_status", "HTTP status of the check's response (0: no response).", &|c| {
        Some(format!("{{{}}} {}", labels(c), c.status.unwrap_or(0)))
    });
    family("gatehouse_probe_failure", "Present with value 1 for each failed check, labelled with its reason.", &|c| {
        c.reason.as_ref().map(|r| format!("{{{},reason=\"{r}\"}} 1", labels(c)))
    });
    let all_ok = checks.iter().all(|c| c.ok);
    let _ = writeln!(
        out,
        "# HELP gatehouse_probe_success 1 if every check passed.\n# TYPE gatehouse_probe_success gauge\n\
         gatehouse_probe_success {}",
        u8::from(all_ok)
    );
    out
}
