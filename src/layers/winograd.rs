//! Winograd's minimal filtering F(m x m, 3 x 3) (Lavin & Gray 2016): a 3x3, stride-1
//! correlation as (m+2)^2 matrix products over channels instead of one product of 9x the
//! length, for the forward pass, the EB normalizer and transpose, and the data gradient.
//! spec/layers/winograd.md

use super::conv_geometry::ConvGeometry;
use super::excitation::{divide_or_zero, times_input_or_zero};
use crate::gemm::{gemm, Op};

/// The output tile of one transform: F(2x2, 3x3) or F(4x4, 3x3). spec/layers/winograd.md
/// (WINO-2, WINO-3)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    F2,
    F4,
}

/// F(2x2, 3x3): B^T (4x4), G (4x3), A^T (2x4), row-major. spec/layers/winograd.md (WINO-2)
#[rustfmt::skip]
const F2_BT: [f32; 16] = [
    1.0,  0.0, -1.0,  0.0,
    0.0,  1.0,  1.0,  0.0,
    0.0, -1.0,  1.0,  0.0,
    0.0,  1.0,  0.0, -1.0,
];
#[rustfmt::skip]
const F2_G: [f32; 12] = [
    1.0,  0.0, 0.0,
    0.5,  0.5, 0.5,
    0.5, -0.5, 0.5,
    0.0,  0.0, 1.0,
];
#[rustfmt::skip]
const F2_AT: [f32; 8] = [
    1.0, 1.0,  1.0,  0.0,
    0.0, 1.0, -1.0, -1.0,
];

/// F(4x4, 3x3): B^T (6x6), G (6x3), A^T (4x6), row-major. spec/layers/winograd.md (WINO-3)
#[rustfmt::skip]
const F4_BT: [f32; 36] = [
    4.0,  0.0, -5.0,  0.0, 1.0, 0.0,
    0.0, -4.0, -4.0,  1.0, 1.0, 0.0,
    0.0,  4.0, -4.0, -1.0, 1.0, 0.0,
    0.0, -2.0, -1.0,  2.0, 1.0, 0.0,
    0.0,  2.0, -1.0, -2.0, 1.0, 0.0,
    0.0,  4.0,  0.0, -5.0, 0.0, 1.0,
];
#[rustfmt::skip]
const F4_G: [f32; 18] = [
    1.0 / 4.0,   0.0,         0.0,
    -1.0 / 6.0, -1.0 / 6.0,  -1.0 / 6.0,
    -1.0 / 6.0,  1.0 / 6.0,  -1.0 / 6.0,
    1.0 / 24.0,  1.0 / 12.0,  1.0 / 6.0,
    1.0 / 24.0, -1.0 / 12.0,  1.0 / 6.0,
    0.0,         0.0,         1.0,
];
#[rustfmt::skip]
const F4_AT: [f32; 24] = [
    1.0, 1.0,  1.0, 1.0,  1.0, 0.0,
    0.0, 1.0, -1.0, 2.0, -2.0, 0.0,
    0.0, 1.0,  1.0, 4.0,  4.0, 0.0,
    0.0, 1.0, -1.0, 8.0, -8.0, 1.0,
];

impl Tile {
    /// Outputs per tile side: m.
    pub fn m(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Inputs per tile side: alpha = m + 2.
    pub fn alpha(self) -> usize {
        self.m() + 2
    }

    /// (B^T, G, A^T), row-major: alpha x alpha, alpha x 3, m x alpha.
    fn matrices(self) -> (&'static [f32], &'static [f32], &'static [f32]) {
        match self {
            Tile::F2 => (&F2_BT, &F2_G, &F2_AT),
            Tile::F4 => (&F4_BT, &F4_G, &F4_AT),
        }
    }
}

/// True when a convolution is a 3x3, stride-1 correlation, the form Winograd computes.
pub fn qualifies(g: &ConvGeometry) -> bool {
    g.kernel == 3 && g.stride == 1
}

/// The transformed filters of one correlation of `cols` input channels to `rows` output
/// channels: `u[xn]` (xn = xi*alpha + nu) is the (rows, cols) matrix of
/// `(G f[r, c] G^T)[xi, nu]`. spec/layers/winograd.md (WINO-4)
#[derive(Clone, Debug)]
pub struct Filters {
    pub tile: Tile,
    pub rows: usize,
    pub cols: usize,
    u: Vec<f32>,
}

impl Filters {
    /// The filters `w` (O, C, 3, 3) of the forward correlation: rows O, cols C.
    /// spec/layers/winograd.md (WINO-4)
    pub fn forward(tile: Tile, w: &[f32], o: usize, c: usize) -> Filters {
        assert_eq!(w.len(), o * c * 9, "Filters::forward: w is (O, C, 3, 3)");
        Filters::from_fn(tile, o, c, |pair, k| w[pair * 9 + k])
    }

    /// The filters of the transposed correlation (the data gradient of `w`'s correlation):
    /// `f[c, o, a, b] = w[o, c, 2 - a, 2 - b]`, rows C, cols O. spec/layers/winograd.md (WINO-6)
    pub fn transposed(tile: Tile, w: &[f32], o: usize, c: usize) -> Filters {
        assert_eq!(w.len(), o * c * 9, "Filters::transposed: w is (O, C, 3, 3)");
        // pair = c*O + o reads w[o, c] flipped: k -> 8 - k
        Filters::from_fn(tile, c, o, |pair, k| {
            w[((pair % o) * c + pair / o) * 9 + 8 - k]
        })
    }

