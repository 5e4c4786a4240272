//! The two resizers, each with its own reason:
//! - `resize_bilinear` for frames: the demo's preprocessing (skimage's order-1 resize), so that
//!   ebr's input is the original's to the bit (spec/preprocess.md, PRE-2);
//! - `resize_bicubic` for saliency maps: drawing and the pointing game's peak point, with a
//!   cubic a porter can reproduce to the pixel (spec/render.md, REN-2; spec/localize.md, LOC-5).
//!
//! Bicubic resizing of a saliency map: separable cubic convolution (Keys, a = -0.5, also called
//! Catmull-Rom), pixel centres at half-integers, edge pixels replicated, no anti-aliasing.
//!
//! This is ebr's definition of "bicubic". The original demo drew with skimage's
//! `resize(order=3, mode='nearest')`, a cubic *spline* interpolation, which is not the same
//! function: drawings look alike, but the peak point of the pointing game (LOC-5) needs a
//! definition a porter can reproduce to the pixel, and cubic convolution is that definition.

/// Keys's cubic convolution parameter. a = -0.5 makes the kernel reproduce straight lines
/// (away from the edges) and is the common "bicubic" of image libraries.
pub const KEYS_A: f64 = -0.5;

/// The cubic convolution kernel `W(x)` (Keys 1981) with `a = KEYS_A`:
///
/// ```text
/// W(x) = (a + 2)|x|^3 - (a + 3)|x|^2 + 1            for |x| <= 1
///        a|x|^3 - 5a|x|^2 + 8a|x| - 4a              for 1 < |x| < 2
///        0                                          otherwise
/// ```
///
/// W(0) = 1 and W(1) = W(2) = 0 exactly, so sampling at a source pixel centre returns that
/// pixel. spec/render.md (REN-2)
pub fn cubic_weight(x: f64) -> f64 {
    let a = KEYS_A;
    let x = x.abs();
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

/// For every output position along one axis of length `size_out` resampled from `size_in`
/// (both > 0), its four taps: (source index, weight), indices clamped to [0, size_in - 1].
///
/// The source coordinate of output `dst` is `src = (dst + 0.5) * (size_in / size_out) - 0.5`
/// (pixel centres at half-integers); with `i0 = floor(src)` and `t = src - i0` the taps are
/// `i0 - 1, i0, i0 + 1, i0 + 2` with weights `W(t + 1), W(t), W(1 - t), W(2 - t)`.
/// spec/render.md (REN-2)
fn cubic_taps(size_in: usize, size_out: usize) -> Vec<[(usize, f64); 4]> {
    let scale = size_in as f64 / size_out as f64;
    let last = size_in as i64 - 1;
    let mut all = Vec::with_capacity(size_out);
    for dst in 0..size_out {
        let src = (dst as f64 + 0.5) * scale - 0.5;
        let i0 = src.floor();
        let t = src - i0;
        let i0 = i0 as i64;
        let mut four = [(0usize, 0.0f64); 4];
        for (k, tap) in four.iter_mut().enumerate() {
            // k = 0..3: source index i0 - 1 + k, at distance t + 1 - k from src
            let index = (i0 - 1 + k as i64).clamp(0, last) as usize;
            let weight = cubic_weight(t + 1.0 - k as f64);
            *tap = (index, weight);
        }
        all.push(four);
    }
    all
}

/// `map` (h, w) resized to (out_h, out_w) by separable cubic convolution: first along every
/// row (giving (h, out_w)), then along every column. Sums and the intermediate are f64; the
/// result is rounded to f32 once at the end. No clamping: the result may overshoot the input's
/// range near sharp edges (the drawing clamps, REN-2; the peak point does not, LOC-5).
///
/// Taps of weight 0 are skipped, so that resizing to the same size is the identity even for
/// non-finite values (0 * inf would be NaN); a constant map stays constant (to rounding). An empty output size gives an empty vector; an empty map (h or w = 0) with a
/// non-empty output gives zeros (there is nothing to sample). Panics if `map.len() != h * w`
/// (a programmer error). spec/render.md (REN-2)
pub fn resize_bicubic(map: &[f32], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    assert_eq!(
        map.len(),
        h * w,
        "resize_bicubic: map has {} values, expected (h={h}, w={w})",
        map.len()
    );
    if out_h == 0 || out_w == 0 {
        return Vec::new();
    }
    if h == 0 || w == 0 {
        return vec![0.0; out_h * out_w];
    }
    let columns = cubic_taps(w, out_w); // out_w x 4 taps into a row
    let rows = cubic_taps(h, out_h); // out_h x 4 taps into a column

    // 1. along every row: across (h, out_w)
    let mut across = vec![0.0f64; h * out_w];
    for i in 0..h {
        for j in 0..out_w {
            let mut sum = 0.0f64;
            for &(k, weight) in &columns[j] {
                if weight != 0.0 {
                    sum += weight * map[i * w + k] as f64;
                }
            }
            across[i * out_w + j] = sum;
        }
    }

    // 2. along every column: out (out_h, out_w)
    let mut out = vec![0.0f32; out_h * out_w];
    for i in 0..out_h {
        for j in 0..out_w {
            let mut sum = 0.0f64;
            for &(k, weight) in &rows[i] {
                if weight != 0.0 {
                    sum += weight * across[k * out_w + j];
                }
            }
            out[i * out_w + j] = sum as f32;
        }
    }
    out
}

/// The two source samples and the weight of the second, for each output position along one
/// axis of a bilinear resize from `in_len` to `out_len`.
struct BilinearTaps {
    first: Vec<usize>,
    second: Vec<usize>,
    t: Vec<f64>,
}

/// spec/preprocess.md (PRE-2) along one axis: s = (d + 0.5) * in / out - 0.5 clamped to
/// [0, in - 1]; samples floor(s) and floor(s) + 1 (clamped), weight of the second s - floor(s).
fn bilinear_taps(in_len: usize, out_len: usize) -> BilinearTaps {
    let ratio = in_len as f64 / out_len as f64;
    let last = (in_len - 1) as f64;
    let mut taps = BilinearTaps {
        first: Vec::with_capacity(out_len),
        second: Vec::with_capacity(out_len),
        t: Vec::with_capacity(out_len),
    };
    for d in 0..out_len {
        let s = ((d as f64 + 0.5) * ratio - 0.5).clamp(0.0, last);
        let first = s.floor() as usize;
        taps.first.push(first);
        taps.second.push((first + 1).min(in_len - 1));
        taps.t.push(s - first as f64);
    }
    taps
}

/// skimage.transform.resize(x, out_size, order=1, mode='nearest') without anti-aliasing, on
/// each of the `planes` planes of `x` (planes, in_h, in_w); returns (planes, out_h, out_w).
/// Bilinear with pixel centres at half-integers; positions past the edge take the edge value.
/// Sizes must be >= 1. spec/preprocess.md (PRE-2)
pub fn resize_bilinear(
    x: &[f64],
    planes: usize,
    in_size: [usize; 2],
    out_size: [usize; 2],
) -> Vec<f64> {
    let (in_h, in_w) = (in_size[0], in_size[1]);
    let (out_h, out_w) = (out_size[0], out_size[1]);
    assert!(
        in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0,
        "resize_bilinear: sizes {in_size:?} -> {out_size:?} must be >= 1"
    );
    assert_eq!(
        x.len(),
        planes * in_h * in_w,
        "resize_bilinear: x has {} values, expected {planes} x {in_h} x {in_w}",
        x.len()
    );
    let rows = bilinear_taps(in_h, out_h);
    let cols = bilinear_taps(in_w, out_w);
    let mut y = vec![0.0f64; planes * out_h * out_w]; // (K, out_h, out_w)
    for k in 0..planes {
        let plane = &x[k * in_h * in_w..(k + 1) * in_h * in_w];
        for i in 0..out_h {
            let (r0, r1, ty) = (rows.first[i], rows.second[i], rows.t[i]);
            for j in 0..out_w {
                let (c0, c1, tx) = (cols.first[j], cols.second[j], cols.t[j]);
                let top = (1.0 - tx) * plane[r0 * in_w + c0] + tx * plane[r0 * in_w + c1];
                let bottom = (1.0 - tx) * plane[r1 * in_w + c0] + tx * plane[r1 * in_w + c1];
                y[(k * out_h + i) * out_w + j] = (1.0 - ty) * top + ty * bottom;
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_values_by_hand() {
        // |x| <= 1: 1.5|x|^3 - 2.5|x|^2 + 1;  1 < |x| < 2: -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2
        assert_eq!(cubic_weight(0.0), 1.0);
        assert_eq!(cubic_weight(1.0), 0.0);
        assert_eq!(cubic_weight(2.0), 0.0);
        assert_eq!(cubic_weight(-3.0), 0.0);
        // 1.5/64 - 2.5/16 + 1 = 0.0234375 - 0.15625 + 1
        assert_eq!(cubic_weight(0.25), 0.8671875);
        // 1.5 * 27/64 - 2.5 * 9/16 + 1 = 0.6328125 - 1.40625 + 1
        assert_eq!(cubic_weight(-0.75), 0.2265625);
        // -0.5 * 125/64 + 2.5 * 25/16 - 5 + 2 = -0.9765625 + 3.90625 - 3
        assert_eq!(cubic_weight(1.25), -0.0703125);
        // -0.5 * 343/64 + 2.5 * 49/16 - 7 + 2 = -2.6796875 + 7.65625 - 5
        assert_eq!(cubic_weight(1.75), -0.0234375);
        // The four weights of t = 0.25 sum to 1.
        let sum = cubic_weight(1.25) + cubic_weight(0.25) + cubic_weight(0.75) + cubic_weight(1.75);
        assert_eq!(sum, 1.0);
    }

    #[test]
    fn same_size_is_the_identity() {
        let map: Vec<f32> = (0..12).map(|v| (v as f32 * 0.37).sin() * 5.0).collect();
        assert_eq!(resize_bicubic(&map, 3, 4, 3, 4), map);
        assert_eq!(resize_bicubic(&[-2.5], 1, 1, 1, 1), vec![-2.5]);
        // zero-weight taps are skipped: a NaN or an infinity stays where it is
        let odd = [f32::INFINITY, 1.0, 2.0, 3.0];
        assert_eq!(resize_bicubic(&odd, 2, 2, 2, 2), odd);
        let with_nan = resize_bicubic(&[f32::NAN, 1.0], 1, 2, 1, 2);
        assert!(with_nan[0].is_nan() && with_nan[1] == 1.0);
    }

    #[test]
    fn a_constant_stays_constant() {
        let map = vec![0.3f32; 5 * 7];
        for &(out_h, out_w) in &[(5, 7), (11, 3), (224, 224), (2, 13)] {
            let out = resize_bicubic(&map, 5, 7, out_h, out_w);
            assert_eq!(out.len(), out_h * out_w);
            for (index, &v) in out.iter().enumerate() {
                assert!(
                    (v - 0.3).abs() <= 1e-7,
                    "({out_h}, {out_w}) index {index}: {v}"
                );
            }
        }
        // 1x1 to anything: every tap is the one pixel.
        assert_eq!(resize_bicubic(&[4.0], 1, 1, 2, 3), vec![4.0; 6]);
    }

    #[test]
    fn ramp_upsampled_twice_by_hand() {
        // A (1, 4) ramp [0, 1, 2, 3] to (2, 8). Vertically the one row is replicated (every
        // tap clamps to row 0, weights sum to 1). Horizontally scale = 4/8 = 0.5 and
        // src = (j + 0.5) * 0.5 - 0.5 = j/2 - 0.25: -0.25, 0.25, 0.75, ..., 3.25.
        // Weights (kernel_values_by_hand): t = 0.25 -> W(1.25), W(0.25), W(0.75), W(1.75)
        //   = -0.0703125, 0.8671875, 0.2265625, -0.0234375;
        // t = 0.75 -> W(1.75), W(0.75), W(0.25), W(1.25)
        //   = -0.0234375, 0.2265625, 0.8671875, -0.0703125.
        // j=0: src -0.25, i0 = -1, t = 0.75, taps -2..1 -> values 0, 0, 0, 1: -0.0703125
        // j=1: src  0.25, i0 = 0, t = 0.25, taps -1..2 -> 0, 0, 1, 2:
        //      0.2265625 - 2 * 0.0234375 = 0.1796875
        // j=2: src  0.75, i0 = 0, t = 0.75, taps -1..2 -> 0, 0, 1, 2:
        //      0.8671875 - 2 * 0.0703125 = 0.7265625
        // j=3: src  1.25, taps 0..3 -> 0, 1, 2, 3:
        //      0.8671875 + 2 * 0.2265625 - 3 * 0.0234375 = 1.25 (the line, away from edges)
        // j=4: src  1.75, taps 0..3: 0.2265625 + 2 * 0.8671875 - 3 * 0.0703125 = 1.75
        // j=5..7 mirror j=2..0 about 1.5: 3 - 0.7265625, 3 - 0.1796875, 3 + 0.0703125.
        // The edge replication bends the line near both edges (the clamped tap is not the
        // line's continuation) and overshoots the input's range at j = 0 and j = 7.
        let row = [
            -0.0703125, 0.1796875, 0.7265625, 1.25, 1.75, 2.2734375, 2.8203125, 3.0703125,
        ];
        let out = resize_bicubic(&[0.0, 1.0, 2.0, 3.0], 1, 4, 2, 8);
        let want: Vec<f32> = row.iter().chain(row.iter()).copied().collect();
        assert_eq!(out, want);
    }

    #[test]
    fn downsampling_samples_without_anti_aliasing() {
        // (1, 4) to (1, 2): scale 2, src = (j + 0.5) * 2 - 0.5 = 0.5, 2.5; t = 0.5, weights
        // W(1.5), W(0.5), W(0.5), W(1.5) = -0.0625, 0.5625, 0.5625, -0.0625.
        // j=0: taps -1..2 -> 0, 0, 1, 2: 0.5625 - 0.125 = 0.4375
        // j=1: taps 1..4 -> 1, 2, 3, 3: -0.0625 + 1.125 + 1.6875 - 0.1875 = 2.5625
        assert_eq!(cubic_weight(1.5), -0.0625);
        assert_eq!(cubic_weight(0.5), 0.5625);
        let out = resize_bicubic(&[0.0, 1.0, 2.0, 3.0], 1, 4, 1, 2);
        assert_eq!(out, vec![0.4375, 2.5625]);
    }

    #[test]
    fn resizing_is_separable_and_symmetric() {
        // A (2, 3) map transposed, resized, transposed back equals the map resized directly
        // (the row pass and the column pass are the same operation).
        let map = [1.0f32, -2.0, 0.5, 3.0, 0.0, 4.0];
        let transposed = [1.0f32, 3.0, -2.0, 0.0, 0.5, 4.0]; // (3, 2)
        let direct = resize_bicubic(&map, 2, 3, 5, 7);
        let via = resize_bicubic(&transposed, 3, 2, 7, 5); // (7, 5)
        for i in 0..5 {
            for j in 0..7 {
                let a = direct[i * 7 + j];
                let b = via[j * 5 + i];
                assert!((a - b).abs() <= 1e-6, "({i}, {j}): {a} vs {b}");
            }
        }
    }

    #[test]
    fn empty_sizes_do_not_panic() {
        assert_eq!(resize_bicubic(&[], 0, 0, 0, 0), Vec::<f32>::new());
        assert_eq!(resize_bicubic(&[1.0, 2.0], 1, 2, 0, 5), Vec::<f32>::new());
        assert_eq!(resize_bicubic(&[], 0, 3, 2, 2), vec![0.0; 4]);
        assert_eq!(resize_bicubic(&[], 3, 0, 1, 1), vec![0.0]);
    }

    #[test]
    #[should_panic(expected = "resize_bicubic: map has 3 values, expected (h=2, w=2)")]
    fn a_wrong_length_is_a_programmer_error() {
        resize_bicubic(&[1.0, 2.0, 3.0], 2, 2, 4, 4);
    }
}
