//! Average precision of ranked detections and its mean over classes (Table 2's measure).
//! spec/eval.md (EVAL-6, EVAL-7)

/// One detection: its confidence and whether it matches a ground truth (IoU >= 0.5, EVAL-5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub score: f64,
    pub correct: bool,
}

/// The order in which detections are ranked: score descending; ties keep the given order
/// (the clips' order in the set); NaN scores last. spec/eval.md (EVAL-6)
pub fn ranking(detections: &[Detection]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..detections.len()).collect();
    // A stable sort: equal scores keep their order. NaN compares as the lowest.
    order.sort_by(|&a, &b| {
        let (sa, sb) = (detections[a].score, detections[b].score);
        match (sa.is_nan(), sb.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => sb.total_cmp(&sa),
        }
    });
    order
}

/// The area under the interpolated precision/recall curve of `detections` ranked by
/// `ranking`, for `positives` ground truths (N): with `P(k)` the precision of the first k
/// detections and `R(k)` their recall,
/// `AP = sum over correct k of (1 / N) * max_{k' >= k} P(k')`.
/// Each ground truth is matched by at most one detection (here: one detection per clip).
/// None when N = 0 (no ground truth: AP is undefined). spec/eval.md (EVAL-6)
pub fn average_precision(detections: &[Detection], positives: usize) -> Option<f64> {
    if positives == 0 {
        return None;
    }
    let order = ranking(detections);
    // precision[k]: precision of the first k + 1 ranked detections.
    let mut precision = Vec::with_capacity(order.len());
    let mut true_positives = 0usize;
    for (k, &i) in order.iter().enumerate() {
        if detections[i].correct {
            true_positives += 1;
        }
        precision.push(true_positives as f64 / (k + 1) as f64);
    }
    // Interpolate: the best precision at this recall or any higher one (from the end).
    for k in (0..precision.len().saturating_sub(1)).rev() {
        precision[k] = precision[k].max(precision[k + 1]);
    }
    // Recall grows by 1 / N at each correct detection. (A fold from +0: `sum` of nothing is
    // -0.0, which would print as "-0.0".)
    let area = order
        .iter()
        .zip(&precision)
        .filter(|(&i, _)| detections[i].correct)
        .fold(0.0f64, |area, (_, &p)| area + p);
    Some(area / positives as f64)
}

/// One class's AP and how many ground truths (clips) it had.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassAp {
    pub class: usize,
    pub positives: usize,
    pub ap: f64,
}

/// AP per class of `(class, detection)` pairs when every detection is for its own clip's
/// ground truth, one per clip (the label is known, paper Sec. 5.2): class c has as many ground
/// truths as detections. Classes without a detection are absent. spec/eval.md (EVAL-7)
pub fn per_class_ap(detections: &[(usize, Detection)]) -> Vec<ClassAp> {
    let mut classes: Vec<usize> = detections.iter().map(|&(c, _)| c).collect();
    classes.sort_unstable();
    classes.dedup();
    classes
        .into_iter()
        .map(|class| {
            let of_class: Vec<Detection> = detections
                .iter()
                .filter(|&&(c, _)| c == class)
                .map(|&(_, d)| d)
                .collect();
            let positives = of_class.len();
            let ap = average_precision(&of_class, positives).expect("a class with a detection");
            ClassAp {
                class,
                positives,
                ap,
            }
        })
        .collect()
}

/// The mean of the classes' APs; None when there is no class. spec/eval.md (EVAL-7)
pub fn mean_average_precision(per_class: &[ClassAp]) -> Option<f64> {
    if per_class.is_empty() {
        return None;
    }
    let total = per_class.iter().fold(0.0f64, |total, c| total + c.ap);
    Some(total / per_class.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(score: f64, correct: bool) -> Detection {
        Detection { score, correct }
    }

    #[test]
    fn worked_example() {
        // spec/eval.md, EVAL-6: ranked T F T F, N = 4.
        // P = 1, 1/2, 2/3, 1/2; interpolated 1, 2/3, 2/3, 1/2; correct at ranks 1 and 3:
        // AP = (1 + 2/3) / 4 = 5/12.
        let ds = [d(0.6, false), d(0.9, true), d(0.7, true), d(0.8, false)];
        let ap = average_precision(&ds, 4).unwrap();
        assert!((ap - 5.0 / 12.0).abs() < 1e-12, "{ap}");
    }
}
