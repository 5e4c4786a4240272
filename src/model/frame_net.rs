//! The per-frame CNN ("frame" in model.json): its forward pass over a chunk of frames, and its
//! excitation and gradient backward passes from the feature blob down to a chosen blob.
//! spec/pipeline.md (PIPE-1, PIPE-8, PIPE-9)
//!
//! Blobs follow Caffe: ReLU and Dropout work in place on the blob below them, every other
//! layer writes a new blob. `blobs[0]` is the input; the last blob is the frame's feature
//! (e.g. fc7 after relu7 and drop7). A frame layer's "output" for `--layer` is its blob, i.e.
//! the value after the in-place ReLU that follows it, as Caffe's blob of that name is.

use crate::layers::{AvgPool, Conv, Dropout, Fc, MaxPool, Relu, Rule};

/// The blobs of a chunk of frames, by blob index; None where a blob was not kept.
pub type Blobs = Vec<Option<Vec<f32>>>;

/// Frames per group of the first block's layers in [`FrameNet::forward_keeping`]: VGG16's
/// conv1 blobs are 12.8 MB per frame, two of them 206 MB for a chunk of 8 frames, 51 MB for a
/// group of 2; the group's 2 x 3136 F(4x4) tiles still fill Winograd's blocks.
pub const GROUP_FRAMES: usize = 2;

/// One layer of the frame CNN with its parameters.
#[derive(Clone, Debug)]
pub enum FrameLayer {
    Conv { name: String, conv: Conv },
    Relu,
    MaxPool { name: Option<String>, pool: MaxPool },
    AvgPool { name: Option<String>, pool: AvgPool },
    Fc { name: String, fc: Fc },
    Dropout,
}

impl FrameLayer {
    /// The layer's name, if it has one (ReLU and Dropout have none).
    pub fn name(&self) -> Option<&str> {
        match self {
            FrameLayer::Conv { name, .. } | FrameLayer::Fc { name, .. } => Some(name),
            FrameLayer::MaxPool { name, .. } | FrameLayer::AvgPool { name, .. } => name.as_deref(),
            FrameLayer::Relu | FrameLayer::Dropout => None,
        }
    }

    /// True for the layers that work in place on the blob below them.
    pub fn in_place(&self) -> bool {
        matches!(self, FrameLayer::Relu | FrameLayer::Dropout)
    }

    /// "conv", "relu", ... as in model.json.
    pub fn kind(&self) -> &'static str {
        match self {
            FrameLayer::Conv { .. } => "conv",
            FrameLayer::Relu => "relu",
            FrameLayer::MaxPool { .. } => "max_pool",
            FrameLayer::AvgPool { .. } => "avg_pool",
            FrameLayer::Fc { .. } => "fc",
            FrameLayer::Dropout => "dropout",
        }
    }
}

/// The frame CNN: its layers and the shape of every blob.
#[derive(Clone, Debug)]
pub struct FrameNet {
    pub layers: Vec<FrameLayer>,
    /// `blob_shapes[b]` = (C, H, W) of blob b; blob 0 is the input; an fc blob is (O, 1, 1).
    pub blob_shapes: Vec<[usize; 3]>,
    /// `layer_blob[i]` = the blob layer i writes (its own, or the one below for in-place layers).
    pub layer_blob: Vec<usize>,
}

/// Values per frame of a (C, H, W) shape.
pub fn frame_len(shape: [usize; 3]) -> usize {
    shape[0] * shape[1] * shape[2]
}

impl FrameNet {
    /// A net over `input` (C, H, W); `output_shapes[i]` is layer i's output shape.
    /// Panics if the shapes do not chain (the loader checks before).
    pub fn new(
        input: [usize; 3],
        layers: Vec<FrameLayer>,
        output_shapes: &[[usize; 3]],
    ) -> FrameNet {
        assert_eq!(
            layers.len(),
            output_shapes.len(),
            "FrameNet::new: one shape per layer"
        );
        let mut blob_shapes = vec![input];
        let mut layer_blob = Vec::with_capacity(layers.len());
        for (layer, &shape) in layers.iter().zip(output_shapes) {
            if layer.in_place() {
                assert_eq!(
                    Some(&shape),
                    blob_shapes.last(),
                    "FrameNet::new: an in-place layer keeps its blob's shape"
                );
            } else {
                blob_shapes.push(shape);
            }
            layer_blob.push(blob_shapes.len() - 1);
        }
        FrameNet {
            layers,
            blob_shapes,
            layer_blob,
        }
    }

    /// (C, H, W) of one input frame.
    pub fn input_shape(&self) -> [usize; 3] {
        self.blob_shapes[0]
    }

