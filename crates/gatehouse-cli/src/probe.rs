//! `gatehouse probe`: checks a running deployment from the outside, the way its users reach it: the public
//! route answers, a Direct Access Token gets through while a request without one is refused with a Bearer
//! challenge, a browser without a session is sent to sign in (PKCE S256) while an API call gets 401, and,
//! optionally, the legacy path behind a canary header answers. Plain HTTP only (no TLS), no redirects
//! followed, no proxy from the environment. The token and the canary value come from the environment or a
//! file, never from the command line, and are never printed.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gatehouse::secret::{Credential, Secret};
use serde_json::{json, Value};

pub const USAGE: &str = "usage:
  gatehouse probe --url http://HOST:PORT [--host HOSTNAME] [--timeout-ms 3000] [--format text|json|prometheus]
      [--public PATH] [--api PATH (--token-env VAR | --token-file FILE)] [--session PATH]
      [--legacy-header NAME --legacy-value-env VAR]
      Check a running deployment end to end. Each check runs only when its flag is given; at least one of
      --public, --api, --session is required. Checks:
        public            --public PATH answers 2xx
        api               --api PATH with the Direct Access Token answers 2xx
        api_enforced      --api PATH without a token answers 401 with WWW-Authenticate: Bearer
        legacy            --api PATH with the token and the canary header NAME: <value of VAR> answers 2xx
        session_redirect  --session PATH with Accept: text/html and no cookie answers 302 to the provider's
                          authorize endpoint (code_challenge_method=S256, code_challenge, state)
        session_api       --session PATH with Accept: application/json and no cookie answers 401
      The token is read from the environment variable VAR or from FILE (surrounding whitespace trimmed), the
      canary value from VAR; neither is ever printed. --host sets the Host header (default: from --url).
      Plain HTTP only: this build has no TLS, so probe the gateway's HTTP listener (e.g. from inside the
      cluster). Redirects are never followed; proxy settings in the environment are ignored.
      Each check reports name, ok, HTTP status, latency and, on failure, a reason code: status_<code>,
      not_enforcing, no_bearer_challenge, no_redirect, not_sign_in_redirect, connect_refused, timeout,
      connection_reset, dns_failure, connect_failed, protocol_error, io_error, request_error.
      Exit status: 0 all checks ok, 1 a check failed, 2 usage error.";

/// Options that take a value; nothing else is accepted.
const VALUE_FLAGS: &[&str] = &[
    "--url",
    "--host",
    "--public",
    "--api",
    "--token-env",
    "--token-file",
    "--session",
    "--legacy-header",
    "--legacy-value-env",
    "--timeout-ms",
    "--format",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Prometheus,
}

#[derive(Debug)]
struct Api {
    path: String,
    token: Credential,
    /// The canary override header: (name, value).
    legacy: Option<(String, Secret)>,
}

#[derive(Debug)]
struct Options {
    /// `http://authority[/prefix]`, no trailing slash.
    base: String,
    host: Option<String>,
    public: Option<String>,
    api: Option<Api>,
    session: Option<String>,
    timeout: Duration,
    format: Format,
}

/// One check's result. `status` is `None` when no response came.
#[derive(Debug)]
struct Check {
    name: &'static str,
    ok: bool,
    status: Option<u16>,
    latency: Duration,
    reason: Option<String>,
}

