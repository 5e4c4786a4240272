//! Temporal and spatial localization from a clip's saliency maps (paper Sec. 4.1 and 5.1-5.2):
//! the per-frame sums, the temporal peak, the unknown-length segment, the known-length window,
//! the peak point of a frame, the spatial and temporal pointing games and the temporal IoU.
//! spec/localize.md
//!
//! Frames are 0-based and segments are inclusive: `(start, end)` covers frames
//! `start, start + 1, ..., end`. Points are `(row, col)` in pixels of the model's input frame.
//!
#![doc = include_str!("../spec/localize.md")]

use crate::resize::resize_bicubic;

/// `S_t = sum_{i,j} maps[t, i, j]` for every frame t of `maps` (frames, H*W), accumulated in
/// f64 and rounded to f32. `frames == 0` with an empty `maps` gives no sums. Panics if `maps`
/// does not split into `frames` equal maps (a programmer error). spec/localize.md (LOC-1)
pub fn frame_sums(maps: &[f32], frames: usize) -> Vec<f32> {
    if frames == 0 {
        assert!(
            maps.is_empty(),
            "frame_sums: {} values for 0 frames",
            maps.len()
        );
        return Vec::new();
    }
    assert!(
        maps.len().is_multiple_of(frames),
        "frame_sums: {} values do not split into {frames} frames",
        maps.len()
    );
    let size = maps.len() / frames; // H*W
    let mut sums = Vec::with_capacity(frames);
    for t in 0..frames {
        let mut s_t = 0.0f64;
        for &v in &maps[t * size..(t + 1) * size] {
            s_t += v as f64;
        }
        sums.push(s_t as f32);
    }
    sums
}

/// The frame with the largest sum, `argmax_t S_t`, the first one on ties. NaN sums are never
/// the peak (unless every sum is NaN: then frame 0). Panics on an empty `sums` (a clip has at
/// least one frame; the loaders refuse empty clips). spec/localize.md (LOC-2)
pub fn temporal_peak(sums: &[f32]) -> usize {
    assert!(!sums.is_empty(), "temporal_peak: no frames (T = 0)");
    let mut peak = 0;
    for t in 1..sums.len() {
        // `>` keeps the first of equal sums; the NaN test lets a number replace a NaN first.
        if sums[t] > sums[peak] || (sums[peak].is_nan() && !sums[t].is_nan()) {
            peak = t;
        }
    }
    peak
}

/// The detection when the action's length is unknown (paper Sec. 4.1): anchor at the temporal
/// peak (LOC-2), then grow the segment one frame at a time in each direction, independently,
/// while the next frame's sum is not negative (`S >= 0`; a zero sum joins, a NaN stops).
/// Returns the inclusive `(start, end)`. Panics on an empty `sums` (as `temporal_peak`).
/// spec/localize.md (LOC-3)
pub fn unknown_length_segment(sums: &[f32]) -> (usize, usize) {
    let anchor = temporal_peak(sums);
    let mut start = anchor;
    while start > 0 && sums[start - 1] >= 0.0 {
        start -= 1;
    }
    let mut end = anchor;
    while end + 1 < sums.len() && sums[end + 1] >= 0.0 {
        end += 1;
    }
    (start, end)
}

/// The detection when the action's length `length` (L) is known: the L consecutive frames
/// whose sums add up to the most, the first such window on ties. Each window's total is
/// summed afresh in f64 (no running sum, so equal windows compare equal); a window with a NaN
/// sum never wins (if all do, the first window). Returns the inclusive
/// `(start, start + L - 1)`, or None if L is 0 or longer than the clip.
/// spec/localize.md (LOC-4)
pub fn known_length_window(sums: &[f32], length: usize) -> Option<(usize, usize)> {
    if length == 0 || length > sums.len() {
        return None;
    }
    let mut best: Option<(usize, f64)> = None; // (start, total)
    for start in 0..=sums.len() - length {
        let mut total = 0.0f64;
        for &s_t in &sums[start..start + length] {
            total += s_t as f64;
        }
        if total.is_nan() {
            continue;
        }
        // `<=` keeps the first of equal windows.
        match best {
            Some((_, largest)) if total <= largest => {}
            _ => best = Some((start, total)),
        }
    }
    let best_start = best.map_or(0, |(start, _)| start);
    Some((best_start, best_start + length - 1))
}

