//! A method as the tables name it: one of the six, and for the two that pass EB through the
//! LSTM (cEB-R, EB-R) the LSTM rule, so that `--lstm-rule both` can compare the original rule
//! with ebr's conserving one side by side. spec/eval.md ("Methods")

use crate::grounding::{Method, Prior};
use crate::layers::LstmEbRule;

/// The paper's column order of Table 1: EB, EB-R, cEB, cEB-R, BP, BP-R.
pub const PAPER_ORDER: [Method; 6] = [
    Method::Eb,
    Method::Ebr,
    Method::Ceb,
    Method::Cebr,
    Method::Bp,
    Method::Bpr,
];

/// The paper's name of a method.
pub fn paper_name(method: Method) -> &'static str {
    match method {
        Method::Cebr => "cEB-R",
        Method::Ebr => "EB-R",
        Method::Bpr => "BP-R",
        Method::Eb => "EB",
        Method::Ceb => "cEB",
        Method::Bp => "BP",
    }
}

/// True for the methods whose signal passes the LSTM in EB mode (the LSTM rule matters).
pub fn uses_lstm_rule(method: Method) -> bool {
    matches!(method, Method::Cebr | Method::Ebr)
}

/// A method with the LSTM rule it ran with (always `Original` for the methods the rule does
/// not affect) and, for the temporal protocols, the prior it ran with (None: eval's `--prior`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub method: Method,
    pub lstm_rule: LstmEbRule,
    pub prior: Option<Prior>,
}

impl Variant {
    /// The variants of `method` for the rules `rules`: one per rule for cEB-R and EB-R, one
    /// (Original) for the others.
    pub fn of(method: Method, rules: &[LstmEbRule]) -> Vec<Variant> {
        if uses_lstm_rule(method) {
            rules
                .iter()
                .map(|&lstm_rule| Variant {
                    method,
                    lstm_rule,
                    prior: None,
                })
                .collect()
        } else {
            vec![Variant {
                method,
                lstm_rule: LstmEbRule::Original,
                prior: None,
            }]
        }
    }

    /// The same variant with the prior set (the temporal protocols, EVAL-19).
    pub fn with_prior(self, prior: Prior) -> Variant {
        Variant {
            prior: Some(prior),
            ..self
        }
    }

    /// What the label adds to the method's name: the conserving rule, the last-step prior.
    fn qualifiers(self) -> Vec<&'static str> {
        let mut parts = Vec::new();
        if self.lstm_rule == LstmEbRule::Conserving && uses_lstm_rule(self.method) {
            parts.push("conserving");
        }
        if self.prior == Some(Prior::Last) {
            parts.push("last-step prior");
        }
        parts
    }

    /// The table's name: "cEB-R", "cEB-R (conserving)" with ebr's rule, "cEB-R (last-step
    /// prior)" in a temporal protocol with the prior on the last step, or both qualifiers.
    pub fn label(self) -> String {
        let parts = self.qualifiers();
        if parts.is_empty() {
            paper_name(self.method).to_string()
        } else {
            format!("{} ({})", paper_name(self.method), parts.join(", "))
        }
    }

    /// The JSON key: the method's CLI name, with "_conserving" for ebr's rule and
    /// "_last_step_prior" for the last-step prior in a temporal protocol.
    pub fn key(self) -> String {
        let mut key = self.method.name().to_string();
        for part in self.qualifiers() {
            key.push('_');
            key.push_str(&part.replace([' ', '-'], "_"));
        }
        key
    }
}
