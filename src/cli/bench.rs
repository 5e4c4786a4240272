//! `ebr bench`: speed and memory of cEB-R on the paper's VGG16-LSTM with random weights (no
//! files needed). Each scenario runs in a child process of its own, so that its peak memory is
//! its own.

use std::path::Path;
use std::process::Command;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use ebr::bench::{
    cebr_backward_flops, forward_flops, median_seconds, peak_rss_bytes, sgemm_peak_gflops,
    vgg16_lstm_spec,
};
use ebr::grounding::{ground, map_blob, Method, Normalization, Options, Prior};
use ebr::layers::LstmEbRule;
use ebr::model::{forward_clip, Execution, FrameLayer, Model};
use ebr::rng::Rng;
use ebr::Error;

use super::output_text::print_line;
use super::{Activations, ConvArg};

/// Time the forward pass and cEB-R on a VGG16-LSTM (13 conv, 5 max pools, fc6/fc7 4096,
/// LSTM 256, 101 classes) with random He weights, on a random clip; print the median times,
/// the GFLOP/s of the matrix products and their fraction of this machine's sgemm rate, the
/// peak memory of each scenario, and a per-layer breakdown of the convolutions.
///
/// Examples:
///   ebr bench                                  # T = 16 at 224 px, three scenarios
///   ebr bench --frames-list 8,16,32,64,128 --scenario conv5_1
///   ebr bench --size 112 --repeat 5 --json bench.json
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct BenchArgs {
    /// Frames of the clip.
    #[arg(long, default_value_t = 16, value_name = "T")]
    frames: usize,
    /// Run the scenarios for each of these clip lengths instead (e.g. 8,16,32).
    #[arg(long, value_delimiter = ',', value_name = "T,T,...")]
    frames_list: Vec<usize>,
    /// Frame size in pixels (a multiple of 32, at most 704).
    #[arg(long, default_value_t = 224, value_name = "PX")]
    size: usize,
    /// Runs per scenario (the median is reported; 1 to 1000).
    #[arg(long, default_value_t = 3, value_name = "N")]
    repeat: usize,
    /// Worker threads (0: one per core; at most 256).
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Which scenarios: forward, cEB-R to conv5_1, cEB-R to the input, or all three.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// Keep every frame's activations or recompute them in the backward pass.
    #[arg(long, value_enum, default_value_t = Activations::Auto, value_name = "WHEN")]
    activations: Activations,
    /// The convolutions compared with the direct path in every scenario (winograd or auto;
    /// direct runs the direct path only). spec/layers/winograd.md
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ConvArg::Auto)]
    conv: ConvArg,
    /// Skip the per-layer breakdown.
    #[arg(long)]
    no_breakdown: bool,
    /// Also write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<std::path::PathBuf>,
    /// (internal) run one scenario in this process and print its result as JSON.
    #[arg(long, hide = true, value_enum)]
    child: Option<Scenario>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    All,
    Forward,
    #[value(name = "conv5_1")]
    Conv51,
    Data,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::All => "all",
            Scenario::Forward => "forward",
            Scenario::Conv51 => "conv5_1",
            Scenario::Data => "data",
        }
    }
}

/// The benchmark's clip: uniform in [-120, 135), as the PyTorch peer's (rand * 255 - 120).
fn random_clip(frames: usize, size: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..frames * 3 * size * size)
        .map(|_| (rng.uniform() * 255.0 - 120.0) as f32)
        .collect()
}

fn execution(args: &BenchArgs) -> Execution {
    Execution {
        threads: args.threads,
        keep_activations: match args.activations {
            Activations::Auto => None,
            Activations::Keep => Some(true),
            Activations::Recompute => Some(false),
        },
        ..Execution::default()
    }
}

fn no_progress(_: usize) {}

