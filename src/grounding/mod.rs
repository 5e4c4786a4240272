//! Grounding a class in a clip: the six methods (cEB-R, EB-R, BP-R and the per-frame EB, cEB,
//! BP), written as the demo's procedure (ORIGINAL.md section 3). spec/pipeline.md
//!
//! Each method is a sequence of the steps below: a prior on the logits, a backward pass through
//! the classifier and the temporal stack to the feature blob, a temporal normalization and a
//! contrast there, then a backward pass down the frame CNN to the map layer, per frame.
//!
#![doc = include_str!("../../spec/pipeline.md")]

pub mod caption;
pub mod clip_forward;
pub mod normalize;

pub use clip_forward::{forward_clip, ClipForward, Execution};

use crate::error::Error;
use crate::layers::{Fc, LstmEbRule};
use crate::model::frame_net::frame_len;
use crate::model::{temporal, FrameLayer, Model, Rule};
use crate::parallel::map_chunks;

/// A saliency method. The first three use the temporal model, the last three only the frame
/// CNN and its frame classifier (the paper's CNN baselines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Contrastive EB for RNNs (the paper's method; the default).
    Cebr,
    /// EB for RNNs without the contrast.
    Ebr,
    /// The plain gradient through the classifier, the LSTM and the CNN.
    Bpr,
    /// EB per frame from the frame classifier.
    Eb,
    /// Contrastive EB per frame from the frame classifier.
    Ceb,
    /// The plain gradient per frame from the frame classifier.
    Bp,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Cebr,
        Method::Ebr,
        Method::Bpr,
        Method::Eb,
        Method::Ceb,
        Method::Bp,
    ];

    /// The name used on the command line and in summary.json.
    pub fn name(self) -> &'static str {
        match self {
            Method::Cebr => "cebr",
            Method::Ebr => "ebr",
            Method::Bpr => "bpr",
            Method::Eb => "eb",
            Method::Ceb => "ceb",
            Method::Bp => "bp",
        }
    }

    /// True for the methods that run per frame on the frame classifier.
    pub fn per_frame(self) -> bool {
        matches!(self, Method::Eb | Method::Ceb | Method::Bp)
    }

    fn rule(self) -> Rule {
        match self {
            Method::Bpr | Method::Bp => Rule::Gradient,
            _ => Rule::Excitation,
        }
    }
}

/// Where the one-hot prior goes on the logits (steps, K).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prior {
    /// At the last step only (the demo's default).
    Last,
    /// At every step.
    All,
}

/// The temporal normalization for cEB-R and EB-R.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalization {
    /// Paper Eqs. 5-6: divide by the sum over all steps and units (ebr's default).
    Paper,
    /// The notebook: as Paper for the prior on the last step; for the prior on every step,
    /// each step's row replaced by its sum times T over the total (PIPE-6).
    Demo,
}

/// What to ground and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub method: Method,
    /// The class index (of the classifier, or of the frame classifier for per-frame methods).
    pub class: usize,
    /// The blob whose signal is the map: "data" or a named frame layer.
    pub layer: String,
    pub prior: Prior,
    pub normalization: Normalization,
    /// The EB rule inside the LSTM for cEB-R and EB-R: the original's (default) or ebr's
    /// conserving option (spec/layers/lstm.md).
    pub lstm_rule: LstmEbRule,
}

/// The temporal part of cEB-R and EB-R, kept for inspection and for the fixture tests.
#[derive(Clone, Debug, PartialEq)]
pub struct TemporalAttention {
    /// attMap1: (T, D), EB from the prior to the feature blob.
    pub signal: Vec<f32>,
    /// attMap2: (T, D), the same with the classifier's weights negated (the dual).
    pub dual_signal: Vec<f32>,
    /// The sums of attMap1 and attMap2 (the normalizers of PIPE-5/PIPE-6).
    pub norm: f32,
    pub dual_norm: f32,
    /// The normalized attMap1 and attMap2.
    pub normalized: Vec<f32>,
    pub dual_normalized: Vec<f32>,
}

/// A grounding: the signal at the feature blob and the maps at the chosen layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Grounding {
    pub options: Options,
    /// (C, H, W) of the map layer's blob.
    pub layer_shape: [usize; 3],
    /// The signal pushed down from the feature blob: (T, D).
    pub feature_signal: Vec<f32>,
    /// The signal at the map layer: (T, C, H, W).
    pub layer_signal: Vec<f32>,
    /// maps: (T, H, W), the layer's signal summed over channels, signed.
    pub maps: Vec<f32>,
    /// For cEB-R and EB-R: the temporal attention before the contrast.
    pub attention: Option<TemporalAttention>,
}

/// The one-hot prior on logits of `steps` steps and `classes` classes. spec/pipeline.md (PIPE-4)
pub fn one_hot_prior(steps: usize, classes: usize, class: usize, prior: Prior) -> Vec<f32> {
    let mut p = vec![0.0f32; steps * classes];
    match prior {
        Prior::Last => p[(steps - 1) * classes + class] = 1.0,
        Prior::All => (0..steps).for_each(|t| p[t * classes + class] = 1.0),
    }
    p
}

