//! `ebr eval` (spec/eval.md): every metric on hand-made inputs whose answer is worked out in
//! the comments (and in the spec), the set reader's checks, and end-to-end runs of the binary
//! on tiny generated sets with a random model. The sets are written by `write_set` below in
//! the format of `ebr synth` (random frames, known segments and boxes); the model is
//! `Model::random` of a small CNN-LSTM saved with `Model::save`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ebr::eval::average_precision::{
    average_precision, mean_average_precision, per_class_ap, ranking, Detection,
};
use ebr::eval::caption::{
    caption_random_points, frame_centre, map_peak, noun_frames, peak_in_segment, point_hits,
    random_pixel, CaptionPointer, CaptionScore, CAPTION_POINTING_RADIUS,
};
use ebr::eval::curve::{CurveSums, SignCheck, SpliceOrder};
use ebr::eval::detection::{detect, matches, segment_mean, with_common_score, TemporalDetection};
use ebr::eval::fig7_svg::fig7_svg;
use ebr::eval::interval::{bootstrap, quantile, Interval, BOOTSTRAP_SALT};
use ebr::eval::localization::{
    length_bins, localization_rows, localization_table, ClipDetection, ClipDetections, Length,
    LengthBin, Signal,
};
use ebr::eval::probability::{class_probabilities, predicted_class, thresholded_probability};
use ebr::eval::set::{check_model_fits, find_sets, load_set, FrameTruth};
use ebr::eval::spatial::{clip_hits, pointing_radius};
use ebr::eval::temporal_pointing::{
    combined_peak, peak_probability, pointing_rows, pointing_table, random_point, random_points,
    ClipPoints, Pointer,
};
use ebr::eval::Variant;
use ebr::grounding::{Method, Prior};
use ebr::layers::LstmEbRule;
use ebr::localize::BoxRegion;
use ebr::model::schema::{
    ChannelOrder, FcSpec, FrameLayerSpec, InputSpec, ModelSpec, TemporalLayerSpec,
};
use ebr::model::Model;
use ebr::npy::write_npy;
use ebr::rng::Rng;
use ebr::Tensor;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Helpers: a set in the format of `ebr synth`, a random model of the set's input.

/// What `write_set` writes.
#[derive(Clone, Copy, Debug)]
struct SetSpec {
    protocol: &'static str,
    clips: usize,
    frames: usize,
    classes: usize,
    size: usize,
    seed: u64,
}

