//! Inner product (fully connected; Caffe's InnerProduct layer): forward, excitation backward
//! and gradient backward. spec/layers/fc.md
//!
//! Caffe's `axis` flattens every axis from `axis` on into one input vector and treats every
//! index before it as an independent row: a (N, C, H, W) blob with axis 1 is N rows of C*H*W;
//! a (T, N, D) blob with axis 2 is T*N rows of D. [`rows_and_inputs`] computes that split.
//!
#![doc = include_str!("../../spec/layers/fc.md")]

use super::excitation::{divide_or_zero, excitatory, times_input_or_zero};
use crate::gemm::{gemm, Op};

/// `(rows, inputs)` of an InnerProduct with Caffe's `axis` over a blob of `shape`:
/// rows = product of shape[..axis], inputs = product of shape[axis..]. spec/layers/fc.md (FC-1)
pub fn rows_and_inputs(shape: &[usize], axis: usize) -> (usize, usize) {
    assert!(
        axis <= shape.len(),
        "rows_and_inputs: axis {axis} of a rank-{} blob",
        shape.len()
    );
    (
        shape[..axis].iter().product(),
        shape[axis..].iter().product(),
    )
}

/// An inner product with weights (O, D), an optional bias (O) and its excitatory weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Fc {
    /// D: values in one input row.
    pub inputs: usize,
    /// O: values in one output row.
    pub outputs: usize,
    /// w: (O, D)
    pub w: Vec<f32>,
    /// b: (O), or None for `bias_term: false`
    pub b: Option<Vec<f32>>,
    /// w_plus = max(w, 0): (O, D), computed once here. spec/README.md (EB-1). None for a layer
    /// of more than [`STORED_W_PLUS_MAX`] weights (VGG16's fc6: 103 M, 411 MB): its
    /// `eb_backward` makes W+ block by block from w instead, so that memory holds one copy of
    /// the weights. spec/layers/fc.md (FC-3)
    pub w_plus: Option<Vec<f32>>,
}

/// The most weights a layer keeps a W+ copy of (64 MB of f32).
pub const STORED_W_PLUS_MAX: usize = 1 << 24;

/// Weights per block of output units when W+ is made block by block (16 MB of f32).
const W_PLUS_BLOCK_VALUES: usize = 1 << 22;

impl Fc {
    /// Panics if `w` is not (O, D) or `b` not (O) (the loader checks user files first).
    pub fn new(inputs: usize, outputs: usize, w: Vec<f32>, b: Option<Vec<f32>>) -> Fc {
        assert_eq!(
            w.len(),
            outputs * inputs,
            "Fc::new: w is (O={outputs}, D={inputs})"
        );
        if let Some(b) = &b {
            assert_eq!(b.len(), outputs, "Fc::new: b is (O={outputs})");
        }
        let w_plus = (w.len() <= STORED_W_PLUS_MAX).then(|| excitatory(&w));
        Fc {
            inputs,
            outputs,
            w,
            b,
            w_plus,
        }
    }

    /// The contrastive dual of this layer: weights negated, bias kept, as the original demo
    /// does for cEB-R (paper Eq. 7, the dual output units). spec/layers/fc.md (FC-5)
    pub fn negated(&self) -> Fc {
        let w: Vec<f32> = self.w.iter().map(|&v| -v).collect();
        Fc::new(self.inputs, self.outputs, w, self.b.clone())
    }

    /// Overwrites `y` (M, O) with `x (M, D) w^T + b`. spec/layers/fc.md (FC-2)
    pub fn forward(&self, y: &mut [f32], x: &[f32], rows: usize) {
        let (d, o) = (self.inputs, self.outputs);
        assert_eq!(x.len(), rows * d, "Fc::forward: x is (M={rows}, D={d})");
        assert_eq!(y.len(), rows * o, "Fc::forward: y is (M={rows}, O={o})");
        // y (M, O) = x (M, D) * w^T (D, O)
        gemm(rows, d, o, x, Op::AsStored, &self.w, Op::Transposed, 0.0, y);
        if let Some(b) = &self.b {
            for y_row in y.chunks_exact_mut(o) {
                y_row.iter_mut().zip(b).for_each(|(v, &b_o)| *v += b_o);
            }
        }
    }

    /// Overwrites `p_bottom` (M, D) with the excitation backward of `p_top` (M, O), given the
    /// layer's forward input `x` (M, D). Every row is independent.
    /// spec/layers/fc.md (FC-3), spec/README.md (EB-1..EB-3)
    pub fn eb_backward(&self, p_bottom: &mut [f32], x: &[f32], p_top: &[f32], rows: usize) {
        let (d, o) = (self.inputs, self.outputs);
        assert_eq!(x.len(), rows * d, "Fc::eb_backward: x is (M={rows}, D={d})");
        assert_eq!(
            p_top.len(),
            rows * o,
            "Fc::eb_backward: p_top is (M={rows}, O={o})"
        );
        assert_eq!(
            p_bottom.len(),
            rows * d,
            "Fc::eb_backward: p_bottom is (M={rows}, D={d})"
        );
        // Over blocks of output units: all of them at once with the stored W+, else blocks
        // whose W+ rows are made here from w (the sums over o then run block by block).
        let block = match &self.w_plus {
            Some(_) => o.max(1),
            None => (W_PLUS_BLOCK_VALUES / d.max(1)).clamp(1, o.max(1)),
        };
        self.eb_backward_in_blocks(p_bottom, x, p_top, rows, block);
    }

