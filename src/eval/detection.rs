//! One temporal detection per clip from a per-frame signal, as the paper localizes (Sec. 4.1,
//! 5.2): the best window of the known length, or the segment grown around the peak; scored
//! for ranking. spec/eval.md (EVAL-5)

use crate::localize::{iou, known_length_window, unknown_length_segment};

/// The IoU at or above which a detection matches the clip's GT segment (Table 2: alpha = 0.5).
pub const IOU_THRESHOLD: f32 = 0.5;

/// A detected segment (inclusive frames) and its scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TemporalDetection {
    pub segment: (usize, usize),
    /// The signal's own score (EVAL-5).
    pub score: f64,
    /// The score common to every signal: the mean GT probability over the segment (EVAL-6);
    /// NaN where the model has no probability per frame.
    pub common_score: f64,
}

/// The mean of `values` over the inclusive `segment`, in f64.
pub fn segment_mean(values: &[f32], segment: (usize, usize)) -> f64 {
    let part = &values[segment.0..=segment.1];
    part.iter().map(|&v| v as f64).sum::<f64>() / part.len() as f64
}

/// The detection of a clip from `signal` (T): with `length` Some(L), the window of L frames
/// with the largest sum (LOC-4); with None, the segment grown around the peak while the sums
/// are not negative (LOC-3). Its score is the mean of `score_signal` (T) over the segment.
/// The common score is left NaN (`with_common_score` sets it). None only when L is 0 or
/// longer than the clip. spec/eval.md (EVAL-5)
pub fn detect(
    signal: &[f32],
    score_signal: &[f32],
    length: Option<usize>,
) -> Option<TemporalDetection> {
    assert_eq!(
        signal.len(),
        score_signal.len(),
        "detect: the signal and the score signal cover the same frames"
    );
    let segment = match length {
        Some(l) => known_length_window(signal, l)?,
        None => unknown_length_segment(signal),
    };
    Some(TemporalDetection {
        segment,
        score: segment_mean(score_signal, segment),
        common_score: f64::NAN,
    })
}

/// `detection` with its common score: the mean of the GT probability `p` (T) over its segment.
/// spec/eval.md (EVAL-6)
pub fn with_common_score(detection: TemporalDetection, p: &[f32]) -> TemporalDetection {
    TemporalDetection {
        common_score: segment_mean(p, detection.segment),
        ..detection
    }
}

/// True if `segment` matches the ground truth: IoU >= 0.5 (LOC-8). spec/eval.md (EVAL-5)
pub fn matches(segment: (usize, usize), truth: (usize, usize)) -> bool {
    iou(segment, truth) >= IOU_THRESHOLD
}
