//! The one function that turns a core `Decision` into host calls.

use gatehouse::Decision;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, LogLevel, MapType};

use crate::root::log;

pub fn apply(decision: &Decision<'_>, method: &str) -> Action {
    match decision {
        Decision::Allow(allow) => {
            for name in &allow.remove_headers {
                if let Err(status) = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name)
                {
                    // A header we could not strip might reach the upstream forged: fail closed.
                    log(
                        LogLevel::Error,
                        &format!("cannot remove header {name}: {status:?}"),
                    );
                    return local_error(500);
                }
            }
            for (name, value) in &allow.set_headers {
                if let Err(status) =
                    hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                {
                    log(
                        LogLevel::Error,
                        &format!("cannot set header {name}: {status:?}"),
                    );
                    return local_error(500);
                }
            }
            Action::Continue
        }
        Decision::Reply(reply) => {
            let v = &reply.verdict;
            // One line per refusal with a stable reason code; never the token, cookie or any header value.
            log(
                LogLevel::Info,
                &format!(
                    "deny status={} reason={} route={} class={} issuer={} method={method}",
                    reply.status,
                    v.reason,
                    v.route.as_deref().unwrap_or("-"),
                    v.class,
                    v.issuer.as_deref().unwrap_or("-"),
                ),
            );
            let headers: Vec<(&str, &str)> = reply
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let body = if method == "HEAD" {
                None
            } else {
                Some(reply.body.as_bytes())
            };
            if let Err(status) =
                hostcalls::send_http_response(u32::from(reply.status), headers, body)
            {
                log(
                    LogLevel::Error,
                    &format!("cannot send local reply: {status:?}"),
                );
            }
            Action::Pause
        }
    }
}

pub fn local_error(status: u32) -> Action {
    let _ = hostcalls::send_http_response(
        status,
        vec![("content-type", "application/json")],
        Some(b"{\"error\":\"unavailable\"}\n"),
    );
    Action::Pause
}
