//! im2col and its transpose col2im: a convolution as one matrix product.
//! spec/layers/conv.md (CONV-2), (CONV-6).

use std::ops::Range;

use super::conv_geometry::ConvGeometry;

/// The outputs `lo..hi` (of `out_len`) whose input position `o*St - P + k` lies inside
/// `0..in_len`: the others read padding. Computed once per kernel offset `k`, so that the
/// loops below copy without a bounds check per element.
fn inside(out_len: usize, stride: usize, pad: usize, k: usize, in_len: usize) -> (usize, usize) {
    // o*St - P + k >= 0  <=>  o >= ceil((P - k) / St);  o*St - P + k < L  <=>  o*St < L + P - k
    let lo = pad.saturating_sub(k).div_ceil(stride);
    let hi = if in_len + pad > k {
        (in_len + pad - k).div_ceil(stride)
    } else {
        0
    };
    (lo.min(out_len), hi.min(out_len).max(lo.min(out_len)))
}

/// Unfolds the output positions `positions` (of OH*OW, row-major) of one image into
/// columns, overwriting `col`.
///
/// `col` (C*K*K, len): row `(c*K + ki)*K + kj`, column `q` (output position
/// `p = positions.start + q`, `oh = p / OW`, `ow = p % OW`) holds
/// `x[c, oh*St - P + ki, ow*St - P + kj]`, or 0 where that position is padding.
/// spec/layers/conv.md (CONV-2)
pub fn im2col(col: &mut [f32], x: &[f32], g: &ConvGeometry, positions: Range<usize>) {
    let (c_in, h, w) = (g.in_channels, g.in_height, g.in_width);
    let (k, s, p) = (g.kernel, g.stride, g.pad);
    let (oh_n, ow_n) = (g.out_height(), g.out_width());
    let n = positions.len();
    assert_eq!(x.len(), g.in_len(), "im2col: x is (C, H, W)");
    assert!(positions.end <= oh_n * ow_n, "im2col: positions past OH*OW");
    assert_eq!(col.len(), c_in * k * k * n, "im2col: col is (C*K*K, len)");
    for c in 0..c_in {
        for ki in 0..k {
            let (oh_lo, oh_hi) = inside(oh_n, s, p, ki, h);
            for kj in 0..k {
                let (ow_lo, ow_hi) = inside(ow_n, s, p, kj, w);
                let row = (c * k + ki) * k + kj;
                let col_row = &mut col[row * n..(row + 1) * n];
                // The positions, one output row `oh` (columns ow0..ow1) at a time.
                let mut q = 0;
                while q < n {
                    let (oh, ow0) = ((positions.start + q) / ow_n, (positions.start + q) % ow_n);
                    let ow1 = ow_n.min(ow0 + n - q);
                    let out = &mut col_row[q..q + ow1 - ow0];
                    q += ow1 - ow0;
                    // The columns of ow0..ow1 that read inside the image: a..b.
                    let (a, b) = (ow_lo.clamp(ow0, ow1), ow_hi.clamp(ow0, ow1));
                    if oh < oh_lo || oh >= oh_hi || a == b {
                        out.fill(0.0); // padding only
                        continue;
                    }
                    out[..a - ow0].fill(0.0);
                    out[b - ow0..].fill(0.0);
                    let i = oh * s + ki - p;
                    let x_row = &x[(c * h + i) * w..(c * h + i + 1) * w];
                    // x[c, i, ow*St - P + kj] for ow in a..b
                    let j_a = a * s + kj - p;
                    let inner = &mut out[a - ow0..b - ow0];
                    if s == 1 {
                        inner.copy_from_slice(&x_row[j_a..j_a + (b - a)]);
                    } else {
                        for (o, &v) in inner.iter_mut().zip(x_row[j_a..].iter().step_by(s)) {
                            *o = v;
                        }
                    }
                }
            }
        }
    }
}

