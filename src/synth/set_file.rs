//! set.json, the one type of it: `ebr synth` writes a [`SetFile`] (src/synth/set.rs) and
//! `ebr eval` reads one (src/eval/set.rs, which then checks what its metrics rely on). Strict:
//! `deny_unknown_fields` everywhere, field-path errors (src/json_file.rs). A new field is one
//! more member here (an `Option` with `#[serde(default, skip_serializing_if = ...)]` keeps older
//! sets readable); the writer's layout follows the type by itself. spec/synth.md (SYN-13)

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::ser::Formatter;
use serde_json::Number;

use crate::error::Error;
use crate::json_file::read_json_file;
use crate::model::ChannelOrder;

/// set.json (SYN-13), fields in the file's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetFile {
    /// "ebr-synth-1".
    pub format: String,
    /// "trimmed", "splice2", "splice3" or "caption".
    pub protocol: String,
    pub seed: u64,
    /// [height, width] of a frame: the boxes' coordinate system.
    pub frame_size: [usize; 2],
    pub frames_per_clip: usize,
    pub classes: Vec<String>,
    /// Caption sets only: the vocabulary, index 0 the sentence token (SYN-16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<String>>,
    pub input: SetInput,
    pub clips: Vec<ClipEntry>,
}

/// set.json's "input": how the clips were preprocessed (the model's must be the same).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetInput {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub scale: f64,
    pub channel_order: ChannelOrder,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

/// One clip of "clips".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipEntry {
    /// The clip's .npy, relative to the set's directory.
    pub file: String,
    /// The class to ground.
    pub gt_class: usize,
    /// Inclusive frames of the GT action.
    pub segment: [usize; 2],
    /// The rand action's class in splices (the second action's in a caption clip); null for
    /// trimmed clips (always written).
    pub other_class: Option<usize>,
    /// Caption sets only: the caption's words (SYN-17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<Vec<String>>,
    /// Caption sets only: the caption's nouns (SYN-17).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nouns: Option<Vec<NounEntry>>,
    /// One per frame.
    pub frames: Vec<FrameEntry>,
}

/// A noun of a caption: its word, the class of the actor it names and that actor's frames
/// (inclusive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NounEntry {
    pub word: String,
    pub class: usize,
    pub segment: [usize; 2],
}

/// The ground truth of one frame: the class it shows and the actor's box.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameEntry {
    pub class: usize,
    /// [top, left, bottom, right], pixels of the frame, inclusive; null when the frame has no
    /// box. Numbers as written: synth writes whole pixels, any number is read.
    #[serde(rename = "box")]
    pub bbox: Option<Vec<Number>>,
}

impl SetFile {
    /// Reads `path` (a set.json), refusing a file past the JSON size cap before reading it.
    pub fn read(path: &Path) -> Result<SetFile, Error> {
        read_json_file(path)
    }

    /// The text of set.json: the top level, "clips", each clip and "frames" one member per
    /// line, every other value on one line (a frame is one line), ending with a newline.
    pub fn to_text(&self) -> String {
        let mut bytes = Vec::new();
        let mut serializer =
            serde_json::Serializer::with_formatter(&mut bytes, SetLayout::default());
        self.serialize(&mut serializer)
            .expect("set.json's types serialize");
        bytes.push(b'\n');
        String::from_utf8(bytes).expect("serde_json writes UTF-8")
    }
}

/// The containers laid out one member per line, besides the top level.
const ONE_PER_LINE: [&str; 2] = ["clips", "frames"];

/// A serde_json formatter for set.json's layout: a container is written one member per line
/// (indented two spaces per level) if it is the top level, a value of a key in
/// [`ONE_PER_LINE`], or an element of "clips"; any other on one line with ", " and ": ".
#[derive(Default)]
struct SetLayout {
    /// The open containers.
    open: Vec<Open>,
    /// The last key written, and whether one is being written.
    key: String,
    in_key: bool,
}

struct Open {
    one_per_line: bool,
    /// The key it is the value of ("" for an element of a list).
    key: String,
    empty: bool,
}

impl SetLayout {
    fn begin(&mut self) {
        let one_per_line = match self.open.last() {
            None => true,
            Some(parent) if !parent.one_per_line => false,
            // an element of a list (`begin_array_value` cleared the key)
            Some(parent) if self.key.is_empty() => parent.key == "clips",
            // the value of a key
            Some(_) => ONE_PER_LINE.contains(&self.key.as_str()),
        };
        let key = std::mem::take(&mut self.key);
        self.open.push(Open {
            one_per_line,
            key,
            empty: true,
        });
    }

    /// Before a member (a key, or an element of a list).
    fn member<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        let depth = self.open.len();
        let open = self
            .open
            .last_mut()
            .expect("a member is inside a container");
        open.empty = false;
        if open.one_per_line {
            writer.write_all(if first { b"\n" } else { b",\n" })?;
            writer.write_all("  ".repeat(depth).as_bytes())
        } else if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn end<W: ?Sized + io::Write>(&mut self, writer: &mut W, close: &[u8]) -> io::Result<()> {
        let open = self.open.pop().expect("a container was opened");
        if open.one_per_line && !open.empty {
            writer.write_all(b"\n")?;
            writer.write_all("  ".repeat(self.open.len()).as_bytes())?;
        }
        writer.write_all(close)
    }
}

impl Formatter for SetLayout {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.begin();
        writer.write_all(b"[")
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.end(writer, b"]")
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.key.clear();
        self.member(writer, first)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.begin();
        writer.write_all(b"{")
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.end(writer, b"}")
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.key.clear();
        self.in_key = true;
        self.member(writer, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.in_key = false;
        Ok(())
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if self.in_key {
            self.key.push_str(fragment);
        }
        writer.write_all(fragment.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_file::parse_json;
    use crate::synth::protocol::{generate_clip, Protocol};
    use crate::synth::set::set_file;

    fn caption_set() -> SetFile {
        let mut clip = generate_clip(3, Protocol::Caption, 0);
        clip.images.clear();
        set_file(Protocol::Caption, 3, &[clip])
    }

    #[test]
    fn the_text_reads_back_as_the_same_set() {
        // Every optional field set (a caption set): the layout drops nothing.
        let set = caption_set();
        let text = set.to_text();
        let back: SetFile = parse_json(Path::new("set.json"), &text).unwrap();
        assert_eq!(back, set);
        // One line per frame, the input block on one line, a final newline.
        assert!(text.contains("\n        {\"class\": "), "{text}");
        assert!(
            text.contains("\n  \"input\": {\"channels\": 3, \"height\": 64"),
            "{text}"
        );
        assert!(text.ends_with("\n  ]\n}\n"), "{text}");
    }

    #[test]
    fn unknown_and_repeated_fields_are_refused_with_their_path() {
        let text = caption_set().to_text();
        let refused = |text: &str| {
            parse_json::<SetFile>(Path::new("set.json"), text)
                .unwrap_err()
                .to_string()
        };
        let unknown = text.replacen("{\"class\": ", "{\"score\": 1, \"class\": ", 2);
        assert_eq!(
            refused(&unknown),
            "set.json: field clips[0].frames[0].score: is not a field ebr knows here (valid: class, box)"
        );
        let repeated = text.replacen("\"seed\": 3,", "\"seed\": 3,\n  \"seed\": 4,", 1);
        assert_eq!(
            refused(&repeated),
            "set.json: field seed: appears twice (a key may appear once in an object)"
        );
    }
}
