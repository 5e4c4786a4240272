//! Property tests of the whole grounding pipeline (spec/pipeline.md, PIPE-1..PIPE-10) over
//! random models and clips: what the six methods must satisfy whatever the weights.
//!
//! A case is a random model spec (1-3 convolutions with kernel 1..5, stride 1..2, pad 0..2,
//! each with a ReLU and maybe a max or average pooling; an fc feature layer with its ReLU, as
//! fc7, maybe a dropout; temporal: one LSTM, a mean-pool, or two LSTMs; a frame classifier),
//! He-random weights from `Model::random` plus random biases, a clip of T = 1..6 small
//! non-square frames with signed values (the mean-subtracted image is signed), a class, a
//! prior (last or all) and a map layer.
//!
//! Every expected value comes from the definition (a sum that must be 0, 1 or T, a negation, a
//! linear combination, a finite difference of the forward pass), never from the code under
//! test. Every tolerance is a named constant with its reason; u = 2^-24 ≈ 6e-8 is the f32 unit
//! roundoff. proptest keeps any shrunk failure in tests/pipeline_properties.proptest-regressions
//! and replays it first on every run.

mod common;

use std::path::Path;

use common::assert_within_bound;
use ebr::grounding::{
    frame_backward, ground, map_blob, one_hot_prior, Grounding, Method, Normalization, Options,
    Prior,
};
use ebr::layers::{Conv, Fc, PoolGeometry};
use ebr::layers::{LstmEbRule, Rule};
use ebr::model::schema::{FcSpec, FrameLayerSpec, TemporalLayerSpec};
use ebr::model::temporal::TemporalActivations;
use ebr::model::{forward_clip, ClipForward, Execution};
use ebr::model::{ChannelOrder, FrameLayer, InputSpec, Model, ModelSpec, TemporalLayer};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------------------------
// Tolerances
// ---------------------------------------------------------------------------------------------

/// A sum of normalized values (PIPE-5, PIPE-6, PIPE-7), relative to the sum of the absolute
/// values of its terms. Each term is a non-negative attMap value divided by the f32 norm (one
/// rounding; PIPE-6 adds two: its row sum in f32 and the product by T), the norm is the f64
/// total rounded to f32 (one rounding shared by every term), and the contrast subtracts (one
/// rounding); the test sums in f64. At most 4u ≈ 2.4e-7 of the terms' size; 1e-6.
const NORMALIZED_SUM: f64 = 1e-6;

/// The frame classifier's EB (PIPE-10) conserves per frame, relative to the prior, 1: over the
/// D <= 8 feature units of a frame, D roundings in Z, one in the ratio, at most K <= 4 in the
/// transposed product and one in the product with x, all of non-negative terms:
/// (D + K + 2)u <= 14u ≈ 8.3e-7; 2e-6.
const HEAD_CONSERVATION: f64 = 2e-6;

/// EB down the frame CNN (PIPE-9), relative to the size of the summed terms (the signal itself
/// where every term is non-negative). Worst case in f32, each layer adds (terms in Z + terms
/// in the transposed product + 3)u: a conv <= (4 * 25 + (4 + 25 in col2im) + 3)u = 132u; an
/// average pooling <= 14u, a max pooling's overlapping windows <= 9u; the fc layer's Z sums
/// its inputs, at most 4 * 28 * 28 = 3136 (a conv with kernel 1 and pad 2 grows the image by
/// 4, a pooling with pad 2 by 2: 10 -> 28 after three blocks), 3147u with its back product.
/// The chain to the image: <= (3147 + 3 * 132 + 3 * 14)u = 3585u ≈ 2.1e-4; 3e-4. (Observed
/// errors are ~1e-7: rounding errors of random sign, far from the worst case.)
const EB_CHAIN: f32 = 3e-4;

/// A central difference quotient against what the gradient predicts for it (PIPE-4 with the
/// gradient, PIPE-8, PIPE-9), relative to the size of the prediction's terms,
/// sum_i |g_i (x+ - x-)_i| / 2h. It covers the gradient's own f32 rounding (a backward chain
/// as in EB_CHAIN, <= 3e-4 worst case) and the curvature of the LSTM's sigmoids (the quotients
/// at h and h / 2 must agree within the same allowance, so the one at h / 2 is off by at most a
/// third of it). The CNN is piecewise linear, so across no kink it adds no error. A gradient
/// off by 1% fails (checked by scaling g by 1.01).
const FD_AGREEMENT: f64 = 2e-3;

/// The objective's own f32 rounding, relative to the size of its terms (sum_j |w[k, j] h_j| +
/// |b[k]| of the logit): the forward pass rounds every value by a few u of its terms, about
/// 2u ≈ 1.3e-7 observed at most over ~10^4 quotients; 1e-6. The quotient may be off by this
/// times the two points' sizes over 2h (the step that keeps it small is the largest one
/// crossing no kink).
const LOGIT_ROUNDING: f64 = 1e-6;

/// The steps tried by the gradient checks, largest first: the largest whose segment crosses no
/// kink (kink_pattern) is used, since the quotient's rounding grows as 1 / h.
const FD_STEPS: [f32; 5] = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3];

/// Inputs a direction of the gradient checks moves: few, so that a step of 1e-1 usually
/// crosses no kink.
const DIRECTION_SUPPORT: usize = 3;

// ---------------------------------------------------------------------------------------------
// Random model specs and clips
// ---------------------------------------------------------------------------------------------

/// A pooling after a convolution's ReLU, as drawn (pad < kernel, as Caffe requires).
#[derive(Clone, Debug)]
struct PoolDraw {
    avg: bool,
    kernel: usize,
    stride: usize,
    pad: usize,
}

