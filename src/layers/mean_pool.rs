//! Temporal mean-pool: the mean over T steps of every unit of a (T, N, D) sequence (Caffe's AVE
//! pooling over time), as in the captioning model. spec/layers/mean_pool.md
//!
#![doc = include_str!("../../spec/layers/mean_pool.md")]

use super::excitation::usable_normalizer;

/// Mean over the first axis of a (T, N, D) blob, giving (N, D).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeanPool {
    /// T: the number of steps averaged.
    pub steps: usize,
    /// N*D: values in one step.
    pub width: usize,
}

impl MeanPool {
    /// Overwrites `y` (N, D) with `(sum over t of x[t]) / T`. spec/layers/mean_pool.md (MEAN-1)
    /// In the captioner it makes the clip's feature v. spec/caption.md (CAP-1)
    pub fn forward(&self, y: &mut [f32], x: &[f32]) {
        assert_eq!(
            x.len(),
            self.steps * self.width,
            "MeanPool::forward: x is (T, N, D)"
        );
        assert_eq!(y.len(), self.width, "MeanPool::forward: y is (N, D)");
        y.fill(0.0);
        for x_t in x.chunks_exact(self.width) {
            y.iter_mut().zip(x_t).for_each(|(y_i, &x_i)| *y_i += x_i);
        }
        let steps = self.steps as f32;
        y.iter_mut().for_each(|y_i| *y_i /= steps);
    }

    /// Overwrites `p_bottom` (T, N, D): step t gets `x[t] * p_top / (y * T)`, a share of the
    /// unit's signal in proportion to its activation (paper Eq. 8), and 0 where `y * T <= 0` (or
    /// is subnormal, spec/README.md EB-2).
    /// spec/layers/mean_pool.md (MEAN-2)
    pub fn eb_backward(&self, p_bottom: &mut [f32], x: &[f32], y: &[f32], p_top: &[f32]) {
        assert_eq!(
            x.len(),
            self.steps * self.width,
            "MeanPool::eb_backward: x is (T, N, D)"
        );
        assert_eq!(y.len(), self.width, "MeanPool::eb_backward: y is (N, D)");
        assert_eq!(
            p_top.len(),
            self.width,
            "MeanPool::eb_backward: p_top is (N, D)"
        );
        assert_eq!(
            p_bottom.len(),
            x.len(),
            "MeanPool::eb_backward: p_bottom is (T, N, D)"
        );
        let steps = self.steps as f32;
        for (p_bottom_t, x_t) in p_bottom
            .chunks_exact_mut(self.width)
            .zip(x.chunks_exact(self.width))
        {
            for (i, (p, &x_i)) in p_bottom_t.iter_mut().zip(x_t).enumerate() {
                let z = y[i] * steps;
                *p = if z > 0.0 && usable_normalizer(z) {
                    x_i * p_top[i] / z
                } else {
                    0.0
                };
            }
        }
    }

    /// Overwrites `dx` (T, N, D) with `dy / T` at every step. spec/layers/mean_pool.md (MEAN-3)
    pub fn grad_backward(&self, dx: &mut [f32], dy: &[f32]) {
        assert_eq!(
            dy.len(),
            self.width,
            "MeanPool::grad_backward: dy is (N, D)"
        );
        assert_eq!(
            dx.len(),
            self.steps * self.width,
            "MeanPool::grad_backward: dx is (T, N, D)"
        );
        let steps = self.steps as f32;
        for dx_t in dx.chunks_exact_mut(self.width) {
            dx_t.iter_mut()
                .zip(dy)
                .for_each(|(dx_i, &dy_i)| *dx_i = dy_i / steps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/layers/mean_pool.md: T = 2, N = 1, D = 2; exact in f32.
    #[test]
    fn worked_example() {
        let pool = MeanPool { steps: 2, width: 2 };
        let x = [1.0, 0.0, 3.0, 0.0];
        let p_top = [0.5, 0.5];

        let mut y = [f32::NAN; 2];
        pool.forward(&mut y, &x); // MEAN-1
        assert_eq!(y, [2.0, 0.0]);

        // MEAN-2: z = [4, 0]; unit 1 drops its 0.5.
        let mut p_bottom = [f32::NAN; 4];
        pool.eb_backward(&mut p_bottom, &x, &y, &p_top);
        assert_eq!(p_bottom, [0.125, 0.0, 0.375, 0.0]);

        let mut dx = [f32::NAN; 4];
        pool.grad_backward(&mut dx, &p_top); // MEAN-3
        assert_eq!(dx, [0.25; 4]);
    }
}
