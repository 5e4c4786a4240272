//! From finite inputs, every output is finite: the forward pass (features, the temporal
//! output, logits, probabilities), every method's signals and maps at every layer, the
//! temporal attention and its normalizers, and what is reported from the maps (frame sums,
//! temporal peak, segment, windows, peak points).
//!
//! EB divides by a normalizer Z at every layer with weights. The original Caffe code gives 0
//! for Z == 0 (no epsilon); ebr also gives 0 for a subnormal Z and for a quotient past f32's
//! range (spec/README.md, EB-2), and the temporal normalization gives 0 for a zero total
//! (PIPE-5, PIPE-6). This test drives the cases that reach those rules: exact zeros (an
//! all-zero frame, a zero filter, a zero classifier row), tiny values (1e-30, subnormal
//! 1e-40) and large ones (1e10), weights scaled from 1e-12 to 10, ReLU or not after a layer.
//!
//! A case is drawn from one seed: a random model spec (0-3 convolutions with kernel 1..3,
//! stride 1..2, pad 0..2, each maybe with a ReLU and a max or average pooling; maybe an fc
//! feature layer; no temporal layer, an LSTM, a mean-pool, two LSTMs or an LSTM and a
//! mean-pool; 1..4 classes; maybe a frame classifier), `Model::random` weights rescaled per
//! layer, random biases, and a clip of T = 1..5 frames whose every frame has its own
//! magnitude. The magnitudes are bounded so that the forward pass itself cannot overflow
//! (at most 1e10 * (10 * 3 * 3 * 4)^6, about 1e25, far below f32's 3.4e38): a non-finite
//! value is then the backward math's. Every method, both priors, both normalizations and
//! both LSTM rules run on every case, at a random map layer and at "data".

use std::path::Path;

