//! The proxy-wasm ABI 0.2.1 host calls the filter uses, without panics.
//!
//! `proxy_wasm::hostcalls` `panic!`s on any status it does not expect and `unwrap()`s header values as UTF-8,
//! so one request with a non-UTF-8 header byte (allowed by HTTP as obs-text) would trap the VM and, under
//! FAIL_CLOSED, turn every later request on that worker into a 503. These wrappers return every status as an
//! error and header values as bytes. Status codes are read as plain `u32` because a host may return values
//! the SDK's enum does not list.
//!
//! One call still goes through the SDK: `dispatch_http_call`, because the SDK routes a call's answer to the
//! context that made it only for calls it registered itself (its dispatcher `expect`s the token), and that
//! registration is not public. Its panic arm is for statuses other than Ok, BadArgument and InternalFailure:
//! Envoy's host (proxy-wasm-cpp-host `http_call`) returns exactly those three for the valid buffers passed
//! here, plus InvalidMemoryAccess for unreadable ones, which a live Rust slice never is. The last-resort panic
//! hook (`lib.rs`) covers the rest.
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};
use std::time::Duration;

pub const REQUEST_HEADERS: u32 = 0;
pub const RESPONSE_HEADERS: u32 = 2;
pub const CALL_RESPONSE_HEADERS: u32 = 6;
const REQUEST_BODY: u32 = 0;
const CALL_RESPONSE_BODY: u32 = 4;
const PLUGIN_CONFIGURATION: u32 = 7;
const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

pub const INFO: u32 = 2;
pub const WARN: u32 = 3;
pub const ERROR: u32 = 4;
pub const CRITICAL: u32 = 5;

// The ABI 0.2.1 imports this filter uses, one per line: the table of what it asks of the host.
#[rustfmt::skip]
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_get_buffer_bytes(buffer_type: u32, start: usize, max_size: usize, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, return_data: *mut *mut u8, return_size: *mut usize) -> u32;
    fn proxy_replace_header_map_value(map_type: u32, key_data: *const u8, key_size: usize, value_data: *const u8, value_size: usize) -> u32;
    fn proxy_add_header_map_value(map_type: u32, key_data: *const u8, key_size: usize, value_data: *const u8, value_size: usize) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_send_local_response(status_code: u32, details_data: *const u8, details_size: usize, body_data: *const u8, body_size: usize, headers_data: *const u8, headers_size: usize, grpc_status: i32) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_shared_data(key_data: *const u8, key_size: usize, return_value_data: *mut *mut u8, return_value_size: *mut usize, return_cas: *mut u32) -> u32;
    fn proxy_set_shared_data(key_data: *const u8, key_size: usize, value_data: *const u8, value_size: usize, cas: u32) -> u32;
    fn proxy_define_metric(metric_type: u32, name_data: *const u8, name_size: usize, return_id: *mut u32) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_set_property(path_data: *const u8, path_size: usize, value_data: *const u8, value_size: usize) -> u32;
}

/// Takes ownership of a buffer the host allocated through the SDK's `proxy_on_memory_allocate`.
fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        return Vec::new();
    }
    // SAFETY: the host wrote `size` bytes into memory it obtained from `proxy_on_memory_allocate`, which
    // allocates exactly `size` bytes as a boxed slice; ownership passes to us (ABI 0.2.1 "returned buffers").
    unsafe { Vec::from_raw_parts(data, size, size) }
}

fn check(status: u32) -> Result<(), u32> {
    if status == OK {
        Ok(())
    } else {
        Err(status)
    }
}

pub fn log(level: u32, message: &str) {
    // SAFETY: pointer and length of a live &str.
    let _ = unsafe { proxy_log(level, message.as_ptr(), message.len()) };
}

pub fn now_seconds() -> Result<u64, u32> {
    now_nanos().map(|n| n / 1_000_000_000)
}

pub fn now_nanos() -> Result<u64, u32> {
    let mut nanos: u64 = 0;
    // SAFETY: `nanos` outlives the call.
    check(unsafe { proxy_get_current_time_nanoseconds(&mut nanos) })?;
    Ok(nanos)
}

fn buffer(kind: u32, max: usize) -> Result<Vec<u8>, u32> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals; the returned buffer is taken over by `take`.
    match unsafe { proxy_get_buffer_bytes(kind, 0, max, &mut data, &mut size) } {
        OK => Ok(take(data, size)),
        NOT_FOUND => Ok(Vec::new()),
        other => Err(other),
    }
}

pub fn plugin_configuration() -> Result<Vec<u8>, u32> {
    buffer(PLUGIN_CONFIGURATION, usize::MAX)
}

/// The request body Envoy buffered so far, at most `max` bytes.
pub fn request_body(max: usize) -> Result<Vec<u8>, u32> {
    buffer(REQUEST_BODY, max)
}

pub fn call_response_body(max: usize) -> Result<Vec<u8>, u32> {
    buffer(CALL_RESPONSE_BODY, max)
}

/// All pairs of a header map, values as bytes.
pub fn header_pairs(map: u32) -> Result<Vec<(String, Vec<u8>)>, u32> {
    let (mut data, mut size) = (null_mut(), 0usize);
    // SAFETY: as in `buffer`.
    check(unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) })?;
    Ok(deserialize_pairs(&take(data, size)))
}

