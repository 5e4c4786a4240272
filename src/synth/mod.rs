//! Synthetic action clips with exact ground truth (`ebr synth`), after the paper's synthetic
//! experiment (Sec. 5.2): actors whose class is their shape and their direction of motion, on
//! cluttered moving backgrounds, cut into the paper's protocols (a trimmed action; rand + GT
//! spliced at the middle; GT inserted into rand), and two actors in sequence with a caption
//! naming them (caption grounding, Sec. 4.2). spec/synth.md states every rule (SYN-1..);
//! the functions cite the tags.
//!
//! - `classes`: the action classes (SYN-1)
//! - `caption`: the caption protocol's vocabulary and captions (SYN-16, SYN-17)
//! - `draw`: shapes as pixel masks, the canvas, colours (SYN-2, SYN-3)
//! - `scene`: one video: background, distractors, actor, noise (SYN-3..SYN-8)
//! - `seed`: the seeds of clips, videos and frames (SYN-9)
//! - `protocol`: clips made of videos (SYN-9..SYN-12, SYN-16)
//! - `set`: set.json, the .npy clips and the example frames (SYN-13..SYN-15)
//!
#![doc = include_str!("../../spec/synth.md")]

pub mod caption;
pub mod classes;
pub mod draw;
pub mod protocol;
pub mod scene;
pub mod seed;
pub mod set;
pub mod set_file;

pub use caption::{CaptionTruth, Noun, CAPTION_WORDS, SENTENCE_WORD};
pub use classes::{class_names, ActionClass, CLASSES};
pub use protocol::{generate_clip, FrameTruth, Protocol, SynthClip, SPLICE3_GT_LENGTHS};
pub use set::{synth_input, write_sets, ProtocolChoice, SetOptions, FORMAT, MAX_CLIPS};
