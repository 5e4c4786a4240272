//! Fig. 7: the cEB-R sums at every frame position, averaged over the clips of each splice
//! order (GT + rand, rand + GT), and the sign check (positive on GT frames, negative on rand
//! frames on average). spec/eval.md (EVAL-12, EVAL-13)

/// Which action comes first in a two-action splice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpliceOrder {
    /// GT + rand: the GT segment starts the clip.
    GtFirst,
    /// rand + GT: the GT segment ends the clip.
    RandFirst,
}

impl SpliceOrder {
    /// The clip's order from its GT segment in a clip of `frames`: None when the segment is
    /// neither at the start nor at the end, or covers the whole clip.
    pub fn of(segment: (usize, usize), frames: usize) -> Option<SpliceOrder> {
        let at_start = segment.0 == 0;
        let at_end = segment.1 + 1 == frames;
        match (at_start, at_end) {
            (true, false) => Some(SpliceOrder::GtFirst),
            (false, true) => Some(SpliceOrder::RandFirst),
            _ => None,
        }
    }

    /// The first frame of the second action.
    pub fn boundary(self, segment: (usize, usize)) -> usize {
        match self {
            SpliceOrder::GtFirst => segment.1 + 1,
            SpliceOrder::RandFirst => segment.0,
        }
    }
}

/// The mean and standard deviation of the sums at every frame position over the clips of one
/// order. spec/eval.md (EVAL-12)
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub clips: usize,
    /// (T): mean over the clips of S_t.
    pub mean: Vec<f64>,
    /// (T): the population standard deviation over the clips of S_t.
    pub std: Vec<f64>,
    /// The mean over the clips of the boundary (the first frame of the second action); None
    /// without clips.
    pub boundary: Option<f64>,
}

/// Running sums for a [`Curve`], one clip at a time.
#[derive(Clone, Debug, Default)]
pub struct CurveSums {
    clips: usize,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    boundaries: f64,
}

impl CurveSums {
    /// Adds one clip's sums `s` (T) and its boundary. Panics if T differs from the clips
    /// added before (the caller checks the set's frames per clip).
    pub fn add(&mut self, s: &[f32], boundary: usize) {
        if self.clips == 0 {
            self.sum = vec![0.0; s.len()];
            self.sum_sq = vec![0.0; s.len()];
        }
        assert_eq!(
            s.len(),
            self.sum.len(),
            "CurveSums::add: clips of one length"
        );
        for (t, &s_t) in s.iter().enumerate() {
            self.sum[t] += s_t as f64;
            self.sum_sq[t] += s_t as f64 * s_t as f64;
        }
        self.boundaries += boundary as f64;
        self.clips += 1;
    }

    /// The mean and standard deviation at every position. spec/eval.md (EVAL-12)
    pub fn curve(&self) -> Curve {
        let n = self.clips.max(1) as f64;
        let mean: Vec<f64> = self.sum.iter().map(|&s| s / n).collect();
        let std = self
            .sum_sq
            .iter()
            .zip(&mean)
            .map(|(&sq, &m)| (sq / n - m * m).max(0.0).sqrt())
            .collect();
        Curve {
            clips: self.clips,
            mean,
            std,
            boundary: (self.clips > 0).then(|| self.boundaries / n),
        }
    }
}

/// The sign check of Fig. 7 over all clips of both orders. spec/eval.md (EVAL-13)
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SignCheck {
    /// Sum of S_t over every GT frame of every clip, and their number.
    gt_total: f64,
    pub gt_frames: usize,
    /// Sum of S_t over every rand frame of every clip, and their number.
    rand_total: f64,
    pub rand_frames: usize,
    /// Clips whose own mean over GT frames is > 0 and over rand frames < 0.
    pub clips_separated: usize,
    pub clips: usize,
}

impl SignCheck {
    /// Adds one clip's sums `s` (T) with its GT `segment` (inclusive). Frames outside the
    /// segment are the rand action's.
    pub fn add(&mut self, s: &[f32], segment: (usize, usize)) {
        let (mut gt, mut gt_n, mut rand, mut rand_n) = (0.0f64, 0usize, 0.0f64, 0usize);
        for (t, &s_t) in s.iter().enumerate() {
            if segment.0 <= t && t <= segment.1 {
                gt += s_t as f64;
                gt_n += 1;
            } else {
                rand += s_t as f64;
                rand_n += 1;
            }
        }
        self.gt_total += gt;
        self.gt_frames += gt_n;
        self.rand_total += rand;
        self.rand_frames += rand_n;
        if gt_n > 0 && rand_n > 0 && gt / gt_n as f64 > 0.0 && rand / (rand_n as f64) < 0.0 {
            self.clips_separated += 1;
        }
        self.clips += 1;
    }

    /// Mean of S_t over every GT frame (NaN without GT frames).
    pub fn gt_mean(&self) -> f64 {
        self.gt_total / self.gt_frames as f64
    }

    /// Mean of S_t over every rand frame (NaN without rand frames).
    pub fn rand_mean(&self) -> f64 {
        self.rand_total / self.rand_frames as f64
    }

    /// The paper's qualitative result: positive on GT frames and negative on rand frames on
    /// average.
    pub fn holds(&self) -> bool {
        self.gt_frames > 0 && self.rand_frames > 0 && self.gt_mean() > 0.0 && self.rand_mean() < 0.0
    }
}
