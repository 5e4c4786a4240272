//! Convolution (Caffe's Convolution layer, square kernel, one group): forward, excitation
//! backward and gradient backward. spec/layers/conv.md
//!
#![doc = include_str!("../../spec/layers/conv.md")]

use super::excitation::{divide_or_zero, excitatory, times_input_or_zero};
use std::ops::Range;

use super::conv_geometry::ConvGeometry;
use super::im2col::{col2im_add, im2col};
use super::winograd::{self, Tile};
use crate::gemm::{gemm, Op};

/// How a convolution computes its products: im2col and one matrix product (the reference),
/// Winograd's F(m x m, 3 x 3) where the layer is 3x3 with stride 1, or Winograd where it
/// pays (`auto`: a 3x3, stride-1 layer with at least [`AUTO_MIN_IN_CHANNELS`] input channels).
/// spec/layers/winograd.md ("Selection")
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgorithm {
    Direct,
    Winograd,
    Auto,
}

/// What [`Conv::new`] chooses: the reference path; the commands choose `--conv` (default
/// auto, eval: direct). spec/layers/winograd.md ("Selection")
pub const DEFAULT_ALGORITHM: ConvAlgorithm = ConvAlgorithm::Direct;

/// The smallest output plane side on which a layer uses F(4x4, 3x3) rather than F(2x2):
/// measured faster on VGG16's 28 px and larger layers in every pass, slower on its 14 px ones
/// (4x4 tiles waste 31% of a 14x14 plane). spec/layers/winograd.md ("Which tile")
pub const F4_MIN_SIDE: usize = 28;

/// `auto` leaves layers with fewer input channels to the direct path: their products over
/// the channels are too short for Winograd to pay (VGG16's conv1_1 has 3), and the first
/// layer's input is the signed image. spec/layers/winograd.md ("Selection")
pub const AUTO_MIN_IN_CHANNELS: usize = 16;

/// A convolution with its weights, its optional bias and its excitatory weights W+.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub geometry: ConvGeometry,
    /// w: (O, C, K, K)
    pub w: Vec<f32>,
    /// b: (O), or None for `bias_term: false`
    pub b: Option<Vec<f32>>,
    /// w_plus = max(w, 0): (O, C, K, K), computed once here. spec/README.md (EB-1)
    pub w_plus: Vec<f32>,
    /// How the products are computed ([`DEFAULT_ALGORITHM`] unless set).
    pub algorithm: ConvAlgorithm,
}

impl Conv {
    /// Panics if `w` is not (O, C, K, K) or `b` not (O) for `geometry` (the loader checks
    /// user files and reports shapes before this point).
    pub fn new(geometry: ConvGeometry, w: Vec<f32>, b: Option<Vec<f32>>) -> Conv {
        let g = geometry;
        assert_eq!(
            w.len(),
            g.out_channels * g.patch_len(),
            "Conv::new: w is (O, C, K, K)"
        );
        if let Some(b) = &b {
            assert_eq!(b.len(), g.out_channels, "Conv::new: b is (O)");
        }
        let w_plus = excitatory(&w);
        Conv {
            geometry,
            w,
            b,
            w_plus,
            algorithm: DEFAULT_ALGORITHM,
        }
    }

    /// The Winograd tile this layer's products use, or None for the direct path.
    /// spec/layers/winograd.md ("Selection")
    pub fn winograd_tile(&self) -> Option<Tile> {
        let g = &self.geometry;
        let qualifies = winograd::qualifies(g);
        let tile = if g.out_height().min(g.out_width()) >= F4_MIN_SIDE {
            Tile::F4
        } else {
            Tile::F2
        };
        match self.algorithm {
            ConvAlgorithm::Direct => None,
            ConvAlgorithm::Winograd => qualifies.then_some(tile),
            ConvAlgorithm::Auto => {
                (qualifies && g.in_channels >= AUTO_MIN_IN_CHANNELS).then_some(tile)
            }
        }
    }

