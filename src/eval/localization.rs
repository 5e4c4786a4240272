//! Table 2: temporal localization on rand + GT + rand clips, one detection per clip and
//! signal, scored by the mAP at IoU 0.5, for the known and the unknown length, overall and per
//! GT length. spec/eval.md (EVAL-4, EVAL-5, EVAL-7)

use super::average_precision::{mean_average_precision, per_class_ap, ClassAp, Detection};
use super::detection::TemporalDetection;
use super::interval::{bootstrap, Interval};
use super::variant::Variant;
use crate::grounding::Method;

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

/// How a cell's detections are ranked for AP (EVAL-6): by each signal's own score, or by the
/// score common to every signal (the mean GT probability over the detection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ranking {
    Own,
    Common,
}

/// One cell of Table 2: a signal's mAP for one length setting over the clips of one GT-length
/// bin (None: all clips), with its 95% intervals (EVAL-18; None where not computed).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalizationRow {
    pub signal: Signal,
    pub length: Length,
    pub bin: Option<LengthBin>,
    pub clips: usize,
    /// Detections with IoU >= 0.5.
    pub correct: usize,
    pub per_class: Vec<ClassAp>,
    /// The mAP with each signal's own score (EVAL-6).
    pub map: Option<f64>,
    /// The mAP with the common score (EVAL-6).
    pub common_map: Option<f64>,
    pub map_interval: Option<Interval>,
    pub common_map_interval: Option<Interval>,
    /// The interval of the share of clips localized (`localized`).
    pub localized_interval: Option<Interval>,
}

impl LocalizationRow {
    /// The share of the clips whose detection has IoU >= 0.5 (EVAL-7).
    pub fn localized(&self) -> f64 {
        self.correct as f64 / self.clips as f64
    }
}

/// A method's cell minus the probability baseline's on the same clips (EVAL-18): the
/// difference of the mAPs (own scores) and of the shares localized, each with its paired
/// interval.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedDifference {
    pub signal: Signal,
    pub length: Length,
    pub bin: Option<LengthBin>,
    pub map: Option<f64>,
    pub map_interval: Option<Interval>,
    pub localized: f64,
    pub localized_interval: Option<Interval>,
}

/// The (class, detection) pairs of one cell, ranked by `ranking`'s score.
fn cell_detections(
    clips: &[&ClipDetections],
    signal: Signal,
    length: Length,
    bin: Option<LengthBin>,
    ranking: Ranking,
) -> Vec<(usize, Detection)> {
    clips
        .iter()
        .filter(|c| bin.is_none_or(|b| b.contains(c.gt_length())))
        .flat_map(|c| {
            c.detections
                .iter()
                .filter(|d| d.signal == signal && d.length == length)
                .map(|d| {
                    let score = match ranking {
                        Ranking::Own => d.detection.score,
                        Ranking::Common => d.detection.common_score,
                    };
                    (
                        c.class,
                        Detection {
                            score,
                            correct: d.correct,
                        },
                    )
                })
        })
        .collect()
}

/// A cell's mAP (None: no detection, or, for the common score, a score that is not defined).
fn cell_map(detections: &[(usize, Detection)], ranking: Ranking) -> Option<f64> {
    if detections.is_empty()
        || (ranking == Ranking::Common && detections.iter().any(|(_, d)| d.score.is_nan()))
    {
        return None;
    }
    mean_average_precision(&per_class_ap(detections))
}

/// A cell's share of clips localized (None: no detection).
fn cell_localized(detections: &[(usize, Detection)]) -> Option<f64> {
    if detections.is_empty() {
        return None;
    }
    Some(detections.iter().filter(|(_, d)| d.correct).count() as f64 / detections.len() as f64)
}

/// The (length setting, bin) keys of Table 2's lines: the bins of the clips' GT lengths, then
/// all clips, for the known and then the unknown length.
fn table_keys(clips: &[ClipDetections]) -> Vec<(Length, Option<LengthBin>)> {
    let lengths: Vec<usize> = clips.iter().map(ClipDetections::gt_length).collect();
    let mut bins: Vec<Option<LengthBin>> = length_bins(&lengths).into_iter().map(Some).collect();
    bins.push(None);
    [Length::Known, Length::Unknown]
        .into_iter()
        .flat_map(|length| bins.iter().map(move |&bin| (length, bin)))
        .collect()
}

