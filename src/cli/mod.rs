//! The subcommands and their shared options. Each subcommand lives in its own file.

mod bench;
mod classify;
mod eval;
mod ground;
mod ground_batch;
mod ground_caption;
mod import_caffe;
mod inspect;
mod map_outputs;
mod output_text;

pub use output_text::print_error_line;
mod progress;
mod synth;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use ebr::budget::Budget;
use ebr::grounding::{Method, Normalization, Prior};
use ebr::model::Execution;
use ebr::model::Model;
use ebr::Error;

/// ebr: contrastive Excitation Backprop for RNNs (cEB-R; Bargal et al., CVPR 2018).
///
/// Given a CNN-LSTM video model and one clip, ebr shows where and when the evidence for a
/// class lies: a signed saliency map per frame, and the temporal segment of the action.
/// It computes what the authors' Caffe code computes (see spec/ in the source).
///
/// Exit codes: 0 success, 1 bad input or failure (one line on stderr), 2 bad usage.
#[derive(Parser, Debug)]
#[command(
    name = "ebr",
    version,
    about,
    long_about,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Ground(ground::GroundArgs),
    GroundBatch(ground_batch::GroundBatchArgs),
    GroundCaption(ground_caption::GroundCaptionArgs),
    Classify(classify::ClassifyArgs),
    Inspect(inspect::InspectArgs),
    ImportCaffe(import_caffe::ImportCaffeArgs),
    Bench(bench::BenchArgs),
    Synth(synth::SynthArgs),
    Eval(eval::EvalArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Ground(args) => ground::run(&args),
        Command::GroundBatch(args) => ground_batch::run(&args),
        Command::GroundCaption(args) => ground_caption::run(&args),
        Command::Classify(args) => classify::run(&args),
        Command::Inspect(args) => inspect::run(&args),
        Command::ImportCaffe(args) => import_caffe::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Synth(args) => synth::run(&args),
        Command::Eval(args) => eval::run(&args),
    }
}

/// The model and the clip, shared by ground and classify.
#[derive(Args, Debug)]
struct Input {
    /// Model directory: model.json and one .npy per parameter (spec/model.md).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// A directory of frames (jpg/png, sorted by file name; preprocessed as model.json says)
    /// or a .npy of shape (T, C, H, W), float32, already preprocessed.
    #[arg(long, value_name = "PATH")]
    clip: PathBuf,
    #[command(flatten)]
    workers: Workers,
    /// No progress bar and no report on stdout.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    memory: MemoryArg,
    /// How the 3x3, stride-1 convolutions compute their products: auto, Winograd where the
    /// layer has 16 or more input channels; direct, im2col (the reference); winograd, every
    /// such layer (spec/layers/winograd.md).
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ConvArg::Auto)]
    conv: ConvArg,
}

/// `--threads` and `--activations`: how a clip's frames run (ground, classify,
/// ground-caption, ground-batch).
#[derive(Args, Debug)]
struct Workers {
    /// Worker threads for the frames (0: one per core; at most 256).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = thread_count)]
    threads: usize,
    /// Keep every frame's activations for the backward pass, or recompute them per chunk of
    /// frames (constant memory for long clips). Default: keep while they fit in 1 GiB.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Activations::Auto)]
    activations: Activations,
}

/// `--conv`: the direct path (im2col and one matrix product: the reference), Winograd's
/// F(m x m, 3 x 3) for every 3x3, stride-1 layer, or Winograd where it pays (a 3x3,
/// stride-1 layer with at least 16 input channels). spec/layers/winograd.md ("Selection")
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ConvArg {
    Direct,
    Winograd,
    Auto,
}

impl ConvArg {
    fn algorithm(self) -> ebr::layers::ConvAlgorithm {
        match self {
            ConvArg::Direct => ebr::layers::ConvAlgorithm::Direct,
            ConvArg::Winograd => ebr::layers::ConvAlgorithm::Winograd,
            ConvArg::Auto => ebr::layers::ConvAlgorithm::Auto,
        }
    }
}

/// `--memory-budget`, for every command that reads a model or a clip.
#[derive(Args, Debug)]
struct MemoryArg {
    /// The most memory one input may claim, in GiB: a .npy file's data, the model's
    /// parameters together, one frame's blobs together, the clip's values. Checked from the
    /// files' headers and model.json before anything is read.
    #[arg(long, value_name = "GIB", default_value = "4", value_parser = parse_budget)]
    memory_budget: Budget,
}