    /// The tiles of output positions (of OH*OW) the products run on: the unfolded columns of
    /// one tile, (C*K*K, tile), take about [`TILE_BYTES`], so that they stay in cache between
    /// im2col and the product that reads them (a whole layer's columns would not: VGG16's
    /// conv1_2 unfolds to 115 MB per frame). The result does not depend on the tiling: every
    /// output is the same dot product over C*K*K. spec/layers/conv.md (CONV-2)
    pub fn tiles(&self) -> Vec<Range<usize>> {
        let g = &self.geometry;
        let ohw = g.out_height() * g.out_width();
        let len = (TILE_BYTES / (4 * g.patch_len()))
            .max(MIN_TILE)
            .min(ohw.max(1));
        (0..ohw.div_ceil(len))
            .map(|k| k * len..((k + 1) * len).min(ohw))
            .collect()
    }

    /// Overwrites `y` (N, O, OH, OW) with the convolution of `x` (N, C, H, W) plus the bias.
    /// spec/layers/conv.md (CONV-3)
    pub fn forward(&self, y: &mut [f32], x: &[f32], n: usize) {
        let g = &self.geometry;
        let (o, ohw, ckk) = (
            g.out_channels,
            g.out_height() * g.out_width(),
            g.patch_len(),
        );
        assert_eq!(x.len(), n * g.in_len(), "Conv::forward: x is (N, C, H, W)");
        assert_eq!(
            y.len(),
            n * g.out_len(),
            "Conv::forward: y is (N, O, OH, OW)"
        );
        if let Some(tile) = self.winograd_tile() {
            // spec/layers/winograd.md (WINO-1), then the bias
            winograd::forward(tile, g, &self.w, y, x, n);
            if let Some(b) = &self.b {
                for (plane, &b_o) in y.chunks_exact_mut(ohw).zip(b.iter().cycle()) {
                    plane.iter_mut().for_each(|v| *v += b_o);
                }
            }
            return;
        }
        let tiles = self.tiles();
        let most = tiles.iter().map(|t| t.len()).max().unwrap_or(0);
        let mut col = vec![0.0f32; ckk * most]; // (C*K*K, tile)
        let mut y_tile = vec![0.0f32; o * most]; // (O, tile)
        for (x_f, y_f) in x
            .chunks_exact(g.in_len())
            .zip(y.chunks_exact_mut(g.out_len()))
        {
            for tile in &tiles {
                let t = tile.len();
                im2col(&mut col[..ckk * t], x_f, g, tile.clone());
                // y_tile (O, tile) = w (O, C*K*K) * col (C*K*K, tile)
                gemm(
                    o,
                    ckk,
                    t,
                    &self.w,
                    Op::AsStored,
                    &col[..ckk * t],
                    Op::AsStored,
                    0.0,
                    &mut y_tile[..o * t],
                );
                // y_f[oc, tile] = y_tile[oc] + b[oc]
                for (oc, row) in y_tile[..o * t].chunks_exact(t).enumerate() {
                    let b_o = self.b.as_ref().map_or(0.0, |b| b[oc]);
                    let out = &mut y_f[oc * ohw + tile.start..oc * ohw + tile.end];
                    for (v, &r) in out.iter_mut().zip(row) {
                        *v = r + b_o;
                    }
                }
            }
        }
    }

    /// Overwrites `p_bottom` (N, C, H, W) with the excitation backward of `p_top`
    /// (N, O, OH, OW), given the layer's forward input `x` (N, C, H, W): per frame and tile of
    /// output positions, [`Conv::eb_ratio`] then [`Conv::eb_distribute`], and at the end the
    /// product with x. spec/layers/conv.md (CONV-4), spec/README.md (EB-1..EB-3)
    pub fn eb_backward(&self, p_bottom: &mut [f32], x: &[f32], p_top: &[f32], n: usize) {
        let g = &self.geometry;
        let (o, ckk) = (g.out_channels, g.patch_len());
        assert_eq!(
            x.len(),
            n * g.in_len(),
            "Conv::eb_backward: x is (N, C, H, W)"
        );
        assert_eq!(
            p_top.len(),
            n * g.out_len(),
            "Conv::eb_backward: p_top is (N, O, OH, OW)"
        );
        assert_eq!(
            p_bottom.len(),
            n * g.in_len(),
            "Conv::eb_backward: p_bottom is (N, C, H, W)"
        );
        // A signed input (the image) stays direct: there z cancels to any size and X = p / z
        // is as sensitive as z is. spec/layers/winograd.md (WINO-9)
        let tile = self.winograd_tile().filter(|_| x.iter().all(|&v| v >= 0.0));
        if let Some(tile) = tile {
            // spec/layers/winograd.md (WINO-7, WINO-8)
            winograd::eb_backward(tile, g, &self.w_plus, p_bottom, x, p_top, n);
            return;
        }
        let tiles = self.tiles();
        let most = tiles.iter().map(|t| t.len()).max().unwrap_or(0);
        let mut col = vec![0.0f32; ckk * most]; // (C*K*K, tile)
        let mut ratio = vec![0.0f32; o * most]; // (O, tile): Z, then the ratio X
        let frames = x
            .chunks_exact(g.in_len())
            .zip(p_top.chunks_exact(g.out_len()))
            .zip(p_bottom.chunks_exact_mut(g.in_len()));
        for ((x_f, p_top_f), p_bottom_f) in frames {
            p_bottom_f.fill(0.0);
            for tile in &tiles {
                let t = tile.len();
                let (col_t, ratio_t) = (&mut col[..ckk * t], &mut ratio[..o * t]);
                self.eb_ratio(ratio_t, col_t, x_f, p_top_f, tile.clone());
                self.eb_distribute(p_bottom_f, col_t, ratio_t, tile.clone());
            }
            // EB-3: times x (0 where f32 overflowed: EB-2)
            times_input_or_zero(p_bottom_f, x_f);
        }
    }