/// One scenario in this process: returns its JSON result.
fn run_child(args: &BenchArgs, scenario: Scenario, frames: usize) -> Result<Value, Error> {
    let mut model = Model::random(&vgg16_lstm_spec(args.size), 1, Path::new("vgg16-lstm"))?;
    model.set_conv_algorithm(args.conv.algorithm());
    let clip = random_clip(frames, args.size, 2);
    let exec = execution(args);
    let (flops, layer, down_to) = match scenario {
        Scenario::Forward => (forward_flops(&model, frames), None, None),
        Scenario::Conv51 | Scenario::Data => {
            let layer = if scenario == Scenario::Data {
                "data"
            } else {
                "conv5_1"
            };
            let down_to = map_blob(&model, layer)?;
            let flops =
                forward_flops(&model, frames) + cebr_backward_flops(&model, frames, down_to);
            (flops, Some(layer), Some(down_to))
        }
        Scenario::All => unreachable!("the parent splits all into scenarios"),
    };
    // The scenario's result: the maps for cEB-R, the features for the forward pass.
    let run = |model: &Model| -> Vec<f32> {
        let fwd = forward_clip(model, &clip, frames, &exec, down_to, &no_progress);
        match layer {
            Some(layer) => {
                let options = Options {
                    method: Method::Cebr,
                    class: 3,
                    layer: layer.to_string(),
                    prior: Prior::Last,
                    normalization: Normalization::Paper,
                    lstm_rule: LstmEbRule::Original,
                };
                ground(model, &fwd, &options, &no_progress)
                    .expect("the layer exists")
                    .maps
            }
            None => fwd.features,
        }
    };
    let mut result = Vec::new();
    let (median, times) = median_seconds(args.repeat, || {
        result = std::hint::black_box(run(&model));
    });
    let peak_rss = peak_rss_bytes();
    // The largest difference from the direct path's result, relative to its largest value
    // (after the peak memory is read: the direct run is not part of the scenario).
    let difference = (args.conv != ConvArg::Direct).then(|| {
        model.set_conv_algorithm(ebr::layers::ConvAlgorithm::Direct);
        let direct = run(&model);
        let scale = direct.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let most = result
            .iter()
            .zip(&direct)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        if scale > 0.0 {
            most / scale
        } else {
            most
        }
    });
    Ok(json!({
        "scenario": scenario.name(),
        "frames": frames,
        "size": args.size,
        "median_s": median,
        "times_s": times,
        "gflop": flops * 1e-9,
        "gflops_per_s": flops * 1e-9 / median,
        "peak_rss_bytes": peak_rss,
        "conv": conv_name(args.conv),
        "max_difference_from_direct": difference,
    }))
}

fn conv_name(conv: ConvArg) -> &'static str {
    match conv {
        ConvArg::Direct => "direct",
        ConvArg::Winograd => "winograd",
        ConvArg::Auto => "auto",
    }
}

/// Runs `scenario` for `frames` frames with the convolutions `conv` in a child process and
/// reads its JSON result.
fn spawn_child(
    args: &BenchArgs,
    scenario: Scenario,
    frames: usize,
    conv: ConvArg,
) -> Result<Value, Error> {
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        path: "the ebr executable".into(),
        source,
    })?;
    let mut command = Command::new(&exe);
    command.args([
        "bench",
        "--child",
        scenario.name(),
        "--frames",
        &frames.to_string(),
        "--size",
        &args.size.to_string(),
        "--repeat",
        &args.repeat.to_string(),
        "--threads",
        &args.threads.to_string(),
        "--conv",
        conv_name(conv),
        "--activations",
        match args.activations {
            Activations::Auto => "auto",
            Activations::Keep => "keep",
            Activations::Recompute => "recompute",
        },
    ]);
    let output = command.output().map_err(|source| Error::Io {
        path: exe.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(Error::Unsupported {
            reason: format!(
                "the bench scenario {} ({} frames) failed: {}",
                scenario.name(),
                frames,
                String::from_utf8_lossy(&output.stderr)
                    .trim()
                    .trim_start_matches("ebr: ")
            ),
        });
    }
    serde_json::from_slice(&output.stdout).map_err(|e| Error::Unsupported {
        reason: format!(
            "the bench scenario {} printed no result: {e}",
            scenario.name()
        ),
    })
}

