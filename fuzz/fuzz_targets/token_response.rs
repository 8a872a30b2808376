//! Any answer from the token endpoint (status, content type, body): parsing never panics, and only a 200
//! JSON answer can ever yield tokens.
#![no_main]
use gatehouse::call::{Answer, CallResponse};
use gatehouse::oidc::token_response::{parse, parse_exchange, provider_answered};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((s, rest)) = data.split_first() else {
        assert!(parse(&CallResponse::Reset).is_err(), "tokens from a reset");
        return;
    };
    let truncated = rest.len() % 7 == 3;
    let status = 100 + u16::from(*s) * 2;
    let resp = CallResponse::Answered(Answer {
        status,
        content_type: Some("application/json".into()),
        body: rest.to_vec(),
        truncated,
    });
    let _ = provider_answered(&resp);
    let ok = parse(&resp).is_ok() | parse_exchange(&resp).is_ok();
    if ok {
        assert_eq!(status, 200, "tokens from a non-200 answer");
        assert!(!truncated, "tokens from a truncated answer");
    }
});
