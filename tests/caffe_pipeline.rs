//! The whole procedures against the original Caffe code: fixtures/caffe/tiny_cnn_lstm (the
//! demo's cEB-R, EB-R, BP-R and the per-frame methods on a CNN-LSTM) and tiny_cnn_meanpool (a
//! temporal mean-pool). How they were made: fixtures/caffe/README.md and each manifest.json.
//!
//! Run `cargo test --release --test caffe_pipeline -- --nocapture` to see every comparison.

#[path = "common/caffe_nets.rs"]
mod caffe_nets;
mod common;

use caffe_nets::{no_progress, prior_last, run_forward};
use common::{caffe_case, load};
use ebr::grounding::{ground, Execution, Method, Normalization, Options, Prior};
use ebr::model::Model;

fn model(case: &str) -> Model {
    Model::load(&caffe_case(case)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn tiny_cnn_lstm_forward_matches_caffe() {
    caffe_nets::tiny_cnn_lstm_forward_matches_caffe(&model("tiny_cnn_lstm"));
}

#[test]
fn tiny_cnn_lstm_cebr_ebr_match_caffe_for_both_priors_and_classes() {
    caffe_nets::tiny_cnn_lstm_cebr_ebr_match_caffe_for_both_priors_and_classes(&model(
        "tiny_cnn_lstm",
    ));
}

#[test]
fn tiny_cnn_lstm_bpr_matches_caffe() {
    caffe_nets::tiny_cnn_lstm_bpr_matches_caffe(&model("tiny_cnn_lstm"));
}

#[test]
fn tiny_cnn_meanpool_matches_caffe() {
    caffe_nets::tiny_cnn_meanpool_matches_caffe(&model("tiny_cnn_meanpool"));
}

/// The per-frame arrays of this fixture (`c*_eb_*`, `c*_ceb_*`) are exactly 0: in its net the
/// frame head fc8f reads fc7 beside the LSTM (a Caffe Split) and its signal never reached fc7
/// (spec/pipeline.md, "What is conserved, and what the fixtures show"). ebr computes the
/// per-frame methods as ORIGINAL.md section 3 states. This test pins both facts, so that a
/// regenerated fixture is noticed: then compare the arrays like the others.
#[test]
fn tiny_cnn_lstm_per_frame_fixtures_are_zero_and_ebr_computes_per_frame_eb_as_stated() {
    let case = "tiny_cnn_lstm";
    let model = model(case);
    let (clip, fwd) = run_forward(&model, case, &Execution::default());
    for class in [3usize, 7] {
        for name in ["eb_fc7", "ceb_fc7", "eb_map_conv1", "ceb_map_conv3"] {
            let want = load(case, &format!("c{class}_{name}"));
            assert!(
                want.data.iter().all(|&v| v == 0.0),
                "c{class}_{name} is no longer all zeros: compare it with ebr's per-frame method"
            );
        }
        for layer in ["conv3", "conv2", "conv1"] {
            let eb = ground(
                &model,
                &fwd,
                &clip,
                &prior_last(Method::Eb, class, layer),
                &no_progress,
            )
            .unwrap();
            let ceb = ground(
                &model,
                &fwd,
                &clip,
                &Options {
                    method: Method::Ceb,
                    ..eb.options.clone()
                },
                &no_progress,
            )
            .unwrap();
            let (h, w) = (eb.layer_shape[1], eb.layer_shape[2]);
            for t in 0..fwd.frames {
                let eb_sum: f64 = eb.maps[t * h * w..(t + 1) * h * w]
                    .iter()
                    .map(|&v| v as f64)
                    .sum();
                let ceb_sum: f64 = ceb.maps[t * h * w..(t + 1) * h * w]
                    .iter()
                    .map(|&v| v as f64)
                    .sum();
                // EB from a one-hot conserves down the CNN (every unit on the path has Z > 0
                // here): 1 per frame; the contrast of two such signals: 0. f32 sums of a few
                // thousand terms: 1e-4.
                assert!(
                    (eb_sum - 1.0).abs() < 1e-4,
                    "c{class} eb {layer} frame {t}: sum {eb_sum}"
                );
                assert!(
                    ceb_sum.abs() < 1e-4,
                    "c{class} ceb {layer} frame {t}: sum {ceb_sum}"
                );
            }
        }
    }
}

/// The maps do not depend on the number of threads, the chunk size, or whether the backward
/// pass keeps or recomputes the forward blobs: bit for bit.
#[test]
fn execution_choices_give_bit_identical_maps() {
    let case = "tiny_cnn_lstm";
    let model = model(case);
    let options = Options {
        method: Method::Cebr,
        class: 3,
        layer: "conv1".to_string(),
        prior: Prior::Last,
        normalization: Normalization::Paper,
        lstm_rule: ebr::layers::LstmEbRule::Original,
    };
    let mut results = Vec::new();
    for (threads, chunk_frames, keep) in [
        (1, 0, Some(true)),
        (2, 0, Some(true)),
        (2, 3, Some(false)),
        (1, 1, None),
        (2, 8, Some(false)),
    ] {
        let execution = Execution {
            threads,
            chunk_frames,
            keep_activations: keep,
            ..Execution::default()
        };
        let (clip, fwd) = run_forward(&model, case, &execution);
        let g = ground(&model, &fwd, &clip, &options, &no_progress).unwrap();
        results.push(((threads, chunk_frames, keep), g.maps));
    }
    for (choice, maps) in &results[1..] {
        let same = maps
            .iter()
            .zip(&results[0].1)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{choice:?} differs from {:?}", results[0].0);
    }
}
