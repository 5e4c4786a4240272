//! Grounding a word of a caption (paper Sec. 4.2): EB from the word's steps through the
//! vocabulary classifier and LSTM2 to the static input v, through the temporal mean-pool to the
//! frames, then down the CNN as for actions. spec/caption.md (CAP-6..CAP-10)
//!
#![doc = include_str!("../../spec/caption.md")]

use super::normalize::{contrast, normalize_over_clip};
use super::{channel_sum, default_map_layer, frame_backward, map_blob, Method};
use crate::error::Error;
use crate::layers::{Fc, LstmEbRule, Rule};
use crate::model::captioner::{teacher_inputs, CaptionForward, Captioner, SENTENCE};
use crate::model::forward::check_finite;
use crate::model::temporal::{TemporalForward, TemporalLayer};
use crate::model::{temporal, ClipForward, Model};

/// What to ground in a caption.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionOptions {
    /// cEB-R (the contrast with the dual word) or EB-R.
    pub method: Method,
    /// The word's index in the vocabulary (not the sentence token 0).
    pub word: usize,
    /// The map layer: "data" or a named frame layer.
    pub layer: String,
    pub lstm_rule: LstmEbRule,
}

/// The language side of one EB pass for a word (CAP-7..CAP-9), kept for inspection and for
/// the property tests.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionAttention {
    /// p_h2: (S, J2), the signal on LSTM2's output after the classifier (FC-3).
    pub p_h2: Vec<f32>,
    /// p_h1: (S, J1), LSTM1's share of LSTM2's gate signal (the dynamic input; not pushed
    /// further).
    pub p_h1: Vec<f32>,
    /// p_v_steps: (S, D_v), the static input's share at every step.
    pub p_v_steps: Vec<f32>,
    /// p_v: (D_v), the static input's share summed over the steps (CAP-8).
    pub p_v: Vec<f32>,
    /// A: (T, D), the signal at the feature blob (CAP-9).
    pub signal: Vec<f32>,
}

/// A grounded word.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionGrounding {
    pub options: CaptionOptions,
    /// The caption the word was grounded in (without the sentence tokens).
    pub caption: Vec<usize>,
    /// The model's own caption of the clip (greedy decoding).
    pub model_caption: Vec<usize>,
    /// The steps that emit the word (CAP-6).
    pub steps: Vec<usize>,
    /// The probability of the word at each of its steps (the caption's forward pass, CAP-5).
    pub probabilities: Vec<f32>,
    /// (C, H, W) of the map layer's blob.
    pub layer_shape: [usize; 3],
    /// The word's EB pass (A) and the dual word's (Ā).
    pub attention: CaptionAttention,
    pub dual_attention: CaptionAttention,
    /// The signal at the feature blob: (T, D), N(A) - N(Ā) for cEB-R, N(A) for EB-R.
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

/// CAP-7, CAP-8: EB from `prior` (S, V) through `classifier` (the vocabulary classifier or
/// its dual) and LSTM2 to its input u = [h1 ; v]; u's signal split into LSTM1's share and the
/// static input's, and the latter summed over the steps. Returns (p_h2, p_h1, p_v_steps, p_v).
/// spec/caption.md (CAP-7, CAP-8)
fn language_backward(
    captioner: &Captioner,
    cap: &CaptionForward,
    classifier: &Fc,
    prior: &[f32],
    lstm_rule: LstmEbRule,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let s_n = cap.steps();
    let (h1_n, d_v, h2_n) = (
        captioner.lstm1.hidden,
        captioner.static_width,
        captioner.lstm2.hidden,
    );
    // CAP-7: the classifier (FC-3) on every step's h2
    let mut p_h2 = vec![0.0f32; s_n * h2_n]; // (S, J2)
    classifier.eb_backward(&mut p_h2, &cap.lstm2.h, prior, s_n);
    // CAP-7: LSTM2's unit backward to the gates, then FC-3 over u = [h1 ; v] with
    // [W_xc | W_xc_static]+ (both inside the Lstm's EB)
    let mut p_u = vec![0.0f32; s_n * (h1_n + d_v)]; // (S, J1 + D_v)
    match lstm_rule {
        LstmEbRule::Original => captioner
            .lstm2
            .eb_backward(&mut p_u, &cap.u, &cap.cont, &cap.lstm2, &p_h2),
        LstmEbRule::Conserving => captioner
            .lstm2
            .eb_backward_conserving(&mut p_u, &cap.u, &cap.cont, &cap.lstm2, &p_h2),
    }
    // CAP-7: p_h1[s] = p_u[s, 0..J1], p_v[s] = p_u[s, J1..J1 + D_v]
    let mut p_h1 = Vec::with_capacity(s_n * h1_n); // (S, J1)
    let mut p_v_steps = Vec::with_capacity(s_n * d_v); // (S, D_v)
    for row in p_u.chunks_exact(h1_n + d_v) {
        p_h1.extend_from_slice(&row[..h1_n]);
        p_v_steps.extend_from_slice(&row[h1_n..]);
    }
    // CAP-8: the static input's share, summed over the steps (in step order)
    let mut p_v = vec![0.0f32; d_v]; // (D_v)
    for row in p_v_steps.chunks_exact(d_v) {
        for (p, &share) in p_v.iter_mut().zip(row) {
            *p += share;
        }
    }
    (p_h2, p_h1, p_v_steps, p_v)
}