/// EB from `prior` on the logits through `classifier` (the model's, or its dual) and the
/// temporal stack to the feature blob: (T, D). spec/pipeline.md (PIPE-4)
pub fn temporal_excitation(
    model: &Model,
    fwd: &ClipForward,
    classifier: &Fc,
    prior: &[f32],
    lstm_rule: LstmEbRule,
) -> Vec<f32> {
    let (steps, width) = fwd.temporal.output_size();
    let mut p_out = vec![0.0f32; steps * width];
    classifier.eb_backward(&mut p_out, &fwd.temporal.output, prior, steps);
    temporal::eb_backward(&model.temporal, &fwd.temporal, &p_out, lstm_rule)
}

/// The gradient of `prior` on the logits through the classifier and the temporal stack to the
/// feature blob: (T, D). spec/pipeline.md (PIPE-4)
pub fn temporal_gradient(model: &Model, fwd: &ClipForward, prior: &[f32]) -> Vec<f32> {
    let (steps, width) = fwd.temporal.output_size();
    let mut d_out = vec![0.0f32; steps * width];
    model.classifier.fc.grad_backward(&mut d_out, prior, steps);
    temporal::grad_backward(&model.temporal, &fwd.temporal, &d_out)
}

/// The temporal part of EB-R and cEB-R: attMap1 and attMap2 and their normalizations.
/// spec/pipeline.md (PIPE-4..PIPE-6)
pub fn temporal_attention(
    model: &Model,
    fwd: &ClipForward,
    options: &Options,
) -> TemporalAttention {
    let steps = fwd.steps();
    let p = one_hot_prior(steps, model.classes(), options.class, options.prior);
    let rule = options.lstm_rule;
    let signal = temporal_excitation(model, fwd, &model.classifier.fc, &p, rule);
    let dual = model.classifier.fc.negated();
    let dual_signal = temporal_excitation(model, fwd, &dual, &p, rule);
    let normalize = |s: &[f32]| match (options.prior, options.normalization) {
        (Prior::All, Normalization::Demo) => normalize::normalize_like_the_notebook(s, fwd.frames),
        _ => normalize::normalize_over_clip(s),
    };
    let (normalized, norm) = normalize(&signal);
    let (dual_normalized, dual_norm) = normalize(&dual_signal);
    TemporalAttention {
        signal,
        dual_signal,
        norm,
        dual_norm,
        normalized,
        dual_normalized,
    }
}

/// The frame classifier's per-frame signal at the feature blob for `class` on every frame:
/// EB, the contrast EB(W) - EB(-W) with no normalization, or the gradient. (T, D).
/// spec/pipeline.md (PIPE-10)
pub fn per_frame_signal(
    model: &Model,
    fwd: &ClipForward,
    method: Method,
    class: usize,
) -> Result<Vec<f32>, Error> {
    let head = model
        .frame_classifier
        .as_ref()
        .ok_or_else(|| Error::Unsupported {
            reason: format!(
                "method {} needs a frame_classifier, and the model in {} has none",
                method.name(),
                model.dir.display()
            ),
        })?;
    let (t_n, d) = (fwd.frames, model.frame.feature_len());
    let prior = one_hot_prior_every_frame(t_n, head.fc.outputs, class);
    let mut p = vec![0.0f32; t_n * d];
    match method {
        Method::Eb => head.fc.eb_backward(&mut p, &fwd.features, &prior, t_n),
        Method::Ceb => {
            let mut p_dual = vec![0.0f32; t_n * d];
            head.fc.eb_backward(&mut p, &fwd.features, &prior, t_n);
            head.fc
                .negated()
                .eb_backward(&mut p_dual, &fwd.features, &prior, t_n);
            p = normalize::contrast(&p, &p_dual);
        }
        Method::Bp => head.fc.grad_backward(&mut p, &prior, t_n),
        _ => unreachable!(
            "per_frame_signal: {} is not a per-frame method",
            method.name()
        ),
    }
    Ok(p)
}

fn one_hot_prior_every_frame(frames: usize, classes: usize, class: usize) -> Vec<f32> {
    one_hot_prior(frames, classes, class, Prior::All)
}

