//! The captioner and the grounding of a word (spec/caption.md, CAP-1..CAP-10): a hand-worked
//! tiny captioner (the spec's worked example, exact in f32), the model directory (round trip
//! and errors), the mean-pool step against the Caffe fixtures, properties over random
//! captioners, greedy decoding and teacher forcing, and `ebr ground-caption` through the
//! binary on the bundled captioner (fixtures/demo-caption, made by tools/train_captioner.py).
//!
//! Every expected value of the properties comes from a definition written here in f64 (the
//! classifier's FC-3, the LSTM unit's backward of the original rule and of the conserving
//! rule, the normalizers over u = [h1 ; v]), never from the code under test; every tolerance
//! is a named constant with its reason. u = 2^-24 ≈ 6e-8 is the f32 unit roundoff.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_close, assert_within_bound, load, ONE_LAYER};
use ebr::grounding::caption::{
    caption_attention, check_caption_word, dual_word, ground_caption, static_input_to_frames,
    word_prior, word_steps, CaptionGrounding, CaptionOptions,
};
use ebr::grounding::Method;
use ebr::layers::{Fc, Lstm, LstmActivations, LstmEbRule};
use ebr::model::captioner::{teacher_inputs, Captioner, SENTENCE};
use ebr::model::schema::{CaptionerSpec, FcSpec, FrameLayerSpec, TemporalLayerSpec};
use ebr::model::temporal::{self, TemporalLayer};
use ebr::model::{forward_clip, ClipForward, Execution};
use ebr::model::{ChannelOrder, FrameLayer, InputSpec, Model, ModelSpec};
use ebr::npy::{read_tensor, write_npy};
use ebr::Tensor;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------------------------
// Tolerances
// ---------------------------------------------------------------------------------------------

/// The classifier's FC-3 on one step's h2 (p_h2) against its f64 definition, relative to the
/// step's prior (1): H2 <= 3 roundings in Z, one in the ratio, V <= 6 in the transposed
/// product (zeros but one), one in the product with h2: <= 11u ≈ 6.6e-7 of the largest value;
/// 2e-6.
const CLASSIFIER_EB: f32 = 2e-6;

/// LSTM2's gate signal and the EB over u = [h1 ; v] (the shares), against the f64 gate signal
/// summed over the units with a usable normalizer, relative to that sum (every term is
/// non-negative: c >= 0 in a ReLU-LSTM, h >= 0, W+ >= 0). The library's gate signal is f32:
/// the cell's signal accumulates over S <= 5 steps with about 4 roundings each (<= 20u); FC-3
/// over u: H1 + D_v <= 8 roundings in Z, one in the ratio, 4 H2 <= 12 in the transposed
/// product, one with u (<= 22u); the test sums in f64. <= 42u ≈ 2.5e-6; 1e-5.
const GATE_SHARES: f64 = 1e-5;

/// CAP-8: sum_s p_v[s] in f32 (S <= 5 terms, all >= 0) against the f64 sum: <= 5u ≈ 3e-7 of
/// the sum; 1e-6.
const STEP_SUM: f64 = 1e-6;

/// Linearity of CAP-7..CAP-9 in the prior, per value, relative to the size of the summed terms
/// (|a| A(|P1|) + |b| A(|P2|)): FC-3 through the classifier (H2 + V + 2 <= 11u), the unit's
/// backward over S <= 5 steps (<= 20u), FC-3 over u (<= 22u), the sum over the steps (5u),
/// MEAN-2 (2u), the test's combination of the priors and of the results (3u): <= 63u ≈ 3.8e-6;
/// 1e-5.
const LINEARITY: f32 = 1e-5;

// ---------------------------------------------------------------------------------------------
// The hand-worked captioner (spec/caption.md, "Worked example")
// ---------------------------------------------------------------------------------------------

/// The worked example's model: frames of 1 x 1 x 2 pixels, fc7 = diag(1, 0.5) with a ReLU
/// (so f_t = (x_t[0], x_t[1] / 2)); a mean-pool; words <s>, a, b embedded as 1, 2, 3 (E = 1);
/// LSTM1 (H1 = 1) and LSTM2 (H2 = 2) whose i, f, o gates have weight and bias 0 (so i = f = o
/// = 1/2, f = 0 at step 0) and no recurrence; g of LSTM1 = e; g of LSTM2 = (8 h1 + v0,
/// 4 h1 + v1); the classifier rows <s> = (0, 0), a = (1, -1), b = (-1, 1), no bias.
fn worked_spec() -> ModelSpec {
    ModelSpec {
        name: "worked".into(),
        input: InputSpec {
            channels: 1,
            height: 1,
            width: 2,
            resize: None,
            scale: 1.0,
            channel_order: ChannelOrder::Bgr,
            mean: vec![0.0],
            std: vec![1.0],
        },
        frame: vec![
            FrameLayerSpec::Fc {
                name: "fc7".into(),
                out: 2,
                bias: true,
            },
            FrameLayerSpec::Relu,
        ],
        temporal: vec![TemporalLayerSpec::MeanPool],
        classifier: FcSpec {
            name: "predict".into(),
            out: 3,
            bias: true,
        },
        frame_classifier: None,
        captioner: Some(CaptionerSpec {
            embedding: "embed".into(),
            dim: 1,
            lstm1: "lstm1".into(),
            lstm1_hidden: 1,
            lstm2: "lstm2".into(),
            lstm2_hidden: 2,
            max_words: 3,
        }),
        labels: vec!["<s>".into(), "a".into(), "b".into()],
    }
}

fn worked_model() -> Model {
    let mut model = Model::random(&worked_spec(), 0, Path::new("worked")).unwrap();
    model.frame.layers[0] = FrameLayer::Fc {
        name: "fc7".into(),
        fc: Fc::new(2, 2, vec![1.0, 0.0, 0.0, 0.5], Some(vec![0.0; 2])),
    };
    let c = model.captioner.as_mut().unwrap();
    c.embedding = vec![1.0, 2.0, 3.0];
    c.lstm1 = Lstm::new(1, 1, vec![0.0, 0.0, 0.0, 1.0], vec![0.0; 4], vec![0.0; 4]);
    // [W_xc | W_xc_static]: (8, 3), rows i0 i1 f0 f1 o0 o1 g0 g1, columns h1, v0, v1
    let mut w_u = vec![0.0f32; 8 * 3];
    w_u[6 * 3..7 * 3].copy_from_slice(&[8.0, 1.0, 0.0]);
    w_u[7 * 3..8 * 3].copy_from_slice(&[4.0, 0.0, 1.0]);
    c.lstm2 = Lstm::new(3, 2, w_u, vec![0.0; 8], vec![0.0; 16]);
    model.classifier.fc = Fc::new(
        2,
        3,
        vec![0.0, 0.0, 1.0, -1.0, -1.0, 1.0],
        Some(vec![0.0; 3]),
    );
    model
}