/// The transpose of [`im2col`] for the output positions `positions`: adds every column entry
/// of `col` (C*K*K, len) to the input position it came from in `x_grad` (C, H, W); padding
/// entries are dropped. Accumulates: the caller zeroes `x_grad` once per image, then adds the
/// tiles. spec/layers/conv.md (CONV-6)
pub fn col2im_add(x_grad: &mut [f32], col: &[f32], g: &ConvGeometry, positions: Range<usize>) {
    let (c_in, h, w) = (g.in_channels, g.in_height, g.in_width);
    let (k, s, p) = (g.kernel, g.stride, g.pad);
    let (oh_n, ow_n) = (g.out_height(), g.out_width());
    let n = positions.len();
    assert_eq!(x_grad.len(), g.in_len(), "col2im_add: x_grad is (C, H, W)");
    assert!(
        positions.end <= oh_n * ow_n,
        "col2im_add: positions past OH*OW"
    );
    assert_eq!(
        col.len(),
        c_in * k * k * n,
        "col2im_add: col is (C*K*K, len)"
    );
    for c in 0..c_in {
        for ki in 0..k {
            let (oh_lo, oh_hi) = inside(oh_n, s, p, ki, h);
            for kj in 0..k {
                let (ow_lo, ow_hi) = inside(ow_n, s, p, kj, w);
                let row = (c * k + ki) * k + kj;
                let col_row = &col[row * n..(row + 1) * n];
                let mut q = 0;
                while q < n {
                    let (oh, ow0) = ((positions.start + q) / ow_n, (positions.start + q) % ow_n);
                    let ow1 = ow_n.min(ow0 + n - q);
                    let from = &col_row[q..q + ow1 - ow0];
                    q += ow1 - ow0;
                    let (a, b) = (ow_lo.clamp(ow0, ow1), ow_hi.clamp(ow0, ow1));
                    if oh < oh_lo || oh >= oh_hi || a == b {
                        continue; // padding only
                    }
                    let i = oh * s + ki - p;
                    let x_row = &mut x_grad[(c * h + i) * w..(c * h + i + 1) * w];
                    // x_grad[c, i, ow*St - P + kj] += col[row, ow] for ow in a..b
                    let (j_a, from) = (a * s + kj - p, &from[a - ow0..b - ow0]);
                    if s == 1 {
                        let to = &mut x_row[j_a..j_a + from.len()];
                        for (v, &add) in to.iter_mut().zip(from) {
                            *v += add;
                        }
                    } else {
                        for (v, &add) in x_row[j_a..].iter_mut().step_by(s).zip(from) {
                            *v += add;
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
    /// St = 1, P = 1 (3 x 3 outputs).
    #[test]
    fn worked_example_with_padding() {
        let g = ConvGeometry::new(1, 2, 2, 1, 2, 1, 1).unwrap();
        assert_eq!((g.out_height(), g.out_width()), (3, 3));
        let mut col = [f32::NAN; 4 * 9];
        im2col(&mut col, &[1.0, 2.0, 3.0, 4.0], &g, 0..9);
        // Row (ki, kj) = (0, 0) reads input (oh - 1, ow - 1); the padding reads as 0.
        assert_eq!(col[..9], [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 4.0]);
        // Row (1, 1) reads input (oh, ow).
        assert_eq!(col[27..], [1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);

        // CONV-6: every input position is read by all K*K = 4 offsets.
        let mut x_grad = [0.0; 4];
        col2im_add(&mut x_grad, &[1.0; 4 * 9], &g, 0..9);
        assert_eq!(x_grad, [4.0; 4]);
    }

    /// The definition (CONV-2) with a bounds check per element, against the loops above, over
    /// kernels, strides and pads that put whole rows and columns in the padding.
    #[test]
    fn matches_the_definition_over_geometries() {
        for (h, w, k, s, p) in [
            (5, 7, 3, 1, 1),
            (6, 4, 5, 2, 2),
            (3, 3, 3, 3, 2),
            (7, 2, 1, 2, 0),
            (4, 9, 4, 3, 3),
            (3, 1, 5, 1, 2), // offsets kj = 3, 4 read only padding: an empty column range
        ] {
            let g = ConvGeometry::new(2, h, w, 1, k, s, p).unwrap();
            let x: Vec<f32> = (0..g.in_len()).map(|v| v as f32 + 1.0).collect();
            let (oh_n, ow_n) = (g.out_height(), g.out_width());
            let ohw = oh_n * ow_n;
            let rows = 2 * k * k;
            // Unfold in tiles of 1, 3 and all positions; assemble (rows, OH*OW) from the tiles.
            let mut col = vec![f32::NAN; rows * ohw];
            let mut x_grad = vec![0.0f32; g.in_len()];
            for (pass, tile_len) in [1, 3, ohw].into_iter().enumerate() {
                let mut start = 0;
                while start < ohw {
                    let tile = start..(start + tile_len).min(ohw);
                    let mut col_t = vec![f32::NAN; rows * tile.len()];
                    im2col(&mut col_t, &x, &g, tile.clone());
                    for r in 0..rows {
                        col[r * ohw + tile.start..r * ohw + tile.end]
                            .copy_from_slice(&col_t[r * tile.len()..(r + 1) * tile.len()]);
                    }
                    if pass == 1 {
                        col2im_add(&mut x_grad, &col_t, &g, tile.clone());
                    }
                    start = tile.end;
                }
            }
            let mut want_grad = vec![0.0f32; g.in_len()];
            for c in 0..2 {
                for ki in 0..k {
                    for kj in 0..k {
                        for oh in 0..oh_n {
                            for ow in 0..ow_n {
                                let i = (oh * s + ki) as isize - p as isize;
                                let j = (ow * s + kj) as isize - p as isize;
                                let inside =
                                    i >= 0 && j >= 0 && (i as usize) < h && (j as usize) < w;
                                let at = (c * h + i.max(0) as usize) * w + j.max(0) as usize;
                                let want = if inside { x[at] } else { 0.0 };
                                let row = (c * k + ki) * k + kj;
                                assert_eq!(
                                    col[(row * oh_n + oh) * ow_n + ow],
                                    want,
                                    "{h}x{w} k{k} s{s} p{p}"
                                );
                                if inside {
                                    want_grad[at] += want;
                                }
                            }
                        }
                    }
                }
            }
            assert_eq!(x_grad, want_grad, "col2im {h}x{w} k{k} s{s} p{p}");
        }
    }
}