    /// U[xi, nu][r, col] = sum_{a, b} G[xi, a] G[nu, b] f(r, col, a, b), where
    /// `f(r*cols + col, a*3 + b)` reads the filters; computed over chunks of (r, col) pairs
    /// with the pairs innermost, so that it runs at vector speed.
    fn from_fn(tile: Tile, rows: usize, cols: usize, f: impl Fn(usize, usize) -> f32) -> Filters {
        const CHUNK: usize = 1024;
        let (_, g, _) = tile.matrices();
        let alpha = tile.alpha();
        let (aa, pairs) = (alpha * alpha, rows * cols);
        // coef[xn][k] = G[xi, a] G[nu, b] with xn = xi*alpha + nu, k = a*3 + b
        let coef: Vec<f32> = (0..aa * 9)
            .map(|i| {
                let (xn, k) = (i / 9, i % 9);
                g[(xn / alpha) * 3 + k / 3] * g[(xn % alpha) * 3 + k % 3]
            })
            .collect();
        let mut u = vec![0.0f32; aa * pairs];
        let mut local = vec![0.0f32; 9 * CHUNK];
        for start in (0..pairs).step_by(CHUNK) {
            let len = CHUNK.min(pairs - start);
            for q in 0..len {
                for k in 0..9 {
                    local[k * CHUNK + q] = f(start + q, k);
                }
            }
            for xn in 0..aa {
                let out = &mut u[xn * pairs + start..][..len];
                out.fill(0.0);
                for k in 0..9 {
                    axpy(out, coef[xn * 9 + k], &local[k * CHUNK..][..len]);
                }
            }
        }
        Filters {
            tile,
            rows,
            cols,
            u,
        }
    }
}

/// The sizes of one correlation's planes: inputs (H, W), outputs (OH, OW), and the offset
/// `pad` of output (0, 0)'s window in the input (negative: the window starts inside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Planes {
    pub in_height: usize,
    pub in_width: usize,
    pub out_height: usize,
    pub out_width: usize,
    pub pad: isize,
}

impl Planes {
    /// The forward correlation of a convolution: (H, W) to (OH, OW), its own pad.
    pub fn forward(g: &ConvGeometry) -> Planes {
        Planes {
            in_height: g.in_height,
            in_width: g.in_width,
            out_height: g.out_height(),
            out_width: g.out_width(),
            pad: g.pad as isize,
        }
    }

    /// The transposed correlation: (OH, OW) back to (H, W), pad 2 - P.
    /// spec/layers/winograd.md (WINO-6)
    pub fn transposed(g: &ConvGeometry) -> Planes {
        Planes {
            in_height: g.out_height(),
            in_width: g.out_width(),
            out_height: g.in_height,
            out_width: g.in_width,
            pad: 2 - g.pad as isize,
        }
    }

    fn in_len(&self) -> usize {
        self.in_height * self.in_width
    }

    fn out_len(&self) -> usize {
        self.out_height * self.out_width
    }
}

/// Bytes of the transformed inputs and products of one block of tiles: the block's products
/// read what its input transform wrote while it is still in cache.
pub const BLOCK_BYTES: usize = 4 << 20;

/// The fewest tiles of a block, so that the products stay wide enough for the matrix
/// product's speed.
pub const MIN_BLOCK: usize = 256;

/// A run of a block's tiles side by side in one tile row of one frame: block positions
/// `first..first + len`, outputs from row `row` and column `col`, m columns apart.
#[derive(Clone, Copy, Debug)]
struct Run {
    first: usize,
    len: usize,
    frame: usize,
    row: usize,
    col: usize,
}

/// The runs of the block of global tiles `start..start + bn` (frames of `tiles_h` x `tiles_w`
/// tiles, row-major).
fn runs(start: usize, bn: usize, tiles_w: usize, per_frame: usize, m: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut t = start;
    while t < start + bn {
        let (frame, k) = (t / per_frame, t % per_frame);
        let len = (tiles_w - k % tiles_w).min(start + bn - t);
        runs.push(Run {
            first: t - start,
            len,
            frame,
            row: k / tiles_w * m,
            col: k % tiles_w * m,
        });
        t += len;
    }
    runs
}

/// Overwrites `y` (frames, rows, OH, OW) with the 3x3 correlation of `x` (frames, cols, H, W)
/// with the filters: `y[n, r, i, j] = sum_{c, a, b} f[r, c, a, b] x[n, c, i - pad + a,
/// j - pad + b]`, x read as 0 outside the plane. The tiles of all frames are cut into blocks;
/// per block, the input transform (WINO-5), alpha^2 matrix products over the channels (WINO-4)
/// and the output transform (WINO-5). Every output is the same arithmetic whatever the block,
/// and whatever the CPU: where it has AVX2, the transforms' loops are compiled for it (8 lanes
/// instead of SSE's 4, the same operations in the same order). spec/layers/winograd.md
/// (WINO-1, WINO-4, WINO-5)
pub fn correlate(y: &mut [f32], x: &[f32], frames: usize, f: &Filters, p: &Planes) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the one feature correlate_avx2 is compiled for.
        #[allow(unsafe_code)]
        unsafe {
            return correlate_avx2(y, x, frames, f, p);
        }
    }
    correlate_portable(y, x, frames, f, p);
}

