//! The batch directory (--out of ground-batch): ebr's own, proven by its marker, holding one
//! grounding directory per row and the indexes. spec/batch.md (BATCH-4)

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use super::refusal;
use crate::error::Error;
use crate::output::{
    check_inputs, pid_alive, random_run_id, read_marker, InputPath, OutputKind, MARKER,
    MARKER_FORMAT, SUMMARY,
};

/// Makes `out` a batch directory or checks that it is one (BATCH-4): a path that does not
/// exist or an empty directory becomes one (created with its marker under a temporary name,
/// then renamed, so that shards starting together see either nothing or a marked directory);
/// a directory whose marker names ground-batch is one; anything else is refused, as is an
/// `out` that is, contains or lies inside an input (spec/outputs.md OUT-3, OUT-4).
pub fn open_batch_dir(out: &Path, inputs: &[InputPath]) -> Result<(), Error> {
    check_inputs(out, inputs)?;
    let command = OutputKind::GroundBatch.command();
    if let Ok(metadata) = fs::symlink_metadata(out) {
        if metadata.file_type().is_symlink() {
            return Err(refusal(
                out,
                "is a symbolic link; give the directory itself as --out".to_string(),
            ));
        }
        if read_marker(out).as_deref() == Some(command) {
            return Ok(());
        }
        let empty = metadata.is_dir() && fs::read_dir(out).is_ok_and(|mut e| e.next().is_none());
        if !empty {
            return Err(refusal(out, format!("exists and is not a batch directory of ebr (no {MARKER} of `ebr {command}`); choose another --out")));
        }
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    crate::interrupt::register(&staging);
    let marker = json!({"format": MARKER_FORMAT, "command": command, "run_id": random_run_id(), "ebr_version": env!("CARGO_PKG_VERSION")});
    let made = fs::create_dir(&staging)
        .and_then(|()| fs::write(staging.join(MARKER), format!("{marker}\n")))
        .map_err(io(&staging));
    // Onto a path that does not exist or an empty directory; another shard may have won.
    let renamed = made.and_then(|()| fs::rename(&staging, out).map_err(io(out)));
    if renamed.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    crate::interrupt::unregister(&staging);
    match renamed {
        Ok(()) => Ok(()),
        Err(_) if read_marker(out).as_deref() == Some(command) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The summary.json of a row's directory `dir` if the directory is complete for `request`
/// (BATCH-4): its marker says `ebr ground` wrote it, and its summary's "batch_request" equals
/// `request` (the same clip, target, model and options).
pub fn completed(dir: &Path, request: &Value) -> Option<Value> {
    if read_marker(dir).as_deref() != Some(OutputKind::Ground.command()) {
        return None;
    }
    let summary: Value = crate::json_file::read_json_file(&dir.join(SUMMARY)).ok()?;
    (summary["batch_request"] == *request).then_some(summary)
}

/// Removes the index temporaries `.index*.jsonl.tmp-PID` in the batch directory `out` left by
/// runs that no longer run (killed while writing the index; BATCH-5).
pub fn remove_stale_index_temporaries(out: &Path) {
    let Ok(entries) = fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(".index")
            .and_then(|rest| rest.split_once(".jsonl.tmp-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        if let Some(pid) = pid.filter(|&pid| !pid_alive(pid)) {
            if fs::remove_file(entry.path()).is_ok() {
                eprintln!(
                    "ebr: note: removed {}, left by an ebr run (PID {pid}) that no longer runs",
                    entry.path().display().to_string().escape_debug()
                );
            }
        }
    }
}
