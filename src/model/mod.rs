//! A model directory: model.json and one .npy per parameter, loaded into layers.
//! spec/model.md
//!
#![doc = include_str!("../../spec/model.md")]

pub mod captioner;
pub mod forward;
pub mod frame_net;
pub mod load;
mod model_file;
pub mod save;
pub mod schema;
pub mod temporal;

pub use forward::{forward_clip, ClipForward, Execution};
pub use frame_net::{FrameLayer, FrameNet};
pub use schema::{ChannelOrder, InputSpec, ModelSpec};
pub use temporal::TemporalLayer;

use std::path::PathBuf;

use crate::layers::Fc;

/// A named inner-product head (the classifier or the frame classifier).
#[derive(Clone, Debug)]
pub struct Head {
    pub name: String,
    pub fc: Fc,
}

/// A loaded CNN-LSTM (or CNN + mean-pool, or per-frame) model.
#[derive(Clone, Debug)]
pub struct Model {
    /// The directory it was loaded from.
    pub dir: PathBuf,
    pub name: String,
    pub input: InputSpec,
    /// The per-frame CNN, from the input to the feature blob (e.g. fc7).
    pub frame: FrameNet,
    /// The temporal stack over the clip's features (may be empty).
    pub temporal: Vec<TemporalLayer>,
    /// The classifier on the temporal stack's output (every step).
    pub classifier: Head,
    /// A per-frame head on the feature blob (the per-frame methods need it).
    pub frame_classifier: Option<Head>,
    /// For a captioner: its language part; `classifier` is then its vocabulary classifier on
    /// LSTM2's output, and `labels` its vocabulary (spec/caption.md).
    pub captioner: Option<captioner::Captioner>,
    pub labels: Vec<String>,
    /// What model.json said.
    pub spec: ModelSpec,
    /// What loading changed, for the user (e.g. a float64 file converted to float32).
    pub notes: Vec<String>,
}

impl Model {
    /// Sets how every convolution of the frame CNN computes its products (the loader leaves
    /// each at its default). spec/layers/winograd.md ("Selection")
    pub fn set_conv_algorithm(&mut self, algorithm: crate::layers::ConvAlgorithm) {
        for layer in &mut self.frame.layers {
            if let FrameLayer::Conv { conv, .. } = layer {
                conv.algorithm = algorithm;
            }
        }
    }

    /// Number of classes of the classifier.
    pub fn classes(&self) -> usize {
        self.classifier.fc.outputs
    }
}