    /// EB-1 and EB-2 for one frame's output positions `tile`: overwrites `col` (C*K*K, tile)
    /// with im2col(x_f) and `ratio` (O, tile) with `p_top_f / z`, z = w_plus * col (no bias),
    /// 0 where z == 0. spec/layers/conv.md (CONV-4)
    pub fn eb_ratio(
        &self,
        ratio: &mut [f32],
        col: &mut [f32],
        x_f: &[f32],
        p_top_f: &[f32],
        tile: Range<usize>,
    ) {
        let g = &self.geometry;
        let (o, ohw, ckk, t) = (
            g.out_channels,
            g.out_height() * g.out_width(),
            g.patch_len(),
            tile.len(),
        );
        im2col(col, x_f, g, tile.clone());
        // EB-1: z (O, tile) = w_plus (O, C*K*K) * col (C*K*K, tile), no bias
        gemm(
            o,
            ckk,
            t,
            &self.w_plus,
            Op::AsStored,
            col,
            Op::AsStored,
            0.0,
            ratio,
        );
        // EB-2: X = p_top / z, 0 where z == 0, row by row (p_top_f's rows are OH*OW long)
        for (oc, z_row) in ratio.chunks_exact_mut(t).enumerate() {
            divide_or_zero(z_row, &p_top_f[oc * ohw + tile.start..oc * ohw + tile.end]);
        }
    }

    /// EB-3 without the final product with x, for one frame's output positions `tile`: adds
    /// `col2im(w_plus^T * ratio)` (ratio: (O, tile)) to `p_bottom_f` (C, H, W); `col`
    /// (C*K*K, tile) is scratch. spec/layers/conv.md (CONV-4)
    pub fn eb_distribute(
        &self,
        p_bottom_f: &mut [f32],
        col: &mut [f32],
        ratio: &[f32],
        tile: Range<usize>,
    ) {
        let g = &self.geometry;
        let (o, ckk, t) = (g.out_channels, g.patch_len(), tile.len());
        // EB-3: col (C*K*K, tile) = w_plus^T (C*K*K, O) * X (O, tile); fold
        gemm(
            ckk,
            o,
            t,
            &self.w_plus,
            Op::Transposed,
            ratio,
            Op::AsStored,
            0.0,
            col,
        );
        col2im_add(p_bottom_f, col, g, tile);
    }

