//! The one function that turns a core `Decision` into host calls.

use gatehouse::Decision;
use proxy_wasm::types::Action;

use crate::host::{self, ERROR, INFO, REQUEST_HEADERS};
use crate::root::log;

pub enum Applied {
    /// Continue upstream; add these headers to the response and drop these cookies from it.
    Continue(Vec<(String, String)>, &'static [&'static str]),
    /// A local reply was sent (or sending failed): the request stays paused.
    Stop,
}

/// `present` names the request's headers: a header to remove that is not there costs no host call.
pub fn apply(decision: &Decision<'_>, method: &str, present: &[String]) -> Applied {
    match decision {
        // Calls and passes are handled by the HTTP context before anything reaches here.
        Decision::Call(_) | Decision::Pass(_) => {
            local_error(500, "internal");
            Applied::Stop
        }
        Decision::Allow(allow) => {
            for name in &allow.remove_headers {
                if !present.iter().any(|p| p.eq_ignore_ascii_case(name)) {
                    continue;
                }
                if let Err(status) = host::remove_header(REQUEST_HEADERS, name) {
                    // A header we could not strip might reach the upstream forged: fail closed.
                    log(ERROR, &format!("cannot remove header {name}: host status {status}"));
                    local_error(500, "internal");
                    return Applied::Stop;
                }
            }
            for (name, value) in &allow.set_headers {
                if let Err(status) = host::replace_header(REQUEST_HEADERS, name, value) {
                    log(ERROR, &format!("cannot set header {name}: host status {status}"));
                    local_error(500, "internal");
                    return Applied::Stop;
                }
            }
            Applied::Continue(allow.response_headers.clone(), allow.drop_set_cookies)
        }
        Decision::Reply(reply) => {
            let v = &reply.verdict;
            // One line per refusal with a stable reason code; never the token, cookie or any header value.
            // Redirects and sign-in pages are part of the flow, not refusals.
            let word = if reply.status < 400 { "reply" } else { "deny" };
            log(
                INFO,
                &format!(
                    "{word} status={} reason={} route={} class={} issuer={} method={method}",
                    reply.status,
                    v.reason,
                    v.route.as_deref().unwrap_or("-"),
                    v.class,
                    v.issuer.as_deref().unwrap_or("-"),
                ),
            );
            let headers: Vec<(&str, &str)> = reply.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let body = if method == "HEAD" { &[][..] } else { reply.body.as_bytes() };
            if let Err(status) = host::send_local_response(u32::from(reply.status), &headers, body) {
                log(ERROR, &format!("cannot send local reply: host status {status}"));
            }
            Applied::Stop
        }
    }
}

/// A reply for failures of the glue itself (no config, no clock, unreadable headers).
pub fn local_error(status: u32, error: &str) -> Action {
    let body = format!("{{\"error\":\"{error}\"}}\n");
    let _ = host::send_local_response(
        status,
        &[("content-type", "application/json"), ("cache-control", "no-store")],
        body.as_bytes(),
    );
    Action::Pause
}
