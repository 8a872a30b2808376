//! The two floors any proxy-wasm filter pays in Envoy, measured beside Gatehouse:
//! - configuration "" (or anything else): does nothing on every callback (Envoy's wasm plumbing alone);
//! - configuration "read-headers": reads the request headers once, as any filter that decides on a request
//!   must (one `proxy_get_header_map_pairs` call and the copy into the VM).
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { read_headers: false }) });
}}

struct Root {
    read_headers: bool,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        self.read_headers = self.get_plugin_configuration().is_some_and(|c| c == b"read-headers");
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter { read_headers: self.read_headers }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    read_headers: bool,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        if self.read_headers {
            let headers = self.get_http_request_headers();
            std::hint::black_box(headers.len());
        }
        Action::Continue
    }
}