/// [`correlate_portable`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn correlate_avx2(y: &mut [f32], x: &[f32], frames: usize, f: &Filters, p: &Planes) {
    correlate_portable(y, x, frames, f, p);
}

/// [`correlate`] for any CPU; inlined, with its loops, into [`correlate_avx2`].
#[inline(always)]
fn correlate_portable(y: &mut [f32], x: &[f32], frames: usize, f: &Filters, p: &Planes) {
    let (m, alpha) = (f.tile.m(), f.tile.alpha());
    let aa = alpha * alpha;
    let (rows, cols) = (f.rows, f.cols);
    assert_eq!(
        x.len(),
        frames * cols * p.in_len(),
        "winograd::correlate: x is (N, C, H, W)"
    );
    assert_eq!(
        y.len(),
        frames * rows * p.out_len(),
        "winograd::correlate: y is (N, O, OH, OW)"
    );
    let (tiles_h, tiles_w) = (p.out_height.div_ceil(m), p.out_width.div_ceil(m));
    let per_frame = tiles_h * tiles_w;
    let total = frames * per_frame;
    if total == 0 {
        return;
    }
    let block = (BLOCK_BYTES / (4 * aa * (rows + cols)))
        .max(MIN_BLOCK)
        .min(total);
    let mut d = vec![0.0f32; aa * block]; // one channel's tiles, then one row's outputs
    let mut e = vec![0.0f32; aa * block]; // the first pass of each transform
    let mut v = vec![0.0f32; aa * cols * block]; // (alpha^2, cols, block)
    let mut prod = vec![0.0f32; aa * rows * block]; // (alpha^2, rows, block)
    let mut scratch = Scratch::new(tiles_w, m);
    let (bt, _, at) = f.tile.matrices();
    let mut start = 0;
    while start < total {
        let bn = block.min(total - start);
        let tiles = runs(start, bn, tiles_w, per_frame, m);
        // WINO-5: V[xn][c] = (B^T d B) per tile, d = the tile's alpha x alpha inputs
        let v = &mut v[..aa * cols * bn];
        for c in 0..cols {
            let d = &mut d[..aa * bn];
            gather(d, bn, x, c, cols, &tiles, p, m, &mut scratch);
            let e = &mut e[..aa * bn];
            // e[xi][j] = sum_i B^T[xi, i] d[i][j]
            for xi in 0..alpha {
                for j in 0..alpha {
                    let out = &mut e[(xi * alpha + j) * bn..][..bn];
                    combine(out, &bt[xi * alpha..][..alpha], |i| {
                        &d[(i * alpha + j) * bn..][..bn]
                    });
                }
            }
            // V[xi][nu] = sum_j e[xi][j] B^T[nu, j]
            for xi in 0..alpha {
                for nu in 0..alpha {
                    let out = &mut v[((xi * alpha + nu) * cols + c) * bn..][..bn];
                    combine(out, &bt[nu * alpha..][..alpha], |j| {
                        &e[(xi * alpha + j) * bn..][..bn]
                    });
                }
            }
        }
        // WINO-4: M[xn] (rows, bn) = U[xn] (rows, cols) * V[xn] (cols, bn)
        let prod = &mut prod[..aa * rows * bn];
        for xn in 0..aa {
            gemm(
                rows,
                cols,
                bn,
                &f.u[xn * rows * cols..(xn + 1) * rows * cols],
                Op::AsStored,
                &v[xn * cols * bn..(xn + 1) * cols * bn],
                Op::AsStored,
                0.0,
                &mut prod[xn * rows * bn..(xn + 1) * rows * bn],
            );
        }
        // WINO-5: Y = A^T M A per tile and output channel, then into y
        for r in 0..rows {
            let e = &mut e[..m * alpha * bn];
            // e[i][nu] = sum_xi A^T[i, xi] M[xi][nu]
            for i in 0..m {
                for nu in 0..alpha {
                    let out = &mut e[(i * alpha + nu) * bn..][..bn];
                    combine(out, &at[i * alpha..][..alpha], |xi| {
                        &prod[((xi * alpha + nu) * rows + r) * bn..][..bn]
                    });
                }
            }
            // Y[i][j] = sum_nu e[i][nu] A^T[j, nu]
            let out_tile = &mut d[..m * m * bn];
            for i in 0..m {
                for j in 0..m {
                    let out = &mut out_tile[(i * m + j) * bn..][..bn];
                    combine(out, &at[j * alpha..][..alpha], |nu| {
                        &e[(i * alpha + nu) * bn..][..bn]
                    });
                }
            }
            scatter(y, out_tile, bn, r, rows, &tiles, p, m, &mut scratch);
        }
        start += bn;
    }
}

