//! The manifest of a batch: JSON lines of `{"clip": ..., "target": ..., "name": ...}`, the
//! output directory's name of each row, and the rows of a shard. spec/batch.md (BATCH-1,
//! BATCH-2, BATCH-3)

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::refusal;
use crate::error::Error;
use crate::json_file::MAX_JSON_BYTES;

/// What a row asks to ground: a class by name or index, or the model's top class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A label of model.json or an index, as written.
    Class(String),
    /// The class of highest mean probability (`"top"`).
    Top,
}

impl Target {
    /// The target as the manifest wrote it (a number as its digits).
    pub fn text(&self) -> &str {
        match self {
            Target::Class(text) => text,
            Target::Top => "top",
        }
    }
}

/// One row of the manifest.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The row's index among the manifest's rows, from 0 (blank lines not counted): the shard
    /// rule's i (BATCH-3) and the index's "row".
    pub row: usize,
    /// The line of the file, from 1, for messages.
    pub line: usize,
    /// The clip as written.
    pub clip_text: String,
    /// The clip's path: relative paths are taken from the manifest's directory (BATCH-1).
    pub clip: PathBuf,
    pub target: Target,
    /// The output directory's name under --out (BATCH-2).
    pub name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    clip: String,
    target: Value,
    name: Option<String>,
}

/// Reads the manifest `path` (BATCH-1): a regular file of at most 64 MiB, one JSON object a
/// line, at least one row; names the output directories (BATCH-2).
pub fn read_manifest(path: &Path) -> Result<Vec<Entry>, Error> {
    let file = crate::input_file::open_regular(path, "the manifest")?;
    let mut text = String::new();
    file.take(MAX_JSON_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if text.len() as u64 > MAX_JSON_BYTES {
        return Err(refusal(
            path,
            format!("the manifest is larger than {MAX_JSON_BYTES} bytes (64 MiB)"),
        ));
    }
    let base = path.parent().unwrap_or(Path::new(""));
    let mut entries = Vec::new();
    let mut explicit = Vec::new();
    for (k, line_text) in text.lines().enumerate() {
        let line = k + 1;
        if line_text.trim().is_empty() {
            continue;
        }
        let at = |reason: String| refusal(path, format!("line {line}: {reason}"));
        let row: Row = serde_json::from_str(line_text).map_err(|e| {
            at(format!(
                "{e} (each line is one object: {{\"clip\": PATH, \"target\": NAME|INDEX|\"top\", \"name\": NAME}}, \"name\" optional)"
            ))
        })?;
        let target = match &row.target {
            Value::String(s) if s == "top" => Target::Top,
            Value::String(s) if !s.is_empty() => Target::Class(s.clone()),
            Value::Number(n) if n.is_u64() => Target::Class(n.to_string()),
            other => {
                return Err(at(format!(
                    "\"target\" is {other}; give a class name, an index or \"top\""
                )))
            }
        };
        if row.clip.is_empty() {
            return Err(at("\"clip\" is empty".to_string()));
        }
        if let Some(name) = &row.name {
            check_name(name).map_err(|reason| at(format!("\"name\" {name:?} {reason}")))?;
            explicit.push((name.clone(), line));
        }
        entries.push(Entry {
            row: entries.len(),
            line,
            clip: base.join(&row.clip),
            clip_text: row.clip,
            target,
            name: row.name.unwrap_or_default(),
        });
    }
    if entries.is_empty() {
        return Err(refusal(path, "the manifest has no rows".to_string()));
    }
    name_entries(path, &mut entries, &explicit)?;
    Ok(entries)
}

/// A name given in the manifest is used as it is, so it must be a plain directory name: no
/// '/', no leading '.', no control characters, not an index file's name, at most 200 bytes.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err("must have 1 to 200 bytes".to_string());
    }
    if name.starts_with('.') || name.starts_with("index.") {
        return Err("may not start with '.' or \"index.\" (ebr's own files)".to_string());
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err("may not hold '/', '\\' or control characters".to_string());
    }
    Ok(())
}

/// A name derived from a clip's path (BATCH-2): the file's stem (a .npy) or the directory's
/// name, every character but ASCII letters, digits, '-' and '_' as '_', at most 100 bytes.
pub fn derived_name(clip: &str) -> String {
    let path = Path::new(clip);
    let stem = match path.extension() {
        Some(ext) if ext == "npy" => path.file_stem(),
        _ => path.file_name(),
    };
    let raw = stem
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if name.is_empty() || name.starts_with("index") {
        name.insert_str(0, "clip_");
    }
    name
}

/// Gives each entry its directory's name (BATCH-2): the names given are kept and must differ;
/// the others are derived from the clip and made unique by a suffix `-2`, `-3`, ... in row
/// order. Every shard reads the whole manifest, so every shard names alike.
fn name_entries(
    path: &Path,
    entries: &mut [Entry],
    explicit: &[(String, usize)],
) -> Result<(), Error> {
    let mut taken: HashMap<String, usize> = HashMap::new();
    for (name, line) in explicit {
        if let Some(first) = taken.insert(name.clone(), *line) {
            return Err(refusal(
                path,
                format!("lines {first} and {line} both name the output directory {name:?}; give each row its own name"),
            ));
        }
    }
    for entry in entries.iter_mut().filter(|e| e.name.is_empty()) {
        let base = derived_name(&entry.clip_text);
        let mut name = base.clone();
        let mut k = 2;
        while taken.contains_key(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        taken.insert(name.clone(), entry.line);
        entry.name = name;
    }
    Ok(())
}

/// `--shard K/N`: this run grounds the rows i with i mod N == K (BATCH-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// Parses "K/N" with 0 <= K < N and 1 <= N <= 100000.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?} is not a shard K/N with 0 <= K < N <= 100000 (e.g. 3/16)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n) = (
            k.parse::<usize>().map_err(|_| bad())?,
            n.parse::<usize>().map_err(|_| bad())?,
        );
        if n == 0 || n > 100_000 || k >= n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// True if row `row` is this shard's (BATCH-3).
    pub fn holds(self, row: usize) -> bool {
        row % self.n == self.k
    }

    /// The file of this shard's index (BATCH-5).
    pub fn index_name(self) -> String {
        format!("index.{}-of-{}.jsonl", self.k, self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_safe() {
        assert_eq!(derived_name("data/v_Ride g01.npy"), "v_Ride_g01");
        assert_eq!(derived_name("frames/clip.1/"), "clip_1");
        assert_eq!(derived_name(".."), "clip_");
        assert_eq!(derived_name("index.npy"), "clip_index");
    }

    #[test]
    fn shards_take_rows_mod_n() {
        let s = Shard::parse("1/4").unwrap();
        let rows: Vec<usize> = (0..10).filter(|&i| s.holds(i)).collect();
        assert_eq!(rows, vec![1, 5, 9]);
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("1").is_err());
    }
}
