//! The `ebr` binary, run as a user runs it: the Caffe fixture's maps through `ebr ground`,
//! every output file, other model geometries, and every bad input (one line on stderr, exit
//! code 1, nothing left in --out; usage errors exit with 2).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_close, caffe_case, caffe_net, load};
use ebr::model::schema::{
    ChannelOrder, FcSpec, FrameLayerSpec, InputSpec, ModelSpec, TemporalLayerSpec,
};
use ebr::model::Model;
use ebr::npy::{read_tensor, write_npy};
use ebr::Tensor;
use serde_json::Value;

/// A net of eight layers against the original in f32 (fixtures/caffe/README.md): 1e-4.
const NET: f32 = 1e-4;

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
/// string of `wanted`; returns the line.
fn fails(args: &[&str], wanted: &[&str]) -> String {
    let out = ebr(args);
    assert_eq!(out.status.code(), Some(1), "ebr {args:?}: exit code");
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(
        stderr.lines().count(),
        1,
        "ebr {args:?}: one line on stderr, got {stderr:?}"
    );
    assert!(stderr.starts_with("ebr: "), "{stderr}");
    for w in wanted {
        assert!(
            stderr.contains(w),
            "ebr {args:?}: {stderr:?} does not mention {w:?}"
        );
    }
    stderr
}

fn tiny() -> PathBuf {
    caffe_net("tiny_cnn_lstm")
}

fn tiny_clip() -> PathBuf {
    caffe_case("tiny_cnn_lstm").join("input.npy")
}

#[test]
fn the_issue_command_reproduces_the_caffe_cebr_maps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (model, clip) = (tiny(), tiny_clip());
    ok(&[
        "ground",
        "--model",
        path_str(&model),
        "--clip",
        path_str(&clip),
        "--target",
        "3",
        "--method",
        "cebr",
        "--layer",
        "conv2",
        "--prior",
        "last",
        "--out",
        path_str(&out),
        "--quiet",
    ]);
    let maps = read_tensor(&out.join("maps.npy")).unwrap();
    let want = load("tiny_cnn_lstm", "c3_last_cebr_map_conv2");
    assert_eq!(maps.shape, want.shape);
    assert_close("cli c3 last cebr conv2", &maps.data, &want.data, NET);
}