/// The worked example's clip: frame 0 = (1, 1), frame 1 = (3, 3).
const WORKED_CLIP: [f32; 4] = [1.0, 1.0, 3.0, 3.0];

const KEEP_ALL: Execution = Execution {
    threads: 1,
    chunk_frames: 0,
    keep_activations: Some(true),
    keep_budget_bytes: 0,
    chunk_budget_bytes: usize::MAX,
};

fn no_progress(_: usize) {}

fn forward<'c>(model: &Model, clip: &'c [f32], frames: usize) -> ClipForward<'c> {
    forward_clip(model, clip, frames, &KEEP_ALL, Some(0), &no_progress)
}

fn options(method: Method, word: usize, layer: &str, rule: LstmEbRule) -> CaptionOptions {
    CaptionOptions {
        method,
        word,
        layer: layer.to_string(),
        lstm_rule: rule,
    }
}

fn ground(
    model: &Model,
    fwd: &ClipForward,
    caption: &[usize],
    o: &CaptionOptions,
) -> CaptionGrounding {
    ground_caption(model, fwd, caption, o, &no_progress).unwrap_or_else(|e| panic!("{e}"))
}

/// CAP-1..CAP-5 on the worked example, every value exact in f32 (sums and products of
/// dyadic numbers; the gates' pre-activations are 0, so sigmoid gives exactly 1/2).
#[test]
fn worked_example_forward() {
    let model = worked_model();
    let fwd = forward(&model, &WORKED_CLIP, 2);
    // CAP-1: f_0 = (1, 0.5), f_1 = (3, 1.5); v = (2, 1)
    assert_eq!(fwd.features, [1.0, 0.5, 3.0, 1.5]);
    assert_eq!(fwd.temporal.output, [2.0, 1.0]);
    let c = model.captioner.as_ref().unwrap();
    // the caption "a b": inputs <s>, a (CAP-2: e = 1, 2)
    let cap = c.forward(&model.classifier.fc, &fwd.temporal.output, &[SENTENCE, 1]);
    assert_eq!(cap.e, [1.0, 2.0]);
    assert_eq!(cap.cont, [0.0, 1.0]);
    // CAP-3: step 0: g = 1, c = 1/2 * 1, h1 = 1/2 * 1/2; step 1: g = 2, c = 1/2 * 1/2 + 1/2 * 2
    assert_eq!(cap.lstm1.c, [0.5, 1.25]);
    assert_eq!(cap.lstm1.h, [0.25, 0.625]);
    // CAP-4: u_s = [h1_s ; v]
    assert_eq!(cap.u, [0.25, 2.0, 1.0, 0.625, 2.0, 1.0]);
    // g0 = 8 h1 + v0 = 4, 7; g1 = 4 h1 + v1 = 2, 3.5
    assert_eq!(
        cap.lstm2.gates,
        [0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 4.0, 2.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 7.0, 3.5]
    );
    assert_eq!(cap.lstm2.c, [2.0, 1.0, 4.5, 2.25]);
    assert_eq!(cap.lstm2.h, [1.0, 0.5, 2.25, 1.125]);
    // CAP-5: z_s = W_cls h2_s: <s> 0, a = h2[0] - h2[1], b = -a
    assert_eq!(cap.logits, [0.0, 0.5, -0.5, 0.0, 1.125, -1.125]);
    assert_eq!(cap.argmax_words(), [1, 1]);
}

