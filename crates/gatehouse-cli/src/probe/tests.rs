//! The probe's own tests: option parsing, judging answers, the report formats.

use super::checks::*;
use super::client::*;
use super::options::*;
use super::report::*;
use clap::Parser;
use std::time::Duration;

const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.e30.c2lnbmF0dXJl";

/// Parses as the command does: the grammar first (its errors rendered as the user sees them), then the
/// options' meaning.
fn parse(args: &[&str]) -> Result<Options, String> {
    let argv: Vec<String> = ["gatehouse", "probe"].iter().chain(args).map(|a| a.to_string()).collect();
    let probe = match crate::cli::Cli::try_parse_from(&argv) {
        Ok(crate::cli::Cli { command: crate::cli::Command::Probe(p) }) => p,
        Ok(other) => panic!("not a probe: {other:?}"),
        Err(e) => return Err(crate::cli::render(&e, &argv)),
    };
    let env = |name: &str| match name {
        "PROBE_TOKEN" => Some(format!("{TOKEN}\n")),
        "CANARY" => Some("canary-secret-value".to_string()),
        "EMPTY" => Some("  ".to_string()),
        _ => None,
    };
    let read = |path: &str| if path == "token.txt" { Ok(TOKEN.to_string()) } else { Err("cannot read".into()) };
    Options::parse(&probe, &env, &read)
}

#[test]
fn a_full_command_line_parses() {
    let o = parse(&[
        "--url",
        "http://127.0.0.1:10000/",
        "--host",
        "airflow.example.com",
        "--public",
        "/health",
        "--api",
        "/api/v2/dags",
        "--token-env",
        "PROBE_TOKEN",
        "--session",
        "/ui/",
        "--legacy-header",
        "X-Gatehouse-Canary",
        "--legacy-value-env",
        "CANARY",
        "--timeout-ms",
        "500",
        "--format",
        "prometheus",
    ])
    .unwrap();
    assert_eq!(o.base, "http://127.0.0.1:10000");
    assert_eq!(o.targets[0].host.as_deref(), Some("airflow.example.com"));
    let api = o.api.as_ref().unwrap();
    assert_eq!(api.token.expose(), TOKEN, "the trailing newline is trimmed");
    assert_eq!(api.legacy.as_ref().unwrap().0, "x-gatehouse-canary");
    assert_eq!((o.timeout, o.format), (Duration::from_millis(500), Format::Prometheus));
    let printed = format!("{o:?}");
    assert!(!printed.contains("eyJ") && !printed.contains("canary-secret"), "{printed}");
    assert!(parse(&["--url", "http://gw", "--api", "/a", "--token-file", "token.txt"]).is_ok());
}

