//! model.json: the description of a model directory as plain data. The file's own shape (the
//! serde types, and the checks serde cannot express) is src/model/model_file.rs; spec/model.md
//! describes the schema.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model_file::ModelFile;
use crate::error::Error;
use crate::json_file::{parse_json, read_json_file};

/// The format tag every model.json carries.
pub const FORMAT: &str = "ebr-model-1";

/// The largest value of any size field (channels, kernel, stride, pad, out, hidden, ...):
/// far beyond real models, small enough that the loader's shape arithmetic cannot overflow
/// (products are then checked against a memory budget in src/model/load.rs).
pub const MAX_SIZE: usize = 1 << 20;

/// How a frame image becomes the model's input (spec/model.md, "input").
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// [height, width] every frame is resized to before the crop, if given.
    pub resize: Option<[usize; 2]>,
    /// Values in [0, 1] are multiplied by this (255 for Caffe models, 1 for PyTorch ones).
    pub scale: f64,
    /// Channel order of the model's input: "bgr" (Caffe) or "rgb".
    pub channel_order: ChannelOrder,
    /// Subtracted per channel, in the model's channel order, after scaling.
    pub mean: Vec<f64>,
    /// Divided per channel after the mean (PyTorch's normalisation); 1 when absent.
    pub std: Vec<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    #[default]
    Bgr,
    Rgb,
}

/// One layer of "frame", as written in model.json.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameLayerSpec {
    Conv {
        name: String,
        out: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        bias: bool,
    },
    Relu,
    MaxPool {
        name: Option<String>,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    AvgPool {
        name: Option<String>,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    Fc {
        name: String,
        out: usize,
        bias: bool,
    },
    Dropout,
}

/// One layer of "temporal".
#[derive(Clone, Debug, PartialEq)]
pub enum TemporalLayerSpec {
    Lstm { name: String, hidden: usize },
    MeanPool,
}

/// A classifier head ("classifier" or "frame_classifier"): an inner product.
#[derive(Clone, Debug, PartialEq)]
pub struct FcSpec {
    pub name: String,
    pub out: usize,
    pub bias: bool,
}

/// The language part of a captioner ("captioner" in model.json, spec/caption.md): its
/// vocabulary is "labels" (index 0 the sentence token) and its vocabulary classifier is
/// "classifier", on LSTM2's output.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionerSpec {
    pub embedding: String,
    /// E: values of one word's embedding.
    pub dim: usize,
    pub lstm1: String,
    pub lstm1_hidden: usize,
    pub lstm2: String,
    pub lstm2_hidden: usize,
    pub max_words: usize,
}

/// Everything model.json says.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub input: InputSpec,
    pub frame: Vec<FrameLayerSpec>,
    pub temporal: Vec<TemporalLayerSpec>,
    pub classifier: FcSpec,
    pub frame_classifier: Option<FcSpec>,
    /// For a captioner: its language part (then "classifier" is the vocabulary classifier).
    pub captioner: Option<CaptionerSpec>,
    /// One name per class of the classifier ("0", "1", ... when model.json has none).
    pub labels: Vec<String>,
}

impl ModelSpec {
    /// Reads and checks `path` (a model.json), refusing a file past the JSON size cap before
    /// reading it (src/json_file.rs).
    pub fn read(path: &Path) -> Result<ModelSpec, Error> {
        read_json_file::<ModelFile>(path)?.into_spec(path)
    }

    /// Parses and checks the text of a model.json; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ModelSpec, Error> {
        parse_json::<ModelFile>(path, text)?.into_spec(path)
    }

    /// The model.json text of this description (the inverse of [`ModelSpec::parse`]), fields
    /// in the order of spec/model.md, ending with a newline.
    pub fn to_json_text(&self) -> String {
        let text = serde_json::to_string_pretty(&ModelFile::from_spec(self))
            .expect("model.json's types serialize");
        format!("{text}\n")
    }

    /// This description as a JSON value (what [`ModelSpec::to_json_text`] writes).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(ModelFile::from_spec(self)).expect("model.json's types serialize")
    }
}

/// The path of a model directory's model.json.
pub fn model_json_path(dir: &Path) -> PathBuf {
    dir.join("model.json")
}
