#![doc = include_str!("../spec/README.md")]
#![deny(unsafe_code)]

pub mod error;
pub mod gemm;
pub mod grounding;
pub mod layers;
pub mod model;
pub mod npy;
pub mod parallel;
pub mod tensor;

pub use error::Error;
pub use tensor::Tensor;
