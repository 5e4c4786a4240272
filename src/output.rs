//! An output directory written all or nothing, and replaced only if ebr can prove it wrote it
//! (spec/outputs.md, OUT-1..OUT-6). Files go into a temporary sibling, which is renamed to the
//! target at the end; a failure or an interruption removes it, so that the target is either
//! the previous complete result or the new one.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Value};

use crate::error::Error;
use crate::input_file::open_regular;
use crate::interrupt;

/// The file that marks a directory as an ebr output (OUT-1).
pub const MARKER: &str = ".ebr-output";
/// The marker's "format".
pub const MARKER_FORMAT: &str = "ebr-output-1";
/// The summary every command writes: what was run.
pub const SUMMARY: &str = "summary.json";

/// The command writing a directory, and so the files it may hold (OUT-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    Ground,
    GroundCaption,
    Eval,
    Synth,
    /// The batch directory of `ebr ground-batch` (spec/batch.md, BATCH-4): its own files at
    /// the top; each row's directory is a ground output with its own marker.
    GroundBatch,
}

const MAP_FILES: &[&str] = &[
    SUMMARY,
    "maps.npy",
    "timeline.svg",
    "overlay.gif",
    "sheet.png",
    "frames/#.png",
];
const BATCH_FILES: &[&str] = &["index.jsonl", "index.#-of-#.jsonl"];
const EVAL_FILES: &[&str] = &[SUMMARY, "eval.json", "eval.md", "fig7*.svg"];
const SYNTH_FILES: &[&str] = &[
    SUMMARY,
    "set.json",
    "clips/#.npy",
    "examples/#/#.png",
    "trimmed/set.json",
    "trimmed/clips/#.npy",
    "trimmed/examples/#/#.png",
    "splice2/set.json",
    "splice2/clips/#.npy",
    "splice2/examples/#/#.png",
    "splice3/set.json",
    "splice3/clips/#.npy",
    "splice3/examples/#/#.png",
];

impl OutputKind {
    /// The subcommand's name, as the marker records it.
    pub fn command(self) -> &'static str {
        match self {
            OutputKind::Ground => "ground",
            OutputKind::GroundCaption => "ground-caption",
            OutputKind::Eval => "eval",
            OutputKind::Synth => "synth",
            OutputKind::GroundBatch => "ground-batch",
        }
    }

    /// The kind a marker's "command" names.
    fn from_command(command: &str) -> Option<OutputKind> {
        [
            OutputKind::Ground,
            OutputKind::GroundCaption,
            OutputKind::Eval,
            OutputKind::Synth,
            OutputKind::GroundBatch,
        ]
        .into_iter()
        .find(|k| k.command() == command)
    }

    /// The files the command writes, as patterns relative to the directory (`#`: one or more
    /// digits, `*`: any characters but '/'), the marker left out.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            OutputKind::Ground | OutputKind::GroundCaption => MAP_FILES,
            OutputKind::Eval => EVAL_FILES,
            OutputKind::Synth => SYNTH_FILES,
            OutputKind::GroundBatch => BATCH_FILES,
        }
    }
}

/// An input of the command, which --out must neither be, contain nor lie inside (OUT-4).
#[derive(Clone, Debug)]
pub struct InputPath {
    /// For messages, e.g. "the model directory (--model)".
    pub what: String,
    pub path: PathBuf,
}

impl InputPath {
    pub fn new(what: &str, path: &Path) -> InputPath {
        InputPath {
            what: what.to_string(),
            path: path.to_path_buf(),
        }
    }
}

/// A directory being written; `commit` moves it into place.
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    kind: OutputKind,
    run_id: String,
    committed: bool,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An error about `path` with ebr's own reason.
fn refusal(path: &Path, reason: String) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(reason),
    }
}

