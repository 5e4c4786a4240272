//! The spatial pointing game over a clip's frames (Table 1): each annotated frame's peak
//! point (LOC-5) against the actor's box (LOC-6), with the paper's radius scaled to the
//! frame. spec/eval.md (EVAL-2, EVAL-3)

use crate::localize::{peak_point, pointing_hit, POINTING_RADIUS_224};

use super::set::FrameTruth;

/// The pointing radius for frames of `height` x `width` pixels: the paper's 7.5 px at 224 px
/// scaled by the frame's side (`sqrt(height * width)` for a frame that is not square): 2.14 px
/// at 64 px. spec/eval.md (EVAL-2)
pub fn pointing_radius(height: usize, width: usize) -> f32 {
    let side = ((height * width) as f64).sqrt();
    (POINTING_RADIUS_224 as f64 * side / 224.0) as f32
}

/// Hits and annotated frames of one clip: a frame counts when it shows `class` and has a box;
/// it is a hit when the peak point of its map (`maps`: (T, h, w), upsampled to the frame of
/// `frame_size` [height, width]) lies within `radius` of the box. spec/eval.md (EVAL-3)
pub fn clip_hits(
    maps: &[f32],
    map_size: [usize; 2],
    frame_size: [usize; 2],
    truths: &[FrameTruth],
    class: usize,
    radius: f32,
) -> (usize, usize) {
    let [h, w] = map_size;
    assert_eq!(
        maps.len(),
        truths.len() * h * w,
        "clip_hits: maps are (T, h, w) with T = {}",
        truths.len()
    );
    let mut hits = 0;
    let mut frames = 0;
    for (t, truth) in truths.iter().enumerate() {
        let region = match (&truth.region, truth.class == class) {
            (Some(region), true) => region,
            _ => continue,
        };
        let map = &maps[t * h * w..(t + 1) * h * w];
        let (row, col) = peak_point(map, h, w, frame_size[0], frame_size[1]);
        frames += 1;
        if pointing_hit((row as f32, col as f32), region, radius) {
            hits += 1;
        }
    }
    (hits, frames)
}
