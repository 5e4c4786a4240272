//! The caption table (the paper's Table 5 protocol, Sec. 6, on `ebr synth --protocol caption`
//! sets): for every noun of every clip's caption, the spatial pointing game on the frames of
//! the actor it names against that actor's box, for cEB-R and EB-R beside a random point and
//! the frame's centre; and whether the temporal peak of the noun's per-frame sums lies in that
//! actor's frames. Also how well the captioner captions. spec/eval.md (EVAL-14..EVAL-17)

use crate::localize::{peak_point, pointing_hit, temporal_peak, temporal_pointing_hit};
use crate::rng::Rng;

use super::set::FrameTruth;
use super::variant::Variant;

/// The caption table's pointing radius: 0, a hit when the point is inside the box (on its
/// edge included), as the paper's Table 5 states its game ("whether the maximum point in a
/// saliency map is inside the annotated bounding box"). spec/eval.md (EVAL-15)
pub const CAPTION_POINTING_RADIUS: f32 = 0.0;

/// Mixed into the set's seed for the caption table's random points (EVAL-16): "capt" in
/// ASCII, so that they are neither `ebr synth`'s draws nor Table 3's (EVAL-8).
pub const CAPTION_RANDOM_SALT: u64 = 0x6361_7074;

/// The RNG of a set's random points for the caption table: ChaCha8 (src/rng.rs) seeded with
/// `seed ^ CAPTION_RANDOM_SALT`. spec/eval.md (EVAL-16)
pub fn caption_random_points(seed: u64) -> Rng {
    Rng::new(seed ^ CAPTION_RANDOM_SALT)
}

/// A pixel drawn uniformly from a frame of `frame_size` [height, width]: row first, then
/// column. spec/eval.md (EVAL-16)
pub fn random_pixel(rng: &mut Rng, frame_size: [usize; 2]) -> (f32, f32) {
    let row = rng.below(frame_size[0]);
    let col = rng.below(frame_size[1]);
    (row as f32, col as f32)
}

/// The centre of a frame of `frame_size` [height, width] in pixel coordinates (pixel (i, j)
/// at the point (i, j)): ((H - 1) / 2, (W - 1) / 2), (31.5, 31.5) for 64 x 64.
/// spec/eval.md (EVAL-16)
pub fn frame_centre(frame_size: [usize; 2]) -> (f32, f32) {
    (
        (frame_size[0] as f32 - 1.0) / 2.0,
        (frame_size[1] as f32 - 1.0) / 2.0,
    )
}

/// The frames of `segment` (inclusive) that show `class` and have a box: the frames of the
/// spatial pointing game for a noun naming that actor. spec/eval.md (EVAL-15)
pub fn noun_frames(truths: &[FrameTruth], segment: (usize, usize), class: usize) -> Vec<usize> {
    (segment.0..=segment.1.min(truths.len().saturating_sub(1)))
        .filter(|&t| truths[t].class == class && truths[t].region.is_some())
        .collect()
}

/// Hits of the points `point(t)` on the boxes of `frames` (radius `radius`, LOC-6).
/// spec/eval.md (EVAL-15, EVAL-16)
pub fn point_hits(
    truths: &[FrameTruth],
    frames: &[usize],
    radius: f32,
    mut point: impl FnMut(usize) -> (f32, f32),
) -> usize {
    frames
        .iter()
        .filter(|&&t| {
            let region = truths[t]
                .region
                .as_ref()
                .expect("noun_frames keeps boxed frames");
            pointing_hit(point(t), region, radius)
        })
        .count()
}

/// The peak point (LOC-5) of frame t's map of `maps` (T, h, w), in the frame of `frame_size`.
/// spec/eval.md (EVAL-15)
pub fn map_peak(
    maps: &[f32],
    map_size: [usize; 2],
    frame_size: [usize; 2],
    t: usize,
) -> (f32, f32) {
    let [h, w] = map_size;
    let (row, col) = peak_point(
        &maps[t * h * w..(t + 1) * h * w],
        h,
        w,
        frame_size[0],
        frame_size[1],
    );
    (row as f32, col as f32)
}