impl OutputDir {
    /// Starts writing `target` for the command `kind`, whose inputs are `inputs`. Refuses a
    /// target that is, contains or lies inside an input (OUT-4), one that exists and is
    /// neither empty nor an earlier output of this command (OUT-3), a parent that does not
    /// exist, and a target another live run is writing (OUT-6); removes temporary siblings
    /// left by dead runs (OUT-6). Creates the temporary sibling with the marker (OUT-1, OUT-5).
    pub fn create(
        target: &Path,
        inputs: &[InputPath],
        kind: OutputKind,
    ) -> Result<OutputDir, Error> {
        check_inputs(target, inputs)?;
        // "." or "a/..": the directory it resolves to, which has a name and a parent.
        let resolved;
        let target = if target.file_name().is_none() {
            resolved = canonical(target);
            resolved.as_path()
        } else {
            target
        };
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            let reason = if parent.exists() {
                format!("the parent {} is not a directory", parent.display())
            } else {
                format!("the parent directory {} does not exist", parent.display())
            };
            return Err(Error::Io {
                path: target.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, reason),
            });
        }
        let name = match target.file_name() {
            Some(name) => name.to_string_lossy().into_owned(),
            None => {
                return Err(refusal(
                    target,
                    "is the root directory; give a directory's name as --out".to_string(),
                ))
            }
        };
        if let Ok(metadata) = fs::symlink_metadata(target) {
            if metadata.file_type().is_symlink() {
                return Err(refusal(
                    target,
                    "is a symbolic link; give the directory itself as --out".to_string(),
                ));
            }
            check_replaceable(target, kind)?;
        }
        let run_id = random_run_id();
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let out = {
            let mut temporary = interrupt::temporary_paths();
            if fs::symlink_metadata(&staging).is_ok() {
                // Left by a dead process that had our PID: ours by its name alone if it proves
                // itself an ebr output, else refused when created below.
                if proves_ebr_output(&staging) {
                    interrupt::remove_all(&staging);
                }
            }
            fs::create_dir(&staging).map_err(io_error(&staging))?;
            temporary.push(staging.clone());
            OutputDir {
                target: target.to_path_buf(),
                staging,
                kind,
                run_id,
                committed: false,
            }
        };
        fs::write(out.staging.join(MARKER), out.marker_text()).map_err(io_error(&out.staging))?;
        sweep_siblings(&parent, &name, target)?;
        Ok(out)
    }

    /// The marker's text (OUT-1).
    fn marker_text(&self) -> String {
        let marker = json!({
            "format": MARKER_FORMAT,
            "command": self.kind.command(),
            "run_id": self.run_id,
            "ebr_version": env!("CARGO_PKG_VERSION"),
        });
        format!("{marker}\n")
    }

    /// This run's id, recorded in the marker and in the JSON results.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Where to write `relative` (its parent directories are created). Directories are created
    /// under the interruption registry's lock, so that an interruption cannot race them.
    pub fn path(&self, relative: &str) -> Result<PathBuf, Error> {
        let path = self.staging.join(relative);
        if let Some(parent) = path.parent() {
            let _held = interrupt::temporary_paths();
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        Ok(path)
    }

    /// Writes `value` (an object), with this run's `run_id` added, as pretty JSON to `relative`.
    pub fn write_json(&self, relative: &str, value: &Value) -> Result<(), Error> {
        let mut value = value.clone();
        if let Some(object) = value.as_object_mut() {
            object.insert("run_id".to_string(), json!(self.run_id));
        }
        let text = serde_json::to_string_pretty(&value).expect("a JSON value serializes");
        write_atomically(&self.path(relative)?, format!("{text}\n").as_bytes())
    }

    /// Moves the finished directory into place, replacing an earlier output of this command,
    /// checked again now (OUT-3, OUT-5).
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let name = self
            .staging
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let old = self
            .staging
            .with_file_name(name.replacen(".partial-", ".old-", 1));
        let mut temporary = interrupt::temporary_paths();
        let replacing = fs::symlink_metadata(&self.target).is_ok();
        if replacing {
            check_replaceable(&self.target, self.kind)?;
            fs::rename(&self.target, &old).map_err(io_error(&self.target))?;
            temporary.push(old.clone());
        }
        if let Err(source) = fs::rename(&self.staging, &self.target) {
            if replacing && fs::rename(&old, &self.target).is_ok() {
                temporary.retain(|p| p != &old);
            }
            return Err(Error::Io {
                path: self.target.clone(),
                source,
            });
        }
        temporary.retain(|p| p != &self.staging);
        self.committed = true;
        drop(temporary);
        if replacing {
            interrupt::remove_all(&old);
            interrupt::unregister(&old);
        }
        Ok(self.target.clone())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
            interrupt::unregister(&self.staging);
        }
    }
}