/// One row of a transform over a block's tiles (the tile index innermost):
/// `out = sum_k row[k] * src(k)`, over the nonzero coefficients (the transforms are sparse),
/// added left to right from the first. The terms go in pairs, so that each element is read and
/// written once per two terms; the sum is the same as one term at a time.
#[inline(always)]
fn combine<'a>(out: &mut [f32], row: &[f32], src: impl Fn(usize) -> &'a [f32]) {
    let mut terms = row
        .iter()
        .enumerate()
        .filter(|&(_, &coef)| coef != 0.0)
        .map(|(k, &coef)| (coef, src(k)));
    let Some((c0, s0)) = terms.next() else {
        out.fill(0.0);
        return;
    };
    match terms.next() {
        Some((c1, s1)) => {
            for ((o, &a), &b) in out.iter_mut().zip(s0).zip(s1) {
                *o = c0 * a + c1 * b;
            }
        }
        None => {
            for (o, &a) in out.iter_mut().zip(s0) {
                *o = c0 * a;
            }
        }
    }
    while let Some((c2, s2)) = terms.next() {
        match terms.next() {
            Some((c3, s3)) => {
                for ((o, &a), &b) in out.iter_mut().zip(s2).zip(s3) {
                    *o = *o + c2 * a + c3 * b;
                }
            }
            None => {
                for (o, &a) in out.iter_mut().zip(s2) {
                    *o += c2 * a;
                }
            }
        }
    }
}

/// `out += coef * x`, skipped for a zero coefficient (the transforms are sparse).
fn axpy(out: &mut [f32], coef: f32, x: &[f32]) {
    if coef == 0.0 {
        return;
    }
    for (o, &v) in out.iter_mut().zip(x) {
        *o += coef * v;
    }
}

/// `d[i][j][t]` = the input of channel `c` at row `row - pad + i`, column `col - pad + j`
/// of tile `t` (its run's frame; `col` = the run's column + m*(t - first)), 0 outside the
/// plane. Per run and row: the row's segment under the run's tiles is copied out (zeros past
/// the plane's edges) and split into its m phases (`phase[q][u]` = segment[q + m*u]), so that
/// each column j of the tiles is one contiguous copy: `d[i][j][first + t]` =
/// `phase[j % m][j / m + t]`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gather(
    d: &mut [f32],
    bn: usize,
    x: &[f32],
    c: usize,
    cols: usize,
    runs: &[Run],
    p: &Planes,
    m: usize,
    scratch: &mut Scratch,
) {
    let alpha = m + 2;
    let (h, w) = (p.in_height as isize, p.in_width as isize);
    for run in runs {
        let plane = &x[(run.frame * cols + c) * p.in_len()..][..p.in_len()];
        let (top, left) = (run.row as isize - p.pad, run.col as isize - p.pad);
        // the segment: the run's alpha + m*(len - 1) columns, rounded up to m*(len + 1)
        let seg_len = m * (run.len + 1);
        let segment = &mut scratch.segment[..seg_len];
        let phases = &mut scratch.phases[..seg_len];
        let inside = (-left).clamp(0, seg_len as isize) as usize
            ..(w - left).clamp(0, seg_len as isize) as usize;
        for i in 0..alpha {
            let r = top + i as isize;
            if r < 0 || r >= h || inside.is_empty() {
                for j in 0..alpha {
                    d[(i * alpha + j) * bn + run.first..][..run.len].fill(0.0);
                }
                continue;
            }
            let row = &plane[r as usize * p.in_width..][..p.in_width];
            segment[..inside.start].fill(0.0);
            segment[inside.clone()].copy_from_slice(
                &row[(left + inside.start as isize) as usize
                    ..(left + inside.end as isize) as usize],
            );
            segment[inside.end..].fill(0.0);
            split_phases(phases, segment, m);
            let phase_len = run.len + 1;
            for j in 0..alpha {
                let phase = &phases[(j % m) * phase_len..][..phase_len];
                d[(i * alpha + j) * bn + run.first..][..run.len]
                    .copy_from_slice(&phase[j / m..][..run.len]);
            }
        }
    }
}

/// Writes tile `t`'s outputs `out_tile[i][j][t]` of output channel `r` into `y`, dropping
/// those past the plane's edge. Per run and output row, the m columns of its tiles are
/// interleaved into one segment (`segment[j + m*t]`), then copied into the row.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn scatter(
    y: &mut [f32],
    out_tile: &[f32],
    bn: usize,
    r: usize,
    rows: usize,
    runs: &[Run],
    p: &Planes,
    m: usize,
    scratch: &mut Scratch,
) {
    for run in runs {
        let plane = &mut y[(run.frame * rows + r) * p.out_len()..][..p.out_len()];
        let segment = &mut scratch.segment[..m * run.len];
        let kept = segment.len().min(p.out_width - run.col);
        for i in 0..m.min(p.out_height - run.row) {
            let column = |j: usize| &out_tile[(i * m + j) * bn + run.first..][..run.len];
            merge_phases(segment, column, m);
            plane[(run.row + i) * p.out_width + run.col..][..kept]
                .copy_from_slice(&segment[..kept]);
        }
    }
}

/// The buffers of [`gather`] and [`scatter`]: one segment of a tile row and its phases.
struct Scratch {
    segment: Vec<f32>,
    phases: Vec<f32>,
}

impl Scratch {
    /// For runs of up to `tiles` tiles of m outputs.
    fn new(tiles: usize, m: usize) -> Scratch {
        Scratch {
            segment: vec![0.0; m * (tiles + 1)],
            phases: vec![0.0; m * (tiles + 1)],
        }
    }
}

