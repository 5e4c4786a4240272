//! A dense f32 array: a shape and one contiguous row-major (C order) buffer.
//!
//! Axis orders are Caffe's: images N,C,H,W (N is the clip's frames), sequences T,N,D,
//! convolution weights [out, in, kh, kw], inner-product weights [out, in].

/// A shape and its values in row-major order. `data.len()` is always the product of `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Sizes of the axes, outermost first.
    pub shape: Vec<usize>,
    /// The values, last axis fastest.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of the given shape; panics if `data` has not exactly `product(shape)` values
    /// (a programmer error: user data goes through [`crate::npy`], which checks).
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        let len: usize = shape.iter().product();
        assert_eq!(
            data.len(),
            len,
            "Tensor::new: shape {shape:?} needs {len} values, got {}",
            data.len()
        );
        Tensor { shape, data }
    }

    /// A tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Tensor {
        let len = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; len],
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no value (some axis is 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// `[a, b, c]` for messages.
pub fn shape_string(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
    format!("[{}]", parts.join(", "))
}
