//! The whole procedures against the original Caffe code: fixtures/caffe/tiny_cnn_lstm (the
//! demo's cEB-R, EB-R, BP-R and the per-frame methods on a CNN-LSTM) and tiny_cnn_meanpool (a
//! temporal mean-pool). How they were made: fixtures/caffe/README.md and each manifest.json.
//!
//! Run `cargo test --release --test caffe_pipeline -- --nocapture` to see every comparison.

#[path = "common/caffe_nets.rs"]
mod caffe_nets;
mod common;

use caffe_nets::{load_clip, no_progress, run_forward};
use common::caffe_net;
use ebr::grounding::{ground, Method, Normalization, Options, Prior};
use ebr::model::{Execution, Model};

fn model(case: &str) -> Model {
    Model::load(&caffe_net(case)).unwrap_or_else(|e| panic!("{e}"))
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

#[test]
fn tiny_cnn_lstm_per_frame_eb_and_ceb_match_the_fixture() {
    caffe_nets::tiny_cnn_lstm_per_frame_eb_and_ceb_match_the_fixture(&model("tiny_cnn_lstm"));
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
        let clip = load_clip(case);
        let fwd = run_forward(&model, &clip, &execution);
        let g = ground(&model, &fwd, &options, &no_progress).unwrap();
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
