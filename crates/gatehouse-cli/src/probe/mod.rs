//! `gatehouse probe`: checks a running deployment from the outside, the way its users reach it: the public
//! route answers, a Direct Access Token gets through while a request without one is refused with a Bearer
//! challenge, a browser without a session is sent to sign in (PKCE S256) while an API call gets 401, and,
//! optionally, the legacy path behind a canary header answers. Plain HTTP only (no TLS), no redirects
//! followed, no proxy from the environment. The token and the canary value come from the environment or a
//! file, never from the command line, and are never printed.
mod checks;
mod client;
mod options;
mod report;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests;

use std::process::ExitCode;

use checks::{bearer_challenge, check, sign_in_redirect, success, unauthorized, Check};
use client::Client;

use crate::cli::ProbeArgs;
pub use options::CHECKS;
use options::{Format, Options};
use report::{json_report, prometheus, text};

pub fn run(args: &ProbeArgs) -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"));
    let options = match Options::parse(args, &env, &read) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}\n\nFor more information, try 'gatehouse probe --help'.");
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
    for t in &options.targets {
        if let Some(path) = &options.public {
            checks.push(check(&client, t, "public", path, &[], success));
        }
        if let Some(api) = &options.api {
            let bearer = format!("Bearer {}", api.token.expose());
            let authorization = ("authorization", bearer.as_str());
            checks.push(check(&client, t, "api", &api.path, &[JSON, authorization], success));
            checks.push(check(&client, t, "api_enforced", &api.path, &[JSON], bearer_challenge));
            if let Some((name, value)) = &api.legacy {
                let value = std::str::from_utf8(value.expose()).unwrap_or_default();
                let canary = (name.as_str(), value);
                checks.push(check(&client, t, "legacy", &api.path, &[JSON, authorization, canary], success));
            }
        }
        if let Some(path) = &options.session {
            checks.push(check(&client, t, "session_redirect", path, &[("accept", "text/html")], sign_in_redirect));
            checks.push(check(&client, t, "session_api", path, &[JSON], unauthorized));
        }
    }
    checks
}