    /// The feature blob: the last one (e.g. fc7 after its in-place ReLU and Dropout).
    pub fn feature_blob(&self) -> usize {
        self.blob_shapes.len() - 1
    }

    /// Values of the feature per frame (D).
    pub fn feature_len(&self) -> usize {
        frame_len(self.blob_shapes[self.feature_blob()])
    }

    /// The blob a layer reads: the blob written by the layer below, or the input.
    fn input_blob(&self, layer: usize) -> usize {
        if layer == 0 {
            0
        } else {
            self.layer_blob[layer - 1]
        }
    }

    /// The layer that wrote the feature blob (fc7 itself, below relu7 and drop7). The EB
    /// methods start their CNN backward here, as the demo's `net.backward(start='fc7')` does;
    /// the in-place layers above it are not applied. spec/pipeline.md (PIPE-8)
    pub fn feature_writer(&self) -> usize {
        let feature = self.feature_blob();
        (0..self.layers.len())
            .find(|&i| self.layer_blob[i] == feature && !self.layers[i].in_place())
            .unwrap_or(0)
    }

    /// The blob holding the named layer's output, or None if no layer has that name.
    pub fn blob_of_layer(&self, name: &str) -> Option<usize> {
        self.layers
            .iter()
            .position(|layer| layer.name() == Some(name))
            .map(|i| self.layer_blob[i])
    }

    /// The names that `--layer` accepts, bottom to top ("data" first).
    pub fn layer_names(&self) -> Vec<String> {
        std::iter::once("data".to_string())
            .chain(
                self.layers
                    .iter()
                    .filter_map(|l| l.name().map(str::to_string)),
            )
            .collect()
    }

    /// The forward pass over `frames` frames of `x` (frames, C, H, W): every blob, blob 0
    /// being a copy of `x`. spec/pipeline.md (PIPE-1)
    pub fn forward(&self, x: &[f32], frames: usize) -> Vec<Vec<f32>> {
        self.forward_keeping(x, frames, 0)
            .into_iter()
            .map(|blob| blob.expect("every blob is kept from blob 0 up"))
            .collect()
    }

    /// The forward pass, keeping only the blobs a backward pass down to blob `keep_from`
    /// reads (`keep_from` and above) and the feature blob; a blob below is dropped as soon as
    /// the next layer has read it, so memory holds at most two of them at once. The first
    /// block's layers, whose blobs are the largest, run on groups of [`GROUP_FRAMES`] frames
    /// when none of their blobs is kept (`grouped_prefix`). spec/pipeline.md (PIPE-1,
    /// "Execution")
    pub fn forward_keeping(&self, x: &[f32], frames: usize, keep_from: usize) -> Blobs {
        assert_eq!(
            x.len(),
            frames * frame_len(self.input_shape()),
            "FrameNet::forward: x is (frames, C, H, W)"
        );
        let mut blobs: Blobs = vec![None; self.blob_shapes.len()];
        let prefix = self.grouped_prefix(keep_from);
        // The layers' input: the clip, or the prefix's output after running it group by group.
        let (first_layer, below, below_index) = if prefix == 0 || frames <= GROUP_FRAMES {
            (0, x.to_vec(), 0)
        } else {
            let head_index = self.layer_blob[prefix - 1];
            let (in_len, head_len) = (
                frame_len(self.input_shape()),
                frame_len(self.blob_shapes[head_index]),
            );
            let mut head = vec![0.0f32; frames * head_len];
            let mut unkept: Blobs = vec![None; self.blob_shapes.len()];
            for first in (0..frames).step_by(GROUP_FRAMES) {
                let group = GROUP_FRAMES.min(frames - first);
                let x_g = x[first * in_len..(first + group) * in_len].to_vec();
                let (out, _) = self.run_layers(0..prefix, x_g, 0, group, usize::MAX, &mut unkept);
                head[first * head_len..(first + group) * head_len].copy_from_slice(&out);
            }
            (prefix, head, head_index)
        };
        let (below, below_index) = self.run_layers(
            first_layer..self.layers.len(),
            below,
            below_index,
            frames,
            keep_from,
            &mut blobs,
        );
        blobs[below_index] = Some(below);
        blobs
    }

