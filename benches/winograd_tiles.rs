//! Which Winograd tile, F(2x2, 3x3) or F(4x4, 3x3)? Per VGG16 convolution (224 px, He
//! weights, a post-ReLU normal input, 2 frames, one thread): the forward pass, the EB pass and
//! the data gradient by the direct path, F(2x2) and F(4x4), their times and their largest
//! difference from the direct path relative to the direct result's largest magnitude.
//!
//! ```text
//! cargo bench --bench winograd_tiles             # every layer
//! cargo bench --bench winograd_tiles -- conv5    # the layers whose name contains conv5
//! cargo bench --bench winograd_tiles -- --frames 8 conv5   # 8 frames (a thread's chunk at T = 16)
//! ```
//!
//! spec/layers/winograd.md ("Which tile") quotes a run.

use ebr::layers::winograd::{self, Tile};
use ebr::layers::{Conv, ConvAlgorithm, ConvGeometry};
use ebr::rng::Rng;

/// VGG16's 3x3 convolutions at 224 px: (name, channels in, size, channels out).
const LAYERS: [(&str, usize, usize, usize); 9] = [
    ("conv1_2", 64, 224, 64),
    ("conv2_1", 64, 112, 128),
    ("conv2_2", 128, 112, 128),
    ("conv3_1", 128, 56, 256),
    ("conv3_2", 256, 56, 256),
    ("conv4_1", 256, 28, 512),
    ("conv4_2", 512, 28, 512),
    ("conv5_1", 512, 14, 512),
    ("conv5_2", 512, 14, 512),
];
/// Frames per call unless `--frames N` says otherwise.
const DEFAULT_FRAMES: usize = 2;
const REPEATS: usize = 3;

fn median_seconds(run: impl FnMut()) -> f64 {
    ebr::bench::median_seconds(REPEATS, run).0
}

/// The largest |a - b| over the largest |b|.
fn relative(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs() as f64))
        / scale
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let frames_at = args.iter().position(|a| a == "--frames");
    let frames: usize = frames_at
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--frames N: a positive integer"))
        .unwrap_or(DEFAULT_FRAMES);
    let filter = args
        .iter()
        .enumerate()
        .find(|&(i, a)| !a.starts_with('-') && frames_at.is_none_or(|f| i != f + 1))
        .map(|(_, a)| a.clone());
    println!("{frames} frames, one thread, median of {REPEATS}; times in ms; error: max |winograd - direct| / max |direct|");
    println!(
        "{:<8} {:<4} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}",
        "layer", "pass", "direct", "F(2x2)", "F(4x4)", "err F2", "err F4", "guarded"
    );
    let mut rng = Rng::new(11);
    for (name, c, size, o) in LAYERS {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let g = ConvGeometry::new(c, size, size, o, 3, 1, 1).unwrap();
        let he = (2.0 / g.patch_len() as f64).sqrt();
        let w: Vec<f32> = (0..o * g.patch_len())
            .map(|_| (rng.normal() * he) as f32)
            .collect();
        let mut conv = Conv::new(g, w, None);
        conv.algorithm = ConvAlgorithm::Direct;
        let x: Vec<f32> = (0..frames * g.in_len())
            .map(|_| (rng.normal() as f32).max(0.0))
            .collect();
        let p_top: Vec<f32> = (0..frames * g.out_len())
            .map(|_| rng.uniform() as f32)
            .collect();
        let mut want = vec![0.0f32; frames * g.out_len()];
        let mut got = want.clone();
        let mut want_in = vec![0.0f32; frames * g.in_len()];
        let mut got_in = want_in.clone();

        let direct = median_seconds(|| conv.forward(&mut want, &x, frames));
        let mut row = vec![direct];
        let mut errors = Vec::new();
        for tile in [Tile::F2, Tile::F4] {
            row.push(median_seconds(|| {
                winograd::forward(tile, &g, &conv.w, &mut got, &x, frames)
            }));
            errors.push(relative(&got, &want));
        }
        print_row(name, "fwd", &row, &errors, "");

        let direct = median_seconds(|| conv.eb_backward(&mut want_in, &x, &p_top, frames));
        let (mut row, mut errors, mut guarded) = (vec![direct], Vec::new(), String::new());
        for tile in [Tile::F2, Tile::F4] {
            let mut counts = Default::default();
            row.push(median_seconds(|| {
                counts =
                    winograd::eb_backward(tile, &g, &conv.w_plus, &mut got_in, &x, &p_top, frames)
            }));
            errors.push(relative(&got_in, &want_in));
            guarded = format!("{}/{}", counts.direct, counts.outputs);
        }
        print_row(name, "eb", &row, &errors, &guarded);

        let direct = median_seconds(|| conv.grad_backward(&mut want_in, &p_top, frames));
        let (mut row, mut errors) = (vec![direct], Vec::new());
        for tile in [Tile::F2, Tile::F4] {
            row.push(median_seconds(|| {
                winograd::transpose(tile, &g, &conv.w, &mut got_in, &p_top, frames)
            }));
            errors.push(relative(&got_in, &want_in));
        }
        print_row(name, "grad", &row, &errors, "");
    }
}

fn print_row(name: &str, pass: &str, ms: &[f64], errors: &[f64], guarded: &str) {
    println!(
        "{:<8} {:<4} {:>9.1} {:>9.1} {:>9.1} {:>10.2e} {:>10.2e} {:>8}",
        name,
        pass,
        ms[0] * 1e3,
        ms[1] * 1e3,
        ms[2] * 1e3,
        errors[0],
        errors[1],
        guarded
    );
}