/// The peak point of one frame's signed map `map` (h, w): the `(row, col)` of the largest
/// value of the map resized by `resize_bicubic` (REN-2) to the model's input frame
/// (out_h, out_w), the first in row-major order on ties. The map is not clipped or
/// normalized (neither changes where the maximum is, except that clipping could create
/// ties). NaN values are skipped; an empty output frame or an all-NaN map gives (0, 0).
/// Panics if `map.len() != h * w` (a programmer error). spec/localize.md (LOC-5)
pub fn peak_point(map: &[f32], h: usize, w: usize, out_h: usize, out_w: usize) -> (usize, usize) {
    let upsampled = resize_bicubic(map, h, w, out_h, out_w); // (out_h, out_w)
    let mut best: Option<(usize, f32)> = None;
    for (index, &v) in upsampled.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        match best {
            Some((_, largest)) if v <= largest => {}
            _ => best = Some((index, v)),
        }
    }
    match best {
        Some((index, _)) => (index / out_w, index % out_w),
        None => (0, 0),
    }
}

/// A ground-truth box in pixel coordinates of the model's input frame, inclusive of its
/// edges: it covers the points (row, col) with `top <= row <= bottom` and
/// `left <= col <= right`. A box with `bottom < top` or `right < left` is empty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxRegion {
    pub top: f32,
    pub left: f32,
    pub bottom: f32,
    pub right: f32,
}

/// The pointing game's radius in pixels at a 224-pixel input: the paper's circle of 15 px
/// diameter (Sec. 5.1, after Zhang et al.).
pub const POINTING_RADIUS_224: f32 = 7.5;

/// The spatial pointing game for one frame: a hit if the circle of `radius` around `point`
/// (row, col) intersects `region`, that is, if the distance from the point to the box is at
/// most `radius` (a point inside the box is at distance 0). Distances in f64. An empty box, a
/// negative radius or a NaN coordinate is a miss. spec/localize.md (LOC-6)
pub fn pointing_hit(point: (f32, f32), region: &BoxRegion, radius: f32) -> bool {
    let (row, col) = (point.0 as f64, point.1 as f64);
    let (top, left) = (region.top as f64, region.left as f64);
    let (bottom, right) = (region.bottom as f64, region.right as f64);
    if !(top <= bottom && left <= right) || row.is_nan() || col.is_nan() {
        return false;
    }
    // Distance along each axis from the point to the box's extent (0 inside it).
    let d_row = (top - row).max(row - bottom).max(0.0);
    let d_col = (left - col).max(col - right).max(0.0);
    let radius = radius as f64;
    // NaN in any term makes the comparison false: a miss.
    radius >= 0.0 && d_row * d_row + d_col * d_col <= radius * radius
}

/// The temporal pointing game for one clip: a hit if the temporal peak `peak` (LOC-2) lies
/// in the ground-truth segment `segment` (inclusive). spec/localize.md (LOC-7)
pub fn temporal_pointing_hit(peak: usize, segment: (usize, usize)) -> bool {
    segment.0 <= peak && peak <= segment.1
}

/// Number of frames of an inclusive segment; 0 for a reversed one (`end < start`).
fn segment_length(segment: (usize, usize)) -> usize {
    if segment.1 >= segment.0 {
        segment.1 - segment.0 + 1
    } else {
        0
    }
}

