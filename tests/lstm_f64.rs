//! What no Caffe fixture covers, against an independent float64 computation written from spec/
//! alone: fixtures/lstm-f64/, made by tools/lstm_conserving_f64.py (numpy, run by hand; its
//! README names the command) from the Caffe fixture tiny_cnn_lstm (its fc7 blob, LSTM and
//! classifier; T = 8, D = 64, J = 32, K = 10). The script reproduces the Caffe arrays it can
//! (the LSTM's output, the original rule's attMap1 for both priors, BP-R with the prior on the
//! last step) within 6.4e-7 before it computes the rest.
//!
//! - ebr's conserving LSTM rule (spec/layers/lstm.md, LSTM-9..LSTM-12), layer by layer on the
//!   same inputs;
//! - EB-R and cEB-R's temporal part with the prior on every step and the paper's normalization
//!   (spec/pipeline.md, PIPE-4, PIPE-5, PIPE-7), through the pipeline;
//! - BP-R with the prior on every step (PIPE-4 with the gradient, PIPE-8), through the pipeline.
//!
//! Run `cargo test --release --test lstm_f64 -- --nocapture` to see every comparison.

mod common;

use std::path::Path;

use common::{assert_close, caffe_net, load};
use ebr::grounding::{ground, temporal_attention, Method, Normalization, Options, Prior};
use ebr::layers::{LstmActivations, LstmEbRule};
use ebr::model::temporal::clip_markers;
use ebr::model::{forward_clip, ClipForward, Execution};
use ebr::model::{Model, TemporalLayer};
use ebr::npy::read_tensor;
use ebr::Tensor;

/// The conserving rule of one LSTM layer in f32 against float64, on the same inputs (x, the
/// weights and the signal p_h), relative to the largest value (every term is >= 0 here, LSTM-P7,
/// so no cancellation: an element's error is within the chain's bound times its own size). The
/// f32 chain: the forward activations (per step 64 + 32 terms into a gate, the sigmoid, c's
/// two products and sum, carried over 8 steps: about 110u per step at most, 880u), the shares
/// and carries (5u per step, 40u), then W_xc's EB (64 terms in z, the ratio, 128 back, the
/// product by x: 194u): about 1100u ≈ 6.6e-5 in the worst case. 1e-4, the fixtures' tolerance
/// for a net against an independent f32 implementation.
const LAYER_CHAIN: f32 = 1e-4;

/// Through the pipeline, from ebr's own forward pass of the clip (its fc7 is within 4e-7 of
/// Caffe's, the script's input): the fixtures' tolerance for a net, 1e-4 (fixtures/caffe/
/// README.md: larger differences mean different math, not rounding).
const NET: f32 = 1e-4;

fn no_progress(_: usize) {}

/// fixtures/lstm-f64/<name>.npy
fn reference(name: &str) -> Tensor {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lstm-f64")
        .join(format!("{name}.npy"));
    read_tensor(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn model() -> Model {
    Model::load(&caffe_net("tiny_cnn_lstm")).unwrap_or_else(|e| panic!("{e}"))
}

/// ebr's forward pass of the fixture's clip (every blob kept).
fn forward_the_fixture<'c>(model: &Model, clip: &'c Tensor) -> ClipForward<'c> {
    let frames = clip.shape[0];
    forward_clip(
        model,
        &clip.data,
        frames,
        &Execution::default(),
        Some(0),
        &no_progress,
    )
}

fn options(method: Method, class: usize, layer: &str, prior: Prior) -> Options {
    Options {
        method,
        class,
        layer: layer.to_string(),
        prior,
        normalization: Normalization::Paper,
        lstm_rule: LstmEbRule::Original,
    }
}

/// LSTM-9..LSTM-12 on the fixture's LSTM: the signal at x from the classifier's EB signal on h
/// (prior on the last step, the class and its dual), against the float64 computation.
#[test]
fn the_conserving_lstm_rule_matches_float64() {
    let model = model();
    let TemporalLayer::Lstm { lstm, .. } = &model.temporal[0] else {
        panic!("tiny_cnn_lstm's temporal layer is an LSTM");
    };
    let x = reference("x");
    let steps = x.shape[0];
    let cont = clip_markers(steps);
    let mut act = LstmActivations::zeros(steps, 1, lstm.hidden);
    lstm.forward(&mut act, &x.data, &cont);
    assert_close("h", &act.h, &reference("h").data, LAYER_CHAIN);
    for class in [3usize, 7] {
        for (signal, name) in [
            ("p_h", "conserving_p_x"),
            ("p_h_dual", "conserving_dual_p_x"),
        ] {
            let p_h = reference(&format!("c{class}_{signal}_last"));
            let mut p_x = common::poisoned(x.data.len());
            lstm.eb_backward_conserving(&mut p_x, &x.data, &cont, &act, &p_h.data);
            assert_close(
                &format!("c{class} {name}"),
                &p_x,
                &reference(&format!("c{class}_{name}_last")).data,
                LAYER_CHAIN,
            );
        }
    }
}

/// EB-R and cEB-R with the prior on every step and the paper's normalization: `temporal_attention`
/// normalizes attMap1 and attMap2 by their totals (PIPE-5, not the notebook's PIPE-6), and cEB-R's
/// signal at fc7 is their difference (PIPE-7).
#[test]
fn pipe5_with_the_prior_on_every_step_matches_float64() {
    let (model, clip) = (model(), load("tiny_cnn_lstm", "input"));
    let fwd = forward_the_fixture(&model, &clip);
    for class in [3usize, 7] {
        let cebr = options(Method::Cebr, class, "conv3", Prior::All);
        let a = temporal_attention(&model, &fwd, &cebr);
        assert_close(
            &format!("c{class} all norm1"),
            &a.normalized,
            &reference(&format!("c{class}_all_norm1")).data,
            NET,
        );
        assert_close(
            &format!("c{class} all norm2"),
            &a.dual_normalized,
            &reference(&format!("c{class}_all_norm2")).data,
            NET,
        );
        // PIPE-5 sums to 1 over the clip.
        let total: f64 = a.normalized.iter().map(|&v| v as f64).sum();
        assert!((total - 1.0).abs() < 1e-5, "c{class}: N(A) sums to {total}");
        let g = ground(&model, &fwd, &cebr, &no_progress).unwrap();
        assert_close(
            &format!("c{class} all contrast"),
            &g.feature_signal,
            &reference(&format!("c{class}_all_contrast")).data,
            NET,
        );
    }
}

/// BP-R with the prior on every step: the gradient of the sum over the steps of the class's
/// logit, at fc7 after relu7 and drop7 (PIPE-8), against the float64 computation.
#[test]
fn bpr_with_the_prior_on_every_step_matches_float64() {
    let (model, clip) = (model(), load("tiny_cnn_lstm", "input"));
    let fwd = forward_the_fixture(&model, &clip);
    for class in [3usize, 7] {
        let bpr = options(Method::Bpr, class, "fc7", Prior::All);
        let g = ground(&model, &fwd, &bpr, &no_progress).unwrap();
        assert_close(
            &format!("c{class} bpr all fc7"),
            &g.layer_signal,
            &reference(&format!("c{class}_bpr_all_fc7")).data,
            NET,
        );
    }
}
