//! Carrying out a decision on the request: header changes for an allowed request, or the local reply.

use gatehouse::{Allow, Pass, Reply};
use proxy_wasm::types::Action;

use crate::host::{self, ERROR, REQUEST_HEADERS};

/// Removes and sets the request headers the decision names. `Err` when a change failed and the request must
/// not go on (a header we could not strip might reach the upstream forged): a 500 has been sent.
pub fn allow(a: &Allow) -> Result<(), ()> {
    change(&a.remove_headers, &a.set_headers)?;
    // Filter state is for filters after ours (RBAC may decide on it): one that cannot be published must not
    // let the request go on without it.
    for (name, value) in &a.properties {
        if let Err(status) = host::set_property(name, value) {
            host::log(ERROR, &format!("cannot publish filter state {name}: host status {status}"));
            local_error(500, "internal");
            return Err(());
        }
    }
    Ok(())
}

/// What the headers of a request whose body is read must lose before they go on (see `ReadBody`).
pub fn read_body(r: &gatehouse::decision::ReadBody) -> Result<(), ()> {
    change(&r.remove_headers, &[])
}

/// The identity headers a request passed to the legacy path must not carry (see `Pass`).
pub fn pass(p: &Pass) -> Result<(), ()> {
    change(&p.remove_headers, &[])
}

fn change(remove: &[std::sync::Arc<str>], set: &[(String, String)]) -> Result<(), ()> {
    let removals = remove.iter().map(|name| (&**name, None));
    let sets = set.iter().map(|(name, value)| (name.as_str(), Some(value.as_str())));
    for (name, value) in removals.chain(sets) {
        let done = match value {
            None => host::remove_header(REQUEST_HEADERS, name),
            Some(value) => host::replace_header(REQUEST_HEADERS, name, value),
        };
        if let Err(status) = done {
            host::log(ERROR, &format!("cannot change header {name}: host status {status}"));
            local_error(500, "internal");
            return Err(());
        }
    }
    Ok(())
}

pub fn reply(r: &Reply) {
    let headers: Vec<(&str, &str)> = r.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    if let Err(status) = host::send_local_response(u32::from(r.status), &headers, r.body.as_bytes()) {
        host::log(ERROR, &format!("cannot send local reply: host status {status}"));
    }
}

/// A reply for failures of the glue itself (no configuration, no clock).
pub fn local_error(status: u32, error: &str) -> Action {
    let body = format!("{{\"error\":\"{error}\"}}\n");
    let _ = host::send_local_response(
        status,
        &[("content-type", "application/json"), ("cache-control", "no-store")],
        body.as_bytes(),
    );
    Action::Pause
}
