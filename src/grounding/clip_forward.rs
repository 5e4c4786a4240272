//! The forward pass of a whole clip: the frame CNN on every frame (in parallel chunks), the
//! temporal stack, the classifier and the softmax. spec/pipeline.md (PIPE-1..PIPE-3)

use crate::layers::Softmax;
use crate::model::frame_net::frame_len;
use crate::model::temporal::{self, TemporalForward};
use crate::model::Model;
use crate::parallel::{chunks, map_chunks, worker_count, Chunk};

/// How the frame CNN's work is spread over threads and how much of it is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Frames per chunk of work; 0 chooses (the clip split evenly over the threads when the
    /// activations are kept, else a few frames per chunk).
    pub chunk_frames: usize,
    /// Keep every frame's blobs from the forward pass for the backward pass, or recompute a
    /// chunk's forward pass in the backward pass (constant memory per chunk). None chooses:
    /// keep while all blobs of the clip take at most `keep_budget_bytes`.
    pub keep_activations: Option<bool>,
    pub keep_budget_bytes: usize,
}

impl Default for Execution {
    fn default() -> Execution {
        Execution {
            threads: 0,
            chunk_frames: 0,
            keep_activations: None,
            keep_budget_bytes: 2 << 30,
        }
    }
}

/// Frames per chunk when the backward pass recomputes the forward pass.
const RECOMPUTE_CHUNK_FRAMES: usize = 4;

/// Bytes of every blob of one frame's forward pass.
pub fn blob_bytes_per_frame(model: &Model) -> usize {
    model
        .frame
        .blob_shapes
        .iter()
        .map(|&s| frame_len(s) * std::mem::size_of::<f32>())
        .sum()
}

/// The forward pass of one clip, and what the backward passes need from it.
#[derive(Debug)]
pub struct ClipForward {
    pub frames: usize,
    /// The chunks the frame CNN ran on (and the backward pass runs on).
    pub chunks: Vec<Chunk>,
    pub threads: usize,
    /// Every chunk's blobs, when kept; None when the backward pass recomputes them.
    pub chunk_blobs: Option<Vec<Vec<Vec<f32>>>>,
    /// features: (T, D), the feature blob of every frame.
    pub features: Vec<f32>,
    pub temporal: TemporalForward,
    /// logits: (steps, K), the classifier's output at every step of the temporal output.
    pub logits: Vec<f32>,
    /// probs: (steps, K), the softmax of the logits over the classes.
    pub probs: Vec<f32>,
}

impl ClipForward {
    /// Steps of the classifier's output (T for an LSTM, 1 after a mean-pool).
    pub fn steps(&self) -> usize {
        self.temporal.output_size().0
    }

    /// The classes' probabilities averaged over the steps, as the demo ranks its predictions.
    /// spec/pipeline.md (PIPE-3)
    pub fn mean_probs(&self) -> Vec<f32> {
        let steps = self.steps();
        let classes = self.probs.len() / steps;
        (0..classes)
            .map(|k| {
                let sum: f64 = (0..steps).map(|t| self.probs[t * classes + k] as f64).sum();
                (sum / steps as f64) as f32
            })
            .collect()
    }
}

/// Runs the model on `clip` (T, C, H, W), preprocessed. `progress(frames)` is called as the
/// frames' CNN passes finish. spec/pipeline.md (PIPE-1..PIPE-3)
pub fn forward_clip(
    model: &Model,
    clip: &[f32],
    frames: usize,
    execution: &Execution,
    progress: &(dyn Fn(usize) + Sync),
) -> ClipForward {
    let frame = &model.frame;
    let in_len = frame_len(frame.input_shape());
    assert_eq!(
        clip.len(),
        frames * in_len,
        "forward_clip: clip is (T, C, H, W)"
    );
    let threads = worker_count(execution.threads).min(frames.max(1));
    let keep = execution.keep_activations.unwrap_or_else(|| {
        blob_bytes_per_frame(model).saturating_mul(frames) <= execution.keep_budget_bytes
    });
    let chunk_frames = match execution.chunk_frames {
        0 if keep => frames.div_ceil(threads).max(1),
        0 => RECOMPUTE_CHUNK_FRAMES,
        n => n,
    };
    let chunks = chunks(frames, chunk_frames);
    let feature_blob = frame.feature_blob();
    let d = frame.feature_len();
    // PIPE-1: every frame through the frame CNN; keep all blobs or only the feature.
    let per_chunk = map_chunks(&chunks, threads, |c| {
        let x = &clip[c.first * in_len..(c.first + c.len) * in_len];
        let mut blobs = frame.forward(x, c.len);
        progress(c.len);
        if keep {
            (blobs[feature_blob].clone(), Some(blobs))
        } else {
            (blobs.swap_remove(feature_blob), None)
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
    let classes = model.classes();
    let mut logits = vec![0.0f32; steps * classes];
    model
        .classifier
        .fc
        .forward(&mut logits, &temporal.output, steps);
    // PIPE-3: the softmax over the classes at every step.
    let mut probs = vec![0.0f32; steps * classes];
    Softmax::over_axis(&[steps, classes], 1).forward(&mut probs, &logits);
    ClipForward {
        frames,
        chunks,
        threads,
        chunk_blobs: keep.then_some(kept),
        features,
        temporal,
        logits,
        probs,
    }
}