    /// [`Fc::eb_backward`] over blocks of `block` output units. spec/layers/fc.md (FC-3)
    fn eb_backward_in_blocks(
        &self,
        p_bottom: &mut [f32],
        x: &[f32],
        p_top: &[f32],
        rows: usize,
        block: usize,
    ) {
        let (d, o) = (self.inputs, self.outputs);
        let mut made = vec![0.0f32; if self.w_plus.is_some() { 0 } else { block * d }];
        let mut z = vec![0.0f32; rows * block]; // (M, block): Z, then the ratio X
        for o0 in (0..o).step_by(block) {
            let nb = block.min(o - o0);
            let w_plus: &[f32] = match &self.w_plus {
                Some(stored) => &stored[o0 * d..(o0 + nb) * d],
                None => {
                    // EB-1: w_plus = max(w, 0) for the block's rows
                    for (v, &w_i) in made.iter_mut().zip(&self.w[o0 * d..(o0 + nb) * d]) {
                        *v = w_i.max(0.0);
                    }
                    &made[..nb * d]
                }
            };
            let z = &mut z[..rows * nb];
            // EB-1: z (M, nb) = x (M, D) * w_plus^T (D, nb), no bias
            gemm(rows, d, nb, x, Op::AsStored, w_plus, Op::Transposed, 0.0, z);
            // EB-2: X = p_top / z, 0 where z == 0
            for (z_row, p_row) in z.chunks_exact_mut(nb).zip(p_top.chunks_exact(o)) {
                divide_or_zero(z_row, &p_row[o0..o0 + nb]);
            }
            // EB-3: p_bottom (M, D) += X (M, nb) * w_plus (nb, D)
            gemm(
                rows,
                nb,
                d,
                z,
                Op::AsStored,
                w_plus,
                Op::AsStored,
                if o0 == 0 { 0.0 } else { 1.0 },
                p_bottom,
            );
        }
        // EB-3: times x (0 where f32 overflowed: EB-2)
        times_input_or_zero(p_bottom, x);
    }

    /// Overwrites `dx` (M, D) with `dy (M, O) w (O, D)`. spec/layers/fc.md (FC-4)
    pub fn grad_backward(&self, dx: &mut [f32], dy: &[f32], rows: usize) {
        let (d, o) = (self.inputs, self.outputs);
        assert_eq!(
            dy.len(),
            rows * o,
            "Fc::grad_backward: dy is (M={rows}, O={o})"
        );
        assert_eq!(
            dx.len(),
            rows * d,
            "Fc::grad_backward: dx is (M={rows}, D={d})"
        );
        gemm(rows, o, d, dy, Op::AsStored, &self.w, Op::AsStored, 0.0, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/layers/fc.md: every value is exact in f32.
    #[test]
    fn worked_example() {
        // FC-1
        assert_eq!(rows_and_inputs(&[2, 1, 3], 2), (2, 3));
        assert_eq!(rows_and_inputs(&[2, 3, 2, 2], 1), (2, 12));

        let fc = Fc::new(
            3,
            2,
            vec![1.0, -1.0, 0.5, -2.0, 1.0, 0.0],
            Some(vec![0.5, -1.0]),
        );
        let x = [1.0, 0.0, 2.0];
        let p_top = [0.75, 0.25];

        let mut y = [f32::NAN; 2];
        fc.forward(&mut y, &x, 1); // FC-2
        assert_eq!(y, [2.5, -3.0]);

        // FC-3: z = [2, 0]; output 1 drops its 0.25.
        let mut p_bottom = [f32::NAN; 3];
        fc.eb_backward(&mut p_bottom, &x, &p_top, 1);
        assert_eq!(p_bottom, [0.375, 0.0, 0.375]);

        let mut dx = [f32::NAN; 3];
        fc.grad_backward(&mut dx, &p_top, 1); // FC-4
        assert_eq!(dx, [0.25, -0.5, 0.375]);

        // FC-5: weights negated, bias kept.
        let dual = fc.negated();
        assert_eq!(dual.w, [-1.0, 1.0, -0.5, 2.0, -1.0, 0.0]);
        assert_eq!(dual.b, Some(vec![0.5, -1.0]));
        assert_eq!(
            dual.w_plus.as_deref(),
            Some(&[0.0, 1.0, 0.0, 2.0, 0.0, 0.0][..])
        );
        let mut y = [f32::NAN; 2];
        dual.forward(&mut y, &x, 1);
        assert_eq!(y, [-1.5, 1.0]);
        // z = [0, 2]
        let mut p_bottom = [f32::NAN; 3];
        dual.eb_backward(&mut p_bottom, &x, &p_top, 1);
        assert_eq!(p_bottom, [0.25, 0.0, 0.0]);
    }

    /// The block-by-block W+ of a large layer (FC-3) against the stored one: the same shares up
    /// to the rounding of sums over o grouped by block (a few f32 ulps of the largest term).
    #[test]
    fn eb_in_blocks_of_made_w_plus_matches_the_stored_w_plus() {
        let (d, o, rows) = (7, 5, 3);
        let w: Vec<f32> = (0..o * d)
            .map(|i| ((i * 37 % 23) as f32 - 9.0) / 8.0)
            .collect();
        let x: Vec<f32> = (0..rows * d)
            .map(|i| ((i * 13 % 11) as f32 / 4.0 - 0.5).max(0.0))
            .collect();
        let p_top: Vec<f32> = (0..rows * o).map(|i| (i % 7) as f32 / 7.0).collect();
        let stored = Fc::new(d, o, w.clone(), None);
        let mut want = vec![f32::NAN; rows * d];
        stored.eb_backward(&mut want, &x, &p_top, rows);
        let made = Fc {
            w_plus: None,
            ..stored.clone()
        };
        for block in [1, 2, 3, 5] {
            let mut got = vec![f32::NAN; rows * d];
            made.eb_backward_in_blocks(&mut got, &x, &p_top, rows, block);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                    "block {block}: {g} vs {w}"
                );
            }
        }
    }
}