/// `phases[q * n + u] = segment[q + m*u]` (n = segment.len() / m): the m phases of a segment.
/// One loop per m (2 or 4) over whole groups of m, which the compiler turns into vector
/// shuffles.
#[inline(always)]
fn split_phases(phases: &mut [f32], segment: &[f32], m: usize) {
    let n = segment.len() / m;
    match m {
        2 => {
            let (p0, p1) = phases[..2 * n].split_at_mut(n);
            for ((group, a), b) in segment.chunks_exact(2).zip(p0).zip(p1) {
                (*a, *b) = (group[0], group[1]);
            }
        }
        4 => {
            let (p01, p23) = phases[..4 * n].split_at_mut(2 * n);
            let ((p0, p1), (p2, p3)) = (p01.split_at_mut(n), p23.split_at_mut(n));
            let phases = p0.iter_mut().zip(p1).zip(p2.iter_mut().zip(p3));
            for (group, ((a, b), (c, d))) in segment.chunks_exact(4).zip(phases) {
                (*a, *b, *c, *d) = (group[0], group[1], group[2], group[3]);
            }
        }
        _ => unreachable!("the tiles' m is 2 or 4"),
    }
}

/// `segment[j + m*t] = column(j)[t]`, j in 0..m: [`split_phases`] the other way.
#[inline(always)]
fn merge_phases<'a>(segment: &mut [f32], column: impl Fn(usize) -> &'a [f32], m: usize) {
    match m {
        2 => {
            let phases = column(0).iter().zip(column(1));
            for (group, (&a, &b)) in segment.chunks_exact_mut(2).zip(phases) {
                (group[0], group[1]) = (a, b);
            }
        }
        4 => {
            let (c01, c23) = (
                column(0).iter().zip(column(1)),
                column(2).iter().zip(column(3)),
            );
            for (group, ((&a, &b), (&c, &d))) in segment.chunks_exact_mut(4).zip(c01.zip(c23)) {
                (group[0], group[1], group[2], group[3]) = (a, b, c, d);
            }
        }
        _ => unreachable!("the tiles' m is 2 or 4"),
    }
}

/// The forward correlation of a 3x3, stride-1 convolution, without the bias: overwrites `y`
/// (N, O, OH, OW). spec/layers/winograd.md (WINO-1)
pub fn forward(tile: Tile, g: &ConvGeometry, w: &[f32], y: &mut [f32], x: &[f32], n: usize) {
    let f = Filters::forward(tile, w, g.out_channels, g.in_channels);
    correlate(y, x, n, &f, &Planes::forward(g));
}

/// The data gradient of a 3x3, stride-1 convolution: overwrites `dx` (N, C, H, W) with the
/// transposed correlation of `dy` (N, O, OH, OW). spec/layers/winograd.md (WINO-6)
pub fn transpose(tile: Tile, g: &ConvGeometry, w: &[f32], dx: &mut [f32], dy: &[f32], n: usize) {
    let f = Filters::transposed(tile, w, g.out_channels, g.in_channels);
    correlate(dx, dy, n, &f, &Planes::transposed(g));
}

/// An output whose normalizer Winograd's rounding could have changed too much:
/// `|z| <= GUARD * max(w_plus[o]) * (the tile's sum of |x|)`. Its z is computed directly, and
/// its ratio passed down directly. spec/layers/winograd.md (WINO-8)
pub const GUARD: f32 = 1e-3;

/// Bytes of the normalizers of one group of frames in [`eb_backward`].
pub const EB_GROUP_BYTES: usize = 16 << 20;

/// One output the guard computes directly: channel, output row and column, and its ratio X.
struct Guarded {
    o: usize,
    oh: usize,
    ow: usize,
    ratio: f32,
}

/// Counts of [`eb_backward`]'s guard, for the benchmark and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardCounts {
    /// Outputs (o, oh, ow) over all frames.
    pub outputs: usize,
    /// Outputs whose window is all zero: z = 0 exactly, no product.
    pub zero_windows: usize,
    /// Outputs computed directly (WINO-8).
    pub direct: usize,
}