/// `--threads`' value: 0 (one per core) to 256; more threads than frames or cores only wait,
/// and thousands of them exhaust memory before they help.
fn thread_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n <= 256 => Ok(n),
        _ => Err(format!("{text:?} is not a number of threads from 0 to 256")),
    }
}

/// `--memory-budget`'s value: a positive number of GiB.
fn parse_budget(text: &str) -> Result<Budget, String> {
    text.parse::<f64>()
        .ok()
        .and_then(Budget::from_gib)
        .ok_or_else(|| format!("{text:?} is not a positive number of GiB"))
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Activations {
    Auto,
    Keep,
    Recompute,
}

impl Input {
    fn execution(&self) -> Execution {
        self.workers.execution()
    }
}

impl Workers {
    /// How the frames run: on `threads` threads, their activations kept as `activations` says.
    fn execution(&self) -> Execution {
        Execution {
            threads: self.threads,
            keep_activations: match self.activations {
                Activations::Auto => None,
                Activations::Keep => Some(true),
                Activations::Recompute => Some(false),
            },
            ..Execution::default()
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum MethodArg {
    /// contrastive EB for RNNs (the paper's method)
    Cebr,
    /// EB for RNNs, no contrast
    Ebr,
    /// the gradient through the classifier, the LSTM and the CNN
    Bpr,
    /// EB per frame from the frame classifier
    Eb,
    /// contrastive EB per frame from the frame classifier
    Ceb,
    /// the gradient per frame from the frame classifier
    Bp,
}

impl MethodArg {
    fn method(self) -> Method {
        match self {
            MethodArg::Cebr => Method::Cebr,
            MethodArg::Ebr => Method::Ebr,
            MethodArg::Bpr => Method::Bpr,
            MethodArg::Eb => Method::Eb,
            MethodArg::Ceb => Method::Ceb,
            MethodArg::Bp => Method::Bp,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PriorArg {
    /// one-hot at the last step (the demo's default)
    Last,
    /// one-hot at every step
    All,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum NormalizationArg {
    /// the paper's Eqs. 5-6: divide by the sum over the clip
    Paper,
    /// the demo notebook's (differs from paper only with --prior all)
    Demo,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LstmRuleArg {
    /// the original code's (the unit's gradient formula; does not conserve)
    Original,
    /// ebr's own: conserves the signal through the LSTM
    Conserving,
}

impl LstmRuleArg {
    fn rule(self) -> ebr::layers::LstmEbRule {
        match self {
            LstmRuleArg::Original => ebr::layers::LstmEbRule::Original,
            LstmRuleArg::Conserving => ebr::layers::LstmEbRule::Conserving,
        }
    }
}

impl PriorArg {
    fn prior(self) -> Prior {
        match self {
            PriorArg::Last => Prior::Last,
            PriorArg::All => Prior::All,
        }
    }
}

impl NormalizationArg {
    fn normalization(self) -> Normalization {
        match self {
            NormalizationArg::Paper => Normalization::Paper,
            NormalizationArg::Demo => Normalization::Demo,
        }
    }
}

/// Loads a model and tells the user, on stderr, what loading changed (e.g. float64 files
/// converted), unless quiet.
fn load_model(dir: &std::path::Path, quiet: bool, budget: Budget) -> Result<Model, Error> {
    let model = Model::load_within(dir, budget)?;
    if !quiet {
        for note in &model.notes {
            print_error_line(&format!("note: {note}"));
        }
    }
    Ok(model)
}

/// Loads the clip of `input` for a model's input section and tells the user, on stderr, what
/// loading changed (a float64 .npy converted), unless quiet.
fn load_input_clip(input: &Input, spec: &ebr::model::InputSpec) -> Result<ebr::clip::Clip, Error> {
    let clip = ebr::clip::load_clip_within(&input.clip, spec, input.memory.memory_budget)?;
    if !input.quiet {
        for note in &clip.notes {
            print_error_line(&format!("note: {note}"));
        }
    }
    Ok(clip)
}

/// The top `n` (index, probability) of `probs`, highest first (the lower index on ties).
fn top_classes(probs: &[f32], n: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(n);
    ranked
}