/// 32 hex digits from the standard library's per-process random keys (seeded by the operating
/// system), mixed with the time and the process id.
pub fn random_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut halves = [0u64; 2];
    for (k, half) in halves.iter_mut().enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        hasher.write_usize(k);
        *half = hasher.finish();
    }
    format!("{:016x}{:016x}", halves[0], halves[1])
}

/// `path` with symbolic links resolved: canonicalized if it exists, else its nearest existing
/// ancestor canonicalized and the rest appended ("." dropped, ".." taking a component off, as
/// the rest holds no links).
pub fn canonical(path: &Path) -> PathBuf {
    if let Ok(real) = fs::canonicalize(path) {
        return real;
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let mut base = loop {
        match (fs::canonicalize(existing), existing.parent()) {
            (Ok(real), _) => break real,
            (Err(_), Some(parent)) => {
                if let Some(last) = existing.components().next_back() {
                    rest.push(last);
                }
                existing = parent;
            }
            (Err(_), None) => break existing.to_path_buf(),
        }
    };
    for component in rest.into_iter().rev() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                base.pop();
            }
            other => base.push(other),
        }
    }
    base
}

/// Refuses a `target` that is, contains or lies inside one of `inputs`, compared after
/// resolving symbolic links (OUT-4).
pub fn check_inputs(target: &Path, inputs: &[InputPath]) -> Result<(), Error> {
    let out = canonical(target);
    for input in inputs {
        let real = canonical(&input.path);
        let relation = if real == out {
            "is"
        } else if real.starts_with(&out) {
            "contains"
        } else if out.starts_with(&real) {
            "lies inside"
        } else {
            continue;
        };
        return Err(refusal(
            target,
            format!(
                "{relation} {} {}; ebr never writes over its inputs, choose another --out",
                input.what,
                input.path.display()
            ),
        ));
    }
    Ok(())
}

/// Refuses an existing `target` unless it is an empty directory or an earlier output of
/// `kind`: the marker, and nothing `kind` does not write (OUT-3).
fn check_replaceable(target: &Path, kind: OutputKind) -> Result<(), Error> {
    let metadata = fs::symlink_metadata(target).map_err(io_error(target))?;
    if !metadata.is_dir() {
        return Err(refusal(
            target,
            "exists and is not an ebr output directory (it is not a directory); choose another --out".to_string(),
        ));
    }
    let mut entries = fs::read_dir(target).map_err(io_error(target))?;
    if entries.next().is_none() {
        return Ok(());
    }
    if read_marker(target).is_none() {
        return Err(refusal(
            target,
            format!(
                "exists and is not an ebr output directory (no {MARKER}); choose another --out"
            ),
        ));
    }
    if let Some(unexpected) = first_unexpected(target, kind.files())? {
        return Err(refusal(
            target,
            format!(
                "holds {unexpected}, which `ebr {}` does not write; it is not replaced, choose another --out",
                kind.command()
            ),
        ));
    }
    Ok(())
}

/// The command a directory's marker names, if the marker is a regular file of at most 4 KiB
/// holding an object with "format" ebr-output-1 and a "run_id".
pub fn read_marker(dir: &Path) -> Option<String> {
    let file = open_regular(&dir.join(MARKER), MARKER).ok()?;
    let mut text = Vec::new();
    file.take(4096).read_to_end(&mut text).ok()?;
    let marker: Value = serde_json::from_slice(&text).ok()?;
    let valid = marker["format"] == MARKER_FORMAT && marker["run_id"].is_string();
    valid.then(|| marker["command"].as_str().unwrap_or("").to_string())
}

