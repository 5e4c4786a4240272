//! The prototxt reader on arbitrary bytes (src/caffe/, spec/caffe-import.md).
//! The harness is tests/regressions/harness.rs, shared with the regression tests.
#![no_main]

#[path = "../../tests/regressions/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::prototxt(input));
