//! What `ebr bench` measures with: the paper's VGG16-LSTM as a model description, the FLOPs
//! of its matrix products, the machine's sgemm peak, and the process's peak memory.

use std::time::Instant;

use crate::gemm::{gemm, Op};
use crate::model::frame_net::{FrameLayer, FrameNet};
use crate::model::schema::{
    ChannelOrder, FcSpec, FrameLayerSpec, InputSpec, ModelSpec, TemporalLayerSpec,
};
use crate::model::{Model, TemporalLayer};

/// VGG16's convolution blocks: (channels, convolutions).
const VGG16_BLOCKS: [(usize, usize); 5] = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)];

/// The paper's model (ORIGINAL.md section 3): VGG16 to fc7 (13 convolutions with in-place
/// ReLUs, 5 max pools, fc6 and fc7 of 4096 with ReLU and Dropout), one LSTM of 256 units and a
/// classifier of 101 classes, on `size` x `size` frames (224 in the paper).
pub fn vgg16_lstm_spec(size: usize) -> ModelSpec {
    let mut frame = Vec::new();
    for (block, &(channels, convs)) in VGG16_BLOCKS.iter().enumerate() {
        for k in 0..convs {
            frame.push(FrameLayerSpec::Conv {
                name: format!("conv{}_{}", block + 1, k + 1),
                out: channels,
                kernel: 3,
                stride: 1,
                pad: 1,
                bias: true,
            });
            frame.push(FrameLayerSpec::Relu);
        }
        frame.push(FrameLayerSpec::MaxPool {
            name: Some(format!("pool{}", block + 1)),
            kernel: 2,
            stride: 2,
            pad: 0,
        });
    }
    for name in ["fc6", "fc7"] {
        frame.push(FrameLayerSpec::Fc {
            name: name.to_string(),
            out: 4096,
            bias: true,
        });
        frame.push(FrameLayerSpec::Relu);
        frame.push(FrameLayerSpec::Dropout);
    }
    ModelSpec {
        name: format!("VGG16-LSTM, random He weights, {size}x{size}"),
        input: InputSpec {
            channels: 3,
            height: size,
            width: size,
            resize: None,
            scale: 255.0,
            channel_order: ChannelOrder::Bgr,
            mean: vec![103.939, 116.779, 128.68],
            std: vec![1.0; 3],
        },
        frame,
        temporal: vec![TemporalLayerSpec::Lstm {
            name: "lstm1".to_string(),
            hidden: 256,
        }],
        classifier: FcSpec {
            name: "fc8-final".to_string(),
            out: 101,
            bias: true,
        },
        frame_classifier: None,
        captioner: None,
        labels: (0..101).map(|k| format!("class{k}")).collect(),
    }
}

/// FLOPs (2 per multiply-add) of one frame's forward matrix products in every frame layer
/// (0 for the layers without one).
pub fn forward_flops_per_frame(frame: &FrameNet) -> Vec<f64> {
    frame
        .layers
        .iter()
        .map(|layer| match layer {
            FrameLayer::Conv { conv, .. } => {
                let g = conv.geometry;
                2.0 * (g.out_channels * g.patch_len() * g.out_height() * g.out_width()) as f64
            }
            FrameLayer::Fc { fc, .. } => 2.0 * (fc.outputs * fc.inputs) as f64,
            _ => 0.0,
        })
        .collect()
}

/// FLOPs of the matrix products of the forward pass of a clip of `frames` frames: the frame
/// CNN, the temporal stack and the classifier.
pub fn forward_flops(model: &Model, frames: usize) -> f64 {
    let cnn: f64 = forward_flops_per_frame(&model.frame).iter().sum();
    let mut width = model.frame.feature_len();
    let mut steps = frames;
    let mut temporal = 0.0;
    for layer in &model.temporal {
        match layer {
            TemporalLayer::Lstm { lstm, .. } => {
                let h = lstm.hidden;
                temporal += 2.0 * (steps * 4 * h * (width + h)) as f64;
                width = h;
            }
            TemporalLayer::MeanPool => steps = 1,
        }
    }
    let classifier = 2.0 * (steps * width * model.classes()) as f64;
    cnn * frames as f64 + temporal + classifier
}