/// The EB rule of a 3x3, stride-1 convolution with Winograd's products: overwrites
/// `p_bottom` (N, C, H, W) with EB-1..EB-3 of `p_top` (N, O, OH, OW) given the input `x`
/// (N, C, H, W); z is guarded (WINO-7, WINO-8) so that z == 0 gives X = 0 as the direct
/// path's does. Returns the guard's counts. spec/layers/winograd.md (WINO-7, WINO-8),
/// spec/README.md (EB-1..EB-3)
#[allow(clippy::too_many_arguments)]
pub fn eb_backward(
    tile: Tile,
    g: &ConvGeometry,
    w_plus: &[f32],
    p_bottom: &mut [f32],
    x: &[f32],
    p_top: &[f32],
    n: usize,
) -> GuardCounts {
    let (o_n, ohw) = (g.out_channels, g.out_height() * g.out_width());
    assert_eq!(x.len(), n * g.in_len(), "winograd::eb_backward: x");
    assert_eq!(p_top.len(), n * g.out_len(), "winograd::eb_backward: p_top");
    assert_eq!(
        p_bottom.len(),
        n * g.in_len(),
        "winograd::eb_backward: p_bottom"
    );
    let f = Filters::forward(tile, w_plus, o_n, g.in_channels);
    let f_t = Filters::transposed(tile, w_plus, o_n, g.in_channels);
    let w_max: Vec<f32> = w_plus
        .chunks_exact(g.patch_len())
        .map(|row| row.iter().fold(0.0f32, |a, &v| a.max(v.abs())))
        .collect();
    let group = (EB_GROUP_BYTES / (4 * g.out_len().max(1))).clamp(1, n.max(1));
    let mut z = vec![0.0f32; group * g.out_len()];
    let mut counts = GuardCounts::default();
    let mut first = 0;
    while first < n {
        let k = group.min(n - first);
        let frames = first..first + k;
        let x_g = &x[frames.start * g.in_len()..frames.end * g.in_len()];
        let z = &mut z[..k * g.out_len()];
        // EB-1: z = w_plus * x (no bias), by Winograd
        correlate(z, x_g, k, &f, &Planes::forward(g));
        let mut guarded: Vec<Vec<Guarded>> = Vec::with_capacity(k);
        for (frame, z_f) in z.chunks_exact_mut(g.out_len()).enumerate() {
            let x_f = &x_g[frame * g.in_len()..(frame + 1) * g.in_len()];
            let p_top_f = &p_top[(first + frame) * g.out_len()..][..g.out_len()];
            let mut listed = guard(tile, g, w_plus, &w_max, z_f, x_f, &mut counts);
            // EB-2: X = p_top / z, 0 where z == 0
            divide_or_zero(z_f, p_top_f);
            // The guarded outputs' ratios go down directly, not through the transform.
            for q in &mut listed {
                let at = (q.o * g.out_height() + q.oh) * g.out_width() + q.ow;
                q.ratio = std::mem::replace(&mut z_f[at], 0.0);
            }
            guarded.push(listed);
        }
        counts.outputs += k * o_n * ohw;
        // EB-3: w_plus^T X by Winograd, plus the guarded outputs directly, then times x
        let p_g = &mut p_bottom[frames.start * g.in_len()..frames.end * g.in_len()];
        correlate(p_g, z, k, &f_t, &Planes::transposed(g));
        for (frame, p_f) in p_g.chunks_exact_mut(g.in_len()).enumerate() {
            for q in &guarded[frame] {
                distribute_directly(g, w_plus, p_f, q);
            }
            times_input_or_zero(p_f, &x_g[frame * g.in_len()..(frame + 1) * g.in_len()]);
        }
        first += k;
    }
    counts
}

/// WINO-7 and WINO-8 on one frame's Winograd normalizers `z_f` (O, OH, OW): exactly 0 where
/// the window is all zero; computed directly (and listed in `guarded`) where
/// `|z| <= GUARD * w_max[o] * tile mass`; returns the latter.
fn guard(
    tile: Tile,
    g: &ConvGeometry,
    w_plus: &[f32],
    w_max: &[f32],
    z_f: &mut [f32],
    x_f: &[f32],
    counts: &mut GuardCounts,
) -> Vec<Guarded> {
    let mut guarded = Vec::new();
    let (h, w) = (g.in_height, g.in_width);
    let (oh_n, ow_n, m, alpha) = (g.out_height(), g.out_width(), tile.m(), tile.alpha());
    let pad = g.pad as isize;
    // s[i][j] = sum_c |x[c, i, j]|
    let mut s = vec![0.0f32; h * w];
    for plane in x_f.chunks_exact(h * w) {
        for (a, &v) in s.iter_mut().zip(plane) {
            *a += v.abs();
        }
    }
    // Per output position (the same for every channel o): whether its window is all zero
    // (WINO-7), and the mass of its tile (WINO-8), so that the loop over (o, oh, ow) below
    // has no index arithmetic.
    let tiles_w = ow_n.div_ceil(m);
    let tile_mass: Vec<f32> = (0..oh_n.div_ceil(m) * tiles_w)
        .map(|t| {
            let (r, c) = ((t / tiles_w * m) as isize, (t % tiles_w * m) as isize);
            box_sum(&s, h, w, r - pad, c - pad, alpha)
        })
        .collect();
    let mut zero_window = vec![false; oh_n * ow_n];
    let mut mass = vec![0.0f32; oh_n * ow_n];
    for oh in 0..oh_n {
        for ow in 0..ow_n {
            let p = oh * ow_n + ow;
            zero_window[p] = box_sum(&s, h, w, oh as isize - pad, ow as isize - pad, 3) == 0.0;
            mass[p] = tile_mass[(oh / m) * tiles_w + ow / m];
        }
    }
    for o in 0..g.out_channels {
        let z_o = &mut z_f[o * oh_n * ow_n..(o + 1) * oh_n * ow_n];
        let limit = GUARD * w_max[o];
        for (p, z) in z_o.iter_mut().enumerate() {
            if zero_window[p] {
                // WINO-7: every product of the direct sum is 0
                *z = 0.0;
                counts.zero_windows += 1;
            } else if z.abs() <= limit * mass[p] {
                // WINO-8
                let (oh, ow) = (p / ow_n, p % ow_n);
                *z = direct_z(g, w_plus, x_f, o, oh, ow);
                counts.direct += 1;
                guarded.push(Guarded {
                    o,
                    oh,
                    ow,
                    ratio: 0.0,
                });
            }
        }
    }
    guarded
}

