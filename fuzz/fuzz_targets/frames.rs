//! `load_clip` on a directory holding the fuzzed bytes as a frame image.
//! The harness is tests/regressions/harness.rs, shared with the regression tests.
#![no_main]

#[path = "../../tests/regressions/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::frames(input));
