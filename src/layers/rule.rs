//! How a backward pass treats every layer: the plain gradient, or excitation backprop with the
//! rule it applies inside the LSTM. One type for the layers' callers, the model and the
//! grounding methods alike (spec/pipeline.md, "The methods").

pub use super::lstm::LstmEbRule;

/// The rule of one backward pass, applied at every layer it crosses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The plain gradient (BP, BP-R): every layer's `grad_backward`.
    Gradient,
    /// Excitation backprop (EB, cEB, EB-R, cEB-R): every layer's `eb_backward`, and inside an
    /// LSTM the given rule (the original's or ebr's conserving one, spec/layers/lstm.md).
    Excitation(LstmEbRule),
}

impl Rule {
    /// True for excitation backprop, whatever its LSTM rule.
    pub fn is_excitation(self) -> bool {
        matches!(self, Rule::Excitation(_))
    }
}