/// Per convolution, one frame on one thread: the forward pass, the EB normalizer (im2col,
/// Z = W+ x, the ratio) and the EB transpose (W+^T X, col2im, times x), and of those the
/// im2col and col2im alone.
fn breakdown(size: usize, repeat: usize) -> Result<Vec<Value>, Error> {
    let model = Model::random(&vgg16_lstm_spec(size), 1, Path::new("vgg16-lstm"))?;
    let mut rows = Vec::new();
    let mut rng = Rng::new(3);
    for layer in &model.frame.layers {
        let FrameLayer::Conv { name, conv } = layer else {
            continue;
        };
        let g = conv.geometry;
        let ohw = g.out_height() * g.out_width();
        let x: Vec<f32> = (0..g.in_len())
            .map(|_| (rng.normal() as f32).max(0.0))
            .collect();
        let p_top: Vec<f32> = (0..g.out_len()).map(|_| rng.uniform() as f32).collect();
        let mut y = vec![0.0f32; g.out_len()];
        let tiles = conv.tiles();
        let most = tiles.iter().map(|t| t.len()).max().unwrap_or(0);
        let mut col = vec![0.0f32; g.patch_len() * most];
        let mut ratios = vec![0.0f32; g.out_channels * ohw];
        let mut p_bottom = vec![0.0f32; g.in_len()];
        let (forward, _) = median_seconds(repeat, || conv.forward(&mut y, &x, 1));
        // The two halves of EB over the layer's tiles, as Conv::eb_backward runs them; every
        // tile's ratio is kept so that the second half can be timed on its own.
        let (normalizer, _) = median_seconds(repeat, || {
            for tile in &tiles {
                let (t, at) = (tile.len(), tile.start * g.out_channels);
                let ratio = &mut ratios[at..at + g.out_channels * t];
                conv.eb_ratio(
                    ratio,
                    &mut col[..g.patch_len() * t],
                    &x,
                    &p_top,
                    tile.clone(),
                );
            }
        });
        let (transpose, _) = median_seconds(repeat, || {
            for tile in &tiles {
                let (t, at) = (tile.len(), tile.start * g.out_channels);
                let ratio = &ratios[at..at + g.out_channels * t];
                conv.eb_distribute(
                    &mut p_bottom,
                    &mut col[..g.patch_len() * t],
                    ratio,
                    tile.clone(),
                );
            }
        });
        let (im2col, _) = median_seconds(repeat, || {
            for tile in &tiles {
                let t = tile.len();
                ebr::layers::im2col::im2col(&mut col[..g.patch_len() * t], &x, &g, tile.clone());
            }
        });
        let (col2im, _) = median_seconds(repeat, || {
            for tile in &tiles {
                let t = tile.len();
                ebr::layers::im2col::col2im_add(
                    &mut p_bottom,
                    &col[..g.patch_len() * t],
                    &g,
                    tile.clone(),
                );
            }
        });
        // The same layer by Winograd (forced), where it qualifies: forward and the whole EB.
        let mut wino = conv.clone();
        wino.algorithm = ebr::layers::ConvAlgorithm::Winograd;
        let (wino_forward, wino_eb) = if wino.winograd_tile().is_some() {
            let (f, _) = median_seconds(repeat, || wino.forward(&mut y, &x, 1));
            let (e, _) = median_seconds(repeat, || wino.eb_backward(&mut p_bottom, &x, &p_top, 1));
            (Some(f * 1e3), Some(e * 1e3))
        } else {
            (None, None)
        };
        let gflop = 2.0 * (g.out_channels * g.patch_len() * ohw) as f64 * 1e-9;
        rows.push(json!({
            "layer": name, "forward_ms": forward * 1e3, "eb_normalizer_ms": normalizer * 1e3,
            "eb_transpose_ms": transpose * 1e3, "im2col_ms": im2col * 1e3, "col2im_ms": col2im * 1e3,
            "gemm_gflop": gflop, "winograd_forward_ms": wino_forward, "winograd_eb_ms": wino_eb,
        }));
    }
    Ok(rows)
}

/// The largest --size: fc6's weight, 4096 x 512 (size / 32)^2, keeps the model within the
/// default memory budget's 2^30 parameters up to 704 px (736 px is refused by the model).
const MAX_SIZE: usize = 704;
/// The most runs per scenario.
const MAX_REPEAT: usize = 1000;
/// The most threads: the sgemm peak measurement holds a 1024^2 product (4 MB) per thread.
const MAX_THREADS: usize = 256;

/// Checks every flag before any work, so that no value panics or aborts on an allocation.
fn check_args(args: &BenchArgs) -> Result<(), Error> {
    let refuse = |reason: String| Err(Error::Unsupported { reason });
    if args.size == 0 || !args.size.is_multiple_of(32) || args.size > MAX_SIZE {
        return refuse(format!(
            "--size {} must be a multiple of 32 from 32 to {MAX_SIZE} (VGG16 pools five times; fc6 grows with the size)",
            args.size
        ));
    }
    if args.repeat == 0 || args.repeat > MAX_REPEAT {
        return refuse(format!(
            "--repeat {} must be between 1 and {MAX_REPEAT}",
            args.repeat
        ));
    }
    if args.threads > MAX_THREADS {
        return refuse(format!(
            "--threads {} must be at most {MAX_THREADS} (0: one per core)",
            args.threads
        ));
    }
    let budget = ebr::budget::Budget::DEFAULT;
    let (flag, lengths) = if args.frames_list.is_empty() {
        ("--frames", vec![args.frames])
    } else {
        ("--frames-list", args.frames_list.clone())
    };
    for frames in lengths {
        if frames == 0 {
            return refuse(format!("{flag}: a clip needs at least 1 frame, not 0"));
        }
        let values = [3, args.size, args.size]
            .iter()
            .try_fold(frames, |n, &k| n.checked_mul(k));
        if values.is_none_or(|v| v > budget.values()) {
            return refuse(format!(
                "{flag}: {frames} frames of 3x{0}x{0} take more than {1} float32 values ({2}), more than ebr accepts",
                args.size,
                budget.values(),
                budget.describe()
            ));
        }
    }
    Ok(())
}