/// Envoy stores the value as filter state `wasm.<path>` (a one-segment path: no NUL separators), readable by
/// the filters after this one and by access logs for the rest of the stream.
pub fn set_property(path: &str, value: &[u8]) -> Result<(), u32> {
    // SAFETY: pointers and lengths of a live &str and slice.
    check(unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) })
}

pub fn replace_header(map: u32, name: &str, value: &str) -> Result<(), u32> {
    // SAFETY: pointers and lengths of live &str values.
    check(unsafe { proxy_replace_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
}

pub fn add_header(map: u32, name: &str, value: &str) -> Result<(), u32> {
    // SAFETY: as above.
    check(unsafe { proxy_add_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
}

pub fn remove_header(map: u32, name: &str) -> Result<(), u32> {
    // SAFETY: as above.
    check(unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) })
}

pub fn send_local_response(status: u32, headers: &[(&str, &str)], body: &[u8]) -> Result<(), u32> {
    let map = serialize_pairs(headers);
    // SAFETY: every pointer is to a live local buffer for the duration of the call.
    check(unsafe {
        proxy_send_local_response(status, null(), 0, body.as_ptr(), body.len(), map.as_ptr(), map.len(), -1)
    })
}

/// Resumes a request paused in `on_http_request_headers` (stream type 0 is the HTTP request).
pub fn continue_request() -> Result<(), u32> {
    // SAFETY: no pointers.
    check(unsafe { proxy_continue_stream(0) })
}

pub fn set_tick_period_ms(period: u32) -> Result<(), u32> {
    // SAFETY: no pointers.
    check(unsafe { proxy_set_tick_period_milliseconds(period) })
}

/// A value of the proxy-wide store shared by every VM with the same `vm_id`, with its compare-and-swap token.
pub fn shared_get(key: &str) -> Result<Option<(Vec<u8>, u32)>, u32> {
    let (mut data, mut size, mut cas) = (null_mut(), 0usize, 0u32);
    // SAFETY: out-pointers to locals; the returned buffer is taken over by `take`.
    match unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) } {
        OK => Ok(Some((take(data, size), cas))),
        NOT_FOUND => Ok(None),
        other => Err(other),
    }
}

/// Stores `value` if the entry's CAS token still equals `cas` (0: unconditionally). `Err(8)` is a CAS
/// mismatch: another VM wrote first.
pub fn shared_set(key: &str, value: &[u8], cas: u32) -> Result<(), u32> {
    // SAFETY: pointers and lengths of live slices.
    check(unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) })
}

pub const COUNTER: u32 = 0;
pub const GAUGE: u32 = 1;
pub const HISTOGRAM: u32 = 2;

/// Defines a metric of `kind` (`COUNTER`, `GAUGE`, `HISTOGRAM`) and returns its id.
pub fn define_metric(kind: u32, name: &str) -> Result<u32, u32> {
    let mut id = 0u32;
    // SAFETY: as above.
    check(unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn record(id: u32, value: u64) {
    // SAFETY: no pointers.
    let _ = unsafe { proxy_record_metric(id, value) };
}

/// The VM's linear memory in bytes: what this VM costs the proxy, and what must stay flat under load.
pub fn memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        (core::arch::wasm32::memory_size(0) as u64).saturating_mul(65536)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

pub fn increment(id: u32, by: i64) {
    // SAFETY: no pointers.
    let _ = unsafe { proxy_increment_metric(id, by) };
}

/// ABI 0.2.1 header map encoding: count, then (name length, value length) per pair, then each name and
/// value followed by a NUL byte, all integers u32 little-endian.
fn serialize_pairs(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + pairs.iter().map(|(n, v)| n.len() + v.len() + 10).sum::<usize>());
    let len32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    out.extend_from_slice(&len32(pairs.len()));
    for (n, v) in pairs {
        out.extend_from_slice(&len32(n.len()));
        out.extend_from_slice(&len32(v.len()));
    }
    for (n, v) in pairs {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

fn deserialize_pairs(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let read32 = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(b)).ok()
    };
    let Some(count) = read32(0) else { return Vec::new() };
    let mut out = Vec::new();
    let mut data = 4usize.saturating_add(count.saturating_mul(8));
    for i in 0..count {
        let (Some(nl), Some(vl)) = (read32(4 + i * 8), read32(8 + i * 8)) else { break };
        let (Some(name), Some(value)) = (bytes.get(data..data + nl), bytes.get(data + nl + 1..data + nl + 1 + vl))
        else {
            break;
        };
        out.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        data = data + nl + vl + 2;
    }
    out
}

/// Starts an out-of-band call to `cluster`; the answer arrives in `on_http_call_response` of the calling
/// context with the returned token. `Err` is the host's status (an unknown cluster is BadArgument).
pub fn dispatch_call(cluster: &str, headers: &[(String, String)], body: &[u8], timeout_ms: u32) -> Result<u32, u32> {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let body = (!body.is_empty()).then_some(body);
    proxy_wasm::hostcalls::dispatch_http_call(
        cluster,
        headers,
        body,
        Vec::new(),
        Duration::from_millis(u64::from(timeout_ms)),
    )
    .map_err(|s| s as u32)
}

/// A call's answer: its headers, and its body unless longer than `max_body`.
pub fn call_response(body_size: usize, max_body: usize) -> gatehouse::CallResponse {
    let headers = header_pairs(CALL_RESPONSE_HEADERS).unwrap_or_default();
    let body = (body_size <= max_body).then(|| call_response_body(body_size).unwrap_or_default());
    gatehouse::CallResponse::from_host(&headers, body)
}
