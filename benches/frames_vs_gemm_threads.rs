//! Which way should ebr use the machine's two cores: frames in parallel (one thread per half of
//! the clip, each sgemm single-threaded), or matrixmultiply's own threads inside every sgemm?
//!
//! Times the convolution forward and EB backward of three VGG16 layers over a clip of frames:
//!
//! ```text
//! cargo bench --bench frames_vs_gemm_threads                         # sgemm on one thread
//! MATMUL_NUM_THREADS=2 cargo bench --features gemm-threads --bench frames_vs_gemm_threads
//! ```
//!
//! Each run prints, per layer, the median time of "sequential" (frames one after another) and
//! "frames x2" (two threads, half the frames each). In the second command "sequential" is the
//! threaded sgemm. Compare the two commands' "sequential" and "frames x2" columns.

use std::time::Instant;

use ebr::layers::{Conv, ConvGeometry};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// (name, channels in, size, channels out): 3x3 convolutions, stride 1, pad 1, as in VGG16.
const LAYERS: [(&str, usize, usize, usize); 3] = [
    ("conv2_2", 128, 112, 128),
    ("conv4_2", 512, 28, 512),
    ("conv5_2", 512, 14, 512),
];
const FRAMES: usize = 8;
const REPEATS: usize = 5;

fn median_seconds(mut run: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[REPEATS / 2]
}

/// Runs `work(first_frame, frames)` on two threads, each on half of the clip.
fn in_two_halves(frames: usize, work: impl Fn(usize, usize) + Sync) {
    let half = frames / 2;
    std::thread::scope(|scope| {
        scope.spawn(|| work(0, half));
        work(half, frames - half);
    });
}

fn main() {
    let threaded = cfg!(feature = "gemm-threads");
    println!(
        "sgemm threads: {} (feature gemm-threads {}), {FRAMES} frames, median of {REPEATS}",
        std::env::var("MATMUL_NUM_THREADS").unwrap_or_else(|_| "default".into()),
        if threaded { "on" } else { "off" }
    );
    println!("layer     pass      sequential  frames x2   GFLOP/s seq  GFLOP/s x2");
    let mut rng = StdRng::seed_from_u64(7);
    for (name, c, size, o) in LAYERS {
        let g = ConvGeometry::new(c, size, size, o, 3, 1, 1).unwrap();
        let w: Vec<f32> = (0..o * c * 9).map(|_| rng.gen_range(-0.05..0.05)).collect();
        let conv = Conv::new(g, w, None);
        let x: Vec<f32> = (0..FRAMES * g.in_len())
            .map(|_| rng.gen_range(-1.0f32..1.0).max(0.0))
            .collect();
        let p_top: Vec<f32> = (0..FRAMES * g.out_len()).map(|_| rng.gen()).collect();
        let flop_per_frame = 2.0 * (o * c * 9 * size * size) as f64;

        let (in_len, out_len) = (g.in_len(), g.out_len());
        let forward_seq = median_seconds(|| {
            let mut y = vec![0.0; FRAMES * out_len];
            conv.forward(&mut y, &x, FRAMES);
        });
        let forward_par = median_seconds(|| {
            in_two_halves(FRAMES, |first, n| {
                let mut y = vec![0.0; n * out_len];
                conv.forward(&mut y, &x[first * in_len..(first + n) * in_len], n);
            });
        });
        // EB: two products of the forward's size (Z and the transpose).
        let eb_seq = median_seconds(|| {
            let mut p = vec![0.0; FRAMES * in_len];
            conv.eb_backward(&mut p, &x, &p_top, FRAMES);
        });
        let eb_par = median_seconds(|| {
            in_two_halves(FRAMES, |first, n| {
                let mut p = vec![0.0; n * in_len];
                let x_half = &x[first * in_len..(first + n) * in_len];
                let p_top_half = &p_top[first * out_len..(first + n) * out_len];
                conv.eb_backward(&mut p, x_half, p_top_half, n);
            });
        });
        for (pass, flop, seq, par) in [
            ("forward", flop_per_frame, forward_seq, forward_par),
            ("eb", 2.0 * flop_per_frame, eb_seq, eb_par),
        ] {
            let total = flop * FRAMES as f64 * 1e-9;
            println!(
                "{name:<9} {pass:<9} {seq:>8.3} s  {par:>8.3} s  {:>11.1}  {:>10.1}",
                total / seq,
                total / par
            );
        }
    }
}