/// The preprocessing of the test sets and models: 3 x size x size, RGB, mean 0.5, std 0.25.
fn set_input(size: usize) -> Value {
    json!({"channels": 3, "height": size, "width": size, "scale": 1.0, "channel_order": "rgb",
           "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
}

/// Writes DIR/set.json and DIR/clips/NNNN.npy: random frames (normal, already preprocessed),
/// GT classes drawn at random, segments by protocol (trimmed: the whole clip; splice2: the
/// first or second half, alternating; splice3: lengths 2, 3, 5 in turn at a random start),
/// a random box per frame.
fn write_set(dir: &Path, spec: SetSpec) {
    fs::create_dir_all(dir.join("clips")).unwrap();
    let mut rng = Rng::new(spec.seed);
    let t_n = spec.frames;
    let s = spec.size;
    let mut clips = Vec::new();
    for i in 0..spec.clips {
        let gt = rng.below(spec.classes);
        let other = (gt + 1 + rng.below(spec.classes - 1)) % spec.classes;
        let segment = match spec.protocol {
            "trimmed" => (0, t_n - 1),
            "splice2" if i.is_multiple_of(2) => (0, t_n / 2 - 1),
            "splice2" => (t_n / 2, t_n - 1),
            _ => {
                let length = [2, 3, 5][i % 3].min(t_n - 2);
                let start = 1 + rng.below(t_n - length - 1);
                (start, start + length - 1)
            }
        };
        let frames: Vec<Value> = (0..t_n)
            .map(|t| {
                let class = if segment.0 <= t && t <= segment.1 {
                    gt
                } else {
                    other
                };
                let (h, w) = (8 + rng.below(12), 8 + rng.below(12));
                let (top, left) = (rng.below(s - h), rng.below(s - w));
                json!({"class": class, "box": [top, left, top + h - 1, left + w - 1]})
            })
            .collect();
        let data: Vec<f32> = (0..t_n * 3 * s * s).map(|_| rng.normal() as f32).collect();
        let file = format!("clips/{i:04}.npy");
        write_npy(&dir.join(&file), &Tensor::new(vec![t_n, 3, s, s], data)).unwrap();
        let other_class = if spec.protocol == "trimmed" {
            Value::Null
        } else {
            json!(other)
        };
        clips.push(
            json!({"file": file, "gt_class": gt, "segment": [segment.0, segment.1],
                          "other_class": other_class, "frames": frames}),
        );
    }
    let classes: Vec<String> = (0..spec.classes).map(|k| format!("action{k}")).collect();
    let set = json!({"format": "ebr-synth-1", "protocol": spec.protocol, "seed": spec.seed,
                     "frame_size": [s, s], "frames_per_clip": t_n, "classes": classes,
                     "input": set_input(s), "clips": clips});
    fs::write(
        dir.join("set.json"),
        serde_json::to_string_pretty(&set).unwrap(),
    )
    .unwrap();
}

/// A small CNN-LSTM of the set's schema: conv/pool x3, fc 32, LSTM 16, a classifier and a frame
/// classifier of `classes`.
fn model_spec(size: usize, classes: usize) -> ModelSpec {
    let conv = |name: &str, out: usize| FrameLayerSpec::Conv {
        name: name.into(),
        out,
        kernel: 3,
        stride: 1,
        pad: 1,
        bias: true,
    };
    let pool = |name: &str| FrameLayerSpec::MaxPool {
        name: Some(name.into()),
        kernel: 2,
        stride: 2,
        pad: 0,
    };
    ModelSpec {
        name: "random-eval".to_string(),
        input: InputSpec {
            channels: 3,
            height: size,
            width: size,
            resize: None,
            scale: 1.0,
            channel_order: ChannelOrder::Rgb,
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        },
        frame: vec![
            conv("conv1", 8),
            FrameLayerSpec::Relu,
            pool("pool1"),
            conv("conv2", 8),
            FrameLayerSpec::Relu,
            pool("pool2"),
            conv("conv3", 16),
            FrameLayerSpec::Relu,
            pool("pool3"),
            FrameLayerSpec::Fc {
                name: "fc6".into(),
                out: 32,
                bias: true,
            },
            FrameLayerSpec::Relu,
            FrameLayerSpec::Dropout,
        ],
        temporal: vec![TemporalLayerSpec::Lstm {
            name: "lstm".into(),
            hidden: 16,
        }],
        classifier: FcSpec {
            name: "fc8".into(),
            out: classes,
            bias: true,
        },
        frame_classifier: Some(FcSpec {
            name: "fc8f".into(),
            out: classes,
            bias: true,
        }),
        captioner: None,
        labels: (0..classes).map(|k| format!("action{k}")).collect(),
    }
}

/// Saves a random model of `spec` into `dir` and returns it as loaded back.
fn save_random_model(dir: &Path, spec: &ModelSpec, seed: u64) -> Model {
    fs::create_dir_all(dir).unwrap();
    Model::random(spec, seed, dir).unwrap().save(dir).unwrap();
    Model::load(dir).unwrap()
}

fn ebr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(args)
        .output()
        .expect("the ebr binary runs")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Runs a command that must succeed; returns its stdout.
fn ok(args: &[&str]) -> String {
    let out = ebr(args);
    assert!(
        out.status.success(),
        "ebr {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs a command that must fail with exit code 1 and one line on stderr containing every
/// string of `wanted`.
fn fails(args: &[&str], wanted: &[&str]) -> String {
    let out = ebr(args);
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(
        out.status.code(),
        Some(1),
        "ebr {args:?}: exit code; {stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line on stderr, got {stderr:?}"
    );
    for w in wanted {
        assert!(stderr.contains(w), "{stderr:?} does not mention {w:?}");
    }
    stderr
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The three test sets under `root`: trimmed, splice2, splice3.
fn write_three_sets(root: &Path, clips: usize, frames: usize, size: usize, classes: usize) {
    for (k, protocol) in ["trimmed", "splice2", "splice3"].into_iter().enumerate() {
        write_set(
            &root.join(protocol),
            SetSpec {
                protocol,
                clips,
                frames,
                classes,
                size,
                seed: 11 + k as u64,
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// End to end, through the binary.

#[test]
fn eval_on_three_tiny_sets_writes_every_table_and_file() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("synth");
    write_three_sets(&data, 6, 8, 64, 4);
    let model_dir = root.path().join("model");
    save_random_model(&model_dir, &model_spec(64, 4), 5);
    let out = root.path().join("eval");
    let stdout = ok(&[
        "eval",
        "--model",
        path_str(&model_dir),
        "--data",
        path_str(&data),
        "--out",
        path_str(&out),
        "--threads",
        "2",
    ]);
    println!("{stdout}");
    for file in ["eval.json", "eval.md", "fig7.svg", "summary.json"] {
        assert!(out.join(file).is_file(), "{file} is written");
    }
    let md = fs::read_to_string(out.join("eval.md")).unwrap();
    assert!(stdout.starts_with(&md), "stdout is eval.md, then the path");

    // Table 1: a header of the six methods in the paper's order, accuracies and hits.
    let header = md
        .lines()
        .find(|l| l.starts_with("| | EB |"))
        .expect("Table 1's header");
    assert_eq!(header, "| | EB | EB-R | cEB | cEB-R | BP | BP-R |");
    let hits_row = md
        .lines()
        .find(|l| l.starts_with("| hits / frames |"))
        .unwrap();
    // 6 clips x 8 frames, every frame annotated with the GT class in a trimmed set
    assert_eq!(hits_row.matches("/48 |").count(), 6, "{hits_row}");

    // Table 2: known rows for the lengths 2, 3, 5 and all; unknown rows likewise; the
    // probability, EB-R and cEB-R columns; EB-R has no unknown-length entry.
    let header = md
        .lines()
        .find(|l| l.starts_with("| Action length |"))
        .expect("Table 2's header");
    assert_eq!(
        header,
        "| Action length | Length (frames) | Clips | Probability | EB-R | cEB-R |"
    );
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| Known |") || l.starts_with("| Unknown |"))
        .collect();
    assert_eq!(rows.len(), 8, "{rows:?}");
    assert!(rows[3].starts_with("| Known | all | 6 |"), "{}", rows[3]);
    assert!(rows[7].starts_with("| Unknown | all | 6 |"), "{}", rows[7]);
    for row in &rows[4..] {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[5], "-", "EB-R has no unknown length: {row}");
    }

    // Table 3: random, peak probability, cEB-R, the product, the oracle.
    for method in [
        "| Random |",
        "| Peak probability |",
        "| cEB-R |",
        "| Peak probability x cEB-R |",
        "| Peak probability or cEB-R, oracle |",
    ] {
        assert!(md.contains(method), "Table 3 has {method}");
    }

    // eval.json: one entry per set, in name order, with its protocol's numbers.
    let json = read_json(&out.join("eval.json"));
    let sets = json["sets"].as_array().unwrap();
    let protocols: Vec<&str> = sets
        .iter()
        .map(|s| s["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(protocols, ["splice2", "splice3", "trimmed"]);
    let trimmed = &sets[2];
    let methods = trimmed["spatial_pointing"]["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 6);
    for m in methods {
        assert_eq!(m["frames"], 48);
        let accuracy = m["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy));
    }
    assert!(trimmed["classification"]["accuracy_mean_over_steps"].is_number());
    let splice3 = &sets[1];
    assert_eq!(splice3["clip_results"].as_array().unwrap().len(), 6);
    let rows = splice3["temporal_localization"]["rows"].as_array().unwrap();
    // known: 3 signals x 4 bins; unknown: 2 signals x 4 bins
    assert_eq!(rows.len(), 20);
    for row in rows {
        let map = row["map"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&map), "{row}");
    }
    let fig7 = &sets[0]["fig7"]["methods"][0];
    assert_eq!(fig7["key"], "cebr");
    assert_eq!(fig7["gt_first"]["mean"].as_array().unwrap().len(), 8);
    assert_eq!(fig7["gt_first"]["clips"], 3);
    assert_eq!(fig7["rand_first"]["clips"], 3);
    assert_eq!(fig7["gt_first"]["boundary"], 4.0);
    assert_eq!(fig7["svg"], "fig7.svg");
    assert_eq!(fig7["check"]["clips"], 6);
    assert_eq!(fig7["check_gt_first"]["clips"], 3);
    assert_eq!(fig7["check_rand_first"]["clips"], 3);
    assert!(json["timing"]["seconds"].as_f64().unwrap() > 0.0);

    // fig7.svg: two curves, two bands, the boundary.
    let svg = fs::read_to_string(out.join("fig7.svg")).unwrap();
    assert!(svg.starts_with("<?xml"));
    assert_eq!(svg.matches("<polyline class=\"mean ").count(), 2);
    assert_eq!(svg.matches("<polygon class=\"band ").count(), 2);
    // Both orders' boundary is frame 4: one shared line.
    assert_eq!(svg.matches("<line class=\"boundary both\"").count(), 1);

    // A second run replaces the first (the directory is marked as an ebr output).
    ok(&[
        "eval",
        "--model",
        path_str(&model_dir),
        "--data",
        path_str(&data.join("splice3")),
        "--out",
        path_str(&out),
        "--limit",
        "2",
        "--methods",
        "cebr",
        "--quiet",
    ]);
    let json = read_json(&out.join("eval.json"));
    assert_eq!(json["sets"].as_array().unwrap().len(), 1);
    assert_eq!(json["sets"][0]["clips"], 2);
    assert!(!out.join("fig7.svg").exists());
}

#[test]
fn lstm_rule_both_reports_each_rule_side_by_side() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("synth");
    write_three_sets(&data, 3, 8, 64, 3);
    let model_dir = root.path().join("model");
    save_random_model(&model_dir, &model_spec(64, 3), 9);
    let out = root.path().join("eval");
    let stdout = ok(&[
        "eval",
        "--model",
        path_str(&model_dir),
        "--data",
        path_str(&data),
        "--out",
        path_str(&out),
        "--lstm-rule",
        "both",
        "--methods",
        "cebr,ebr,eb",
    ]);
    assert!(
        stdout.contains("| | EB | EB-R | EB-R (conserving) | cEB-R | cEB-R (conserving) |"),
        "{stdout}"
    );
    assert!(stdout.contains(
        "| Action length | Length (frames) | Clips | Probability | EB-R | EB-R (conserving) | cEB-R | cEB-R (conserving) |"
    ));
    assert!(stdout.contains("| Peak probability x cEB-R (conserving) |"));
    assert!(stdout.contains("| Peak probability or cEB-R (conserving), oracle |"));
    assert!(out.join("fig7.svg").is_file() && out.join("fig7-conserving.svg").is_file());
    let json = read_json(&out.join("eval.json"));
    let keys: Vec<&str> = json["sets"][0]["fig7"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["cebr", "cebr_conserving"]);
    assert_eq!(
        json["options"]["lstm_rules"],
        json!(["original", "conserving"])
    );
}

#[test]
fn bad_inputs_fail_with_one_line_and_leave_no_output() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("synth");
    write_three_sets(&data, 2, 4, 32, 3);
    let model_dir = root.path().join("model");
    save_random_model(&model_dir, &model_spec(32, 3), 1);
    let out = root.path().join("eval");
    let (m, d, o) = (path_str(&model_dir), path_str(&data), path_str(&out));

    // A directory without sets.
    let empty = root.path().join("empty");
    fs::create_dir(&empty).unwrap();
    fails(
        &["eval", "--model", m, "--data", path_str(&empty), "--out", o],
        &["holds no set.json"],
    );
    // A model of another preprocessing (64 px) for the 32-px sets.
    let other_model = root.path().join("model64");
    save_random_model(&other_model, &model_spec(64, 3), 1);
    fails(
        &[
            "eval",
            "--model",
            path_str(&other_model),
            "--data",
            d,
            "--out",
            o,
        ],
        &[
            "preprocessed for input 3x32x32",
            "expects 3x64x64",
            "set.json",
        ],
    );
    // A model with another number of classes.
    let model4 = root.path().join("model4");
    save_random_model(&model4, &model_spec(32, 4), 1);
    fails(
        &[
            "eval",
            "--model",
            path_str(&model4),
            "--data",
            d,
            "--out",
            o,
        ],
        &["the set has 3 classes", "classifies 4"],
    );
    // An unknown layer, --limit 0.
    fails(
        &[
            "eval", "--model", m, "--data", d, "--out", o, "--layer", "conv9",
        ],
        &["unknown layer \"conv9\"", "conv1"],
    );
    fails(
        &[
            "eval", "--model", m, "--data", d, "--out", o, "--limit", "0",
        ],
        &["--limit must be at least 1"],
    );
    // A per-frame method asked of a model without a frame classifier.
    let mut spec = model_spec(32, 3);
    spec.frame_classifier = None;
    let headless = root.path().join("headless");
    save_random_model(&headless, &spec, 1);
    fails(
        &[
            "eval",
            "--model",
            path_str(&headless),
            "--data",
            d,
            "--out",
            o,
            "--methods",
            "cebr,bp",
        ],
        &["method bp needs a frame_classifier"],
    );
    // A clip with fewer frames than set.json says.
    let clip = data.join("splice3/clips/0001.npy");
    write_npy(
        &clip,
        &Tensor::new(vec![3, 3, 32, 32], vec![0.0; 3 * 3 * 32 * 32]),
    )
    .unwrap();
    fails(
        &["eval", "--model", m, "--data", d, "--out", o],
        &["0001.npy", "has 3 frames", "frames_per_clip = 4"],
    );
    assert!(!out.exists(), "a failed run leaves no output");
    // Without per-frame heads, the default methods skip EB, cEB, BP with a note.
    let stdout = ok(&[
        "eval",
        "--model",
        path_str(&headless),
        "--data",
        path_str(&data.join("trimmed")),
        "--out",
        o,
    ]);
    assert!(stdout.contains("| | EB-R | cEB-R | BP-R |"), "{stdout}");
    assert!(stdout.contains("Note: eb skipped: the model has no frame_classifier."));
}

// ---------------------------------------------------------------------------------------
// The set reader.

/// Writes a one-clip trimmed set of 4 frames of 32 px, edited by `edit`; returns its dir.
fn edited_set(root: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let dir = root.join("set");
    write_set(
        &dir,
        SetSpec {
            protocol: "trimmed",
            clips: 1,
            frames: 4,
            classes: 3,
            size: 32,
            seed: 3,
        },
    );
    let mut json = read_json(&dir.join("set.json"));
    edit(&mut json);
    fs::write(dir.join("set.json"), json.to_string()).unwrap();
    dir
}

fn set_error(edit: impl FnOnce(&mut Value)) -> String {
    let root = tempfile::tempdir().unwrap();
    let dir = edited_set(root.path(), edit);
    load_set(&dir).unwrap_err().to_string()
}

/// An edit of set.json's JSON.
type Edit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn the_set_reader_names_the_bad_field() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|j| j["format"] = json!("ebr-synth-2")),
            "field format: is \"ebr-synth-2\"",
        ),
        (
            Box::new(|j| j["protocol"] = json!("splice4")),
            "field protocol: is \"splice4\"",
        ),
        (
            Box::new(|j| j["clips"][0]["gt_class"] = json!(3)),
            "clips[0].gt_class: class 3 is not below the set's 3 classes",
        ),
        (
            Box::new(|j| j["clips"][0]["segment"] = json!([2, 4])),
            "clips[0].segment: [2, 4] is not a segment of a clip of 4 frames",
        ),
        (
            Box::new(|j| j["clips"][0]["segment"] = json!([2, 1])),
            "clips[0].segment: [2, 1]",
        ),
        (
            Box::new(|j| {
                j["clips"][0]["frames"]
                    .as_array_mut()
                    .unwrap()
                    .pop()
                    .map(|_| ())
                    .unwrap()
            }),
            "clips[0].frames: has 3 entries, expected frames_per_clip = 4",
        ),
        (
            Box::new(|j| j["clips"][0]["frames"][2]["box"] = json!([1, 2, 3])),
            "clips[0].frames[2].box: must be [top, left, bottom, right]",
        ),
        (
            Box::new(|j| j["clips"][0]["frames"][1]["class"] = json!(-1)),
            "clips[0].frames[1].class: must be a non-negative integer",
        ),
        (
            Box::new(|j| j["input"]["mean"] = json!([0.5])),
            "input.mean: has 1 values for 3 channels",
        ),
        (
            Box::new(|j| {
                j.as_object_mut().unwrap().remove("seed");
            }),
            "field seed: is missing",
        ),
    ];
    for (edit, wanted) in cases {
        let error = set_error(edit);
        assert!(
            error.contains(wanted),
            "{error:?} does not contain {wanted:?}"
        );
        assert!(error.contains("set.json"), "{error}");
    }
}

#[test]
fn the_set_reader_reads_what_synth_writes() {
    let root = tempfile::tempdir().unwrap();
    let dir = edited_set(root.path(), |j| {
        j["clips"][0]["frames"][3]["box"] = Value::Null;
        j["clips"][0]["frames"][0]["box"] = json!([1, 2, 10, 20]);
    });
    let set = load_set(&dir).unwrap();
    assert_eq!(set.frames_per_clip, 4);
    assert_eq!(set.frame_size, [32, 32]);
    assert_eq!(set.classes, ["action0", "action1", "action2"]);
    let clip = &set.clips[0];
    assert_eq!(clip.segment, (0, 3));
    assert_eq!(clip.other_class, None);
    assert_eq!(clip.file, dir.join("clips/0000.npy"));
    assert_eq!(
        clip.frames[0].region,
        Some(BoxRegion {
            top: 1.0,
            left: 2.0,
            bottom: 10.0,
            right: 20.0
        })
    );
    assert_eq!(clip.frames[3].region, None);
    // A directory of sets is listed by name; a set is itself.
    write_set(
        &root.path().join("another"),
        SetSpec {
            protocol: "splice2",
            clips: 2,
            frames: 4,
            classes: 3,
            size: 32,
            seed: 1,
        },
    );
    assert_eq!(
        find_sets(root.path()).unwrap(),
        [root.path().join("another"), root.path().join("set")]
    );
    assert_eq!(find_sets(&dir).unwrap(), std::slice::from_ref(&dir));
    // The model must share the preprocessing: a std of 0.5 instead of 0.25 is refused.
    let mut spec = model_spec(32, 3);
    let model = Model::random(&spec, 1, root.path()).unwrap();
    assert!(check_model_fits(&set, &model).unwrap().is_empty());
    spec.input.std = vec![0.5; 3];
    let model = Model::random(&spec, 1, root.path()).unwrap();
    let error = check_model_fits(&set, &model).unwrap_err().to_string();
    assert!(
        error.contains("std [0.25, 0.25, 0.25]") && error.contains("std [0.5, 0.5, 0.5]"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// The metrics on hand-made inputs (spec/eval.md works the same examples).

fn det(score: f64, correct: bool) -> Detection {
    Detection { score, correct }
}

#[test]
fn average_precision_by_hand() {
    // EVAL-6's worked example: ranked by score T (0.9), F (0.8), T (0.7), F (0.6), N = 4.
    // P = 1, 1/2, 2/3, 1/2; interpolated 1, 2/3, 2/3, 1/2; correct at ranks 1 and 3:
    // AP = (1 + 2/3) / 4 = 5/12.
    let ds = [
        det(0.6, false),
        det(0.9, true),
        det(0.7, true),
        det(0.8, false),
    ];
    assert_eq!(ranking(&ds), [1, 3, 2, 0]);
    let ap = average_precision(&ds, 4).unwrap();
    assert!((ap - 5.0 / 12.0).abs() < 1e-12, "{ap}");
    // Every detection correct: 1. None: 0 (printed as 0.0, not -0.0).
    assert_eq!(
        average_precision(&[det(0.1, true), det(0.5, true)], 2),
        Some(1.0)
    );
    let none = average_precision(&[det(0.1, false)], 1).unwrap();
    assert!(none == 0.0 && none.is_sign_positive());
    // No ground truth: undefined.
    assert_eq!(average_precision(&[], 0), None);
    // Ties keep the clips' order: F then T gives P = 0, 1/2 -> AP = 1/2 / 2 = 1/4;
    // T then F gives 1 / 2.
    assert_eq!(
        average_precision(&[det(0.5, false), det(0.5, true)], 2),
        Some(0.25)
    );
    assert_eq!(
        average_precision(&[det(0.5, true), det(0.5, false)], 2),
        Some(0.5)
    );
    // A NaN score ranks last: T(NaN), F(0.1) -> F first.
    assert_eq!(ranking(&[det(f64::NAN, true), det(0.1, false)]), [1, 0]);
    assert_eq!(
        average_precision(&[det(f64::NAN, true), det(0.1, false)], 2),
        Some(0.25)
    );
    // Interpolation lifts an early miss: F T T, N = 3: P = 0, 1/2, 2/3 -> interpolated
    // 2/3, 2/3, 2/3; AP = (2/3 + 2/3) / 3 = 4/9.
    let ap = average_precision(&[det(3.0, false), det(2.0, true), det(1.0, true)], 3).unwrap();
    assert!((ap - 4.0 / 9.0).abs() < 1e-12, "{ap}");
}

#[test]
fn mean_average_precision_by_hand() {
    // class 0: T (0.9), F (0.1) -> AP = 1 / 2; class 2: F (0.8), T (0.7) -> (1/2) / 2 = 1/4.
    // mAP = (1/2 + 1/4) / 2 = 3/8; class 1 has no clip and is not averaged.
    let ds = [
        (2, det(0.8, false)),
        (0, det(0.9, true)),
        (2, det(0.7, true)),
        (0, det(0.1, false)),
    ];
    let per_class = per_class_ap(&ds);
    let got: Vec<(usize, usize, f64)> = per_class
        .iter()
        .map(|c| (c.class, c.positives, c.ap))
        .collect();
    assert_eq!(got, [(0, 2, 0.5), (2, 2, 0.25)]);
    assert_eq!(mean_average_precision(&per_class), Some(0.375));
    assert_eq!(mean_average_precision(&[]), None);
}

#[test]
fn iou_threshold_by_hand() {
    // (2, 4) vs (3, 6): 2 shared of 5 frames, 0.4: no match.
    assert!(!matches((2, 4), (3, 6)));
    // (0, 3) vs (2, 3): 2 of 4, exactly 0.5: a match (IoU >= 0.5).
    assert!(matches((0, 3), (2, 3)));
    // (2, 5) vs (3, 6): 3 of 5, 0.6.
    assert!(matches((2, 5), (3, 6)));
    assert!(matches((7, 7), (7, 7)));
    assert!(!matches((0, 1), (2, 3)));
}

#[test]
fn the_probability_baseline_by_hand() {
    // probs (6 steps, 2 classes); the GT class 1's column:
    let probs = [
        0.9, 0.1, 0.4, 0.6, 0.5, 0.5, 0.6, 0.4, 0.1, 0.9, 0.8, 0.2f32,
    ];
    let p = class_probabilities(&probs, 2, 1);
    assert_eq!(p, [0.1, 0.6, 0.5, 0.4, 0.9, 0.2]);
    // EVAL-4: >= 0.5 -> +1 (0.5 included), else -1.
    let signal = thresholded_probability(&p);
    assert_eq!(signal, [-1.0, 1.0, 1.0, -1.0, 1.0, -1.0]);
    assert_eq!(thresholded_probability(&[f32::NAN, 0.49999]), [-1.0, -1.0]);
    // Unknown length: the peak is the first +1 (frame 1); left S_0 = -1 stops, right S_2 = +1
    // joins, S_3 = -1 stops: (1, 2). Score: the mean probability there, (0.6 + 0.5) / 2.
    let d = detect(&signal, &p, None).unwrap();
    assert_eq!(d.segment, (1, 2));
    assert!((d.score - 0.55).abs() < 1e-7, "{}", d.score);
    // Known length 2: window sums 0, 2, 0, 0, 0 -> (1, 2).
    assert_eq!(detect(&signal, &p, Some(2)).unwrap().segment, (1, 2));
    // Known length 3: sums 1, 1, 1, -1 -> the first, (0, 2); score (0.1 + 0.6 + 0.5) / 3.
    let d = detect(&signal, &p, Some(3)).unwrap();
    assert_eq!(d.segment, (0, 2));
    assert!((d.score - 0.4).abs() < 1e-7);
    // Every probability below 0.5: the peak alone (frame 0, the first of equal -1s).
    let low = thresholded_probability(&[0.1, 0.2, 0.3]);
    assert_eq!(
        detect(&low, &[0.1, 0.2, 0.3], None).unwrap().segment,
        (0, 0)
    );
    // A length longer than the clip has no detection.
    assert_eq!(detect(&low, &[0.1, 0.2, 0.3], Some(4)), None);
    assert!((segment_mean(&[1.0, 2.0, 6.0], (1, 2)) - 4.0).abs() < 1e-12);
    // The predicted class: the first of the largest, NaN never.
    assert_eq!(predicted_class(&[0.2, 0.5, 0.5, 0.1]), 1);
    assert_eq!(predicted_class(&[f32::NAN, 0.1, 0.3]), 2);
}

#[test]
fn spatial_pointing_by_hand() {
    // EVAL-2: the paper's 7.5 px at 224 px, scaled: 7.5 * 64 / 224 = 2.142857 at 64 px.
    assert_eq!(pointing_radius(224, 224), 7.5);
    assert!((pointing_radius(64, 64) - 7.5 * 64.0 / 224.0).abs() < 1e-6);
    // sqrt(112 * 448) = 224: a non-square frame of the same area gets the same radius.
    assert_eq!(pointing_radius(112, 448), 7.5);
    // EVAL-3 on four 2x2 maps at the frame's own size (the peak is the pixel itself):
    let maps = [
        0.0, 0.0, 5.0, 0.0, // frame 0: peak (1, 0)
        3.0, 1.0, 1.0, 1.0, // frame 1: peak (0, 0)
        9.0, 0.0, 0.0, 0.0, // frame 2: shows another class: not counted
        9.0, 0.0, 0.0, 0.0, // frame 3: no box: not counted
    ];
    let b = |top: f32, left: f32| {
        Some(BoxRegion {
            top,
            left,
            bottom: top,
            right: left,
        })
    };
    let truths = [
        FrameTruth {
            class: 1,
            region: b(1.0, 0.0),
        }, // the peak is in the box: hit
        FrameTruth {
            class: 1,
            region: b(1.0, 1.0),
        }, // (0, 0) is sqrt(2) from (1, 1)
        FrameTruth {
            class: 0,
            region: b(0.0, 0.0),
        },
        FrameTruth {
            class: 1,
            region: None,
        },
    ];
    assert_eq!(clip_hits(&maps, [2, 2], [2, 2], &truths, 1, 1.0), (1, 2));
    assert_eq!(clip_hits(&maps, [2, 2], [2, 2], &truths, 1, 1.5), (2, 2));
    // Grounding class 0 instead counts only frame 2: its peak (0, 0) is in its box.
    assert_eq!(clip_hits(&maps, [2, 2], [2, 2], &truths, 0, 0.0), (1, 1));
}

#[test]
fn temporal_pointing_by_hand() {
    // EVAL-11: p = [0.2, 0.9, 0.8, 0.3], S = [1, -0.5, 0.5, 2]: S+ / max S+ = [0.5, 0, 0.25, 1],
    // q = [0.1, 0, 0.2, 0.3]: frame 3. The peak probability alone is frame 1, cEB-R's frame 3.
    let p = [0.2, 0.9, 0.8, 0.3];
    let s = [1.0, -0.5, 0.5, 2.0];
    assert_eq!(combined_peak(&p, &s), 3);
    assert_eq!(peak_probability(&p), 1);
    // The probability vetoes evidence where the model does not believe in the class:
    // S peaks at frame 0 where p is 0.05; q = [0.05, 0.45, 0.4, 0] -> frame 1.
    assert_eq!(
        combined_peak(&[0.05, 0.9, 0.8, 0.3], &[1.0, 0.5, 0.5, -1.0]),
        1
    );
    // No positive sum: the peak probability.
    assert_eq!(combined_peak(&p, &[-1.0, -2.0, 0.0, -0.5]), 1);
    // EVAL-8: seeded with seed ^ "eval", one draw per clip.
    let mut a = random_points(7);
    let mut b = Rng::new(7 ^ 0x6576_616c);
    for frames in [64, 64, 16, 1] {
        let t = random_point(&mut a, frames);
        assert!(t < frames);
        assert_eq!(t, b.below(frames));
    }
    // Table 3's rows: three clips.
    let cebr = Variant {
        method: Method::Cebr,
        lstm_rule: LstmEbRule::Original,
        prior: None,
    };
    let clip = |segment, random, probability, peak, combined| ClipPoints {
        segment,
        points: vec![
            (Pointer::Random, random),
            (Pointer::PeakProbability, probability),
            (Pointer::Peak(cebr), peak),
            (Pointer::Combined(cebr), combined),
        ],
    };
    let clips = [
        clip((2, 3), 0, 2, 0, 3), // random miss, probability hit, cEB-R miss, combined hit
        clip((0, 1), 1, 3, 1, 3), // random hit, probability miss, cEB-R hit, combined miss
        clip((5, 6), 0, 0, 0, 0), // all miss
    ];
    let rows: Vec<(String, usize, usize)> = pointing_rows(&clips)
        .iter()
        .map(|r| (r.pointer.label(), r.hits, r.clips))
        .collect();
    let want = [
        ("Random", 1),
        ("Peak probability", 1),
        ("cEB-R", 1),
        ("Peak probability x cEB-R", 1),
        ("Peak probability or cEB-R, oracle", 2),
    ];
    assert_eq!(rows.len(), want.len());
    for ((label, hits, clips), (want_label, want_hits)) in rows.iter().zip(want) {
        assert_eq!((label.as_str(), *hits, *clips), (want_label, want_hits, 3));
    }
}

#[test]
fn length_bins_by_hand() {
    let single = |l| LengthBin {
        shortest: l,
        longest: l,
    };
    // At most six distinct lengths: one row each (synth's 6, 20, 32).
    assert_eq!(
        length_bins(&[20, 6, 32, 6, 20]),
        [single(6), single(20), single(32)]
    );
    // Ten distinct lengths 1..10: cut after the clips a third (4) and two thirds (7) in.
    let bins = length_bins(&(1..=10).collect::<Vec<_>>());
    let ranges: Vec<(usize, usize)> = bins.iter().map(|b| (b.shortest, b.longest)).collect();
    assert_eq!(ranges, [(1, 4), (5, 7), (8, 10)]);
    assert_eq!(bins[0].label(), "1-4");
    assert_eq!(single(6).label(), "6");
}

#[test]
fn table_2_cells_by_hand() {
    // Two clips of class 0 (GT lengths 2 and 4) and one of class 1 (length 2).
    let cebr = Signal::Sums(Variant {
        method: Method::Cebr,
        lstm_rule: LstmEbRule::Original,
        prior: None,
    });
    let d = |signal, length, segment, score, correct| ClipDetection {
        signal,
        length,
        detection: ebr::eval::detection::TemporalDetection {
            segment,
            score,
            common_score: f64::NAN,
        },
        correct,
    };
    let clips = [
        ClipDetections {
            class: 0,
            segment: (0, 1),
            detections: vec![
                d(Signal::Probability, Length::Known, (0, 1), 0.2, true),
                d(cebr, Length::Known, (0, 1), 0.9, true),
                d(cebr, Length::Unknown, (0, 3), 0.9, false),
            ],
        },
        ClipDetections {
            class: 0,
            segment: (2, 5),
            detections: vec![
                d(Signal::Probability, Length::Known, (0, 3), 0.8, false),
                d(cebr, Length::Known, (2, 5), 0.1, true),
                d(cebr, Length::Unknown, (2, 5), 0.1, true),
            ],
        },
        ClipDetections {
            class: 1,
            segment: (3, 4),
            detections: vec![
                d(Signal::Probability, Length::Known, (3, 4), 0.5, true),
                d(cebr, Length::Known, (0, 1), 0.5, false),
                d(cebr, Length::Unknown, (3, 4), 0.5, true),
            ],
        },
    ];
    let rows = localization_rows(&clips, &[Signal::Probability, cebr]);
    let cell = |signal, length, bin: Option<usize>| {
        rows.iter()
            .find(|r| r.signal == signal && r.length == length && r.bin.map(|b| b.shortest) == bin)
            .map(|r| (r.clips, r.correct, r.map))
    };
    // Probability, known, all: class 0 ranks F (0.8) then T (0.2): AP 1/4; class 1: 1.
    assert_eq!(
        cell(Signal::Probability, Length::Known, None),
        Some((3, 2, Some(0.625)))
    );
    // cEB-R, known, all: class 0 T, T: 1; class 1 F: 0 -> 1/2.
    assert_eq!(cell(cebr, Length::Known, None), Some((3, 2, Some(0.5))));
    // cEB-R, unknown, all: class 0 F (0.9) then T (0.1): 1/4; class 1: 1 -> 5/8.
    assert_eq!(cell(cebr, Length::Unknown, None), Some((3, 2, Some(0.625))));
    // By length: length 2 holds clips 1 and 3, length 4 clip 2.
    assert_eq!(
        cell(cebr, Length::Unknown, Some(2)),
        Some((2, 1, Some(0.5)))
    );
    assert_eq!(
        cell(cebr, Length::Unknown, Some(4)),
        Some((1, 1, Some(1.0)))
    );
    // No probability detection for the unknown length here: no such cell.
    assert_eq!(cell(Signal::Probability, Length::Unknown, None), None);
}

#[test]
fn fig7_curve_and_sign_check_by_hand() {
    assert_eq!(SpliceOrder::of((0, 3), 8), Some(SpliceOrder::GtFirst));
    assert_eq!(SpliceOrder::of((4, 7), 8), Some(SpliceOrder::RandFirst));
    assert_eq!(SpliceOrder::of((0, 7), 8), None);
    assert_eq!(SpliceOrder::of((2, 5), 8), None);
    assert_eq!(SpliceOrder::GtFirst.boundary((0, 3)), 4);
    assert_eq!(SpliceOrder::RandFirst.boundary((4, 7)), 4);
    // Two clips: means [2, 4], population std [1, 2]; boundaries 4 and 5 -> 4.5.
    let mut sums = CurveSums::default();
    sums.add(&[1.0, 2.0], 4);
    sums.add(&[3.0, 6.0], 5);
    let curve = sums.curve();
    assert_eq!(
        (curve.clips, curve.mean.clone(), curve.std.clone()),
        (2, vec![2.0, 4.0], vec![1.0, 2.0])
    );
    assert_eq!(curve.boundary, Some(4.5));
    assert_eq!(CurveSums::default().curve().boundary, None);
    // EVAL-13: clip 1 (GT 0..1): GT mean 1, rand mean -1: separated. Clip 2 (GT 2..3):
    // GT mean 1, rand mean (-1 + 3) / 2 = 1: not. Pooled: GT 4 / 4 = 1, rand 0 / 4 = 0:
    // the check does not hold (rand is not negative on average).
    let mut check = SignCheck::default();
    check.add(&[1.0, 1.0, -1.0, -1.0], (0, 1));
    check.add(&[-1.0, 3.0, 1.0, 1.0], (2, 3));
    assert_eq!((check.gt_mean(), check.rand_mean()), (1.0, 0.0));
    assert_eq!(
        (
            check.clips_separated,
            check.clips,
            check.gt_frames,
            check.rand_frames
        ),
        (1, 2, 4, 4)
    );
    assert!(!check.holds());
    check.add(&[1.0, 1.0, -2.0, -2.0], (0, 1));
    assert!(check.holds());
}

#[test]
fn fig7_svg_draws_what_it_has() {
    let curve = |means: &[f64], boundary| ebr::eval::curve::Curve {
        clips: 2,
        mean: means.to_vec(),
        std: vec![0.1; means.len()],
        boundary: Some(boundary),
    };
    // Different boundaries: one line per order, in its color.
    let svg = fig7_svg(
        &curve(&[1.0, -1.0], 1.0),
        &curve(&[-1.0, 1.0], 2.0),
        "a <title>",
    );
    assert_eq!(svg.matches("<line class=\"boundary gt-first\"").count(), 1);
    assert_eq!(
        svg.matches("<line class=\"boundary rand-first\"").count(),
        1
    );
    assert!(svg.contains("<title>a &lt;title&gt;</title>"));
    // A curve without clips is left out; none at all says so.
    let empty = ebr::eval::curve::CurveSums::default().curve();
    let svg = fig7_svg(&curve(&[1.0, -1.0], 1.0), &empty, "one");
    assert_eq!(svg.matches("<polyline class=\"mean ").count(), 1);
    assert!(svg.contains("GT + rand (2 clips)") && !svg.contains("rand + GT ("));
    assert!(fig7_svg(&empty, &empty, "none").contains(">no clips</text>"));
}

// ---------------------------------------------------------------------------------------
// The demo model (fixtures/demo/model, trained on `ebr synth`'s trimmed clips by
// tools/train_synthetic.py) on a small standard set (60 clips per protocol, seed 7): the paper's
// qualitative results. Those that hold for this model are asserted; those that do not are
// computed and printed, not asserted, and the test is not tuned (set, seed, options) to make
// them hold. With the demo model of fixtures/demo/README.md (99.8% clip accuracy on trimmed
// validation clips; spec/eval.md "Variant C"), on this set:
//   holds:          Fig. 7 over both orders (GT mean +0.0183), for GT + rand (+0.0094) and for
//                   rand + GT (+0.0272);
//                   Table 1, EB above cEB (99.8 vs 99.7%: 958 vs 957 of 960 frames; 99.9 vs
//                   99.4% on the README's 200 clips) and EB-R above cEB-R (99.7 vs 82.7%);
//                   Table 2, known length, cEB-R above EB-R (mAP 43.3 vs 20.3%);
//                   Table 2, cEB-R localizes more clips than the probability baseline, known
//                   length (55.0 vs 41.7%) and unknown (23.3 vs 20.0%; on the 600 clips of
//                   spec/eval.md paired +8.5 [+3.8, +13.2] and +9.8 [+5.8, +13.8]);
//                   Table 3, cEB-R above random (56.7 vs 28.3%)
//   too close:      Table 1, EB-R against EB (99.7 vs 99.8%); Table 3, cEB-R against peak
//                   probability (34 vs 34 hits here; below it on the 600 clips, -6.0 [-10.8,
//                   -1.2])
//   does not hold:  Table 2, cEB-R's mAP above the probability baseline's: known length 43.3%
//                   vs 45.6%, unknown 8.2% vs 21.6%
// (the paper's Table 2 and 3 pattern does not appear with this model: the measured causes are
// in spec/eval.md, "The negative result").

/// The standard evaluation's seed (`ebr synth --help`'s example for an evaluation set).
const STANDARD_SEED: &str = "7";

#[test]
fn the_demo_model_shows_the_papers_qualitative_results() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/model");
    assert!(
        model.join("model.json").is_file(),
        "{} is missing",
        model.display()
    );
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("synth");
    let out = root.path().join("eval");
    ok(&[
        "synth",
        "--out",
        path_str(&data),
        "--protocol",
        "all",
        "--clips",
        "60",
        "--seed",
        STANDARD_SEED,
        "--examples",
        "0",
        "--quiet",
    ]);
    let stdout = ok(&[
        "eval",
        "--model",
        path_str(&model),
        "--data",
        path_str(&data),
        "--out",
        path_str(&out),
    ]);
    println!("{stdout}");
    let json = read_json(&out.join("eval.json"));
    let set = |protocol: &str| {
        json["sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["protocol"] == protocol)
            .unwrap_or_else(|| panic!("a {protocol} set"))
            .clone()
    };
    // The model classifies the trimmed clips (a precondition of everything below).
    let accuracy = set("trimmed")["classification"]["accuracy_mean_over_steps"]
        .as_f64()
        .unwrap();
    assert!(accuracy > 0.9, "trimmed accuracy {accuracy}");

    // Fig. 7: positive on GT frames, negative on rand frames on average: over both orders, for
    // GT + rand and for rand + GT (asserted).
    let fig7 = &set("splice2")["fig7"]["methods"][0];
    for check in ["check", "check_gt_first", "check_rand_first"] {
        assert_eq!(
            fig7[check]["holds"], true,
            "Fig. 7's {check}: {}",
            fig7[check]
        );
    }

    // Table 1: the non-contrastive methods point better than the contrastive ones (EB above
    // cEB, EB-R above cEB-R: asserted, as in the paper); EB-R against EB is within a few
    // frames either way on sets of this size (99.7 vs 99.8 here, 99.7 vs 99.9 on the README's
    // 200 clips): printed.
    let trimmed = set("trimmed");
    let pointing = |key: &str| accuracy_of(&trimmed["spatial_pointing"]["methods"], key);
    for (plain, contrastive) in [("eb", "ceb"), ("ebr", "cebr")] {
        let (a, b) = (pointing(plain), pointing(contrastive));
        assert!(a > b, "Table 1: {plain} {a} is not above {contrastive} {b}");
    }
    println!(
        "not asserted, Table 1: EB-R {:.3} above EB {:.3}: {}",
        pointing("ebr"),
        pointing("eb"),
        pointing("ebr") > pointing("eb")
    );

    // Table 2, all GT lengths: cEB-R's mAP above the probability baseline's, for the known and
    // the unknown length (does not hold: printed).
    let splice3 = set("splice3");
    let row = |signal: &str, length: &str, field: &str| {
        splice3["temporal_localization"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["signal"] == signal && r["length"] == length && r["gt_length"].is_null())
            .and_then(|r| r[field].as_f64())
            .unwrap_or_else(|| panic!("{signal} {length} {field}"))
    };
    let map = |signal: &str, length: &str| row(signal, length, "map");
    // Table 2, known length: cEB-R above EB-R (asserted, as in the paper).
    let (cebr, ebr) = (map("cebr", "known"), map("ebr", "known"));
    assert!(
        cebr > ebr,
        "Table 2, known length: cEB-R {cebr} is not above EB-R {ebr}"
    );
    for length in ["known", "unknown"] {
        // Table 2: cEB-R localizes more clips than the probability baseline (asserted).
        let (cebr, probability) = (
            row("cebr", length, "localized"),
            row("probability", length, "localized"),
        );
        assert!(
            cebr > probability,
            "Table 2, {length} length: cEB-R localizes {cebr} of the clips, not more than the probability baseline's {probability}"
        );
        // Table 2: cEB-R's mAP above the probability baseline's (does not hold: printed).
        let (cebr, probability) = (map("cebr", length), map("probability", length));
        println!(
            "not asserted, Table 2 {length} length: cEB-R mAP {cebr:.3} above the probability baseline's {probability:.3}: {}",
            cebr > probability
        );
    }

    // Table 3: cEB-R's peak above the random point (asserted); against the peak probability
    // (level here, below it on larger sets: printed).
    let temporal_pointing = |key: &str| accuracy_of(&splice3["temporal_pointing"]["rows"], key);
    let (cebr, random) = (temporal_pointing("cebr"), temporal_pointing("random"));
    assert!(
        cebr > random,
        "Table 3: cEB-R {cebr} is not above random {random}"
    );
    let peak = temporal_pointing("peak_probability");
    println!(
        "not asserted, Table 3: cEB-R {cebr:.3} not below peak probability {peak:.3}: {}",
        cebr >= peak
    );
}

/// The "accuracy" of the row whose "key" is `key` in a pointing game's rows of eval.json
/// (Table 1's methods, Table 3's rows).
fn accuracy_of(rows: &Value, key: &str) -> f64 {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .and_then(|r| r["accuracy"].as_f64())
        .unwrap_or_else(|| panic!("no pointing row {key}"))
}

#[test]
fn a_mean_pool_model_has_no_probability_baseline() {
    // One classification per clip: no per-step probability, so Table 2 has no probability
    // column and Table 3 no peak probability, with a note; cEB-R runs as usual.
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("splice3");
    write_set(
        &data,
        SetSpec {
            protocol: "splice3",
            clips: 3,
            frames: 8,
            classes: 3,
            size: 32,
            seed: 4,
        },
    );
    let mut spec = model_spec(32, 3);
    spec.temporal = vec![TemporalLayerSpec::MeanPool];
    let model_dir = root.path().join("model");
    save_random_model(&model_dir, &spec, 2);
    let stdout = ok(&[
        "eval",
        "--model",
        path_str(&model_dir),
        "--data",
        path_str(&data),
        "--out",
        path_str(&root.path().join("eval")),
    ]);
    assert!(
        stdout.contains("Note: the model classifies once per clip"),
        "{stdout}"
    );
    assert!(stdout.contains("| Action length | Length (frames) | Clips | EB-R | cEB-R |"));
    assert!(!stdout.contains("| Peak probability"));
    assert!(stdout.contains("| cEB-R |"));
}

// ---------------------------------------------------------------------------------------
// The caption table (EVAL-14..EVAL-17).

/// The worked example of spec/eval.md (EVAL-15..EVAL-17): 4 frames of 4 x 4 pixels, the
/// noun's actor (class 2) on frames 2 and 3, boxes [0, 0, 1, 1] and [2, 2, 3, 3], r = 0.5.
#[test]
fn caption_table_by_hand() {
    let b = |top: f32, left: f32, bottom: f32, right: f32| {
        Some(BoxRegion {
            top,
            left,
            bottom,
            right,
        })
    };
    let truths = [
        FrameTruth {
            class: 1,
            region: b(0.0, 0.0, 3.0, 3.0),
        },
        FrameTruth {
            class: 2,
            region: None,
        }, // the noun's class without a box: never counted
        FrameTruth {
            class: 2,
            region: b(0.0, 0.0, 1.0, 1.0),
        },
        FrameTruth {
            class: 2,
            region: b(2.0, 2.0, 3.0, 3.0),
        },
    ];
    // EVAL-15: the frames of the segment [2, 3] that show class 2 with a box
    assert_eq!(noun_frames(&truths, (2, 3), 2), [2, 3]);
    assert_eq!(noun_frames(&truths, (0, 3), 2), [2, 3]); // frame 1 has no box, 0 another class
    assert_eq!(noun_frames(&truths, (0, 1), 2), Vec::<usize>::new());
    // maps at the frame's own size: frame 2 peaks at (0, 0), frame 3 at (3, 3)
    let mut maps = vec![0.0f32; 4 * 16];
    maps[2 * 16] = 1.0;
    maps[3 * 16 + 15] = 1.0;
    assert_eq!(map_peak(&maps, [4, 4], [4, 4], 2), (0.0, 0.0));
    assert_eq!(map_peak(&maps, [4, 4], [4, 4], 3), (3.0, 3.0));
    let frames = [2, 3];
    let peaks = |t| map_peak(&maps, [4, 4], [4, 4], t);
    assert_eq!(CAPTION_POINTING_RADIUS, 0.0);
    assert_eq!(
        point_hits(&truths, &frames, CAPTION_POINTING_RADIUS, peaks),
        2
    );
    // EVAL-16: the centre (1.5, 1.5) is sqrt(0.5^2 + 0.5^2) = 0.71 from both boxes
    assert_eq!(frame_centre([4, 4]), (1.5, 1.5));
    assert_eq!(frame_centre([64, 64]), (31.5, 31.5));
    assert_eq!(
        point_hits(&truths, &frames, CAPTION_POINTING_RADIUS, |_| (1.5, 1.5)),
        0
    );
    assert_eq!(point_hits(&truths, &frames, 0.7, |_| (1.5, 1.5)), 0);
    assert_eq!(point_hits(&truths, &frames, 0.75, |_| (1.5, 1.5)), 2);
    // EVAL-16: random pixels, row then column, from the set's seed mixed with "capt"
    let mut rng = caption_random_points(7);
    let mut again = Rng::new(7 ^ 0x6361_7074);
    for _ in 0..20 {
        let (row, col) = random_pixel(&mut rng, [4, 6]);
        assert_eq!((row, col), (again.below(4) as f32, again.below(6) as f32));
        assert!(row < 4.0 && col < 6.0);
    }
    // EVAL-17: the temporal peak in the segment [2, 3]
    assert!(peak_in_segment(&[0.1, -0.2, 0.4, 0.3], (2, 3)));
    assert!(!peak_in_segment(&[0.5, 0.0, 0.4, 0.3], (2, 3)));
    // the counts per word and per place
    let mut score = CaptionScore::new(CaptionPointer::Centre);
    score.add("disk", 1, 1, 8, None);
    score.add("square", 0, 3, 8, None);
    score.add("disk", 0, 2, 7, None);
    assert_eq!((score.spatial_hits, score.frames, score.nouns), (6, 23, 0));
    assert_eq!(
        score.per_word,
        [
            ("disk".to_string(), 3, 15, 0, 0),
            ("square".to_string(), 3, 8, 0, 0)
        ]
    );
    assert_eq!(score.per_place, [(0, 5, 15, 0, 0), (1, 1, 8, 0, 0)]);
    let mut score = CaptionScore::new(CaptionPointer::Random);
    score.add("disk", 0, 1, 8, Some(true));
    score.add("disk", 1, 0, 8, Some(false));
    assert_eq!((score.temporal_hits, score.nouns), (1, 2));
}

fn demo_captioner() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo-caption/model")
}

/// `ebr eval` of the bundled captioner on a small caption set: the captioning line, the caption
/// table with its baselines and both methods (both LSTM rules), the table by place, and
/// eval.json's counts: every noun's 8 frames are counted, the random point also plays the
/// temporal game, the centre does not.
#[test]
fn eval_on_a_caption_set_prints_the_caption_table() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("captions");
    let out = root.path().join("eval");
    ok(&[
        "synth",
        "--out",
        path_str(&data),
        "--protocol",
        "caption",
        "--clips",
        "4",
        "--seed",
        "7",
        "--examples",
        "0",
        "--quiet",
    ]);
    let stdout = ok(&[
        "eval",
        "--model",
        path_str(&demo_captioner()),
        "--data",
        path_str(&data),
        "--lstm-rule",
        "both",
        "--out",
        path_str(&out),
    ]);
    for line in [
        "## caption: captions (4 clips",
        "Note: bpr, eb, ceb, bp not run",
        "Captioning (EVAL-14): with teacher forcing",
        "Caption table (the paper's Table 5 protocol",
        "(8 nouns)",
        "(64 frames)",
        "| Method | Spatial pointing (%) | hits / frames | Temporal peak in the actor's frames (%) | hits / nouns |",
        "| Center |",
        "| EB-R (conserving) |",
        "| cEB-R |",
        "| Method | noun 1: spatial (%) | noun 1: temporal (%) | noun 2: spatial (%) | noun 2: temporal (%) |",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from:\n{stdout}");
    }
    let json = read_json(&out.join("eval.json"));
    let set = &json["sets"][0];
    assert_eq!(set["protocol"], "caption");
    assert_eq!(set["captioning"]["clips"], 4);
    assert_eq!(set["captioning"]["teacher_steps"], 24);
    assert_eq!(set["captioning"]["nouns"], 8);
    let rows = set["caption_table"]["rows"].as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "random",
            "center",
            "ebr",
            "ebr_conserving",
            "cebr",
            "cebr_conserving"
        ]
    );
    for r in rows {
        assert_eq!(r["frames"], 64, "{r}");
        let temporal = r["key"] != "center";
        assert_eq!(r["nouns"], if temporal { 8 } else { 0 }, "{r}");
        assert_eq!(r["temporal_hits"].is_null(), !temporal, "{r}");
        let places = r["per_place"].as_array().unwrap();
        assert_eq!(places.len(), 2);
        assert_eq!(places[0]["frames"], 32);
    }
    let clips = set["clip_results"].as_array().unwrap();
    assert_eq!(clips.len(), 4);
    assert_eq!(clips[0]["nouns"].as_array().unwrap().len(), 2);
    assert!(out.join("eval.md").is_file() && out.join("summary.json").is_file());
}

/// A caption set needs a captioner whose vocabulary holds its words; an action set refuses a
/// captioner; the set reader checks "caption" and "nouns". One line each, nothing written.
#[test]
fn caption_sets_and_models_must_match() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("captions");
    let out = root.path().join("eval");
    ok(&[
        "synth",
        "--out",
        path_str(&data),
        "--protocol",
        "caption",
        "--clips",
        "2",
        "--examples",
        "0",
        "--quiet",
    ]);
    let action = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/model");
    let eval = |model: &Path, data: &Path, wanted: &[&str]| {
        fails(
            &[
                "eval",
                "--model",
                path_str(model),
                "--data",
                path_str(data),
                "--out",
                path_str(&out),
            ],
            wanted,
        );
        assert!(!out.exists());
    };
    eval(
        &action,
        &data,
        &["caption set is for a captioner", "has none"],
    );
    let trimmed = root.path().join("trimmed");
    ok(&[
        "synth",
        "--out",
        path_str(&trimmed),
        "--protocol",
        "trimmed",
        "--clips",
        "1",
        "--examples",
        "0",
        "--quiet",
    ]);
    eval(
        &demo_captioner(),
        &trimmed,
        &["is a captioner", "--protocol caption"],
    );
    // a caption word the model does not know
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut set = read_json(&data.join("set.json"));
        f(&mut set);
        fs::write(data.join("set.json"), set.to_string()).unwrap();
    };
    edit(&|s| s["clips"][1]["caption"][4] = json!("sideways"));
    eval(
        &demo_captioner(),
        &data,
        &[
            "clips[1].caption[4]",
            "\"sideways\" is not a word of the model's vocabulary",
        ],
    );
    edit(&|s| s["clips"][1]["caption"][4] = json!(s["clips"][0]["caption"][4].clone()));
    edit(&|s| s["clips"][0]["nouns"][1]["word"] = json!("circle"));
    eval(
        &demo_captioner(),
        &data,
        &[
            "clips[0].nouns[1].word",
            "\"circle\" is not a word of the caption",
        ],
    );
    edit(&|s| {
        s["clips"][0]["nouns"][1]["word"] = s["clips"][0]["caption"][3].clone();
        s["clips"][0]["nouns"][1]["segment"] = json!([8, 16]);
    });
    eval(
        &demo_captioner(),
        &data,
        &["clips[0].nouns[1].segment", "[8, 16]"],
    );
    edit(&|s| {
        s["clips"][0]["nouns"][1]["segment"] = json!([8, 15]);
        s["clips"][0].as_object_mut().unwrap().remove("caption");
    });
    eval(
        &demo_captioner(),
        &data,
        &["clips[0].caption", "is missing"],
    );
}

/// The bundled captioner (fixtures/demo-caption) on a caption set of 40 clips (seed 7): what
/// the README reports for the standard 200 clips, on fewer. Asserted: the maps point at the
/// named actor far more often than a random point or the frame's centre (EB-R and cEB-R), and
/// cEB-R's temporal peak falls in the named actor's frames more often than a random frame's
/// and than EB-R's (the contrast with the dual word is what separates the two actors in time;
/// EB-R's evidence is spread over every frame with an actor). Printed, not asserted: the
/// conserving rule and the nouns by place.
#[test]
fn the_demo_captioner_grounds_nouns_in_their_actors_frames() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("captions");
    let out = root.path().join("eval");
    ok(&[
        "synth",
        "--out",
        path_str(&data),
        "--protocol",
        "caption",
        "--clips",
        "40",
        "--seed",
        STANDARD_SEED,
        "--examples",
        "0",
        "--quiet",
    ]);
    let stdout = ok(&[
        "eval",
        "--model",
        path_str(&demo_captioner()),
        "--data",
        path_str(&data),
        "--lstm-rule",
        "both",
        "--out",
        path_str(&out),
    ]);
    println!("{stdout}");
    let json = read_json(&out.join("eval.json"));
    let rows = json["sets"][0]["caption_table"]["rows"]
        .as_array()
        .unwrap()
        .clone();
    let row = |key: &str, what: &str| {
        rows.iter()
            .find(|r| r["key"] == key)
            .and_then(|r| r[what].as_f64())
            .unwrap_or_else(|| panic!("{key} {what}"))
    };
    for method in ["ebr", "cebr"] {
        for baseline in ["random", "center"] {
            assert!(
                row(method, "spatial_accuracy") > row(baseline, "spatial_accuracy") + 0.3,
                "spatial: {method} {} vs {baseline} {}",
                row(method, "spatial_accuracy"),
                row(baseline, "spatial_accuracy")
            );
        }
    }
    let cebr = row("cebr", "temporal_accuracy");
    for other in ["random", "ebr"] {
        assert!(
            cebr > row(other, "temporal_accuracy"),
            "temporal: cEB-R {cebr} vs {other} {}",
            row(other, "temporal_accuracy")
        );
    }
    println!(
        "not asserted: temporal, cEB-R (conserving) {} vs cEB-R {cebr}",
        row("cebr_conserving", "temporal_accuracy")
    );
}