/// True if `dir` is empty or an ebr output of the command its marker names (for temporary
/// directories left behind).
fn proves_ebr_output(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    let names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
    // Empty, or only the marker, perhaps cut short (a run killed while writing it).
    let marker_alone = names == [MARKER]
        && fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file() && m.len() <= 4096);
    if names.is_empty() || marker_alone {
        return true;
    }
    match read_marker(dir)
        .as_deref()
        .and_then(OutputKind::from_command)
    {
        Some(kind) => matches!(walk(dir, "", kind.files(), true), Ok(None)),
        None => false,
    }
}

/// The first entry of `dir` (walked in name order, symbolic links not followed) that is not
/// the marker, a regular file matching one of `files` or a directory some of them lie in;
/// relative to `dir`.
fn first_unexpected(dir: &Path, files: &[&str]) -> Result<Option<String>, Error> {
    walk(dir, "", files, false)
}

/// `first_unexpected`; with `partial` (a run's temporary directory, killed), a file's own
/// temporary `.NAME.tmp-PID` (`write_atomically`) is expected too (OUT-6).
fn walk(dir: &Path, prefix: &str, files: &[&str], partial: bool) -> Result<Option<String>, Error> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let file_type = entry.file_type().map_err(io_error(dir))?;
        entries.push((entry.file_name().to_string_lossy().into_owned(), file_type));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, file_type) in entries {
        let relative = format!("{prefix}{name}");
        let expected = if file_type.is_file() {
            let own = match atomic_temporary_of(&name).filter(|_| partial) {
                Some(file) => format!("{prefix}{file}"),
                None => relative.clone(),
            };
            (prefix.is_empty() && name == MARKER) || files.iter().any(|p| matches(p, &own))
        } else if file_type.is_dir() {
            files.iter().any(|p| lies_in(p, &relative))
        } else {
            false
        };
        if !expected {
            return Ok(Some(relative));
        }
        if file_type.is_dir() {
            let inner = walk(&dir.join(&name), &format!("{relative}/"), files, partial)?;
            if inner.is_some() {
                return Ok(inner);
            }
        }
    }
    Ok(None)
}

/// NAME, if `file_name` is `.NAME.tmp-PID`, the temporary of `write_atomically`.
fn atomic_temporary_of(file_name: &str) -> Option<&str> {
    let (name, pid) = file_name.strip_prefix('.')?.rsplit_once(".tmp-")?;
    (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(name)
}

/// True if a file matching `pattern` lies below the directory `relative`.
fn lies_in(pattern: &str, relative: &str) -> bool {
    let parts: Vec<&str> = pattern.split('/').collect();
    let dirs: Vec<&str> = relative.split('/').collect();
    dirs.len() < parts.len() && dirs.iter().zip(&parts).all(|(d, p)| segment_matches(p, d))
}

/// True if the relative path `relative` matches `pattern`, component by component.
fn matches(pattern: &str, relative: &str) -> bool {
    let parts: Vec<&str> = pattern.split('/').collect();
    let names: Vec<&str> = relative.split('/').collect();
    parts.len() == names.len() && names.iter().zip(&parts).all(|(n, p)| segment_matches(p, n))
}

/// One component: `#` is one or more ASCII digits, `*` any characters; the rest literal.
fn segment_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'#') => {
                let digits = n.iter().take_while(|c| c.is_ascii_digit()).count();
                (1..=digits).any(|k| go(&p[1..], &n[k..]))
            }
            Some(b'*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// The process ids of the temporary siblings `.NAME.partial-PID` and `.NAME.old-PID` in
/// `parent`: (path, pid).
fn siblings(parent: &Path, name: &str) -> Vec<(PathBuf, u32)> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        for infix in [".partial-", ".old-"] {
            let pid = file_name
                .strip_prefix(&format!(".{name}{infix}"))
                .and_then(|digits| digits.parse::<u32>().ok());
            if let Some(pid) = pid {
                found.push((entry.path(), pid));
            }
        }
    }
    found.sort();
    found
}

