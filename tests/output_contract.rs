//! The output directory contract (spec/outputs.md, OUT-1..OUT-6), through the real binary: a
//! directory ebr cannot prove it wrote is never replaced, --out never touches an input, an
//! earlier output is replaced, an interrupted run leaves no debris, a stale temporary directory
//! of a dead run is removed by the next run and a live one's makes it refuse.
//!
//! Every refusal asserts exit code 1, the exact line on stderr, nothing on stdout, and that
//! every file of the test's directory is byte for byte what it was (nothing written, nothing
//! removed, nothing left beside --out).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ebr::model::Model;
use ebr::Tensor;
use serde_json::Value;
use tempfile::TempDir;

mod common;

/// No case here needs more than a few seconds; a run past this is taken for a hang.
const DEADLINE: Duration = Duration::from_secs(20);

fn ebr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ebr"))
}

/// Runs `command` to its end, killing it (and failing) past DEADLINE.
fn run(command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ebr binary runs");
    finish(child)
}

fn finish(child: Child) -> Output {
    common::finish_within(child, DEADLINE)
}

/// Every file and directory under `dir` (hidden ones too, links not followed): relative path
/// -> bytes (None for a directory, the target for a link).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            let kind = fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                all.insert(relative, Some(target.to_string_lossy().as_bytes().to_vec()));
            } else if kind.is_dir() {
                all.insert(relative, None);
                stack.push(path);
            } else {
                all.insert(relative, Some(fs::read(&path).unwrap()));
            }
        }
    }
    all
}

/// A test's directory: a working model (the Caffe fixture re-saved), its clip, and a user's
/// directory of files.
struct Case {
    root: TempDir,
}