/// The sum of `s` (h, w) over the `size` x `size` window at (top, left), 0 outside.
fn box_sum(s: &[f32], h: usize, w: usize, top: isize, left: isize, size: usize) -> f32 {
    let mut sum = 0.0f32;
    for i in top.max(0)..(top + size as isize).min(h as isize) {
        let row = &s[i as usize * w..(i as usize + 1) * w];
        for &v in &row[left.max(0) as usize..(left + size as isize).clamp(0, w as isize) as usize] {
            sum += v;
        }
    }
    sum
}

/// EB-1 for one output, directly: `sum_{c, a, b} w_plus[o, c, a, b] x[c, oh - P + a, ow - P +
/// b]`, in that order. spec/layers/winograd.md (WINO-8)
fn direct_z(g: &ConvGeometry, w_plus: &[f32], x_f: &[f32], o: usize, oh: usize, ow: usize) -> f32 {
    let mut z = 0.0f32;
    for_window(g, oh, ow, |c, a, b, at| {
        z += w_plus[((o * g.in_channels + c) * 3 + a) * 3 + b] * x_f[at];
    });
    z
}

/// EB-3's sum for one guarded output, directly: adds `w_plus[o, c, a, b] * X` to every input
/// of its window. spec/layers/winograd.md (WINO-8)
fn distribute_directly(g: &ConvGeometry, w_plus: &[f32], p_f: &mut [f32], q: &Guarded) {
    if q.ratio == 0.0 {
        return;
    }
    for_window(g, q.oh, q.ow, |c, a, b, at| {
        p_f[at] += w_plus[((q.o * g.in_channels + c) * 3 + a) * 3 + b] * q.ratio;
    });
}