/// True unless the process `pid` is known not to run (no /proc/PID where /proc exists).
pub fn pid_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Removes the temporary siblings of `target` left by runs that no longer run and prove to be
/// ebr's (saying so on stderr); refuses if another live run is writing `target` (OUT-6).
fn sweep_siblings(parent: &Path, name: &str, target: &Path) -> Result<(), Error> {
    let own = std::process::id();
    for (path, pid) in siblings(parent, name) {
        if pid == own {
            continue;
        }
        if pid_alive(pid) {
            let partial = path.file_name().unwrap_or_default().to_string_lossy();
            return Err(refusal(
                target,
                format!("another ebr run (PID {pid}) is writing it ({partial}); wait for it or choose another --out"),
            ));
        }
        if proves_ebr_output(&path) {
            interrupt::remove_all(&path);
            eprintln!(
                "ebr: note: removed {}, left by an ebr run (PID {pid}) that no longer runs",
                path.display().to_string().escape_debug()
            );
        }
    }
    Ok(())
}

/// Writes `bytes` to a temporary file in `path`'s folder, then renames it to `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let temporary = temporary_sibling(path);
    let result = fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, path));
    result.map_err(|source| {
        let _ = fs::remove_file(&temporary);
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_output_leaves_nothing_and_a_committed_one_replaces_the_old() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        {
            let out = OutputDir::create(&target, &[], OutputKind::Ground).unwrap();
            fs::write(out.path("frames/0001.png").unwrap(), "x").unwrap();
        }
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);

        let out = OutputDir::create(&target, &[], OutputKind::Ground).unwrap();
        out.write_json(SUMMARY, &json!({"old": 1})).unwrap();
        let first_id = out.run_id().to_string();
        out.commit().unwrap();
        let out = OutputDir::create(&target, &[], OutputKind::Ground).unwrap();
        out.write_json(SUMMARY, &json!({"new": 1})).unwrap();
        let second_id = out.run_id().to_string();
        assert_ne!(first_id, second_id);
        out.commit().unwrap();
        let summary: Value =
            serde_json::from_str(&fs::read_to_string(target.join(SUMMARY)).unwrap()).unwrap();
        assert_eq!(summary, json!({"new": 1, "run_id": second_id}));
        let marker: Value =
            serde_json::from_str(&fs::read_to_string(target.join(MARKER)).unwrap()).unwrap();
        assert_eq!(marker["run_id"], json!(second_id));
        assert_eq!(marker["command"], "ground");
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_foreign_directory_is_never_replaced() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("precious.txt"), "keep").unwrap();
        let err = OutputDir::create(root.path(), &[], OutputKind::Ground)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not an ebr output directory"), "{err}");
        assert!(root.path().join("precious.txt").exists());
    }

    #[test]
    fn patterns_match_digits_and_stars_per_component() {
        assert!(segment_matches("#.png", "0001.png"));
        assert!(!segment_matches("#.png", ".png"));
        assert!(!segment_matches("#.png", "01a.png"));
        assert!(segment_matches("fig7*.svg", "fig7.svg"));
        assert!(segment_matches("fig7*.svg", "fig7-splice2-conserving.svg"));
        assert!(!segment_matches("fig7*.svg", "fig7.svg.bak"));
        assert!(matches("examples/#/#.png", "examples/0003/12.png"));
        assert!(!matches("examples/#/#.png", "examples/0003"));
        assert!(lies_in("trimmed/examples/#/#.png", "trimmed/examples"));
        assert!(lies_in("trimmed/examples/#/#.png", "trimmed/examples/0001"));
        assert!(!lies_in(
            "trimmed/examples/#/#.png",
            "trimmed/examples/0001/00.png"
        ));
        assert!(!lies_in("frames/#.png", "other"));
    }

    #[test]
    fn canonical_resolves_the_existing_part_and_appends_the_rest() {
        let root = tempfile::tempdir().unwrap();
        let real = fs::canonicalize(root.path()).unwrap();
        assert_eq!(canonical(&root.path().join("a/b/../c")), real.join("a/c"));
        assert_eq!(canonical(&root.path().join("./x")), real.join("x"));
    }
}