pub fn run(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let env = |name: &str| std::env::var(name).ok();
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"));
    let options = match Options::parse(args, &env, &read) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("gatehouse probe: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let checks = probe(&options);
    let out = match options.format {
        Format::Text => text(&checks),
        Format::Json => json_report(&options, &checks),
        Format::Prometheus => prometheus(&checks),
    };
    print!("{out}");
    if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

impl Options {
    fn parse(
        args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
        read: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Options, String> {
        let mut values: Vec<(&str, String)> = Vec::new();
        let mut rest = args.iter().enumerate();
        while let Some((i, arg)) = rest.next() {
            // Never echo what follows an unknown option or a stray argument: it could be a secret.
            let Some(name) = VALUE_FLAGS.iter().copied().find(|f| f == arg) else {
                return Err(if arg.starts_with('-') {
                    let name = arg.split('=').next().unwrap_or_default();
                    let hint = if name.contains("token") || name.contains("value") {
                        " (secrets are read only from --token-env VAR, --token-file FILE or \
                         --legacy-value-env VAR, never from the command line)"
                    } else {
                        ""
                    };
                    format!("unknown option {name}{hint}")
                } else {
                    format!("unexpected argument #{} (every option takes the form --name VALUE)", i + 1)
                });
            };
            let Some((_, value)) = rest.next() else { return Err(format!("{name} needs a value")) };
            if values.iter().any(|(n, _)| *n == name) {
                return Err(format!("{name} given twice"));
            }
            values.push((name, value.clone()));
        }
        let get = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());

        let base = base_url(&get("--url").ok_or("--url is required")?)?;
        let host = get("--host").map(|h| check_host(&h)).transpose()?;
        let public = get("--public").map(|p| check_path("--public", p)).transpose()?;
        let session = get("--session").map(|p| check_path("--session", p)).transpose()?;
        let timeout = match get("--timeout-ms") {
            None => Duration::from_millis(3000),
            Some(t) => match t.parse::<u64>() {
                Ok(ms) if (1..=600_000).contains(&ms) => Duration::from_millis(ms),
                _ => return Err("--timeout-ms must be a number of milliseconds from 1 to 600000".into()),
            },
        };
        let format = match get("--format").as_deref() {
            None | Some("text") => Format::Text,
            Some("json") => Format::Json,
            Some("prometheus") => Format::Prometheus,
            Some(other) => return Err(format!("unknown --format {other:?}; expected text, json or prometheus")),
        };

        let api = match get("--api") {
            None => {
                for needs_api in ["--token-env", "--token-file", "--legacy-header", "--legacy-value-env"] {
                    if get(needs_api).is_some() {
                        return Err(format!("{needs_api} needs --api PATH"));
                    }
                }
                None
            }
            Some(path) => {
                let path = check_path("--api", path)?;
                let (token, source) = match (get("--token-env"), get("--token-file")) {
                    (Some(var), None) => {
                        (env(&var).ok_or(format!("environment variable {var} is not set"))?, format!("${var}"))
                    }
                    (None, Some(file)) => (read(&file)?, file),
                    (None, None) => return Err("--api needs --token-env VAR or --token-file FILE".into()),
                    (Some(_), Some(_)) => return Err("give either --token-env or --token-file, not both".into()),
                };
                let token = token.trim().to_owned();
                if token.is_empty() {
                    return Err(format!("the token in {source} is empty"));
                }
                if !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(format!("the token in {source} has characters a bearer token cannot have"));
                }
                let legacy = match (get("--legacy-header"), get("--legacy-value-env")) {
                    (None, None) => None,
                    (Some(name), Some(var)) => {
                        if name.is_empty() || !name.bytes().all(is_token_char) {
                            return Err("--legacy-header must be an HTTP header name".into());
                        }
                        let value = env(&var).ok_or(format!("environment variable {var} is not set"))?;
                        let value = value.trim().to_owned();
                        if value.is_empty() {
                            return Err(format!("environment variable {var} is empty"));
                        }
                        if !value.bytes().all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic()) {
                            return Err(format!("the value in {var} cannot go in a header"));
                        }
                        Some((name.to_ascii_lowercase(), Secret::new(value.into_bytes())))
                    }
                    (Some(_), None) => return Err("--legacy-header needs --legacy-value-env VAR".into()),
                    (None, Some(_)) => return Err("--legacy-value-env needs --legacy-header NAME".into()),
                };
                Some(Api { path, token: Credential::new(token), legacy })
            }
        };
        if public.is_none() && api.is_none() && session.is_none() {
            return Err("nothing to check: give at least one of --public, --api, --session".into());
        }
        Ok(Options { base, host, public, api, session, timeout, format })
    }
}

/// `http://authority[/prefix]` without a trailing slash; https, credentials, queries and fragments refused.
fn base_url(url: &str) -> Result<String, String> {
    if url.starts_with("https://") {
        return Err("--url: https is not supported (this build speaks plain HTTP only, without TLS); \
                    probe the gateway's HTTP listener"
            .into());
    }
    let rest = url.strip_prefix("http://").ok_or("--url must start with http://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err("--url must not carry credentials; use --token-env or --token-file".into());
    }
    if authority.is_empty() || rest.contains(['?', '#']) || !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("--url must look like http://host:port[/prefix]".into());
    }
    let base = format!("http://{}", rest.trim_end_matches('/'));
    base.parse::<ureq::http::Uri>().map_err(|_| "--url must look like http://host:port[/prefix]".to_string())?;
    Ok(base)
}

fn check_path(flag: &str, path: String) -> Result<String, String> {
    if path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic()) && !path.contains('#') {
        Ok(path)
    } else {
        Err(format!("{flag} must be a path starting with / (no spaces or fragment)"))
    }
}

fn check_host(host: &str) -> Result<String, String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_');
    if !host.is_empty() && host.bytes().all(allowed) {
        Ok(host.to_owned())
    } else {
        Err("--host must be a host name (optionally with :port)".into())
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What the checks need from an answer.
struct Reply {
    status: u16,
    location: Option<String>,
    www_authenticate: Option<String>,
}

struct Client<'a> {
    agent: ureq::Agent,
    options: &'a Options,
}

