//! The forward pass of a whole clip: the frame CNN on every frame (in parallel chunks), the
//! temporal stack, the classifier and the softmax. Its result borrows the clip, so that the
//! backward passes that recompute a chunk's blobs read the same frames. spec/pipeline.md
//! (PIPE-1..PIPE-3)

use crate::error::Error;
use crate::layers::Softmax;
use crate::model::frame_net::{frame_len, Blobs};
use crate::model::temporal::{self, TemporalForward};
use crate::model::Model;
use crate::parallel::{chunks, map_chunks, worker_count, Chunk};

/// How the frame CNN's work is spread over threads and how much of it is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Frames per chunk of work; 0 chooses: the clip split evenly over the threads, in chunks
    /// whose forward pass takes at most `chunk_budget_bytes` of blobs.
    pub chunk_frames: usize,
    /// Keep the blobs the backward pass needs from the forward pass, or recompute each chunk's
    /// forward pass in the backward pass (memory per chunk, whatever T). None chooses: keep
    /// while the kept blobs of the clip take at most `keep_budget_bytes`.
    pub keep_activations: Option<bool>,
    pub keep_budget_bytes: usize,
    pub chunk_budget_bytes: usize,
}

impl Default for Execution {
    fn default() -> Execution {
        Execution {
            threads: 0,
            chunk_frames: 0,
            keep_activations: None,
            keep_budget_bytes: 1 << 30,
            chunk_budget_bytes: 256 << 20,
        }
    }
}

/// Bytes of one frame's blobs from blob `from` up: what a backward pass down to `from` reads.
pub fn kept_bytes_per_frame(model: &Model, from: usize) -> usize {
    model.frame.blob_shapes[from..]
        .iter()
        .map(|&s| frame_len(s) * std::mem::size_of::<f32>())
        .sum()
}

/// Bytes one frame's forward pass holds at its peak: the largest input and output blob of one
/// layer (the blobs below are dropped as it goes, FrameNet::forward_keeping).
pub fn transient_bytes_per_frame(model: &Model) -> usize {
    let shapes = &model.frame.blob_shapes;
    shapes
        .windows(2)
        .map(|pair| (frame_len(pair[0]) + frame_len(pair[1])) * std::mem::size_of::<f32>())
        .max()
        .unwrap_or(frame_len(shapes[0]) * std::mem::size_of::<f32>())
}

/// The forward pass of one clip, and what the backward passes need from it.
#[derive(Debug)]
pub struct ClipForward<'c> {
    /// clip: (T, C, H, W), the preprocessed input the pass ran on.
    pub clip: &'c [f32],
    pub frames: usize,
    /// The chunks the frame CNN ran on (and the backward pass runs on).
    pub chunks: Vec<Chunk>,
    pub threads: usize,
    /// Every chunk's blobs from blob `kept_from` up, when kept; None when the backward pass
    /// recomputes them.
    pub chunk_blobs: Option<Vec<Blobs>>,
    pub kept_from: usize,
    /// features: (T, D), the feature blob of every frame.
    pub features: Vec<f32>,
    pub temporal: TemporalForward,
    /// logits: (steps, K), the classifier's output at every step of the temporal output.
    pub logits: Vec<f32>,
    /// probs: (steps, K), the softmax of the logits over the classes.
    pub probs: Vec<f32>,
}

impl ClipForward<'_> {
    /// Steps of the classifier's output (T for an LSTM, 1 after a mean-pool).
    pub fn steps(&self) -> usize {
        self.temporal.output_size().0
    }

    /// Refuses a forward pass that left float32's range: the first non-finite value of the
    /// features (per frame), the temporal output and the logits (per step).
    pub fn check_finite(&self) -> Result<(), Error> {
        let d = self.features.len() / self.frames.max(1);
        check_finite("the frame CNN's feature", "frame", &self.features, d)?;
        let (_, width) = self.temporal.output_size();
        check_finite(
            "the temporal layers' output",
            "step",
            &self.temporal.output,
            width,
        )?;
        let classes = self.logits.len() / self.steps().max(1);
        check_finite("the logits", "step", &self.logits, classes)
    }

    /// The classes' probabilities averaged over the steps, as the demo ranks its predictions.
    /// spec/pipeline.md (PIPE-3)
    pub fn mean_probs(&self) -> Vec<f32> {
        let steps = self.steps().max(1);
        let classes = self.probs.len() / steps;
        (0..classes)
            .map(|k| {
                let sum: f64 = (0..steps).map(|t| self.probs[t * classes + k] as f64).sum();
                (sum / steps as f64) as f32
            })
            .collect()
    }
}

