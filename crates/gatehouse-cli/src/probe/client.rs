//! A plain-HTTP client for the checks: one agent, no redirects followed, no proxy from the environment.

use std::time::{Duration, Instant};

use super::options::Options;

/// What the checks need from an answer.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) location: Option<String>,
    pub(super) www_authenticate: Option<String>,
}

pub(super) struct Client<'a> {
    pub(super) agent: ureq::Agent,
    pub(super) options: &'a Options,
}

impl Client<'_> {
    pub(super) fn get(
        &self,
        host: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (Duration, Result<Reply, &'static str>) {
        let mut request = self.agent.get(format!("{}{path}", self.options.base));
        if let Some(host) = host {
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

pub(super) fn transport_reason(error: &ureq::Error) -> &'static str {
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
