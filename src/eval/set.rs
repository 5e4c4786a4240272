//! A synthetic set written by `ebr synth` (format "ebr-synth-1"): set.json with the ground
//! truth of every clip, and one preprocessed .npy per clip. This file is the evaluation's one
//! reader of set.json; it checks everything the metrics rely on and names the field on error.
//! spec/eval.md ("The data")

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;
use crate::localize::BoxRegion;
use crate::model::{ChannelOrder, InputSpec, Model};

/// The format tag of set.json.
pub const SET_FORMAT: &str = "ebr-synth-1";

/// The file that makes a directory a set.
pub const SET_FILE: &str = "set.json";

/// How a set's clips were made (paper Sec. 5.1-5.2), which decides what is evaluated on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// One action per clip, every frame (the spatial pointing game, classification).
    Trimmed,
    /// GT + rand or rand + GT, the boundary mid-clip (Fig. 7).
    Splice2,
    /// rand + GT + rand, the GT of varying length at a random place (Tables 2 and 3).
    Splice3,
    /// Two actors in sequence with a caption naming them (the caption table, Table 5's
    /// protocol; a captioning model).
    Caption,
}

impl Protocol {
    /// The name in set.json.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Trimmed => "trimmed",
            Protocol::Splice2 => "splice2",
            Protocol::Splice3 => "splice3",
            Protocol::Caption => "caption",
        }
    }

    fn parse(name: &str) -> Option<Protocol> {
        match name {
            "trimmed" => Some(Protocol::Trimmed),
            "splice2" => Some(Protocol::Splice2),
            "splice3" => Some(Protocol::Splice3),
            "caption" => Some(Protocol::Caption),
            _ => None,
        }
    }
}

/// set.json's "input": how the clips were preprocessed (the model's must be the same).
#[derive(Clone, Debug, PartialEq)]
pub struct SetInput {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub scale: f64,
    pub channel_order: ChannelOrder,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

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

fn json_error(path: &Path, field: &str, reason: impl Into<String>) -> Error {
    Error::Json {
        path: path.to_path_buf(),
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// `value[key]`, required (null counts as missing).
fn required<'a>(path: &Path, value: &'a Value, at: &str, key: &str) -> Result<&'a Value, Error> {
    match value.get(key) {
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(json_error(path, &join(at, key), "is missing")),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn as_usize(path: &Path, field: &str, v: &Value) -> Result<usize, Error> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            json_error(
                path,
                field,
                format!("must be a non-negative integer, found {v}"),
            )
        })
}

fn as_f64(path: &Path, field: &str, v: &Value) -> Result<f64, Error> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| json_error(path, field, format!("must be a finite number, found {v}")))
}

fn as_array<'a>(path: &Path, field: &str, v: &'a Value) -> Result<&'a Vec<Value>, Error> {
    v.as_array()
        .ok_or_else(|| json_error(path, field, format!("must be an array, found {v}")))
}

fn as_str<'a>(path: &Path, field: &str, v: &'a Value) -> Result<&'a str, Error> {
    v.as_str()
        .ok_or_else(|| json_error(path, field, format!("must be a string, found {v}")))
}