/// CAP-6..CAP-10 on the worked example: grounding "a" in the caption "a b", exact in f32
/// (every normalizer is a power of two).
#[test]
fn worked_example_grounding() {
    let model = worked_model();
    let fwd = forward(&model, &WORKED_CLIP, 2);
    let c = model.captioner.as_ref().unwrap();
    let caption = [1, 2]; // "a b"
                          // CAP-6: "a" is emitted at step 0
    assert_eq!(word_steps(&caption, 1), [0]);
    let prior = word_prior(2, 3, 1, &[0]);
    assert_eq!(prior, [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    let cap = c.forward(
        &model.classifier.fc,
        &fwd.temporal.output,
        &teacher_inputs(&caption, 2),
    );
    // CAP-7, original rule. The classifier: W+[a] = (1, 0), Z = h2_0 . W+ = 1: p_h2_0 = (1, 0).
    // LSTM2 at step 0, unit 0: dc = 1 * o = 1/2; the gates get i: dc g i (1 - i) = 1/2,
    // f: 0 (c_prev = 0), o: dh c o (1 - o) = 1/2, g: dc i = 1/4. The rows i, f, o have no
    // excitatory weight (Z = 0): their 1 is dropped (EB-2). g0: Z = 8 * 1/4 + 2 = 4, so
    // h1 gets 1/4 * 2 / 4 = 1/8 and v0 gets 1/4 * 2 / 4 = 1/8.
    let a = caption_attention(
        &model,
        &fwd,
        c,
        &cap,
        &model.classifier.fc,
        &prior,
        LstmEbRule::Original,
    );
    assert_eq!(a.p_h2, [1.0, 0.0, 0.0, 0.0]);
    assert_eq!(a.p_h1, [0.125, 0.0]);
    assert_eq!(a.p_v_steps, [0.125, 0.0, 0.0, 0.0]);
    // CAP-8, CAP-9: p_v = (1/8, 0); frame t gets f_t[0] * (1/8) / (2 * 2): 1/32, 3/32
    assert_eq!(a.p_v, [0.125, 0.0]);
    assert_eq!(a.signal, [0.03125, 0.0, 0.09375, 0.0]);
    // CAP-10: the dual (-1, 1): W+ = (0, 1), p_h2_0 = (0, 1); unit 1's g: dc i = 1/4,
    // Z = 4 * 1/4 + 1 = 2: h1 gets 1/8, v1 gets 1/8; frame t gets f_t[1] * (1/8) / (2 * 1).
    let dual = caption_attention(
        &model,
        &fwd,
        c,
        &cap,
        &dual_word(&model.classifier.fc, 1),
        &prior,
        LstmEbRule::Original,
    );
    assert_eq!(dual.p_h2, [0.0, 1.0, 0.0, 0.0]);
    assert_eq!(dual.p_h1, [0.125, 0.0]);
    assert_eq!(dual.p_v, [0.0, 0.125]);
    assert_eq!(dual.signal, [0.0, 0.03125, 0.0, 0.09375]);
    // N(A) - N(Ā), both norms 1/8; down fc7 to the image: x * W+ * (p / z) = p per pixel.
    let g = ground(
        &model,
        &fwd,
        &caption,
        &options(Method::Cebr, 1, "data", LstmEbRule::Original),
    );
    assert_eq!((g.norm, g.dual_norm), (0.125, 0.125));
    assert_eq!(g.steps, [0]);
    assert_eq!(g.feature_signal, [0.25, -0.25, 0.75, -0.75]);
    assert_eq!(g.maps, [0.25, -0.25, 0.75, -0.75]);
    // the word's probability at step 0: softmax(0, 0.5, -0.5)[1]
    let want = 0.5f64.exp() / (1.0 + 0.5f64.exp() + (-0.5f64).exp());
    assert!((g.probabilities[0] as f64 - want).abs() < 1e-6);
    let ebr = ground(
        &model,
        &fwd,
        &caption,
        &options(Method::Ebr, 1, "data", LstmEbRule::Original),
    );
    assert_eq!(ebr.feature_signal, [0.25, 0.0, 0.75, 0.0]);
    // The conserving rule: h2's 1 all to c = 2 = f c_prev + i g = 0 + 2, all to g0: 1 on g0,
    // whose Z = 4 gives h1 and v0 a half each: the static input gets 1/2, four times the
    // original's 1/8 (the original drops the i and o gates' signal, and scales by dc = o).
    let conserving = caption_attention(
        &model,
        &fwd,
        c,
        &cap,
        &model.classifier.fc,
        &prior,
        LstmEbRule::Conserving,
    );
    assert_eq!(conserving.p_h1, [0.5, 0.0]);
    assert_eq!(conserving.p_v, [0.5, 0.0]);
    assert_eq!(conserving.signal, [0.125, 0.0, 0.375, 0.0]);
}

/// Greedy decoding (spec/caption.md, "Decoding") on the worked example: "a" wins at every
/// step (its logit h2[0] - h2[1] grows), so the caption is max_words (3) a's; with the
/// sentence token's row (1, 0) and bias -3/4 it wins at step 1 (2.25 - 0.75 = 1.5 > 1.125)
/// but not at step 0 (0.25 < 0.5): the caption stops after one word.
#[test]
fn worked_example_decoding_stops_at_max_words_or_the_sentence_token() {
    let mut model = worked_model();
    let fwd = forward(&model, &WORKED_CLIP, 2);
    let c = model.captioner.clone().unwrap();
    assert_eq!(
        c.decode(&model.classifier.fc, &fwd.temporal.output),
        [1, 1, 1]
    );
    model.classifier.fc = Fc::new(
        2,
        3,
        vec![1.0, 0.0, 1.0, -1.0, -1.0, 1.0],
        Some(vec![-0.75, 0.0, 0.0]),
    );
    assert_eq!(c.decode(&model.classifier.fc, &fwd.temporal.output), [1]);
    let no_words = Captioner { max_words: 0, ..c };
    assert!(no_words
        .decode(&model.classifier.fc, &fwd.temporal.output)
        .is_empty());
}

/// The checks on a caption and a word: each a clear error, not a panic.
#[test]
fn caption_and_word_are_checked() {
    let model = worked_model();
    let c = model.captioner.as_ref().unwrap();
    let message = |caption: &[usize], word: usize| {
        check_caption_word(c, caption, word)
            .expect_err("refused")
            .to_string()
    };
    assert_eq!(check_caption_word(c, &[1, 2, 1], 1).unwrap(), [0, 2]);
    assert!(message(&[1, 2], 0).contains("sentence token"));
    assert!(message(&[1, 2], 7).contains("word index 7"));
    assert!(message(&[], 1).contains("caption is empty"));
    assert!(message(&[1, 0], 1).contains("word 1 of the caption"));
    assert!(message(&[1, 9], 1).contains("word 1 of the caption"));
    let m = message(&[2, 2], 1);
    assert!(
        m.contains("\"a\" is not in the caption \"b b\"") && m.contains("its words: b, b"),
        "{m}"
    );
    // and through ground_caption, before any work
    let fwd = forward(&model, &WORKED_CLIP, 2);
    let e = ground_caption(
        &model,
        &fwd,
        &[2],
        &options(Method::Cebr, 1, "data", LstmEbRule::Original),
        &no_progress,
    )
    .expect_err("a is not in \"b\"");
    assert!(e.to_string().contains("not in the caption"));
    let e = ground_caption(
        &model,
        &fwd,
        &[1],
        &options(Method::Bpr, 1, "data", LstmEbRule::Original),
        &no_progress,
    )
    .expect_err("BP-R is not a caption method");
    assert!(e.to_string().contains("cebr or ebr"));
}

// ---------------------------------------------------------------------------------------------
// The model directory
// ---------------------------------------------------------------------------------------------

/// A captioner of random weights and random biases for the round trip.
fn random_captioner_spec() -> ModelSpec {
    let mut spec = worked_spec();
    spec.input = InputSpec {
        channels: 3,
        height: 5,
        width: 4,
        resize: None,
        scale: 1.0,
        channel_order: ChannelOrder::Rgb,
        mean: vec![0.5; 3],
        std: vec![0.25; 3],
    };
    spec.frame = vec![
        FrameLayerSpec::Conv {
            name: "conv1".into(),
            out: 2,
            kernel: 3,
            stride: 1,
            pad: 1,
            bias: true,
        },
        FrameLayerSpec::Relu,
        FrameLayerSpec::Fc {
            name: "fc7".into(),
            out: 3,
            bias: true,
        },
        FrameLayerSpec::Relu,
        FrameLayerSpec::Dropout,
    ];
    spec.classifier.out = 4;
    spec.labels = vec!["<s>".into(), "x".into(), "y".into(), "z".into()];
    spec.captioner = Some(CaptionerSpec {
        embedding: "embed".into(),
        dim: 2,
        lstm1: "lstm1".into(),
        lstm1_hidden: 3,
        lstm2: "lstm2".into(),
        lstm2_hidden: 2,
        max_words: 6,
    });
    spec
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn a_captioner_round_trips_through_its_directory() {
    let spec = random_captioner_spec();
    let model = with_random_biases(Model::random(&spec, 5, Path::new("r")).unwrap(), 5);
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let back = Model::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.spec, model.spec);
    assert_eq!(back.labels, model.labels);
    let (a, b) = (model.captioner.unwrap(), back.captioner.unwrap());
    assert_eq!(a.words, b.words);
    assert_eq!((a.dim, a.static_width, a.max_words), (2, 3, 6));
    assert_eq!((b.dim, b.static_width, b.max_words), (2, 3, 6));
    assert_eq!(bits(&a.embedding), bits(&b.embedding));
    for (x, y) in [(&a.lstm1, &b.lstm1), (&a.lstm2, &b.lstm2)] {
        assert_eq!((x.inputs, x.hidden), (y.inputs, y.hidden));
        assert_eq!(bits(&x.input_transform.w), bits(&y.input_transform.w));
        assert_eq!(
            bits(x.input_transform.b.as_ref().unwrap()),
            bits(y.input_transform.b.as_ref().unwrap())
        );
        assert_eq!(bits(&x.w_hc), bits(&y.w_hc));
    }
    assert_eq!(bits(&model.classifier.fc.w), bits(&back.classifier.fc.w));
    // LSTM2's files: W_xc (4 H2, H1) and W_xc_static (4 H2, D_v), the columns of [W_xc | W_xc_static]
    let w_xc = read_tensor(&dir.path().join("lstm2_W_xc.npy")).unwrap();
    let w_static = read_tensor(&dir.path().join("lstm2_W_xc_static.npy")).unwrap();
    assert_eq!(w_xc.shape, [8, 3]);
    assert_eq!(w_static.shape, [8, 3]);
    let w_u = &a.lstm2.input_transform.w; // (8, 6)
    for r in 0..8 {
        assert_eq!(
            bits(&w_xc.data[r * 3..r * 3 + 3]),
            bits(&w_u[r * 6..r * 6 + 3])
        );
        assert_eq!(
            bits(&w_static.data[r * 3..r * 3 + 3]),
            bits(&w_u[r * 6 + 3..r * 6 + 6])
        );
    }
    // the vocabulary classifier reads LSTM2: (V, H2)
    assert_eq!(
        read_tensor(&dir.path().join("predict_w.npy"))
            .unwrap()
            .shape,
        [4, 2]
    );
    assert_eq!(
        read_tensor(&dir.path().join("embed_w.npy")).unwrap().shape,
        [4, 2]
    );
}

/// A saved captioner directory with model.json edited by `edit`; the load error's text.
fn load_error(edit: impl FnOnce(&mut serde_json::Value, &Path)) -> String {
    let spec = random_captioner_spec();
    let model = Model::random(&spec, 9, Path::new("r")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let json_path = dir.path().join("model.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json_path).unwrap()).unwrap();
    edit(&mut value, dir.path());
    fs::write(&json_path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    Model::load(dir.path())
        .expect_err("the edited model is refused")
        .to_string()
}

#[test]
fn a_captioner_directory_with_errors_is_refused_naming_the_field() {
    let m = load_error(|v, _| {
        v.as_object_mut().unwrap().remove("labels");
    });
    assert!(
        m.contains("field labels") && m.contains("vocabulary"),
        "{m}"
    );
    let m = load_error(|v, _| v["temporal"] = serde_json::json!([]));
    assert!(
        m.contains("field temporal") && m.contains("mean_pool"),
        "{m}"
    );
    let m = load_error(|v, _| {
        v["temporal"] = serde_json::json!([{"type": "lstm", "name": "lstmx", "hidden": 2}])
    });
    assert!(
        m.contains("field temporal") && m.contains("mean_pool"),
        "{m}"
    );
    // W_xc_static must be (4 H2, D_v) = (8, 3): one of (8, 2) is refused with both shapes
    let m = load_error(|_, dir| {
        write_npy(
            &dir.join("lstm2_W_xc_static.npy"),
            &Tensor::new(vec![8, 2], vec![0.0; 16]),
        )
        .unwrap()
    });
    assert!(
        m.contains("lstm2_W_xc_static.npy")
            && m.contains("W_xc_static")
            && m.contains("[8, 2]")
            && m.contains("[8, 3]"),
        "{m}"
    );
    // the vocabulary classifier reads LSTM2 (H2 = 2), not the mean feature (D_v = 3)
    let m = load_error(|_, dir| {
        write_npy(
            &dir.join("predict_w.npy"),
            &Tensor::new(vec![4, 3], vec![0.0; 12]),
        )
        .unwrap()
    });
    assert!(m.contains("[4, 3]") && m.contains("[4, 2]"), "{m}");
    // one label per output of the vocabulary classifier
    let m = load_error(|v, _| v["labels"] = serde_json::json!(["<s>", "x"]));
    assert!(m.contains("field labels") && m.contains("2 names"), "{m}");
}

// ---------------------------------------------------------------------------------------------
// The mean-pool step against the Caffe fixtures
// ---------------------------------------------------------------------------------------------

/// CAP-9 (`static_input_to_frames` over [mean_pool], the caption path's MEAN-2) on
/// fixtures/caffe/meanpool_time: the signal at the mean from a one-hot on fc8[1] (FC-3), then
/// to the frames; against the original's eb_feat, one layer's tolerance (the fixtures' README:
/// an independent f32 implementation of one layer within 1e-5 relative).
#[test]
fn the_mean_pool_step_matches_caffe_meanpool_time() {
    let case = "meanpool_time";
    let feat = load(case, "feat");
    let (t_n, d) = (feat.shape[0], feat.shape[1]);
    let layers = [TemporalLayer::MeanPool];
    let tfwd = temporal::forward(&layers, &feat.data, t_n, d);
    assert_close(
        "meanpool_time mean",
        &tfwd.output,
        &load(case, "meanpool").data,
        ONE_LAYER,
    );
    let w = load(case, "fc8_w");
    let fc8 = Fc::new(d, w.shape[0], w.data, Some(load(case, "fc8_b").data));
    let mut prior = vec![0.0; fc8.outputs];
    prior[1] = 1.0;
    let mut p_v = vec![f32::NAN; d];
    fc8.eb_backward(&mut p_v, &tfwd.output, &prior, 1);
    let a = static_input_to_frames(&layers, &tfwd, &p_v, LstmEbRule::Original);
    assert_close(
        "meanpool_time eb_feat",
        &a,
        &load(case, "eb_feat").data,
        ONE_LAYER,
    );
}

/// CAP-9 on fixtures/caffe/tiny_cnn_meanpool: the original's signal at its mean-pool
/// (c3_eb_meanpool) through the caption path's MEAN-2 to fc7, against its c3_eb_fc7 (one
/// layer from the fixture's own input: ONE_LAYER).
#[test]
fn the_mean_pool_step_matches_caffe_tiny_cnn_meanpool() {
    let case = "tiny_cnn_meanpool";
    let fc7 = load(case, "fwd_fc7");
    let (t_n, d) = (fc7.shape[0], fc7.shape[1]);
    let layers = [TemporalLayer::MeanPool];
    let tfwd = temporal::forward(&layers, &fc7.data, t_n, d);
    let p_v = load(case, "c3_eb_meanpool");
    let a = static_input_to_frames(&layers, &tfwd, &p_v.data, LstmEbRule::Original);
    assert_close(
        "tiny_cnn_meanpool c3_eb_fc7",
        &a,
        &load(case, "c3_eb_fc7").data,
        ONE_LAYER,
    );
}

// ---------------------------------------------------------------------------------------------
// Properties over random captioners
// ---------------------------------------------------------------------------------------------

/// A random captioning problem: the model's sizes, its weights' seed, a clip, a caption and
/// the position of the word to ground in it.
#[derive(Clone, Debug)]
struct Case {
    spec: ModelSpec,
    seed: u64,
    frames: usize,
    /// (T, C, H, W), signed
    clip: Vec<f32>,
    caption: Vec<usize>,
    word_at: usize,
}

impl Case {
    fn model(&self) -> Model {
        let model = Model::random(&self.spec, self.seed, Path::new("random"))
            .unwrap_or_else(|e| panic!("the generated spec does not build: {e}"));
        with_random_biases(model, self.seed)
    }

    fn word(&self) -> usize {
        self.caption[self.word_at % self.caption.len()]
    }
}

#[allow(clippy::too_many_arguments)]
fn captioner_spec(
    channels: usize,
    (height, width): (usize, usize),
    (conv_out, kernel, pad): (usize, usize, usize),
    features: usize,
    vocabulary: usize,
    (dim, h1, h2): (usize, usize, usize),
    max_words: usize,
) -> ModelSpec {
    ModelSpec {
        name: "random captioner".into(),
        input: InputSpec {
            channels,
            height,
            width,
            resize: None,
            scale: 1.0,
            channel_order: ChannelOrder::Bgr,
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        },
        frame: vec![
            FrameLayerSpec::Conv {
                name: "conv1".into(),
                out: conv_out,
                kernel: kernel.min(height + 2 * pad).min(width + 2 * pad),
                stride: 1,
                pad,
                bias: true,
            },
            FrameLayerSpec::Relu,
            FrameLayerSpec::Fc {
                name: "fc7".into(),
                out: features,
                bias: true,
            },
            FrameLayerSpec::Relu,
        ],
        temporal: vec![TemporalLayerSpec::MeanPool],
        classifier: FcSpec {
            name: "predict".into(),
            out: vocabulary,
            bias: true,
        },
        frame_classifier: None,
        captioner: Some(CaptionerSpec {
            embedding: "embed".into(),
            dim,
            lstm1: "lstm1".into(),
            lstm1_hidden: h1,
            lstm2: "lstm2".into(),
            lstm2_hidden: h2,
            max_words,
        }),
        labels: (0..vocabulary).map(|k| format!("w{k}")).collect(),
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(1usize), Just(3)],
        (3usize..=6, 3usize..=6),
        (1usize..=3, 1usize..=3, 0usize..=1),
        2usize..=6,
        3usize..=6,
        (1usize..=3, 1usize..=3, 2usize..=5),
        1usize..=5,
        1usize..=5,
        1usize..=5,
    )
        .prop_flat_map(
            |(channels, size, conv, features, vocabulary, dims, max_words, frames, words)| {
                let spec =
                    captioner_spec(channels, size, conv, features, vocabulary, dims, max_words);
                let len = frames * channels * size.0 * size.1;
                (
                    Just(spec),
                    any::<u64>(),
                    Just(frames),
                    proptest::collection::vec(-2.0f32..2.0, len),
                    proptest::collection::vec(1..vocabulary, words),
                    0usize..8,
                )
                    .prop_map(|(spec, seed, frames, clip, caption, word_at)| {
                        Case {
                            spec,
                            seed,
                            frames,
                            clip,
                            caption,
                            word_at,
                        }
                    })
            },
        )
}

/// `Model::random` leaves every bias at 0; random biases move the ReLU kinks, the dead units
/// and the LSTMs' gates.
fn with_random_biases(mut model: Model, seed: u64) -> Model {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(0xca97));
    let mut randomize = |b: &mut Option<Vec<f32>>| {
        if let Some(b) = b {
            b.iter_mut().for_each(|v| *v = rng.gen_range(-0.5f32..0.5));
        }
    };
    for layer in &mut model.frame.layers {
        match layer {
            FrameLayer::Conv { conv, .. } => randomize(&mut conv.b),
            FrameLayer::Fc { fc, .. } => randomize(&mut fc.b),
            _ => {}
        }
    }
    let c = model.captioner.as_mut().expect("a captioner");
    randomize(&mut c.lstm1.input_transform.b);
    randomize(&mut c.lstm2.input_transform.b);
    randomize(&mut model.classifier.fc.b);
    // Every word's row gets a positive and a negative weight (H2 >= 2), so that neither A nor
    // Ā is 0 by construction for every clip (a row without a positive weight passes nothing).
    let fc = &model.classifier.fc;
    if fc.inputs >= 2 {
        let mut w = fc.w.clone();
        for row in w.chunks_exact_mut(fc.inputs) {
            row[0] = row[0].abs();
            row[1] = -row[1].abs();
        }
        model.classifier.fc = Fc::new(fc.inputs, fc.outputs, w, fc.b.clone());
    }
    model
}

/// The one-hot prior of CAP-6 built from its definition: 1 at (s, word) where caption[s] ==
/// word.
fn prior_of(caption: &[usize], vocabulary: usize, word: usize) -> Vec<f32> {
    let mut p = vec![0.0f32; caption.len() * vocabulary];
    for (s, &w) in caption.iter().enumerate() {
        if w == word {
            p[s * vocabulary + w] = 1.0;
        }
    }
    p
}

/// FC-3 through the classifier from its definition, in f64: p_h2[s, j] = h2[s, j] *
/// sum_k W+[k, j] P[s, k] / Z[s, k], Z[s, k] = sum_j h2[s, j] W+[k, j] (0 where Z is not a
/// usable normalizer).
fn classifier_eb_reference(fc: &Fc, h2: &[f32], prior: &[f32], steps: usize) -> Vec<f32> {
    let (d, o) = (fc.inputs, fc.outputs);
    let mut p = vec![0.0f32; steps * d];
    for s in 0..steps {
        let x = &h2[s * d..(s + 1) * d];
        for k in 0..o {
            let w = &fc.w[k * d..(k + 1) * d];
            let z: f64 = (0..d).map(|j| x[j] as f64 * (w[j].max(0.0)) as f64).sum();
            let p_k = prior[s * o + k] as f64;
            if p_k == 0.0 || z.abs() < f32::MIN_POSITIVE as f64 {
                continue;
            }
            for j in 0..d {
                p[s * d + j] += (x[j] as f64 * w[j].max(0.0) as f64 * p_k / z) as f32;
            }
        }
    }
    p
}

/// The original rule's gate signal (T, 4H) from h's signal, in f64 from the f32 activations:
/// ORIGINAL.md section 2's unit backward, nothing through W_hc (LSTM-5, LSTM-6).
fn original_gate_signal(act: &LstmActivations, p_h: &[f32]) -> Vec<f64> {
    let (t_n, h_n) = (act.steps, act.hidden);
    let mut p_a = vec![0.0f64; t_n * 4 * h_n];
    let mut dc_next = vec![0.0f64; h_n];
    for t in (0..t_n).rev() {
        for j in 0..h_n {
            let gate = |k: usize| act.gates[t * 4 * h_n + k * h_n + j] as f64;
            let (i, f, o, g) = (gate(0), gate(1), gate(2), gate(3));
            let c = act.c[t * h_n + j] as f64;
            let c_prev = if t > 0 {
                act.c[(t - 1) * h_n + j] as f64
            } else {
                0.0
            };
            let dh = p_h[t * h_n + j] as f64;
            let dc = dc_next[j] + if c > 0.0 { dh * o } else { 0.0 };
            dc_next[j] = dc * f;
            let p = &mut p_a[t * 4 * h_n..(t + 1) * 4 * h_n];
            p[j] = dc * g * i * (1.0 - i);
            p[h_n + j] = dc * c_prev * f * (1.0 - f);
            p[2 * h_n + j] = dh * c.max(0.0) * o * (1.0 - o);
            p[3 * h_n + j] = if g > 0.0 { dc * i } else { 0.0 };
        }
    }
    p_a
}

/// ebr's conserving rule's gate signal (LSTM-9..LSTM-11), in f64: all of h_t's signal to c_t,
/// c_t's split between f c_{t-1} (carried back) and i g (all to g) in proportion, nothing to
/// i, f, o.
fn conserving_gate_signal(act: &LstmActivations, p_h: &[f32]) -> Vec<f64> {
    let (t_n, h_n) = (act.steps, act.hidden);
    let mut p_a = vec![0.0f64; t_n * 4 * h_n];
    let mut r_next = vec![0.0f64; h_n];
    for t in (0..t_n).rev() {
        for j in 0..h_n {
            let gate = |k: usize| act.gates[t * 4 * h_n + k * h_n + j] as f64;
            let (i, f, g) = (gate(0), gate(1), gate(3));
            let c = act.c[t * h_n + j] as f64;
            let c_prev = if t > 0 {
                act.c[(t - 1) * h_n + j] as f64
            } else {
                0.0
            };
            let r_c = p_h[t * h_n + j] as f64 + r_next[j];
            let usable = c.abs() >= f32::MIN_POSITIVE as f64;
            r_next[j] = if usable { r_c * f * c_prev / c } else { 0.0 };
            p_a[t * 4 * h_n + 3 * h_n + j] = if usable { r_c * i * g / c } else { 0.0 };
        }
    }
    p_a
}

fn sum64(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum()
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

fn frame_layer_names(model: &Model) -> Vec<String> {
    model.frame.layer_names()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// CAP-7: at every step, LSTM2's gate signal is shared between LSTM1's output and the
    /// static input by FC-3 over u = [h1 ; v]: sum_s (p_h1[s] + p_v[s]) = the gate signal summed
    /// over the (step, gate unit) pairs whose normalizer Z = u_s . [W_xc | W_xc_static]+ is
    /// usable (EB conservation over the concatenation); the rest is dropped (EB-2). The gate
    /// signal is computed here from the unit's definition (both rules), from the classifier's
    /// signal, itself checked against FC-3's definition. And CAP-8: p_v = sum_s p_v[s].
    #[test]
    fn static_share_plus_dynamic_share_is_the_gate_signal(case in case_strategy()) {
        let model = case.model();
        let c = model.captioner.as_ref().unwrap();
        let fwd = forward(&model, &case.clip, case.frames);
        let v = &fwd.temporal.output;
        let s_n = case.caption.len();
        let cap = c.forward(&model.classifier.fc, v, &teacher_inputs(&case.caption, s_n));
        let word = case.word();
        let prior = prior_of(&case.caption, c.vocabulary(), word);
        let (h1_n, d_v, h2_n) = (c.lstm1.hidden, c.static_width, c.lstm2.hidden);
        let w_u = &c.lstm2.input_transform.w; // (4 H2, H1 + D_v)
        for rule in [LstmEbRule::Original, LstmEbRule::Conserving] {
            let a = caption_attention(&model, &fwd, c, &cap, &model.classifier.fc, &prior, rule);
            let p_h2 = classifier_eb_reference(&model.classifier.fc, &cap.lstm2.h, &prior, s_n);
            let largest = p_h2.iter().fold(1.0f32, |m, x| m.max(x.abs()));
            for (i, (&got, &want)) in a.p_h2.iter().zip(&p_h2).enumerate() {
                prop_assert!((got - want).abs() <= CLASSIFIER_EB * largest,
                    "p_h2[{i}] = {got}, FC-3 gives {want}");
            }
            let p_a = match rule {
                LstmEbRule::Original => original_gate_signal(&cap.lstm2, &a.p_h2),
                LstmEbRule::Conserving => conserving_gate_signal(&cap.lstm2, &a.p_h2),
            };
            let mut want = 0.0f64;
            for s in 0..s_n {
                let u = &cap.u[s * (h1_n + d_v)..(s + 1) * (h1_n + d_v)];
                for o in 0..4 * h2_n {
                    let row = &w_u[o * (h1_n + d_v)..(o + 1) * (h1_n + d_v)];
                    let z: f64 = u.iter().zip(row).map(|(&x, &w)| x as f64 * w.max(0.0) as f64).sum();
                    // a normalizer at f32's edge could be usable in f64 and not in f32
                    prop_assume!(z == 0.0 || z >= 1e-30);
                    if z > 0.0 {
                        want += p_a[s * 4 * h2_n + o];
                    }
                }
            }
            let got = sum64(&a.p_h1) + sum64(&a.p_v_steps);
            prop_assert!(a.p_h1.iter().chain(&a.p_v_steps).all(|&x| x >= 0.0));
            prop_assert!((got - want).abs() <= GATE_SHARES * want,
                "{rule:?}: static + dynamic shares {got:e}, gate signal over usable units {want:e}");
            for (d, &p_v) in a.p_v.iter().enumerate() {
                let steps_sum: f64 = (0..s_n).map(|s| a.p_v_steps[s * d_v + d] as f64).sum();
                prop_assert!((p_v as f64 - steps_sum).abs() <= STEP_SUM * steps_sum,
                    "p_v[{d}] = {p_v}, sum over the steps {steps_sum}");
            }
        }
    }

    /// EB-R's signal stays non-negative from the prior to every layer above the image: the
    /// prior, h2, h1, v, the features and every blob above "data" are >= 0, and so is every
    /// factor of FC-3, the unit's backward (c >= 0 in a ReLU-LSTM: LSTM-P1), MEAN-2, EB-1..3,
    /// RELU-2 (exactly: no rounding changes a sign). Both LSTM rules.
    #[test]
    fn ebr_maps_are_non_negative_above_the_image(case in case_strategy()) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames);
        for rule in [LstmEbRule::Original, LstmEbRule::Conserving] {
            for layer in frame_layer_names(&model).into_iter().filter(|l| l != "data") {
                let g = ground(&model, &fwd, &case.caption,
                    &options(Method::Ebr, case.word(), &layer, rule));
                for (what, v) in [
                    ("A", &g.attention.signal),
                    ("the dual's A", &g.dual_attention.signal),
                    ("feature signal", &g.feature_signal),
                    ("layer signal", &g.layer_signal),
                    ("map", &g.maps),
                ] {
                    if let Some(i) = v.iter().position(|&x| x < 0.0 || x.is_nan()) {
                        prop_assert!(false, "{rule:?} {layer} {what}[{i}] = {}", v[i]);
                    }
                }
            }
        }
    }

    /// CAP-7..CAP-9 are linear in the prior: A(a P1 + b P2) = a A(P1) + b A(P2), for any two
    /// signed priors on the caption's logits, per value within LINEARITY of the terms' size.
    #[test]
    fn the_word_attention_is_linear_in_the_prior(
        case in case_strategy(),
        prior_seed in any::<u64>(),
        a in -2.0f32..2.0,
        b in -2.0f32..2.0,
    ) {
        let model = case.model();
        let c = model.captioner.as_ref().unwrap();
        let fwd = forward(&model, &case.clip, case.frames);
        let s_n = case.caption.len();
        let cap = c.forward(&model.classifier.fc, &fwd.temporal.output, &teacher_inputs(&case.caption, s_n));
        let mut rng = StdRng::seed_from_u64(prior_seed);
        let len = s_n * c.vocabulary();
        let p1: Vec<f32> = (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let p2: Vec<f32> = (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let combine = |x: &[f32], y: &[f32]| -> Vec<f32> {
            x.iter().zip(y).map(|(&x, &y)| a * x + b * y).collect()
        };
        let bound_of = |x: &[f32], y: &[f32]| -> Vec<f32> {
            x.iter().zip(y).map(|(&x, &y)| a.abs() * x + b.abs() * y).collect()
        };
        for rule in [LstmEbRule::Original, LstmEbRule::Conserving] {
            let attend = |p: &[f32]| caption_attention(&model, &fwd, c, &cap, &model.classifier.fc, p, rule);
            let got = attend(&combine(&p1, &p2));
            let (e1, e2) = (attend(&p1), attend(&p2));
            let (s1, s2) = (attend(&abs(&p1)), attend(&abs(&p2)));
            assert_within_bound(&format!("{rule:?} A"), &got.signal,
                &combine(&e1.signal, &e2.signal), &bound_of(&s1.signal, &s2.signal), LINEARITY);
            assert_within_bound(&format!("{rule:?} p_v"), &got.p_v,
                &combine(&e1.p_v, &e2.p_v), &bound_of(&s1.p_v, &s2.p_v), LINEARITY);
        }
    }

    /// CAP-10: grounding the word in a model whose classifier row of that word is negated
    /// (`dual_word` applied) swaps A and Ā exactly (-(-w) == w in f32), and every cEB-R signal
    /// and map is the exact negation (round to nearest is symmetric; every step below is linear
    /// with sign-symmetric rounding), compared with == at every layer. Also: the dual of one
    /// row gives bit for bit the A of FC-5's whole negated classifier (the other rows' ratio is
    /// 0).
    #[test]
    fn the_dual_word_negates_every_cebr_map(case in case_strategy()) {
        let model = case.model();
        let word = case.word();
        let mut dual = model.clone();
        dual.classifier.fc = dual_word(&model.classifier.fc, word);
        let fwd = forward(&model, &case.clip, case.frames);
        let fwd_dual = forward(&dual, &case.clip, case.frames);
        for rule in [LstmEbRule::Original, LstmEbRule::Conserving] {
            for layer in frame_layer_names(&model) {
                let o = options(Method::Cebr, word, &layer, rule);
                let g = ground(&model, &fwd, &case.caption, &o);
                let h = ground(&dual, &fwd_dual, &case.caption, &o);
                prop_assert_eq!(&g.attention, &h.dual_attention);
                prop_assert_eq!(&g.dual_attention, &h.attention);
                for (what, mine, theirs) in [
                    ("feature signal", &g.feature_signal, &h.feature_signal),
                    ("layer signal", &g.layer_signal, &h.layer_signal),
                    ("map", &g.maps, &h.maps),
                ] {
                    if let Some(i) = (0..mine.len()).find(|&i| theirs[i] != -mine[i]) {
                        prop_assert!(false, "{rule:?} {layer} {what}[{i}]: {} is not -{}", theirs[i], mine[i]);
                    }
                }
            }
            let c = model.captioner.as_ref().unwrap();
            let s_n = case.caption.len();
            let cap = c.forward(&model.classifier.fc, &fwd.temporal.output, &teacher_inputs(&case.caption, s_n));
            let prior = prior_of(&case.caption, c.vocabulary(), word);
            let one_row = caption_attention(&model, &fwd, c, &cap, &dual_word(&model.classifier.fc, word), &prior, rule);
            let all_rows = caption_attention(&model, &fwd, c, &cap, &model.classifier.fc.negated(), &prior, rule);
            prop_assert_eq!(one_row, all_rows);
        }
    }

    /// Greedy decoding: at most max_words words, never the sentence token; every word is the
    /// argmax of its step given the words before it (the same forward pass as teacher forcing
    /// with that caption), and a caption shorter than max_words ends because the next step's
    /// argmax is the sentence token.
    #[test]
    fn greedy_decoding_stops_at_the_sentence_token_or_max_words(case in case_strategy()) {
        let model = case.model();
        let c = model.captioner.as_ref().unwrap();
        let fwd = forward(&model, &case.clip, case.frames);
        let v = &fwd.temporal.output;
        let caption = c.decode(&model.classifier.fc, v);
        prop_assert!(caption.len() <= c.max_words);
        prop_assert!(caption.iter().all(|&w| w != SENTENCE && w < c.vocabulary()));
        let n = caption.len();
        let cap = c.forward(&model.classifier.fc, v, &teacher_inputs(&caption, n + 1));
        let argmax = cap.argmax_words();
        prop_assert_eq!(&argmax[..n], &caption[..]);
        if n < c.max_words {
            prop_assert_eq!(argmax[n], SENTENCE);
        }
    }

    /// Teacher forcing: a caption of n words runs n steps whose inputs are the sentence token
    /// then the caption's first n - 1 words (so that step s emits word s, CAP-2); the word's
    /// steps are its positions (CAP-6); the grounding reports them and the word's probability
    /// at each.
    #[test]
    fn teacher_forcing_runs_the_given_captions_steps(case in case_strategy()) {
        let model = case.model();
        let c = model.captioner.as_ref().unwrap();
        let fwd = forward(&model, &case.clip, case.frames);
        let n = case.caption.len();
        let inputs = teacher_inputs(&case.caption, n);
        let mut want = vec![SENTENCE];
        want.extend_from_slice(&case.caption[..n - 1]);
        prop_assert_eq!(&inputs, &want);
        let cap = c.forward(&model.classifier.fc, &fwd.temporal.output, &inputs);
        prop_assert_eq!(cap.steps(), n);
        prop_assert_eq!(cap.logits.len(), n * c.vocabulary());
        let word = case.word();
        let positions: Vec<usize> = (0..n).filter(|&s| case.caption[s] == word).collect();
        prop_assert_eq!(&word_steps(&case.caption, word), &positions);
        let g = ground(&model, &fwd, &case.caption, &options(Method::Ebr, word, "data", LstmEbRule::Original));
        prop_assert_eq!(&g.steps, &positions);
        let probabilities: Vec<f32> = positions.iter().map(|&s| cap.probs[s * c.vocabulary() + word]).collect();
        prop_assert_eq!(g.probabilities, probabilities);
    }
}

// ---------------------------------------------------------------------------------------------
// `ebr ground-caption` through the binary, on the bundled captioner and clip
// ---------------------------------------------------------------------------------------------

fn demo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo-caption")
        .join(path)
}

fn ebr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(args)
        .output()
        .expect("the ebr binary runs")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// The bundled clip's set.json entry: its caption.
fn demo_caption() -> Vec<String> {
    let entry: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(demo("clip.json")).unwrap()).unwrap();
    entry["caption"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ground_caption_on_the_bundled_captioner_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let caption = demo_caption();
    let noun = caption[0].clone();
    let out = dir.path().join("out");
    let model = demo("model");
    let clip = demo("clip");
    let text = caption.join(" ");
    let args = [
        "ground-caption",
        "--model",
        path_str(&model),
        "--clip",
        path_str(&clip),
        "--caption",
        &text,
        "--word",
        &noun,
        "--out",
        path_str(&out),
    ];
    let run = ebr(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains(&format!("caption: {text}")), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["caption"], text.as_str());
    assert_eq!(summary["word"]["text"], noun.as_str());
    assert_eq!(summary["word"]["steps"], serde_json::json!([0]));
    assert_eq!(summary["method"], "cebr");
    assert_eq!(summary["frames"].as_array().unwrap().len(), 16);
    let maps = read_tensor(&out.join("maps.npy")).unwrap();
    assert_eq!(maps.shape[0], 16);
    assert!(maps.data.iter().all(|v| v.is_finite()));
    for file in [
        "timeline.svg",
        "overlay.gif",
        "frames/0000.png",
        "frames/0015.png",
    ] {
        assert!(out.join(file).is_file(), "{file} is missing");
    }
    // the model's own caption (greedy) names both actors: grounding its first word works too
    let own = dir.path().join("own");
    let run = ebr(&[
        "ground-caption",
        "--model",
        path_str(&model),
        "--clip",
        path_str(&clip),
        "--word",
        &caption[3],
        "--method",
        "ebr",
        "--no-overlays",
        "--quiet",
        "--out",
        path_str(&own),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.stdout.is_empty());
    assert!(own.join("maps.npy").is_file() && !own.join("overlay.gif").exists());
}

/// Runs `args`, expects exit 1 with one line on stderr containing every `wanted` text, and
/// nothing written at `out`.
fn fails(args: &[&str], out: &Path, wanted: &[&str]) {
    let run = ebr(args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    for w in wanted {
        assert!(stderr.contains(w), "{args:?}: {stderr} lacks {w}");
    }
    assert!(!out.exists(), "{args:?} left {}", out.display());
    let parent = out.parent().unwrap();
    let left: Vec<_> = fs::read_dir(parent).unwrap().collect();
    assert!(
        left.is_empty(),
        "{args:?} left files in {}",
        parent.display()
    );
}

#[test]
fn ground_caption_errors_are_one_line_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    let out = work.join("out");
    let (model, clip) = (demo("model"), demo("clip"));
    let (m, c, o) = (path_str(&model), path_str(&clip), path_str(&out));
    let caption = demo_caption().join(" ");
    // a word not in the vocabulary: the vocabulary is listed
    fails(
        &[
            "ground-caption",
            "--model",
            m,
            "--clip",
            c,
            "--word",
            "circle",
            "--out",
            o,
        ],
        &out,
        &[
            "unknown word \"circle\"",
            "disk",
            "square",
            "triangle",
            "then",
        ],
    );
    // the sentence token is not a word
    fails(
        &[
            "ground-caption",
            "--model",
            m,
            "--clip",
            c,
            "--word",
            "<s>",
            "--out",
            o,
        ],
        &out,
        &["unknown word \"<s>\""],
    );
    // a word of the vocabulary not in the caption: the caption's words are listed
    fails(
        &[
            "ground-caption",
            "--model",
            m,
            "--clip",
            c,
            "--caption",
            "disk left then square up",
            "--word",
            "triangle",
            "--out",
            o,
        ],
        &out,
        &[
            "\"triangle\" is not in the caption",
            "its words: disk, left, then, square, up",
        ],
    );
    // a word not in the model's own caption: said so (the bundled clip is one the model
    // captions exactly right, tools/train_captioner.py: its caption is clip.json's)
    let words = demo_caption();
    let absent = ["disk", "square", "triangle"]
        .into_iter()
        .find(|w| !words.iter().any(|o| o == w))
        .expect("two of the three shapes are in the caption");
    fails(
        &[
            "ground-caption",
            "--model",
            m,
            "--clip",
            c,
            "--word",
            absent,
            "--out",
            o,
        ],
        &out,
        &[
            "is not in the caption",
            "the model's own caption",
            "--caption",
        ],
    );
    // an empty caption
    fails(
        &[
            "ground-caption",
            "--model",
            m,
            "--clip",
            c,
            "--caption",
            " ",
            "--word",
            "disk",
            "--out",
            o,
        ],
        &out,
        &["--caption is empty"],
    );
    // an action model given to ground-caption
    let action = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/model");
    let action_clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/clip");
    fails(
        &[
            "ground-caption",
            "--model",
            path_str(&action),
            "--clip",
            path_str(&action_clip),
            "--word",
            "disk",
            "--out",
            o,
        ],
        &out,
        &["describes no captioner", "ebr ground"],
    );
    // a captioner given to ground
    fails(
        &[
            "ground", "--model", m, "--clip", c, "--target", "disk", "--out", o,
        ],
        &out,
        &["is a captioner", "ebr ground-caption"],
    );
    // a method of ground that ground-caption does not run is a usage error (clap, exit 2)
    let run = ebr(&[
        "ground-caption",
        "--model",
        m,
        "--clip",
        c,
        "--caption",
        &caption,
        "--word",
        "disk",
        "--method",
        "bpr",
        "--out",
        o,
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(!out.exists());
}