impl Client<'_> {
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (Duration, Result<Reply, &'static str>) {
        let mut request = self.agent.get(format!("{}{path}", self.options.base));
        if let Some(host) = &self.options.host {
            request = request.header("host", host);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let start = Instant::now();
        let result = request.call();
        let latency = start.elapsed();
        let result = result.map_err(|e| transport_reason(&e)).map(|mut response| {
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let reply = Reply {
                status: response.status().as_u16(),
                location: header("location"),
                www_authenticate: header("www-authenticate"),
            };
            // Drain a small body so the connection can be reused; what it says does not matter.
            let _ = response.body_mut().with_config().limit(64 * 1024).read_to_vec();
            reply
        });
        (latency, result)
    }
}

fn transport_reason(error: &ureq::Error) -> &'static str {
    use std::io::ErrorKind;
    match error {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::Io(e) => match e.kind() {
            ErrorKind::ConnectionRefused => "connect_refused",
            ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout",
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => "connection_reset",
            _ => "io_error",
        },
        ureq::Error::HostNotFound => "dns_failure",
        ureq::Error::ConnectionFailed => "connect_failed",
        ureq::Error::Protocol(_) => "protocol_error",
        _ => "request_error",
    }
}

/// Runs one request and judges its answer: `Ok(())` or a reason code.
fn check(
    client: &Client,
    name: &'static str,
    path: &str,
    headers: &[(&str, &str)],
    judge: impl Fn(&Reply) -> Result<(), String>,
) -> Check {
    let (latency, result) = client.get(path, headers);
    match result {
        Ok(reply) => {
            let verdict = judge(&reply);
            Check { name, ok: verdict.is_ok(), status: Some(reply.status), latency, reason: verdict.err() }
        }
        Err(reason) => Check { name, ok: false, status: None, latency, reason: Some(reason.to_owned()) },
    }
}

fn status_reason(status: u16) -> String {
    format!("status_{status}")
}

fn success(reply: &Reply) -> Result<(), String> {
    if (200..300).contains(&reply.status) {
        Ok(())
    } else {
        Err(status_reason(reply.status))
    }
}

/// A request without a credential: 401 with a Bearer challenge proves the filter is enforcing.
fn bearer_challenge(reply: &Reply) -> Result<(), String> {
    match reply.status {
        401 => {
            let scheme = reply.www_authenticate.as_deref().and_then(|v| v.split_whitespace().next());
            if scheme.is_some_and(|s| s.eq_ignore_ascii_case("bearer")) {
                Ok(())
            } else {
                Err("no_bearer_challenge".into())
            }
        }
        200..=299 => Err("not_enforcing".into()),
        other => Err(status_reason(other)),
    }
}

/// A browser navigation without a session: 302 to the provider's authorize endpoint with PKCE S256.
fn sign_in_redirect(reply: &Reply) -> Result<(), String> {
    match reply.status {
        302 => match reply.location.as_deref() {
            None => Err("no_redirect".into()),
            Some(location) if is_sign_in_location(location) => Ok(()),
            Some(_) => Err("not_sign_in_redirect".into()),
        },
        200..=299 => Err("not_enforcing".into()),
        500..=599 => Err(status_reason(reply.status)),
        _ => Err("no_redirect".into()),
    }
}

/// An absolute URL whose query is an OAuth authorization request with PKCE S256 and a state.
fn is_sign_in_location(location: &str) -> bool {
    if !(location.starts_with("https://") || location.starts_with("http://")) {
        return false;
    }
    let without_fragment = location.split('#').next().unwrap_or_default();
    let Some((_, query)) = without_fragment.split_once('?') else { return false };
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    param("response_type") == Some("code")
        && param("code_challenge_method") == Some("S256")
        && param("code_challenge").is_some_and(|v| !v.is_empty())
        && param("state").is_some_and(|v| !v.is_empty())
}

/// An API call without a session: 401, never a redirect.
fn unauthorized(reply: &Reply) -> Result<(), String> {
    match reply.status {
        401 => Ok(()),
        200..=299 => Err("not_enforcing".into()),
        other => Err(status_reason(other)),
    }
}

