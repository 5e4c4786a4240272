//! im2col and its transpose col2im: a convolution as one matrix product.
//! spec/layers/conv.md (CONV-2), (CONV-6).

use super::conv::ConvGeometry;

/// Unfolds one image into columns, overwriting `col`.
///
/// `col` (C*K*K, OH*OW): row `(c*K + ki)*K + kj`, column `oh*OW + ow` holds
/// `x[c, oh*S - P + ki, ow*S - P + kj]`, or 0 where that position is padding.
/// spec/layers/conv.md (CONV-2)
pub fn im2col(col: &mut [f32], x: &[f32], g: &ConvGeometry) {
    let (c_in, h, w) = (g.in_channels, g.in_height as isize, g.in_width as isize);
    let (k, s, p) = (g.kernel, g.stride as isize, g.pad as isize);
    let (oh_n, ow_n) = (g.out_height(), g.out_width());
    assert_eq!(x.len(), g.in_len(), "im2col: x is (C, H, W)");
    assert_eq!(
        col.len(),
        c_in * k * k * oh_n * ow_n,
        "im2col: col is (C*K*K, OH*OW)"
    );
    for c in 0..c_in {
        for ki in 0..k {
            for kj in 0..k {
                let row = (c * k + ki) * k + kj;
                let col_row = &mut col[row * oh_n * ow_n..(row + 1) * oh_n * ow_n];
                for oh in 0..oh_n {
                    let i = oh as isize * s - p + ki as isize;
                    for ow in 0..ow_n {
                        let j = ow as isize * s - p + kj as isize;
                        col_row[oh * ow_n + ow] = if i >= 0 && i < h && j >= 0 && j < w {
                            x[(c * g.in_height + i as usize) * g.in_width + j as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Folds columns back into one image: the transpose of [`im2col`]. Overwrites `x_grad`
/// (zeroes it, then adds every column entry to the position it came from; padding entries are
/// dropped). spec/layers/conv.md (CONV-6)
pub fn col2im(x_grad: &mut [f32], col: &[f32], g: &ConvGeometry) {
    let (c_in, h, w) = (g.in_channels, g.in_height as isize, g.in_width as isize);
    let (k, s, p) = (g.kernel, g.stride as isize, g.pad as isize);
    let (oh_n, ow_n) = (g.out_height(), g.out_width());
    assert_eq!(x_grad.len(), g.in_len(), "col2im: x_grad is (C, H, W)");
    assert_eq!(
        col.len(),
        c_in * k * k * oh_n * ow_n,
        "col2im: col is (C*K*K, OH*OW)"
    );
    x_grad.fill(0.0);
    for c in 0..c_in {
        for ki in 0..k {
            for kj in 0..k {
                let row = (c * k + ki) * k + kj;
                let col_row = &col[row * oh_n * ow_n..(row + 1) * oh_n * ow_n];
                for oh in 0..oh_n {
                    let i = oh as isize * s - p + ki as isize;
                    if i < 0 || i >= h {
                        continue;
                    }
                    for ow in 0..ow_n {
                        let j = ow as isize * s - p + kj as isize;
                        if j >= 0 && j < w {
                            x_grad[(c * g.in_height + i as usize) * g.in_width + j as usize] +=
                                col_row[oh * ow_n + ow];
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

    /// The CONV-2 and CONV-6 examples of spec/layers/conv.md: x = [[1, 2], [3, 4]], K = 2,
    /// S = 1, P = 1 (3 x 3 outputs).
    #[test]
    fn worked_example_with_padding() {
        let g = ConvGeometry::new(1, 2, 2, 1, 2, 1, 1).unwrap();
        assert_eq!((g.out_height(), g.out_width()), (3, 3));
        let mut col = [f32::NAN; 4 * 9];
        im2col(&mut col, &[1.0, 2.0, 3.0, 4.0], &g);
        // Row (ki, kj) = (0, 0) reads input (oh - 1, ow - 1); the padding reads as 0.
        assert_eq!(col[..9], [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
        // Row (1, 1) reads input (oh, ow).
        assert_eq!(col[27..], [1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);

        // CONV-6: every input position is read by all K*K = 4 offsets.
        let mut x_grad = [f32::NAN; 4];
        col2im(&mut x_grad, &[1.0; 4 * 9], &g);
        assert_eq!(x_grad, [4.0; 4]);
    }
}