pub fn run(args: &BenchArgs) -> Result<(), Error> {
    check_args(args)?;
    if let Some(scenario) = args.child {
        let result = run_child(args, scenario, args.frames)?;
        print_line(format_args!("{result}"));
        return Ok(());
    }
    let threads = ebr::parallel::worker_count(args.threads);
    let peak_1 = sgemm_peak_gflops(1024, 1, 3);
    let peak = sgemm_peak_gflops(1024, threads, 3);
    print_line(format_args!(
        "sgemm (matrixmultiply, 1024^3 per thread): {peak_1:.1} GFLOP/s on 1 thread, {peak:.1} GFLOP/s on {threads}"
    ));
    let scenarios: Vec<Scenario> = match args.scenario {
        Scenario::All => vec![Scenario::Forward, Scenario::Conv51, Scenario::Data],
        one => vec![one],
    };
    let lengths = if args.frames_list.is_empty() {
        vec![args.frames]
    } else {
        args.frames_list.clone()
    };
    print_line(format_args!(
        "VGG16-LSTM at {0}x{0}, {threads} threads, median of {1} runs",
        args.size, args.repeat
    ));
    print_line(format_args!(
        "GFLOP/s: the direct path's FLOPs over the time (Winograd's effective rate); difference: the largest |map - direct map| over the direct map's largest (features for forward)"
    ));
    print_line(format_args!(
        "{:<10} {:<8} {:>6} {:>10} {:>10} {:>10} {:>8} {:>12} {:>10}",
        "scenario",
        "conv",
        "frames",
        "median s",
        "GFLOP",
        "GFLOP/s",
        "of peak",
        "peak RSS MB",
        "difference"
    ));
    let convs: Vec<ConvArg> = if args.conv == ConvArg::Direct {
        vec![ConvArg::Direct]
    } else {
        vec![ConvArg::Direct, args.conv]
    };
    let mut results = Vec::new();
    for &frames in &lengths {
        for &scenario in &scenarios {
            let mut times = Vec::new();
            for &conv in &convs {
                let r = spawn_child(args, scenario, frames, conv)?;
                let rate = r["gflops_per_s"].as_f64().unwrap_or(0.0);
                let difference = r["max_difference_from_direct"]
                    .as_f64()
                    .map_or("-".to_string(), |d| format!("{d:.1e}"));
                print_line(format_args!(
                    "{:<10} {:<8} {:>6} {:>10.3} {:>10.1} {:>10.1} {:>7.0}% {:>12.0} {:>10}",
                    scenario.name(),
                    conv_name(conv),
                    frames,
                    r["median_s"].as_f64().unwrap_or(f64::NAN),
                    r["gflop"].as_f64().unwrap_or(f64::NAN),
                    rate,
                    100.0 * rate / peak,
                    r["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
                    difference,
                ));
                times.push(r["median_s"].as_f64().unwrap_or(f64::NAN));
                results.push(r);
            }
            if let [direct, other] = times[..] {
                print_line(format_args!(
                    "{:<10} ratio {}/direct {:.2}",
                    scenario.name(),
                    conv_name(args.conv),
                    other / direct
                ));
            }
        }
    }
    let rows = if args.no_breakdown {
        Vec::new()
    } else {
        breakdown(args.size, args.repeat)?
    };
    if !rows.is_empty() {
        print_line(format_args!("per convolution, one frame, one thread (ms; the normalizer includes im2col, the transpose col2im; W: Winograd, forced):"));
        print_line(format_args!(
            "{:<9} {:>9} {:>13} {:>13} {:>9} {:>9} {:>10} {:>9} {:>9}",
            "layer",
            "forward",
            "EB normalizer",
            "EB transpose",
            "im2col",
            "col2im",
            "fwd GFLOP/s",
            "W fwd",
            "W EB"
        ));
        for r in &rows {
            let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            let wino = |k: &str| r[k].as_f64().map_or("-".to_string(), |v| format!("{v:.2}"));
            print_line(format_args!(
                "{:<9} {:>9.2} {:>13.2} {:>13.2} {:>9.2} {:>9.2} {:>10.1} {:>9} {:>9}",
                r["layer"].as_str().unwrap_or(""),
                f("forward_ms"),
                f("eb_normalizer_ms"),
                f("eb_transpose_ms"),
                f("im2col_ms"),
                f("col2im_ms"),
                f("gemm_gflop") / (f("forward_ms") * 1e-3),
                wino("winograd_forward_ms"),
                wino("winograd_eb_ms"),
            ));
        }
    }
    if let Some(path) = &args.json {
        let all = json!({
            "sgemm_peak_gflops": {"one_thread": peak_1, "threads": threads, "all_threads": peak},
            "scenarios": results,
            "breakdown": rows,
        });
        let text = serde_json::to_string_pretty(&all).expect("JSON serializes");
        ebr::output::write_atomically(path, format!("{text}\n").as_bytes())?;
    }
    Ok(())
}