impl Case {
    fn new() -> Case {
        let root = tempfile::tempdir().unwrap();
        common::tiny_model_and_clip(root.path());
        Case { root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    /// `ebr ground --quiet --target 3 --model model --clip clip.npy --out OUT`.
    fn ground(&self, out: &Path) -> Command {
        let mut command = ebr();
        command
            .args(["ground", "--quiet", "--no-overlays", "--target", "3"])
            .arg("--model")
            .arg(self.path("model"))
            .arg("--clip")
            .arg(self.path("clip.npy"))
            .arg("--out")
            .arg(out);
        command
    }

    /// Runs `command`, which must fail with exit 1 and the one line `ebr: {line}`, leaving
    /// every file of the test's directory as it was.
    fn refuses(&self, command: &mut Command, line: &str) {
        let before = snapshot(self.root.path());
        let output = run(command);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
        assert_eq!(stderr, format!("ebr: {line}\n"));
        assert!(output.stdout.is_empty(), "stdout: {:?}", output.stdout);
        assert!(
            snapshot(self.root.path()) == before,
            "the files changed: {:#?}",
            snapshot(self.root.path()).keys().collect::<Vec<_>>()
        );
    }

    /// Runs `command`, which must succeed; returns its stderr.
    fn succeeds(&self, command: &mut Command) -> String {
        let output = run(command);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(output.status.success(), "stderr: {stderr}");
        stderr
    }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_users_directory_with_a_summary_json_is_refused_and_left_intact() {
    let case = Case::new();
    let user = case.path("paper");
    fs::create_dir(&user).unwrap();
    fs::write(user.join("summary.json"), "{\"my\": \"notes\"}\n").unwrap();
    fs::write(user.join("paper.tex"), "\\section{Results}\n").unwrap();
    case.refuses(
        &mut case.ground(&user),
        &format!(
            "{}: exists and is not an ebr output directory (no .ebr-output); choose another --out",
            show(&user)
        ),
    );
}

#[test]
fn an_earlier_output_is_replaced_and_one_with_a_users_file_is_not() {
    let case = Case::new();
    let out = case.path("result");
    case.succeeds(&mut case.ground(&out));
    let first = read_json(&out.join(".ebr-output"));
    assert_eq!(first["format"], "ebr-output-1");
    assert_eq!(first["command"], "ground");
    let run_id = first["run_id"].as_str().unwrap().to_string();
    assert_eq!(run_id.len(), 32);
    assert_eq!(read_json(&out.join("summary.json"))["run_id"], run_id);

    // A second run replaces it, and nothing is left beside it.
    case.succeeds(&mut case.ground(&out));
    let second = read_json(&out.join(".ebr-output"));
    assert_ne!(second["run_id"], run_id);
    assert_eq!(
        read_json(&out.join("summary.json"))["run_id"],
        second["run_id"]
    );
    assert_eq!(listing(case.root.path()), ["clip.npy", "model", "result"]);
    assert_eq!(
        listing(&out),
        [
            ".ebr-output",
            "maps.npy",
            "sheet.png",
            "summary.json",
            "timeline.svg"
        ]
    );

    // A file the user added makes it theirs: refused, naming the file.
    fs::write(out.join("notes.txt"), "mine").unwrap();
    case.refuses(
        &mut case.ground(&out),
        &format!(
            "{}: holds notes.txt, which `ebr ground` does not write; it is not replaced, choose another --out",
            show(&out)
        ),
    );
    fs::remove_file(out.join("notes.txt")).unwrap();

    // So does a sub-directory of its own, and a symbolic link in it.
    fs::create_dir(out.join("frames")).unwrap();
    fs::write(out.join("frames/0000.png.orig"), "mine").unwrap();
    case.refuses(
        &mut case.ground(&out),
        &format!(
            "{}: holds frames/0000.png.orig, which `ebr ground` does not write; it is not replaced, choose another --out",
            show(&out)
        ),
    );
    fs::remove_dir_all(out.join("frames")).unwrap();
    std::os::unix::fs::symlink("maps.npy", out.join("link.npy")).unwrap();
    case.refuses(
        &mut case.ground(&out),
        &format!(
            "{}: holds link.npy, which `ebr ground` does not write; it is not replaced, choose another --out",
            show(&out)
        ),
    );
    fs::remove_file(out.join("link.npy")).unwrap();

    // A marker that is not ebr's proves nothing.
    fs::write(out.join(".ebr-output"), "{\"format\": \"mine\"}").unwrap();
    case.refuses(
        &mut case.ground(&out),
        &format!(
            "{}: exists and is not an ebr output directory (no .ebr-output); choose another --out",
            show(&out)
        ),
    );
}

#[test]
fn an_out_that_is_contains_or_lies_inside_an_input_is_refused() {
    let case = Case::new();
    let model = case.path("model");
    let refusal = |out: &Path, relation: &str, what: &str, input: &Path| {
        format!(
            "{}: {relation} {what} {}; ebr never writes over its inputs, choose another --out",
            show(out),
            show(input)
        )
    };
    let the_model = "the model directory (--model)";
    case.refuses(
        &mut case.ground(&model),
        &refusal(&model, "is", the_model, &model),
    );
    let inside = model.join("maps");
    case.refuses(
        &mut case.ground(&inside),
        &refusal(&inside, "lies inside", the_model, &model),
    );
    // The test's directory holds the model and the clip.
    let parent = case.root.path().to_path_buf();
    case.refuses(
        &mut case.ground(&parent),
        &refusal(&parent, "contains", the_model, &model),
    );
    let clip = case.path("clip.npy");
    case.refuses(
        &mut case.ground(&clip),
        &refusal(&clip, "is", "the clip (--clip)", &clip),
    );
    // Compared after resolving symbolic links: a link to the model, a path through a link.
    let link = case.path("link");
    std::os::unix::fs::symlink(&model, &link).unwrap();
    case.refuses(
        &mut case.ground(&link),
        &refusal(&link, "is", the_model, &model),
    );
    let through = link.join("new");
    case.refuses(
        &mut case.ground(&through),
        &refusal(&through, "lies inside", the_model, &model),
    );
    // A --out named with "..".
    let dotted = model.join("..").join("model");
    case.refuses(
        &mut case.ground(&dotted),
        &refusal(&dotted, "is", the_model, &model),
    );
}

/// `ebr synth` of one trimmed clip into `dir` (a data set for `ebr eval` with the demo model).
fn synth_set(dir: &Path) {
    let output = run(ebr()
        .args(["synth", "--protocol", "trimmed", "--clips", "1"])
        .args(["--examples", "0", "--quiet", "--out"])
        .arg(dir));
    assert!(output.status.success(), "{output:?}");
}

fn demo_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/model")
}

fn eval(data: &Path, out: &Path) -> Command {
    let mut command = ebr();
    command
        .args(["eval", "--quiet", "--methods", "cebr", "--limit", "1"])
        .arg("--model")
        .arg(demo_model())
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out);
    command
}

#[test]
fn eval_never_writes_over_its_data_set() {
    let case = Case::new();
    let data = case.path("data");
    synth_set(&data);
    let refusal = |out: &Path, relation: &str| {
        format!(
            "{}: {relation} the data set (--data) {}; ebr never writes over its inputs, choose another --out",
            show(out),
            show(&data)
        )
    };
    case.refuses(&mut eval(&data, &data), &refusal(&data, "is"));
    let inside = data.join("clips");
    case.refuses(&mut eval(&data, &inside), &refusal(&inside, "lies inside"));
    let parent = case.root.path().to_path_buf();
    case.refuses(&mut eval(&data, &parent), &refusal(&parent, "contains"));
    // The model directory too.
    let model = demo_model();
    case.refuses(
        &mut eval(&data, &model),
        &format!(
            "{}: is the model directory (--model) {}; ebr never writes over its inputs, choose another --out",
            show(&model),
            show(&model)
        ),
    );

    // An earlier eval output is replaced; a ground output is not eval's.
    let out = case.path("eval");
    case.succeeds(&mut eval(&data, &out));
    let run_id = read_json(&out.join(".ebr-output"))["run_id"].clone();
    assert_eq!(read_json(&out.join("eval.json"))["run_id"], run_id);
    case.succeeds(&mut eval(&data, &out));
    assert_ne!(read_json(&out.join(".ebr-output"))["run_id"], run_id);
    let grounded = case.path("grounded");
    case.succeeds(&mut case.ground(&grounded));
    case.refuses(
        &mut eval(&data, &grounded),
        &format!(
            "{}: holds maps.npy, which `ebr eval` does not write; it is not replaced, choose another --out",
            show(&grounded)
        ),
    );
    // A synth output is replaced by synth only.
    case.refuses(
        ebr()
            .args(["synth", "--clips", "1", "--quiet", "--out"])
            .arg(&out),
        &format!(
            "{}: holds eval.json, which `ebr synth` does not write; it is not replaced, choose another --out",
            show(&out)
        ),
    );
}

/// The PID of a process that has ended.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_stale_partial_directory_of_a_dead_run_is_removed_by_the_next_run() {
    let case = Case::new();
    // A real partial output: an ebr output moved to the name a run killed by SIGKILL leaves.
    let earlier = case.path("earlier");
    case.succeeds(&mut case.ground(&earlier));
    let pid = dead_pid();
    let stale = case.path(&format!(".out.partial-{pid}"));
    fs::rename(&earlier, &stale).unwrap();
    // An empty one (killed before its marker was written) goes too; a directory of that
    // name that proves nothing stays.
    let pid_2 = dead_pid();
    let empty = case.path(&format!(".out.old-{pid_2}"));
    fs::create_dir(&empty).unwrap();
    let pid_3 = dead_pid();
    let foreign = case.path(&format!(".out.partial-{pid_3}"));
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("mine.txt"), "keep").unwrap();

    let out = case.path("out");
    let stderr = case.succeeds(&mut case.ground(&out));
    let mut notes: Vec<&str> = stderr.lines().collect();
    notes.sort();
    let mut expected = vec![
        format!(
            "ebr: note: removed {}, left by an ebr run (PID {pid}) that no longer runs",
            show(&stale)
        ),
        format!(
            "ebr: note: removed {}, left by an ebr run (PID {pid_2}) that no longer runs",
            show(&empty)
        ),
    ];
    expected.sort();
    assert_eq!(notes, expected);
    let mut names = vec![
        "clip.npy".to_string(),
        "model".to_string(),
        "out".to_string(),
        format!(".out.partial-{pid_3}"),
    ];
    names.sort();
    assert_eq!(listing(case.root.path()), names);
    assert_eq!(
        fs::read_to_string(foreign.join("mine.txt")).unwrap(),
        "keep"
    );
}