/// Whether the temporal peak (LOC-2) of the per-frame sums lies in the noun's actor's frames
/// (LOC-7). spec/eval.md (EVAL-17)
pub fn peak_in_segment(sums: &[f32], segment: (usize, usize)) -> bool {
    temporal_pointing_hit(temporal_peak(sums), segment)
}

/// Where a row of the caption table comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptionPointer {
    /// EVAL-16: a random pixel per frame, a random frame per noun.
    Random,
    /// EVAL-16: the frame's centre (spatial only).
    Centre,
    /// EVAL-15, EVAL-17: the peak of the noun's map, and of its per-frame sums.
    Method(Variant),
}

impl CaptionPointer {
    pub fn label(self) -> String {
        match self {
            CaptionPointer::Random => "Random".to_string(),
            CaptionPointer::Centre => "Center".to_string(),
            CaptionPointer::Method(v) => v.label(),
        }
    }

    pub fn key(self) -> String {
        match self {
            CaptionPointer::Random => "random".to_string(),
            CaptionPointer::Centre => "center".to_string(),
            CaptionPointer::Method(v) => v.key(),
        }
    }

    /// The centre has no temporal point.
    pub fn temporal(self) -> bool {
        !matches!(self, CaptionPointer::Centre)
    }
}

/// Hits and totals of one pointer: over the frames (spatial) and over the nouns (temporal),
/// also per noun word and per place of the noun in the caption (first, second, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionScore {
    pub pointer: CaptionPointer,
    pub spatial_hits: usize,
    pub frames: usize,
    pub temporal_hits: usize,
    pub nouns: usize,
    /// (word, spatial hits, frames, temporal hits, nouns), in the order words were first met.
    pub per_word: Vec<(String, usize, usize, usize, usize)>,
    /// (place of the noun among the caption's nouns, 0 first), same counts.
    pub per_place: Vec<(usize, usize, usize, usize, usize)>,
}

impl CaptionScore {
    pub fn new(pointer: CaptionPointer) -> CaptionScore {
        CaptionScore {
            pointer,
            spatial_hits: 0,
            frames: 0,
            temporal_hits: 0,
            nouns: 0,
            per_word: Vec::new(),
            per_place: Vec::new(),
        }
    }

    /// Adds one noun: its spatial hits over `frames` frames and its temporal hit (None for a
    /// pointer without a temporal point).
    pub fn add(
        &mut self,
        word: &str,
        place: usize,
        hits: usize,
        frames: usize,
        temporal: Option<bool>,
    ) {
        let t = temporal.map_or(0, usize::from);
        let n = usize::from(temporal.is_some());
        self.spatial_hits += hits;
        self.frames += frames;
        self.temporal_hits += t;
        self.nouns += n;
        let w = match self.per_word.iter().position(|e| e.0 == word) {
            Some(i) => i,
            None => {
                self.per_word.push((word.to_string(), 0, 0, 0, 0));
                self.per_word.len() - 1
            }
        };
        let e = &mut self.per_word[w];
        (e.1, e.2, e.3, e.4) = (e.1 + hits, e.2 + frames, e.3 + t, e.4 + n);
        let p = match self.per_place.iter().position(|e| e.0 == place) {
            Some(i) => i,
            None => {
                self.per_place.push((place, 0, 0, 0, 0));
                self.per_place.sort_by_key(|e| e.0);
                self.per_place
                    .iter()
                    .position(|e| e.0 == place)
                    .expect("pushed")
            }
        };
        let e = &mut self.per_place[p];
        (e.1, e.2, e.3, e.4) = (e.1 + hits, e.2 + frames, e.3 + t, e.4 + n);
    }
}

/// How the captioner captions the set's clips (EVAL-14).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaptioningScore {
    pub clips: usize,
    /// Teacher forcing: steps whose word of largest logit is the caption's (the end token
    /// after the last word included), and the steps.
    pub teacher_right: usize,
    pub teacher_steps: usize,
    /// Teacher forcing: nouns right at their step, and nouns.
    pub teacher_nouns_right: usize,
    pub nouns: usize,
    /// Greedy captions equal to the set's.
    pub greedy_exact: usize,
    /// Greedy captions that name every noun of the set's caption (in any order, anywhere).
    pub greedy_names_nouns: usize,
}
