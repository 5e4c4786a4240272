//! The signal at the feature blob, per method: a prior on the logits, the classifier and the
//! temporal stack's backward pass, the temporal normalization and the contrast (cEB-R, EB-R,
//! BP-R), or the frame classifier's per-frame signal (EB, cEB, BP).
//! spec/pipeline.md (PIPE-4..PIPE-7, PIPE-10)

use super::normalize;
use super::{Method, Normalization, Options, Prior, TemporalAttention};
use crate::layers::{Fc, Rule};
use crate::model::{temporal, ClipForward, Head, Model};

/// The one-hot prior on logits of `steps` steps and `classes` classes. spec/pipeline.md (PIPE-4)
pub fn one_hot_prior(steps: usize, classes: usize, class: usize, prior: Prior) -> Vec<f32> {
    let mut p = vec![0.0f32; steps * classes];
    match prior {
        Prior::Last => p[(steps - 1) * classes + class] = 1.0,
        Prior::All => (0..steps).for_each(|t| p[t * classes + class] = 1.0),
    }
    p
}

/// The backward pass of `prior` on the logits through `classifier` (the model's, or its dual)
/// and the temporal stack to the feature blob, by `rule`: (T, D). spec/pipeline.md (PIPE-4)
pub fn temporal_backward(
    model: &Model,
    fwd: &ClipForward,
    classifier: &Fc,
    prior: &[f32],
    rule: Rule,
) -> Vec<f32> {
    let (steps, width) = fwd.temporal.output_size();
    let mut p_out = vec![0.0f32; steps * width];
    match rule {
        Rule::Excitation(_) => {
            classifier.eb_backward(&mut p_out, &fwd.temporal.output, prior, steps)
        }
        Rule::Gradient => classifier.grad_backward(&mut p_out, prior, steps),
    }
    temporal::backward(&model.temporal, &fwd.temporal, &p_out, rule)
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
    let rule = Rule::Excitation(options.lstm_rule);
    let signal = temporal_backward(model, fwd, &model.classifier.fc, &p, rule);
    let dual = model.classifier.fc.negated();
    let dual_signal = temporal_backward(model, fwd, &dual, &p, rule);
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

/// The frame classifier `head`'s per-frame signal at the feature blob for `class` on every
/// frame: EB, the contrast EB(W) - EB(-W) with no normalization, or the gradient. (T, D).
/// spec/pipeline.md (PIPE-10)
pub fn per_frame_signal(head: &Head, fwd: &ClipForward, method: Method, class: usize) -> Vec<f32> {
    let (t_n, d) = (fwd.frames, head.fc.inputs);
    let prior = one_hot_prior(t_n, head.fc.outputs, class, Prior::All);
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
    p
}

/// The signal at the feature blob (T, D) of `options.method` (PIPE-4..PIPE-7, PIPE-10), and
/// for cEB-R and EB-R the temporal attention it came from. `options` were checked by the
/// plan: the class exists, a per-frame method has its head.
pub fn feature_signal(
    model: &Model,
    fwd: &ClipForward,
    options: &Options,
) -> (Vec<f32>, Option<TemporalAttention>) {
    match options.method {
        Method::Cebr | Method::Ebr => {
            let a = temporal_attention(model, fwd, options);
            let signal = if options.method == Method::Cebr {
                normalize::contrast(&a.normalized, &a.dual_normalized) // PIPE-7
            } else {
                a.normalized.clone()
            };
            (signal, Some(a))
        }
        Method::Bpr => {
            let prior = one_hot_prior(fwd.steps(), model.classes(), options.class, options.prior);
            let signal =
                temporal_backward(model, fwd, &model.classifier.fc, &prior, Rule::Gradient);
            (signal, None)
        }
        Method::Eb | Method::Ceb | Method::Bp => {
            let head = model
                .frame_classifier
                .as_ref()
                .expect("the plan checked the frame classifier");
            (
                per_frame_signal(head, fwd, options.method, options.class),
                None,
            )
        }
    }
}
