//! The temporal pointing game's points (Table 3): a random frame, the peak of the GT class's
//! probability, the peak of the cEB-R sums, and the two combined. Each is scored with
//! `temporal_pointing_hit` (LOC-7). spec/eval.md (EVAL-8..EVAL-11)

use super::interval::{bootstrap, Interval};
use crate::localize::{temporal_peak, temporal_pointing_hit};
use crate::rng::Rng;

use super::variant::Variant;

/// Mixed into the set's seed for the random points, so that they are not the generator's own
/// first draws (`ebr synth` may seed its RNG with the same number). "eval" in ASCII.
pub const RANDOM_POINT_SALT: u64 = 0x6576_616c;

/// The RNG of a set's random points: ChaCha8 (src/rng.rs) seeded with
/// `seed ^ RANDOM_POINT_SALT`; one draw per clip in the set's order. spec/eval.md (EVAL-8)
pub fn random_points(seed: u64) -> Rng {
    Rng::new(seed ^ RANDOM_POINT_SALT)
}

/// A frame drawn uniformly from the clip's `frames`. spec/eval.md (EVAL-8)
pub fn random_point(rng: &mut Rng, frames: usize) -> usize {
    rng.below(frames)
}

/// The step where the GT class's probability `p` (T) peaks (LOC-2: the first on ties).
/// spec/eval.md (EVAL-9)
pub fn peak_probability(p: &[f32]) -> usize {
    temporal_peak(p)
}

/// The combination of the probability `p` (T) and the cEB-R sums `sums` (T): the peak of
/// `q_t = p_t * max(S_t, 0) / max_t' max(S_t', 0)`, the frames where the model believes in
/// the class and the evidence for it lies; when no sum is positive (no evidence to weigh by),
/// `q = p`. spec/eval.md (EVAL-11)
pub fn combined_peak(p: &[f32], sums: &[f32]) -> usize {
    assert_eq!(
        p.len(),
        sums.len(),
        "combined_peak: p and S cover the same frames"
    );
    let largest = sums
        .iter()
        .filter(|s| s.is_finite())
        .fold(0.0f32, |m, &s| m.max(s));
    if largest <= 0.0 {
        return temporal_peak(p);
    }
    let q: Vec<f32> = p
        .iter()
        .zip(sums)
        .map(|(&p_t, &s_t)| p_t * (s_t.max(0.0) / largest))
        .collect();
    temporal_peak(&q)
}

/// Where a point of the temporal pointing game comes from (a row of Table 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pointer {
    /// EVAL-8.
    Random,
    /// EVAL-9.
    PeakProbability,
    /// EVAL-10: the peak of a method's sums (cEB-R in the paper).
    Peak(Variant),
    /// EVAL-11: the peak of the probability weighted by the method's positive sums.
    Combined(Variant),
    /// EVAL-11: a hit when the peak probability or the method's peak is one. Not a point: an
    /// upper bound of any combination that picks one of the two peaks.
    Either(Variant),
}

impl Pointer {
    pub fn label(self) -> String {
        match self {
            Pointer::Random => "Random".to_string(),
            Pointer::PeakProbability => "Peak probability".to_string(),
            Pointer::Peak(v) => v.label(),
            Pointer::Combined(v) => format!("Peak probability x {}", v.label()),
            Pointer::Either(v) => format!("Peak probability or {}, oracle", v.label()),
        }
    }

    pub fn key(self) -> String {
        match self {
            Pointer::Random => "random".to_string(),
            Pointer::PeakProbability => "peak_probability".to_string(),
            Pointer::Peak(v) => v.key(),
            Pointer::Combined(v) => format!("peak_probability_x_{}", v.key()),
            Pointer::Either(v) => format!("peak_probability_or_{}", v.key()),
        }
    }
}

/// One clip's points (frames) and its GT segment.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipPoints {
    pub segment: (usize, usize),
    /// Random, PeakProbability, Peak and Combined points; no Either.
    pub points: Vec<(Pointer, usize)>,
}

impl ClipPoints {
    fn hit(&self, pointer: Pointer) -> Option<bool> {
        match pointer {
            Pointer::Either(v) => {
                let by_probability = self.hit(Pointer::PeakProbability)?;
                let by_peak = self.hit(Pointer::Peak(v))?;
                Some(by_probability || by_peak)
            }
            _ => self
                .points
                .iter()
                .find(|(p, _)| *p == pointer)
                .map(|&(_, t)| temporal_pointing_hit(t, self.segment)),
        }
    }
}