/// CAP-9: the static input's signal `p_v` (D_v) through the temporal stack `layers` (a
/// captioner's is [mean_pool]: MEAN-2, paper Eq. 8) to the frames' features: (T, D).
/// spec/caption.md (CAP-9)
pub fn static_input_to_frames(
    layers: &[TemporalLayer],
    fwd: &TemporalForward,
    p_v: &[f32],
    lstm_rule: LstmEbRule,
) -> Vec<f32> {
    temporal::backward(layers, fwd, p_v, Rule::Excitation(lstm_rule))
}

/// CAP-7..CAP-9: EB from `prior` (S, V) through `classifier` (the vocabulary classifier or
/// its dual) and LSTM2 to its input u = [h1 ; v], the static input's share summed over the
/// steps, then the temporal mean-pool's EB to the frames: A (T, D), with the steps between.
/// spec/caption.md (CAP-7, CAP-8, CAP-9)
pub fn caption_attention(
    model: &Model,
    fwd: &ClipForward,
    captioner: &Captioner,
    cap: &CaptionForward,
    classifier: &Fc,
    prior: &[f32],
    lstm_rule: LstmEbRule,
) -> CaptionAttention {
    let (p_h2, p_h1, p_v_steps, p_v) =
        language_backward(captioner, cap, classifier, prior, lstm_rule);
    let signal = static_input_to_frames(&model.temporal, &fwd.temporal, &p_v, lstm_rule);
    CaptionAttention {
        p_h2,
        p_h1,
        p_v_steps,
        p_v,
        signal,
    }
}

