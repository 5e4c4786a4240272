//! `ebr ground-caption`: where and when the evidence for a word of a caption lies in one clip
//! (spec/caption.md), with the same outputs as `ebr ground`.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use ebr::grounding::caption::{check_caption_word, ground_caption, CaptionOptions};
use ebr::grounding::{forward_clip, map_blob, Method};
use ebr::model::captioner::{Captioner, SENTENCE};
use ebr::npy::write_atomically;
use ebr::output::OutputDir;
use ebr::Error;

use super::map_outputs::{clip_json, frames_json, localization_json, write_maps};
use super::output_text::print_line;
use super::progress::frame_bar;
use super::{load_input_clip, load_model, Input, LstmRuleArg};

/// Ground a word of a caption in a clip, with a captioning model (spec/caption.md): the
/// caption is the model's own (greedy decoding) or given with --caption (teacher forcing, as
/// the paper does with ground-truth captions).
///
/// Writes into --out the same files as `ebr ground` (maps.npy, summary.json with the caption
/// and the word's steps, frames/NNNN.png, overlay.gif, timeline.svg).
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
    /// Write maps.npy, summary.json and timeline.svg only.
    #[arg(long)]
    no_overlays: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CaptionMethod {
    /// contrastive EB for RNNs (the word against its dual)
    Cebr,
    /// EB for RNNs
    Ebr,
}

/// The vocabulary index of a word the user gave: a word of the vocabulary, not the sentence
/// token (index 0, which starts and ends every caption).
fn word_index(captioner: &Captioner, word: &str) -> Result<usize, Error> {
    match captioner.word_index(word) {
        Some(index) if index != SENTENCE => Ok(index),
        _ => Err(Error::UnknownName {
            kind: "word".to_string(),
            given: word.to_string(),
            valid: captioner.words[1..].to_vec(),
        }),
    }
}

/// The vocabulary indices of the words of `text` (separated by white space); not empty.
fn parse_caption(captioner: &Captioner, text: &str) -> Result<Vec<usize>, Error> {
    let caption = text
        .split_whitespace()
        .map(|word| word_index(captioner, word))
        .collect::<Result<Vec<_>, _>>()?;
    if caption.is_empty() {
        return Err(Error::Unsupported {
            reason: "--caption is empty: give the caption's words separated by spaces".to_string(),
        });
    }
    Ok(caption)
}

pub fn run(args: &GroundCaptionArgs) -> Result<(), Error> {
    let mut model = load_model(
        &args.input.model,
        args.input.quiet,
        args.input.memory.memory_budget,
    )?;
    model.set_conv_algorithm(args.input.conv.algorithm());
    let captioner = model.captioner.as_ref().ok_or_else(|| Error::Unsupported {
        reason: format!(
            "{} describes no captioner (use ebr ground for an action model)",
            args.input.model.join("model.json").display()
        ),
    })?;
    let word = word_index(captioner, &args.word)?;
    let given = match &args.caption {
        Some(text) => {
            let caption = parse_caption(captioner, text)?;
            // A given caption must hold the word: said before the long work starts.
            check_caption_word(captioner, &caption, word)?;
            Some(caption)
        }
        None => None,
    };
    let layer = args
        .layer
        .clone()
        .unwrap_or_else(|| ebr::grounding::default_map_layer(&model));
    let down_to = map_blob(&model, &layer)?;
    let clip = load_input_clip(&args.input, &model.input)?;
    let out = OutputDir::create(&args.out)?;

    let bar = frame_bar(2 * clip.frames, args.input.quiet, "caption");
    let progress = |n: usize| bar.inc(n as u64);
    let fwd = forward_clip(
        &model,
        &clip.data,
        clip.frames,
        &args.input.execution(),
        Some(down_to),
        &progress,
    );
    fwd.check_finite()?;
    let decoded = captioner.decode(&model.classifier.fc, &fwd.temporal.output);
    let caption = match given {
        Some(caption) => caption,
        None => {
            check_caption_word(captioner, &decoded, word).map_err(|e| Error::Unsupported {
                reason: format!(
                    "{e} (the model's own caption, by greedy decoding; give one with --caption)"
                ),
            })?;
            decoded.clone()
        }
    };
    let options = CaptionOptions {
        method: match args.method {
            CaptionMethod::Cebr => Method::Cebr,
            CaptionMethod::Ebr => Method::Ebr,
        },
        word,
        layer: layer.clone(),
        lstm_rule: args.lstm_rule.rule(),
    };
    let g = ground_caption(&model, &fwd, &clip.data, &caption, &options, &progress)?;
    bar.finish_and_clear();

    let text = |words: &[usize]| {
        words
            .iter()
            .map(|&w| captioner.words[w].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let title = format!(
        "{} of \"{}\" in \"{}\", per-frame sums at {layer}",
        options.method.name(),
        args.word,
        text(&caption)
    );
    let localized = write_maps(
        &out,
        &model,
        &clip,
        &g.maps,
        g.layer_shape,
        &title,
        None,
        !args.no_overlays,
    )?;
    let [_, h, w] = g.layer_shape;
    let mut summary = json!({
        "ebr_version": env!("CARGO_PKG_VERSION"),
        "model": {"dir": args.input.model.display().to_string(), "name": model.name},
        "clip": clip_json(&model, &clip, &args.input.clip),
        "method": options.method.name(),
        "layer": layer,
        "map_size": [h, w],
        "lstm_rule": format!("{:?}", options.lstm_rule).to_lowercase(),
        "caption": text(&caption),
        "caption_source": if args.caption.is_some() { "given (teacher forcing)" } else { "the model's, by greedy decoding" },
        "model_caption": text(&decoded),
        "word": {
            "text": args.word,
            "index": word,
            "steps": g.steps,
            "probabilities": g.probabilities,
            "note": "the steps that emit the word (step s emits the caption's word s) and its probability there, with the caption's words as LSTM1's inputs (spec/caption.md CAP-6)",
        },
        "temporal_mass": {"attmap_sum": g.norm, "dual_attmap_sum": g.dual_norm},
    });
    for (key, value) in localization_json(&localized)
        .as_object()
        .expect("an object")
    {
        summary[key] = value.clone();
    }
    summary["frames"] = json!(frames_json(
        &model,
        &clip,
        &g.maps,
        g.layer_shape,
        &localized.sums
    ));
    let json_text = serde_json::to_string_pretty(&summary).expect("a JSON value serializes");
    write_atomically(
        &out.path(ebr::output::MARKER)?,
        format!("{json_text}\n").as_bytes(),
    )?;
    let written = out.commit()?;
    if !args.input.quiet {
        print_line(format_args!(
            "caption: {} ({})",
            text(&caption),
            summary["caption_source"].as_str().unwrap_or("")
        ));
        print_line(format_args!(
            "{} of \"{}\" at {layer}: segment frames {}..={} (peak {}, sum {:.4}); {}",
            options.method.name(),
            args.word,
            localized.segment.0,
            localized.segment.1,
            localized.peak,
            localized.sums[localized.peak],
            written.display()
        ));
    }
    Ok(())
}