/// FLOPs of the matrix products of cEB-R down to blob `down_to`, after the forward pass: the
/// temporal part twice (the class and its dual), then EB down the CNN once (the contrastive
/// signal), two products per layer with weights (Z and the transpose).
pub fn cebr_backward_flops(model: &Model, frames: usize, down_to: usize) -> f64 {
    let per_frame = forward_flops_per_frame(&model.frame);
    let writer = model.frame.feature_writer();
    let lowest = if down_to == 0 {
        0
    } else {
        (0..model.frame.layers.len())
            .find(|&i| model.frame.layer_blob[i] == down_to)
            .map_or(0, |w| w + 1)
    };
    let cnn: f64 = (lowest..=writer).map(|i| 2.0 * per_frame[i]).sum();
    let mut temporal = 0.0;
    let mut width = model.frame.feature_len();
    for layer in &model.temporal {
        if let TemporalLayer::Lstm { lstm, .. } = layer {
            // EB through W_xc: Z and the transpose (the unit's backward has no product).
            temporal += 2.0 * 2.0 * (frames * 4 * lstm.hidden * width) as f64;
            width = lstm.hidden;
        }
    }
    let classifier = 2.0 * 2.0 * (frames * width * model.classes()) as f64;
    cnn * frames as f64 + 2.0 * (temporal + classifier)
}

/// The sgemm rate of this machine in GFLOP/s: `threads` threads each multiplying its own
/// `n` x `n` matrices (one single-threaded sgemm per thread, as ebr runs them), best of
/// `repeat`.
pub fn sgemm_peak_gflops(n: usize, threads: usize, repeat: usize) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
    let b = a.clone();
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| {
                    let mut c = vec![0.0f32; n * n];
                    gemm(n, n, n, &a, Op::AsStored, &b, Op::AsStored, 0.0, &mut c);
                    c[0]
                });
            }
        });
        best = best.min(start.elapsed().as_secs_f64());
    }
    2.0 * (n * n * n) as f64 * threads.max(1) as f64 / best * 1e-9
}

/// The process's peak resident memory (VmHWM of /proc/self/status) in bytes, where the
/// system has it (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Median of the run times of `work`, called `repeat` times, in seconds.
pub fn median_seconds(repeat: usize, mut work: impl FnMut()) -> (f64, Vec<f64>) {
    let mut times: Vec<f64> = (0..repeat.max(1))
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .collect();
    let all = times.clone();
    times.sort_by(|a, b| a.total_cmp(b));
    (times[times.len() / 2], all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn vgg16_has_its_shapes_and_known_flops() {
        let model = Model::random(&vgg16_lstm_spec(32), 1, Path::new("vgg")).unwrap();
        assert_eq!(model.frame.blob_shapes.last(), Some(&[4096, 1, 1]));
        let pool5 = model.frame.blob_of_layer("pool5").unwrap();
        assert_eq!(model.frame.blob_shapes[pool5], [512, 1, 1]);
        // VGG16's convolutions do 15,346,630,656 multiply-adds per 224-px frame (the sum over
        // the 13 layers of O * C * 9 * H * W); every size divides, so at 32 px it is that
        // times (32 / 224)^2 = 1 / 49: 313,196,544.
        let flops = forward_flops_per_frame(&model.frame);
        let conv: f64 = model
            .frame
            .layers
            .iter()
            .zip(&flops)
            .filter(|(l, _)| l.kind() == "conv")
            .map(|(_, f)| f)
            .sum();
        assert_eq!(conv, 2.0 * 313_196_544.0);
        // fc6 (4096 x 512) and fc7 (4096 x 4096) at 32 px.
        assert_eq!(
            flops.iter().sum::<f64>() - conv,
            2.0 * (4096.0 * 512.0 + 4096.0 * 4096.0)
        );
    }
}
