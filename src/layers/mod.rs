//! One file per layer, each with `forward`, `eb_backward` and `grad_backward` side by side, in
//! that order. Inputs are slices, outputs caller-allocated slices that are overwritten; what a
//! backward pass needs from the forward pass is passed in, nothing is cached.

pub mod avg_pool;
pub mod conv;
pub mod conv_geometry;
pub mod dropout;
pub mod excitation;
pub mod fc;
pub mod im2col;
pub mod lstm;
pub mod max_pool;
pub mod mean_pool;
pub mod pool_geometry;
pub mod relu;
pub mod rule;
pub mod softmax;
pub mod winograd;

pub use avg_pool::AvgPool;
pub use conv::{Conv, ConvAlgorithm};
pub use conv_geometry::ConvGeometry;
pub use dropout::Dropout;
pub use fc::Fc;
pub use lstm::{Lstm, LstmActivations, LstmEbRule};
pub use max_pool::MaxPool;
pub use mean_pool::MeanPool;
pub use pool_geometry::PoolGeometry;
pub use relu::Relu;
pub use rule::Rule;
pub use softmax::Softmax;
