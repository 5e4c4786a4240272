//! `ebr ground`: where and when the evidence for a class lies in one clip. Runs one method
//! (spec/pipeline.md), localizes the result (spec/localize.md), draws it (spec/render.md) and
//! writes everything into --out at once.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};

use ebr::clip::Clip;
use ebr::grounding::{forward_clip, ground, map_blob, Grounding, Options};
use ebr::model::Model;
use ebr::npy::write_atomically;
use ebr::output::OutputDir;
use ebr::Error;

use super::map_outputs::{clip_json, frames_json, localization_json, write_maps, Localized};
use super::output_text::print_line;
use super::progress::frame_bar;
use super::{
    class_names, load_input_clip, load_model, resolve_class, top_classes, Input, LstmRuleArg,
    MethodArg, NormalizationArg, PriorArg,
};

/// Ground a class in a clip: a signed saliency map per frame at a layer, the frames' sums over
/// time, the action's segment, and overlays.
///
/// Writes into --out (replaced as a whole, only if it is an earlier ebr output or empty):
///   maps.npy        (T, h, w) float32, the signed maps at --layer
///   summary.json    model, clip, method, target, top-5 predictions, per-frame sums and peak
///                   points (in the model's input frame and in the original frame), the
///                   segment, the temporal peak
///   frames/NNNN.png the maps drawn over the frames as the demo does (jet)
///   overlay.gif     the overlays animated
///   timeline.svg    the per-frame sums over time, the segment shaded
///
/// Examples:
///   ebr ground --model fixtures/caffe/tiny_cnn_lstm --clip fixtures/caffe/tiny_cnn_lstm/input.npy --target 3
///   ebr ground --model DIR --clip frames/ --target HorseRiding --layer conv5_1 --prior all --out result
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct GroundArgs {
    #[command(flatten)]
    input: Input,
    /// The class to ground: its name (a label of model.json) or its index.
    #[arg(long, value_name = "NAME|INDEX")]
    target: String,
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
    /// Output directory.
    #[arg(long, default_value = "ebr-out", value_name = "DIR")]
    out: PathBuf,
    /// Write maps.npy, summary.json and timeline.svg only (no PNG frames, no GIF).
    #[arg(long)]
    no_overlays: bool,
}

pub fn run(args: &GroundArgs) -> Result<(), Error> {
    // Everything the user typed is checked before the long work starts.
    let mut model = load_model(
        &args.input.model,
        args.input.quiet,
        args.input.memory.memory_budget,
    )?;
    model.set_conv_algorithm(args.input.conv.algorithm());
    let method = args.method.method();
    if method.per_frame() && model.frame_classifier.is_none() {
        return Err(Error::Unsupported {
            reason: format!(
                "method {} needs a frame_classifier, and {} has none (use cebr, ebr or bpr)",
                method.name(),
                args.input.model.join("model.json").display()
            ),
        });
    }
    let names = class_names(&model, method);
    let class = resolve_class(&names, &args.target)?;
    let layer = args
        .layer
        .clone()
        .unwrap_or_else(|| ebr::grounding::default_map_layer(&model));
    let down_to = map_blob(&model, &layer)?;
    let clip = load_input_clip(&args.input, &model.input)?;
    if let Some(length) = args.length {
        if length == 0 || length > clip.frames {
            return Err(Error::Unsupported {
                reason: format!(
                    "--length {length} must be between 1 and the clip's {} frames",
                    clip.frames
                ),
            });
        }
    }
    let out = OutputDir::create(&args.out)?;

    let bar = frame_bar(2 * clip.frames, args.input.quiet, method.name());
    let progress = |n: usize| bar.inc(n as u64);
    let fwd = forward_clip(
        &model,
        &clip.data,
        clip.frames,
        &args.input.execution(),
        Some(down_to),
        &progress,
    );
    let options = Options {
        method,
        class,
        layer: layer.clone(),
        prior: args.prior.prior(),
        normalization: args.normalization.normalization(),
        lstm_rule: args.lstm_rule.rule(),
    };
    let grounding = ground(&model, &fwd, &clip.data, &options, &progress)?;
    bar.finish_and_clear();

    let title = format!(
        "{} of {} ({}), per-frame sums at {layer}",
        method.name(),
        names[class],
        class
    );
    let localized = write_maps(
        &out,
        &model,
        &clip,
        &grounding.maps,
        grounding.layer_shape,
        &title,
        args.length,
        !args.no_overlays,
    )?;
    let summary = summary(
        args,
        &model,
        &clip,
        &fwd.mean_probs(),
        &names,
        &grounding,
        &localized,
    );
    let text = serde_json::to_string_pretty(&summary).expect("a JSON value serializes");
    write_atomically(
        &out.path(ebr::output::MARKER)?,
        format!("{text}\n").as_bytes(),
    )?;
    let written = out.commit()?;

    if !args.input.quiet {
        let top: Vec<String> = top_classes(&fwd.mean_probs(), 5)
            .into_iter()
            .map(|(k, p)| format!("{} {p:.3}", model.labels[k]))
            .collect();
        print_line(format_args!(
            "predicted (mean over steps): {}",
            top.join(", ")
        ));
        print_line(format_args!(
            "{} of {} at {layer}: segment frames {}..={} (peak {}, sum {:.4}); {}",
            method.name(),
            names[class],
            localized.segment.0,
            localized.segment.1,
            localized.peak,
            localized.sums[localized.peak],
            written.display()
        ));
    }
    Ok(())
}

fn summary(
    args: &GroundArgs,
    model: &Model,
    clip: &Clip,
    mean_probs: &[f32],
    names: &[String],
    g: &Grounding,
    localized: &Localized,
) -> Value {
    let [_, h, w] = g.layer_shape;
    let top5: Vec<Value> = top_classes(mean_probs, 5)
        .into_iter()
        .map(|(k, p)| json!({"index": k, "name": model.labels[k], "probability": p}))
        .collect();
    let mut summary = json!({
        "ebr_version": env!("CARGO_PKG_VERSION"),
        "model": {"dir": args.input.model.display().to_string(), "name": model.name},
        "clip": clip_json(model, clip, &args.input.clip),
        "method": g.options.method.name(),
        "layer": g.options.layer,
        "map_size": [h, w],
        "prior": format!("{:?}", g.options.prior).to_lowercase(),
        "normalization": format!("{:?}", g.options.normalization).to_lowercase(),
        "lstm_rule": format!("{:?}", g.options.lstm_rule).to_lowercase(),
        "temporal_mass": g.attention.as_ref().map(|a| json!({
            "attmap_sum": a.norm,
            "dual_attmap_sum": a.dual_norm,
            "note": "the sums of attMap1 and attMap2 at the feature blob before the temporal normalization: the prior's mass that arrived (spec/pipeline.md PIPE-4)",
        })),
        "target": {"index": g.options.class, "name": names[g.options.class]},
        "predicted_top5": top5,
        "predicted_top5_note": "softmax averaged over the steps, as the demo ranks its predictions",
    });
    for (key, value) in localization_json(localized).as_object().expect("an object") {
        summary[key] = value.clone();
    }
    summary["frames"] = json!(frames_json(
        model,
        clip,
        &g.maps,
        g.layer_shape,
        &localized.sums
    ));
    summary
}
