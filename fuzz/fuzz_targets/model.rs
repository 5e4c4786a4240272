//! `Model::load` on a fuzzed model.json and one fuzzed parameter file, then the pipeline.
//! The harness is tests/regressions/harness.rs, shared with the regression tests.
#![no_main]

#[path = "../../tests/regressions/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::model(input));
