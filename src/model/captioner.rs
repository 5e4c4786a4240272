//! The mean-pool captioner's language part: a word embedding, LSTM1 over the previous word,
//! LSTM2 over LSTM1's output with the clip's feature as a static input, and a vocabulary
//! classifier. spec/caption.md (CAP-2..CAP-5)

use crate::layers::{Fc, Lstm, LstmActivations, Softmax};
use crate::model::temporal::clip_markers;

/// The sentence token: index 0 of the vocabulary starts and ends a sentence.
pub const SENTENCE: usize = 0;

/// The language model of a captioner.
#[derive(Clone, Debug)]
pub struct Captioner {
    /// The vocabulary (the model's labels); `words[0]` is the sentence token.
    pub words: Vec<String>,
    pub embed_name: String,
    /// embedding: (V, E)
    pub embedding: Vec<f32>,
    /// E: values of one word's embedding.
    pub dim: usize,
    pub lstm1_name: String,
    /// LSTM1 over the embedded previous word: inputs E.
    pub lstm1: Lstm,
    pub lstm2_name: String,
    /// LSTM2 over u_s = [h1_s ; v]: inputs J1 + D_v, its W_xc = [W_xc | W_xc_static] (CAP-4).
    pub lstm2: Lstm,
    /// D_v: the width of the static input v (the clip's mean feature).
    pub static_width: usize,
    /// The most words greedy decoding emits.
    pub max_words: usize,
}

/// What the language model computed for one sequence of input words, and what the grounding
/// needs from it.
#[derive(Clone, Debug)]
pub struct CaptionForward {
    /// The input words w_0 .. w_{S-1} (w_0 is the sentence token).
    pub inputs: Vec<usize>,
    /// e: (S, E), the embedded input words.
    pub e: Vec<f32>,
    /// The clip markers of the S steps (0, 1, 1, ...).
    pub cont: Vec<f32>,
    pub lstm1: LstmActivations,
    /// u: (S, J1 + D_v), LSTM2's input: [h1_s ; v] at every step.
    pub u: Vec<f32>,
    pub lstm2: LstmActivations,
    /// logits: (S, V); probs: their softmax over the vocabulary.
    pub logits: Vec<f32>,
    pub probs: Vec<f32>,
}

impl CaptionForward {
    /// Steps S.
    pub fn steps(&self) -> usize {
        self.inputs.len()
    }

    /// The word of largest logit at every step (the lower index on ties).
    pub fn argmax_words(&self) -> Vec<usize> {
        let v = self.logits.len() / self.steps().max(1);
        self.logits
            .chunks_exact(v.max(1))
            .map(|row| (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best }))
            .collect()
    }
}

impl Captioner {
    /// Vocabulary size V.
    pub fn vocabulary(&self) -> usize {
        self.words.len()
    }

    /// CAP-2: e (S, E), the rows of the embedding of `words`. Panics on an index past the
    /// vocabulary (callers map user words through [`Captioner::word_index`]).
    /// spec/caption.md (CAP-2)
    pub fn embed(&self, words: &[usize]) -> Vec<f32> {
        let mut e = Vec::with_capacity(words.len() * self.dim);
        for &w in words {
            assert!(
                w < self.vocabulary(),
                "Captioner::embed: word {w} of {}",
                self.vocabulary()
            );
            e.extend_from_slice(&self.embedding[w * self.dim..(w + 1) * self.dim]);
        }
        e
    }

    /// The index of `word` in the vocabulary.
    pub fn word_index(&self, word: &str) -> Option<usize> {
        self.words.iter().position(|w| w == word)
    }

    /// CAP-2..CAP-5 for the input words `inputs` (w_0 = the sentence token first) and the
    /// clip's feature `v` (D_v); `classifier` is the model's vocabulary classifier (V, J2).
    /// spec/caption.md (CAP-3, CAP-4, CAP-5)
    pub fn forward(&self, classifier: &Fc, v: &[f32], inputs: &[usize]) -> CaptionForward {
        assert_eq!(v.len(), self.static_width, "Captioner::forward: v is (D_v)");
        let s_n = inputs.len();
        let cont = clip_markers(s_n);
        let e = self.embed(inputs);
        // CAP-3: LSTM1 over the embedded previous words
        let mut lstm1 = LstmActivations::zeros(s_n, 1, self.lstm1.hidden);
        self.lstm1.forward(&mut lstm1, &e, &cont);
        // CAP-4: LSTM2 over u_s = [h1_s ; v]
        let (h1_n, d_v) = (self.lstm1.hidden, self.static_width);
        let mut u = Vec::with_capacity(s_n * (h1_n + d_v));
        for s in 0..s_n {
            u.extend_from_slice(&lstm1.h[s * h1_n..(s + 1) * h1_n]);
            u.extend_from_slice(v);
        }
        let mut lstm2 = LstmActivations::zeros(s_n, 1, self.lstm2.hidden);
        self.lstm2.forward(&mut lstm2, &u, &cont);
        // CAP-5: the vocabulary's logits at every step, and their softmax
        let v_n = self.vocabulary();
        let mut logits = vec![0.0f32; s_n * v_n];
        classifier.forward(&mut logits, &lstm2.h, s_n);
        let mut probs = vec![0.0f32; s_n * v_n];
        if s_n > 0 {
            Softmax::over_axis(&[s_n, v_n], 1).forward(&mut probs, &logits);
        }
        CaptionForward {
            inputs: inputs.to_vec(),
            e,
            cont,
            lstm1,
            u,
            lstm2,
            logits,
            probs,
        }
    }

    /// Greedy decoding: the word of largest logit at each step, fed back as the next input,
    /// until the sentence token or `max_words` words. Returns the caption's words (without
    /// the final sentence token). spec/caption.md ("Decoding")
    pub fn decode(&self, classifier: &Fc, v: &[f32]) -> Vec<usize> {
        let mut caption: Vec<usize> = Vec::new();
        while caption.len() < self.max_words {
            let fwd = self.forward(classifier, v, &teacher_inputs(&caption, caption.len() + 1));
            let next = *fwd.argmax_words().last().expect("one step at least");
            if next == SENTENCE {
                break;
            }
            caption.push(next);
        }
        caption
    }
}

/// The input words for `steps` steps of a caption `words` (teacher forcing): the sentence
/// token, then the caption's words, so that step s emits `words[s]`.
pub fn teacher_inputs(words: &[usize], steps: usize) -> Vec<usize> {
    std::iter::once(SENTENCE)
        .chain(words.iter().copied())
        .take(steps)
        .collect()
}