use ebr::grounding::{ground, Method, Normalization, Options, Prior};
use ebr::layers::{Conv, ConvGeometry, Fc, LstmEbRule, PoolGeometry};
use ebr::localize::{
    frame_sums, known_length_window, peak_point, temporal_peak, unknown_length_segment,
};
use ebr::model::schema::{FcSpec, FrameLayerSpec, TemporalLayerSpec};
use ebr::model::{forward_clip, ClipForward, Execution};
use ebr::model::{ChannelOrder, FrameLayer, Head, InputSpec, Model, ModelSpec};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A random model spec whose layers fit their inputs (sizes are checked with the layers' own
/// geometry; a layer that would not fit is left out).
fn random_spec(rng: &mut StdRng) -> ModelSpec {
    let channels = if rng.gen_bool(0.5) { 1 } else { 3 };
    let (height, width) = (rng.gen_range(3..=9), rng.gen_range(3..=9));
    let mut frame = Vec::new();
    let [mut c, mut h, mut w] = [channels, height, width];
    for i in 0..rng.gen_range(0..=3) {
        let (out, kernel, stride, pad) = (
            rng.gen_range(1..=4),
            rng.gen_range(1..=3),
            rng.gen_range(1..=2),
            rng.gen_range(0..=2),
        );
        let Ok(g) = ConvGeometry::new(c, h, w, out, kernel, stride, pad) else {
            continue;
        };
        frame.push(FrameLayerSpec::Conv {
            name: format!("conv{i}"),
            out,
            kernel,
            stride,
            pad,
            bias: rng.gen_bool(0.7),
        });
        [c, h, w] = [out, g.out_height(), g.out_width()];
        if rng.gen_bool(0.8) {
            frame.push(FrameLayerSpec::Relu);
        }
        if rng.gen_bool(0.5) {
            let kernel = rng.gen_range(1..=3);
            let (stride, pad) = (rng.gen_range(1..=2), rng.gen_range(0..kernel));
            if let Ok(g) = PoolGeometry::new(c, h, w, kernel, stride, pad) {
                let name = Some(format!("pool{i}"));
                frame.push(if rng.gen_bool(0.5) {
                    FrameLayerSpec::MaxPool {
                        name,
                        kernel,
                        stride,
                        pad,
                    }
                } else {
                    FrameLayerSpec::AvgPool {
                        name,
                        kernel,
                        stride,
                        pad,
                    }
                });
                [h, w] = [g.out_height(), g.out_width()];
            }
        }
    }
    if frame.is_empty() || rng.gen_bool(0.6) {
        frame.push(FrameLayerSpec::Fc {
            name: "fc".to_string(),
            out: rng.gen_range(1..=6),
            bias: rng.gen_bool(0.7),
        });
        if rng.gen_bool(0.8) {
            frame.push(FrameLayerSpec::Relu);
        }
        if rng.gen_bool(0.3) {
            frame.push(FrameLayerSpec::Dropout);
        }
    }
    let lstm = |name: &str, rng: &mut StdRng| TemporalLayerSpec::Lstm {
        name: name.to_string(),
        hidden: rng.gen_range(1..=5),
    };
    let temporal = match rng.gen_range(0..5) {
        0 => vec![],
        1 => vec![lstm("lstm1", rng)],
        2 => vec![TemporalLayerSpec::MeanPool],
        3 => vec![lstm("lstm1", rng), lstm("lstm2", rng)],
        _ => vec![lstm("lstm1", rng), TemporalLayerSpec::MeanPool],
    };
    let classes = rng.gen_range(1..=4);
    let head = |name: &str, rng: &mut StdRng| FcSpec {
        name: name.to_string(),
        out: classes,
        bias: rng.gen_bool(0.7),
    };
    let classifier = head("cls", rng);
    let frame_classifier = rng.gen_bool(0.7).then(|| head("fcls", rng));
    ModelSpec {
        name: "finite".to_string(),
        input: InputSpec {
            channels,
            height,
            width,
            resize: None,
            scale: 255.0,
            channel_order: ChannelOrder::Bgr,
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        },
        frame,
        temporal,
        classifier,
        frame_classifier,
        captioner: None,
        labels: (0..classes).map(|k| k.to_string()).collect(),
    }
}

/// `w` (O rows) scaled by one of 1e-12, 1e-3, 1, 10, with maybe one row set to exact zeros;
/// a bias of random sign and size (or exact zeros).
fn rescaled(
    rng: &mut StdRng,
    w: &[f32],
    rows: usize,
    b: Option<&[f32]>,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let factor = [1e-12f32, 1e-3, 1.0, 10.0][rng.gen_range(0..4)];
    let mut w: Vec<f32> = w.iter().map(|&v| v * factor).collect();
    if rng.gen_bool(0.3) {
        let row_len = w.len() / rows;
        let row = rng.gen_range(0..rows);
        w[row * row_len..(row + 1) * row_len].fill(0.0);
    }
    let bias_size = [0.0f32, 1e-30, 0.1, 1.0][rng.gen_range(0..4)];
    let b = b.map(|b| {
        b.iter()
            .map(|_| bias_size * rng.gen_range(-1.0f32..=1.0))
            .collect()
    });
    (w, b)
}

fn rescaled_fc(rng: &mut StdRng, fc: &Fc) -> Fc {
    let (w, b) = rescaled(rng, &fc.w, fc.outputs, fc.b.as_deref());
    Fc::new(fc.inputs, fc.outputs, w, b)
}

/// `Model::random`'s He weights, rescaled layer by layer (the LSTMs keep theirs).
fn random_model(spec: &ModelSpec, rng: &mut StdRng) -> Model {
    let mut model = Model::random(spec, rng.gen(), Path::new("random")).expect("the spec fits");
    for layer in &mut model.frame.layers {
        match layer {
            FrameLayer::Conv { conv, .. } => {
                let (w, b) = rescaled(rng, &conv.w, conv.geometry.out_channels, conv.b.as_deref());
                *conv = Conv::new(conv.geometry, w, b);
            }
            FrameLayer::Fc { fc, .. } => *fc = rescaled_fc(rng, fc),
            _ => {}
        }
    }
    let head = |head: &Head, rng: &mut StdRng| Head {
        name: head.name.clone(),
        fc: rescaled_fc(rng, &head.fc),
    };
    model.classifier = head(&model.classifier, rng);
    model.frame_classifier = model.frame_classifier.as_ref().map(|h| head(h, rng));
    model
}

/// T frames (C, H, W), each of its own kind: exact zeros, tiny (1e-30), subnormal (1e-40),
/// about 1, large (1e10), or a mix of all of them; signed (the mean-subtracted image is).
fn random_clip(rng: &mut StdRng, frames: usize, frame_len: usize) -> Vec<f32> {
    let mut clip = Vec::with_capacity(frames * frame_len);
    let sizes = [0.0f32, 1e-30, 1e-40, 1.0, 1e10];
    for _ in 0..frames {
        let kind = rng.gen_range(0..=sizes.len());
        for _ in 0..frame_len {
            let size = if kind == sizes.len() {
                sizes[rng.gen_range(0..sizes.len())]
            } else {
                sizes[kind]
            };
            // A quarter of the values are exact zeros in every kind of frame.
            let v = if rng.gen_bool(0.25) {
                0.0
            } else {
                size * rng.gen_range(-1.0f32..=1.0)
            };
            clip.push(v);
        }
    }
    clip
}

/// Panics naming `what` and the first value that is not finite.
fn assert_finite(what: &str, values: &[f32]) {
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        panic!(
            "{what}: value {} at index {index} is not finite",
            values[index]
        );
    }
}

