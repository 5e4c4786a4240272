//! Dropout at inference: the identity (Caffe scales at training time, so the test-phase layer
//! copies). spec/layers/dropout.md

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
