//! Any bytes as plugin configuration: loading never panics; a refusal always names at least one problem,
//! each with a JSON path.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match gatehouse::load_config(data, &gatehouse_fuzz::env) {
        Ok(_) => {}
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without a reason");
            for e in errors.iter() {
                assert!(e.path.starts_with('$'), "error without a JSON path: {e}");
            }
        }
    }
});
