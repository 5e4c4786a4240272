//! The temporal normalization of the signal at the feature blob (paper Eqs. 5-6), the notebook's
//! variant for the prior on every step, and the contrast (paper Eq. 7).
//! spec/pipeline.md (PIPE-5, PIPE-6, PIPE-7)

/// Sum of all values, accumulated in f64 (the notebook's numpy sum is pairwise in f32; the
/// difference is rounding).
pub fn total(values: &[f32]) -> f32 {
    values.iter().map(|&v| v as f64).sum::<f64>() as f32
}

/// Paper Eqs. 5-6: every value divided by the sum over all steps and units. Returns the
/// normalized signal and the sum; a zero sum gives 0 everywhere, as the original's zero
/// normalizers do. spec/pipeline.md (PIPE-5)
pub fn normalize_over_clip(signal: &[f32]) -> (Vec<f32>, f32) {
    let norm = total(signal);
    let normalized = signal
        .iter()
        .map(|&v| if norm == 0.0 { 0.0 } else { v / norm })
        .collect();
    (normalized, norm)
}

/// The notebook's normalization for the prior on every step: row t of `signal` (steps, width)
/// is replaced on every unit by `sum(signal[t]) * steps / norm`, with norm the sum of all of
/// `signal` (0 where norm == 0). This throws the per-unit signal away; it is reproduced for
/// `--normalization demo` only. spec/pipeline.md (PIPE-6)
pub fn normalize_like_the_notebook(signal: &[f32], steps: usize) -> (Vec<f32>, f32) {
    assert!(
        steps > 0 && signal.len().is_multiple_of(steps),
        "normalize_like_the_notebook: signal is (steps, width)"
    );
    let width = signal.len() / steps;
    let norm = total(signal);
    let mut normalized = Vec::with_capacity(signal.len());
    for row in signal.chunks_exact(width) {
        let value = if norm == 0.0 {
            0.0
        } else {
            total(row) * steps as f32 / norm
        };
        normalized.extend(std::iter::repeat_n(value, width));
    }
    (normalized, norm)
}

/// Paper Eq. 7: the contrastive signal `p - p_dual`. spec/pipeline.md (PIPE-7)
pub fn contrast(p: &[f32], p_dual: &[f32]) -> Vec<f32> {
    assert_eq!(
        p.len(),
        p_dual.len(),
        "contrast: the two signals differ in length"
    );
    p.iter().zip(p_dual).map(|(&a, &b)| a - b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_normalization_divides_by_the_total() {
        let (n, norm) = normalize_over_clip(&[1.0, 3.0, 0.0, 4.0]);
        assert_eq!(norm, 8.0);
        assert_eq!(n, vec![0.125, 0.375, 0.0, 0.5]);
    }

    #[test]
    fn a_zero_total_gives_zero_not_nan() {
        let (n, norm) = normalize_over_clip(&[0.0, 0.0]);
        assert_eq!((n, norm), (vec![0.0, 0.0], 0.0));
        let (n, _) = normalize_like_the_notebook(&[0.0; 4], 2);
        assert_eq!(n, vec![0.0; 4]);
    }

    #[test]
    fn the_notebook_replaces_each_row_by_its_share_times_the_steps() {
        // rows (1, 3) and (0, 4): total 8, T = 2: row 0 -> 4 * 2 / 8 = 1, row 1 -> 4 * 2 / 8 = 1
        let (n, norm) = normalize_like_the_notebook(&[1.0, 3.0, 0.0, 4.0], 2);
        assert_eq!(norm, 8.0);
        assert_eq!(n, vec![1.0, 1.0, 1.0, 1.0]);
        // rows (2, 0) and (6, 0): row 0 -> 2 * 2 / 8 = 0.5 on both units, row 1 -> 1.5
        let (n, _) = normalize_like_the_notebook(&[2.0, 0.0, 6.0, 0.0], 2);
        assert_eq!(n, vec![0.5, 0.5, 1.5, 1.5]);
    }

    #[test]
    fn contrast_subtracts_the_dual() {
        assert_eq!(contrast(&[0.5, 0.25], &[0.25, 0.5]), vec![0.25, -0.25]);
    }
}