/// One convolution block: conv, ReLU, maybe a pooling.
#[derive(Clone, Debug)]
struct ConvDraw {
    out: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    pool: Option<PoolDraw>,
}

#[derive(Clone, Copy, Debug)]
enum TemporalDraw {
    Lstm(usize),
    MeanPool,
    TwoLstms(usize, usize),
}

fn pool_draw() -> impl Strategy<Value = PoolDraw> {
    (any::<bool>(), 1usize..=3, 1usize..=2, 0usize..=2).prop_map(|(avg, kernel, stride, pad)| {
        PoolDraw {
            avg,
            kernel,
            stride,
            pad: pad.min(kernel - 1),
        }
    })
}

fn conv_draw() -> impl Strategy<Value = ConvDraw> {
    (
        1usize..=4,
        1usize..=5,
        1usize..=2,
        0usize..=2,
        proptest::option::of(pool_draw()),
    )
        .prop_map(|(out, kernel, stride, pad, pool)| ConvDraw {
            out,
            kernel,
            stride,
            pad,
            pool,
        })
}

fn temporal_draw() -> impl Strategy<Value = TemporalDraw> {
    prop_oneof![
        (1usize..=4).prop_map(TemporalDraw::Lstm),
        Just(TemporalDraw::MeanPool),
        (1usize..=4, 1usize..=4).prop_map(|(a, b)| TemporalDraw::TwoLstms(a, b)),
    ]
}

/// The model.json of a draw. Kernels that do not fit the (shrunk) image are clipped to it,
/// and a pooling whose geometry Caffe would refuse is left out, so every spec builds.
fn model_spec(
    channels: usize,
    (height, width): (usize, usize),
    convs: &[ConvDraw],
    features: usize,
    dropout: bool,
    temporal: TemporalDraw,
    classes: usize,
) -> ModelSpec {
    let mut frame = Vec::new();
    let (mut h, mut w) = (height, width);
    for (i, c) in convs.iter().enumerate() {
        let kernel = c.kernel.min(h + 2 * c.pad).min(w + 2 * c.pad);
        frame.push(FrameLayerSpec::Conv {
            name: format!("conv{}", i + 1),
            out: c.out,
            kernel,
            stride: c.stride,
            pad: c.pad,
            bias: true,
        });
        frame.push(FrameLayerSpec::Relu);
        h = (h + 2 * c.pad - kernel) / c.stride + 1;
        w = (w + 2 * c.pad - kernel) / c.stride + 1;
        if let Some(p) = &c.pool {
            if let Ok(g) = PoolGeometry::new(c.out, h, w, p.kernel, p.stride, p.pad) {
                let name = Some(format!("pool{}", i + 1));
                let (kernel, stride, pad) = (p.kernel, p.stride, p.pad);
                frame.push(if p.avg {
                    FrameLayerSpec::AvgPool {
                        name,
                        kernel,
                        stride,
                        pad,
                    }
                } else {
                    FrameLayerSpec::MaxPool {
                        name,
                        kernel,
                        stride,
                        pad,
                    }
                });
                (h, w) = (g.out_height(), g.out_width());
            }
        }
    }
    frame.push(FrameLayerSpec::Fc {
        name: "fc7".into(),
        out: features,
        bias: true,
    });
    frame.push(FrameLayerSpec::Relu);
    if dropout {
        frame.push(FrameLayerSpec::Dropout);
    }
    let lstm = |name: &str, hidden| TemporalLayerSpec::Lstm {
        name: name.into(),
        hidden,
    };
    let temporal = match temporal {
        TemporalDraw::Lstm(hidden) => vec![lstm("lstm1", hidden)],
        TemporalDraw::MeanPool => vec![TemporalLayerSpec::MeanPool],
        TemporalDraw::TwoLstms(a, b) => vec![lstm("lstm1", a), lstm("lstm2", b)],
    };
    let head = |name: &str| FcSpec {
        name: name.into(),
        out: classes,
        bias: true,
    };
    ModelSpec {
        name: "random".into(),
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
        frame,
        temporal,
        classifier: head("fc8"),
        frame_classifier: Some(head("fc8f")),
        captioner: None,
        labels: (0..classes).map(|k| k.to_string()).collect(),
    }
}

fn spec_strategy() -> impl Strategy<Value = ModelSpec> {
    (
        prop_oneof![Just(1usize), Just(3)],
        (4usize..=10, 4usize..=10).prop_filter("non-square frames", |(h, w)| h != w),
        proptest::collection::vec(conv_draw(), 1..=3),
        2usize..=8,
        any::<bool>(),
        temporal_draw(),
        2usize..=4,
    )
        .prop_map(
            |(channels, size, convs, features, dropout, temporal, classes)| {
                model_spec(channels, size, &convs, features, dropout, temporal, classes)
            },
        )
}

fn prior_strategy() -> impl Strategy<Value = Prior> {
    prop_oneof![Just(Prior::Last), Just(Prior::All)]
}

/// One grounding problem: a model, a clip, a class, a prior and a map layer.
#[derive(Clone, Debug)]
struct Case {
    spec: ModelSpec,
    /// Seed of the weights (`Model::random`) and of the biases.
    seed: u64,
    /// T
    frames: usize,
    /// clip: (T, C, H, W), signed
    clip: Vec<f32>,
    class: usize,
    prior: Prior,
    /// Index into the model's layer names ("data" first), taken modulo their number.
    layer_pick: usize,
}

impl Case {
    fn model(&self) -> Model {
        let model = Model::random(&self.spec, self.seed, Path::new("random"))
            .unwrap_or_else(|e| panic!("the generated spec does not build: {e}"));
        with_random_biases(model, self.seed)
    }

