//! Gatehouse as a proxy-wasm HTTP filter: thin glue from host callbacks to the `gatehouse` core.
//!
//! Host calls go through `proxy_wasm::hostcalls` with every `Status` handled, because the SDK's trait
//! helpers `unwrap()` host errors and a panic here traps the VM for every request on the worker.

mod apply;
mod http;
mod metrics;
mod root;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::default()) });
}}
