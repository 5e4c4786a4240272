//! Grounding a word of a caption (paper Sec. 4.2): EB from the word's steps through the
//! vocabulary classifier and LSTM2 to the static input v, through the temporal mean-pool to the
//! frames, then down the CNN as for actions. spec/caption.md (CAP-6..CAP-10)

use super::normalize::{contrast, normalize_over_clip};
use super::{channel_sum, frame_backward, map_blob, ClipForward, Method};
use crate::error::Error;
use crate::layers::{Fc, LstmEbRule};
use crate::model::captioner::{teacher_inputs, CaptionForward, Captioner};
use crate::model::{temporal, Model, Rule};

/// What to ground in a caption.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionOptions {
    /// cEB-R (the contrast with the dual word) or EB-R.
    pub method: Method,
    /// The word's index in the vocabulary.
    pub word: usize,
    /// The map layer: "data" or a named frame layer.
    pub layer: String,
    pub lstm_rule: LstmEbRule,
}

/// A grounded word.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionGrounding {
    pub options: CaptionOptions,
    /// The caption the word was grounded in (without the sentence tokens).
    pub caption: Vec<usize>,
    /// The steps that emit the word (CAP-6).
    pub steps: Vec<usize>,
    /// (C, H, W) of the map layer's blob.
    pub layer_shape: [usize; 3],
    /// The signal at the feature blob: (T, D).
    pub feature_signal: Vec<f32>,
    /// The signal at the map layer: (T, C, H, W).
    pub layer_signal: Vec<f32>,
    /// maps: (T, H, W), signed.
    pub maps: Vec<f32>,
    /// The sums of A and Ā before the normalization (the mass that reached the frames).
    pub norm: f32,
    pub dual_norm: f32,
}

/// CAP-6: the steps s whose emitted word `caption[s]` is `word`. spec/caption.md (CAP-6)
pub fn word_steps(caption: &[usize], word: usize) -> Vec<usize> {
    (0..caption.len()).filter(|&s| caption[s] == word).collect()
}

/// CAP-6: the prior on the caption's logits (S, V): 1 on `word` at `steps`.
/// spec/caption.md (CAP-6)
pub fn word_prior(steps_total: usize, vocabulary: usize, word: usize, steps: &[usize]) -> Vec<f32> {
    let mut prior = vec![0.0f32; steps_total * vocabulary];
    for &s in steps {
        prior[s * vocabulary + word] = 1.0;
    }
    prior
}

/// CAP-7..CAP-9: EB from `prior` (S, V) through `classifier` (the vocabulary classifier or
/// its dual) and LSTM2 to its input u = [h1 ; v], the static input's share summed over the
/// steps, then the temporal mean-pool's EB to the frames: A (T, D).
/// spec/caption.md (CAP-7, CAP-8, CAP-9)
pub fn caption_attention(
    model: &Model,
    fwd: &ClipForward,
    captioner: &Captioner,
    cap: &CaptionForward,
    classifier: &Fc,
    prior: &[f32],
    lstm_rule: LstmEbRule,
) -> Vec<f32> {
    let s_n = cap.steps();
    let (h1_n, d_v) = (captioner.lstm1.hidden, captioner.static_width);
    // CAP-7: the classifier (FC-3), then LSTM2 (its unit, then FC-3 over u = [h1 ; v])
    let mut p_h2 = vec![0.0f32; s_n * captioner.lstm2.hidden];
    classifier.eb_backward(&mut p_h2, &cap.lstm2.h, prior, s_n);
    let mut p_u = vec![0.0f32; s_n * (h1_n + d_v)];
    match lstm_rule {
        LstmEbRule::Original => captioner
            .lstm2
            .eb_backward(&mut p_u, &cap.u, &cap.cont, &cap.lstm2, &p_h2),
        LstmEbRule::Conserving => captioner
            .lstm2
            .eb_backward_conserving(&mut p_u, &cap.u, &cap.cont, &cap.lstm2, &p_h2),
    }
    // CAP-8: the static input's share, summed over the steps
    let mut p_v = vec![0.0f32; d_v];
    for row in p_u.chunks_exact(h1_n + d_v) {
        for (p, &share) in p_v.iter_mut().zip(&row[h1_n..]) {
            *p += share;
        }
    }
    // CAP-9: the temporal mean-pool's EB (MEAN-2) to the frames
    temporal::eb_backward(&model.temporal, &fwd.temporal, &p_v, lstm_rule)
}

