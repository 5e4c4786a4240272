//! Writing a synthetic set: set.json, one preprocessed .npy per clip, example PNG frames, all
//! or nothing (`OutputDir`). spec/synth.md (SYN-13..SYN-15)

use std::path::{Path, PathBuf};

use serde_json::{json, Number, Value};

use super::caption::CAPTION_WORDS;
use super::classes::class_names;
use super::protocol::{generate_clip, Protocol, SynthClip};
use super::scene::FRAME_SIZE;
use super::set_file::{ClipEntry, FrameEntry, NounEntry, SetFile, SetInput};
use crate::clip::preprocess_frame;
use crate::error::Error;
use crate::model::{ChannelOrder, InputSpec};
use crate::npy::write_npy;
use crate::output::write_atomically;
use crate::output::{OutputDir, OutputKind, SUMMARY};
use crate::parallel::{chunks, map_chunks, worker_count};
use crate::render::write_png;
use crate::Tensor;

/// set.json's "format".
pub const FORMAT: &str = "ebr-synth-1";
/// The most clips a set may have: clip files are numbered with four digits (SYN-13).
pub const MAX_CLIPS: usize = 10_000;

/// Which protocols to write: one set in the output directory, or the three action protocols
/// in DIR/trimmed, DIR/splice2 and DIR/splice3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolChoice {
    One(Protocol),
    All,
}

/// What `write_sets` writes.
#[derive(Clone, Debug, PartialEq)]
pub struct SetOptions {
    pub protocols: ProtocolChoice,
    /// Clips per set, 1..=MAX_CLIPS.
    pub clips: usize,
    pub seed: u64,
    /// The first `examples` clips of each set are also written as PNG frames (at most
    /// `clips`).
    pub examples: usize,
    /// Worker threads (0: one per core). The output does not depend on it.
    pub threads: usize,
}

/// The preprocessing the .npy clips went through, set.json's "input" (the same block goes into
/// a model trained on the set): v = u8 / 255, RGB, (v * 1 - 0.5) / 0.25 (SYN-14).
pub fn synth_input() -> InputSpec {
    InputSpec {
        channels: 3,
        height: FRAME_SIZE,
        width: FRAME_SIZE,
        resize: None,
        scale: 1.0,
        channel_order: ChannelOrder::Rgb,
        mean: vec![0.5; 3],
        std: vec![0.25; 3],
    }
}

/// Checks the options a user gives (SYN-15).
pub fn check_options(options: &SetOptions) -> Result<(), Error> {
    if options.clips == 0 || options.clips > MAX_CLIPS {
        return Err(Error::Unsupported {
            reason: format!(
                "--clips {} must be between 1 and {MAX_CLIPS}",
                options.clips
            ),
        });
    }
    Ok(())
}

/// Writes the set(s) into `out` at once (replacing an earlier ebr output there, refusing any
/// other non-empty directory) and returns `out`. SYN-13..SYN-15
pub fn write_sets(out: &Path, options: &SetOptions) -> Result<PathBuf, Error> {
    check_options(options)?;
    let dir = OutputDir::create(out, &[], OutputKind::Synth)?;
    let sets: Vec<(Protocol, String)> = match options.protocols {
        ProtocolChoice::One(p) => vec![(p, String::new())],
        ProtocolChoice::All => Protocol::ACTIONS
            .iter()
            .map(|&p| (p, format!("{}/", p.name())))
            .collect(),
    };
    for (protocol, prefix) in &sets {
        write_set(&dir, prefix, *protocol, options)?;
    }
    let summary = json!({
        "ebr_version": env!("CARGO_PKG_VERSION"),
        "command": "synth",
        "format": FORMAT,
        "seed": options.seed,
        "clips_per_set": options.clips,
        "sets": sets.iter().map(|(p, prefix)| json!({
            "protocol": p.name(),
            "set": format!("{prefix}set.json"),
        })).collect::<Vec<Value>>(),
    });
    dir.write_json(SUMMARY, &summary)?;
    dir.commit()
}

/// One set under `prefix` ("" or "trimmed/") of the output directory.
fn write_set(
    dir: &OutputDir,
    prefix: &str,
    protocol: Protocol,
    options: &SetOptions,
) -> Result<(), Error> {
    let input = synth_input();
    let threads = worker_count(options.threads);
    let work = chunks(options.clips, 1);
    let written = map_chunks(&work, threads, |c| -> Result<SynthClip, Error> {
        let k = c.first;
        let mut clip = generate_clip(options.seed, protocol, k);
        let npy = dir.path(&format!("{prefix}{}", clip_file(k)))?;
        let frame_len = 3 * FRAME_SIZE * FRAME_SIZE;
        let mut data = Vec::with_capacity(clip.images.len() * frame_len); // (T, 3, 64, 64)
        for image in &clip.images {
            let (x, _) = preprocess_frame(image, &input).map_err(|reason| Error::Clip {
                path: npy.clone(),
                reason,
            })?;
            data.extend_from_slice(&x);
        }
        write_npy(
            &npy,
            &Tensor::new(vec![clip.images.len(), 3, FRAME_SIZE, FRAME_SIZE], data),
        )?;
        if k < options.examples {
            for (t, image) in clip.images.iter().enumerate() {
                write_png(
                    &dir.path(&format!("{prefix}examples/{k:04}/{t:02}.png"))?,
                    image,
                )?;
            }
        }
        clip.images.clear(); // keep only the ground truth
        Ok(clip)
    });
    let clips = written.into_iter().collect::<Result<Vec<_>, _>>()?;
    let text = set_file(protocol, options.seed, &clips).to_text();
    write_atomically(&dir.path(&format!("{prefix}set.json"))?, text.as_bytes())
}

/// The file of clip k, relative to the set's directory.
pub fn clip_file(k: usize) -> String {
    format!("clips/{k:04}.npy")
}

/// set.json's content (SYN-13): a caption set also has "words" (the vocabulary) and each clip
/// its "caption" and "nouns" (SYN-17). The input block's numbers are exact decimals (1.0, 0.5,
/// 0.25); every other value is an integer, a string or null.
pub fn set_file(protocol: Protocol, seed: u64, clips: &[SynthClip]) -> SetFile {
    let input = synth_input();
    let words = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    SetFile {
        format: FORMAT.to_string(),
        protocol: protocol.name().to_string(),
        seed,
        frame_size: [FRAME_SIZE, FRAME_SIZE],
        frames_per_clip: protocol.frames_per_clip(),
        classes: class_names(),
        words: (protocol == Protocol::Caption).then(|| words(&CAPTION_WORDS)),
        input: SetInput {
            channels: input.channels,
            height: input.height,
            width: input.width,
            scale: input.scale,
            channel_order: input.channel_order,
            mean: input.mean,
            std: input.std,
        },
        clips: clips
            .iter()
            .enumerate()
            .map(|(k, clip)| ClipEntry {
                file: clip_file(k),
                gt_class: clip.gt_class,
                segment: clip.segment,
                other_class: clip.other_class,
                caption: clip.caption.as_ref().map(|c| words(&c.words)),
                nouns: clip.caption.as_ref().map(|c| {
                    c.nouns
                        .iter()
                        .map(|n| NounEntry {
                            word: n.word.to_string(),
                            class: n.class,
                            segment: n.segment,
                        })
                        .collect()
                }),
                frames: clip
                    .truth
                    .iter()
                    .map(|f| FrameEntry {
                        class: f.class,
                        bbox: Some(f.bbox.iter().map(|&x| Number::from(x)).collect()),
                    })
                    .collect(),
            })
            .collect(),
    }
}
