//! Gatehouse as a proxy-wasm HTTP filter: contexts that translate host callbacks into calls on the core's
//! `Engine`, and the engine's decisions and effects into host calls. No policy lives here.
//!
//! `host` holds the ABI bindings (host errors as values, never panics), `store` the shared store, `apply` the
//! header changes and local replies, `metrics` Envoy's stats; `root` and `http` are the contexts.

mod apply;
mod host;
mod http;
mod metrics;
mod root;
mod store;

/// The last resort: a panic traps the VM, and under `failure_policy: FAIL_CLOSED` (the default, and Istio's
/// `failStrategy: FAIL_CLOSE`) Envoy then refuses the worker's requests rather than pass them unauthenticated.
/// The hook says where, and only where: a panic message could hold request data.
fn panic_hook(info: &std::panic::PanicHookInfo<'_>) {
    let at = info.location().map_or_else(|| "unknown".to_owned(), |l| format!("{}:{}", l.file(), l.line()));
    host::log(host::CRITICAL, &format!("gatehouse panicked at {at}; this VM stops and its requests fail closed"));
}

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    // After the SDK's own hook (installed by `set_log_level`), which logs the whole message.
    std::panic::set_hook(Box::new(panic_hook));
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::default()) });
}}
