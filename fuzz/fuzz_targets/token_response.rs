//! Any answer from the token endpoint (status, content type, body): parsing never panics, and only a 200
//! JSON answer can ever yield tokens.
#![no_main]
use gatehouse::oidc::token_response::{parse, parse_exchange, provider_answered, CallResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, rest) = match data.split_first() {
        Some((s, rest)) => (Some(100 + u16::from(*s) * 2), rest),
        None => (None, data),
    };
    let resp = CallResponse {
        status,
        content_type: Some("application/json".into()),
        body: rest.to_vec(),
        truncated: rest.len() % 7 == 3,
    };
    let _ = provider_answered(&resp);
    let ok = parse(&resp).is_ok() | parse_exchange(&resp).is_ok();
    if ok {
        assert_eq!(resp.status, Some(200), "tokens from a non-200 answer");
        assert!(!resp.truncated, "tokens from a truncated answer");
    }
});