#[test]
fn the_common_score_is_the_mean_probability_over_the_detection() {
    // EVAL-6: p = [0.1, 0.6, 0.5, 0.4]; a detection (1, 2) has common score 0.55 whatever its
    // own score.
    let d = TemporalDetection {
        segment: (1, 2),
        score: -3.0,
        common_score: f64::NAN,
    };
    let d = with_common_score(d, &[0.1, 0.6, 0.5, 0.4]);
    assert!((d.common_score - 0.55).abs() < 1e-7);
    assert_eq!(d.score, -3.0);
}

#[test]
fn bootstrap_intervals_by_hand() {
    // EVAL-18: type-7 quantiles of sorted values.
    assert_eq!(quantile(&[0.0, 10.0], 0.25), 2.5);
    assert_eq!(quantile(&[4.0], 0.975), 4.0);
    // The resamples are below(n) draws of ChaCha8 seeded with seed ^ "boot", n per resample:
    // the mean of clip values [0, 1, 2] over a resample equals the mean of the drawn values.
    let values = [0.0, 1.0, 2.0];
    let mut seen = Vec::new();
    let intervals = bootstrap(3, 5, 4, &mut |idx| {
        let mean = idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64;
        seen.push(mean);
        vec![Some(mean), None]
    });
    let mut rng = Rng::new(5 ^ BOOTSTRAP_SALT);
    let want: Vec<f64> = (0..4)
        .map(|_| (0..3).map(|_| values[rng.below(3)]).sum::<f64>() / 3.0)
        .collect();
    assert_eq!(seen, want);
    let mut sorted = want.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(
        intervals[0],
        Some(Interval {
            low: quantile(&sorted, 0.025),
            high: quantile(&sorted, 0.975)
        })
    );
    // A statistic never defined has no interval.
    assert_eq!(intervals[1], None);
}