/// The signal at blob `down_to` of every frame, from `signal` (T, D) at the feature blob:
/// per chunk of frames, in parallel, with the chunk's kept blobs or a recomputed forward pass.
/// The gradient first passes the in-place layers on the feature blob (relu7, drop7); EB starts
/// at the layer that wrote it, as the demo. spec/pipeline.md (PIPE-8, PIPE-9)
pub fn frame_backward(
    model: &Model,
    fwd: &ClipForward,
    clip: &[f32],
    signal: &[f32],
    down_to: usize,
    rule: Rule,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<f32> {
    let frame = &model.frame;
    let (in_len, d) = (frame_len(frame.input_shape()), frame.feature_len());
    let out_len = frame_len(frame.blob_shapes[down_to]);
    assert_eq!(
        signal.len(),
        fwd.frames * d,
        "frame_backward: signal is (T, D)"
    );
    let per_chunk = map_chunks(&fwd.chunks, fwd.threads, |c| {
        let recomputed;
        let blobs = match &fwd.chunk_blobs {
            Some(kept) if fwd.kept_from <= down_to => {
                let k = fwd
                    .chunks
                    .iter()
                    .position(|&other| other == c)
                    .expect("own chunk");
                &kept[k]
            }
            _ => {
                let x = &clip[c.first * in_len..(c.first + c.len) * in_len];
                recomputed = frame.forward_keeping(x, c.len, down_to);
                &recomputed
            }
        };
        let mut p = signal[c.first * d..(c.first + c.len) * d].to_vec();
        if rule == Rule::Gradient {
            let feature = blobs[frame.feature_blob()]
                .as_deref()
                .expect("the feature is kept");
            p = frame.backward_feature_tail(feature, p, c.len, rule);
        }
        let p = frame.backward(blobs, p, down_to, c.len, rule);
        progress(c.len);
        p
    });
    let mut out = Vec::with_capacity(fwd.frames * out_len);
    for p in per_chunk {
        out.extend_from_slice(&p);
    }
    out
}

/// maps: (T, H, W), the sum over channels of `signal` (T, C, H, W). spec/pipeline.md (PIPE-9)
pub fn channel_sum(signal: &[f32], frames: usize, shape: [usize; 3]) -> Vec<f32> {
    let [c_n, h, w] = shape;
    assert_eq!(
        signal.len(),
        frames * c_n * h * w,
        "channel_sum: signal is (T, C, H, W)"
    );
    let mut maps = vec![0.0f32; frames * h * w];
    for (map, s) in maps
        .chunks_exact_mut(h * w)
        .zip(signal.chunks_exact(c_n * h * w))
    {
        for channel in s.chunks_exact(h * w) {
            map.iter_mut().zip(channel).for_each(|(m, &v)| *m += v);
        }
    }
    maps
}

/// The map layer by default: the last convolution (conv5_3 in VGG16; the paper's maps are at
/// conv5), else the input.
pub fn default_map_layer(model: &Model) -> String {
    model
        .frame
        .layers
        .iter()
        .rev()
        .find_map(|layer| match layer {
            FrameLayer::Conv { name, .. } => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "data".to_string())
}

/// The blob of the map layer named `layer` ("data" or a named frame layer).
pub fn map_blob(model: &Model, layer: &str) -> Result<usize, Error> {
    if layer == "data" {
        return Ok(0);
    }
    model
        .frame
        .blob_of_layer(layer)
        .ok_or_else(|| Error::UnknownName {
            kind: "layer".to_string(),
            given: layer.to_string(),
            valid: model.frame.layer_names(),
        })
}

/// Grounds `options.class` in the clip whose forward pass is `fwd`. `clip` is the clip's
/// input (T, C, H, W), needed when the forward pass did not keep its blobs.
/// spec/pipeline.md (PIPE-4..PIPE-10)
pub fn ground(
    model: &Model,
    fwd: &ClipForward,
    clip: &[f32],
    options: &Options,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Grounding, Error> {
    let method = options.method;
    if model.captioner.is_some() && !method.per_frame() {
        return Err(Error::Unsupported {
            reason: format!(
                "the model in {} is a captioner: ground a word with ebr ground-caption",
                model.dir.display()
            ),
        });
    }
    fwd.check_finite()?;
    let classes = if method.per_frame() {
        model.frame_classifier.as_ref().map_or(0, |h| h.fc.outputs)
    } else {
        model.classes()
    };
    if method.per_frame() && model.frame_classifier.is_none() {
        per_frame_signal(model, fwd, method, 0)?; // the error that names the missing head
    }
    if options.class >= classes {
        return Err(Error::UnknownName {
            kind: "class".to_string(),
            given: options.class.to_string(),
            valid: vec![format!("0..{}", classes.saturating_sub(1))],
        });
    }
    let down_to = map_blob(model, &options.layer)?;
    let mut attention = None;
    let feature_signal = match method {
        Method::Cebr | Method::Ebr => {
            let a = temporal_attention(model, fwd, options);
            let signal = if method == Method::Cebr {
                normalize::contrast(&a.normalized, &a.dual_normalized) // PIPE-7
            } else {
                a.normalized.clone()
            };
            attention = Some(a);
            signal
        }
        Method::Bpr => {
            let prior = one_hot_prior(fwd.steps(), classes, options.class, options.prior);
            temporal_gradient(model, fwd, &prior)
        }
        Method::Eb | Method::Ceb | Method::Bp => {
            per_frame_signal(model, fwd, method, options.class)?
        }
    };
    let layer_shape = model.frame.blob_shapes[down_to];
    let layer_signal = frame_backward(
        model,
        fwd,
        clip,
        &feature_signal,
        down_to,
        method.rule(),
        progress,
    );
    let maps = channel_sum(&layer_signal, fwd.frames, layer_shape);
    clip_forward::check_finite("the map", "frame", &maps, layer_shape[1] * layer_shape[2])?;
    Ok(Grounding {
        options: options.clone(),
        layer_shape,
        feature_signal,
        layer_signal,
        maps,
        attention,
    })
}
