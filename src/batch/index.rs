//! The batch's index: one JSON line per manifest row (what was grounded, what came out, how
//! long it took), one file per run or per shard, and the merge of the shards' files.
//! spec/batch.md (BATCH-5, BATCH-6)

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::manifest::{Entry, Shard};
use super::refusal;
use crate::error::Error;
use crate::output::write_atomically;

/// The index of an unsharded run, and the merge of the shards' indexes.
pub const INDEX: &str = "index.jsonl";

/// What became of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Grounded by this run.
    Ok,
    /// Its directory was complete, for the same request, before this run (BATCH-4).
    Skipped,
    /// An error, in "error".
    Failed,
}

/// A class: its index and label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Class {
    pub index: usize,
    pub name: String,
}

/// The model's top class by mean probability over the steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predicted {
    pub index: usize,
    pub name: String,
    pub probability: f32,
}

/// One line of the index (BATCH-5). The results are null for a failed row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexRow {
    pub row: usize,
    pub name: String,
    pub clip: String,
    pub target: String,
    pub status: Status,
    /// The class grounded (the target resolved).
    pub class: Option<Class>,
    pub predicted: Option<Predicted>,
    /// The segment's first and last frame (spec/localize.md).
    pub segment: Option<[usize; 2]>,
    /// The frame of the largest sum.
    pub peak: Option<usize>,
    pub error: Option<String>,
    /// Wall time of this row in this run (0 for a skipped row).
    pub seconds: f64,
}

impl IndexRow {
    /// A row for `entry` with no results yet.
    pub fn new(entry: &Entry, status: Status, seconds: f64) -> IndexRow {
        IndexRow {
            row: entry.row,
            name: entry.name.clone(),
            clip: entry.clip_text.clone(),
            target: entry.target.text().to_string(),
            status,
            class: None,
            predicted: None,
            segment: None,
            peak: None,
            error: None,
            seconds,
        }
    }

    /// Fills the results from a grounding's summary.json; false if it lacks one of them.
    pub fn fill_from_summary(&mut self, summary: &Value) -> bool {
        let top = &summary["predicted_top5"][0];
        let class = serde_json::from_value(summary["target"].clone()).ok();
        let predicted = serde_json::from_value(top.clone()).ok();
        let segment = &summary["segment"];
        let segment = segment["start"].as_u64().zip(segment["end"].as_u64());
        let peak = summary["temporal_peak"].as_u64();
        self.class = class;
        self.predicted = predicted;
        self.segment = segment.map(|(s, e)| [s as usize, e as usize]);
        self.peak = peak.map(|p| p as usize);
        self.class.is_some()
            && self.predicted.is_some()
            && self.segment.is_some()
            && self.peak.is_some()
    }
}

/// Writes `rows` as JSON lines to `path`, atomically (temp, then rename).
pub fn write_index(path: &Path, rows: &[IndexRow]) -> Result<(), Error> {
    let mut text = String::new();
    for row in rows {
        text.push_str(&serde_json::to_string(row).expect("an index row serializes"));
        text.push('\n');
    }
    write_atomically(path, text.as_bytes())
}

/// Reads an index file's rows.
pub fn read_index(path: &Path) -> Result<Vec<IndexRow>, Error> {
    let file = crate::input_file::open_regular(path, "the index")?;
    let text = std::io::read_to_string(file).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rows = Vec::new();
    for (k, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row = serde_json::from_str(line)
            .map_err(|e| refusal(path, format!("line {}: not an index row: {e}", k + 1)))?;
        rows.push(row);
    }
    Ok(rows)
}

/// The shard of an index file's name `index.K-of-N.jsonl`.
fn shard_of(file_name: &str) -> Option<Shard> {
    let middle = file_name.strip_prefix("index.")?.strip_suffix(".jsonl")?;
    let (k, n) = middle.split_once("-of-")?;
    Shard::parse(&format!("{k}/{n}")).ok()
}

/// Joins the shards' indexes in `out` into `out/index.jsonl`, in row order (BATCH-6): every
/// shard of one N present, every row of `entries` in exactly one of them and as the manifest
/// names it. Returns the rows written.
pub fn merge_shards(out: &Path, entries: &[Entry]) -> Result<Vec<IndexRow>, Error> {
    let mut shards: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let listing = fs::read_dir(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    for item in listing.flatten() {
        if let Some(shard) = shard_of(&item.file_name().to_string_lossy()) {
            shards.entry(shard.n).or_default().push(shard.k);
        }
    }
    let n = match shards.keys().collect::<Vec<_>>()[..] {
        [] => {
            return Err(refusal(
                out,
                "holds no shard index (index.K-of-N.jsonl) to merge".to_string(),
            ))
        }
        [n] => *n,
        ref several => {
            let list: Vec<String> = several.iter().map(|n| format!("of-{n}")).collect();
            return Err(refusal(
                out,
                format!(
                    "holds shard indexes of different shard counts ({}); remove the stale ones",
                    list.join(", ")
                ),
            ));
        }
    };
    let present = &shards[&n];
    let missing: Vec<String> = (0..n)
        .filter(|k| !present.contains(k))
        .map(|k| Shard { k, n }.index_name())
        .collect();
    if !missing.is_empty() {
        return Err(refusal(
            out,
            format!(
                "{} of {n} shards missing: {}; run them, then merge again",
                missing.len(),
                missing.join(", ")
            ),
        ));
    }
    let mut merged: Vec<Option<(IndexRow, String)>> = vec![None; entries.len()];
    for k in 0..n {
        let file = Shard { k, n }.index_name();
        for row in read_index(&out.join(&file))? {
            let Some(entry) = entries.get(row.row) else {
                return Err(refusal(out, format!("{file} has row {}, past the manifest's {} rows: it was run on another manifest", row.row, entries.len())));
            };
            if row.name != entry.name || row.clip != entry.clip_text {
                return Err(refusal(out, format!("{file}'s row {} is {} ({}), the manifest's is {} ({}): it was run on another manifest", row.row, row.clip, row.name, entry.clip_text, entry.name)));
            }
            if let Some((_, first)) = &merged[row.row] {
                return Err(refusal(
                    out,
                    format!(
                        "row {} ({}) is in both {first} and {file}",
                        row.row, row.name
                    ),
                ));
            }
            let at = row.row;
            merged[at] = Some((row, file.clone()));
        }
    }
    let absent: Vec<String> = merged
        .iter()
        .zip(entries)
        .filter(|(m, _)| m.is_none())
        .map(|(_, e)| format!("{} ({})", e.row, e.name))
        .collect();
    if !absent.is_empty() {
        let shown = absent
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if absent.len() > 10 { ", ..." } else { "" };
        return Err(refusal(out, format!("{} rows in no shard's index: {shown}{more}; rerun their shards (row i is shard i mod {n}), then merge again", absent.len())));
    }
    let rows: Vec<IndexRow> = merged.into_iter().flatten().map(|(row, _)| row).collect();
    write_index(&out.join(INDEX), &rows)?;
    Ok(rows)
}
