//! The last step of every method: the signal at the feature blob down the frame CNN to the map
//! layer, per chunk of frames in parallel, and the maps as the signal summed over channels.
//! spec/pipeline.md (PIPE-8, PIPE-9)

use crate::layers::Rule;
use crate::model::frame_net::frame_len;
use crate::model::{ClipForward, Model};
use crate::parallel::map_chunks;

/// The signal at blob `down_to` of every frame, from `signal` (T, D) at the feature blob:
/// per chunk of frames, in parallel, with the chunk's kept blobs or a forward pass recomputed
/// from the clip `fwd` ran on. The gradient first passes the in-place layers on the feature
/// blob (relu7, drop7); EB starts at the layer that wrote it, as the demo.
/// spec/pipeline.md (PIPE-8, PIPE-9)
pub fn frame_backward(
    model: &Model,
    fwd: &ClipForward,
    signal: &[f32],
    down_to: usize,
    rule: Rule,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<f32> {
    let frame = &model.frame;
    let (in_len, d) = (frame_len(frame.input_shape()), frame.feature_len());
    let out_len = frame_len(frame.blob_shapes[down_to]);
    assert_eq!(
        signal.len(),
        fwd.frames * d,
        "frame_backward: signal is (T, D)"
    );
    let per_chunk = map_chunks(&fwd.chunks, fwd.threads, |c| {
        let recomputed;
        let blobs = match &fwd.chunk_blobs {
            Some(kept) if fwd.kept_from <= down_to => {
                let k = fwd
                    .chunks
                    .iter()
                    .position(|&other| other == c)
                    .expect("own chunk");
                &kept[k]
            }
            _ => {
                let x = &fwd.clip[c.first * in_len..(c.first + c.len) * in_len];
                recomputed = frame.forward_keeping(x, c.len, down_to);
                &recomputed
            }
        };
        let mut p = signal[c.first * d..(c.first + c.len) * d].to_vec();
        if rule == Rule::Gradient {
            let feature = blobs[frame.feature_blob()]
                .as_deref()
                .expect("the feature is kept");
            p = frame.backward_feature_tail(feature, p, c.len, rule);
        }
        let p = frame.backward(blobs, p, down_to, c.len, rule);
        progress(c.len);
        p
    });
    let mut out = Vec::with_capacity(fwd.frames * out_len);
    for p in per_chunk {
        out.extend_from_slice(&p);
    }
    out
}

/// maps: (T, H, W), the sum over channels of `signal` (T, C, H, W). spec/pipeline.md (PIPE-9)
pub fn channel_sum(signal: &[f32], frames: usize, shape: [usize; 3]) -> Vec<f32> {
    let [c_n, h, w] = shape;
    assert_eq!(
        signal.len(),
        frames * c_n * h * w,
        "channel_sum: signal is (T, C, H, W)"
    );
    let mut maps = vec![0.0f32; frames * h * w];
    for (map, s) in maps
        .chunks_exact_mut(h * w)
        .zip(signal.chunks_exact(c_n * h * w))
    {
        for channel in s.chunks_exact(h * w) {
            map.iter_mut().zip(channel).for_each(|(m, &v)| *m += v);
        }
    }
    maps
}
