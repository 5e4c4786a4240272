//! A method as the tables name it: one of the six, and for the two that pass EB through the
//! LSTM (cEB-R, EB-R) the LSTM rule, so that `--lstm-rule both` can compare the original rule
//! with ebr's conserving one side by side. spec/eval.md ("Methods")

use crate::grounding::Method;
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
/// not affect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub method: Method,
    pub lstm_rule: LstmEbRule,
}

impl Variant {
    /// The variants of `method` for the rules `rules`: one per rule for cEB-R and EB-R, one
    /// (Original) for the others.
    pub fn of(method: Method, rules: &[LstmEbRule]) -> Vec<Variant> {
        if uses_lstm_rule(method) {
            rules
                .iter()
                .map(|&lstm_rule| Variant { method, lstm_rule })
                .collect()
        } else {
            vec![Variant {
                method,
                lstm_rule: LstmEbRule::Original,
            }]
        }
    }

    /// The table's name: "cEB-R", or "cEB-R (conserving)" with ebr's rule.
    pub fn label(self) -> String {
        match self.lstm_rule {
            LstmEbRule::Conserving if uses_lstm_rule(self.method) => {
                format!("{} (conserving)", paper_name(self.method))
            }
            _ => paper_name(self.method).to_string(),
        }
    }

    /// The JSON key: the method's CLI name, with "_conserving" for ebr's rule.
    pub fn key(self) -> String {
        match self.lstm_rule {
            LstmEbRule::Conserving if uses_lstm_rule(self.method) => {
                format!("{}_conserving", self.method.name())
            }
            _ => self.method.name().to_string(),
        }
    }
}