#[test]
fn paired_differences_and_shares_by_hand() {
    // Four clips of one class; cEB-R localizes clips 0-2, the probability clip 0 only.
    let cebr = Signal::Sums(Variant {
        method: Method::Cebr,
        lstm_rule: LstmEbRule::Original,
        prior: Some(Prior::All),
    });
    let d = |signal, score, correct| ClipDetection {
        signal,
        length: Length::Known,
        detection: TemporalDetection {
            segment: (0, 1),
            score,
            common_score: score,
        },
        correct,
    };
    let clip = |p_correct, c_correct| ClipDetections {
        class: 0,
        segment: (0, 1),
        detections: vec![
            d(Signal::Probability, 0.5, p_correct),
            d(cebr, 0.5, c_correct),
        ],
    };
    let clips = [
        clip(true, true),
        clip(false, true),
        clip(false, true),
        clip(false, false),
    ];
    let (rows, pairs) = localization_table(&clips, &[Signal::Probability, cebr], 1, 500);
    let all = |signal| {
        rows.iter()
            .find(|r| r.signal == signal && r.bin.is_none() && r.length == Length::Known)
            .unwrap()
    };
    // Shares: 1/4 and 3/4. With equal scores the ties keep the clips' order: the
    // probability's ranking T, F, F, F gives AP 1/4; cEB-R's T, T, T, F gives 3/4.
    assert_eq!(all(Signal::Probability).localized(), 0.25);
    assert_eq!(all(cebr).localized(), 0.75);
    assert_eq!(all(Signal::Probability).map, Some(0.25));
    assert_eq!(all(cebr).map, Some(0.75));
    assert_eq!(all(cebr).common_map, Some(0.75));
    let pair = pairs.iter().find(|p| p.bin.is_none()).unwrap();
    assert_eq!(pair.localized, 0.5);
    assert_eq!(pair.map, Some(0.5));
    // Paired: cEB-R is right wherever the probability is, so no resample has it below:
    // the difference's interval lies in [0, 1] and contains the estimate.
    let i = pair.localized_interval.unwrap();
    assert!(
        i.low >= 0.0 && i.low <= 0.5 && i.high >= 0.5 && i.high <= 1.0,
        "{i:?}"
    );
    let i = all(cebr).localized_interval.unwrap();
    assert!(i.low <= 0.75 && 0.75 <= i.high && i.high <= 1.0, "{i:?}");
}

