//! Writing a synthetic set: set.json, one preprocessed .npy per clip, example PNG frames, all
//! or nothing (`OutputDir`). spec/synth.md (SYN-13..SYN-15)

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::caption::CAPTION_WORDS;
use super::classes::class_names;
use super::protocol::{generate_clip, Protocol, SynthClip};
use super::scene::FRAME_SIZE;
use crate::clip::preprocess_frame;
use crate::error::Error;
use crate::model::{ChannelOrder, InputSpec};
use crate::npy::{write_atomically, write_npy};
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
    let text = set_json(protocol, options.seed, &clips);
    write_atomically(&dir.path(&format!("{prefix}set.json"))?, text.as_bytes())
}

/// The file of clip k, relative to the set's directory.
pub fn clip_file(k: usize) -> String {
    format!("clips/{k:04}.npy")
}

/// set.json's text, fields in the order of spec/synth.md (SYN-13), one line per frame. Written
/// by hand so that the order is fixed and the file stays readable; the values are integers and
/// strings, and the input block's numbers are exact decimals (1.0, 0.5, 0.25). A caption set
/// also has "words" (the vocabulary) and each clip its "caption" and "nouns" (SYN-17).
pub fn set_json(protocol: Protocol, seed: u64, clips: &[SynthClip]) -> String {
    let input = synth_input();
    let names: Vec<String> = class_names()
        .iter()
        .map(|n| Value::from(n.as_str()).to_string())
        .collect();
    let numbers = |v: &[f64]| {
        v.iter()
            .map(|&x| Value::from(x).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::new();
    s.push_str("{\n");
    s.push_str(&format!("  \"format\": \"{FORMAT}\",\n"));
    s.push_str(&format!("  \"protocol\": \"{}\",\n", protocol.name()));
    s.push_str(&format!("  \"seed\": {seed},\n"));
    s.push_str(&format!(
        "  \"frame_size\": [{FRAME_SIZE}, {FRAME_SIZE}],\n"
    ));
    s.push_str(&format!(
        "  \"frames_per_clip\": {},\n",
        protocol.frames_per_clip()
    ));
    s.push_str(&format!("  \"classes\": [{}],\n", names.join(", ")));
    let quoted = |words: &[&str]| {
        words
            .iter()
            .map(|w| Value::from(*w).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if protocol == Protocol::Caption {
        s.push_str(&format!("  \"words\": [{}],\n", quoted(&CAPTION_WORDS)));
    }
    s.push_str(&format!(
        "  \"input\": {{\"channels\": {}, \"height\": {}, \"width\": {}, \"scale\": {}, \"channel_order\": \"rgb\", \"mean\": [{}], \"std\": [{}]}},\n",
        input.channels,
        input.height,
        input.width,
        Value::from(input.scale),
        numbers(&input.mean),
        numbers(&input.std)
    ));
    s.push_str("  \"clips\": [\n");
    for (k, clip) in clips.iter().enumerate() {
        let other = clip
            .other_class
            .map_or("null".to_string(), |c| c.to_string());
        s.push_str("    {\n");
        s.push_str(&format!("      \"file\": \"{}\",\n", clip_file(k)));
        s.push_str(&format!("      \"gt_class\": {},\n", clip.gt_class));
        s.push_str(&format!(
            "      \"segment\": [{}, {}],\n",
            clip.segment[0], clip.segment[1]
        ));
        s.push_str(&format!("      \"other_class\": {other},\n"));
        if let Some(caption) = &clip.caption {
            s.push_str(&format!(
                "      \"caption\": [{}],\n",
                quoted(&caption.words)
            ));
            let nouns: Vec<String> = caption
                .nouns
                .iter()
                .map(|n| {
                    format!(
                        "{{\"word\": {}, \"class\": {}, \"segment\": [{}, {}]}}",
                        Value::from(n.word),
                        n.class,
                        n.segment[0],
                        n.segment[1]
                    )
                })
                .collect();
            s.push_str(&format!("      \"nouns\": [{}],\n", nouns.join(", ")));
        }
        s.push_str("      \"frames\": [\n");
        for (t, f) in clip.truth.iter().enumerate() {
            let [top, left, bottom, right] = f.bbox;
            let comma = if t + 1 < clip.truth.len() { "," } else { "" };
            s.push_str(&format!(
                "        {{\"class\": {}, \"box\": [{top}, {left}, {bottom}, {right}]}}{comma}\n",
                f.class
            ));
        }
        s.push_str("      ]\n");
        let comma = if k + 1 < clips.len() { "," } else { "" };
        s.push_str(&format!("    }}{comma}\n"));
    }
    s.push_str("  ]\n}\n");
    s
}
