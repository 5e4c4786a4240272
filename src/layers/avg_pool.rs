//! Average pooling (Caffe's Pooling with pool: AVE): forward, excitation backward and gradient
//! backward. spec/layers/pooling.md
//!
#![doc = include_str!("../../spec/layers/pooling.md")]

use super::excitation::usable_normalizer;
use super::pool_geometry::PoolGeometry;

/// Average pooling over square windows; the divisor counts padded positions (POOL-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool {
    pub geometry: PoolGeometry,
}

impl AvgPool {
    /// Overwrites `y` (N, C, PH, PW) with each window's sum over `x` (N, C, H, W) divided by
    /// the window's padded size. spec/layers/pooling.md (AVE-1)
    pub fn forward(&self, y: &mut [f32], x: &[f32], n: usize) {
        let g = &self.geometry;
        assert_eq!(
            x.len(),
            n * g.in_len(),
            "AvgPool::forward: x is (N, C, H, W)"
        );
        assert_eq!(
            y.len(),
            n * g.out_len(),
            "AvgPool::forward: y is (N, C, PH, PW)"
        );
        let plane = g.in_height * g.in_width;
        let (ph_n, pw_n) = (g.out_height(), g.out_width());
        for (x_c, y_c) in x.chunks_exact(plane).zip(y.chunks_exact_mut(ph_n * pw_n)) {
            for ph in 0..ph_n {
                let rows = g.row_window(ph);
                for pw in 0..pw_n {
                    let cols = g.col_window(pw);
                    let mut sum = 0.0f32;
                    for i in rows.start..rows.end {
                        for j in cols.start..cols.end {
                            sum += x_c[i * g.in_width + j];
                        }
                    }
                    let pool_size = (rows.padded_len * cols.padded_len) as f32;
                    y_c[ph * pw_n + pw] = sum / pool_size;
                }
            }
        }
    }

    /// Overwrites `p_bottom` (N, C, H, W) with the excitation backward of `p_top`: each input
    /// of a window gets `x * p_top / (y * pool_size)`, 0 where `y * pool_size <= 0` (or is
    /// subnormal, EB-2); needs the
    /// forward input `x` and output `y`. spec/layers/pooling.md (AVE-2)
    pub fn eb_backward(&self, p_bottom: &mut [f32], x: &[f32], y: &[f32], p_top: &[f32], n: usize) {
        let g = &self.geometry;
        assert_eq!(
            x.len(),
            n * g.in_len(),
            "AvgPool::eb_backward: x is (N, C, H, W)"
        );
        assert_eq!(
            y.len(),
            n * g.out_len(),
            "AvgPool::eb_backward: y is (N, C, PH, PW)"
        );
        assert_eq!(
            p_top.len(),
            n * g.out_len(),
            "AvgPool::eb_backward: p_top is (N, C, PH, PW)"
        );
        assert_eq!(
            p_bottom.len(),
            n * g.in_len(),
            "AvgPool::eb_backward: p_bottom is (N, C, H, W)"
        );
        let plane = g.in_height * g.in_width;
        let out_plane = g.out_height() * g.out_width();
        let pw_n = g.out_width();
        p_bottom.fill(0.0);
        let planes = x
            .chunks_exact(plane)
            .zip(y.chunks_exact(out_plane))
            .zip(p_top.chunks_exact(out_plane))
            .zip(p_bottom.chunks_exact_mut(plane));
        for (((x_c, y_c), p_top_c), p_bottom_c) in planes {
            for ph in 0..g.out_height() {
                let rows = g.row_window(ph);
                for pw in 0..pw_n {
                    let cols = g.col_window(pw);
                    let pool_size = (rows.padded_len * cols.padded_len) as f32;
                    let z = y_c[ph * pw_n + pw] * pool_size;
                    if z <= 0.0 || !usable_normalizer(z) {
                        continue; // no usable normalizer: the window passes nothing (as the original for 0)
                    }
                    let p = p_top_c[ph * pw_n + pw];
                    for i in rows.start..rows.end {
                        for j in cols.start..cols.end {
                            let index = i * g.in_width + j;
                            p_bottom_c[index] += x_c[index] * p / z;
                        }
                    }
                }
            }
        }
    }

    /// Overwrites `dx` (N, C, H, W): each input of a window gets `dy / pool_size`.
    /// spec/layers/pooling.md (AVE-3)
    pub fn grad_backward(&self, dx: &mut [f32], dy: &[f32], n: usize) {
        let g = &self.geometry;
        assert_eq!(
            dy.len(),
            n * g.out_len(),
            "AvgPool::grad_backward: dy is (N, C, PH, PW)"
        );
        assert_eq!(
            dx.len(),
            n * g.in_len(),
            "AvgPool::grad_backward: dx is (N, C, H, W)"
        );
        let plane = g.in_height * g.in_width;
        let out_plane = g.out_height() * g.out_width();
        let pw_n = g.out_width();
        dx.fill(0.0);
        for (dy_c, dx_c) in dy.chunks_exact(out_plane).zip(dx.chunks_exact_mut(plane)) {
            for ph in 0..g.out_height() {
                let rows = g.row_window(ph);
                for pw in 0..pw_n {
                    let cols = g.col_window(pw);
                    let pool_size = (rows.padded_len * cols.padded_len) as f32;
                    let share = dy_c[ph * pw_n + pw] / pool_size;
                    for i in rows.start..rows.end {
                        for j in cols.start..cols.end {
                            dx_c[i * g.in_width + j] += share;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/layers/pooling.md (average pooling): exact in f32.
    #[test]
    fn worked_example() {
        let pool = AvgPool {
            geometry: PoolGeometry::new(1, 3, 3, 2, 2, 0).unwrap(),
        };
        #[rustfmt::skip]
        let x = [
            1.0, 3.0, 0.0,
            2.0, 0.0, 0.0,
            2.0, 2.0, 4.0,
        ];
        let p_top = [0.75, 0.25, 0.125, 0.125];

        // AVE-1: pool_size = [4, 2, 2, 1]
        let mut y = [f32::NAN; 4];
        pool.forward(&mut y, &x, 1);
        assert_eq!(y, [1.5, 0.0, 2.0, 4.0]);

        // AVE-2: z = y * pool_size = [6, 0, 4, 4]; the window with z == 0 drops its 0.25.
        let mut p_bottom = [f32::NAN; 9];
        pool.eb_backward(&mut p_bottom, &x, &y, &p_top, 1);
        #[rustfmt::skip]
        let want = [
            0.125,  0.375,  0.0,
            0.25,   0.0,    0.0,
            0.0625, 0.0625, 0.125,
        ];
        assert_eq!(p_bottom, want);
        assert_eq!(p_bottom.iter().sum::<f32>(), 1.0);

        let mut dx = [f32::NAN; 9];
        pool.grad_backward(&mut dx, &p_top, 1); // AVE-3
        #[rustfmt::skip]
        let want = [
            0.1875, 0.1875, 0.125,
            0.1875, 0.1875, 0.125,
            0.0625, 0.0625, 0.125,
        ];
        assert_eq!(dx, want);
    }
}
