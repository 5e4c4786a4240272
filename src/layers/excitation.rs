//! The normalising step shared by every EB rule with weights (convolution, inner product):
//! spec/README.md (EB-2).

/// `ratio[i] <- p_top[i] / z[i]`, and 0 where `z[i]` is 0 or subnormal, or where the quotient
/// overflows, in place over `z`.
///
/// spec/README.md (EB-2). The original Caffe code gives 0 for a zero normalizer (no epsilon):
/// such a parent has no excitatory input and passes nothing down. ebr extends the rule to a
/// normalizer below f32's smallest normal number (1.2e-38) and to a quotient past f32's range:
/// there Caffe's quotient is infinite and its maps turn to inf and NaN (0 * inf); ebr drops
/// the parent's signal instead, as for Z == 0. A negative `z` (possible only when the layer's
/// input is signed, e.g. the mean-subtracted image) is divided as is.
pub fn divide_or_zero(z_to_ratio: &mut [f32], p_top: &[f32]) {
    assert_eq!(
        z_to_ratio.len(),
        p_top.len(),
        "divide_or_zero: Z and p_top lengths differ"
    );
    for (ratio, &p) in z_to_ratio.iter_mut().zip(p_top) {
        *ratio = if usable_normalizer(*ratio) {
            let quotient = p / *ratio;
            if quotient.is_finite() {
                quotient
            } else {
                0.0
            }
        } else {
            0.0
        };
    }
}

/// True when `z` can be divided by: not 0, not subnormal (|z| >= f32::MIN_POSITIVE), finite.
/// The pooling rules (AVE-2, MEAN-2) use it with their own positive normalizers.
/// spec/README.md (EB-2)
pub fn usable_normalizer(z: f32) -> bool {
    z.abs() >= f32::MIN_POSITIVE && z.is_finite()
}

/// EB-3's last step, `p_bottom[d] <- x[d] * p_bottom[d]` in place, where `p_bottom` holds
/// `sum_o w_plus[o, d] * X[o]`; 0 where the f32 result is not finite.
///
/// spec/README.md (EB-2, EB-3). ebr's own, as EB-2's overflowing quotient: a ratio X from a
/// normalizer near f32's smallest normal number (|z| ~ 1e-38) is ~1e38, and its product with a
/// weight w_plus > 1 overflows to inf before x (tiny, as z is) brings it back; with a signed x
/// (the image) or a signed X (the contrast), the sum holds inf - inf = NaN. The original's maps
/// turn to inf and NaN there; ebr drops that input's signal instead. Where every step stays
/// finite nothing changes.
pub fn times_input_or_zero(p_bottom: &mut [f32], x: &[f32]) {
    assert_eq!(
        p_bottom.len(),
        x.len(),
        "times_input_or_zero: p_bottom and x lengths differ"
    );
    for (p, &x_d) in p_bottom.iter_mut().zip(x) {
        let product = *p * x_d;
        *p = if product.is_finite() { product } else { 0.0 };
    }
}

/// `w_plus[i] = max(w[i], 0)`: the excitatory weights. spec/README.md (EB-1).
pub fn excitatory(w: &[f32]) -> Vec<f32> {
    w.iter().map(|&v| v.max(0.0)).collect()
}
