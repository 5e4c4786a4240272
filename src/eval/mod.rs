//! The paper's evaluation protocols on a synthetic set (`ebr eval`): the spatial pointing
//! game (Table 1), temporal localization (Table 2), the temporal pointing game (Table 3), the
//! curve of Fig. 7, and for a captioner the caption table (Table 5's protocol). spec/eval.md
//! states every metric (EVAL-1..EVAL-17); each function cites its tag.
//!
//! - `set`: set.json, the data written by `ebr synth`.
//! - `run`: the loop over a set's clips, one clip in memory at a time.
//! - the metrics: `probability` (EVAL-1, EVAL-4), `spatial` (EVAL-2, EVAL-3), `detection`
//!   (EVAL-5), `average_precision` (EVAL-6, EVAL-7), `localization` (Table 2's cells),
//!   `temporal_pointing` (EVAL-8..EVAL-11), `curve` (EVAL-12, EVAL-13), `caption`
//!   (EVAL-14..EVAL-17).
//! - `report` (markdown and JSON) and `fig7_svg` (the plot).
//!
#![doc = include_str!("../../spec/eval.md")]

pub mod average_precision;
pub mod caption;
pub mod curve;
pub mod detection;
pub mod fig7_svg;
pub mod interval;
pub mod localization;
pub mod probability;
pub mod report;
pub mod run;
pub mod set;
pub mod spatial;
pub mod temporal_pointing;
pub mod variant;

pub use run::{evaluate_set, EvalOptions, SetReport, SetResult};
pub use set::{check_model_fits, find_sets, load_set, Protocol, SynthSet};
pub use variant::Variant;