    fn layer(&self, model: &Model) -> String {
        let names = model.frame.layer_names();
        names[self.layer_pick % names.len()].clone()
    }

    /// Grounds the case's class in its clip with `method` at `layer`.
    fn ground(
        &self,
        model: &Model,
        fwd: &ClipForward,
        method: Method,
        layer: &str,
        normalization: Normalization,
    ) -> Grounding {
        run(model, fwd, &options(method, self, layer, normalization))
    }

    fn frame_len(&self) -> usize {
        let i = &self.spec.input;
        i.channels * i.height * i.width
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (spec_strategy(), 1usize..=6).prop_flat_map(|(spec, frames)| {
        let i = &spec.input;
        let len = frames * i.channels * i.height * i.width;
        let classes = spec.classifier.out;
        (
            Just(spec),
            any::<u64>(),
            Just(frames),
            proptest::collection::vec(-2.0f32..2.0, len),
            0..classes,
            prior_strategy(),
            0usize..64,
        )
            .prop_map(
                |(spec, seed, frames, clip, class, prior, layer_pick)| Case {
                    spec,
                    seed,
                    frames,
                    clip,
                    class,
                    prior,
                    layer_pick,
                },
            )
    })
}

/// `Model::random` leaves every bias at 0; random biases move the ReLU kinks, the dead
/// units and the LSTM's gates, so the properties are checked with them too.
fn with_random_biases(mut model: Model, seed: u64) -> Model {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(0x0b1a5));
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
    for layer in &mut model.temporal {
        if let TemporalLayer::Lstm { lstm, .. } = layer {
            randomize(&mut lstm.input_transform.b);
        }
    }
    randomize(&mut model.classifier.fc.b);
    if let Some(head) = &mut model.frame_classifier {
        randomize(&mut head.fc.b);
    }
    model
}

/// `len` values uniform in [-1, 1) from `seed` (signals and directions).
fn signed_values(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

// ---------------------------------------------------------------------------------------------
// Running the pipeline
// ---------------------------------------------------------------------------------------------

/// One thread, the blobs kept: the reference execution (property 7 varies it).
const SERIAL: Execution = Execution {
    threads: 1,
    chunk_frames: 0,
    keep_activations: Some(true),
    keep_budget_bytes: 0,
    chunk_budget_bytes: usize::MAX,
};

fn no_progress(_: usize) {}

/// The forward pass, keeping the blobs from the image up (every map layer can be reached).
fn forward<'c>(
    model: &Model,
    clip: &'c [f32],
    frames: usize,
    execution: &Execution,
) -> ClipForward<'c> {
    forward_clip(model, clip, frames, execution, Some(0), &no_progress)
}

/// The logits and the features of a forward pass with no backward pass to follow.
fn forward_only<'c>(model: &Model, clip: &'c [f32], frames: usize) -> ClipForward<'c> {
    forward_clip(model, clip, frames, &SERIAL, None, &no_progress)
}

fn options(method: Method, case: &Case, layer: &str, normalization: Normalization) -> Options {
    Options {
        method,
        class: case.class,
        layer: layer.to_string(),
        prior: case.prior,
        normalization,
        lstm_rule: ebr::layers::LstmEbRule::Original,
    }
}

fn run(model: &Model, fwd: &ClipForward, options: &Options) -> Grounding {
    ground(model, fwd, options, &no_progress).unwrap_or_else(|e| panic!("{e}"))
}

fn sum64(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum()
}

