//! The normalising step shared by every EB rule with weights (convolution, inner product):
//! spec/README.md (EB-2).

/// `ratio[i] <- p_top[i] / z[i]`, and 0 where `z[i] == 0` exactly, in place over `z`.
///
/// spec/README.md (EB-2). The original Caffe code gives 0 for a zero normalizer (no epsilon):
/// such a parent has no excitatory input and passes nothing down. A negative `z` (possible
/// only when the layer's input is signed, e.g. the mean-subtracted image) is divided as is.
pub fn divide_or_zero(z_to_ratio: &mut [f32], p_top: &[f32]) {
    assert_eq!(
        z_to_ratio.len(),
        p_top.len(),
        "divide_or_zero: Z and p_top lengths differ"
    );
    for (ratio, &p) in z_to_ratio.iter_mut().zip(p_top) {
        *ratio = if *ratio == 0.0 { 0.0 } else { p / *ratio };
    }
}

/// `w_plus[i] = max(w[i], 0)`: the excitatory weights. spec/README.md (EB-1).
pub fn excitatory(w: &[f32]) -> Vec<f32> {
    w.iter().map(|&v| v.max(0.0)).collect()
}
