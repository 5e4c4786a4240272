//! `ebr ground`: where and when the evidence for a class lies in one clip. Runs one method
//! (spec/pipeline.md), localizes the result (spec/localize.md), draws it (spec/render.md) and
//! writes everything into --out at once.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{json, Value};

use ebr::budget::Budget;
use ebr::grounding::{Grounding, Plan, Request};
use ebr::model::{forward_clip, Execution, Model};
use ebr::output::{InputPath, OutputDir, OutputKind};
use ebr::Error;

use super::map_outputs::{input_paths, write_grounding, DrawingArgs, Report};
use super::progress::frame_bar;
use super::{
    load_model, print_error_line, top_classes, Input, LstmRuleArg, MethodArg, NormalizationArg,
    PriorArg,
};

/// Ground a class in a clip: a signed saliency map per frame at a layer, the frames' sums over
/// time, the action's segment, and overlays.
///
/// Writes into --out (replaced as a whole, only if it is an earlier ebr output of ground or
/// empty; spec/outputs.md):
///   maps.npy        (T, h, w) float32, the signed maps at --layer
///   summary.json    model, clip, method, target, top-5 predictions, per-frame sums and peak
///                   points (in the model's input frame and in the original frame), the
///                   segment, the temporal peak
///   frames/NNNN.png the maps drawn over the frames as the demo does (jet)
///   overlay.gif     the overlays animated
///   timeline.svg    the per-frame sums over time, the segment shaded
///   sheet.png       every frame's overlay in a grid, the segment framed, the sums as bars,
///                   the colour bar (--no-sheet: none)
///   .ebr-output     the marker of an ebr output, with the run's id (also in summary.json)
///
/// Examples:
///   ebr ground --model fixtures/caffe-nets/tiny_cnn_lstm --clip fixtures/caffe/tiny_cnn_lstm/input.npy --target 3
///   ebr ground --model DIR --clip frames/ --target HorseRiding --layer conv5_1 --prior all --out result
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct GroundArgs {
    #[command(flatten)]
    input: Input,
    /// The class to ground: its name (a label of model.json) or its index.
    #[arg(long, value_name = "NAME|INDEX")]
    target: String,
    #[command(flatten)]
    options: GroundOptions,
    /// Output directory.
    #[arg(long, default_value = "ebr-out", value_name = "DIR")]
    out: PathBuf,
}

/// How to ground and draw, shared by `ebr ground` and `ebr ground-batch`.
#[derive(Args, Debug)]
pub struct GroundOptions {
    /// The method (spec/pipeline.md).
    #[arg(long, value_enum, default_value_t = MethodArg::Cebr)]
    method: MethodArg,
    /// The layer whose signal is the map: "data" or a named layer of the model's "frame"
    /// (`ebr inspect` lists them). Default: the last convolution.
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    /// Where the one-hot prior goes on the logits.
    #[arg(long, value_enum, default_value_t = PriorArg::Last)]
    prior: PriorArg,
    /// The temporal normalization of cEB-R and EB-R.
    #[arg(long, value_enum, default_value_t = NormalizationArg::Paper)]
    normalization: NormalizationArg,
    /// The EB rule inside the LSTM (cEB-R and EB-R): the original code's, or ebr's own
    /// conserving rule (spec/layers/lstm.md).
    #[arg(long, value_enum, default_value_t = LstmRuleArg::Original)]
    lstm_rule: LstmRuleArg,
    /// The action's length in frames, if known: also report the best window of that length.
    #[arg(long, value_name = "L")]
    length: Option<usize>,
    /// Write no frames/*.png and no overlay.gif (sheet.png is --no-sheet).
    #[arg(long)]
    no_overlays: bool,
    #[command(flatten)]
    drawing: DrawingArgs,
}

impl GroundOptions {
    /// What the user asked for, by name; the library resolves and checks it.
    fn request(&self, target: &str) -> Request {
        Request {
            method: self.method.method(),
            target: target.to_string(),
            layer: self.layer.clone(),
            prior: self.prior.prior(),
            normalization: self.normalization.normalization(),
            lstm_rule: self.lstm_rule.rule(),
        }
    }
}

/// One clip to ground into one output directory, with a loaded model.
pub struct ClipJob<'a> {
    pub clip: &'a Path,
    /// The class by name or index; None: the model's top class by mean probability.
    pub target: Option<&'a str>,
    pub out: &'a Path,
    /// The inputs --out must not touch (spec/outputs.md, OUT-4).
    pub inputs: Vec<InputPath>,
    /// An entry "batch_request" added to summary.json (ground-batch's proof of what a
    /// directory holds, spec/batch.md BATCH-4); None for `ebr ground`.
    pub batch_request: Option<Value>,
    pub execution: Execution,
    pub budget: Budget,
    /// No notes, bars or report.
    pub quiet: bool,
}