    /// Runs `layers` over `frames` frames from `below`, the blob `below_index`; keeps in
    /// `blobs` each finished blob from `keep_from` up; returns the last blob and its index.
    fn run_layers(
        &self,
        layers: std::ops::Range<usize>,
        mut below: Vec<f32>,
        mut below_index: usize,
        frames: usize,
        keep_from: usize,
        blobs: &mut Blobs,
    ) -> (Vec<f32>, usize) {
        for i in layers {
            let layer = &self.layers[i];
            let out_len = frames * frame_len(self.blob_shapes[self.layer_blob[i]]);
            let mut y = vec![0.0f32; if layer.in_place() { 0 } else { out_len }];
            match layer {
                FrameLayer::Relu => Relu.forward_in_place(&mut below),
                FrameLayer::Dropout => {} // DROP-1: the identity at inference
                FrameLayer::Conv { conv, .. } => conv.forward(&mut y, &below, frames),
                FrameLayer::MaxPool { pool, .. } => pool.forward(&mut y, &below, frames),
                FrameLayer::AvgPool { pool, .. } => pool.forward(&mut y, &below, frames),
                FrameLayer::Fc { fc, .. } => fc.forward(&mut y, &below, frames),
            }
            if !layer.in_place() {
                let done = std::mem::replace(&mut below, y);
                if below_index >= keep_from {
                    blobs[below_index] = Some(done);
                }
                below_index = self.layer_blob[i];
            }
        }
        (below, below_index)
    }

    /// The number of layers, up to and including the first pooling layer, that
    /// [`FrameNet::forward_keeping`] runs group by group: 0 when there is no pooling layer or
    /// a blob of those layers (the input included) is kept, i.e. `keep_from` is at or below
    /// the pooling layer's input blob.
    fn grouped_prefix(&self, keep_from: usize) -> usize {
        let Some(pool) = self
            .layers
            .iter()
            .position(|l| matches!(l, FrameLayer::MaxPool { .. } | FrameLayer::AvgPool { .. }))
        else {
            return 0;
        };
        let pool_input = if pool == 0 {
            0
        } else {
            self.layer_blob[pool - 1]
        };
        if keep_from <= pool_input {
            0
        } else {
            pool + 1
        }
    }

    /// The in-place layers on the feature blob (e.g. relu7 and drop7), backward: the gradient
    /// methods pass them (one backward pass from the logits, as Caffe's), the EB methods do
    /// not (the demo starts its CNN backward at the layer fc7). `feature` is the feature blob
    /// of the same frames. spec/pipeline.md (PIPE-8)
    pub fn backward_feature_tail(
        &self,
        feature: &[f32],
        signal: Vec<f32>,
        frames: usize,
        rule: Rule,
    ) -> Vec<f32> {
        assert_eq!(
            feature.len(),
            frames * self.feature_len(),
            "FrameNet::backward_feature_tail: feature is (frames, D)"
        );
        let mut p_top = signal;
        for layer in self.layers[self.feature_writer() + 1..].iter().rev() {
            let mut p = vec![0.0f32; p_top.len()];
            match layer {
                FrameLayer::Relu if rule.is_excitation() => {
                    Relu.eb_backward(&mut p, feature, &p_top)
                }
                FrameLayer::Relu => Relu.grad_backward(&mut p, feature, &p_top),
                FrameLayer::Dropout if rule.is_excitation() => Dropout.eb_backward(&mut p, &p_top),
                FrameLayer::Dropout => Dropout.grad_backward(&mut p, &p_top),
                _ => unreachable!("only in-place layers follow the feature writer"),
            }
            p_top = p;
        }
        p_top
    }