    /// Overwrites `dx` (N, C, H, W) with the gradient of the loss with respect to the input,
    /// given `dy` (N, O, OH, OW). spec/layers/conv.md (CONV-5)
    pub fn grad_backward(&self, dx: &mut [f32], dy: &[f32], n: usize) {
        let g = &self.geometry;
        let (o, ohw, ckk) = (
            g.out_channels,
            g.out_height() * g.out_width(),
            g.patch_len(),
        );
        assert_eq!(
            dy.len(),
            n * g.out_len(),
            "Conv::grad_backward: dy is (N, O, OH, OW)"
        );
        assert_eq!(
            dx.len(),
            n * g.in_len(),
            "Conv::grad_backward: dx is (N, C, H, W)"
        );
        if let Some(tile) = self.winograd_tile() {
            // spec/layers/winograd.md (WINO-6)
            winograd::transpose(tile, g, &self.w, dx, dy, n);
            return;
        }
        let tiles = self.tiles();
        let most = tiles.iter().map(|t| t.len()).max().unwrap_or(0);
        let mut col = vec![0.0f32; ckk * most]; // (C*K*K, tile)
        let mut dy_tile = vec![0.0f32; o * most]; // (O, tile)
        for (dy_f, dx_f) in dy
            .chunks_exact(g.out_len())
            .zip(dx.chunks_exact_mut(g.in_len()))
        {
            dx_f.fill(0.0);
            for tile in &tiles {
                let t = tile.len();
                for (oc, row) in dy_tile[..o * t].chunks_exact_mut(t).enumerate() {
                    row.copy_from_slice(&dy_f[oc * ohw + tile.start..oc * ohw + tile.end]);
                }
                // col (C*K*K, tile) = w^T (C*K*K, O) * dy (O, tile)
                gemm(
                    ckk,
                    o,
                    t,
                    &self.w,
                    Op::Transposed,
                    &dy_tile[..o * t],
                    Op::AsStored,
                    0.0,
                    &mut col[..ckk * t],
                );
                col2im_add(dx_f, &col[..ckk * t], g, tile.clone());
            }
        }
    }
}

/// Bytes of the unfolded columns of one tile (see [`Conv::tiles`]): a share of the last-level
/// cache (32 MB for two cores here). Measured with `ebr bench` against 1, 4 and 16 MB: 8 MB
/// was the fastest, within the machine's noise of 4 and 16; the whole layer at once (115 MB for
/// VGG16's conv1_2) ran that layer 3x slower.
pub const TILE_BYTES: usize = 8 << 20;

/// The fewest output positions of a tile, so that the products stay wide enough to run at the
/// matrix product's speed for the layers with the most input channels.
pub const MIN_TILE: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/layers/conv.md: every value is a small dyadic rational, so
    /// the f32 results are exact.
    #[test]
    fn worked_example() {
        let g = ConvGeometry::new(1, 3, 3, 1, 2, 1, 0).unwrap();
        assert_eq!((g.out_height(), g.out_width()), (2, 2)); // CONV-1
        let conv = Conv::new(g, vec![1.0, -1.0, 2.0, 0.0], Some(vec![0.5]));
        assert_eq!(conv.w_plus, [1.0, 0.0, 2.0, 0.0]); // EB-1
        #[rustfmt::skip]
        let x = [
            1.0, 2.0, 0.0,
            0.0, 0.0, 3.0,
            2.0, 0.0, 1.0,
        ];
        let p_top = [0.5, 0.25, 0.125, 0.125];

        let mut y = [f32::NAN; 4];
        conv.forward(&mut y, &x, 1); // CONV-3
        assert_eq!(y, [-0.5, 2.5, 4.5, -2.5]);

        // CONV-4: z = [1, 2, 4, 0]; the output with z == 0 drops its 0.125.
        let mut p_bottom = [f32::NAN; 9];
        conv.eb_backward(&mut p_bottom, &x, &p_top, 1);
        #[rustfmt::skip]
        let want = [
            0.5,   0.25, 0.0,
            0.0,   0.0,  0.0,
            0.125, 0.0,  0.0,
        ];
        assert_eq!(p_bottom, want);
        assert_eq!(p_bottom.iter().sum::<f32>(), 0.875);

        let mut dx = [f32::NAN; 9];
        conv.grad_backward(&mut dx, &p_top, 1); // CONV-5
        #[rustfmt::skip]
        let want = [
            0.5,   -0.25, -0.25,
            1.125,  0.5,  -0.125,
            0.25,   0.25,  0.0,
        ];
        assert_eq!(dx, want);
    }

    /// CONV-1's example in spec/layers/conv.md: H = 3, K = 2, St = 2, P = 1 gives 2.
    #[test]
    fn output_size_rounds_down() {
        let g = ConvGeometry::new(1, 3, 3, 1, 2, 2, 1).unwrap();
        assert_eq!((g.out_height(), g.out_width()), (2, 2));
    }
}