/// cli -> plan -> model forward -> grounding backward -> outputs.
pub fn run(args: &GroundArgs) -> Result<(), Error> {
    let input = &args.input;
    let mut model = load_model(&input.model, input.quiet, input.memory.memory_budget)?;
    model.set_conv_algorithm(input.conv.algorithm());
    let job = ClipJob {
        clip: &input.clip,
        target: Some(&args.target),
        out: &args.out,
        inputs: input_paths(input),
        batch_request: None,
        execution: input.execution(),
        budget: input.memory.memory_budget,
        quiet: input.quiet,
    };
    ground_clip(&model, &args.options, &job)
}

/// Grounds one clip with a loaded model and writes its directory (plan -> clip -> forward ->
/// backward -> outputs); `ebr ground` and each row of `ebr ground-batch`.
pub fn ground_clip(model: &Model, options: &GroundOptions, job: &ClipJob) -> Result<(), Error> {
    // The top class is known after the forward pass; the plan's layer does not depend on it.
    let mut plan = Plan::from_request(model, &options.request(job.target.unwrap_or("0")))?;
    let clip = ebr::clip::load_clip_within(job.clip, &model.input, job.budget)?;
    if !job.quiet {
        for note in &clip.notes {
            print_error_line(&format!("note: {note}"));
        }
    }
    options.drawing.check(model, &clip)?;
    if let Some(length) = options.length {
        plan.check_length(length, clip.frames)?;
    }
    let out = OutputDir::create(job.out, &job.inputs, OutputKind::Ground)?;

    let method = plan.options.method;
    let bar = frame_bar(2 * clip.frames, job.quiet, method.name());
    let progress = |n: usize| bar.inc(n as u64);
    let (frames, execution) = (clip.frames, &job.execution);
    let fwd = forward_clip(
        model,
        &clip.data,
        frames,
        execution,
        Some(plan.map_blob),
        &progress,
    );
    let mean_probs = fwd.mean_probs();
    if job.target.is_none() {
        let top = top_classes(&mean_probs, 1)[0].0.to_string();
        plan = Plan::from_request(model, &options.request(&top))?;
    }
    let g = plan.ground(&fwd, &progress)?;
    bar.finish_and_clear();

    let top: Vec<String> = top_classes(&mean_probs, 5)
        .into_iter()
        .map(|(k, p)| format!("{} {p:.3}", model.labels[k]))
        .collect();
    let layer = &g.options.layer;
    let mut summary = summary(model, &plan, &g, &mean_probs);
    if let Some(request) = &job.batch_request {
        summary["batch_request"] = request.clone();
    }
    let report = Report {
        title: format!(
            "{} of {} ({}), per-frame sums at {layer}",
            method.name(),
            plan.class_name,
            g.options.class
        ),
        summary,
        headline: format!("predicted (mean over steps): {}", top.join(", ")),
        subject: plan.class_name.clone(),
        method: method.name(),
        layer: layer.clone(),
    };
    write_grounding(
        out,
        model,
        &clip,
        job.clip,
        &g.maps,
        g.layer_shape,
        options.length,
        !options.no_overlays,
        &options.drawing,
        job.quiet,
        report,
    )
}

/// The entries of summary.json that are `ebr ground`'s own.
fn summary(model: &Model, plan: &Plan, g: &Grounding, mean_probs: &[f32]) -> Value {
    let top5: Vec<Value> = top_classes(mean_probs, 5)
        .into_iter()
        .map(|(k, p)| json!({"index": k, "name": model.labels[k], "probability": p}))
        .collect();
    json!({
        "prior": g.options.prior.name(),
        "normalization": g.options.normalization.name(),
        "lstm_rule": g.options.lstm_rule.name(),
        "temporal_mass": g.attention.as_ref().map(|a| json!({
            "attmap_sum": a.norm,
            "dual_attmap_sum": a.dual_norm,
            "note": "the sums of attMap1 and attMap2 at the feature blob before the temporal normalization: the prior's mass that arrived (spec/pipeline.md PIPE-4)",
        })),
        "target": {"index": g.options.class, "name": plan.class_name},
        "predicted_top5": top5,
        "predicted_top5_note": "softmax averaged over the steps, as the demo ranks its predictions",
    })
}
