//! The .npy reader on arbitrary bytes (`parse_npy` and `read_npy`).
//! The harness is tests/regressions/harness.rs, shared with the regression tests.
#![no_main]

#[path = "../../tests/regressions/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::npy(input));