fn assert_forward_finite(fwd: &ClipForward) {
    assert_finite("features", &fwd.features);
    assert_finite("temporal output", &fwd.temporal.output);
    assert_finite("logits", &fwd.logits);
    assert_finite("probs", &fwd.probs);
    assert_finite("mean probs", &fwd.mean_probs());
}

/// Runs every method, prior, normalization and LSTM rule on one case and checks every output.
fn check_case(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let spec = random_spec(&mut rng);
    let model = random_model(&spec, &mut rng);
    let frames = rng.gen_range(1..=5);
    let [c, height, width] = model.frame.input_shape();
    let clip = random_clip(&mut rng, frames, c * height * width);
    let execution = Execution {
        threads: 1,
        ..Execution::default()
    };
    let fwd = forward_clip(&model, &clip, frames, &execution, Some(0), &|_| {});
    assert_forward_finite(&fwd);

    let names = model.frame.layer_names();
    let random_layer = names[rng.gen_range(0..names.len())].clone();
    for layer in ["data".to_string(), random_layer] {
        for method in Method::ALL {
            let classes = if method.per_frame() {
                match &model.frame_classifier {
                    Some(head) => head.fc.outputs,
                    None => continue,
                }
            } else {
                model.classes()
            };
            for prior in [Prior::Last, Prior::All] {
                for normalization in [Normalization::Paper, Normalization::Demo] {
                    for lstm_rule in [LstmEbRule::Original, LstmEbRule::Conserving] {
                        let options = Options {
                            method,
                            class: rng.gen_range(0..classes),
                            layer: layer.clone(),
                            prior,
                            normalization,
                            lstm_rule,
                        };
                        let what = format!("seed {seed}, {options:?}");
                        let g = ground(&model, &fwd, &options, &|_| {})
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        assert_finite(&format!("{what}: feature signal"), &g.feature_signal);
                        assert_finite(&format!("{what}: layer signal"), &g.layer_signal);
                        assert_finite(&format!("{what}: maps"), &g.maps);
                        if let Some(a) = &g.attention {
                            assert_finite(&format!("{what}: attMap1"), &a.signal);
                            assert_finite(&format!("{what}: attMap2"), &a.dual_signal);
                            assert_finite(&format!("{what}: normalizers"), &[a.norm, a.dual_norm]);
                            assert_finite(&format!("{what}: normalized"), &a.normalized);
                            assert_finite(&format!("{what}: dual normalized"), &a.dual_normalized);
                        }
                        check_summary(&what, &g.maps, frames, g.layer_shape, [height, width]);
                    }
                }
            }
        }
    }
}

