//! Grounding a class in a clip: the six methods (cEB-R, EB-R, BP-R and the per-frame EB, cEB,
//! BP), written as the demo's procedure (ORIGINAL.md section 3). spec/pipeline.md
//!
//! The path of one grounding, top to bottom:
//! 1. [`Plan::new`] resolves and checks everything a user can get wrong (the method against
//!    the model's heads, the class, the map layer) before any work;
//! 2. [`crate::model::forward_clip`] runs the model's forward pass, keeping what the backward
//!    passes down to the plan's map layer (`Plan::map_blob`) read;
//! 3. [`Plan::ground`] runs the method's backward passes: a prior on the logits, the classifier
//!    and the temporal stack down to the feature blob, the temporal normalization and the
//!    contrast there ([`signal`]), then the frame CNN down to the map layer, per frame
//!    ([`frame_backward`]).
//!
//! Caption grounding ([`caption`]) follows the same path with a word instead of a class.
//!
#![doc = include_str!("../../spec/pipeline.md")]

pub mod caption;
pub mod frame_backward;
pub mod normalize;
pub mod plan;
pub mod signal;

pub use frame_backward::{channel_sum, frame_backward};
pub use plan::{
    check_method, class_names, default_map_layer, ground, map_blob, resolve_class, Plan, Request,
};
pub use signal::{
    feature_signal, one_hot_prior, per_frame_signal, temporal_attention, temporal_backward,
};

use crate::layers::{LstmEbRule, Rule};

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

    /// The backward rule of the method, with `lstm_rule` inside the LSTM for the EB methods.
    pub fn rule(self, lstm_rule: LstmEbRule) -> Rule {
        match self {
            Method::Bpr | Method::Bp => Rule::Gradient,
            _ => Rule::Excitation(lstm_rule),
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

impl Prior {
    /// The name used on the command line and in summary.json.
    pub fn name(self) -> &'static str {
        match self {
            Prior::Last => "last",
            Prior::All => "all",
        }
    }
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

impl Normalization {
    /// The name used on the command line and in summary.json.
    pub fn name(self) -> &'static str {
        match self {
            Normalization::Paper => "paper",
            Normalization::Demo => "demo",
        }
    }
}

/// What to ground and how, resolved: the class as an index, the map layer by name.
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