/// One row of Table 3: hits over the clips that have the point, and the accuracy's 95%
/// interval (EVAL-18; None where not computed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PointingRow {
    pub pointer: Pointer,
    pub hits: usize,
    pub clips: usize,
    pub interval: Option<Interval>,
}

/// A method's peak minus a baseline pointer on the same clips (EVAL-18): the difference of
/// the accuracies with its paired interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PointingDifference {
    pub pointer: Pointer,
    pub baseline: Pointer,
    pub difference: f64,
    pub interval: Option<Interval>,
}

/// The accuracy of `pointer` over the clips `indices` (None: no clip has the point).
fn accuracy_of(clips: &[ClipPoints], indices: &[usize], pointer: Pointer) -> Option<f64> {
    let outcomes: Vec<bool> = indices
        .iter()
        .filter_map(|&i| clips[i].hit(pointer))
        .collect();
    (!outcomes.is_empty())
        .then(|| outcomes.iter().filter(|&&h| h).count() as f64 / outcomes.len() as f64)
}

/// Table 3 with intervals (EVAL-18): `pointing_rows`, each row's 95% bootstrap interval, and
/// every method's peak minus the random point and minus the peak probability, paired.
pub fn pointing_table(
    clips: &[ClipPoints],
    seed: u64,
    resamples: usize,
) -> (Vec<PointingRow>, Vec<PointingDifference>) {
    let mut rows = pointing_rows(clips);
    let pointers: Vec<Pointer> = rows.iter().map(|r| r.pointer).collect();
    let all: Vec<usize> = (0..clips.len()).collect();
    let mut differences = Vec::new();
    for &pointer in &pointers {
        if let Pointer::Peak(_) = pointer {
            for baseline in [Pointer::Random, Pointer::PeakProbability] {
                if let (Some(a), Some(b)) = (
                    accuracy_of(clips, &all, pointer),
                    accuracy_of(clips, &all, baseline),
                ) {
                    differences.push(PointingDifference {
                        pointer,
                        baseline,
                        difference: a - b,
                        interval: None,
                    });
                }
            }
        }
    }
    let pairs: Vec<(Pointer, Pointer)> = differences
        .iter()
        .map(|d| (d.pointer, d.baseline))
        .collect();
    let intervals = bootstrap(clips.len(), seed, resamples, &mut |indices| {
        let mut stats: Vec<Option<f64>> = pointers
            .iter()
            .map(|&p| accuracy_of(clips, indices, p))
            .collect();
        for &(p, b) in &pairs {
            let a = accuracy_of(clips, indices, p);
            stats.push(a.zip(accuracy_of(clips, indices, b)).map(|(a, b)| a - b));
        }
        stats
    });
    for (row, interval) in rows.iter_mut().zip(&intervals) {
        row.interval = *interval;
    }
    for (d, interval) in differences.iter_mut().zip(&intervals[pointers.len()..]) {
        d.interval = *interval;
    }
    (rows, differences)
}

impl PointingRow {
    pub fn accuracy(&self) -> f64 {
        self.hits as f64 / self.clips as f64
    }
}

/// Table 3: for every pointer (in the order of their first appearance, each Peak followed by
/// its Combined and Either rows), the hits (LOC-7) over the clips.
/// spec/eval.md (EVAL-8..EVAL-11)
pub fn pointing_rows(clips: &[ClipPoints]) -> Vec<PointingRow> {
    let mut pointers: Vec<Pointer> = Vec::new();
    for clip in clips {
        for &(p, _) in &clip.points {
            if !pointers.contains(&p) {
                pointers.push(p);
            }
        }
    }
    let has_probability = pointers.contains(&Pointer::PeakProbability);
    let mut ordered = Vec::new();
    for &p in &pointers {
        match p {
            Pointer::Combined(_) | Pointer::Either(_) => {}
            Pointer::Peak(v) => {
                ordered.push(p);
                if pointers.contains(&Pointer::Combined(v)) {
                    ordered.push(Pointer::Combined(v));
                }
                if has_probability {
                    ordered.push(Pointer::Either(v));
                }
            }
            _ => ordered.push(p),
        }
    }
    ordered
        .into_iter()
        .map(|pointer| {
            let outcomes: Vec<bool> = clips.iter().filter_map(|c| c.hit(pointer)).collect();
            PointingRow {
                pointer,
                hits: outcomes.iter().filter(|&&h| h).count(),
                clips: outcomes.len(),
                interval: None,
            }
        })
        .collect()
}