#[test]
fn every_fixture_map_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (model, clip) = (tiny(), tiny_clip());
    let mut runs = 0;
    for class in ["3", "7"] {
        for layer in ["conv1", "conv2", "conv3"] {
            // (method, prior, fixture name); the fixtures' "all" follows the notebook.
            for (method, prior, name) in [
                ("cebr", "last", format!("c{class}_last_cebr_map_{layer}")),
                ("ebr", "last", format!("c{class}_last_ebr_map_{layer}")),
                ("cebr", "all", format!("c{class}_all_cebr_map_{layer}")),
                ("ebr", "all", format!("c{class}_all_ebr_map_{layer}")),
                ("bpr", "last", format!("c{class}_bpr_map_{layer}")),
            ] {
                let out = dir.path().join(&name);
                ok(&[
                    "ground",
                    "--model",
                    path_str(&model),
                    "--clip",
                    path_str(&clip),
                    "--target",
                    class,
                    "--method",
                    method,
                    "--layer",
                    layer,
                    "--prior",
                    prior,
                    "--normalization",
                    "demo",
                    "--out",
                    path_str(&out),
                    "--quiet",
                    "--no-overlays",
                ]);
                let maps = read_tensor(&out.join("maps.npy")).unwrap();
                assert_close(
                    &format!("cli {name}"),
                    &maps.data,
                    &load("tiny_cnn_lstm", &name).data,
                    NET,
                );
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 30);
}

#[test]
fn ground_writes_maps_summary_overlays_gif_and_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result");
    let (model, clip) = (tiny(), tiny_clip());
    let stdout = ok(&[
        "ground",
        "--model",
        path_str(&model),
        "--clip",
        path_str(&clip),
        "--target",
        "class7",
        "--layer",
        "conv3",
        "--length",
        "3",
        "--out",
        path_str(&out),
    ]);
    assert!(stdout.contains("cebr of class7 at conv3"), "{stdout}");
    let maps = read_tensor(&out.join("maps.npy")).unwrap();
    assert_eq!(maps.shape, [8, 8, 8]);
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["method"], "cebr");
    assert_eq!(summary["layer"], "conv3");
    assert_eq!(summary["prior"], "last");
    assert_eq!(summary["target"]["index"], 7);
    assert_eq!(summary["target"]["name"], "class7");
    assert_eq!(summary["ebr_version"], env!("CARGO_PKG_VERSION"));
    // The demo's ranking: the softmax averaged over the steps (fixture probs), top 5.
    let probs = load("tiny_cnn_lstm", "fwd_probs");
    let mean: Vec<f32> = (0..10)
        .map(|k| (0..8).map(|t| probs.data[t * 10 + k]).sum::<f32>() / 8.0)
        .collect();
    let top = summary["predicted_top5"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    assert_eq!(top[0]["index"], 9);
    let p0 = top[0]["probability"].as_f64().unwrap() as f32;
    assert!(
        (p0 - mean[9]).abs() < 1e-5,
        "top-1 probability {p0} vs {}",
        mean[9]
    );
    // Per-frame sums are the maps' sums; the segment contains the peak.
    let frames = summary["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 8);
    for (t, f) in frames.iter().enumerate() {
        let want: f32 = maps.data[t * 64..(t + 1) * 64].iter().sum();
        let got = f["sum"].as_f64().unwrap() as f32;
        assert!(
            (got - want).abs() <= 1e-6 + 1e-5 * want.abs(),
            "frame {t}: {got} vs {want}"
        );
        let (row, col) = (
            f["peak"]["row"].as_u64().unwrap(),
            f["peak"]["col"].as_u64().unwrap(),
        );
        assert!(row < 32 && col < 32);
    }
    let peak = summary["temporal_peak"].as_u64().unwrap();
    let (start, end) = (
        summary["segment"]["start"].as_u64().unwrap(),
        summary["segment"]["end"].as_u64().unwrap(),
    );
    assert!(start <= peak && peak <= end);
    assert_eq!(summary["window"]["length"], 3);
    for t in 0..8 {
        let png = fs::read(out.join(format!("frames/{t:04}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
    assert_eq!(&fs::read(out.join("overlay.gif")).unwrap()[..6], b"GIF89a");
    let svg = fs::read_to_string(out.join("timeline.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    // Nothing else beside the target: no temporary directory left.
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn classify_and_inspect_describe_the_model() {
    let (model, clip) = (tiny(), tiny_clip());
    let stdout = ok(&[
        "classify",
        "--model",
        path_str(&model),
        "--clip",
        path_str(&clip),
        "--quiet",
    ]);
    assert!(stdout.contains("8 frames, 8 step(s)"), "{stdout}");
    let first = stdout.lines().nth(1).unwrap();
    assert!(first.contains("class9"), "{stdout}");
    assert!(stdout.contains("step    7: class9"), "{stdout}");
    let stdout = ok(&["inspect", "--model", path_str(&model)]);
    assert!(
        stdout
            .contains("--layer accepts: data, conv1, pool1, conv2, pool2, conv3, pool3, fc6, fc7"),
        "{stdout}"
    );
    assert!(
        stdout.contains("conv3          conv                16x8x8         2320"),
        "{stdout}"
    );
}

/// A model of the schema with other sizes: strides, paddings, average pooling, non-square
/// frames, and a frame classifier; saved with random weights.
fn odd_model(dir: &Path, temporal: Vec<TemporalLayerSpec>) -> ModelSpec {
    let spec = ModelSpec {
        name: "odd".to_string(),
        input: InputSpec {
            channels: 3,
            height: 21,
            width: 27,
            resize: Some([25, 30]),
            scale: 255.0,
            channel_order: ChannelOrder::Rgb,
            mean: vec![120.0, 110.0, 100.0],
            std: vec![60.0, 60.0, 60.0],
        },
        frame: vec![
            FrameLayerSpec::Conv {
                name: "c1".into(),
                out: 6,
                kernel: 5,
                stride: 2,
                pad: 2,
                bias: true,
            },
            FrameLayerSpec::Relu,
            FrameLayerSpec::AvgPool {
                name: Some("a1".into()),
                kernel: 3,
                stride: 2,
                pad: 1,
            },
            FrameLayerSpec::Conv {
                name: "c2".into(),
                out: 7,
                kernel: 3,
                stride: 1,
                pad: 0,
                bias: false,
            },
            FrameLayerSpec::Relu,
            FrameLayerSpec::MaxPool {
                name: Some("m2".into()),
                kernel: 3,
                stride: 2,
                pad: 0,
            },
            FrameLayerSpec::Fc {
                name: "f1".into(),
                out: 12,
                bias: true,
            },
            FrameLayerSpec::Relu,
            FrameLayerSpec::Dropout,
        ],
        temporal,
        classifier: FcSpec {
            name: "cls".into(),
            out: 4,
            bias: true,
        },
        frame_classifier: Some(FcSpec {
            name: "fcls".into(),
            out: 4,
            bias: true,
        }),
        captioner: None,
        labels: vec!["a".into(), "b".into(), "c".into(), "d".into()],
    };
    let model = Model::random(&spec, 11, dir).unwrap();
    model.save(dir).unwrap();
    spec
}

/// Frames of `size` as PNG files in `dir` (a smooth pattern, different per frame).
fn write_frames(dir: &Path, count: usize, size: (u32, u32)) {
    fs::create_dir_all(dir).unwrap();
    for t in 0..count {
        let img = image::RgbImage::from_fn(size.1, size.0, |x, y| {
            image::Rgb([
                (x * 7 + t as u32 * 13) as u8,
                (y * 5) as u8,
                ((x + y) * 3) as u8,
            ])
        });
        img.save(dir.join(format!("frame{t:03}.png"))).unwrap();
    }
}

#[test]
fn ground_runs_on_other_geometries_clip_lengths_and_frame_sizes() {
    let root = tempfile::tempdir().unwrap();
    for (k, temporal) in [
        vec![TemporalLayerSpec::Lstm {
            name: "l1".into(),
            hidden: 5,
        }],
        vec![TemporalLayerSpec::MeanPool],
        vec![],
    ]
    .into_iter()
    .enumerate()
    {
        let model_dir = root.path().join(format!("model{k}"));
        fs::create_dir(&model_dir).unwrap();
        odd_model(&model_dir, temporal);
        // Frames of 40x50 are resized to 25x30 and cropped to 21x27; T = 1 and T = 5.
        for frames in [1usize, 5] {
            let clip = root.path().join(format!("clip{k}_{frames}"));
            write_frames(&clip, frames, (40, 50));
            for method in ["cebr", "ebr", "bpr", "eb", "ceb", "bp"] {
                for (layer, h, w) in [
                    ("data", 21, 27),
                    ("c1", 11, 14),
                    ("a1", 6, 8),
                    ("m2", 2, 3),
                    ("f1", 1, 1),
                ] {
                    let out = root
                        .path()
                        .join(format!("out{k}_{frames}_{method}_{layer}"));
                    ok(&[
                        "ground",
                        "--model",
                        path_str(&model_dir),
                        "--clip",
                        path_str(&clip),
                        "--target",
                        "b",
                        "--method",
                        method,
                        "--layer",
                        layer,
                        "--out",
                        path_str(&out),
                        "--quiet",
                    ]);
                    let maps = read_tensor(&out.join("maps.npy")).unwrap();
                    assert_eq!(maps.shape, [frames, h, w], "{method} {layer}");
                    assert!(
                        maps.data.iter().all(|v| v.is_finite()),
                        "{method} {layer}: finite"
                    );
                }
            }
        }
    }
}

#[test]
fn bad_inputs_get_one_line_exit_1_and_leave_no_output() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let (model, clip) = (tiny(), tiny_clip());
    let (m, c, o) = (path_str(&model), path_str(&clip), path_str(&out));
    let ground = |extra: &[&str], wanted: &[&str]| {
        let mut args = vec!["ground", "--model", m, "--out", o];
        args.extend_from_slice(extra);
        fails(&args, wanted);
        assert!(
            !out.exists(),
            "{extra:?}: --out must not exist after a failure"
        );
    };
    ground(
        &["--clip", c, "--target", "nope"],
        &["unknown class \"nope\"", "valid: class0, class1"],
    );
    ground(
        &["--clip", c, "--target", "10"],
        &["unknown class \"10\"", "class9"],
    );
    ground(
        &["--clip", c, "--target", "3", "--layer", "conv9"],
        &[
            "unknown layer \"conv9\"",
            "valid: data, conv1, pool1, conv2, pool2, conv3, pool3, fc6, fc7",
        ],
    );
    ground(
        &["--clip", c, "--target", "3", "--length", "9"],
        &["--length 9", "8 frames"],
    );
    ground(
        &["--clip", c, "--target", "3", "--length", "0"],
        &["--length 0"],
    );

    let empty = root.path().join("empty");
    fs::create_dir(&empty).unwrap();
    ground(
        &["--clip", path_str(&empty), "--target", "3"],
        &[path_str(&empty), "no frames"],
    );

    let mixed = root.path().join("mixed");
    write_frames(&mixed, 2, (32, 32));
    image::RgbImage::new(40, 32)
        .save(mixed.join("frame009.png"))
        .unwrap();
    ground(
        &["--clip", path_str(&mixed), "--target", "3"],
        &["frame009.png", "32x40", "32x32"],
    );

    let broken = root.path().join("broken");
    write_frames(&broken, 1, (32, 32));
    fs::write(broken.join("frame001.png"), b"not a png at all").unwrap();
    ground(
        &["--clip", path_str(&broken), "--target", "3"],
        &["frame001.png"],
    );

    let wrong = root.path().join("wrong.npy");
    write_npy(&wrong, &Tensor::zeros(vec![8, 3, 16, 16])).unwrap();
    ground(
        &["--clip", path_str(&wrong), "--target", "3"],
        &["wrong.npy", "[8, 3, 16, 16]", "3, 32, 32]"],
    );

    ground(
        &[
            "--clip",
            path_str(&root.path().join("missing.npy")),
            "--target",
            "3",
        ],
        &["missing.npy"],
    );

    let meanpool = caffe_net("tiny_cnn_meanpool");
    fails(
        &[
            "ground",
            "--model",
            path_str(&meanpool),
            "--clip",
            c,
            "--target",
            "3",
            "--method",
            "eb",
            "--out",
            o,
        ],
        &["method eb needs a frame_classifier", "model.json"],
    );
    assert!(!out.exists());

    fails(
        &[
            "ground",
            "--model",
            path_str(&root.path().join("nomodel")),
            "--clip",
            c,
            "--target",
            "3",
            "--out",
            o,
        ],
        &["nomodel", "does not exist"],
    );

    let orphan = root.path().join("no/such/parent/out");
    fails(
        &[
            "ground",
            "--model",
            m,
            "--clip",
            c,
            "--target",
            "3",
            "--out",
            path_str(&orphan),
        ],
        &["parent directory", "does not exist"],
    );

    let foreign = root.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("thesis.tex"), "keep me").unwrap();
    fails(
        &[
            "ground",
            "--model",
            m,
            "--clip",
            c,
            "--target",
            "3",
            "--out",
            path_str(&foreign),
        ],
        &["foreign", "not an ebr output directory"],
    );
    assert_eq!(
        fs::read_to_string(foreign.join("thesis.tex")).unwrap(),
        "keep me"
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let (model, clip) = (tiny(), tiny_clip());
    for args in [
        vec![
            "ground",
            "--model",
            path_str(&model),
            "--clip",
            path_str(&clip),
        ],
        vec![
            "ground",
            "--model",
            path_str(&model),
            "--clip",
            path_str(&clip),
            "--target",
            "3",
            "--method",
            "gradcam",
        ],
        vec!["frobnicate"],
        vec![],
    ] {
        let out = ebr(&args);
        assert_eq!(out.status.code(), Some(2), "ebr {args:?}");
    }
    // --threads past 256 (thousands of threads would exhaust memory): a usage error, at once.
    for command in ["ground", "classify"] {
        let mut args = vec![
            command,
            "--model",
            path_str(&model),
            "--clip",
            path_str(&clip),
        ];
        args.extend(["--target", "3", "--threads", "100000"]);
        if command == "classify" {
            args.truncate(5);
            args.extend(["--threads", "100000"]);
        }
        let out = ebr(&args);
        assert_eq!(out.status.code(), Some(2), "ebr {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("\"100000\" is not a number of threads from 0 to 256"),
            "{stderr}"
        );
    }
}
