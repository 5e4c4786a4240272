//! `ebr eval`: the paper's evaluation protocols on synthetic sets (spec/eval.md). Checks every
//! input first, runs the sets one clip at a time, prints the tables, and writes eval.json,
//! eval.md and the Fig. 7 plots into --out at once.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use ebr::eval::fig7_svg::fig7_svg;
use ebr::eval::report::{set_json, set_markdown};
use ebr::eval::run::{check_options, default_temporal_layer};
use ebr::eval::{
    check_model_fits, evaluate_set, find_sets, load_set, EvalOptions, SetResult, SynthSet,
};
use ebr::grounding::{check_method, Method, Prior};
use ebr::layers::LstmEbRule;
use ebr::model::Execution;
use ebr::output::write_atomically;
use ebr::output::{InputPath, OutputDir, OutputKind, SUMMARY};
use ebr::Error;

use super::output_text::{escape_control, print_error_line, print_line, print_text};
use super::{load_model, ConvArg, MemoryArg, MethodArg, PriorArg};

/// Evaluate a model on synthetic sets (`ebr synth`) as the paper does, every method on every
/// clip, and print the tables:
///   trimmed  classification accuracy; Table 1, the spatial pointing game of EB, EB-R, cEB,
///            cEB-R, BP, BP-R (the GT class's map peak within 7.5 px at 224, scaled, of the
///            actor's box)
///   splice3  Table 2, temporal localization mAP at IoU 0.5 for known and unknown length
///            (thresholded probability, EB-R, cEB-R); Table 3, the temporal pointing game
///            (random, peak probability, cEB-R, their combination)
///   splice2  Fig. 7, the mean cEB-R sum per frame for GT + rand and rand + GT clips
///   caption  (a captioner, spec/caption.md) the caption table, the paper's Table 5 protocol:
///            for every noun of the captions, the spatial pointing game on its actor's
///            frames (random point, frame center, EB-R, cEB-R) and whether the temporal peak
///            of its sums lies in its actor's frames; how well the model captions
///
/// Writes into --out (replaced as a whole, only if it is an earlier ebr output of eval or
/// empty; spec/outputs.md):
///   eval.md       the tables, as printed
///   eval.json     every number, per class and per clip, with the options and the timing
///   fig7.svg      the Fig. 7 curve (fig7-<set>.svg when several splice2 sets;
///                 -conserving for the conserving LSTM rule)
///   summary.json  what was run
///   .ebr-output   the marker of an ebr output, with the run's id (also in the JSON files)
///
/// Examples:
///   ebr eval --model fixtures/demo/model --data synth/
///   ebr eval --model DIR --data synth/splice3 --methods cebr --limit 50 --lstm-rule both
///   ebr eval --model fixtures/demo-caption/model --data captions/
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct EvalArgs {
    /// Model directory: model.json and one .npy per parameter (spec/model.md).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// A set (a directory with set.json) or a directory of sets (sub-directories with
    /// set.json), as `ebr synth` writes them.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The methods to run where they apply (default: all six).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "M,M,...")]
    methods: Vec<MethodArg>,
    /// The map layer of the spatial pointing game: "data" or a named frame layer. Default:
    /// the last convolution.
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    /// The layer whose per-frame sums the temporal protocols (Tables 2-3, Fig. 7) use.
    /// Default: the layer that writes the feature blob (the paper's fc7).
    #[arg(long, value_name = "NAME")]
    temporal_layer: Option<String>,
    /// Where the one-hot prior goes on the logits for the spatial pointing game and the
    /// caption table.
    #[arg(long, value_enum, default_value_t = PriorArg::Last)]
    prior: PriorArg,
    /// Where the prior goes for the temporal protocols (Tables 2-3, Fig. 7): on every step
    /// (the default, spec/eval.md EVAL-19), on the last, or both side by side.
    #[arg(long, value_enum, default_value_t = TemporalPriorChoice::All)]
    temporal_prior: TemporalPriorChoice,
    /// The EB rule inside the LSTM for cEB-R and EB-R: the original code's, ebr's conserving
    /// one, or both side by side.
    #[arg(long, value_enum, default_value_t = RuleChoice::Original)]
    lstm_rule: RuleChoice,
    /// At most N clips of each set (the first ones).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Output directory.
    #[arg(long, default_value = "ebr-eval", value_name = "DIR")]
    out: PathBuf,
    /// Worker threads for the frames (0: one per core; at most 256).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = super::thread_count)]
    threads: usize,
    /// No progress bar and no tables on stdout.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    memory: MemoryArg,
    /// How the 3x3, stride-1 convolutions compute their products: direct, im2col (the
    /// reference, eval's default: its tables are reference results, and Winograd's rounding
    /// moves near-tied detections); auto, Winograd where the layer has 16 or more input
    /// channels; winograd, every such layer (spec/layers/winograd.md).
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ConvArg::Direct)]
    conv: ConvArg,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum RuleChoice {
    /// the original code's (the unit's gradient formula)
    Original,
    /// ebr's own, conserving the signal through the LSTM
    Conserving,
    /// both, reported side by side
    Both,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum TemporalPriorChoice {
    /// on every step
    All,
    /// on the last step
    Last,
    /// both, every step first
    Both,
}

impl TemporalPriorChoice {
    fn priors(self) -> Vec<Prior> {
        match self {
            TemporalPriorChoice::All => vec![Prior::All],
            TemporalPriorChoice::Last => vec![Prior::Last],
            TemporalPriorChoice::Both => vec![Prior::All, Prior::Last],
        }
    }
}

impl RuleChoice {
    fn rules(self) -> Vec<LstmEbRule> {
        match self {
            RuleChoice::Original => vec![LstmEbRule::Original],
            RuleChoice::Conserving => vec![LstmEbRule::Conserving],
            RuleChoice::Both => vec![LstmEbRule::Original, LstmEbRule::Conserving],
        }
    }
}

/// A bar counting clips on stderr, shown only when stderr is a terminal and not --quiet.
fn clip_bar(total: usize, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} clips, {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

pub fn run(args: &EvalArgs) -> Result<(), Error> {
    // Everything the user typed is checked before the long work starts.
    let mut model = load_model(&args.model, args.quiet, args.memory.memory_budget)?;
    model.set_conv_algorithm(args.conv.algorithm());
    if args.limit == Some(0) {
        return Err(Error::Unsupported {
            reason: "--limit must be at least 1".to_string(),
        });
    }
    let mut methods: Vec<Method> = Vec::new();
    for m in args.methods.iter().map(|m| m.method()) {
        if !methods.contains(&m) {
            methods.push(m);
        }
    }
    if methods.is_empty() {
        // Every method the model has the heads for (eval skips the per-frame ones without).
        methods = Method::ALL.to_vec();
    } else if let Some(&m) = methods.iter().find(|m| m.per_frame()) {
        check_method(&model, m)?;
    }
    let options = EvalOptions {
        methods,
        lstm_rules: args.lstm_rule.rules(),
        spatial_layer: args
            .layer
            .clone()
            .unwrap_or_else(|| ebr::grounding::default_map_layer(&model)),
        temporal_layer: args
            .temporal_layer
            .clone()
            .unwrap_or_else(|| default_temporal_layer(&model)),
        prior: args.prior.prior(),
        temporal_priors: args.temporal_prior.priors(),
        limit: args.limit,
        execution: Execution {
            threads: args.threads,
            ..Execution::default()
        },
    };
    check_options(&model, &options)?;
    let mut sets: Vec<SynthSet> = Vec::new();
    let mut notes = Vec::new();
    for dir in find_sets(&args.data)? {
        let set = load_set(&dir)?;
        notes.extend(check_model_fits(&set, &model)?);
        sets.push(set);
    }
    let out = OutputDir::create(&args.out, &input_paths(args, &sets), OutputKind::Eval)?;

    let limit = args.limit.unwrap_or(usize::MAX);
    let total: usize = sets.iter().map(|s| s.clips.len().min(limit)).sum();
    let bar = clip_bar(total, args.quiet);
    let started = Instant::now();
    let mut reports = Vec::with_capacity(sets.len());
    for set in &sets {
        bar.set_message(escape_control(&set_label(set), false));
        let set_started = Instant::now();
        let report = evaluate_set(&model, set, &options, &mut || bar.inc(1))?;
        reports.push((report, set_started.elapsed().as_secs_f64()));
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();

    // The Fig. 7 plots, named by set when there are several splice2 sets.
    let splice2_sets = reports
        .iter()
        .filter(|(r, _)| matches!(r.result, SetResult::Splice2(_)))
        .count();
    let mut markdown = header_markdown(args, &model.name, &options, &sets);
    let mut json_sets = Vec::with_capacity(reports.len());
    for (report, set_seconds) in &reports {
        let mut files = Vec::new();
        if let SetResult::Splice2(r) = &report.result {
            for f in &r.figures {
                let mut name = "fig7".to_string();
                if splice2_sets > 1 {
                    name.push('-');
                    name.push_str(&file_safe(&report.name));
                }
                if f.variant.lstm_rule == LstmEbRule::Conserving {
                    name.push_str("-conserving");
                }
                if f.variant.prior == Some(Prior::Last) {
                    name.push_str("-last-step-prior");
                }
                name.push_str(".svg");
                let title = format!(
                    "Fig. 7: mean sum of the {} maps at {}, {} ({} clips)",
                    f.variant.label(),
                    r.layer,
                    report.name,
                    report.clips
                );
                write_atomically(
                    &out.path(&name)?,
                    fig7_svg(&f.gt_first, &f.rand_first, &title).as_bytes(),
                )?;
                files.push(name);
            }
        }
        markdown.push_str(&set_markdown(report, &files));
        json_sets.push(set_json(report, *set_seconds, &files));
    }
    let clips: usize = reports.iter().map(|(r, _)| r.clips).sum();
    let threads = ebr::parallel::worker_count(args.threads);
    markdown.push_str(&format!(
        "Time: {clips} clips in {seconds:.1} s ({:.3} s per clip), {threads} threads.\n",
        seconds / clips.max(1) as f64
    ));

    let eval_json = json!({
        "ebr_version": env!("CARGO_PKG_VERSION"),
        "model": {"dir": args.model.display().to_string(), "name": model.name},
        "data": args.data.display().to_string(),
        "options": {
            "methods": options.methods.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "lstm_rules": options.lstm_rules.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "spatial_layer": options.spatial_layer,
            "temporal_layer": options.temporal_layer,
            "prior": options.prior.name(),
            "temporal_priors": options.temporal_priors.iter().map(|p| p.name()).collect::<Vec<_>>(),
            "normalization": "paper",
            "limit": options.limit,
        },
        "notes": notes,
        "sets": json_sets,
        "timing": {"seconds": seconds, "clips": clips, "threads": threads},
    });
    out.write_json("eval.json", &eval_json)?;
    write_atomically(&out.path("eval.md")?, markdown.as_bytes())?;
    let summary = json!({
        "ebr_version": env!("CARGO_PKG_VERSION"),
        "command": "eval",
        "model": args.model.display().to_string(),
        "data": args.data.display().to_string(),
        "results": "eval.json",
    });
    out.write_json(SUMMARY, &summary)?;
    let written = out.commit()?;

    if !args.quiet {
        for note in &notes {
            print_error_line(&format!("note: {note}"));
        }
        print_text(format_args!("{markdown}"));
        print_line(format_args!("Written: {}", written.display()));
    }
    Ok(())
}

/// The inputs --out must not touch (spec/outputs.md, OUT-4): the model, the data, every set
/// and every clip file its set.json names.
fn input_paths(args: &EvalArgs, sets: &[SynthSet]) -> Vec<InputPath> {
    let mut inputs = vec![
        InputPath::new("the model directory (--model)", &args.model),
        InputPath::new("the data set (--data)", &args.data),
    ];
    for set in sets {
        inputs.push(InputPath::new("the set", &set.dir));
        for clip in &set.clips {
            inputs.push(InputPath::new("a clip of set.json", &clip.file));
        }
    }
    inputs
}

/// The markdown's heading: the model, the data and the options.
fn header_markdown(
    args: &EvalArgs,
    model_name: &str,
    options: &EvalOptions,
    sets: &[SynthSet],
) -> String {
    let methods: Vec<&str> = options.methods.iter().map(|m| m.name()).collect();
    let rules: Vec<&str> = options.lstm_rules.iter().map(|r| r.name()).collect();
    let set_names: Vec<String> = sets.iter().map(set_label).collect();
    format!(
        "# ebr eval: {model_name} on {}\n\nModel `{}`; sets {}; methods {}; LSTM rule {}; prior {} (spatial), {} (temporal); spatial maps at `{}`, temporal sums at `{}`{}. Metrics: spec/eval.md.\n\n",
        args.data.display(),
        args.model.display(),
        set_names.join(", "),
        methods.join(", "),
        rules.join(" and "),
        options.prior.name(),
        options
            .temporal_priors
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(" and "),
        options.spatial_layer,
        options.temporal_layer,
        options
            .limit
            .map_or(String::new(), |n| format!("; first {n} clips of each set")),
    )
}

/// A set's name, with its protocol when the name is not the protocol's.
fn set_label(set: &SynthSet) -> String {
    if set.name == set.protocol.name() {
        set.name.clone()
    } else {
        format!("{} ({})", set.name, set.protocol.name())
    }
}

/// `name` with every character but letters, digits, '-' and '_' replaced by '_'.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