/// Temporal intersection over union of two inclusive frame segments:
/// `|a ∩ b| / |a ∪ b|` counted in frames. A reversed segment is empty; two empty segments
/// give 0. spec/localize.md (LOC-8)
pub fn iou(a: (usize, usize), b: (usize, usize)) -> f32 {
    let length_a = segment_length(a);
    let length_b = segment_length(b);
    let intersection = if length_a > 0 && length_b > 0 {
        segment_length((a.0.max(b.0), a.1.min(b.1)))
    } else {
        0
    };
    let union = length_a + length_b - intersection;
    if union == 0 {
        0.0
    } else {
        intersection as f32 / union as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/localize.md.
    const S: [f32; 7] = [1.0, -2.0, 3.0, 0.0, 5.0, -1.0, 2.0];

    #[test]
    fn frame_sums_by_hand() {
        // 3 frames of (2, 2): [1, 2, 3, 4] -> 10, [-1, 0.5, 0, 0] -> -0.5, zeros -> 0
        let maps = [1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(frame_sums(&maps, 3), vec![10.0, -0.5, 0.0]);
        assert_eq!(frame_sums(&[], 0), Vec::<f32>::new());
        // Frames of zero pixels sum to 0.
        assert_eq!(frame_sums(&[], 2), vec![0.0, 0.0]);
    }

    #[test]
    fn frame_sums_accumulate_in_f64() {
        // 1e8 + 1 + 1 - 1e8: f32 running sums lose both ones (1e8 + 1 == 1e8 in f32).
        let maps = [1e8f32, 1.0, 1.0, -1e8];
        assert_eq!(frame_sums(&maps, 1), vec![2.0]);
    }

    #[test]
    #[should_panic(expected = "frame_sums: 5 values do not split into 2 frames")]
    fn frame_sums_refuse_uneven_frames() {
        frame_sums(&[0.0; 5], 2);
    }

    #[test]
    fn worked_example() {
        // S = [1, -2, 3, 0, 5, -1, 2]
        // peak: the largest is 5 at t = 4.
        assert_eq!(temporal_peak(&S), 4);
        // grow left from 4: S[3] = 0 >= 0 joins, S[2] = 3 joins, S[1] = -2 stops -> start 2;
        // grow right: S[5] = -1 stops -> end 4.
        assert_eq!(unknown_length_segment(&S), (2, 4));
        // L = 2: windows (0,1) -1, (1,2) 1, (2,3) 3, (3,4) 5, (4,5) 4, (5,6) 1 -> (3, 4)
        assert_eq!(known_length_window(&S, 2), Some((3, 4)));
        // L = 3: 2, 1, 8, 4, 6 -> (2, 4)
        assert_eq!(known_length_window(&S, 3), Some((2, 4)));
        // L = 1 is the peak; L = T is the whole clip; L > T and L = 0 have no window.
        assert_eq!(known_length_window(&S, 1), Some((4, 4)));
        assert_eq!(known_length_window(&S, 7), Some((0, 6)));
        assert_eq!(known_length_window(&S, 8), None);
        assert_eq!(known_length_window(&S, 0), None);
    }

    #[test]
    fn one_frame() {
        assert_eq!(temporal_peak(&[-3.0]), 0);
        assert_eq!(unknown_length_segment(&[-3.0]), (0, 0));
        assert_eq!(known_length_window(&[-3.0], 1), Some((0, 0)));
        assert_eq!(known_length_window(&[-3.0], 2), None);
        assert_eq!(known_length_window(&[], 1), None);
    }

    #[test]
    fn all_negative_sums_give_the_least_negative_frame_alone() {
        let sums = [-4.0, -1.0, -2.0, -0.5, -3.0];
        assert_eq!(temporal_peak(&sums), 3);
        assert_eq!(unknown_length_segment(&sums), (3, 3));
        // L = 2: -5, -3, -2.5, -3.5 -> (2, 3)
        assert_eq!(known_length_window(&sums, 2), Some((2, 3)));
    }

    #[test]
    fn all_non_negative_sums_give_the_whole_clip() {
        assert_eq!(unknown_length_segment(&[0.0, 2.0, 0.0, 1.0]), (0, 3));
        // All zeros: the peak is frame 0 (first of ties) and every zero joins.
        assert_eq!(temporal_peak(&[0.0; 4]), 0);
        assert_eq!(unknown_length_segment(&[0.0; 4]), (0, 3));
    }

    #[test]
    fn ties_go_to_the_first() {
        assert_eq!(temporal_peak(&[1.0, 3.0, 0.0, 3.0]), 1);
        // the segment grows from the first peak (1): S[0] = 1 joins, S[2] = -1 stops
        assert_eq!(unknown_length_segment(&[1.0, 3.0, -1.0, 3.0]), (0, 1));
        // L = 2 windows: 4, 3, 4 -> the first
        assert_eq!(known_length_window(&[1.0, 3.0, 0.0, 4.0], 2), Some((0, 1)));
    }

    #[test]
    fn the_two_directions_grow_independently() {
        // peak 2; left stops at once (S[1] < 0) while right runs to the end
        let sums = [5.0, -0.1, 9.0, 0.0, 1.0];
        assert_eq!(temporal_peak(&sums), 2);
        assert_eq!(unknown_length_segment(&sums), (2, 4));
        // a negative zero is not negative
        assert_eq!(unknown_length_segment(&[-1.0, -0.0, 2.0]), (1, 2));
    }

    #[test]
    fn nan_sums_never_win_and_stop_the_growth() {
        assert_eq!(temporal_peak(&[f32::NAN, 1.0, 2.0]), 2);
        assert_eq!(temporal_peak(&[f32::NAN, f32::NAN]), 0);
        assert_eq!(unknown_length_segment(&[1.0, f32::NAN, 2.0, 1.0]), (2, 3));
        assert_eq!(
            known_length_window(&[f32::NAN, 1.0, 2.0, 0.5], 2),
            Some((1, 2))
        );
        assert_eq!(known_length_window(&[f32::NAN, 1.0], 2), Some((0, 1)));
    }

    #[test]
    #[should_panic(expected = "temporal_peak: no frames (T = 0)")]
    fn an_empty_clip_has_no_peak() {
        temporal_peak(&[]);
    }

    #[test]
    fn peak_point_of_one_hot_pixel() {
        // A 2x2 map with its hot pixel at (1, 0), upsampled to 4x4 (scale 0.5): the output
        // weight of source row 1 in output rows 0..3 (src = -0.25, 0.25, 0.75, 1.25; taps
        // clamped to rows 0, 1; weights from resize.rs's kernel_values_by_hand):
        //   row 0: taps 0,0,0,1 -> W(1.25)                    = -0.0703125
        //   row 1: taps 0,0,1,1 -> W(0.75) + W(1.75)          =  0.203125
        //   row 2: taps 0,0,1,1 -> W(0.25) + W(1.25)          =  0.796875
        //   row 3: taps 0,1,1,1 -> W(0.25) + W(0.75) + W(1.75) = 1.0703125 (overshoot)
        // and of source col 0 in output cols 0..3: 1.0703125, 0.796875, 0.203125, -0.0703125.
        // The product is largest at (3, 0).
        let map = [0.0, 0.0, 1.0, 0.0];
        assert_eq!(peak_point(&map, 2, 2, 4, 4), (3, 0));
        // At the same size it is the pixel itself.
        assert_eq!(peak_point(&map, 2, 2, 2, 2), (1, 0));
        // 14x14 to 224x224, hot pixel (5, 9): the peak is in that pixel's 16x16 block.
        let mut map = vec![0.0f32; 14 * 14];
        map[5 * 14 + 9] = 2.0;
        let (row, col) = peak_point(&map, 14, 14, 224, 224);
        assert!(
            (80..96).contains(&row) && (144..160).contains(&col),
            "{row}, {col}"
        );
        // With a cubic convolution the peak of an isolated pixel is the output nearest its
        // centre: src = (dst + 0.5) / 16 - 0.5 = 5 at dst = 87.5, so rows 87 and 88 tie
        // and the first wins; likewise cols 151, 152 -> 151.
        assert_eq!((row, col), (87, 151));
    }

    #[test]
    fn peak_point_uses_the_signed_map() {
        // The largest value is the least negative one; clipping would make all tie at 0.
        let map = [-3.0, -1.0, -2.0, -4.0];
        assert_eq!(peak_point(&map, 2, 2, 2, 2), (0, 1));
    }

    #[test]
    fn peak_point_ties_and_empty_inputs() {
        assert_eq!(peak_point(&[1.0; 4], 2, 2, 3, 3), (0, 0));
        assert_eq!(peak_point(&[0.0; 9], 3, 3, 224, 224), (0, 0));
        assert_eq!(peak_point(&[1.0], 1, 1, 0, 0), (0, 0));
        assert_eq!(peak_point(&[], 0, 0, 4, 4), (0, 0));
        assert_eq!(peak_point(&[f32::NAN, 1.0], 1, 2, 1, 2), (0, 1));
        assert_eq!(peak_point(&[f32::NAN; 4], 2, 2, 2, 2), (0, 0));
    }

    #[test]
    fn pointing_hits_by_hand() {
        let region = BoxRegion {
            top: 20.0,
            left: 30.0,
            bottom: 60.0,
            right: 90.0,
        };
        let r = POINTING_RADIUS_224;
        // inside, and on the edges (inclusive)
        assert!(pointing_hit((40.0, 50.0), &region, r));
        assert!(pointing_hit((20.0, 30.0), &region, 0.0));
        assert!(pointing_hit((60.0, 90.0), &region, 0.0));
        // 7.5 px above the top edge: distance 7.5 <= 7.5 hit; 7.6 px: miss
        assert!(pointing_hit((12.5, 50.0), &region, r));
        assert!(!pointing_hit((12.4, 50.0), &region, r));
        // right of the right edge by 7.5
        assert!(pointing_hit((40.0, 97.5), &region, r));
        assert!(!pointing_hit((40.0, 97.6), &region, r));
        // off a corner: (3, 4) from (60, 90) is 5 away
        assert!(pointing_hit((64.0, 93.0), &region, 5.0));
        assert!(!pointing_hit((64.0, 93.0), &region, 4.99));
        // (6, 6) off the top-left corner: 8.49 > 7.5, though each axis alone is within 7.5
        assert!(!pointing_hit((14.0, 24.0), &region, r));
    }

    #[test]
    fn pointing_misses_on_degenerate_input() {
        let empty = BoxRegion {
            top: 10.0,
            left: 10.0,
            bottom: 5.0,
            right: 20.0,
        };
        assert!(!pointing_hit((7.0, 15.0), &empty, 100.0));
        let one_pixel = BoxRegion {
            top: 10.0,
            left: 10.0,
            bottom: 10.0,
            right: 10.0,
        };
        assert!(pointing_hit((10.0, 10.0), &one_pixel, 0.0));
        assert!(!pointing_hit((10.0, 10.0), &one_pixel, -1.0));
        assert!(!pointing_hit((f32::NAN, 10.0), &one_pixel, 7.5));
        assert!(!pointing_hit((10.0, 10.0), &one_pixel, f32::NAN));
    }

    #[test]
    fn temporal_pointing_by_hand() {
        assert!(temporal_pointing_hit(4, (2, 4)));
        assert!(temporal_pointing_hit(2, (2, 4)));
        assert!(!temporal_pointing_hit(5, (2, 4)));
        assert!(!temporal_pointing_hit(1, (2, 4)));
        assert!(temporal_pointing_hit(0, (0, 0)));
    }

    #[test]
    fn iou_by_hand() {
        // (2, 4) and (3, 6): frames 3, 4 shared; union 2..6 = 5 frames -> 0.4
        assert_eq!(iou((2, 4), (3, 6)), 0.4);
        assert_eq!(iou((3, 6), (2, 4)), 0.4);
        assert_eq!(iou((2, 4), (2, 4)), 1.0);
        assert_eq!(iou((0, 0), (0, 0)), 1.0);
        // adjacent and disjoint segments share nothing
        assert_eq!(iou((0, 1), (2, 3)), 0.0);
        assert_eq!(iou((0, 1), (5, 9)), 0.0);
        // one inside the other: 3 / 10
        assert_eq!(iou((0, 9), (4, 6)), 0.3);
        // reversed (empty) segments
        assert_eq!(iou((4, 2), (0, 9)), 0.0);
        assert_eq!(iou((4, 2), (5, 1)), 0.0);
    }
}
