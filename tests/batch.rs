//! `ebr ground-batch` through the binary (spec/batch.md): the index's rows and statuses, resume
//! without rewriting, SIGKILL mid-clip then a rerun, shards run as separate processes merged to
//! the unsharded index, and the refusals of bad manifests and a foreign --out. The clips are
//! copies of the tiny Caffe net's input (a fraction of a second each).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tempfile::TempDir;

/// No case here needs more than a few seconds; a run past this is taken for a hang.
const DEADLINE: Duration = Duration::from_secs(60);

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn model() -> PathBuf {
    fixture("fixtures/caffe-nets/tiny_cnn_lstm")
}

fn ebr() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ebr"));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn finish(child: Child) -> Output {
    common::finish_within(child, DEADLINE)
}

fn run(command: &mut Command) -> Output {
    finish(command.spawn().expect("the ebr binary runs"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `ebr ground-batch --model tiny --manifest M --out OUT` plus `extra`.
fn batch(manifest: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = ebr();
    command
        .arg("ground-batch")
        .arg("--model")
        .arg(model())
        .arg("--manifest")
        .arg(manifest)
        .arg("--out")
        .arg(out)
        .args(["--threads", "1"])
        .args(extra);
    command
}

/// A directory with `n` copies of the tiny net's clip (c0.npy ...), a broken clip
/// (broken.npy, not a .npy file), and a manifest `manifest.jsonl` of `lines`.
fn setup(n: usize, lines: &[String]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for k in 0..n {
        fs::copy(
            fixture("fixtures/caffe/tiny_cnn_lstm/input.npy"),
            dir.path().join(format!("c{k}.npy")),
        )
        .unwrap();
    }
    fs::write(dir.path().join("broken.npy"), "not a clip\n").unwrap();
    fs::write(dir.path().join("manifest.jsonl"), lines.join("\n") + "\n").unwrap();
    dir
}

fn read_index(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every entry under `dir` (links not followed): relative path -> (bytes or None for a
/// directory, modification time).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Option<Vec<u8>>, SystemTime)> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            let bytes = if meta.is_dir() {
                stack.push(path.clone());
                None
            } else {
                Some(fs::read(&path).unwrap())
            };
            all.insert(relative, (bytes, meta.modified().unwrap()));
        }
    }
    all
}

/// The manifest of the first test: two good clips (one by index, one "top" with a name), the
/// broken clip, an unknown class.
fn mixed_manifest() -> Vec<String> {
    vec![
        r#"{"clip": "c0.npy", "target": 3}"#.to_string(),
        r#"{"clip": "c1.npy", "target": "top", "name": "best"}"#.to_string(),
        r#"{"clip": "broken.npy", "target": 1}"#.to_string(),
        r#"{"clip": "c2.npy", "target": "nosuchclass"}"#.to_string(),
    ]
}

#[test]
fn a_manifest_gives_exact_rows_and_a_rerun_rewrites_nothing() {
    let dir = setup(3, &mixed_manifest());
    let out = dir.path().join("res");
    let manifest = dir.path().join("manifest.jsonl");
    let first = run(&mut batch(&manifest, &out, &[]));
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let index_path = out.join("index.jsonl");
    assert_eq!(
        stderr(&first),
        format!(
            "ebr: {}: 4 clips: 2 grounded, 0 skipped (done before), 2 failed; their errors are in the index\n",
            index_path.display()
        )
    );
    let rows = read_index(&index_path);
    let brief: Vec<(u64, &str, &str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["name"].as_str().unwrap(),
                r["clip"].as_str().unwrap(),
                r["target"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        brief,
        vec![
            (0, "c0", "c0.npy", "3", "ok"),
            (1, "best", "c1.npy", "top", "ok"),
            (2, "broken", "broken.npy", "1", "failed"),
            (3, "c2", "c2.npy", "nosuchclass", "failed"),
        ]
    );
    // The failures' errors, as `ebr ground` says them.
    let broken = dir.path().join("broken.npy");
    assert_eq!(
        rows[2]["error"],
        format!(
            "{}: not a valid .npy file: the file does not begin with the .npy magic \\x93NUMPY",
            broken.display()
        )
    );
    assert!(rows[3]["error"]
        .as_str()
        .unwrap()
        .starts_with("unknown class \"nosuchclass\"; valid: class0"));
    for failed in &rows[2..] {
        for key in ["class", "predicted", "segment", "peak"] {
            assert!(failed[key].is_null(), "{key} of {failed}");
        }
    }
    // The ok rows: the class asked for (3; "top" is the predicted class) and the segment and
    // peak of a single `ebr ground`, whose maps.npy is byte for byte the batch's.
    assert_eq!(rows[0]["class"]["index"], 3);
    assert_eq!(rows[1]["class"]["index"], rows[1]["predicted"]["index"]);
    let single = dir.path().join("single");
    let ground = run(ebr()
        .arg("ground")
        .arg("--model")
        .arg(model())
        .arg("--clip")
        .arg(dir.path().join("c0.npy"))
        .args(["--target", "3", "-q", "--out"])
        .arg(&single));
    assert!(ground.status.success(), "{}", stderr(&ground));
    let summary: Value =
        serde_json::from_slice(&fs::read(single.join("summary.json")).unwrap()).unwrap();
    assert_eq!(rows[0]["segment"][0], summary["segment"]["start"]);
    assert_eq!(rows[0]["segment"][1], summary["segment"]["end"]);
    assert_eq!(rows[0]["peak"], summary["temporal_peak"]);
    // The same f32 (summary.json writes it widened to f64, the index as f32).
    let top = &summary["predicted_top5"][0];
    assert_eq!(rows[0]["predicted"]["index"], top["index"]);
    assert_eq!(
        rows[0]["predicted"]["probability"].as_f64().unwrap() as f32,
        top["probability"].as_f64().unwrap() as f32
    );
    assert_eq!(
        fs::read(single.join("maps.npy")).unwrap(),
        fs::read(out.join("c0/maps.npy")).unwrap()
    );
    // Only the finished rows' directories, no partial ones.
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".ebr-output", "best", "c0", "index.jsonl"]);

    // The rerun skips the finished rows: nothing but the index is written.
    let before = snapshot(&out);
    let second = run(&mut batch(&manifest, &out, &[]));
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(stderr(&second).contains("4 clips: 0 grounded, 2 skipped (done before), 2 failed"));
    let mut after = snapshot(&out);
    let index = PathBuf::from("index.jsonl");
    after.remove(&index);
    let mut before_without_index = before.clone();
    before_without_index.remove(&index);
    assert_eq!(before_without_index, after);
    let again = read_index(&index_path);
    let statuses: Vec<&str> = again
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["skipped", "skipped", "failed", "failed"]);
    for (a, b) in rows.iter().zip(&again).take(2) {
        for key in ["class", "predicted", "segment", "peak"] {
            assert_eq!(a[key], b[key]);
        }
    }

    // Another option makes the rows' directories stale: they are grounded again.
    let third = run(&mut batch(&manifest, &out, &["--prior", "all"]));
    assert!(
        stderr(&third).contains("4 clips: 2 grounded, 0 skipped"),
        "{}",
        stderr(&third)
    );
}