/// An array of exactly `n` non-negative integers.
fn usize_array(path: &Path, field: &str, v: &Value, n: usize) -> Result<Vec<usize>, Error> {
    let items = as_array(path, field, v)?;
    if items.len() != n {
        return Err(json_error(
            path,
            field,
            format!("must have {n} values, found {}", items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, x)| as_usize(path, &format!("{field}[{i}]"), x))
        .collect()
}

/// A class index below `classes`.
fn class_index(path: &Path, field: &str, v: &Value, classes: usize) -> Result<usize, Error> {
    let k = as_usize(path, field, v)?;
    if k >= classes {
        return Err(json_error(
            path,
            field,
            format!("class {k} is not below the set's {classes} classes"),
        ));
    }
    Ok(k)
}

/// Reads `dir`/set.json and checks it: the format tag, the protocol, every class index below
/// the number of classes, every segment inside its clip, one frame entry per frame, every box
/// of 4 numbers. The clips' .npy files are read later, one at a time.
pub fn load_set(dir: &Path) -> Result<SynthSet, Error> {
    let path = dir.join(SET_FILE);
    crate::input_file::check_regular(&path, "set.json")?;
    let text = fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let root: Value = serde_json::from_str(&text)
        .map_err(|e| json_error(&path, "(file)", format!("is not valid JSON: {e}")))?;
    let p = path.as_path();
    let format = as_str(p, "format", required(p, &root, "", "format")?)?;
    if format != SET_FORMAT {
        return Err(json_error(
            p,
            "format",
            format!("is \"{format}\", expected \"{SET_FORMAT}\""),
        ));
    }
    let protocol_name = as_str(p, "protocol", required(p, &root, "", "protocol")?)?;
    let protocol = Protocol::parse(protocol_name).ok_or_else(|| {
        json_error(
            p,
            "protocol",
            format!("is \"{protocol_name}\", expected trimmed, splice2, splice3 or caption"),
        )
    })?;
    let seed = required(p, &root, "", "seed")?
        .as_u64()
        .ok_or_else(|| json_error(p, "seed", "must be a non-negative integer"))?;
    let size = usize_array(p, "frame_size", required(p, &root, "", "frame_size")?, 2)?;
    let frame_size = [size[0], size[1]];
    let frames_per_clip = as_usize(
        p,
        "frames_per_clip",
        required(p, &root, "", "frames_per_clip")?,
    )?;
    if frames_per_clip == 0 {
        return Err(json_error(p, "frames_per_clip", "must be at least 1"));
    }
    let classes: Vec<String> = as_array(p, "classes", required(p, &root, "", "classes")?)?
        .iter()
        .enumerate()
        .map(|(i, c)| as_str(p, &format!("classes[{i}]"), c).map(str::to_string))
        .collect::<Result<_, _>>()?;
    if classes.is_empty() {
        return Err(json_error(p, "classes", "must name at least one class"));
    }
    let input = parse_input(p, required(p, &root, "", "input")?)?;
    let clip_values = as_array(p, "clips", required(p, &root, "", "clips")?)?;
    let mut clips = Vec::with_capacity(clip_values.len());
    for (i, value) in clip_values.iter().enumerate() {
        clips.push(parse_clip(
            p,
            dir,
            &format!("clips[{i}]"),
            value,
            classes.len(),
            frames_per_clip,
            protocol == Protocol::Caption,
        )?);
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(SynthSet {
        dir: dir.to_path_buf(),
        name,
        protocol,
        seed,
        frame_size,
        frames_per_clip,
        classes,
        input,
        clips,
    })
}

fn parse_input(p: &Path, v: &Value) -> Result<SetInput, Error> {
    let at = "input";
    let channels = as_usize(p, "input.channels", required(p, v, at, "channels")?)?;
    let height = as_usize(p, "input.height", required(p, v, at, "height")?)?;
    let width = as_usize(p, "input.width", required(p, v, at, "width")?)?;
    let scale = as_f64(p, "input.scale", required(p, v, at, "scale")?)?;
    let order = as_str(
        p,
        "input.channel_order",
        required(p, v, at, "channel_order")?,
    )?;
    let channel_order = match order {
        "rgb" => ChannelOrder::Rgb,
        "bgr" => ChannelOrder::Bgr,
        other => {
            return Err(json_error(
                p,
                "input.channel_order",
                format!("is \"{other}\", expected rgb or bgr"),
            ))
        }
    };
    let numbers = |key: &str| -> Result<Vec<f64>, Error> {
        let field = format!("input.{key}");
        let items = as_array(p, &field, required(p, v, at, key)?)?;
        if items.len() != channels {
            return Err(json_error(
                p,
                &field,
                format!("has {} values for {channels} channels", items.len()),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, x)| as_f64(p, &format!("{field}[{i}]"), x))
            .collect()
    };
    Ok(SetInput {
        channels,
        height,
        width,
        scale,
        channel_order,
        mean: numbers("mean")?,
        std: numbers("std")?,
    })
}

fn parse_clip(
    p: &Path,
    dir: &Path,
    at: &str,
    v: &Value,
    classes: usize,
    frames_per_clip: usize,
    captioned: bool,
) -> Result<SetClip, Error> {
    let file = as_str(p, &join(at, "file"), required(p, v, at, "file")?)?;
    let gt_class = class_index(
        p,
        &join(at, "gt_class"),
        required(p, v, at, "gt_class")?,
        classes,
    )?;
    let field = join(at, "segment");
    let segment = usize_array(p, &field, required(p, v, at, "segment")?, 2)?;
    if segment[0] > segment[1] || segment[1] >= frames_per_clip {
        return Err(json_error(
            p,
            &field,
            format!(
                "[{}, {}] is not a segment of a clip of {frames_per_clip} frames (0 <= start <= end < T)",
                segment[0], segment[1]
            ),
        ));
    }
    let other_class = match v.get("other_class") {
        None | Some(Value::Null) => None,
        Some(k) => Some(class_index(p, &join(at, "other_class"), k, classes)?),
    };
    let field = join(at, "frames");
    let frame_values = as_array(p, &field, required(p, v, at, "frames")?)?;
    if frame_values.len() != frames_per_clip {
        return Err(json_error(
            p,
            &field,
            format!(
                "has {} entries, expected frames_per_clip = {frames_per_clip}",
                frame_values.len()
            ),
        ));
    }
    let mut frames = Vec::with_capacity(frame_values.len());
    for (t, f) in frame_values.iter().enumerate() {
        let at_t = format!("{field}[{t}]");
        let class = class_index(
            p,
            &join(&at_t, "class"),
            required(p, f, &at_t, "class")?,
            classes,
        )?;
        let region = match f.get("box") {
            None | Some(Value::Null) => None,
            Some(b) => {
                let field = join(&at_t, "box");
                let items = as_array(p, &field, b)?;
                if items.len() != 4 {
                    return Err(json_error(
                        p,
                        &field,
                        format!(
                            "must be [top, left, bottom, right], found {} values",
                            items.len()
                        ),
                    ));
                }
                let c: Vec<f64> = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| as_f64(p, &format!("{field}[{i}]"), x))
                    .collect::<Result<_, _>>()?;
                Some(BoxRegion {
                    top: c[0] as f32,
                    left: c[1] as f32,
                    bottom: c[2] as f32,
                    right: c[3] as f32,
                })
            }
        };
        frames.push(FrameTruth { class, region });
    }
    let (caption, nouns) = if captioned {
        parse_caption(p, at, v, classes, frames_per_clip)?
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(SetClip {
        file: dir.join(file),
        gt_class,
        segment: (segment[0], segment[1]),
        other_class,
        frames,
        caption,
        nouns,
    })
}

/// A caption clip's "caption" (a non-empty list of words) and "nouns" (at least one; each a
/// word of the caption, a class, a segment inside the clip).
fn parse_caption(
    p: &Path,
    at: &str,
    v: &Value,
    classes: usize,
    frames_per_clip: usize,
) -> Result<(Vec<String>, Vec<SetNoun>), Error> {
    let field = join(at, "caption");
    let caption: Vec<String> = as_array(p, &field, required(p, v, at, "caption")?)?
        .iter()
        .enumerate()
        .map(|(i, w)| as_str(p, &format!("{field}[{i}]"), w).map(str::to_string))
        .collect::<Result<_, _>>()?;
    if caption.is_empty() {
        return Err(json_error(p, &field, "must have at least one word"));
    }
    let field = join(at, "nouns");
    let items = as_array(p, &field, required(p, v, at, "nouns")?)?;
    if items.is_empty() {
        return Err(json_error(p, &field, "must name at least one noun"));
    }
    let mut nouns = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at_i = format!("{field}[{i}]");
        let word = as_str(p, &join(&at_i, "word"), required(p, item, &at_i, "word")?)?;
        if !caption.iter().any(|w| w == word) {
            return Err(json_error(
                p,
                &join(&at_i, "word"),
                format!(
                    "\"{word}\" is not a word of the caption \"{}\"",
                    caption.join(" ")
                ),
            ));
        }
        let class = class_index(
            p,
            &join(&at_i, "class"),
            required(p, item, &at_i, "class")?,
            classes,
        )?;
        let seg_field = join(&at_i, "segment");
        let seg = usize_array(p, &seg_field, required(p, item, &at_i, "segment")?, 2)?;
        if seg[0] > seg[1] || seg[1] >= frames_per_clip {
            return Err(json_error(
                p,
                &seg_field,
                format!(
                    "[{}, {}] is not a segment of a clip of {frames_per_clip} frames (0 <= start <= end < T)",
                    seg[0], seg[1]
                ),
            ));
        }
        nouns.push(SetNoun {
            word: word.to_string(),
            class,
            segment: (seg[0], seg[1]),
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
        return Err(json_error(
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
        return Err(json_error(
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
                    return Err(json_error(
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