/// The caption as text, its words separated by spaces.
pub fn caption_text(captioner: &Captioner, caption: &[usize]) -> String {
    caption
        .iter()
        .map(|&w| {
            captioner
                .words
                .get(w)
                .map_or_else(|| format!("#{w}"), String::clone)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a caption and a word against the vocabulary: the caption is not empty, every word
/// of it and the word are words of the vocabulary (not the sentence token 0), and the word is
/// in the caption. Returns the word's steps (CAP-6).
pub fn check_caption_word(
    captioner: &Captioner,
    caption: &[usize],
    word: usize,
) -> Result<Vec<usize>, Error> {
    let v_n = captioner.vocabulary();
    let is_word = |w: usize| w != SENTENCE && w < v_n;
    if !is_word(word) {
        return Err(Error::Unsupported {
            reason: format!(
                "word index {word} is not a word of the vocabulary (1..={}; 0 is the sentence token)",
                v_n.saturating_sub(1)
            ),
        });
    }
    if caption.is_empty() {
        return Err(Error::Unsupported {
            reason: format!(
                "the caption is empty: there is no \"{}\" to ground",
                captioner.words[word]
            ),
        });
    }
    if let Some(s) = caption.iter().position(|&w| !is_word(w)) {
        return Err(Error::Unsupported {
            reason: format!(
                "word {s} of the caption ({}) is not a word of the vocabulary (1..={}; 0 is the sentence token)",
                caption[s],
                v_n - 1
            ),
        });
    }
    let steps = word_steps(caption, word);
    if steps.is_empty() {
        return Err(Error::Unsupported {
            reason: format!(
                "the word \"{}\" is not in the caption \"{}\"; its words: {}",
                captioner.words[word],
                caption_text(captioner, caption),
                caption_text(captioner, caption).replace(' ', ", ")
            ),
        });
    }
    Ok(steps)
}

/// What a user asks for, by name: the word, the caption's text or None for the model's own
/// caption (greedy decoding), the map layer or None for the default.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionRequest {
    pub method: Method,
    pub word: String,
    pub caption: Option<String>,
    pub layer: Option<String>,
    pub lstm_rule: LstmEbRule,
}

/// A checked grounding of one word: a captioner, cEB-R or EB-R, a word of the vocabulary, a
/// given caption that holds the word (or None: the model's own caption), the map layer.
#[derive(Clone, Debug)]
pub struct CaptionPlan<'m> {
    pub model: &'m Model,
    pub captioner: &'m Captioner,
    pub options: CaptionOptions,
    /// The caption to ground the word in (teacher forcing), or None for the model's own.
    pub caption: Option<Vec<usize>>,
    /// The blob of the map layer `options.layer`.
    pub map_blob: usize,
}

impl<'m> CaptionPlan<'m> {
    /// Checks `options` and `caption` against `model` before any work.
    pub fn new(
        model: &'m Model,
        options: CaptionOptions,
        caption: Option<Vec<usize>>,
    ) -> Result<CaptionPlan<'m>, Error> {
        let captioner = captioner_of(model)?;
        if !matches!(options.method, Method::Cebr | Method::Ebr) {
            return Err(Error::Unsupported {
                reason: format!(
                    "ebr ground-caption runs cebr or ebr, not {}",
                    options.method.name()
                ),
            });
        }
        if let Some(caption) = &caption {
            check_caption_word(captioner, caption, options.word)?;
        }
        let map_blob = map_blob(model, &options.layer)?;
        Ok(CaptionPlan {
            model,
            captioner,
            options,
            caption,
            map_blob,
        })
    }

    /// Resolves a request's names (the word, the caption's words, the default map layer),
    /// then checks it as [`CaptionPlan::new`] does.
    pub fn from_request(
        model: &'m Model,
        request: &CaptionRequest,
    ) -> Result<CaptionPlan<'m>, Error> {
        let captioner = captioner_of(model)?;
        let word = user_word(captioner, &request.word)?;
        let caption = match &request.caption {
            Some(text) => Some(parse_caption(captioner, text)?),
            None => None,
        };
        let layer = match &request.layer {
            Some(layer) => layer.clone(),
            None => default_map_layer(model),
        };
        let options = CaptionOptions {
            method: request.method,
            word,
            layer,
            lstm_rule: request.lstm_rule,
        };
        CaptionPlan::new(model, options, caption)
    }

    /// Grounds the plan's word in the clip whose forward pass is `fwd`, in the given caption
    /// or in the model's own (greedy decoding; then the word must be in it, which only the
    /// forward pass can tell). spec/caption.md (CAP-6..CAP-10)
    pub fn ground(
        &self,
        fwd: &ClipForward,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<CaptionGrounding, Error> {
        let (model, captioner, options) = (self.model, self.captioner, &self.options);
        fwd.check_finite()?;
        let v = &fwd.temporal.output;
        let model_caption = captioner.decode(&model.classifier.fc, v);
        let caption = match &self.caption {
            Some(caption) => caption.clone(),
            None => {
                check_caption_word(captioner, &model_caption, options.word).map_err(|e| {
                    Error::Unsupported {
                        reason: format!(
                            "{e} (the model's own caption, by greedy decoding; give one with --caption)"
                        ),
                    }
                })?;
                model_caption.clone()
            }
        };
        // CAP-6: the word's steps
        let steps = word_steps(&caption, options.word);
        // CAP-2..CAP-5 with teacher forcing: S = |caption| steps, step s emits caption[s]
        let cap = captioner.forward(
            &model.classifier.fc,
            v,
            &teacher_inputs(&caption, caption.len()),
        );
        let v_n = captioner.vocabulary();
        check_finite("the vocabulary logits", "step", &cap.logits, v_n)?;
        let probabilities = steps
            .iter()
            .map(|&s| cap.probs[s * v_n + options.word])
            .collect();
        let prior = word_prior(cap.steps(), v_n, options.word, &steps);
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
        // CAP-7..CAP-9 for the word, and CAP-10: for its dual (the word's row negated)
        let attention = attend(&model.classifier.fc);
        let dual_attention = attend(&dual_word(&model.classifier.fc, options.word));
        // CAP-10: PIPE-5, PIPE-7
        let (normalized, norm) = normalize_over_clip(&attention.signal);
        let (dual_normalized, dual_norm) = normalize_over_clip(&dual_attention.signal);
        let feature_signal = match options.method {
            Method::Cebr => contrast(&normalized, &dual_normalized),
            _ => normalized,
        };
        // CAP-10: PIPE-8, PIPE-9 down the CNN, per frame
        let layer_shape = model.frame.blob_shapes[self.map_blob];
        let layer_signal = frame_backward(
            model,
            fwd,
            &feature_signal,
            self.map_blob,
            Rule::Excitation(options.lstm_rule),
            progress,
        );
        let maps = channel_sum(&layer_signal, fwd.frames, layer_shape);
        check_finite("the map", "frame", &maps, layer_shape[1] * layer_shape[2])?;
        Ok(CaptionGrounding {
            options: options.clone(),
            caption,
            model_caption,
            steps,
            probabilities,
            layer_shape,
            attention,
            dual_attention,
            feature_signal,
            layer_signal,
            maps,
            norm,
            dual_norm,
        })
    }
}

