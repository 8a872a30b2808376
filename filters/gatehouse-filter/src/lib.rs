//! Gatehouse as a proxy-wasm HTTP filter: thin glue from host callbacks to the `gatehouse` core.
//!
//! Every host call on the request path goes through `host`, which returns host errors as values instead of
//! panicking as the SDK's helpers do: a panic here traps the VM for every request on the worker.

mod apply;
mod host;
mod http;
mod jwks;
mod metrics;
mod root;
mod shadow;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::default()) });
}}
