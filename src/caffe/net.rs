//! A Caffe net as ebr reads it: the layers of a `NetParameter` with the settings ebr uses
//! (spec/caffe-import.md, CAFFE-2), from a prototxt (src/caffe/prototxt.rs) or a caffemodel
//! (src/caffe/caffemodel.rs).

use super::text::Position;

/// Caffe's `Phase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Train,
    Test,
}

impl Phase {
    pub fn from_number(n: u64) -> Option<Phase> {
        match n {
            0 => Some(Phase::Train),
            1 => Some(Phase::Test),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Train => "TRAIN",
            Phase::Test => "TEST",
        }
    }
}

/// A `NetStateRule` (include / exclude).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateRule {
    pub phase: Option<Phase>,
    pub min_level: Option<i64>,
    pub max_level: Option<i64>,
    pub stages: Vec<String>,
    pub not_stages: Vec<String>,
}

/// A `BlobProto`: its shape (CAFFE-3) and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct Blob {
    pub shape: Vec<usize>,
    /// True when the shape came from the legacy num/channels/height/width fields.
    pub legacy: bool,
    pub data: Vec<f32>,
}

/// `convolution_param`; repeated fields as written, `None` where not written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvParam {
    pub num_output: Option<u64>,
    pub bias_term: Option<bool>,
    pub pad: Vec<u64>,
    pub kernel_size: Vec<u64>,
    pub stride: Vec<u64>,
    pub dilation: Vec<u64>,
    pub pad_h: Option<u64>,
    pub pad_w: Option<u64>,
    pub kernel_h: Option<u64>,
    pub kernel_w: Option<u64>,
    pub stride_h: Option<u64>,
    pub stride_w: Option<u64>,
    pub group: Option<u64>,
    pub axis: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolMethod {
    Max,
    Ave,
    Stochastic,
}

/// `pooling_param`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolParam {
    pub pool: Option<PoolMethod>,
    pub kernel_size: Option<u64>,
    pub kernel_h: Option<u64>,
    pub kernel_w: Option<u64>,
    pub stride: Option<u64>,
    pub stride_h: Option<u64>,
    pub stride_w: Option<u64>,
    pub pad: Option<u64>,
    pub pad_h: Option<u64>,
    pub pad_w: Option<u64>,
    pub global_pooling: Option<bool>,
}

/// `inner_product_param`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InnerProductParam {
    pub num_output: Option<u64>,
    pub bias_term: Option<bool>,
    pub axis: Option<i64>,
    pub transpose: Option<bool>,
}

/// `reshape_param`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReshapeParam {
    pub shape: Vec<i64>,
    pub axis: Option<i64>,
    pub num_axes: Option<i64>,
}

/// `recurrent_param`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecurrentParam {
    pub num_output: Option<u64>,
    pub expose_hidden: Option<bool>,
}

/// One layer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layer {
    pub name: String,
    /// Caffe's type name ("Convolution"; a V1 layer's enum is translated: `v1_type_name`).
    pub kind: String,
    pub bottoms: Vec<String>,
    pub tops: Vec<String>,
    pub phase: Option<Phase>,
    pub include: Vec<StateRule>,
    pub exclude: Vec<StateRule>,
    pub blobs: Vec<Blob>,
    pub conv: Option<ConvParam>,
    pub pool: Option<PoolParam>,
    pub inner_product: Option<InnerProductParam>,
    pub reshape: Option<ReshapeParam>,
    pub recurrent: Option<RecurrentParam>,
    /// `input_param.shape`, or `dummy_data_param`'s shapes.
    pub input_shapes: Vec<Vec<i64>>,
    pub relu_negative_slope: Option<f32>,
    pub softmax_axis: Option<i64>,
    /// Where the layer starts in a prototxt (None in a caffemodel).
    pub at: Option<Position>,
}

/// A net-level input (`input` with `input_shape` or `input_dim`).
#[derive(Clone, Debug, PartialEq)]
pub struct NetInput {
    pub name: String,
    pub shape: Vec<i64>,
}

/// A `NetParameter`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Net {
    pub name: String,
    pub inputs: Vec<NetInput>,
    pub layers: Vec<Layer>,
}

/// The V1 `LayerType` enum's Caffe type names (caffe.proto, `V1LayerParameter`; CAFFE-2).
pub fn v1_type_name(number: u64) -> Option<&'static str> {
    Some(match number {
        0 => "",
        1 => "Accuracy",
        2 => "BNLL",
        3 => "Concat",
        4 => "Convolution",
        5 => "Data",
        6 => "Dropout",
        7 => "EuclideanLoss",
        8 => "Flatten",
        9 => "HDF5Data",
        10 => "HDF5Output",
        11 => "Im2col",
        12 => "ImageData",
        13 => "InfogainLoss",
        14 => "InnerProduct",
        15 => "LRN",
        16 => "MultinomialLogisticLoss",
        17 => "Pooling",
        18 => "ReLU",
        19 => "Sigmoid",
        20 => "Softmax",
        21 => "SoftmaxWithLoss",
        22 => "Split",
        23 => "TanH",
        24 => "WindowData",
        25 => "Eltwise",
        26 => "Power",
        27 => "SigmoidCrossEntropyLoss",
        28 => "HingeLoss",
        29 => "MemoryData",
        30 => "ArgMax",
        31 => "Threshold",
        32 => "DummyData",
        33 => "Slice",
        34 => "MVN",
        35 => "AbsVal",
        36 => "Silence",
        37 => "ContrastiveLoss",
        38 => "Exp",
        39 => "Deconvolution",
        _ => return None,
    })
}

/// The same enum by its identifier, as a V1 prototxt writes it (`type: CONVOLUTION`).
pub fn v1_type_by_identifier(identifier: &str) -> Option<&'static str> {
    const NAMES: [&str; 40] = [
        "NONE",
        "ACCURACY",
        "BNLL",
        "CONCAT",
        "CONVOLUTION",
        "DATA",
        "DROPOUT",
        "EUCLIDEAN_LOSS",
        "FLATTEN",
        "HDF5_DATA",
        "HDF5_OUTPUT",
        "IM2COL",
        "IMAGE_DATA",
        "INFOGAIN_LOSS",
        "INNER_PRODUCT",
        "LRN",
        "MULTINOMIAL_LOGISTIC_LOSS",
        "POOLING",
        "RELU",
        "SIGMOID",
        "SOFTMAX",
        "SOFTMAX_LOSS",
        "SPLIT",
        "TANH",
        "WINDOW_DATA",
        "ELTWISE",
        "POWER",
        "SIGMOID_CROSS_ENTROPY_LOSS",
        "HINGE_LOSS",
        "MEMORY_DATA",
        "ARGMAX",
        "THRESHOLD",
        "DUMMY_DATA",
        "SLICE",
        "MVN",
        "ABSVAL",
        "SILENCE",
        "CONTRASTIVE_LOSS",
        "EXP",
        "DECONVOLUTION",
    ];
    let number = NAMES.iter().position(|&n| n == identifier)?;
    v1_type_name(number as u64)
}
