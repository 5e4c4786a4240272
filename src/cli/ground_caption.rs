//! `ebr ground-caption`: where and when the evidence for a word of a caption lies in one clip
//! (spec/caption.md), with the same outputs as `ebr ground`.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use ebr::grounding::caption::{caption_text, CaptionPlan, CaptionRequest};
use ebr::grounding::Method;
use ebr::model::forward_clip;
use ebr::output::{OutputDir, OutputKind};
use ebr::Error;

use super::map_outputs::{input_paths, write_grounding, DrawingArgs, Report};
use super::progress::frame_bar;
use super::{load_input_clip, load_model, Input, LstmRuleArg};

/// Ground a word of a caption in a clip, with a captioning model (spec/caption.md): the
/// caption is the model's own (greedy decoding) or given with --caption (teacher forcing, as
/// the paper does with ground-truth captions).
///
/// Writes into --out the same files as `ebr ground` (maps.npy, summary.json with the caption
/// and the word's steps, frames/NNNN.png, overlay.gif, timeline.svg, sheet.png).
///
/// Example:
///   ebr ground-caption --model fixtures/demo-caption/model --clip fixtures/demo-caption/clip --word square
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct GroundCaptionArgs {
    #[command(flatten)]
    input: Input,
    /// The word to ground; it must be in the caption.
    #[arg(long, value_name = "WORD")]
    word: String,
    /// The caption to ground the word in, words separated by spaces (default: the model's).
    #[arg(long, value_name = "TEXT")]
    caption: Option<String>,
    /// cebr (with the dual word) or ebr.
    #[arg(long, value_enum, default_value_t = CaptionMethod::Cebr)]
    method: CaptionMethod,
    /// The layer whose signal is the map ("data" or a named frame layer; default the last
    /// convolution).
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,
    /// The EB rule inside the LSTMs.
    #[arg(long, value_enum, default_value_t = LstmRuleArg::Original)]
    lstm_rule: LstmRuleArg,
    /// Output directory.
    #[arg(long, default_value = "ebr-out", value_name = "DIR")]
    out: PathBuf,
    /// Write no frames/*.png and no overlay.gif (sheet.png is --no-sheet).
    #[arg(long)]
    no_overlays: bool,
    #[command(flatten)]
    drawing: DrawingArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CaptionMethod {
    /// contrastive EB for RNNs (the word against its dual)
    Cebr,
    /// EB for RNNs
    Ebr,
}

impl GroundCaptionArgs {
    /// What the user asked for, by name; the library resolves and checks it.
    fn request(&self) -> CaptionRequest {
        CaptionRequest {
            method: match self.method {
                CaptionMethod::Cebr => Method::Cebr,
                CaptionMethod::Ebr => Method::Ebr,
            },
            word: self.word.clone(),
            caption: self.caption.clone(),
            layer: self.layer.clone(),
            lstm_rule: self.lstm_rule.rule(),
        }
    }
}

/// cli -> plan -> model forward -> grounding backward -> outputs, as `ebr ground`.
pub fn run(args: &GroundCaptionArgs) -> Result<(), Error> {
    let input = &args.input;
    let mut model = load_model(&input.model, input.quiet, input.memory.memory_budget)?;
    model.set_conv_algorithm(input.conv.algorithm());
    let plan = CaptionPlan::from_request(&model, &args.request())?;
    let clip = load_input_clip(input, &model.input)?;
    args.drawing.check(&model, &clip)?;
    let out = OutputDir::create(&args.out, &input_paths(input), OutputKind::GroundCaption)?;

    let bar = frame_bar(2 * clip.frames, input.quiet, "caption");
    let progress = |n: usize| bar.inc(n as u64);
    let (frames, execution) = (clip.frames, input.execution());
    let fwd = forward_clip(
        &model,
        &clip.data,
        frames,
        &execution,
        Some(plan.map_blob),
        &progress,
    );
    let g = plan.ground(&fwd, &progress)?;
    bar.finish_and_clear();

    let text = |words: &[usize]| caption_text(plan.captioner, words);
    let (method, layer) = (g.options.method.name(), &g.options.layer);
    let source = if plan.caption.is_some() {
        "given (teacher forcing)"
    } else {
        "the model's, by greedy decoding"
    };
    let report = Report {
        title: format!(
            "{method} of \"{}\" in \"{}\", per-frame sums at {layer}",
            args.word,
            text(&g.caption)
        ),
        summary: json!({
            "lstm_rule": g.options.lstm_rule.name(),
            "caption": text(&g.caption),
            "caption_source": source,
            "model_caption": text(&g.model_caption),
            "word": {
                "text": args.word,
                "index": g.options.word,
                "steps": g.steps,
                "probabilities": g.probabilities,
                "note": "the steps that emit the word (step s emits the caption's word s) and its probability there, with the caption's words as LSTM1's inputs (spec/caption.md CAP-6)",
            },
            "temporal_mass": {"attmap_sum": g.norm, "dual_attmap_sum": g.dual_norm},
        }),
        headline: format!("caption: {} ({source})", text(&g.caption)),
        subject: format!("\"{}\"", args.word),
        method,
        layer: layer.clone(),
    };
    write_grounding(
        out,
        &model,
        &clip,
        &input.clip,
        &g.maps,
        g.layer_shape,
        None,
        !args.no_overlays,
        &args.drawing,
        input.quiet,
        report,
    )
}