/// What `ebr ground` reports from the maps: finite sums, a peak, a segment and windows inside
/// the clip, peak points inside the frame.
fn check_summary(
    what: &str,
    maps: &[f32],
    frames: usize,
    layer_shape: [usize; 3],
    input: [usize; 2],
) {
    let [_, h, w] = layer_shape;
    let sums = frame_sums(maps, frames);
    assert_finite(&format!("{what}: frame sums"), &sums);
    let peak = temporal_peak(&sums);
    let (start, end) = unknown_length_segment(&sums);
    assert!(
        start <= peak && peak <= end && end < frames,
        "{what}: segment {start}..={end}, peak {peak}"
    );
    for length in 1..=frames {
        let (s, e) = known_length_window(&sums, length).expect("a window of at most T frames");
        assert_eq!(e + 1 - s, length, "{what}: window of length {length}");
    }
    for t in 0..frames {
        let (row, col) = peak_point(&maps[t * h * w..(t + 1) * h * w], h, w, input[0], input[1]);
        assert!(
            row < input[0] && col < input[1],
            "{what}: peak point ({row}, {col})"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_output_is_finite_for_finite_inputs(seed in any::<u64>()) {
        check_case(seed);
    }
}

/// The hardest case spelled out: an all-zero clip through a model with zero biases. Every Z
/// is 0, every normalizer is 0, so every signal is 0 (the original's 0 for Z == 0), and no
/// method divides 0 by 0 into NaN.
#[test]
fn an_all_zero_clip_gives_zero_maps_not_nan() {
    for seed in 0..8 {
        let mut rng = StdRng::seed_from_u64(seed);
        let spec = random_spec(&mut rng);
        let model = Model::random(&spec, seed, Path::new("random")).unwrap();
        let [c, h, w] = model.frame.input_shape();
        let frames = 3;
        let clip = vec![0.0f32; frames * c * h * w];
        let fwd = forward_clip(
            &model,
            &clip,
            frames,
            &Execution::default(),
            Some(0),
            &|_| {},
        );
        assert_forward_finite(&fwd);
        for method in [Method::Cebr, Method::Ebr] {
            for prior in [Prior::Last, Prior::All] {
                let options = Options {
                    method,
                    class: 0,
                    layer: "data".to_string(),
                    prior,
                    normalization: Normalization::Paper,
                    lstm_rule: LstmEbRule::Original,
                };
                let g = ground(&model, &fwd, &options, &|_| {}).unwrap();
                assert!(
                    g.maps.iter().all(|&v| v == 0.0),
                    "seed {seed} {method:?} {prior:?}: {:?}",
                    g.maps
                );
            }
        }
    }
}

/// The case the property test found (tests/finite.proptest-regressions): a frame classifier's
/// EB on features near f32's smallest normal number. z = 7.6e-41 * 2.9 + 1.03e-39 * 18.9 =
/// 2.0e-38 is a usable normalizer, X = 1 / z = 5e37, and w_plus * X = 18.9 * 5e37 overflows
/// to inf before the product with x = 1.03e-39; the original's signal is inf there, and after
/// the contrast inf - inf = NaN. ebr gives 0 where EB-3's f32 result is not finite (EB-2,
/// `times_input_or_zero`), and keeps every finite value as it was.
#[test]
fn a_normalizer_near_the_smallest_normal_number_gives_finite_signals() {
    let x = [7.6236e-41f32, 1.027519e-39, 1.834967e-39, 0.0]; // (1, D = 4), subnormal
    let fc = Fc::new(4, 1, vec![2.9247131, 18.94163, 0.0, 0.0], None);
    let mut p_bottom = vec![f32::NAN; 4];
    fc.eb_backward(&mut p_bottom, &x, &[1.0], 1);
    assert_finite("p_bottom", &p_bottom);
    // x[0]'s share, 7.6e-41 * (2.92 * 5e37), stays finite and is kept; x[1]'s overflowed.
    let z = 7.6236e-41f32 * 2.9247131 + 1.027519e-39 * 18.94163;
    assert_eq!(p_bottom[0], 7.6236e-41 * (2.9247131 * (1.0 / z)));
    assert_eq!(p_bottom[1..], [0.0, 0.0, 0.0]);
}
