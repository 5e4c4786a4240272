//! A synthetic set written by `ebr synth` (format "ebr-synth-1"): set.json with the ground
//! truth of every clip, and one preprocessed .npy per clip. set.json is read as its one type
//! (src/synth/set_file.rs); this file checks everything the metrics rely on, naming the field on
//! error, and opens the set for evaluation.
//! spec/eval.md ("The data")

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::json_file::field_error;
use crate::localize::BoxRegion;
use crate::model::{ChannelOrder, InputSpec, Model};
pub use crate::synth::set_file::SetInput;
use crate::synth::set_file::{ClipEntry, NounEntry, SetFile};

/// The format tag of set.json.
pub const SET_FORMAT: &str = "ebr-synth-1";

/// The file that makes a directory a set.
pub const SET_FILE: &str = "set.json";

/// How a set's clips were made: the one type synth writes and eval reads (spec/synth.md).
pub use crate::synth::protocol::Protocol;

/// The ground truth of one frame: the class it shows and the actor's box (pixels of the frame,
/// inclusive), None when the frame has no box.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameTruth {
    pub class: usize,
    pub region: Option<BoxRegion>,
}

/// A noun of a caption: its word, the class of the actor it names and that actor's frames
/// (inclusive).
#[derive(Clone, Debug, PartialEq)]
pub struct SetNoun {
    pub word: String,
    pub class: usize,
    pub segment: (usize, usize),
}

/// One clip of a set.
#[derive(Clone, Debug, PartialEq)]
pub struct SetClip {
    /// The .npy of the clip (T, C, H, W), joined to the set's directory.
    pub file: PathBuf,
    /// The class to ground.
    pub gt_class: usize,
    /// Inclusive frames of the GT action.
    pub segment: (usize, usize),
    /// The rand action's class in splices; None for trimmed clips.
    pub other_class: Option<usize>,
    /// One per frame (T).
    pub frames: Vec<FrameTruth>,
    /// A caption set's caption (its words) and nouns; empty for the other protocols.
    pub caption: Vec<String>,
    pub nouns: Vec<SetNoun>,
}

/// A set: its protocol, classes, preprocessing and clips.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSet {
    /// The directory holding set.json.
    pub dir: PathBuf,
    /// The directory's name, for the tables.
    pub name: String,
    pub protocol: Protocol,
    pub seed: u64,
    /// [height, width] of a frame: the boxes' coordinate system.
    pub frame_size: [usize; 2],
    pub frames_per_clip: usize,
    pub classes: Vec<String>,
    pub input: SetInput,
    pub clips: Vec<SetClip>,
}

/// A class index below `classes`.
fn class_index(path: &Path, field: &str, k: usize, classes: usize) -> Result<usize, Error> {
    if k >= classes {
        return Err(field_error(
            path,
            field,
            format!("class {k} is not below the set's {classes} classes"),
        ));
    }
    Ok(k)
}

/// `[start, end]` at `field`, inclusive frames inside a clip of `frames` frames.
fn segment(
    path: &Path,
    field: &str,
    [start, end]: [usize; 2],
    frames: usize,
) -> Result<(usize, usize), Error> {
    if start > end || end >= frames {
        return Err(field_error(
            path,
            field,
            format!(
                "[{start}, {end}] is not a segment of a clip of {frames} frames (0 <= start <= end < T)"
            ),
        ));
    }
    Ok((start, end))
}