/// The model's captioner, or the error that says it has none.
fn captioner_of(model: &Model) -> Result<&Captioner, Error> {
    model.captioner.as_ref().ok_or_else(|| Error::Unsupported {
        reason: format!(
            "{} describes no captioner (use ebr ground for an action model)",
            model.dir.join("model.json").display()
        ),
    })
}

/// Grounds `options.word` in `caption` (the caption's words, without sentence tokens) for the
/// clip whose forward pass is `fwd`: [`CaptionPlan::new`], then [`CaptionPlan::ground`].
/// spec/caption.md (CAP-6..CAP-10)
pub fn ground_caption(
    model: &Model,
    fwd: &ClipForward,
    caption: &[usize],
    options: &CaptionOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<CaptionGrounding, Error> {
    CaptionPlan::new(model, options.clone(), Some(caption.to_vec()))?.ground(fwd, progress)
}

/// The vocabulary index of a word the user gave: a word of the vocabulary, not the sentence
/// token (index 0, which starts and ends every caption).
fn user_word(captioner: &Captioner, word: &str) -> Result<usize, Error> {
    match captioner.word_index(word) {
        Some(index) if index != SENTENCE => Ok(index),
        _ => Err(Error::UnknownName {
            kind: "word".to_string(),
            given: word.to_string(),
            valid: captioner.words[1..].to_vec(),
        }),
    }
}

/// The vocabulary indices of the words of `text` (separated by white space); not empty.
fn parse_caption(captioner: &Captioner, text: &str) -> Result<Vec<usize>, Error> {
    let caption = text
        .split_whitespace()
        .map(|word| user_word(captioner, word))
        .collect::<Result<Vec<_>, _>>()?;
    if caption.is_empty() {
        return Err(Error::Unsupported {
            reason: "--caption is empty: give the caption's words separated by spaces".to_string(),
        });
    }
    Ok(caption)
}

/// The vocabulary classifier with the row of `word` negated: the dual output unit of that
/// word (paper Eq. 2). Bias kept, as FC-5. Since the prior is non-zero on that row only, EB
/// through the other rows carries nothing (their ratio X is 0), so this gives exactly what
/// FC-5's whole negated classifier gives. spec/caption.md (CAP-10)
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