fn abs_sum64(v: &[f32]) -> f64 {
    v.iter().map(|&x| (x as f64).abs()).sum()
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

/// The first layer of every generated model: a convolution on the (signed) image.
fn first_conv(model: &Model) -> &Conv {
    match &model.frame.layers[0] {
        FrameLayer::Conv { conv, .. } => conv,
        other => panic!("the first frame layer is a {}, not a conv", other.kind()),
    }
}

/// EB-1 and EB-2 of the first convolution, from their definition: X = p_top / z (0 where
/// z == 0), z = the convolution of the image with W+ and no bias. p_top: (T, O, OH, OW).
fn first_conv_ratio(model: &Model, clip: &[f32], p_top: &[f32], frames: usize) -> Vec<f32> {
    let conv = first_conv(model);
    let w_plus = Conv::new(conv.geometry, conv.w_plus.clone(), None);
    let mut z = vec![f32::NAN; p_top.len()];
    w_plus.forward(&mut z, clip, frames);
    z.iter()
        .zip(p_top)
        .map(|(&z, &p)| if z == 0.0 { 0.0 } else { p / z })
        .collect()
}

/// The size of the terms EB-3 sums at the image: |x[d]| * sum_o W+[o, d] * |p_top[o] / z[o]|
/// (T, C, H, W), the bound on the rounding of the signal at "data" where x and z are signed.
/// `p_top_size` (T, O, OH, OW) is the size of the signal on the first convolution's output.
fn size_at_data(model: &Model, clip: &[f32], p_top_size: &[f32], frames: usize) -> Vec<f32> {
    let conv = first_conv(model);
    let ratio = abs(&first_conv_ratio(model, clip, p_top_size, frames));
    // sum_o W+[o, d] * ratio[o]: the gradient backward of the convolution with W+
    let w_plus = Conv::new(conv.geometry, conv.w_plus.clone(), None);
    let mut spread = vec![f32::NAN; clip.len()];
    w_plus.grad_backward(&mut spread, &ratio, frames);
    spread.iter().zip(clip).map(|(s, x)| s * x.abs()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1, 2: the temporal normalization and the contrast at the feature blob
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// PIPE-5, PIPE-7: M_F = N(A) - N(Ā) sums to 1 - 1 = 0. A normalizer is 0 exactly when its
    /// attMap is all 0 (A, Ā >= 0: EB from post-ReLU features, LSTM-P1); its normalized side
    /// is then all 0, so M_F sums to [norm != 0] - [dual_norm != 0] in general.
    #[test]
    fn cebr_feature_signal_sums_to_zero_over_the_clip(case in case_strategy()) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let layer = case.layer(&model);
        let g = case.ground(&model, &fwd, Method::Cebr, &layer, Normalization::Paper);
        let a = g.attention.as_ref().expect("cEB-R keeps its attention");
        for (norm, normalized) in [(a.norm, &a.normalized), (a.dual_norm, &a.dual_normalized)] {
            if norm == 0.0 {
                prop_assert!(normalized.iter().all(|&v| v == 0.0), "a zero norm, a non-zero side");
            }
        }
        let want = (a.norm != 0.0) as i32 as f64 - (a.dual_norm != 0.0) as i32 as f64;
        let size = abs_sum64(&a.normalized) + abs_sum64(&a.dual_normalized);
        let got = sum64(&g.feature_signal);
        prop_assert!(
            (got - want).abs() <= NORMALIZED_SUM * size,
            "sum of M_F = {got:e}, want {want} (norms {}, {}; terms' size {size})",
            a.norm, a.dual_norm
        );
    }

    /// PIPE-5: EB-R's signal at the feature blob is A / sum(A): it sums to 1 (all 0 when
    /// sum(A) == 0), for either prior.
    #[test]
    fn ebr_feature_signal_sums_to_one_over_the_clip(case in case_strategy()) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let g = case.ground(&model, &fwd, Method::Ebr, "data", Normalization::Paper);
        let a = g.attention.as_ref().expect("EB-R keeps its attention");
        if a.norm == 0.0 {
            prop_assert!(g.feature_signal.iter().all(|&v| v == 0.0));
        } else {
            let got = sum64(&g.feature_signal);
            prop_assert!((got - 1.0).abs() <= NORMALIZED_SUM * abs_sum64(&g.feature_signal),
                "sum of N(A) = {got}, norm {}", a.norm);
        }
    }

    /// PIPE-6 (the notebook, prior "all"): every unit of step t holds row_t * T / total, so
    /// every unit's values sum to T over the clip (the clip's total is T * D).
    #[test]
    fn notebook_normalization_sums_to_t_over_the_clip_on_every_unit(case in case_strategy()) {
        let case = Case { prior: Prior::All, ..case };
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let g = case.ground(&model, &fwd, Method::Ebr, "data", Normalization::Demo);
        let a = g.attention.as_ref().expect("EB-R keeps its attention");
        let d = model.frame.feature_len();
        let t_n = case.frames as f64;
        if a.norm == 0.0 {
            prop_assert!(g.feature_signal.iter().all(|&v| v == 0.0));
        } else {
            for i in 0..d {
                let column: Vec<f32> =
                    g.feature_signal.iter().skip(i).step_by(d).copied().collect();
                let got = sum64(&column);
                prop_assert!((got - t_n).abs() <= NORMALIZED_SUM * abs_sum64(&column),
                    "unit {i}: sum over the clip {got}, want T = {t_n}");
            }
        }
    }
}

