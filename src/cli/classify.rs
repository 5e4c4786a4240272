//! `ebr classify`: the model's prediction for a clip, over the clip and per step.

use clap::Args;

use ebr::model::captioner::teacher_inputs;
use ebr::model::forward_clip;
use ebr::Error;

use super::output_text::print_line;
use super::progress::frame_bar;
use super::{load_input_clip, load_model, top_classes, Input};

/// Top classes of a clip: the softmax averaged over the steps (as the demo ranks them), then
/// the top classes at every step.
///
/// Example:
///   ebr classify --model fixtures/caffe-nets/tiny_cnn_lstm --clip fixtures/caffe/tiny_cnn_lstm/input.npy
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ClassifyArgs {
    #[command(flatten)]
    input: Input,
    /// How many classes to list.
    #[arg(long, default_value_t = 5, value_name = "N")]
    top: usize,
}

pub fn run(args: &ClassifyArgs) -> Result<(), Error> {
    let mut model = load_model(
        &args.input.model,
        args.input.quiet,
        args.input.memory.memory_budget,
    )?;
    model.set_conv_algorithm(args.input.conv.algorithm());
    let clip = load_input_clip(&args.input, &model.input)?;
    let bar = frame_bar(clip.frames, args.input.quiet, "forward");
    let fwd = forward_clip(
        &model,
        &clip.data,
        clip.frames,
        &args.input.execution(),
        None,
        &|n| bar.inc(n as u64),
    );
    bar.finish_and_clear();
    fwd.check_finite()?;
    if let Some(captioner) = &model.captioner {
        // A captioner: its caption, and the most likely words at every step (spec/caption.md).
        let v = &fwd.temporal.output;
        let caption = captioner.decode(&model.classifier.fc, v);
        let words: Vec<&str> = caption
            .iter()
            .map(|&w| captioner.words[w].as_str())
            .collect();
        print_line(format_args!(
            "{} frames; caption (greedy): {}",
            clip.frames,
            words.join(" ")
        ));
        let steps = teacher_inputs(&caption, caption.len() + 1);
        let cap = captioner.forward(&model.classifier.fc, v, &steps);
        let v_n = captioner.vocabulary();
        print_line(format_args!("per step:"));
        for s in 0..cap.steps() {
            let listed: Vec<String> = top_classes(&cap.probs[s * v_n..(s + 1) * v_n], args.top)
                .into_iter()
                .map(|(k, p)| format!("{} {p:.3}", captioner.words[k]))
                .collect();
            print_line(format_args!("  step {s:>4}: {}", listed.join(", ")));
        }
        return Ok(());
    }
    let classes = model.classes();
    let name = |k: usize| model.labels[k].as_str();
    print_line(format_args!(
        "{} frames, {} step(s); top {} over the clip (softmax averaged over the steps):",
        clip.frames,
        fwd.steps(),
        args.top.min(classes)
    ));
    for (k, p) in top_classes(&fwd.mean_probs(), args.top) {
        print_line(format_args!("  {p:.4}  {k:>4}  {}", name(k)));
    }
    print_line(format_args!("per step:"));
    for s in 0..fwd.steps() {
        let row = &fwd.probs[s * classes..(s + 1) * classes];
        let listed: Vec<String> = top_classes(row, args.top)
            .into_iter()
            .map(|(k, p)| format!("{} {p:.3}", name(k)))
            .collect();
        print_line(format_args!("  step {s:>4}: {}", listed.join(", ")));
    }
    Ok(())
}
