//! The model's own answer over time: the GT class's probability at every step, the
//! thresholded probability baseline of Table 2 and the predicted class of a clip.
//! spec/eval.md (EVAL-1, EVAL-4)

/// `p[s] = probs[s, class]` for every step s of `probs` (steps, K).
pub fn class_probabilities(probs: &[f32], classes: usize, class: usize) -> Vec<f32> {
    assert!(
        class < classes && probs.len().is_multiple_of(classes),
        "class_probabilities: class {class} of {classes}, {} values",
        probs.len()
    );
    probs.chunks_exact(classes).map(|row| row[class]).collect()
}

/// The paper's probability baseline (Sec. 5.2): +1 where the GT class's probability is at
/// least 0.5, -1 elsewhere (NaN included), localized then like a cEB-R sum.
/// spec/eval.md (EVAL-4)
pub fn thresholded_probability(p: &[f32]) -> Vec<f32> {
    p.iter()
        .map(|&p_s| if p_s >= 0.5 { 1.0 } else { -1.0 })
        .collect()
}

/// The class with the largest probability, the first on ties; NaN never wins (all NaN: 0).
/// spec/eval.md (EVAL-1)
pub fn predicted_class(probs: &[f32]) -> usize {
    let mut best = 0;
    for k in 1..probs.len() {
        if probs[k] > probs[best] || (probs[best].is_nan() && !probs[k].is_nan()) {
            best = k;
        }
    }
    best
}
