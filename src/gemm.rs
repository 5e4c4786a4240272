//! The one matrix product every layer uses, over matrixmultiply's `sgemm`.
//!
//! Contract (as BLAS, restricted to what ebr needs):
//!
//! ```text
//! C <- op(A) * op(B) + beta * C        C: (m, n), op(A): (m, k), op(B): (k, n)
//! ```
//!
//! Every matrix is a contiguous row-major buffer. `op(A)` is `A` itself when `a_op` is
//! [`Op::AsStored`] (`a` holds m rows of k), or the transpose of what is stored when `a_op` is
//! [`Op::Transposed`] (`a` holds k rows of m). The same for `B`. `C` is always stored as m rows
//! of n. `beta == 0` means `C` is not read (it may hold NaN), as in matrixmultiply.
//!
//! matrixmultiply takes a matrix as a pointer plus a row stride and a column stride: element
//! (r, c) lives at `ptr + r * row_stride + c * col_stride`. For a row-major (rows x cols)
//! buffer that is `(cols, 1)`; reading the same buffer as its transpose swaps them: `(1, cols)`.
//! That is the only place strides appear in ebr.

#![allow(unsafe_code)]

/// Whether a matrix operand is used as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `op(M) = M`: the buffer holds the operand's rows one after another.
    AsStored,
    /// `op(M) = M^T`: the buffer holds the operand's columns one after another.
    Transposed,
}

/// `(row_stride, col_stride)` of op(M) when op(M) is (rows x cols) and M is row-major.
fn strides(op: Op, rows: usize, cols: usize) -> (isize, isize) {
    match op {
        // M is (rows x cols): element (r, c) at r * cols + c.
        Op::AsStored => (cols as isize, 1),
        // M is (cols x rows) and op(M) = M^T: element (r, c) of op(M) is M[c][r] at c * rows + r.
        Op::Transposed => (1, rows as isize),
    }
}

/// `C (m, n) <- op(A) (m, k) * op(B) (k, n) + beta * C`. See the module doc. (BLAS's alpha is
/// always 1 in ebr: every product is a plain sum of products.)
///
/// Panics if a buffer's length is not exactly the product of its dimensions (a programmer
/// error, never user input).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_op: Op,
    b: &[f32],
    b_op: Op,
    beta: f32,
    c: &mut [f32],
) {
    assert_eq!(
        a.len(),
        m * k,
        "gemm: A has {} values, op(A) is {m} x {k}",
        a.len()
    );
    assert_eq!(
        b.len(),
        k * n,
        "gemm: B has {} values, op(B) is {k} x {n}",
        b.len()
    );
    assert_eq!(
        c.len(),
        m * n,
        "gemm: C has {} values, C is {m} x {n}",
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C <- beta * C (beta == 0 writes zeros without reading C).
        for value in c.iter_mut() {
            *value = if beta == 0.0 { 0.0 } else { beta * *value };
        }
        return;
    }
    let (rsa, csa) = strides(a_op, m, k);
    let (rsb, csb) = strides(b_op, k, n);
    // SAFETY: the asserts above give a.len() == m*k, b.len() == k*n, c.len() == m*n, and the
    // strides address exactly the elements 0..m*k of A, 0..k*n of B and 0..m*n of C (row-major
    // or its transpose). C is borrowed mutably, so it cannot alias A or B. The sizes are all > 0.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// The same contract as [`gemm`] in three plain loops: the oracle the tests compare with.
#[allow(clippy::too_many_arguments)]
pub fn gemm_naive(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    a_op: Op,
    b: &[f32],
    b_op: Op,
    beta: f32,
    c: &mut [f32],
) {
    assert_eq!(a.len(), m * k);
    assert_eq!(b.len(), k * n);
    assert_eq!(c.len(), m * n);
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0.0f64;
            for l in 0..k {
                let a_il = match a_op {
                    Op::AsStored => a[i * k + l],
                    Op::Transposed => a[l * m + i],
                };
                let b_lj = match b_op {
                    Op::AsStored => b[l * n + j],
                    Op::Transposed => b[j * k + l],
                };
                sum += a_il as f64 * b_lj as f64;
            }
            let product = sum as f32;
            c[i * n + j] = if beta == 0.0 {
                product
            } else {
                product + beta * c[i * n + j]
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(len: usize, seed: u32) -> Vec<f32> {
        // A small deterministic sequence with signs, exact zeros and varied magnitudes.
        (0..len)
            .map(|i| {
                let v = ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 16) % 17;
                v as f32 / 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn every_op_combination_matches_the_naive_oracle() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 2), (7, 1, 9), (17, 33, 5), (64, 3, 65)] {
            for a_op in [Op::AsStored, Op::Transposed] {
                for b_op in [Op::AsStored, Op::Transposed] {
                    for &beta in &[0.0, 1.0, 2.0] {
                        let a = filled(m * k, 1);
                        let b = filled(k * n, 2);
                        let c0 = filled(m * n, 3);
                        let mut got = if beta == 0.0 {
                            vec![f32::NAN; m * n]
                        } else {
                            c0.clone()
                        };
                        let mut want = c0.clone();
                        gemm(m, k, n, &a, a_op, &b, b_op, beta, &mut got);
                        gemm_naive(m, k, n, &a, a_op, &b, b_op, beta, &mut want);
                        for (index, (g, w)) in got.iter().zip(&want).enumerate() {
                            // The values are multiples of 1/16 with small sums: exact in f32.
                            assert_eq!(
                                g, w,
                                "m={m} k={k} n={n} {a_op:?} {b_op:?} beta={beta} at {index}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn hand_worked_product() {
        // [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50]
        let mut c = [f32::NAN; 4];
        gemm(
            2,
            2,
            2,
            &[1., 2., 3., 4.],
            Op::AsStored,
            &[5., 6., 7., 8.],
            Op::AsStored,
            0.0,
            &mut c,
        );
        assert_eq!(c, [19., 22., 43., 50.]);
        // A^T with A stored as [1 3; 2 4] is the same [1 2; 3 4].
        let mut c = [f32::NAN; 4];
        gemm(
            2,
            2,
            2,
            &[1., 3., 2., 4.],
            Op::Transposed,
            &[5., 6., 7., 8.],
            Op::AsStored,
            0.0,
            &mut c,
        );
        assert_eq!(c, [19., 22., 43., 50.]);
    }

    #[test]
    fn empty_inner_dimension_scales_c() {
        let mut c = [f32::NAN, f32::NAN];
        gemm(1, 0, 2, &[], Op::AsStored, &[], Op::AsStored, 0.0, &mut c);
        assert_eq!(c, [0.0, 0.0]);
        let mut c = [1.0, -2.0];
        gemm(2, 0, 1, &[], Op::AsStored, &[], Op::AsStored, 3.0, &mut c);
        assert_eq!(c, [3.0, -6.0]);
    }
}
