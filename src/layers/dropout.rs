//! Dropout at inference: the identity (Caffe scales at training time, so the test-phase layer
//! copies). spec/layers/dropout.md
//!
#![doc = include_str!("../../spec/layers/dropout.md")]

/// Dropout in the test phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropout;

impl Dropout {
    /// Overwrites `y` with `x`. spec/layers/dropout.md (DROP-1)
    pub fn forward(&self, y: &mut [f32], x: &[f32]) {
        y.copy_from_slice(x);
    }

    /// Overwrites `p_bottom` with `p_top`. spec/layers/dropout.md (DROP-2)
    pub fn eb_backward(&self, p_bottom: &mut [f32], p_top: &[f32]) {
        p_bottom.copy_from_slice(p_top);
    }

    /// Overwrites `dx` with `dy`. spec/layers/dropout.md (DROP-2)
    pub fn grad_backward(&self, dx: &mut [f32], dy: &[f32]) {
        dx.copy_from_slice(dy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of spec/layers/dropout.md: copies.
    #[test]
    fn worked_example() {
        let x = [0.0, 1.5, -2.0];
        let p_top = [0.25, 0.5, -0.75];
        let mut y = [f32::NAN; 3];
        Dropout.forward(&mut y, &x); // DROP-1
        assert_eq!(y, x);
        let mut p_bottom = [f32::NAN; 3];
        Dropout.eb_backward(&mut p_bottom, &p_top); // DROP-2
        assert_eq!(p_bottom, p_top);
        let mut dx = [f32::NAN; 3];
        Dropout.grad_backward(&mut dx, &p_top); // DROP-2
        assert_eq!(dx, p_top);
    }
}