/// The shrunk failure of the two properties above and of the_dual_classifier_negates_every_
/// cebr_map (kept in tests/pipeline_properties.proptest-regressions), made minimal: a
/// feature unit holding a subnormal value (1e-42; in the proptest case the last step's h of a
/// second LSTM, 3.97e-42, after a forget gate of 1e-17) is the only excitatory input of the
/// class, so Z = 1e-42 != 0 and EB-2's ratio 1 / Z overflows f32 to inf; EB-3 then gives
/// 0 * inf = NaN on the dead unit and inf on the live one (what the original computes), where
/// the exact values are 0 and 1. ebr's EB-2 (spec/README.md) treats a subnormal normalizer as
/// 0: the class's only unit passes nothing, so A = 0 and N(A) = (0, 0) (PIPE-5's zero sum);
/// every method's maps are finite.
#[test]
fn a_subnormal_normalizer_gives_finite_maps() {
    let spec = model_spec(
        1,
        (3, 4),
        &[ConvDraw {
            out: 1,
            kernel: 1,
            stride: 1,
            pad: 0,
            pool: None,
        }],
        2,
        false,
        TemporalDraw::MeanPool,
        2,
    );
    let mut model = Model::random(&spec, 1, Path::new("subnormal")).unwrap();
    let features = model.frame.feature_writer();
    if let FrameLayer::Fc { fc, .. } = &mut model.frame.layers[features] {
        // f = relu(0 x + (0, 1e-42)) = (0, 1e-42) whatever the image
        *fc = Fc::new(
            fc.inputs,
            2,
            vec![0.0; 2 * fc.inputs],
            Some(vec![0.0, 1e-42]),
        );
    }
    model.classifier.fc = Fc::new(2, 2, vec![1.0; 4], None);
    model.frame_classifier.as_mut().unwrap().fc = Fc::new(2, 2, vec![1.0; 4], None);
    let clip = signed_values(3, 12);
    let fwd = forward(&model, &clip, 1, &SERIAL);
    assert_eq!(fwd.features, vec![0.0, 1e-42]);
    let case = Case {
        spec,
        seed: 1,
        frames: 1,
        clip: clip.clone(),
        class: 0,
        prior: Prior::Last,
        layer_pick: 0,
    };
    let ebr = run(
        &model,
        &fwd,
        &options(Method::Ebr, &case, "data", Normalization::Paper),
    );
    println!(
        "EB-R's signal at the feature blob: {:?}",
        ebr.feature_signal
    );
    assert_eq!(ebr.feature_signal, vec![0.0, 0.0]);
    for method in Method::ALL {
        let g = run(
            &model,
            &fwd,
            &options(method, &case, "conv1", Normalization::Paper),
        );
        assert!(
            g.maps.iter().all(|v| v.is_finite()),
            "{}: {:?}",
            method.name(),
            g.maps
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3: the dual classifier
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// PIPE-4, PIPE-7 with W_cls replaced by -W_cls: A and Ā swap exactly (-(-w) == w in f32,
    /// so the dual's dual has the same W+ bits), the subtraction N(Ā) - N(A) is the exact
    /// negation of N(A) - N(Ā) (round to nearest is symmetric), and every step below is
    /// linear with sign-symmetric rounding (products, sums in the same order, ratios by the
    /// same z, masks and argmax routing that do not look at the signal): the maps are the
    /// exact negation, compared with == (so 0 and -0 are equal), at every layer.
    #[test]
    fn the_dual_classifier_negates_every_cebr_map(case in case_strategy()) {
        let model = case.model();
        let mut dual = model.clone();
        dual.classifier.fc = model.classifier.fc.negated();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let fwd_dual = forward(&dual, &case.clip, case.frames, &SERIAL);
        for layer in model.frame.layer_names() {
            let o = options(Method::Cebr, &case, &layer, Normalization::Paper);
            let g = run(&model, &fwd, &o);
            let g_dual = run(&dual, &fwd_dual, &o);
            for (what, mine, theirs) in [
                ("feature signal", &g.feature_signal, &g_dual.feature_signal),
                ("layer signal", &g.layer_signal, &g_dual.layer_signal),
                ("map", &g.maps, &g_dual.maps),
            ] {
                if let Some(i) = (0..mine.len()).find(|&i| theirs[i] != -mine[i]) {
                    prop_assert!(false, "{layer} {what}[{i}]: {} is not -{}", theirs[i], mine[i]);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4: the sign of EB-R
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// EB-R's signal N(A) >= 0 goes down through layers whose input is >= 0 (post-ReLU, or
    /// pooled from post-ReLU): every factor of EB-1..3, AVE-2, MAX-2, RELU-2 is >= 0, so the
    /// signal (and its channel sum) is >= 0 on every named layer's blob, exactly (no rounding
    /// changes a sign). Only "data" is excluded: the first convolution's input, the image, is
    /// signed, so x and z are signed there (see ebr_map_at_data_takes_both_signs).
    #[test]
    fn ebr_maps_are_non_negative_on_every_layer_above_the_image(
        case in case_strategy(),
        demo in any::<bool>(),
    ) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let normalization = if demo { Normalization::Demo } else { Normalization::Paper };
        for layer in model.frame.layer_names().into_iter().filter(|l| l != "data") {
            let g = case.ground(&model, &fwd, Method::Ebr, &layer, normalization);
            for (what, v) in [("layer signal", &g.layer_signal), ("map", &g.maps)] {
                if let Some(i) = v.iter().position(|&x| x < 0.0 || x.is_nan()) {
                    prop_assert!(false, "{layer} {what}[{i}] = {}", v[i]);
                }
            }
        }
    }
}

/// What the non-negativity leaves out: at "data" the first convolution multiplies by the
/// signed image and divides by a signed z, so EB-R's map takes both signs. One fixed case
/// (the cli tests' "odd" net with an LSTM: strides, pads, average and max pooling, 21x27).
#[test]
fn ebr_map_at_data_takes_both_signs() {
    let spec = model_spec(
        3,
        (21, 27),
        &[
            ConvDraw {
                out: 6,
                kernel: 5,
                stride: 2,
                pad: 2,
                pool: Some(PoolDraw {
                    avg: true,
                    kernel: 3,
                    stride: 2,
                    pad: 1,
                }),
            },
            ConvDraw {
                out: 7,
                kernel: 3,
                stride: 1,
                pad: 0,
                pool: Some(PoolDraw {
                    avg: false,
                    kernel: 3,
                    stride: 2,
                    pad: 0,
                }),
            },
        ],
        12,
        true,
        TemporalDraw::Lstm(8),
        4,
    );
    let model = with_random_biases(Model::random(&spec, 11, Path::new("odd")).unwrap(), 11);
    let frames = 3;
    let clip = signed_values(5, frames * 3 * 21 * 27);
    let fwd = forward(&model, &clip, frames, &SERIAL);
    let case = Case {
        spec,
        seed: 11,
        frames,
        clip: clip.clone(),
        class: 1,
        prior: Prior::Last,
        layer_pick: 0,
    };
    let g = run(
        &model,
        &fwd,
        &options(Method::Ebr, &case, "data", Normalization::Paper),
    );
    let negative = g.maps.iter().filter(|&&v| v < 0.0).count();
    let positive = g.maps.iter().filter(|&&v| v > 0.0).count();
    println!(
        "EB-R at data: {negative} negative and {positive} positive of {} map values",
        g.maps.len()
    );
    assert!(negative > 0 && positive > 0);
}

// ---------------------------------------------------------------------------------------------
// 5: the per-frame EB conserves
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// PIPE-10, EB-1..3 on the frame classifier: with Z_t = sum_d f_t[d] W+[k, d] > 0 (f_t >= 0,
    /// so Z_t > 0 exactly when some d has f_t[d] > 0 and W+[k, d] > 0), frame t's signal at the
    /// feature blob sums to its prior, 1; with Z_t == 0 it is all 0.
    #[test]
    fn per_frame_eb_feature_signal_sums_to_one_on_every_frame_with_positive_z(
        case in case_strategy(),
    ) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let g = case.ground(&model, &fwd, Method::Eb, "data", Normalization::Paper);
        let head = &model.frame_classifier.as_ref().expect("generated with a frame classifier").fc;
        let d = model.frame.feature_len();
        let w_plus = head.w_plus.as_deref().expect("a small head keeps its W+");
        let w_plus_k = &w_plus[case.class * d..(case.class + 1) * d];
        for t in 0..case.frames {
            let f_t = &fwd.features[t * d..(t + 1) * d];
            let p_t = &g.feature_signal[t * d..(t + 1) * d];
            let z_positive = f_t.iter().zip(w_plus_k).any(|(&f, &w)| f > 0.0 && w > 0.0);
            if z_positive {
                let got = sum64(p_t);
                prop_assert!((got - 1.0).abs() <= HEAD_CONSERVATION, "frame {t}: sum {got}");
            } else {
                prop_assert!(p_t.iter().all(|&v| v == 0.0), "frame {t}: Z = 0 but {p_t:?}");
            }
        }
    }

    /// PIPE-9 with EB from the feature blob down: every layer passes on at most its input's sum
    /// (conservation over the units with z > 0, the rest dropped), so frame t's map sum at any
    /// layer above the image lies in [0, S_F[t]] (S_F[t] the feature-level sum), to rounding.
    /// At "data" the image is signed, so the exact statement is the first convolution's
    /// conservation: S_data[t] = sum of the conv1 signal over the outputs with z != 0, to
    /// rounding relative to the size of the signed terms (size_at_data).
    #[test]
    fn per_frame_eb_map_sums_lie_between_zero_and_the_feature_sum(case in case_strategy()) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let (t_n, in_len) = (case.frames, case.frame_len());
        let mut conv1_signal = None;
        for layer in model.frame.layer_names().into_iter().rev() {
            let g = case.ground(&model, &fwd, Method::Eb, &layer, Normalization::Paper);
            let d = g.feature_signal.len() / t_n;
            let len = g.layer_signal.len() / t_n;
            if layer == "data" {
                let p_conv1: &Vec<f32> = conv1_signal.as_ref().expect("conv1 comes before data");
                let out_len = p_conv1.len() / t_n;
                let live = first_conv_ratio(&model, &case.clip, &vec![1.0; p_conv1.len()], t_n);
                let size = size_at_data(&model, &case.clip, &abs(p_conv1), t_n);
                for t in 0..t_n {
                    let frame = t * out_len..(t + 1) * out_len;
                    let want: f64 = p_conv1[frame.clone()].iter().zip(&live[frame])
                        .filter(|(_, &r)| r != 0.0).map(|(&p, _)| p as f64).sum();
                    let got = sum64(&g.layer_signal[t * in_len..(t + 1) * in_len]);
                    let bound = sum64(&size[t * in_len..(t + 1) * in_len]);
                    prop_assert!((got - want).abs() <= EB_CHAIN as f64 * bound,
                        "frame {t} at data: sum {got}, conv1's on z != 0 {want}, size {bound}");
                }
            } else {
                for t in 0..t_n {
                    let s_f = sum64(&g.feature_signal[t * d..(t + 1) * d]);
                    let s_l = sum64(&g.layer_signal[t * len..(t + 1) * len]);
                    prop_assert!(s_l >= 0.0 && s_l <= s_f * (1.0 + EB_CHAIN as f64),
                        "frame {t} at {layer}: sum {s_l}, feature sum {s_f}");
                }
                if layer == "conv1" {
                    conv1_signal = Some(g.layer_signal);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6: linearity of the CNN part
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// PIPE-9 (spec/README.md, linearity): EB down the whole CNN is linear in the signal at the
    /// feature blob, for signed signals: fb(a s1 + b s2) = a fb(s1) + b fb(s2) at the image,
    /// elementwise within EB_CHAIN of the size of the terms (|a| fb(|s1|) + |b| fb(|s2|) down
    /// to conv1, whose factors are all >= 0, then size_at_data through the signed image).
    #[test]
    fn frame_backward_is_linear_in_the_feature_signal(
        case in case_strategy(),
        seeds in any::<(u64, u64)>(),
        (a, b) in (-2.0f32..2.0, -2.0f32..2.0),
    ) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let (t_n, d) = (case.frames, model.frame.feature_len());
        let s1 = signed_values(seeds.0, t_n * d);
        let s2 = signed_values(seeds.1, t_n * d);
        let fb = |s: &[f32], down_to: usize| {
            frame_backward(&model, &fwd, s, down_to, Rule::Excitation(LstmEbRule::Original), &no_progress)
        };
        let mixed: Vec<f32> = s1.iter().zip(&s2).map(|(x, y)| a * x + b * y).collect();
        let got = fb(&mixed, 0);
        let want: Vec<f32> =
            fb(&s1, 0).iter().zip(&fb(&s2, 0)).map(|(x, y)| a * x + b * y).collect();
        let conv1 = map_blob(&model, "conv1").expect("conv1 exists");
        let size_conv1: Vec<f32> = fb(&abs(&s1), conv1).iter().zip(&fb(&abs(&s2), conv1))
            .map(|(x, y)| a.abs() * x + b.abs() * y).collect();
        let size = size_at_data(&model, &case.clip, &size_conv1, t_n);
        assert_within_bound("fb(a s1 + b s2) at data", &got, &want, &size, EB_CHAIN);
    }
}

// ---------------------------------------------------------------------------------------------
// 7: execution choices
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// PIPE-1, PIPE-9 (spec/pipeline.md, Execution): threads, chunk sizes, keeping the blobs
    /// (from the image up, or from the map layer up) or recomputing them only change which
    /// thread computes a frame and when, never the operations on it: every method's maps are
    /// bit-identical (to_bits) to one thread's with every blob kept.
    #[test]
    fn threads_chunks_and_memory_give_bit_identical_maps(
        case in case_strategy(),
        method in proptest::sample::select(Method::ALL.to_vec()),
    ) {
        let model = case.model();
        let layer = case.layer(&model);
        let o = options(method, &case, &layer, Normalization::Paper);
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let reference = run(&model, &fwd, &o);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let down_to = map_blob(&model, &layer).expect("a layer of the model");
        for threads in [1, 2] {
            for chunk_frames in [0, 1, 3] {
                for keep in [true, false] {
                    for backward_to in [Some(0), Some(down_to), None] {
                        let execution = Execution {
                            threads,
                            chunk_frames,
                            keep_activations: Some(keep),
                            ..Execution::default()
                        };
                        let fwd = forward_clip(
                            &model, &case.clip, case.frames, &execution, backward_to, &no_progress,
                        );
                        let g = run(&model, &fwd, &o);
                        prop_assert!(
                            bits(&g.maps) == bits(&reference.maps)
                                && bits(&g.layer_signal) == bits(&reference.layer_signal),
                            "{execution:?}, kept from {backward_to:?}: {} maps at {layer} changed",
                            method.name()
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8: the gradient methods are gradients
// ---------------------------------------------------------------------------------------------

/// Which side of every kink the forward pass of `x` (T, C, H, W) is on: the sign of every
/// blob a ReLU works on (in place: > 0 exactly where its input was), the argmax of every max
/// pooling window, and in every LSTM the ReLU of g and the mask [c > 0] (LSTM-3, LSTM-5).
/// The CNN is piecewise linear: if two points have the same pattern, so has the segment
/// between them (each pre-activation is linear along the segment once the layers below are,
/// and a linear function with one sign at both ends has it in between), so the CNN is affine
/// on it and a difference quotient over it is exact but for rounding.
fn kink_pattern(model: &Model, x: &[f32], frames: usize) -> Vec<usize> {
    let net = &model.frame;
    let blobs = net.forward(x, frames);
    let mut pattern = Vec::new();
    for (i, layer) in net.layers.iter().enumerate() {
        match layer {
            FrameLayer::Relu => {
                pattern.extend(blobs[net.layer_blob[i]].iter().map(|&v| (v > 0.0) as usize))
            }
            FrameLayer::MaxPool { pool, .. } => {
                let g = pool.geometry;
                let below = &blobs[net.layer_blob[i - 1]];
                let plane = g.in_height * g.in_width;
                for x_c in below.chunks_exact(plane) {
                    for ph in 0..g.out_height() {
                        let rows = g.row_window(ph);
                        for pw in 0..g.out_width() {
                            let cols = g.col_window(pw);
                            let window = (rows.start..rows.end).flat_map(|r| {
                                (cols.start..cols.end).map(move |c| r * g.in_width + c)
                            });
                            let argmax = window
                                .reduce(|best, j| if x_c[j] > x_c[best] { j } else { best })
                                .expect("a window holds an input");
                            pattern.push(argmax);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let fwd = forward_only(model, x, frames);
    for act in &fwd.temporal.activations {
        if let TemporalActivations::Lstm(act) = act {
            let h = act.hidden;
            for gates in act.gates.chunks_exact(4 * h) {
                pattern.extend(gates[3 * h..].iter().map(|&g| (g > 0.0) as usize));
            }
            pattern.extend(act.c.iter().map(|&c| (c > 0.0) as usize));
        }
    }
    pattern
}

/// sum_d |w[k, d] x[d]| + |b[k]|: the size of the terms of logit k of `fc` on the row `x`.
fn logit_size(fc: &Fc, k: usize, x: &[f32]) -> f64 {
    let w_k = &fc.w[k * fc.inputs..(k + 1) * fc.inputs];
    let b_k = fc.b.as_ref().map_or(0.0, |b| b[k]);
    w_k.iter()
        .zip(x)
        .map(|(&w, &x)| (w as f64 * x as f64).abs())
        .sum::<f64>()
        + (b_k as f64).abs()
}

/// A direction that moves DIRECTION_SUPPORT random inputs of `within` by [-1, 1) each.
fn sparse_direction(seed: u64, len: usize, within: std::ops::Range<usize>) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = vec![0.0f32; len];
    for _ in 0..DIRECTION_SUPPORT {
        v[rng.gen_range(within.clone())] = rng.gen_range(-1.0f32..1.0);
    }
    v
}

/// `x + sign * h * v`, rounded to f32, and the displacement it really is (exact in f64).
fn moved(x: &[f32], v: &[f32], h: f32, sign: f32) -> (Vec<f32>, Vec<f64>) {
    let point: Vec<f32> = x.iter().zip(v).map(|(x, v)| x + sign * h * v).collect();
    let displacement = point
        .iter()
        .zip(x)
        .map(|(&p, &x)| p as f64 - x as f64)
        .collect();
    (point, displacement)
}

/// A central difference quotient and what the gradient predicts for it.
struct Quotient {
    /// (f(x + h v) - f(x - h v)) / 2h
    quotient: f64,
    /// <g, (x + h v) - (x - h v)> / 2h, with the f32 points' true displacement (so rounding
    /// x + h v costs nothing).
    predicted: f64,
    /// The size of the prediction's terms: sum_i |g_i (displacement)_i| / 2h.
    size: f64,
    /// How far the quotient can be off by the objective's own f32 rounding:
    /// LOGIT_ROUNDING * (size of f's terms at both points) / 2h.
    noise: f64,
}

/// The central difference of `objective` (its value and the size of its terms) at `x` along
/// `v` with step `h`, against the gradient `g`.
fn difference_quotient(
    objective: &dyn Fn(&[f32]) -> (f64, f64),
    (x, v, g): (&[f32], &[f32], &[f32]),
    h: f32,
) -> Quotient {
    let (plus, d_plus) = moved(x, v, h, 1.0);
    let (minus, d_minus) = moved(x, v, h, -1.0);
    let two_h = 2.0 * h as f64;
    let ((f_plus, size_plus), (f_minus, size_minus)) = (objective(&plus), objective(&minus));
    let terms = g
        .iter()
        .zip(d_plus.iter().zip(&d_minus))
        .map(|(&g, (p, m))| g as f64 * (p - m) / two_h);
    Quotient {
        quotient: (f_plus - f_minus) / two_h,
        predicted: terms.clone().sum(),
        size: terms.map(f64::abs).sum(),
        noise: LOGIT_ROUNDING * (size_plus + size_minus) / two_h,
    }
}

/// Checks the gradient `g` against central differences of `objective` along `v`: at the
/// largest step of FD_STEPS whose segment [x - h v, x + h v] crosses no kink (kink_pattern)
/// and whose quotient agrees with the one at h / 2 (no curvature of the LSTM's sigmoids
/// showing), the quotient at h / 2 must equal what g predicts within FD_AGREEMENT of the
/// size of the prediction's terms plus the objective's rounding (LOGIT_ROUNDING). A case
/// with no such step is skipped (prop_assume): that
/// says nothing about g, only that the quotients are not exact there.
fn check_directional_derivative(
    model: &Model,
    objective: &dyn Fn(&[f32]) -> (f64, f64),
    frames: usize,
    (x, v, g): (&[f32], &[f32], &[f32]),
) -> Result<(), TestCaseError> {
    for h in FD_STEPS {
        if kink_pattern(model, &moved(x, v, h, 1.0).0, frames)
            != kink_pattern(model, &moved(x, v, h, -1.0).0, frames)
        {
            continue;
        }
        let wide = difference_quotient(objective, (x, v, g), h);
        let narrow = difference_quotient(objective, (x, v, g), h / 2.0);
        let allowed = FD_AGREEMENT * narrow.size + narrow.noise;
        if (wide.quotient - narrow.quotient).abs() > allowed {
            continue;
        }
        prop_assert!(
            (narrow.quotient - narrow.predicted).abs() <= allowed,
            "gradient predicts {:e}, difference quotient {:e} (h = {}; {:e} at h = {h}); \
             terms' size {:e}, rounding allowance {:e}",
            narrow.predicted,
            narrow.quotient,
            h / 2.0,
            wide.quotient,
            narrow.size,
            narrow.noise
        );
        return Ok(());
    }
    prop_assume!(false, "every step crosses a kink or shows curvature");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        max_global_rejects: 4096,
        ..ProptestConfig::default()
    })]

    /// BP-R (PIPE-4 with the gradient, PIPE-8, PIPE-9): the signal at "data" is the gradient of
    /// sum_s P[s, k] z[s, k] (z[T-1, k] for the prior "last") with respect to the clip.
    #[test]
    fn bpr_map_at_data_is_the_gradient_of_the_logit(case in case_strategy(), seed in any::<u64>()) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let g = case.ground(&model, &fwd, Method::Bpr, "data", Normalization::Paper);
        let prior = one_hot_prior(fwd.steps(), model.classes(), case.class, case.prior);
        let cls = &model.classifier.fc;
        let objective = |x: &[f32]| -> (f64, f64) {
            let fwd = forward_only(&model, x, case.frames);
            let value = prior.iter().zip(&fwd.logits).map(|(&p, &z)| p as f64 * z as f64).sum();
            let h = fwd.temporal.output.chunks_exact(cls.inputs);
            let steps = prior.chunks_exact(cls.outputs).zip(h);
            let size = steps.map(|(p, h)| p[case.class] as f64 * logit_size(cls, case.class, h));
            (value, size.sum())
        };
        let v = sparse_direction(seed, case.clip.len(), 0..case.clip.len());
        let (x, g) = (&case.clip, &g.layer_signal);
        check_directional_derivative(&model, &objective, case.frames, (x, &v, g))?;
    }

    /// BP (PIPE-10 with the gradient, PIPE-8, PIPE-9): frame t's signal at "data" is the
    /// gradient of the frame classifier's logit zf[t, k] with respect to frame t, checked in a
    /// direction that moves frame t only.
    #[test]
    fn bp_map_at_data_is_the_gradient_of_the_frame_logit(
        case in case_strategy(),
        seed in any::<u64>(),
        pick in any::<usize>(),
    ) {
        let model = case.model();
        let fwd = forward(&model, &case.clip, case.frames, &SERIAL);
        let g = case.ground(&model, &fwd, Method::Bp, "data", Normalization::Paper);
        let head = &model.frame_classifier.as_ref().expect("generated with a frame classifier").fc;
        let (t, in_len, k_n) = (pick % case.frames, case.frame_len(), head.outputs);
        let objective = |x: &[f32]| -> (f64, f64) {
            let features = forward_only(&model, x, case.frames).features;
            let mut zf = vec![f32::NAN; case.frames * k_n];
            head.forward(&mut zf, &features, case.frames);
            let f_t = &features[t * head.inputs..(t + 1) * head.inputs];
            (zf[t * k_n + case.class] as f64, logit_size(head, case.class, f_t))
        };
        let v = sparse_direction(seed, case.clip.len(), t * in_len..(t + 1) * in_len);
        let (x, g) = (&case.clip, &g.layer_signal);
        check_directional_derivative(&model, &objective, case.frames, (x, &v, g))?;
    }
}
