//! The metric table and the Envoy stats tags generated from it: what Prometheus users see.

use regex_lite::Regex;
use serde_json::{json, Value};

use crate::config::load_config;
use crate::metrics::{self, stats_config, Kind, FAMILIES};
use crate::testing::*;

const CHECKED_IN: &str = include_str!("../../envoy-config/stats-tags.json");

#[test]
fn the_checked_in_stats_tags_are_the_ones_the_metric_table_generates() {
    let checked_in: Value = serde_json::from_str(CHECKED_IN).expect("stats-tags.json is JSON");
    assert!(
        checked_in == stats_config(),
        "envoy-config/stats-tags.json is out of date: run `gatehouse stats-tags > envoy-config/stats-tags.json`"
    );
}

/// Envoy's tag extraction (source/common/stats/tag_extractor_impl.cc): every regex is matched against the
/// whole name; a match's first group is cut from the name, its second is the tag's value.
fn extract(name: &str) -> (String, Vec<(String, String)>) {
    let mut cut = vec![false; name.len()];
    let mut tags = Vec::new();
    for t in stats_config()["stats_tags"].as_array().unwrap() {
        let re = Regex::new(t["regex"].as_str().unwrap()).unwrap();
        if let Some(c) = re.captures(name) {
            let (whole, value) = (c.get(1).unwrap(), c.get(2).unwrap());
            cut[whole.start()..whole.end()].iter_mut().for_each(|b| *b = true);
            tags.push((t["tag_name"].as_str().unwrap().to_owned(), value.as_str().to_owned()));
        }
    }
    let kept = name.char_indices().filter(|(i, _)| !cut[*i]).map(|(_, ch)| ch).collect();
    (kept, tags)
}

#[test]
fn every_label_value_leaves_the_name_and_becomes_a_tag_and_nothing_else_does() {
    let samples = ["allow", "expired", "my-class", "x"];
    for f in FAMILIES {
        let values: Vec<&str> = (0..f.labels.len()).map(|i| samples[i % samples.len()]).collect();
        let stat = format!("wasmcustom.{}", f.stat(&values));
        let (name, tags) = extract(&stat);
        assert_eq!(name, format!("wasmcustom.gatehouse.{}", f.name), "{stat}");
        let want: Vec<(String, String)> =
            f.labels.iter().zip(&values).map(|(l, v)| (format!("gatehouse_{l}"), v.to_string())).collect();
        let mut tags = tags;
        tags.sort();
        let mut want = want;
        want.sort();
        assert_eq!(tags, want, "{stat}");
    }
}

#[test]
fn family_names_follow_the_prometheus_conventions() {
    for f in FAMILIES {
        assert_eq!(
            f.kind == Kind::Counter,
            f.name.ends_with("_total"),
            "{}: counters, and only they, end in _total",
            f.name
        );
        assert!(f.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{}", f.name);
        assert!(!f.help.is_empty());
        // No family's name is another's with a suffix: Envoy would merge their Prometheus lines.
        for g in FAMILIES {
            assert!(f.name == g.name || !g.name.starts_with(&format!("{}.", f.name)));
        }
    }
    assert_eq!(metrics::CACHE_TOKEN_HITS, metrics::CACHE_HITS.stat(&["tokens"]));
    assert_eq!(metrics::CACHE_TOKEN_MISSES, metrics::CACHE_MISSES.stat(&["tokens"]));
    assert_eq!(metrics::CACHE_SESSION_HITS, metrics::CACHE_HITS.stat(&["sessions"]));
    assert_eq!(metrics::CACHE_SESSION_MISSES, metrics::CACHE_MISSES.stat(&["sessions"]));
}

#[test]
fn route_classes_and_issuer_names_that_cannot_be_labels_are_refused_at_their_paths() {
    let mut v = config_json();
    v["routes"][0]["class"] = json!("ui.v2");
    v["issuers"][0]["name"] = json!("auth0 prod");
    let errors = match load_config(v.to_string().as_bytes(), &env) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    };
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let message = "must be letters, digits, '_' or '-' (it is a metric label)";
    assert!(lines.contains(&format!("$.routes[0].class: {message}")), "{lines:?}");
    assert!(lines.contains(&format!("$.issuers[0].name: {message}")), "{lines:?}");
}
