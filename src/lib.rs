#![doc = include_str!("../spec/README.md")]
#![deny(unsafe_code)]

pub mod batch;
pub mod bench;
pub mod budget;
pub mod caffe;
pub mod clip;
pub mod error;
pub mod eval;
pub mod gemm;
pub mod grounding;
pub mod input_file;
pub mod interrupt;
pub mod json_file;
pub mod layers;
pub mod localize;
pub mod model;
pub mod npy;
pub mod output;
pub mod parallel;
pub mod render;
pub mod resize;
pub mod rng;
pub mod synth;
pub mod tensor;

pub use error::Error;
pub use tensor::Tensor;
