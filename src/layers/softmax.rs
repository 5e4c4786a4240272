//! Softmax over one axis: forward and gradient backward. It has no excitation backward: EB
//! starts at the softmax's input (the logits), where the prior is set, as in the original
//! demo. spec/layers/softmax.md
//!
#![doc = include_str!("../../spec/layers/softmax.md")]

/// Softmax of a blob viewed as (outer, channels, inner) over the middle axis (Caffe's `axis`:
/// outer = product of the axes before it, inner = product of the axes after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Softmax {
    pub outer: usize,
    pub channels: usize,
    pub inner: usize,
}

impl Softmax {
    /// The softmax over `axis` of a blob of `shape`.
    pub fn over_axis(shape: &[usize], axis: usize) -> Softmax {
        assert!(
            axis < shape.len(),
            "Softmax: axis {axis} of a rank-{} blob",
            shape.len()
        );
        Softmax {
            outer: shape[..axis].iter().product(),
            channels: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        }
    }

    fn len(&self) -> usize {
        self.outer * self.channels * self.inner
    }

    /// Overwrites `y` with `exp(x - max) / sum(exp(x - max))` along the channel axis.
    /// spec/layers/softmax.md (SOFT-1)
    pub fn forward(&self, y: &mut [f32], x: &[f32]) {
        assert_eq!(
            x.len(),
            self.len(),
            "Softmax::forward: x is (outer, channels, inner)"
        );
        assert_eq!(
            y.len(),
            self.len(),
            "Softmax::forward: y is (outer, channels, inner)"
        );
        let (c_n, inner) = (self.channels, self.inner);
        for (x_o, y_o) in x
            .chunks_exact(c_n * inner)
            .zip(y.chunks_exact_mut(c_n * inner))
        {
            for k in 0..inner {
                let max = (0..c_n)
                    .map(|c| x_o[c * inner + k])
                    .fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for c in 0..c_n {
                    let e = (x_o[c * inner + k] - max).exp();
                    y_o[c * inner + k] = e;
                    sum += e;
                }
                for c in 0..c_n {
                    y_o[c * inner + k] /= sum;
                }
            }
        }
    }

    // No eb_backward: the prior is a one-hot on the logits (the softmax's input), and EB
    // starts at the classifier below it. spec/layers/softmax.md (SOFT-3)

    /// Overwrites `dx` with `y * (dy - sum_c(dy * y))` along the channel axis, given the
    /// forward output `y`. spec/layers/softmax.md (SOFT-2)
    pub fn grad_backward(&self, dx: &mut [f32], y: &[f32], dy: &[f32]) {
        assert_eq!(
            y.len(),
            self.len(),
            "Softmax::grad_backward: y is (outer, channels, inner)"
        );
        assert_eq!(
            dy.len(),
            self.len(),
            "Softmax::grad_backward: dy is (outer, channels, inner)"
        );
        assert_eq!(
            dx.len(),
            self.len(),
            "Softmax::grad_backward: dx is (outer, channels, inner)"
        );
        let (c_n, inner) = (self.channels, self.inner);
        let blocks = y
            .chunks_exact(c_n * inner)
            .zip(dy.chunks_exact(c_n * inner))
            .zip(dx.chunks_exact_mut(c_n * inner));
        for ((y_o, dy_o), dx_o) in blocks {
            for k in 0..inner {
                let dot: f32 = (0..c_n)
                    .map(|c| dy_o[c * inner + k] * y_o[c * inner + k])
                    .sum();
                for c in 0..c_n {
                    dx_o[c * inner + k] = y_o[c * inner + k] * (dy_o[c * inner + k] - dot);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/layers/softmax.md: exact in f32 (exp(0) = 1).
    #[test]
    fn worked_example() {
        let logits = Softmax::over_axis(&[3, 1, 5], 2);
        assert_eq!((logits.outer, logits.channels, logits.inner), (3, 5, 1));
        let image = Softmax::over_axis(&[2, 3, 4, 5], 1);
        assert_eq!((image.outer, image.channels, image.inner), (2, 3, 20));

        let softmax = Softmax::over_axis(&[1, 2], 1);
        let mut y = [f32::NAN; 2];
        softmax.forward(&mut y, &[1.0, 1.0]); // SOFT-1
        assert_eq!(y, [0.5, 0.5]);
        let mut dx = [f32::NAN; 2];
        softmax.grad_backward(&mut dx, &y, &[1.0, 0.0]); // SOFT-2
        assert_eq!(dx, [0.25, -0.25]);
    }
}
