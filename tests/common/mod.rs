//! Helpers shared by the integration tests: fixture loading and one comparison with a stated
//! tolerance that reports the largest error and the first bad index.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ebr::npy::read_tensor;
use ebr::Tensor;

/// One layer against the original Caffe code, in f32: the fixtures' README says an
/// independent f32 implementation stays within 1e-5 of the largest value (relative).
pub const ONE_LAYER: f32 = 1e-5;

/// fixtures/caffe/<case>
pub fn caffe_case(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/caffe")
        .join(case)
}

/// Reads fixtures/caffe/<case>/<name>.npy; panics with the path if it cannot.
pub fn load(case: &str, name: &str) -> Tensor {
    let path = caffe_case(case).join(format!("{name}.npy"));
    read_tensor(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// A buffer of `len` NaNs: an output poisoned first, so every element must be written.
pub fn poisoned(len: usize) -> Vec<f32> {
    vec![f32::NAN; len]
}

/// Largest |got - want| relative to the largest |want| (1 if `want` is all zeros).
pub fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f32, |m, d| {
            if d.is_nan() || m.is_nan() {
                f32::NAN
            } else {
                m.max(d)
            }
        });
    worst / scale
}

/// Asserts `got` equals `want` within `tol` (max abs error / max abs of `want`), and prints
/// the figure so that `cargo test -- --nocapture` lists every comparison's error.
pub fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{name}: {} values, expected {}",
        got.len(),
        want.len()
    );
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let error = relative_error(got, want);
    println!(
        "{name}: max relative error {error:.3e} (tolerance {tol:.0e}, max |want| {scale:.3e})"
    );
    // NaN compares false: a NaN anywhere fails the test.
    let within = |difference: f32, bound: f32| difference <= bound;
    if !within(error, tol) {
        let (index, (g, w)) = got
            .iter()
            .zip(want)
            .enumerate()
            .find(|(_, (g, w))| !within((*g - *w).abs(), tol * scale))
            .expect("some element is off");
        panic!(
            "{name}: max relative error {error:.3e} > {tol:.0e}; first bad index {index}: got {g}, want {w}"
        );
    }
}