/// Reads `dir`/set.json (src/synth/set_file.rs, strict) and checks what serde cannot: the
/// format tag, the protocol, every class index below the number of classes, every segment
/// inside its clip, one frame entry per frame, every box of 4 numbers, one mean and std per
/// channel, a caption clip's caption and nouns. The clips' .npy files are read later, one at a
/// time.
pub fn load_set(dir: &Path) -> Result<SynthSet, Error> {
    let path = dir.join(SET_FILE);
    let p = path.as_path();
    let file = SetFile::read(p)?;
    if file.format != SET_FORMAT {
        return Err(field_error(
            p,
            "format",
            format!("is \"{}\", expected \"{SET_FORMAT}\"", file.format),
        ));
    }
    let protocol = Protocol::from_name(&file.protocol).map_err(|_| {
        field_error(
            p,
            "protocol",
            format!(
                "is \"{}\", expected trimmed, splice2, splice3 or caption",
                file.protocol
            ),
        )
    })?;
    let frames_per_clip = file.frames_per_clip;
    if frames_per_clip == 0 {
        return Err(field_error(p, "frames_per_clip", "must be at least 1"));
    }
    let classes = file.classes.len();
    if classes == 0 {
        return Err(field_error(p, "classes", "must name at least one class"));
    }
    for key in ["mean", "std"] {
        let values = if key == "mean" {
            &file.input.mean
        } else {
            &file.input.std
        };
        if values.len() != file.input.channels {
            return Err(field_error(
                p,
                &format!("input.{key}"),
                format!(
                    "has {} values for {} channels",
                    values.len(),
                    file.input.channels
                ),
            ));
        }
    }
    let clips = (file.clips.into_iter().enumerate())
        .map(|(i, clip)| {
            let mut clip = check_clip(
                p,
                &format!("clips[{i}]"),
                clip,
                classes,
                frames_per_clip,
                protocol,
            )?;
            clip.file = dir.join(&clip.file);
            Ok(clip)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(SynthSet {
        dir: dir.to_path_buf(),
        name,
        protocol,
        seed: file.seed,
        frame_size: file.frame_size,
        frames_per_clip,
        classes: file.classes,
        input: file.input,
        clips,
    })
}

/// Clip `at` ("clips[3]") of set.json `p`, checked; its file as set.json gives it (relative
/// to the set's directory).
fn check_clip(
    p: &Path,
    at: &str,
    clip: ClipEntry,
    classes: usize,
    frames_per_clip: usize,
    protocol: Protocol,
) -> Result<SetClip, Error> {
    let gt_class = class_index(p, &format!("{at}.gt_class"), clip.gt_class, classes)?;
    let segment_ = segment(p, &format!("{at}.segment"), clip.segment, frames_per_clip)?;
    let other_class = match clip.other_class {
        None => None,
        Some(k) => Some(class_index(p, &format!("{at}.other_class"), k, classes)?),
    };
    if clip.frames.len() != frames_per_clip {
        return Err(field_error(
            p,
            &format!("{at}.frames"),
            format!(
                "has {} entries, expected frames_per_clip = {frames_per_clip}",
                clip.frames.len()
            ),
        ));
    }
    let frames = (clip.frames.into_iter().enumerate())
        .map(|(t, f)| {
            let at_t = format!("{at}.frames[{t}]");
            let class = class_index(p, &format!("{at_t}.class"), f.class, classes)?;
            let region = match f.bbox {
                None => None,
                Some(b) if b.len() != 4 => {
                    return Err(field_error(
                        p,
                        &format!("{at_t}.box"),
                        format!(
                            "must be [top, left, bottom, right], found {} values",
                            b.len()
                        ),
                    ))
                }
                Some(b) => {
                    // Every JSON number is a finite f64 (serde_json refuses the rest).
                    let c: Vec<f32> = b.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect();
                    Some(BoxRegion {
                        top: c[0],
                        left: c[1],
                        bottom: c[2],
                        right: c[3],
                    })
                }
            };
            Ok(FrameTruth { class, region })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (caption, nouns) = if protocol == Protocol::Caption {
        check_caption(p, at, clip.caption, clip.nouns, classes, frames_per_clip)?
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(SetClip {
        file: PathBuf::from(clip.file),
        gt_class,
        segment: segment_,
        other_class,
        frames,
        caption,
        nouns,
    })
}

/// A caption clip's "caption" (a non-empty list of words) and "nouns" (at least one; each a
/// word of the caption, a class, a segment inside the clip).
fn check_caption(
    p: &Path,
    at: &str,
    caption: Option<Vec<String>>,
    nouns: Option<Vec<NounEntry>>,
    classes: usize,
    frames_per_clip: usize,
) -> Result<(Vec<String>, Vec<SetNoun>), Error> {
    let field = format!("{at}.caption");
    let caption = caption.ok_or_else(|| field_error(p, &field, "is missing"))?;
    if caption.is_empty() {
        return Err(field_error(p, &field, "must have at least one word"));
    }
    let field = format!("{at}.nouns");
    let items = nouns.ok_or_else(|| field_error(p, &field, "is missing"))?;
    if items.is_empty() {
        return Err(field_error(p, &field, "must name at least one noun"));
    }
    let mut nouns = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at_i = format!("{field}[{i}]");
        if !caption.contains(&item.word) {
            return Err(field_error(
                p,
                &format!("{at_i}.word"),
                format!(
                    "\"{}\" is not a word of the caption \"{}\"",
                    item.word,
                    caption.join(" ")
                ),
            ));
        }
        nouns.push(SetNoun {
            class: class_index(p, &format!("{at_i}.class"), item.class, classes)?,
            segment: segment(p, &format!("{at_i}.segment"), item.segment, frames_per_clip)?,
            word: item.word,
        });
    }
    Ok((caption, nouns))
}

/// The sets under `data`: `data` itself if it holds set.json, else its sub-directories that
/// do, sorted by name. None found is an error.
pub fn find_sets(data: &Path) -> Result<Vec<PathBuf>, Error> {
    if !data.is_dir() {
        return Err(Error::Io {
            path: data.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "is not a directory (--data is a set, a directory with set.json, or a directory of sets)",
            ),
        });
    }
    if data.join(SET_FILE).exists() {
        return Ok(vec![data.to_path_buf()]);
    }
    let mut sets = Vec::new();
    for entry in fs::read_dir(data).map_err(|source| Error::Io {
        path: data.to_path_buf(),
        source,
    })? {
        let entry = entry.map_err(|source| Error::Io {
            path: data.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.join(SET_FILE).exists() {
            sets.push(path);
        }
    }
    sets.sort();
    if sets.is_empty() {
        return Err(Error::Io {
            path: data.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "holds no set.json, and none of its sub-directories does (write sets with `ebr synth`)",
            ),
        });
    }
    Ok(sets)
}

/// The model's preprocessing as set.json writes it, for messages.
fn describe_input(
    channels: usize,
    height: usize,
    width: usize,
    scale: f64,
    order: ChannelOrder,
    mean: &[f64],
    std: &[f64],
) -> String {
    let order = match order {
        ChannelOrder::Rgb => "rgb",
        ChannelOrder::Bgr => "bgr",
    };
    format!("{channels}x{height}x{width}, scale {scale}, {order}, mean {mean:?}, std {std:?}")
}

/// Values equal to a billionth (set.json and model.json write the same decimals; this only
/// forgives a last-digit difference of a writer).
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Checks that `model` can be evaluated on `set`: the same preprocessing (the clips are
/// already preprocessed, so a model expecting another would see wrong values: refused), as
/// many classes, and frames of the input's size (the boxes are in the frame's pixels).
/// Returns notes for the user (class names that differ). spec/eval.md ("The data")
pub fn check_model_fits(set: &SynthSet, model: &Model) -> Result<Vec<String>, Error> {
    let set_json = set.dir.join(SET_FILE);
    let m: &InputSpec = &model.input;
    let s = &set.input;
    let fits = m.channels == s.channels
        && m.height == s.height
        && m.width == s.width
        && same(m.scale, s.scale)
        && m.channel_order == s.channel_order
        && m.mean.len() == s.mean.len()
        && m.mean.iter().zip(&s.mean).all(|(&a, &b)| same(a, b))
        && m.std.len() == s.std.len()
        && m.std.iter().zip(&s.std).all(|(&a, &b)| same(a, b));
    if !fits {
        return Err(Error::Unsupported {
            reason: format!(
                "{}: the set's clips were preprocessed for input {}, but the model {} expects {}; evaluate a model trained on this preprocessing",
                set_json.display(),
                describe_input(s.channels, s.height, s.width, s.scale, s.channel_order, &s.mean, &s.std),
                model.dir.join("model.json").display(),
                describe_input(m.channels, m.height, m.width, m.scale, m.channel_order, &m.mean, &m.std),
            ),
        });
    }
    if set.protocol == Protocol::Caption {
        return check_captioner_fits(set, model);
    }
    if model.captioner.is_some() {
        return Err(Error::Unsupported {
            reason: format!(
                "{}: a {} set is for an action model, but {} is a captioner; evaluate it on a caption set (ebr synth --protocol caption)",
                set_json.display(),
                set.protocol.name(),
                model.dir.join("model.json").display()
            ),
        });
    }
    if set.frame_size != [s.height, s.width] {
        return Err(field_error(
            &set_json,
            "frame_size",
            format!(
                "is {:?} but the input is {}x{}: the boxes would not be in the model's frame",
                set.frame_size, s.height, s.width
            ),
        ));
    }
    if model.classes() != set.classes.len() {
        return Err(Error::Unsupported {
            reason: format!(
                "{}: the set has {} classes, but the model {} classifies {}",
                set_json.display(),
                set.classes.len(),
                model.dir.join("model.json").display(),
                model.classes()
            ),
        });
    }
    let mut notes = Vec::new();
    if model.labels != set.classes {
        notes.push(format!(
            "{}: the model's labels differ from the set's classes; classes are matched by index",
            set.name
        ));
    }
    Ok(notes)
}

/// For a caption set (after the input check): frames of the input's size, a model with a
/// captioner, and every word of every caption a word of its vocabulary (not the sentence
/// token). Returns notes for the user.
fn check_captioner_fits(set: &SynthSet, model: &Model) -> Result<Vec<String>, Error> {
    let set_json = set.dir.join(SET_FILE);
    let s = &set.input;
    if set.frame_size != [s.height, s.width] {
        return Err(field_error(
            &set_json,
            "frame_size",
            format!(
                "is {:?} but the input is {}x{}: the boxes would not be in the model's frame",
                set.frame_size, s.height, s.width
            ),
        ));
    }
    let captioner = model.captioner.as_ref().ok_or_else(|| Error::Unsupported {
        reason: format!(
            "{}: a caption set is for a captioner, and {} has none (model.json's \"captioner\", spec/caption.md)",
            set_json.display(),
            model.dir.join("model.json").display()
        ),
    })?;
    for (i, clip) in set.clips.iter().enumerate() {
        for (j, word) in clip.caption.iter().enumerate() {
            match captioner.word_index(word) {
                Some(index) if index != crate::model::captioner::SENTENCE => {}
                _ => {
                    return Err(field_error(
                        &set_json,
                        &format!("clips[{i}].caption[{j}]"),
                        format!(
                            "\"{word}\" is not a word of the model's vocabulary ({})",
                            captioner.words[1..].join(", ")
                        ),
                    ))
                }
            }
        }
    }
    Ok(Vec::new())
}
