#![doc = include_str!("../spec/README.md")]
#![deny(unsafe_code)]

pub mod error;
pub mod gemm;
pub mod layers;
pub mod npy;
pub mod tensor;

pub use error::Error;
pub use tensor::Tensor;