    /// The backward pass of `signal`, given at the output of the feature writer (PIPE-8), down
    /// to blob `down_to`: returns the signal on that blob (frames, its shape). Layers run from
    /// the feature writer down to the one just above `down_to`'s writer, so an in-place ReLU
    /// on `down_to` is applied (the map of a layer is the signal after its ReLU). `blobs` are
    /// the forward blobs of the same frames. spec/pipeline.md (PIPE-8, PIPE-9)
    pub fn backward(
        &self,
        blobs: &[Option<Vec<f32>>],
        signal: Vec<f32>,
        down_to: usize,
        frames: usize,
        rule: Rule,
    ) -> Vec<f32> {
        let top_layer = self.feature_writer();
        assert_eq!(
            blobs.len(),
            self.blob_shapes.len(),
            "FrameNet::backward: blobs"
        );
        assert_eq!(
            signal.len(),
            frames * self.feature_len(),
            "FrameNet::backward: the signal is (frames, D)"
        );
        // The first (lowest) layer to run: the one above the writer of `down_to`, including
        // the in-place layers on `down_to` itself.
        let lowest = if down_to == 0 {
            0
        } else {
            (0..self.layers.len())
                .find(|&i| self.layer_blob[i] == down_to)
                .map(|writer| writer + 1)
                .expect("FrameNet::backward: down_to is written by some layer")
        };
        let mut p_top = signal;
        let mut spare = None;
        for i in (lowest..=top_layer).rev() {
            let blob = |b: usize| -> &[f32] {
                blobs[b]
                    .as_deref()
                    .expect("FrameNet::backward: the forward pass kept the blobs it reads")
            };
            let (x, y) = (blob(self.input_blob(i)), blob(self.layer_blob[i]));
            let in_len = frames * frame_len(self.blob_shapes[self.input_blob(i)]);
            let mut p = zeroed(&mut spare, in_len);
            let excitation = rule.is_excitation();
            match &self.layers[i] {
                // `y` is the in-place blob: its sign pattern is the input's (RELU-2).
                FrameLayer::Relu if excitation => Relu.eb_backward(&mut p, y, &p_top),
                FrameLayer::Relu => Relu.grad_backward(&mut p, y, &p_top),
                FrameLayer::Dropout if excitation => Dropout.eb_backward(&mut p, &p_top),
                FrameLayer::Dropout => Dropout.grad_backward(&mut p, &p_top),
                FrameLayer::Conv { conv, .. } if excitation => {
                    conv.eb_backward(&mut p, x, &p_top, frames)
                }
                FrameLayer::Conv { conv, .. } => conv.grad_backward(&mut p, &p_top, frames),
                FrameLayer::MaxPool { pool, .. } if excitation => {
                    pool.eb_backward(&mut p, x, &p_top, frames)
                }
                FrameLayer::MaxPool { pool, .. } => pool.grad_backward(&mut p, x, &p_top, frames),
                FrameLayer::AvgPool { pool, .. } if excitation => {
                    pool.eb_backward(&mut p, x, y, &p_top, frames)
                }
                FrameLayer::AvgPool { pool, .. } => pool.grad_backward(&mut p, &p_top, frames),
                FrameLayer::Fc { fc, .. } if excitation => {
                    fc.eb_backward(&mut p, x, &p_top, frames)
                }
                FrameLayer::Fc { fc, .. } => fc.grad_backward(&mut p, &p_top, frames),
            }
            spare = Some(std::mem::replace(&mut p_top, p));
        }
        // The signal outlives the pass: no more memory than its values.
        p_top.shrink_to_fit();
        p_top
    }
}

/// A buffer of `len` zeros, made from `spare` (a signal no longer needed) when there is one.
/// Reusing memory the process has already touched spares the page faults and the kernel's
/// clearing of fresh pages that a new allocation of this size costs (a signal of VGG16's
/// first block is 100 MB for a chunk of 8 frames). spec/pipeline.md ("Execution")
fn zeroed(spare: &mut Option<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut buffer = spare.take().unwrap_or_default();
    buffer.clear();
    buffer.resize(len, 0.0);
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{ConvGeometry, PoolGeometry};
    use crate::rng::Rng;

    /// The first block run group by group (5 frames: groups of 2, 2 and 1) gives the blobs of
    /// the whole chunk's pass bit for bit: every frame's arithmetic is the same.
    #[test]
    fn grouped_first_block_gives_the_same_blobs() {
        let mut rng = Rng::new(7);
        let mut random = |n: usize| (0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>();
        let conv1 = Conv::new(
            ConvGeometry::new(3, 8, 8, 4, 3, 1, 1).unwrap(),
            random(4 * 3 * 9),
            Some(random(4)),
        );
        let pool = MaxPool {
            geometry: PoolGeometry::new(4, 8, 8, 2, 2, 0).unwrap(),
        };
        let conv2 = Conv::new(
            ConvGeometry::new(4, 4, 4, 5, 3, 1, 1).unwrap(),
            random(5 * 4 * 9),
            Some(random(5)),
        );
        let layers = vec![
            FrameLayer::Conv {
                name: "conv1".into(),
                conv: conv1,
            },
            FrameLayer::Relu,
            FrameLayer::MaxPool {
                name: Some("pool1".into()),
                pool,
            },
            FrameLayer::Conv {
                name: "conv2".into(),
                conv: conv2,
            },
            FrameLayer::Relu,
        ];
        let shapes = [[4, 8, 8], [4, 8, 8], [4, 4, 4], [5, 4, 4], [5, 4, 4]];
        let net = FrameNet::new([3, 8, 8], layers, &shapes);
        let frames = 5;
        let x = random(frames * 3 * 64);
        // blobs: 0 the input, 1 conv1, 2 pool1, 3 conv2
        let pool_blob = 2;
        assert_eq!(net.grouped_prefix(pool_blob), 3);
        assert_eq!(
            net.grouped_prefix(1),
            0,
            "a kept blob of the block: no groups"
        );
        let whole = net.forward(&x, frames);
        let kept = net.forward_keeping(&x, frames, pool_blob);
        assert!(kept[1].is_none());
        for b in pool_blob..whole.len() {
            assert_eq!(kept[b].as_ref(), Some(&whole[b]), "blob {b}");
        }
    }
}