/// Grounds `options.word` in `caption` (the caption's words, without sentence tokens) for the
/// clip whose forward pass is `fwd`. spec/caption.md (CAP-6..CAP-10)
pub fn ground_caption(
    model: &Model,
    fwd: &ClipForward,
    clip: &[f32],
    caption: &[usize],
    options: &CaptionOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<CaptionGrounding, Error> {
    let captioner = model.captioner.as_ref().ok_or_else(|| Error::Unsupported {
        reason: format!(
            "the model in {} has no captioner (use ebr ground for an action model)",
            model.dir.display()
        ),
    })?;
    if !matches!(options.method, Method::Cebr | Method::Ebr) {
        return Err(Error::Unsupported {
            reason: format!(
                "ebr ground-caption runs cebr or ebr, not {}",
                options.method.name()
            ),
        });
    }
    let steps = word_steps(caption, options.word);
    if steps.is_empty() {
        let given: Vec<&str> = caption
            .iter()
            .map(|&w| captioner.words[w].as_str())
            .collect();
        return Err(Error::UnknownName {
            kind: "word of the caption".to_string(),
            given: captioner.words[options.word].clone(),
            valid: given.iter().map(|w| w.to_string()).collect(),
        });
    }
    let down_to = map_blob(model, &options.layer)?;
    let v = &fwd.temporal.output;
    let cap = captioner.forward(
        &model.classifier.fc,
        v,
        &teacher_inputs(caption, caption.len()),
    );
    let prior = word_prior(cap.steps(), captioner.vocabulary(), options.word, &steps);
    let attend = |classifier: &Fc| {
        caption_attention(
            model,
            fwd,
            captioner,
            &cap,
            classifier,
            &prior,
            options.lstm_rule,
        )
    };
    // CAP-10: the dual word: the classifier's row of the word negated (FC-5 on that row)
    let a = attend(&model.classifier.fc);
    let dual = dual_word(&model.classifier.fc, options.word);
    let a_dual = attend(&dual);
    let (normalized, norm) = normalize_over_clip(&a);
    let (dual_normalized, dual_norm) = normalize_over_clip(&a_dual);
    let feature_signal = match options.method {
        Method::Cebr => contrast(&normalized, &dual_normalized),
        _ => normalized,
    };
    let layer_shape = model.frame.blob_shapes[down_to];
    let layer_signal = frame_backward(
        model,
        fwd,
        clip,
        &feature_signal,
        down_to,
        Rule::Excitation,
        progress,
    );
    let maps = channel_sum(&layer_signal, fwd.frames, layer_shape);
    Ok(CaptionGrounding {
        options: options.clone(),
        caption: caption.to_vec(),
        steps,
        layer_shape,
        feature_signal,
        layer_signal,
        maps,
        norm,
        dual_norm,
    })
}

/// The vocabulary classifier with the row of `word` negated: the dual output unit of that
/// word (paper Eq. 2; FC-5 restricted to the grounded unit, since only its prior is non-zero
/// and EB through the other rows carries nothing). spec/caption.md (CAP-10)
pub fn dual_word(classifier: &Fc, word: usize) -> Fc {
    let d = classifier.inputs;
    let mut w = classifier.w.clone();
    for v in &mut w[word * d..(word + 1) * d] {
        *v = -*v;
    }
    Fc::new(
        classifier.inputs,
        classifier.outputs,
        w,
        classifier.b.clone(),
    )
}