#[test]
fn a_partial_directory_of_a_live_run_makes_the_next_run_refuse() {
    let case = Case::new();
    // This test's own process is alive.
    let pid = std::process::id();
    let live = case.path(&format!(".out.partial-{pid}"));
    fs::create_dir(&live).unwrap();
    fs::write(live.join("maps.npy"), "being written").unwrap();
    let out = case.path("out");
    case.refuses(
        &mut case.ground(&out),
        &format!(
            "{}: another ebr run (PID {pid}) is writing it (.out.partial-{pid}); wait for it or choose another --out",
            show(&out)
        ),
    );
}

/// A clip of the demo model long enough for `ebr ground` to run for a second or more on this
/// machine: its 16 frames repeated 16 times.
fn long_clip(path: &Path) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let model = Model::load(&dir.join("model")).unwrap();
    let clip = ebr::clip::load_clip(&dir.join("clip"), &model.input).unwrap();
    let frame = clip.data.len() / clip.frames;
    let repeats = 16;
    let data: Vec<f32> = (0..repeats)
        .flat_map(|_| clip.data.iter().copied())
        .collect();
    let [c, h, w] = model.frame.input_shape();
    assert_eq!(frame, c * h * w);
    ebr::npy::write_npy(
        path,
        &Tensor::new(vec![clip.frames * repeats, c, h, w], data),
    )
    .unwrap();
}

/// Starts `ebr ground` on the long clip into `out`, waits until its temporary directory
/// exists, sends `signal`, and returns what it printed and its exit code.
fn interrupt_ground(signal: &str, expected_code: i32) {
    let case = Case::new();
    long_clip(&case.path("long.npy"));
    let before = snapshot(case.root.path());
    let out = case.path("out");
    let child = ebr()
        .args(["ground", "--target", "0", "--quiet", "--threads", "1"])
        .arg("--model")
        .arg(demo_model())
        .arg("--clip")
        .arg(case.path("long.npy"))
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = case.path(&format!(".out.partial-{}", child.id()));
    let started = Instant::now();
    while !partial.exists() {
        assert!(started.elapsed() < DEADLINE, "no partial directory");
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = finish(child);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "stderr: {stderr}"
    );
    let name = signal.trim_start_matches('-');
    assert_eq!(
        stderr,
        format!("ebr: interrupted by SIG{name} (removed 1 partial output)\n")
    );
    assert!(
        snapshot(case.root.path()) == before,
        "debris: {:?}",
        listing(case.root.path())
    );
}

#[test]
fn sigint_removes_the_partial_directory_and_exits_with_130() {
    interrupt_ground("-INT", 130);
}

#[test]
fn sigterm_removes_the_partial_directory_and_exits_with_143() {
    interrupt_ground("-TERM", 143);
}
