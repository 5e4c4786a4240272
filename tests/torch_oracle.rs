//! A second oracle beside Caffe: PyTorch's forward pass and autograd gradients of the demo
//! model (fixtures/demo/model, trained by tools/train_synthetic.py) on three splice2 clips,
//! written by tools/make_torch_fixtures.py into fixtures/torch/ (manifest.json says what each
//! file is). ebr's forward pass and its BP-R and BP maps must agree with them.
//!
//! BP-R is the gradient of the last step's logit of the clip's GT class (prior "last"), BP the
//! gradient of every frame's frame-classifier logit; ebr's map at a layer is the gradient at
//! that layer's blob after its in-place ReLU (spec/pipeline.md PIPE-8, PIPE-9), summed over
//! channels. PyTorch's `conv1` gradient is taken before relu1 for the same reason.

mod common;

use std::path::{Path, PathBuf};

use common::assert_close;
use ebr::grounding::{ground, map_blob, Method, Normalization, Options, Prior};
use ebr::layers::LstmEbRule;
use ebr::model::Model;
use ebr::model::{forward_clip, Execution};
use ebr::npy::read_tensor;
use ebr::Tensor;
use serde_json::Value;

/// The forward outputs, f32 against f32 through different kernels (PyTorch's oneDNN
/// convolutions and BLAS against ebr's im2col and matrixmultiply): the same terms added in
/// another order. Float32's own rounding noise on these arrays (manifest.json's
/// "float32_vs_float64": the same computation in float64) is at most 9.1e-7 of the largest
/// value, and ebr's largest difference from PyTorch on these clips is 1.5e-6 (the
/// probabilities; 5.1e-7 elsewhere). 1e-5 leaves a factor of 6 for other CPUs and summation
/// orders, and still catches any error of one term (a wrong weight, a missed frame, a gate out
/// of order).
const FORWARD: f32 = 1e-5;

/// The gradients: the forward's rounding carried back through the classifier, the 16 steps
/// of the LSTM's recurrence (BP-R) and the CNN, with signed terms that cancel in the sums over
/// channels. Float32's own noise on these arrays is up to 4.7e-6 (BP-R; 2.1e-7 for BP); ebr's
/// largest difference from PyTorch is 9.0e-6 (BP-R at pool2; 3.0e-7 for BP). 1e-4 leaves a
/// factor of 11 over it and 20 over the noise. A ReLU or max-pool whose input is within
/// rounding of a tie could route one value differently and would show here as an isolated
/// large error; tools/make_torch_fixtures.py skips the clips on which float32 and float64
/// route differently (manifest.json, "skipped_set_clips": the set's clip 0), so none does.
const GRADIENT: f32 = 1e-4;

fn torch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/torch")
}

fn load(dir: &Path, name: &str) -> Tensor {
    read_tensor(&dir.join(format!("{name}.npy"))).unwrap_or_else(|e| panic!("{e}"))
}

fn demo_model() -> Model {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/model");
    Model::load(&dir).unwrap_or_else(|e| panic!("{e}"))
}

/// The clips of manifest.json: (directory, target class).
fn clips() -> Vec<(PathBuf, usize, Value)> {
    let text = std::fs::read_to_string(torch_dir().join("manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let clips = manifest["clips"]
        .as_array()
        .expect("manifest.json lists clips");
    assert_eq!(clips.len(), 3);
    clips
        .iter()
        .map(|c| {
            (
                torch_dir().join(c["dir"].as_str().unwrap()),
                c["target_class"].as_u64().unwrap() as usize,
                c["float32_vs_float64"].clone(),
            )
        })
        .collect()
}

/// float32's own noise on `name` (manifest.json) must be well below the tolerance, else the
/// comparison would not mean much.
fn check_noise(noise: &Value, name: &str, tol: f32) {
    let n = noise[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no noise for {name}")) as f32;
    println!("  ({name}: PyTorch float32 vs float64 {n:.2e})");
    assert!(
        n * 10.0 <= tol,
        "{name}: float32 noise {n:e} is not far below {tol:e}"
    );
}

#[test]
fn the_forward_pass_matches_pytorch() {
    let model = demo_model();
    for (dir, _, noise) in clips() {
        let input = load(&dir, "input");
        let t_n = input.shape[0];
        let fwd = forward_clip(
            &model,
            &input.data,
            t_n,
            &Execution::default(),
            None,
            &|_| {},
        );
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        println!("{name}:");
        assert_close(
            &format!("{name} fc6"),
            &fwd.features,
            &load(&dir, "fc6").data,
            FORWARD,
        );
        assert_close(
            &format!("{name} lstm h"),
            &fwd.temporal.output,
            &load(&dir, "lstm_h").data,
            FORWARD,
        );
        assert_close(
            &format!("{name} logits"),
            &fwd.logits,
            &load(&dir, "logits").data,
            FORWARD,
        );
        assert_close(
            &format!("{name} probs"),
            &fwd.probs,
            &load(&dir, "probs").data,
            FORWARD,
        );
        let head = model
            .frame_classifier
            .as_ref()
            .expect("the demo model has fc8f");
        let mut frame_logits = vec![f32::NAN; t_n * head.fc.outputs];
        head.fc.forward(&mut frame_logits, &fwd.features, t_n);
        assert_close(
            &format!("{name} frame logits"),
            &frame_logits,
            &load(&dir, "frame_logits").data,
            FORWARD,
        );
        for array in ["fc6", "lstm_h", "logits", "probs", "frame_logits"] {
            check_noise(&noise, array, FORWARD);
        }
    }
}

#[test]
fn bpr_and_bp_maps_match_pytorch_autograd() {
    let model = demo_model();
    for (dir, class, noise) in clips() {
        let input = load(&dir, "input");
        let t_n = input.shape[0];
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        println!("{name} (class {class}):");
        let fwd = forward_clip(
            &model,
            &input.data,
            t_n,
            &Execution::default(),
            Some(map_blob(&model, "data").unwrap()),
            &|_| {},
        );
        for (method, prefix) in [(Method::Bpr, "bpr"), (Method::Bp, "bp")] {
            for layer in ["data", "conv1", "pool2"] {
                let options = Options {
                    method,
                    class,
                    layer: layer.to_string(),
                    prior: Prior::Last,
                    normalization: Normalization::Paper,
                    lstm_rule: LstmEbRule::Original,
                };
                let g = ground(&model, &fwd, &options, &|_| {}).unwrap_or_else(|e| panic!("{e}"));
                let want = load(&dir, &format!("{prefix}_map_{layer}"));
                assert_eq!(
                    [t_n, g.layer_shape[1], g.layer_shape[2]],
                    [want.shape[0], want.shape[1], want.shape[2]],
                    "{prefix} {layer}: map shape"
                );
                assert_close(
                    &format!("{name} {prefix} map {layer}"),
                    &g.maps,
                    &want.data,
                    GRADIENT,
                );
                check_noise(&noise, &format!("{prefix}_map_{layer}"), GRADIENT);
                if layer == "pool2" {
                    // The full signal before the channel sum.
                    let want = load(&dir, &format!("{prefix}_pool2"));
                    assert_close(
                        &format!("{name} {prefix} pool2 (all channels)"),
                        &g.layer_signal,
                        &want.data,
                        GRADIENT,
                    );
                    check_noise(&noise, &format!("{prefix}_pool2"), GRADIENT);
                }
            }
        }
    }
}