fn probe(options: &Options) -> Vec<Check> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(options.timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(concat!("gatehouse-probe/", env!("CARGO_PKG_VERSION")))
        .build();
    let client = Client { agent: config.into(), options };
    const JSON: (&str, &str) = ("accept", "application/json");
    let mut checks = Vec::new();
    if let Some(path) = &options.public {
        checks.push(check(&client, "public", path, &[], success));
    }
    if let Some(api) = &options.api {
        let bearer = format!("Bearer {}", api.token.expose());
        let authorization = ("authorization", bearer.as_str());
        checks.push(check(&client, "api", &api.path, &[JSON, authorization], success));
        checks.push(check(&client, "api_enforced", &api.path, &[JSON], bearer_challenge));
        if let Some((name, value)) = &api.legacy {
            let value = std::str::from_utf8(value.expose()).unwrap_or_default();
            let canary = (name.as_str(), value);
            checks.push(check(&client, "legacy", &api.path, &[JSON, authorization, canary], success));
        }
    }
    if let Some(path) = &options.session {
        checks.push(check(&client, "session_redirect", path, &[("accept", "text/html")], sign_in_redirect));
        checks.push(check(&client, "session_api", path, &[JSON], unauthorized));
    }
    checks
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn text(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let status = c.status.map_or("-".to_string(), |s| s.to_string());
        let mark = if c.ok { "ok" } else { "FAIL" };
        let line = format!(
            "{mark:<5} {:<17} {status:>3} {:>9.1} ms  {}",
            c.name,
            millis(c.latency),
            c.reason.as_deref().unwrap_or_default()
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    if failed.is_empty() {
        let _ = writeln!(out, "probe ok: all {} checks passed", checks.len());
    } else {
        let _ =
            writeln!(out, "probe FAILED: {} of {} checks failed ({})", failed.len(), checks.len(), failed.join(", "));
    }
    out
}

fn json_report(options: &Options, checks: &[Check]) -> String {
    let items: Vec<Value> = checks
        .iter()
        .map(|c| {
            json!({"name": c.name, "ok": c.ok, "status": c.status, "latency_ms": millis(c.latency),
                   "reason": c.reason})
        })
        .collect();
    let report = json!({"ok": checks.iter().all(|c| c.ok), "url": options.base, "checks": items});
    format!("{report}\n")
}

/// Prometheus text exposition (one family per metric, HELP and TYPE first). Check names and reasons come
/// from fixed sets of `[a-z0-9_]`, so label values need no escaping.
fn prometheus(checks: &[Check]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, sample: &dyn Fn(&Check) -> Option<String>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for c in checks {
            if let Some(line) = sample(c) {
                let _ = writeln!(out, "{name}{line}");
            }
        }
    };
    family("gatehouse_probe_up", "1 if the check passed, 0 if it failed.", &|c| {
        Some(format!("{{check=\"{}\"}} {}", c.name, u8::from(c.ok)))
    });
    family("gatehouse_probe_latency_seconds", "Time from sending the check's request to its response.", &|c| {
        Some(format!("{{check=\"{}\"}} {:.6}", c.name, c.latency.as_secs_f64()))
    });
    family("gatehouse_probe_status", "HTTP status of the check's response (0: no response).", &|c| {
        Some(format!("{{check=\"{}\"}} {}", c.name, c.status.unwrap_or(0)))
    });
    family("gatehouse_probe_failure", "Present with value 1 for each failed check, labelled with its reason.", &|c| {
        c.reason.as_ref().map(|r| format!("{{check=\"{}\",reason=\"{r}\"}} 1", c.name))
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.e30.c2lnbmF0dXJl";

    fn parse(args: &[&str]) -> Result<Options, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let env = |name: &str| match name {
            "PROBE_TOKEN" => Some(format!("{TOKEN}\n")),
            "CANARY" => Some("canary-secret-value".to_string()),
            "EMPTY" => Some("  ".to_string()),
            _ => None,
        };
        let read = |path: &str| if path == "token.txt" { Ok(TOKEN.to_string()) } else { Err("cannot read".into()) };
        Options::parse(&args, &env, &read)
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
        assert_eq!(o.host.as_deref(), Some("airflow.example.com"));
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
            (vec!["--url", "http://gw", "--public", "/", "--format", "xml"], "unknown --format"),
            (vec!["--url", "http://gw", "--public", "/", "--public", "/x"], "given twice"),
            (vec!["--url", "http://gw", "--public"], "--public needs a value"),
        ] {
            let err = parse(&args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
        let err = parse(&["--url", "http://gw", "--token", TOKEN]).unwrap_err();
        assert!(err.contains("unknown option --token") && !err.contains("eyJ"), "{err}");
        let err = parse(&["--url", "http://gw", &format!("--token={TOKEN}")]).unwrap_err();
        assert!(!err.contains("eyJ"), "{err}");
        let err = parse(&["--url", "http://gw", TOKEN]).unwrap_err();
        assert!(err.contains("unexpected argument #3") && !err.contains("eyJ"), "{err}");
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
            Check { name: "public", ok: true, status: Some(200), latency: Duration::from_micros(1234), reason: None },
            Check {
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
}