#[test]
fn usage_errors_are_clear_and_never_echo_what_could_be_a_secret() {
    for (args, expected) in [
        (vec!["--url", "http://gw"], "nothing to check"),
        (vec!["--public", "/health"], "--url is required"),
        (vec!["--url", "https://gw", "--public", "/"], "https is not supported"),
        (vec!["--url", "http://u:p@gw", "--public", "/"], "must not carry credentials"),
        (vec!["--url", "http://gw", "--api", "/a"], "--token-env VAR or --token-file"),
        (vec!["--url", "http://gw", "--api", "/a", "--token-env", "UNSET"], "UNSET is not set"),
        (vec!["--url", "http://gw", "--api", "/a", "--token-env", "EMPTY"], "is empty"),
        (vec!["--url", "http://gw", "--public", "/", "--token-env", "PROBE_TOKEN"], "needs --api"),
        (
            vec!["--url", "http://gw", "--api", "/a", "--token-env", "PROBE_TOKEN", "--legacy-header", "x"],
            "needs --legacy-value-env",
        ),
        (vec!["--url", "http://gw", "--public", "health"], "starting with /"),
        (vec!["--url", "http://gw", "--public", "/", "--format", "xml"], "invalid value 'xml' for '--format"),
        (vec!["--url", "http://gw", "--public", "/", "--public", "/x"], "cannot be used multiple times"),
        (vec!["--url", "http://gw", "--public"], "a value is required for '--public <PATH>'"),
        (vec!["--url", "http://gw", "--public", "/", "--timeout-ms", "0"], "0 is not in 1..=600000"),
        (vec!["--url", "http://gw", "--pubilc", "/"], "tip: a similar argument exists: '--public'"),
    ] {
        let err = parse(&args).unwrap_err();
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let err = parse(&["--url", "http://gw", "--token", TOKEN]).unwrap_err();
    assert!(err.contains("unexpected argument '--token'") && !err.contains("eyJ"), "{err}");
    assert!(err.contains("never from the command line"), "{err}");
    let err = parse(&["--url", "http://gw", &format!("--token={TOKEN}")]).unwrap_err();
    assert!(!err.contains("eyJ"), "{err}");
    let err = parse(&["--url", "http://gw", TOKEN]).unwrap_err();
    assert!(err.contains("#4 (not shown") && !err.contains("eyJ"), "{err}");
}

fn reply(status: u16, location: Option<&str>, challenge: Option<&str>) -> Reply {
    Reply { status, location: location.map(String::from), www_authenticate: challenge.map(String::from) }
}

#[test]
fn answers_are_judged_with_reason_codes() {
    assert_eq!(success(&reply(204, None, None)), Ok(()));
    assert_eq!(success(&reply(503, None, None)), Err("status_503".into()));
    assert_eq!(bearer_challenge(&reply(401, None, Some("Bearer realm=\"x\""))), Ok(()));
    assert_eq!(bearer_challenge(&reply(401, None, Some("Basic realm=\"x\""))), Err("no_bearer_challenge".into()));
    assert_eq!(bearer_challenge(&reply(200, None, None)), Err("not_enforcing".into()));
    assert_eq!(bearer_challenge(&reply(403, None, None)), Err("status_403".into()));
    let good = "https://idp.test/authorize?response_type=code&client_id=c&state=abc&code_challenge=xyz\
                &code_challenge_method=S256&nonce=n";
    assert_eq!(sign_in_redirect(&reply(302, Some(good), None)), Ok(()));
    let plain = good.replace("S256", "plain");
    assert_eq!(sign_in_redirect(&reply(302, Some(&plain), None)), Err("not_sign_in_redirect".into()));
    let stateless = good.replace("state=abc", "state=");
    assert_eq!(sign_in_redirect(&reply(302, Some(&stateless), None)), Err("not_sign_in_redirect".into()));
    assert_eq!(sign_in_redirect(&reply(302, Some("/login?next=/"), None)), Err("not_sign_in_redirect".into()));
    assert_eq!(sign_in_redirect(&reply(302, None, None)), Err("no_redirect".into()));
    assert_eq!(sign_in_redirect(&reply(401, None, None)), Err("no_redirect".into()));
    assert_eq!(sign_in_redirect(&reply(200, None, None)), Err("not_enforcing".into()));
    assert_eq!(sign_in_redirect(&reply(503, None, None)), Err("status_503".into()));
    assert_eq!(unauthorized(&reply(401, None, None)), Ok(()));
    assert_eq!(unauthorized(&reply(302, Some(good), None)), Err("status_302".into()));
}

#[test]
fn reports_in_every_format() {
    let checks = vec![
        Check {
            deployment: None,
            name: "public",
            ok: true,
            status: Some(200),
            latency: Duration::from_micros(1234),
            reason: None,
        },
        Check {
            deployment: None,
            name: "api",
            ok: false,
            status: None,
            latency: Duration::from_millis(2),
            reason: Some("connect_refused".into()),
        },
    ];
    let t = text(&checks);
    assert!(t.contains("ok    public") && t.contains("FAIL  api") && t.contains("connect_refused"), "{t}");
    assert!(t.ends_with("probe FAILED: 1 of 2 checks failed (api)\n"), "{t}");
    let p = prometheus(&checks);
    for line in [
        "# TYPE gatehouse_probe_up gauge",
        "gatehouse_probe_up{check=\"public\"} 1",
        "gatehouse_probe_up{check=\"api\"} 0",
        "gatehouse_probe_latency_seconds{check=\"public\"} 0.001234",
        "gatehouse_probe_status{check=\"public\"} 200",
        "gatehouse_probe_status{check=\"api\"} 0",
        "gatehouse_probe_failure{check=\"api\",reason=\"connect_refused\"} 1",
        "gatehouse_probe_success 0",
    ] {
        assert!(p.lines().any(|l| l == line), "{line} missing from\n{p}");
    }
}

#[test]
fn a_dataplane_is_probed_deployment_by_deployment_at_its_host_and_prefix() {
    let config = r#"{"deployments": [
        {"deployment_id": "dep-a", "hosts": ["cluster.example.com"], "path_prefix": "/dep-a"},
        {"deployment_id": "dep-b", "hosts": ["*.b.example.com", "b.example.com"]},
        {"deployment_id": "dep-w", "hosts": ["*.w.example.com"]}]}"#;
    let t = targets(config, "c.json", "dep-a", None).unwrap();
    assert_eq!(
        t,
        [Target {
            deployment: Some("dep-a".into()),
            host: Some("cluster.example.com".into()),
            prefix: "/dep-a".into()
        }]
    );
    let t = targets(config, "c.json", "dep-b", None).unwrap();
    assert_eq!((t[0].host.as_deref(), t[0].prefix.as_str()), (Some("b.example.com"), ""), "the first exact host");
    let err = targets(config, "c.json", "all", None).unwrap_err();
    assert!(err.contains("dep-w is reached only at wildcard hosts: give --host"), "{err}");
    let all = targets(config, "c.json", "all", Some("x.w.example.com")).unwrap();
    assert_eq!(all.len(), 3);
    assert!(targets(config, "c.json", "dep-zz", None).unwrap_err().contains("no deployment \"dep-zz\""));
    assert!(targets(r#"{"dataplane": {}}"#, "c.json", "all", None).unwrap_err().contains("no \"deployments\""));
    let bad = r#"{"deployments": [{"deployment_id": "dep\"}"}]}"#;
    assert!(targets(bad, "c.json", "all", None).is_err(), "an id that could break a report label");
}

#[test]
fn each_check_of_a_dataplane_is_labelled_with_its_deployment() {
    let c = Check {
        deployment: Some("dep-a".into()),
        name: "api",
        ok: false,
        status: Some(403),
        latency: Duration::from_millis(1),
        reason: Some("status_403".into()),
    };
    let p = prometheus(&[c]);
    assert!(p.contains("gatehouse_probe_up{check=\"api\",deployment=\"dep-a\"} 0"), "{p}");
    assert!(p.contains("gatehouse_probe_failure{check=\"api\",deployment=\"dep-a\",reason=\"status_403\"} 1"), "{p}");
}