/// Every cell of Table 2 for the clips' detections: for each length setting, each bin (then
/// all clips), each signal in `signals` that has detections for it; without intervals.
/// spec/eval.md (EVAL-7)
pub fn localization_rows(clips: &[ClipDetections], signals: &[Signal]) -> Vec<LocalizationRow> {
    let all: Vec<&ClipDetections> = clips.iter().collect();
    let mut rows = Vec::new();
    for (length, bin) in table_keys(clips) {
        for &signal in signals {
            let detections = cell_detections(&all, signal, length, bin, Ranking::Own);
            if detections.is_empty() {
                continue;
            }
            let common = cell_detections(&all, signal, length, bin, Ranking::Common);
            let per_class = per_class_ap(&detections);
            rows.push(LocalizationRow {
                signal,
                length,
                bin,
                clips: detections.len(),
                correct: detections.iter().filter(|(_, d)| d.correct).count(),
                map: mean_average_precision(&per_class),
                common_map: cell_map(&common, Ranking::Common),
                per_class,
                map_interval: None,
                common_map_interval: None,
                localized_interval: None,
            });
        }
    }
    rows
}

/// Table 2 with intervals (EVAL-18): `localization_rows`, every cell's 95% bootstrap interval
/// (`resamples` resamples of the clips from `seed`), and for every cEB-R signal its paired
/// difference from the probability baseline in every line both have.
pub fn localization_table(
    clips: &[ClipDetections],
    signals: &[Signal],
    seed: u64,
    resamples: usize,
) -> (Vec<LocalizationRow>, Vec<PairedDifference>) {
    let mut rows = localization_rows(clips, signals);
    let has_probability = signals.contains(&Signal::Probability);
    let contrasted: Vec<Signal> = signals
        .iter()
        .copied()
        .filter(|s| matches!(s, Signal::Sums(v) if v.method == Method::Cebr))
        .filter(|_| has_probability)
        .collect();
    let mut pairs: Vec<PairedDifference> = Vec::new();
    for (length, bin) in table_keys(clips) {
        let find = |signal: Signal| {
            rows.iter()
                .find(|r| r.signal == signal && r.length == length && r.bin == bin)
        };
        let Some(baseline) = find(Signal::Probability) else {
            continue;
        };
        for &signal in &contrasted {
            if let Some(row) = find(signal) {
                pairs.push(PairedDifference {
                    signal,
                    length,
                    bin,
                    map: row.map.zip(baseline.map).map(|(a, b)| a - b),
                    map_interval: None,
                    localized: row.localized() - baseline.localized(),
                    localized_interval: None,
                });
            }
        }
    }
    let keys: Vec<(Signal, Length, Option<LengthBin>)> =
        rows.iter().map(|r| (r.signal, r.length, r.bin)).collect();
    let pair_keys: Vec<(Signal, Length, Option<LengthBin>)> =
        pairs.iter().map(|p| (p.signal, p.length, p.bin)).collect();
    let intervals = bootstrap(clips.len(), seed, resamples, &mut |indices| {
        let sample: Vec<&ClipDetections> = indices.iter().map(|&i| &clips[i]).collect();
        let mut stats = Vec::with_capacity(3 * keys.len() + 2 * pair_keys.len());
        let cell = |signal, length, bin| {
            let own = cell_detections(&sample, signal, length, bin, Ranking::Own);
            let common = cell_detections(&sample, signal, length, bin, Ranking::Common);
            (
                cell_map(&own, Ranking::Own),
                cell_map(&common, Ranking::Common),
                cell_localized(&own),
            )
        };
        for &(signal, length, bin) in &keys {
            let (map, common, localized) = cell(signal, length, bin);
            stats.extend([map, common, localized]);
        }
        for &(signal, length, bin) in &pair_keys {
            let (map, _, localized) = cell(signal, length, bin);
            let (base_map, _, base_localized) = cell(Signal::Probability, length, bin);
            stats.push(map.zip(base_map).map(|(a, b)| a - b));
            stats.push(localized.zip(base_localized).map(|(a, b)| a - b));
        }
        stats
    });
    for (k, row) in rows.iter_mut().enumerate() {
        row.map_interval = intervals[3 * k];
        row.common_map_interval = intervals[3 * k + 1];
        row.localized_interval = intervals[3 * k + 2];
    }
    let offset = 3 * rows.len();
    for (k, pair) in pairs.iter_mut().enumerate() {
        pair.map_interval = intervals[offset + 2 * k];
        pair.localized_interval = intervals[offset + 2 * k + 1];
    }
    (rows, pairs)
}
