//! Max pooling (Caffe's Pooling with pool: MAX): forward, excitation backward and gradient
//! backward. spec/layers/pooling.md
//!
#![doc = include_str!("../../spec/layers/pooling.md")]

use super::pool_geometry::{PoolGeometry, Window};

/// Max pooling over square windows; padded positions never win.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool {
    pub geometry: PoolGeometry,
}

impl MaxPool {
    /// Overwrites `y` (N, C, PH, PW) with the maximum of each window of `x` (N, C, H, W).
    /// spec/layers/pooling.md (MAX-1)
    pub fn forward(&self, y: &mut [f32], x: &[f32], n: usize) {
        let g = &self.geometry;
        assert_eq!(
            x.len(),
            n * g.in_len(),
            "MaxPool::forward: x is (N, C, H, W)"
        );
        assert_eq!(
            y.len(),
            n * g.out_len(),
            "MaxPool::forward: y is (N, C, PH, PW)"
        );
        let plane = g.in_height * g.in_width;
        let (ph_n, pw_n) = (g.out_height(), g.out_width());
        // The windows are the same in every plane.
        let row_windows: Vec<Window> = (0..ph_n).map(|ph| g.row_window(ph)).collect();
        let col_windows: Vec<Window> = (0..pw_n).map(|pw| g.col_window(pw)).collect();
        for (x_c, y_c) in x.chunks_exact(plane).zip(y.chunks_exact_mut(ph_n * pw_n)) {
            for (rows, y_row) in row_windows.iter().zip(y_c.chunks_exact_mut(pw_n)) {
                for (cols, y_at) in col_windows.iter().zip(y_row) {
                    *y_at = x_c[first_argmax(x_c, g.in_width, rows, cols)];
                }
            }
        }
    }

    /// Overwrites `p_bottom` (N, C, H, W): each output's signal goes whole to its window's
    /// argmax in `x`, as the gradient does. spec/layers/pooling.md (MAX-2)
    pub fn eb_backward(&self, p_bottom: &mut [f32], x: &[f32], p_top: &[f32], n: usize) {
        // The original's EB mode runs the plain max-pooling backward.
        self.route_to_argmax(p_bottom, x, p_top, n);
    }

    /// Overwrites `dx` (N, C, H, W): each output's gradient goes to its window's argmax.
    /// spec/layers/pooling.md (MAX-3)
    pub fn grad_backward(&self, dx: &mut [f32], x: &[f32], dy: &[f32], n: usize) {
        self.route_to_argmax(dx, x, dy, n);
    }

    /// Index, within one channel plane, of the window's first largest value in row-major
    /// order (Caffe's strict `>`): the tie rule. spec/layers/pooling.md (MAX-1)
    fn argmax(&self, x_c: &[f32], ph: usize, pw: usize) -> usize {
        let g = &self.geometry;
        first_argmax(x_c, g.in_width, &g.row_window(ph), &g.col_window(pw))
    }

    /// Overwrites `bottom` (N, C, H, W) with every output's `top` value added at its window's
    /// argmax. spec/layers/pooling.md (MAX-2), (MAX-3)
    fn route_to_argmax(&self, bottom: &mut [f32], x: &[f32], top: &[f32], n: usize) {
        let g = &self.geometry;
        assert_eq!(
            x.len(),
            n * g.in_len(),
            "MaxPool backward: x is (N, C, H, W)"
        );
        assert_eq!(
            top.len(),
            n * g.out_len(),
            "MaxPool backward: top is (N, C, PH, PW)"
        );
        assert_eq!(
            bottom.len(),
            n * g.in_len(),
            "MaxPool backward: bottom is (N, C, H, W)"
        );
        let plane = g.in_height * g.in_width;
        let (ph_n, pw_n) = (g.out_height(), g.out_width());
        bottom.fill(0.0);
        let planes = x
            .chunks_exact(plane)
            .zip(top.chunks_exact(ph_n * pw_n))
            .zip(bottom.chunks_exact_mut(plane));
        for ((x_c, top_c), bottom_c) in planes {
            for ph in 0..ph_n {
                for pw in 0..pw_n {
                    bottom_c[self.argmax(x_c, ph, pw)] += top_c[ph * pw_n + pw];
                }
            }
        }
    }
}

/// Index, within one channel plane `x_c` of width `width`, of the window's first largest value
/// in row-major order (Caffe's strict `>`). The best value is kept beside its index, so that
/// the comparison compiles to a conditional move rather than an unpredictable branch.
/// spec/layers/pooling.md (MAX-1)
fn first_argmax(x_c: &[f32], width: usize, rows: &Window, cols: &Window) -> usize {
    let mut best = rows.start * width + cols.start;
    let mut best_value = x_c[best];
    for i in rows.start..rows.end {
        for (at, &value) in x_c[i * width..][cols.start..cols.end].iter().enumerate() {
            if value > best_value {
                best = i * width + cols.start + at;
                best_value = value;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/layers/pooling.md (max pooling): exact in f32.
    #[test]
    fn worked_example() {
        let pool = MaxPool {
            geometry: PoolGeometry::new(1, 3, 3, 2, 2, 0).unwrap(),
        };
        #[rustfmt::skip]
        let x = [
            1.0, 3.0, 0.0,
            2.0, 0.0, 0.0,
            2.0, 2.0, 4.0,
        ];
        let p_top = [0.75, 0.25, 0.125, 0.125];

        let mut y = [f32::NAN; 4];
        pool.forward(&mut y, &x, 1); // MAX-1
        assert_eq!(y, [3.0, 0.0, 2.0, 4.0]);

        // MAX-2: ties go to the first position; the all-zero window routes to x[0, 2] = 0.
        #[rustfmt::skip]
        let want = [
            0.0,   0.75, 0.25,
            0.0,   0.0,  0.0,
            0.125, 0.0,  0.125,
        ];
        let mut p_bottom = [f32::NAN; 9];
        pool.eb_backward(&mut p_bottom, &x, &p_top, 1);
        assert_eq!(p_bottom, want);

        let mut dx = [f32::NAN; 9];
        pool.grad_backward(&mut dx, &x, &p_top, 1); // MAX-3
        assert_eq!(dx, want);
    }
}
