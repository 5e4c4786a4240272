//! ReLU: forward, excitation backward and gradient backward. spec/layers/relu.md
//!
#![doc = include_str!("../../spec/layers/relu.md")]

/// Caffe's `std::max(x, 0)`: 0 for a negative `x`, else `x`, so that a NaN stays NaN (an
/// overflow below stays visible; `f32::max` would give 0). spec/layers/relu.md (RELU-1)
fn relu(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// `y = max(x, 0)` elementwise (Caffe's ReLU with negative_slope 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu;

impl Relu {
    /// Overwrites `y` with `max(x, 0)`. spec/layers/relu.md (RELU-1)
    pub fn forward(&self, y: &mut [f32], x: &[f32]) {
        assert_eq!(x.len(), y.len(), "Relu::forward: x and y differ in length");
        for (y_i, &x_i) in y.iter_mut().zip(x) {
            *y_i = relu(x_i);
        }
    }

    /// Replaces every value of `x` by `max(x, 0)`: Caffe's in-place ReLU, as the models use it
    /// (the blob then holds the layer's output, and its backward reads the same mask from it).
    /// spec/layers/relu.md (RELU-1)
    pub fn forward_in_place(&self, x: &mut [f32]) {
        for x_i in x.iter_mut() {
            *x_i = relu(*x_i);
        }
    }

    /// Overwrites `p_bottom` with `p_top * [x > 0]`: the original runs the plain gradient in EB
    /// mode. `x` may be the layer's input or its output (in-place ReLU): the mask is the same.
    /// spec/layers/relu.md (RELU-2)
    pub fn eb_backward(&self, p_bottom: &mut [f32], x: &[f32], p_top: &[f32]) {
        self.grad_backward(p_bottom, x, p_top);
    }

    /// Overwrites `dx` with `dy * [x > 0]`. spec/layers/relu.md (RELU-3)
    pub fn grad_backward(&self, dx: &mut [f32], x: &[f32], dy: &[f32]) {
        assert_eq!(
            x.len(),
            dy.len(),
            "Relu backward: x and top differ in length"
        );
        assert_eq!(
            x.len(),
            dx.len(),
            "Relu backward: x and bottom differ in length"
        );
        for ((dx_i, &x_i), &dy_i) in dx.iter_mut().zip(x).zip(dy) {
            *dx_i = if x_i > 0.0 { dy_i } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/layers/relu.md.
    #[test]
    fn worked_example() {
        let x = [-1.0, 0.0, 2.0];
        let p_top = [0.5, 0.25, 0.25];
        let mut y = [f32::NAN; 3];
        Relu.forward(&mut y, &x); // RELU-1
        assert_eq!(y, [0.0, 0.0, 2.0]);

        let mut p_bottom = [f32::NAN; 3];
        Relu.eb_backward(&mut p_bottom, &x, &p_top); // RELU-2
        assert_eq!(p_bottom, [0.0, 0.0, 0.25]);
        // In place: the mask from the output is the same.
        let mut p_bottom = [f32::NAN; 3];
        Relu.eb_backward(&mut p_bottom, &y, &p_top);
        assert_eq!(p_bottom, [0.0, 0.0, 0.25]);

        let mut dx = [f32::NAN; 3];
        Relu.grad_backward(&mut dx, &x, &p_top); // RELU-3
        assert_eq!(dx, [0.0, 0.0, 0.25]);
    }

    #[test]
    fn a_nan_stays_nan_and_the_sign_of_zero_is_kept_as_in_caffe() {
        // Caffe's std::max(x, 0): (x < 0) ? 0 : x. RELU-1
        let x = [f32::NAN, -0.0, f32::NEG_INFINITY, f32::INFINITY];
        let mut y = [0.0f32; 4];
        Relu.forward(&mut y, &x);
        let mut in_place = x;
        Relu.forward_in_place(&mut in_place);
        for out in [y, in_place] {
            assert!(out[0].is_nan());
            assert_eq!(out[1].to_bits(), (-0.0f32).to_bits());
            assert_eq!(out[2..], [0.0, f32::INFINITY]);
        }
    }
}
