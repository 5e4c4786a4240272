//! 95% confidence intervals of the tables' numbers by the percentile bootstrap over clips:
//! every statistic of a set is recomputed on the same resamples of its clips, so that the
//! interval of a difference of two statistics is paired. spec/eval.md (EVAL-18)

use crate::rng::Rng;

/// Resamples per interval.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// Mixed into the set's seed for the resamples ("boot"), so that they do not share draws with
/// the random points (EVAL-8).
pub const BOOTSTRAP_SALT: u64 = 0x626f_6f74;

/// The interval's coverage: 2.5% of the resampled values lie below `low`, 2.5% above `high`.
pub const CONFIDENCE: f64 = 0.95;

/// A two-sided confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// True if the whole interval lies above zero.
    pub fn above_zero(self) -> bool {
        self.low > 0.0
    }
}

/// The q-quantile of sorted values by linear interpolation between order statistics at
/// position q (m - 1) (Hyndman and Fan's type 7, numpy's default). spec/eval.md (EVAL-18)
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let weight = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * weight
}

/// The percentile bootstrap of `statistics` over `n` clips: `resamples` times, n clip indices
/// drawn with replacement (`below(n)` of ChaCha8 seeded with `seed ^ BOOTSTRAP_SALT`), every
/// statistic computed on them; each statistic's interval is the 2.5% and 97.5% quantiles of
/// its defined values (None where fewer than half of the resamples define it, or n = 0).
/// spec/eval.md (EVAL-18)
pub fn bootstrap(
    n: usize,
    seed: u64,
    resamples: usize,
    statistics: &mut dyn FnMut(&[usize]) -> Vec<Option<f64>>,
) -> Vec<Option<Interval>> {
    let mut values: Vec<Vec<f64>> = Vec::new();
    if n == 0 {
        return statistics(&[]).iter().map(|_| None).collect();
    }
    let mut rng = Rng::new(seed ^ BOOTSTRAP_SALT);
    let mut indices = vec![0usize; n];
    for _ in 0..resamples {
        for i in indices.iter_mut() {
            *i = rng.below(n);
        }
        let stats = statistics(&indices);
        if values.is_empty() {
            values = vec![Vec::with_capacity(resamples); stats.len()];
        }
        for (v, s) in values.iter_mut().zip(stats) {
            if let Some(s) = s.filter(|s| !s.is_nan()) {
                v.push(s);
            }
        }
    }
    let tail = (1.0 - CONFIDENCE) / 2.0;
    values
        .into_iter()
        .map(|mut v| {
            if v.len() * 2 < resamples {
                return None;
            }
            v.sort_by(f64::total_cmp);
            Some(Interval {
                low: quantile(&v, tail),
                high: quantile(&v, 1.0 - tail),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let v = [1.0, 2.0, 3.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert_eq!(quantile(&v, 0.5), 2.5);
        // position 0.025 * 3 = 0.075: 1 + 0.075 * (2 - 1)
        assert!((quantile(&v, 0.025) - 1.075).abs() < 1e-12);
    }

    #[test]
    fn a_constant_statistic_has_a_point_interval() {
        let i = bootstrap(10, 3, 200, &mut |_| vec![Some(0.25)]);
        assert_eq!(
            i,
            vec![Some(Interval {
                low: 0.25,
                high: 0.25
            })]
        );
    }
}
