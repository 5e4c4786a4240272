//! Table 2: temporal localization on rand + GT + rand clips, one detection per clip and
//! signal, scored by the mAP at IoU 0.5, for the known and the unknown length, overall and per
//! GT length. spec/eval.md (EVAL-4, EVAL-5, EVAL-7)

use super::average_precision::{mean_average_precision, per_class_ap, ClassAp, Detection};
use super::detection::TemporalDetection;
use super::variant::Variant;

/// What a detection was localized from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The thresholded GT probability (EVAL-4).
    Probability,
    /// The per-frame sums of a method's maps (LOC-1).
    Sums(Variant),
}

impl Signal {
    pub fn label(self) -> String {
        match self {
            Signal::Probability => "Probability".to_string(),
            Signal::Sums(v) => v.label(),
        }
    }

    pub fn key(self) -> String {
        match self {
            Signal::Probability => "probability".to_string(),
            Signal::Sums(v) => v.key(),
        }
    }
}

/// Whether the GT length is given to the localization (Table 2's top and bottom halves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    Known,
    Unknown,
}

impl Length {
    pub fn name(self) -> &'static str {
        match self {
            Length::Known => "known",
            Length::Unknown => "unknown",
        }
    }
}

/// One clip's detection from one signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipDetection {
    pub signal: Signal,
    pub length: Length,
    pub detection: TemporalDetection,
    /// IoU with the clip's GT segment >= 0.5 (EVAL-5).
    pub correct: bool,
}

/// The detections of one clip and what they are scored against.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipDetections {
    pub class: usize,
    pub segment: (usize, usize),
    pub detections: Vec<ClipDetection>,
}

impl ClipDetections {
    /// Frames in the GT segment.
    pub fn gt_length(&self) -> usize {
        self.segment.1 - self.segment.0 + 1
    }
}

/// GT lengths from `shortest` to `longest` frames, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthBin {
    pub shortest: usize,
    pub longest: usize,
}

impl LengthBin {
    pub fn contains(self, length: usize) -> bool {
        self.shortest <= length && length <= self.longest
    }

    /// "11" or "11-20".
    pub fn label(self) -> String {
        if self.shortest == self.longest {
            self.shortest.to_string()
        } else {
            format!("{}-{}", self.shortest, self.longest)
        }
    }
}

/// The most distinct GT lengths given a row each; beyond, three ranges.
pub const MAX_LENGTH_ROWS: usize = 6;

/// The rows of Table 2 by GT length: one per distinct length when there are at most
/// `MAX_LENGTH_ROWS` (the paper's 11, 41, 65 frames), else three ranges cut at the lengths of
/// the clips a third and two thirds of the way through the sorted lengths (empty ranges
/// dropped). spec/eval.md (EVAL-7)
pub fn length_bins(lengths: &[usize]) -> Vec<LengthBin> {
    let mut sorted = lengths.to_vec();
    sorted.sort_unstable();
    let mut distinct = sorted.clone();
    distinct.dedup();
    if distinct.len() <= MAX_LENGTH_ROWS {
        return distinct
            .into_iter()
            .map(|l| LengthBin {
                shortest: l,
                longest: l,
            })
            .collect();
    }
    let n = sorted.len();
    let first_cut = sorted[n.div_ceil(3) - 1];
    let second_cut = sorted[(2 * n).div_ceil(3) - 1];
    let candidates = [
        (sorted[0], first_cut),
        (first_cut + 1, second_cut),
        (second_cut + 1, sorted[n - 1]),
    ];
    candidates
        .into_iter()
        .filter(|&(a, b)| a <= b && sorted.iter().any(|&l| a <= l && l <= b))
        .map(|(a, b)| {
            // Tighten to the lengths present.
            let inside: Vec<usize> = sorted
                .iter()
                .copied()
                .filter(|&l| a <= l && l <= b)
                .collect();
            LengthBin {
                shortest: inside[0],
                longest: inside[inside.len() - 1],
            }
        })
        .collect()
}

/// One cell of Table 2: a signal's mAP for one length setting over the clips of one GT-length
/// bin (None: all clips).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalizationRow {
    pub signal: Signal,
    pub length: Length,
    pub bin: Option<LengthBin>,
    pub clips: usize,
    /// Detections with IoU >= 0.5.
    pub correct: usize,
    pub per_class: Vec<ClassAp>,
    pub map: Option<f64>,
}

/// Every cell of Table 2 for the clips' detections: for each length setting, each bin (then
/// all clips), each signal in `signals` that has detections for it. spec/eval.md (EVAL-7)
pub fn localization_rows(clips: &[ClipDetections], signals: &[Signal]) -> Vec<LocalizationRow> {
    let lengths: Vec<usize> = clips.iter().map(ClipDetections::gt_length).collect();
    let mut bins: Vec<Option<LengthBin>> = length_bins(&lengths).into_iter().map(Some).collect();
    bins.push(None);
    let mut rows = Vec::new();
    for length in [Length::Known, Length::Unknown] {
        for &bin in &bins {
            for &signal in signals {
                let detections: Vec<(usize, Detection)> = clips
                    .iter()
                    .filter(|c| bin.is_none_or(|b| b.contains(c.gt_length())))
                    .flat_map(|c| {
                        c.detections
                            .iter()
                            .filter(|d| d.signal == signal && d.length == length)
                            .map(|d| {
                                (
                                    c.class,
                                    Detection {
                                        score: d.detection.score,
                                        correct: d.correct,
                                    },
                                )
                            })
                    })
                    .collect();
                if detections.is_empty() {
                    continue;
                }
                let per_class = per_class_ap(&detections);
                rows.push(LocalizationRow {
                    signal,
                    length,
                    bin,
                    clips: detections.len(),
                    correct: detections.iter().filter(|(_, d)| d.correct).count(),
                    map: mean_average_precision(&per_class),
                    per_class,
                });
            }
        }
    }
    rows
}