#[test]
fn a_run_killed_mid_clip_is_completed_by_a_rerun() {
    let n = 30;
    let lines: Vec<String> = (0..n)
        .map(|k| format!(r#"{{"clip": "c{k}.npy", "target": {}}}"#, k % 10))
        .collect();
    let dir = setup(n, &lines);
    let out = dir.path().join("res");
    let manifest = dir.path().join("manifest.jsonl");
    let mut child = batch(&manifest, &out, &[]).spawn().unwrap();
    let started = Instant::now();
    let partial = loop {
        // A partial directory once three rows are done: killed in the middle of the set.
        let names: Vec<String> = fs::read_dir(&out)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let done = names
            .iter()
            .filter(|n| !n.starts_with('.') && !n.ends_with(".jsonl"));
        let found = (done.count() >= 3)
            .then(|| names.iter().find(|n| n.contains(".partial-")).cloned())
            .flatten();
        if let Some(name) = found {
            break name;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "ebr ended before a partial directory was seen"
        );
        assert!(
            started.elapsed() < DEADLINE,
            "no partial directory appeared"
        );
        std::thread::sleep(Duration::from_micros(200));
    };
    child.kill().unwrap(); // SIGKILL: nothing is cleaned up
    child.wait().unwrap();
    let done_before = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("summary.json").is_file())
        .count();
    assert!(
        (3..n).contains(&done_before),
        "killed with {done_before} rows done ({partial})"
    );
    // The index on disk is whole: every line a row.
    if out.join("index.jsonl").exists() {
        assert!(read_index(&out.join("index.jsonl")).len() <= done_before + 1);
    }

    let rerun = run(&mut batch(&manifest, &out, &[]));
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    let rows = read_index(&out.join("index.jsonl"));
    assert_eq!(rows.len(), n);
    let skipped = rows.iter().filter(|r| r["status"] == "skipped").count();
    let ok = rows.iter().filter(|r| r["status"] == "ok").count();
    assert_eq!((skipped, ok), (done_before, n - done_before));
    let leftovers: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') && name != ".ebr-output")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// The rows with their times left out, in row order.
fn without_times(mut rows: Vec<Value>) -> Vec<Value> {
    for row in &mut rows {
        row["seconds"] = Value::Null;
    }
    rows.sort_by_key(|r| r["row"].as_u64());
    rows
}

#[test]
fn four_shards_merge_to_the_unsharded_index_and_a_missing_shard_is_named() {
    let mut lines: Vec<String> = (0..9)
        .map(|k| format!(r#"{{"clip": "c{k}.npy", "target": {}}}"#, (3 * k) % 10))
        .collect();
    lines.insert(4, r#"{"clip": "broken.npy", "target": "top"}"#.to_string());
    let dir = setup(9, &lines);
    let manifest = dir.path().join("manifest.jsonl");
    let whole = dir.path().join("whole");
    let single = run(&mut batch(&manifest, &whole, &[]));
    assert_eq!(single.status.code(), Some(1), "{}", stderr(&single));

    let sharded = dir.path().join("sharded");
    let children: Vec<Child> = (0..4)
        .map(|k| {
            batch(&manifest, &sharded, &["--shard", &format!("{k}/4")])
                .spawn()
                .unwrap()
        })
        .collect();
    for (k, child) in children.into_iter().enumerate() {
        let output = finish(child);
        // Shard 0 holds rows 0, 4, 8: row 4 is the broken clip.
        let expected = if k == 0 { 1 } else { 0 };
        assert_eq!(
            output.status.code(),
            Some(expected),
            "shard {k}: {}",
            stderr(&output)
        );
    }
    let merge = |out: &Path| {
        run(ebr()
            .args(["ground-batch", "--merge", "--manifest"])
            .arg(&manifest)
            .arg("--out")
            .arg(out))
    };
    let merged = merge(&sharded);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(
        String::from_utf8_lossy(&merged.stdout),
        format!(
            "merged 10 rows, 1 failed; {}\n",
            sharded.join("index.jsonl").display()
        )
    );
    assert_eq!(
        without_times(read_index(&sharded.join("index.jsonl"))),
        without_times(read_index(&whole.join("index.jsonl")))
    );

    fs::remove_file(sharded.join("index.2-of-4.jsonl")).unwrap();
    let missing = merge(&sharded);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        format!(
            "ebr: {}: 1 of 4 shards missing: index.2-of-4.jsonl; run them, then merge again\n",
            sharded.display()
        )
    );
}

#[test]
fn bad_manifests_and_a_foreign_out_are_refused_with_one_line() {
    let dir = setup(2, &[]);
    let out = dir.path().join("res");
    let cases: Vec<(&str, &str, &str)> = vec![
        ("missing", r#"{"target": 1}"#, "line 1: missing field `clip`"),
        ("empty", "", "the manifest has no rows"),
        (
            "duplicate",
            "{\"clip\": \"c0.npy\", \"target\": 1, \"name\": \"x\"}\n\n{\"clip\": \"c1.npy\", \"target\": 2, \"name\": \"x\"}",
            "lines 1 and 3 both name the output directory \"x\"; give each row its own name",
        ),
        (
            "unsafe",
            r#"{"clip": "c0.npy", "target": 1, "name": "../x"}"#,
            "line 1: \"name\" \"../x\" may not start with '.' or \"index.\" (ebr's own files)",
        ),
        (
            "target",
            r#"{"clip": "c0.npy", "target": -1}"#,
            "line 1: \"target\" is -1; give a class name, an index or \"top\"",
        ),
    ];
    for (name, text, reason) in cases {
        let manifest = dir.path().join(format!("{name}.jsonl"));
        fs::write(&manifest, text).unwrap();
        let output = run(&mut batch(&manifest, &out, &[]));
        assert_eq!(output.status.code(), Some(1), "{name}");
        let line = stderr(&output);
        assert_eq!(line.lines().count(), 1, "{name}: {line}");
        assert!(
            line.starts_with(&format!("ebr: {}: {reason}", manifest.display())),
            "{name}: {line}"
        );
        assert!(!out.exists(), "{name}");
    }

    let fifo = dir.path().join("fifo.jsonl");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let output = run(&mut batch(&fifo, &out, &[]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "ebr: {}: the manifest is a named pipe (FIFO), not a regular file\n",
            fifo.display()
        )
    );

    // A --out that is not a batch directory of ebr's: refused, untouched.
    let manifest = dir.path().join("good.jsonl");
    fs::write(&manifest, r#"{"clip": "c0.npy", "target": 1}"#).unwrap();
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), "mine").unwrap();
    let output = run(&mut batch(&manifest, &out, &[]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!("ebr: {}: exists and is not a batch directory of ebr (no .ebr-output of `ebr ground-batch`); choose another --out\n", out.display())
    );
    let names: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["notes.txt"]);
}