/// Runs the model on `clip` (T, C, H, W), preprocessed. `backward_to` is the lowest blob a
/// backward pass will reach (the map layer's), so that only the blobs from it up are kept; None
/// when no backward pass follows. `progress(frames)` is called as the frames' CNN passes
/// finish. spec/pipeline.md (PIPE-1..PIPE-3)
pub fn forward_clip<'c>(
    model: &Model,
    clip: &'c [f32],
    frames: usize,
    execution: &Execution,
    backward_to: Option<usize>,
    progress: &(dyn Fn(usize) + Sync),
) -> ClipForward<'c> {
    let frame = &model.frame;
    let in_len = frame_len(frame.input_shape());
    assert_eq!(
        clip.len(),
        frames * in_len,
        "forward_clip: clip is (T, C, H, W)"
    );
    let threads = worker_count(execution.threads).min(frames.max(1));
    let feature_blob = frame.feature_blob();
    let kept_from = backward_to.unwrap_or(feature_blob);
    let keep = backward_to.is_some()
        && execution.keep_activations.unwrap_or_else(|| {
            kept_bytes_per_frame(model, kept_from).saturating_mul(frames)
                <= execution.keep_budget_bytes
        });
    let chunk_frames = match execution.chunk_frames {
        0 => {
            // As few chunks as the budget allows, in a multiple of the threads, of equal size:
            // every thread gets the same number of frames.
            let fitting = (execution.chunk_budget_bytes / transient_bytes_per_frame(model)).max(1);
            let count = frames.div_ceil(fitting).next_multiple_of(threads).max(1);
            frames.div_ceil(count).max(1)
        }
        n => n,
    };
    let chunks = chunks(frames, chunk_frames);
    let d = frame.feature_len();
    // PIPE-1: every frame through the frame CNN; keep the blobs from `kept_from` up.
    let per_chunk = map_chunks(&chunks, threads, |c| {
        let x = &clip[c.first * in_len..(c.first + c.len) * in_len];
        let keep_from = if keep { kept_from } else { feature_blob };
        let mut blobs = frame.forward_keeping(x, c.len, keep_from);
        progress(c.len);
        if keep {
            let feature = blobs[feature_blob].clone().expect("the feature is kept");
            (feature, Some(blobs))
        } else {
            (
                blobs[feature_blob].take().expect("the feature is kept"),
                None,
            )
        }
    });
    let mut features = Vec::with_capacity(frames * d);
    let mut kept = Vec::with_capacity(chunks.len());
    for (feature, blobs) in per_chunk {
        features.extend_from_slice(&feature);
        kept.extend(blobs);
    }
    // PIPE-2: the temporal stack over the features, then the classifier at every step.
    let temporal = temporal::forward(&model.temporal, &features, frames, d);
    let (steps, _) = temporal.output_size();
    // A captioner's classifier reads its LSTM2, not the temporal output: no logits here
    // (spec/caption.md; src/model/captioner.rs computes them).
    let classes = if model.captioner.is_some() {
        0
    } else {
        model.classes()
    };
    let mut logits = vec![0.0f32; steps * classes];
    let mut probs = vec![0.0f32; steps * classes];
    if classes > 0 {
        model
            .classifier
            .fc
            .forward(&mut logits, &temporal.output, steps);
        // PIPE-3: the softmax over the classes at every step.
        Softmax::over_axis(&[steps, classes], 1).forward(&mut probs, &logits);
    }
    ClipForward {
        clip,
        frames,
        chunks,
        threads,
        chunk_blobs: keep.then_some(kept),
        kept_from,
        features,
        temporal,
        logits,
        probs,
    }
}

/// `Err(Error::Overflow)` naming `what`, the frame or step (`unit` of `per_unit` values) and
/// the index of the first non-finite value in `values`.
pub fn check_finite(what: &str, unit: &str, values: &[f32], per_unit: usize) -> Result<(), Error> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::Overflow {
            what: format!(
                "{what} of {unit} {} (index {}) is {}",
                i / per_unit.max(1),
                i % per_unit.max(1),
                values[i]
            ),
        }),
    }
}