#[test]
fn pointing_differences_by_hand() {
    // EVAL-18: cEB-R hits clips 0 and 1, the peak probability clip 0, the random point none.
    let cebr = Variant {
        method: Method::Cebr,
        lstm_rule: LstmEbRule::Original,
        prior: Some(Prior::All),
    };
    let clip = |random, probability, peak| ClipPoints {
        segment: (2, 3),
        points: vec![
            (Pointer::Random, random),
            (Pointer::PeakProbability, probability),
            (Pointer::Peak(cebr), peak),
        ],
    };
    let clips = [clip(0, 2, 3), clip(0, 0, 2), clip(9, 9, 9)];
    let (rows, diffs) = pointing_table(&clips, 3, 300);
    let hits: Vec<usize> = rows.iter().map(|r| r.hits).collect();
    assert_eq!(hits, [0, 1, 2, 2]); // random, peak probability, cEB-R, the oracle
    assert!(rows.iter().all(|r| r.interval.is_some()));
    let versus = |b| diffs.iter().find(|d| d.baseline == b).unwrap();
    assert!((versus(Pointer::Random).difference - 2.0 / 3.0).abs() < 1e-12);
    assert!((versus(Pointer::PeakProbability).difference - 1.0 / 3.0).abs() < 1e-12);
    // cEB-R never hits less than the peak probability on a clip: the paired interval is >= 0.
    assert!(versus(Pointer::PeakProbability).interval.unwrap().low >= 0.0);
    assert_eq!(cebr.label(), "cEB-R");
    assert_eq!(
        Variant {
            prior: Some(Prior::Last),
            lstm_rule: LstmEbRule::Conserving,
            ..cebr
        }
        .label(),
        "cEB-R (conserving, last-step prior)"
    );
}