/// Calls `visit(c, a, b, index into the frame)` for the inputs inside the plane of output
/// (oh, ow)'s 3x3 window.
fn for_window(
    g: &ConvGeometry,
    oh: usize,
    ow: usize,
    mut visit: impl FnMut(usize, usize, usize, usize),
) {
    let (h, w) = (g.in_height as isize, g.in_width as isize);
    for c in 0..g.in_channels {
        for a in 0..3 {
            let i = (oh + a) as isize - g.pad as isize;
            if i < 0 || i >= h {
                continue;
            }
            for b in 0..3 {
                let j = (ow + b) as isize - g.pad as isize;
                if j >= 0 && j < w {
                    visit(
                        c,
                        a,
                        b,
                        (c * g.in_height + i as usize) * g.in_width + j as usize,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Conv, ConvAlgorithm};
    use crate::rng::Rng;

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..len).map(|_| rng.normal() as f32).collect()
    }

    /// The largest |a - b| over the largest |b|.
    fn relative(a: &[f32], b: &[f32]) -> f32 {
        let scale = b
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(f32::MIN_POSITIVE);
        a.iter()
            .zip(b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    /// WINO-1 in one dimension for both tiles: A^T [(G g) . (B^T d)] is the correlation of
    /// d with g. Small integers and the tiles' exact fractions: the error is f32 rounding of
    /// values below 2^10, far under 1e-5.
    #[test]
    fn one_dimensional_identity() {
        for tile in [Tile::F2, Tile::F4] {
            let (bt, gm, at) = tile.matrices();
            let (m, alpha) = (tile.m(), tile.alpha());
            let g = [1.0f32, -2.0, 3.0];
            let d: Vec<f32> = (0..alpha).map(|i| (i as f32 * 7.0) % 5.0 - 2.0).collect();
            let gg: Vec<f32> = (0..alpha)
                .map(|xi| (0..3).map(|k| gm[xi * 3 + k] * g[k]).sum())
                .collect();
            let bd: Vec<f32> = (0..alpha)
                .map(|xi| (0..alpha).map(|i| bt[xi * alpha + i] * d[i]).sum())
                .collect();
            for i in 0..m {
                let y: f32 = (0..alpha)
                    .map(|xi| at[i * alpha + xi] * gg[xi] * bd[xi])
                    .sum();
                let want: f32 = (0..3).map(|k| g[k] * d[i + k]).sum();
                assert!(
                    (y - want).abs() < 1e-5,
                    "{tile:?} output {i}: {y} vs {want}"
                );
            }
        }
    }

    /// The whole correlation against the definition, for both tiles, over planes whose sizes
    /// do not divide by m (partial edge tiles), pads 0..2 and the transposed form's negative
    /// pad. Normal inputs and weights over 5 channels: f32 rounding, 1e-5 of the largest.
    #[test]
    fn correlation_matches_the_definition() {
        for tile in [Tile::F2, Tile::F4] {
            for (h, w, out_h, out_w, pad) in [
                (5, 7, 5, 7, 1),
                (6, 6, 4, 4, 0),
                (3, 2, 5, 4, 2),
                (9, 5, 7, 3, 0),
                (7, 8, 9, 10, 2),
                (8, 8, 6, 6, -0),
                (9, 9, 5, 5, -2),
            ] {
                let (rows, cols, n) = (3, 5, 2);
                let wts = random(rows * cols * 9, 1);
                let x = random(n * cols * h * w, 2);
                let p = Planes {
                    in_height: h,
                    in_width: w,
                    out_height: out_h,
                    out_width: out_w,
                    pad,
                };
                let mut y = vec![f32::NAN; n * rows * out_h * out_w];
                correlate(&mut y, &x, n, &Filters::forward(tile, &wts, rows, cols), &p);
                let mut want = vec![0.0f32; y.len()];
                for f in 0..n {
                    for r in 0..rows {
                        for i in 0..out_h {
                            for j in 0..out_w {
                                let mut sum = 0.0f64;
                                for c in 0..cols {
                                    for a in 0..3 {
                                        for b in 0..3 {
                                            let (ii, jj) =
                                                ((i + a) as isize - pad, (j + b) as isize - pad);
                                            if ii >= 0
                                                && jj >= 0
                                                && ii < h as isize
                                                && jj < w as isize
                                            {
                                                sum += wts[((r * cols + c) * 3 + a) * 3 + b] as f64
                                                    * x[((f * cols + c) * h + ii as usize) * w
                                                        + jj as usize]
                                                        as f64;
                                            }
                                        }
                                    }
                                }
                                want[((f * rows + r) * out_h + i) * out_w + j] = sum as f32;
                            }
                        }
                    }
                }
                let err = relative(&y, &want);
                assert!(
                    err < 1e-5,
                    "{tile:?} {h}x{w} -> {out_h}x{out_w} pad {pad}: {err:e}"
                );
            }
        }
    }

    /// The build `correlate` runs on this CPU (AVX2 where it has it) gives the portable build's
    /// results bit for bit: the same operations in the same order (spec/layers/winograd.md,
    /// WINO-5). Both tiles, several blocks, a pad and partial edge tiles.
    #[test]
    fn dispatched_build_is_bit_identical_to_the_portable_one() {
        for tile in [Tile::F2, Tile::F4] {
            let (rows, cols, n, h, w) = (9, 7, 3, 61, 45);
            let f = Filters::forward(tile, &random(rows * cols * 9, 4), rows, cols);
            let x = random(n * cols * h * w, 5);
            let p = Planes::forward(&ConvGeometry::new(cols, h, w, rows, 3, 1, 1).unwrap());
            let mut dispatched = vec![f32::NAN; n * rows * h * w];
            let mut portable = vec![f32::NAN; n * rows * h * w];
            correlate(&mut dispatched, &x, n, &f, &p);
            correlate_portable(&mut portable, &x, n, &f, &p);
            let differing = dispatched
                .iter()
                .zip(&portable)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differing, 0, "{tile:?}: values differing in their bits");
        }
    }

    fn conv_pair(g: ConvGeometry, seed: u64) -> (Conv, Conv) {
        let w: Vec<f32> = random(g.out_channels * g.patch_len(), seed)
            .iter()
            .map(|v| v * (2.0 / g.patch_len() as f32).sqrt())
            .collect();
        let b = Some(random(g.out_channels, seed + 1));
        let mut direct = Conv::new(g, w, b);
        direct.algorithm = ConvAlgorithm::Direct;
        let mut wino = direct.clone();
        wino.algorithm = ConvAlgorithm::Winograd;
        (direct, wino)
    }

    /// The transposed correlation (WINO-6) is the direct path's data gradient, pads 0..3.
    #[test]
    fn transpose_is_the_data_gradient() {
        for pad in 0..=3 {
            let g = ConvGeometry::new(6, 7, 9, 5, 3, 1, pad).unwrap();
            let (direct, wino) = conv_pair(g, 3 + pad as u64);
            let dy = random(2 * g.out_len(), 9);
            let (mut want, mut got) = (
                vec![f32::NAN; 2 * g.in_len()],
                vec![f32::NAN; 2 * g.in_len()],
            );
            direct.grad_backward(&mut want, &dy, 2);
            wino.grad_backward(&mut got, &dy, 2);
            let err = relative(&got, &want);
            assert!(err < 1e-5, "pad {pad}: {err:e}");
        }
    }

    /// Many blocks, cut in the middle of tile rows and across frames (the tests above fit in
    /// one): against the direct path. F(4x4)'s forward error on such layers is ~1e-5 of the
    /// largest value (spec/layers/winograd.md, "Error analysis"); 5e-5 leaves a margin.
    #[test]
    fn blocks_split_rows_and_frames() {
        let g = ConvGeometry::new(64, 66, 66, 64, 3, 1, 1).unwrap();
        let (direct, _) = conv_pair(g, 8);
        let x: Vec<f32> = random(2 * g.in_len(), 9)
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        let mut want = vec![0.0f32; 2 * g.out_len()];
        direct.forward(&mut want, &x, 2);
        let b = direct.b.as_ref().unwrap();
        for (plane, &b_o) in want.chunks_exact_mut(66 * 66).zip(b.iter().cycle()) {
            plane.iter_mut().for_each(|v| *v -= b_o);
        }
        for tile in [Tile::F2, Tile::F4] {
            let mut got = vec![f32::NAN; 2 * g.out_len()];
            forward(tile, &g, &direct.w, &mut got, &x, 2);
            let err = relative(&got, &want);
            assert!(err < 5e-5, "{tile:?}: {err:e}");
        }
    }
}
