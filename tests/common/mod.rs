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

/// fixtures/caffe-nets/<case>: the net of the Caffe case `case` as an ebr model directory
/// (model.json and its parameters; fixtures/caffe-nets/README.md).
pub fn caffe_net(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/caffe-nets")
        .join(case)
}

/// Reads fixtures/caffe/<case>/<name>.npy; panics with the path if it cannot.
pub fn load(case: &str, name: &str) -> Tensor {
    let path = caffe_case(case).join(format!("{name}.npy"));
    read_tensor(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes the Caffe fixture's model (re-saved by `Model::save`, so only its parameter files)
/// into `root`/model and its clip into `root`/clip.npy: a working model and clip for a CLI test
/// to break or to use.
pub fn tiny_model_and_clip(root: &Path) {
    let model = root.join("model");
    std::fs::create_dir(&model).unwrap();
    ebr::model::Model::load(&caffe_net("tiny_cnn_lstm"))
        .unwrap()
        .save(&model)
        .unwrap();
    let clip = caffe_case("tiny_cnn_lstm").join("input.npy");
    std::fs::copy(clip, root.join("clip.npy")).unwrap();
}

/// summary.json's text without its `run_id` line: the run's identity, different in every run
/// by design (spec/outputs.md, OUT-1); everything else of a run must be the same bytes.
pub fn without_run_id(summary: &str) -> Vec<u8> {
    let kept: Vec<&str> = summary
        .lines()
        .filter(|line| !line.starts_with("  \"run_id\": "))
        .collect();
    assert_eq!(kept.len() + 1, summary.lines().count(), "one run_id line");
    kept.join("\n").into_bytes()
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

/// Asserts `|got[i] - want[i]| <= tol * bound[i]` for every `i`. `bound[i]` is the size of
/// the terms that were summed to make `want[i]` (typically the same computation run on absolute
/// values), so `tol` is a rounding bound per term and cancellation in `want` cannot fail the
/// test. Where `bound[i] == 0`, `got[i]` must equal `want[i]` exactly. Prints the largest
/// ratio; a NaN anywhere fails.
pub fn assert_within_bound(name: &str, got: &[f32], want: &[f32], bound: &[f32], tol: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{name}: {} values, expected {}",
        got.len(),
        want.len()
    );
    assert_eq!(
        bound.len(),
        want.len(),
        "{name}: {} bounds for {} values",
        bound.len(),
        want.len()
    );
    // NaN compares false: a NaN in got, want or bound fails here.
    let within = |difference: f32, bound: f32| difference <= bound;
    let mut worst = 0.0f32;
    for (index, ((&g, &w), &b)) in got.iter().zip(want).zip(bound).enumerate() {
        let difference = (g - w).abs();
        if !within(difference, tol * b) {
            panic!(
                "{name}: first bad index {index}: got {g}, want {w}, |difference| {difference:.3e} > {tol:.0e} * bound {b:.3e}"
            );
        }
        if b > 0.0 {
            worst = worst.max(difference / b);
        }
    }
    println!("{name}: max error / bound {worst:.3e} (tolerance {tol:.0e})");
}

/// Waits for `child` to end, killing it and failing the test past `deadline`: a test of the
/// binary must not hang the suite.
pub fn finish_within(
    mut child: std::process::Child,
    deadline: std::time::Duration,
) -> std::process::Output {
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > deadline {
            let _ = child.kill();
            panic!("ebr ran past {deadline:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}
