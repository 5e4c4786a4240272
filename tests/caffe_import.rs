//! `ebr import-caffe` on real Caffe files (fixtures/caffe-models/, its README says where each
//! comes from): the imported tiny nets reproduce every map of the Caffe fixtures
//! (fixtures/caffe/), through the library and through the CLI; the authors' VGG16-LSTM
//! prototxt imports and grounds with random weights; a Caffe-written caffemodel is listed;
//! every refusal of spec/caffe-import.md (CAFFE-14) has its exact message.
//!
//! Run `cargo test --release --test caffe_import -- --nocapture` to see every comparison.

#[path = "common/caffe_nets.rs"]
mod caffe_nets;
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use caffe_nets::NET;
use common::{assert_close, caffe_case, load};
use ebr::caffe::{
    import, list_layers, parse_caffemodel, parse_prototxt, read_caffemodel, write_model_dir,
    InputOptions, Preset, WeightSource,
};
use ebr::model::schema::{FcSpec, FrameLayerSpec, TemporalLayerSpec};
use ebr::model::Model;
use ebr::npy::{read_tensor, write_npy};
use ebr::{Error, Tensor};

/// fixtures/caffe-models/<path>
fn models(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/caffe-models")
        .join(path)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

fn ebr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(args)
        .output()
        .expect("the ebr binary runs")
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

/// Runs a command that must fail with exit code 1 and exactly `line` on stderr.
fn fails_with(args: &[&str], line: &str) {
    let out = ebr(args);
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    assert_eq!(out.status.code(), Some(1), "ebr {args:?}: {stderr}");
    assert_eq!(stderr, format!("ebr: {line}\n"), "ebr {args:?}");
}

/// Imports `prototxt` with `weights` through the library into `dir/name` and loads it.
fn import_to(dir: &Path, name: &str, prototxt: &Path, weights: WeightSource) -> (Model, PathBuf) {
    let imported = import(prototxt, &weights, &InputOptions::default(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join(name);
    write_model_dir(&imported, &out).unwrap_or_else(|e| panic!("{e}"));
    (Model::load(&out).unwrap_or_else(|e| panic!("{e}")), out)
}

fn tiny_lstm_prototxt() -> PathBuf {
    models("tiny_cnn_lstm/deploy.prototxt")
}

/// The message of a library error, for the exact-message tests.
fn message(result: Result<impl Sized, Error>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Every parameter file of an imported tiny net is bit for bit the Caffe fixture's array
/// (the caffemodels hold the fixtures' weights; fixtures/caffe-models/README.md).
fn assert_weights_are_the_fixtures(dir: &Path, case: &str) {
    let mut files = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "npy") {
            let name = path.file_stem().unwrap().to_str().unwrap();
            let (got, want) = (read_tensor(&path).unwrap(), load(case, name));
            assert_eq!(got.shape, want.shape, "{name}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.data), bits(&want.data), "{name}");
            files += 1;
        }
    }
    assert!(files >= 12, "{files} parameter files in {}", dir.display());
}

#[test]
fn imported_tiny_cnn_lstm_reproduces_every_caffe_map_from_both_caffemodels() {
    let dir = tempfile::tempdir().unwrap();
    for caffemodel in ["tiny_cnn_lstm.caffemodel", "tiny_cnn_lstm_v1.caffemodel"] {
        let weights = WeightSource::Caffemodel(models(&format!("tiny_cnn_lstm/{caffemodel}")));
        let (model, out) = import_to(dir.path(), caffemodel, &tiny_lstm_prototxt(), weights);
        assert_weights_are_the_fixtures(&out, "tiny_cnn_lstm");
        // The net's structure, as deploy.prototxt states it (CAFFE-8..CAFFE-10).
        let spec = &model.spec;
        assert_eq!(spec.frame.len(), 15);
        assert_eq!(
            spec.temporal,
            [TemporalLayerSpec::Lstm {
                name: "lstm1".to_string(),
                hidden: 32
            }]
        );
        let head = |name: &str| FcSpec {
            name: name.to_string(),
            out: 10,
            bias: true,
        };
        assert_eq!(spec.classifier, head("fc8"));
        assert_eq!(spec.frame_classifier, Some(head("fc8f")));
        caffe_nets::tiny_cnn_lstm_forward_matches_caffe(&model);
        caffe_nets::tiny_cnn_lstm_cebr_ebr_match_caffe_for_both_priors_and_classes(&model);
        caffe_nets::tiny_cnn_lstm_bpr_matches_caffe(&model);
    }
}

#[test]
fn imported_tiny_cnn_meanpool_reproduces_every_caffe_map() {
    let dir = tempfile::tempdir().unwrap();
    let weights =
        WeightSource::Caffemodel(models("tiny_cnn_meanpool/tiny_cnn_meanpool.caffemodel"));
    let prototxt = models("tiny_cnn_meanpool/deploy.prototxt");
    let (model, out) = import_to(dir.path(), "meanpool", &prototxt, weights);
    assert_weights_are_the_fixtures(&out, "tiny_cnn_meanpool");
    assert_eq!(model.spec.temporal, [TemporalLayerSpec::MeanPool]);
    assert_eq!(model.spec.frame_classifier, None);
    caffe_nets::tiny_cnn_meanpool_matches_caffe(&model);
}

/// `ebr import-caffe`, then `ebr ground` on the fixture clip: every map of the fixture.
/// `maps`: (method, prior, fixture name) for each run.
fn ground_through_the_cli(dir: &Path, case: &str, model: &Path, maps: &[(String, &str, String)]) {
    let clip = caffe_case(case).join("input.npy");
    for (method, prior, name) in maps {
        let class = &name[1..2];
        let layer = name.rsplit('_').next().unwrap();
        let out = dir.join(format!(
            "{}-{name}",
            model.file_name().unwrap().to_str().unwrap()
        ));
        ok(&[
            "ground",
            "--model",
            path_str(model),
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
            &format!("cli {case} {name}"),
            &maps.data,
            &load(case, name).data,
            NET,
        );
    }
}

#[test]
fn imported_tiny_nets_reproduce_every_caffe_map_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut lstm_maps = Vec::new();
    for class in ["3", "7"] {
        for layer in ["conv1", "conv2", "conv3"] {
            for (method, prior) in [
                ("cebr", "last"),
                ("ebr", "last"),
                ("cebr", "all"),
                ("ebr", "all"),
            ] {
                lstm_maps.push((
                    method.to_string(),
                    prior,
                    format!("c{class}_{prior}_{method}_map_{layer}"),
                ));
            }
            lstm_maps.push((
                "bpr".to_string(),
                "last",
                format!("c{class}_bpr_map_{layer}"),
            ));
        }
    }
    assert_eq!(lstm_maps.len(), 30);
    for caffemodel in ["tiny_cnn_lstm.caffemodel", "tiny_cnn_lstm_v1.caffemodel"] {
        let out = dir.path().join(caffemodel);
        ok(&[
            "import-caffe",
            "--prototxt",
            path_str(&tiny_lstm_prototxt()),
            "--weights",
            path_str(&models(&format!("tiny_cnn_lstm/{caffemodel}"))),
            "--out",
            path_str(&out),
            "--quiet",
        ]);
        ground_through_the_cli(dir.path(), "tiny_cnn_lstm", &out, &lstm_maps);
    }
    let out = dir.path().join("meanpool");
    ok(&[
        "import-caffe",
        "--prototxt",
        path_str(&models("tiny_cnn_meanpool/deploy.prototxt")),
        "--weights",
        path_str(&models("tiny_cnn_meanpool/tiny_cnn_meanpool.caffemodel")),
        "--out",
        path_str(&out),
        "--quiet",
    ]);
    let mut meanpool_maps = Vec::new();
    for layer in ["conv1", "conv2", "conv3"] {
        for (method, name) in [("ebr", "eb"), ("cebr", "ceb"), ("bpr", "bp")] {
            meanpool_maps.push((method.to_string(), "last", format!("c3_{name}_map_{layer}")));
        }
    }
    ground_through_the_cli(dir.path(), "tiny_cnn_meanpool", &out, &meanpool_maps);
}

/// The authors' VGG16-LSTM deploy.prototxt with its channels divided by 16 (64 -> 4, ...,
/// 4096 -> 256, the LSTM's 256 -> 16), 32x32 frames and 16 frames: the same layers at a size
/// a test runs in a second.
fn scaled_authors_prototxt(dir: &Path) -> PathBuf {
    let text = fs::read_to_string(models("authors_vgg16_lstm/deploy.prototxt")).unwrap();
    fn scale(n: &str) -> &str {
        match n {
            "224" => "32",
            "128" => "16",
            "4096" => "256",
            "512" => "32",
            "256" => "16",
            "64" => "4",
            other => other,
        }
    }
    let mut scaled = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        let scaled_line = match trimmed.split_once(": ") {
            Some((key @ ("num_output" | "dim"), n)) => {
                let n = n.trim();
                // The inputs' and Reshapes' dims: 128 frames, 224 pixels, 4096 features;
                // num_output: the channels (64..512), fc6/fc7 (4096) and the LSTM (256).
                let to = if key == "dim" && n == "128" {
                    "16"
                } else if key == "num_output" && n == "128" {
                    "8"
                } else {
                    scale(n)
                };
                format!("{key}: {to}")
            }
            _ => line.to_string(),
        };
        scaled.push_str(&scaled_line);
        scaled.push('\n');
    }
    assert_ne!(scaled, text);
    let path = dir.join("scaled_deploy.prototxt");
    fs::write(&path, scaled).unwrap();
    path
}

/// `ebr inspect` of an imported authors' net: 13 conv, 5 max pools, fc6 and fc7 of
/// `fc_width`, LSTM 256 (or the scaled 16), 101 classes, the feature blob fc7.
fn assert_inspect_shows_the_authors_net(stdout: &str, fc_width: usize, hidden: usize) {
    let count = |kind: &str| {
        stdout
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(kind))
            .count()
    };
    assert_eq!(count("conv"), 13, "{stdout}");
    assert_eq!(count("max_pool"), 5, "{stdout}");
    for fc in ["fc6", "fc7"] {
        let line = stdout.lines().find(|l| l.starts_with(fc)).unwrap();
        assert!(line.contains(&format!("{fc_width}x1x1")), "{line}");
    }
    let lstm: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("lstm1 "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        lstm[1..5],
        ["lstm", "T", "x", &hidden.to_string()],
        "{stdout}"
    );
    assert!(stdout.contains("(classifier)"), "{stdout}");
    assert!(stdout.contains("classes: 101"), "{stdout}");
    assert!(
        stdout.contains(&format!("feature blob: fc7 ({fc_width} values per frame)")),
        "{stdout}"
    );
}

#[test]
fn the_authors_prototxt_imports_without_weights_and_inspect_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vgg16_lstm");
    let prototxt = models("authors_vgg16_lstm/deploy.prototxt");
    let report = ebr(&[
        "import-caffe",
        "--prototxt",
        path_str(&prototxt),
        "--preset",
        "authors",
        "--out",
        path_str(&out),
    ]);
    assert!(report.status.success());
    let stderr = String::from_utf8(report.stderr).unwrap();
    assert!(stderr.contains("the weights are missing"), "{stderr}");
    let names: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["model.json"]);
    let stdout = ok(&["inspect", "--model", path_str(&out)]);
    assert!(stdout.starts_with("weights: missing"), "{stdout}");
    assert_inspect_shows_the_authors_net(&stdout, 4096, 256);
    // 138,743,973 parameters, as tools/README.md counted them for this layout before.
    assert!(
        stdout.contains("parameters: 138743973; classes: 101"),
        "{stdout}"
    );
    // The authors' preset (CAFFE-12).
    assert!(
        stdout.contains("input: 3x224x224, resize to 240x320, then a center crop, scale 255, channel order bgr, mean [103.939, 116.779, 128.68]"),
        "{stdout}"
    );
    // Grounding needs the weights: one line, exit 1.
    let clip = dir.path().join("clip.npy");
    write_npy(
        &clip,
        &Tensor::new(vec![1, 3, 224, 224], vec![0.0; 3 * 224 * 224]),
    )
    .unwrap();
    let failed = ebr(&[
        "ground",
        "--model",
        path_str(&out),
        "--clip",
        path_str(&clip),
        "--target",
        "0",
        "--out",
        path_str(&dir.path().join("g")),
    ]);
    assert_eq!(failed.status.code(), Some(1));
}

/// Imports `prototxt` with random weights, grounds a 16-frame clip of `size` pixels with
/// `ebr ground`, and checks the maps' shape and that they are finite.
fn ground_random_authors_net(dir: &Path, prototxt: &Path, size: usize) -> String {
    let out = dir.join("random");
    ok(&[
        "import-caffe",
        "--prototxt",
        path_str(prototxt),
        "--random-weights",
        "7",
        "--out",
        path_str(&out),
        "--quiet",
    ]);
    let frames = 16;
    let len = frames * 3 * size * size;
    let values: Vec<f32> = (0..len)
        .map(|i| ((i * 7919) % 255) as f32 - 127.0)
        .collect();
    let clip = dir.join("clip.npy");
    write_npy(&clip, &Tensor::new(vec![frames, 3, size, size], values)).unwrap();
    let grounded = dir.join("grounded");
    ok(&[
        "ground",
        "--model",
        path_str(&out),
        "--clip",
        path_str(&clip),
        "--target",
        "0",
        "--layer",
        "conv5_3",
        "--out",
        path_str(&grounded),
        "--quiet",
        "--no-overlays",
    ]);
    let maps = read_tensor(&grounded.join("maps.npy")).unwrap();
    let side = size / 16;
    assert_eq!(maps.shape, [frames, side, side]);
    assert!(maps.data.iter().all(|v| v.is_finite()));
    ok(&["inspect", "--model", path_str(&out)])
}

#[test]
fn the_authors_net_channel_scaled_grounds_a_16_frame_clip_with_random_weights() {
    let dir = tempfile::tempdir().unwrap();
    let prototxt = scaled_authors_prototxt(dir.path());
    let stdout = ground_random_authors_net(dir.path(), &prototxt, 32);
    assert_inspect_shows_the_authors_net(&stdout, 256, 16);
}

/// The full authors' net at 224x224 with random weights: about 0.55 GB of parameters and a
/// minute of grounding on 2 cores. `cargo test --release --test caffe_import -- --ignored`.
#[test]
#[ignore]
fn the_authors_net_grounds_a_16_frame_clip_with_random_weights() {
    let dir = tempfile::tempdir().unwrap();
    let prototxt = models("authors_vgg16_lstm/deploy.prototxt");
    let stdout = ground_random_authors_net(dir.path(), &prototxt, 224);
    assert_inspect_shows_the_authors_net(&stdout, 4096, 256);
}

#[test]
fn the_caffe_written_opencv_caffemodel_is_listed_and_its_deploy_net_imports() {
    let caffemodel = models("opencv_triplet/3d_triplet_iter_30000.caffemodel");
    let net = read_caffemodel(&caffemodel).unwrap();
    assert_eq!(net.name, "3d_triplet_train_test");
    let summary: Vec<(String, String, Vec<Vec<usize>>)> = net
        .layers
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                l.kind.clone(),
                l.blobs.iter().map(|b| b.shape.clone()).collect(),
            )
        })
        .collect();
    let want: Vec<(&str, &str, Vec<Vec<usize>>)> = vec![
        ("data", "Data", vec![]),
        ("conv1", "Convolution", vec![vec![16, 1, 8, 8], vec![16]]),
        ("pool1", "Pooling", vec![]),
        ("relu1", "ReLU", vec![]),
        ("conv2", "Convolution", vec![vec![7, 16, 5, 5], vec![7]]),
        ("pool2", "Pooling", vec![]),
        ("relu2", "ReLU", vec![]),
        // 7 x 13 x 13: 64 -> conv 8 -> 57 -> pool 2/2 rounding up -> 29 -> conv 5 -> 25 ->
        // pool -> 13. Rounding down would give 7 x 12 x 12 = 1008.
        ("ip1", "InnerProduct", vec![vec![256, 1183], vec![256]]),
        ("relu3", "ReLU", vec![]),
        ("feat", "InnerProduct", vec![vec![3, 256], vec![3]]),
        ("loss", "TripletLoss", vec![]),
    ];
    let want: Vec<(String, String, Vec<Vec<usize>>)> = want
        .into_iter()
        .map(|(n, k, b)| (n.to_string(), k.to_string(), b))
        .collect();
    assert_eq!(summary, want);
    assert!(net
        .layers
        .iter()
        .all(|l| l.phase == Some(ebr::caffe::net::Phase::Train)));
    // The same through the CLI.
    let stdout = ok(&["import-caffe", "--list", path_str(&caffemodel)]);
    assert!(
        stdout.starts_with("net \"3d_triplet_train_test\": 11 layers\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "ip1                      InnerProduct     TRAIN pool2 -> ip1  blobs: 256x1183, 256\n"
        ),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().skip(1).collect::<Vec<_>>(),
        list_layers(&net)
    );

    // The deploy prototxt declares its input with net-level input / input_dim (CAFFE-7).
    let prototxt = models("opencv_triplet/3d_triplet_testIMG.prototxt");
    let deploy = parse_prototxt(&prototxt, &fs::read_to_string(&prototxt).unwrap()).unwrap();
    assert_eq!(deploy.inputs.len(), 1);
    assert_eq!(
        (deploy.inputs[0].name.as_str(), &deploy.inputs[0].shape[..]),
        ("data", &[1, 1, 64, 64][..])
    );
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = import_to(
        dir.path(),
        "triplet",
        &prototxt,
        WeightSource::Caffemodel(caffemodel),
    );
    // A per-frame net: its last InnerProduct is the classifier, applied to every frame.
    assert_eq!(
        [model.input.channels, model.input.height, model.input.width],
        [1, 64, 64]
    );
    assert!(model.temporal.is_empty());
    assert_eq!(model.classifier.name, "feat");
    assert_eq!(model.classifier.fc.inputs, 256);
    let ip1 = model.spec.frame.iter().find_map(|l| match l {
        FrameLayerSpec::Fc { name, .. } if name == "ip1" => Some(name),
        _ => None,
    });
    assert!(ip1.is_some());
    assert_eq!(model.frame.feature_len(), 256);
}

// ---- Every refusal, with its exact message (spec/caffe-import.md, CAFFE-14). ----

/// The tiny LSTM prototxt with `from` replaced by `to` (which must change it), written to
/// `dir/name`.
fn edited_prototxt(dir: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = fs::read_to_string(tiny_lstm_prototxt()).unwrap();
    assert!(text.contains(from), "{from}");
    let path = dir.join(name);
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

fn tiny_weights() -> WeightSource {
    WeightSource::Caffemodel(models("tiny_cnn_lstm/tiny_cnn_lstm.caffemodel"))
}

fn import_message(prototxt: &Path, weights: WeightSource) -> String {
    message(import(prototxt, &weights, &InputOptions::default(), None))
}

#[test]
fn a_truncated_or_corrupt_caffemodel_is_refused_at_its_byte() {
    let path = models("tiny_cnn_lstm/tiny_cnn_lstm.caffemodel");
    let bytes = fs::read(&path).unwrap();
    let p = Path::new("x.caffemodel");
    // Cut in the middle of the layer fc8f (10 x 64 weights and 10 biases: 2678 bytes).
    assert_eq!(
        message(parse_caffemodel(p, &bytes[..100_000])),
        "x.caffemodel: not a valid caffemodel: at byte 98204: field 100 says it holds 2678 bytes, only 1792 are left in its message (truncated?)"
    );
    assert_eq!(
        message(parse_caffemodel(p, &[0x0f])),
        "x.caffemodel: not a valid caffemodel: at byte 0: field 1 has wire type 7, which caffe.proto never uses"
    );
    // A blob whose data does not fill its shape: conv1's weight with one float less.
    let mut cut = Vec::new();
    cut.extend_from_slice(&[0xa2, 0x06]); // field 100, wire type 2
    let blob = [0x3a, 0x02, 0x08, 0x02, 0x2d, 0, 0, 0x80, 0x3f]; // shape { dim: 2 } data: 1.0
    let mut layer = vec![0x3a, blob.len() as u8];
    layer.extend_from_slice(&blob);
    cut.push(layer.len() as u8);
    cut.extend_from_slice(&layer);
    assert_eq!(
        message(parse_caffemodel(p, &cut)),
        "x.caffemodel: not a valid caffemodel: at byte 3: a blob of shape [2] holds 1 values"
    );
    // Through the CLI: one line, exit 1, nothing written.
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.caffemodel");
    fs::write(&truncated, &bytes[..100_000]).unwrap();
    let out = dir.path().join("out");
    fails_with(
        &["import-caffe", "--prototxt", path_str(&tiny_lstm_prototxt()), "--weights", path_str(&truncated), "--out", path_str(&out)],
        &format!("{}: not a valid caffemodel: at byte 98204: field 100 says it holds 2678 bytes, only 1792 are left in its message (truncated?)", truncated.display()),
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing but the input is left"
    );
}

#[test]
fn a_prototxt_syntax_error_gives_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_prototxt(
        dir.path(),
        "bad.prototxt",
        "num_output: 16 kernel_size",
        "num_output 16 kernel_size",
    );
    // Line 7 is conv2's (line 1 is `force_backward: true`); "16" starts at column 103.
    assert_eq!(
        import_message(&path, tiny_weights()),
        format!("{}: line 7, column 103: expected ':' or '{{' after the field name \"num_output\", found \"16\"", path.display())
    );
    let out = dir.path().join("out");
    fails_with(
        &["import-caffe", "--prototxt", path_str(&path), "--weights", path_str(&models("tiny_cnn_lstm/tiny_cnn_lstm.caffemodel")), "--out", path_str(&out)],
        &format!("{}: line 7, column 103: expected ':' or '{{' after the field name \"num_output\", found \"16\"", path.display()),
    );
    assert!(!out.exists());
}

#[test]
fn an_unsupported_layer_type_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_prototxt(
        dir.path(),
        "lrn.prototxt",
        "layer { name: \"pool1\"",
        "layer { name: \"norm1\" type: \"LRN\" bottom: \"conv1\" top: \"conv1\" }\nlayer { name: \"pool1\"",
    );
    assert_eq!(
        import_message(&path, tiny_weights()),
        format!("{}: layer \"norm1\" has type \"LRN\", which ebr does not support; supported: Input, DummyData, Convolution, Pooling, ReLU, Dropout, InnerProduct, Reshape, LSTM, Softmax, Split, and losses, Accuracy, ArgMax, Silence (skipped)", path.display())
    );
}

#[test]
fn a_v0_net_is_refused_in_both_formats() {
    let v0 = "a V0 net (layers with an inner \"layer\" message, Caffe before 2014); upgrade it with Caffe's tools/upgrade_net_proto_text or upgrade_net_proto_binary first";
    let p = Path::new("old.prototxt");
    let text = "name: \"old\"\nlayers { layer { name: \"conv1\" type: \"conv\" } bottom: \"data\" top: \"conv1\" }\n";
    assert_eq!(
        message(parse_prototxt(p, text)),
        format!("old.prototxt: {v0}")
    );
    // NetParameter.layers (2) holding a V1LayerParameter whose field 1 (a V0 layer) is set.
    let bytes = [0x12, 0x02, 0x0a, 0x00];
    assert_eq!(
        message(parse_caffemodel(Path::new("old.caffemodel"), &bytes)),
        format!("old.caffemodel: {v0}")
    );
    // A V1 net (`layers` with an enum type) is read.
    let v1 = "layers { name: \"c\" type: CONVOLUTION bottom: \"data\" top: \"c\" }\n";
    assert_eq!(parse_prototxt(p, v1).unwrap().layers[0].kind, "Convolution");
}

#[test]
fn an_lstm_with_a_static_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_prototxt(
        dir.path(),
        "static.prototxt",
        "bottom: \"clip_markers\" top: \"lstm1\"",
        "bottom: \"clip_markers\" bottom: \"data\" top: \"lstm1\"",
    );
    assert_eq!(
        import_message(&path, tiny_weights()),
        format!("{}: layer \"lstm1\" (LSTM) has 3 bottoms; an LSTM with a static input (a third bottom) is not supported", path.display())
    );
}

#[test]
fn a_blob_that_does_not_fit_its_layer_is_refused_with_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_prototxt(
        dir.path(),
        "k5.prototxt",
        "num_output: 8 kernel_size: 3 stride: 1 pad: 1",
        "num_output: 8 kernel_size: 5 stride: 1 pad: 2",
    );
    let caffemodel = models("tiny_cnn_lstm/tiny_cnn_lstm.caffemodel");
    assert_eq!(
        import_message(&path, tiny_weights()),
        format!("{}: layer \"conv1\" blob 0 (weight [out, in, kh, kw]) has shape [8, 3, 3, 3], the prototxt needs [8, 3, 5, 5]", caffemodel.display())
    );
    // A legacy 4-D blob fits only with 1s in front (CAFFE-3): fc6 of 64 outputs read as 32.
    let path = edited_prototxt(
        dir.path(),
        "fc32.prototxt",
        "inner_product_param { num_output: 64 } }",
        "inner_product_param { num_output: 32 } }",
    );
    let v1 = models("tiny_cnn_lstm/tiny_cnn_lstm_v1.caffemodel");
    assert_eq!(
        import_message(&path, WeightSource::Caffemodel(v1.clone())),
        format!("{}: layer \"fc6\" blob 0 (weight [out, in]) has shape [1, 1, 64, 256], the prototxt needs [32, 256]", v1.display())
    );
}

#[test]
fn a_prototxt_layer_without_weights_in_the_caffemodel_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_prototxt(
        dir.path(),
        "renamed.prototxt",
        "name: \"fc8\" type",
        "name: \"fc8-new\" type",
    );
    let caffemodel = models("tiny_cnn_lstm/tiny_cnn_lstm.caffemodel");
    assert_eq!(
        import_message(&path, tiny_weights()),
        format!("{}: has no layer \"fc8-new\" (InnerProduct), which has parameters in the prototxt (Caffe matches weights by layer name)", caffemodel.display())
    );
}

#[test]
fn more_than_one_stream_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_prototxt(
        dir.path(),
        "n2.prototxt",
        "shape { dim: 8 dim: 1 dim: 64 }",
        "shape { dim: 4 dim: 2 dim: 64 }",
    );
    assert_eq!(
        import_message(&path, tiny_weights()),
        format!("{}: layer \"reshape-data\" reshapes to [4, 2, 64]: 2 streams (N > 1); ebr grounds one clip (N = 1)", path.display())
    );
}

#[test]
fn an_existing_out_directory_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(
        &[
            "import-caffe",
            "--prototxt",
            path_str(&tiny_lstm_prototxt()),
            "--out",
            path_str(dir.path()),
        ],
        &format!(
            "{}: exists; give a new directory for the imported model",
            dir.path().display()
        ),
    );
}

#[test]
fn random_weights_are_the_models_he_initialisation() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = import_to(
        dir.path(),
        "random",
        &tiny_lstm_prototxt(),
        WeightSource::Random(5),
    );
    let same = Model::random(&model.spec, 5, dir.path()).unwrap();
    let bits = |m: &Model| match &m.frame.layers[0] {
        ebr::model::FrameLayer::Conv { conv, .. } => {
            conv.w.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        }
        _ => panic!("conv1 first"),
    };
    assert_eq!(bits(&model), bits(&same));
    assert_ne!(
        bits(&model),
        bits(&Model::random(&model.spec, 6, dir.path()).unwrap())
    );
}

#[test]
fn the_authors_preset_and_single_options_fill_the_input_block() {
    let options = InputOptions {
        preset: Preset::Authors,
        mean: Some(vec![103.939, 116.779, 123.68]),
        ..InputOptions::default()
    };
    let input = options.input_spec([3, 224, 224]);
    assert_eq!(input.resize, Some([240, 320]));
    assert_eq!(input.mean, [103.939, 116.779, 123.68]);
    assert_eq!(input.scale, 255.0);
    let plain = InputOptions::default().input_spec([1, 64, 64]);
    assert_eq!((plain.resize, plain.mean.clone()), (None, vec![0.0]));
}

/// Every tag of spec/caffe-import.md is cited in src/, and every CAFFE tag cited in src/ is
/// in the spec.
#[test]
fn spec_tags_and_code_cite_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = fs::read_to_string(root.join("spec/caffe-import.md")).unwrap();
    let tags = |text: &str| -> std::collections::BTreeSet<String> {
        let mut found = std::collections::BTreeSet::new();
        for (i, _) in text.match_indices("CAFFE-") {
            let digits: String = text[i + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !digits.is_empty() {
                found.insert(format!("CAFFE-{digits}"));
            }
        }
        found
    };
    let defined: std::collections::BTreeSet<String> = spec
        .lines()
        .filter(|l| l.starts_with("## CAFFE-"))
        .flat_map(|l| tags(l.split(':').next().unwrap()))
        .collect();
    let mut code = String::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                code.push_str(&fs::read_to_string(&path).unwrap());
            }
        }
    }
    let cited = tags(&code);
    assert_eq!(defined.len(), 15, "{defined:?}");
    let uncited: Vec<_> = defined.difference(&cited).collect();
    assert!(uncited.is_empty(), "not cited in src/: {uncited:?}");
    let unknown: Vec<_> = cited.difference(&defined).collect();
    assert!(
        unknown.is_empty(),
        "cited in src/, not in the spec: {unknown:?}"
    );
}

#[test]
fn the_cli_options_fill_the_input_block_and_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("classInd.txt");
    let lines: Vec<String> = (0..10)
        .rev()
        .map(|k| format!("{} class_{k}", k + 1))
        .collect();
    fs::write(&labels, lines.join("\n")).unwrap();
    let out = dir.path().join("model");
    ok(&[
        "import-caffe",
        "--prototxt",
        path_str(&models("tiny_cnn_meanpool/deploy.prototxt")),
        "--resize",
        "64,48",
        "--mean",
        "1,2,3",
        "--channel-order",
        "rgb",
        "--scale",
        "1",
        "--labels",
        path_str(&labels),
        "--out",
        path_str(&out),
        "--quiet",
    ]);
    let spec = ebr::model::ModelSpec::read(&out.join("model.json")).unwrap();
    let input = &spec.input;
    assert_eq!((input.resize, input.scale), (Some([64, 48]), 1.0));
    assert_eq!(input.channel_order, ebr::model::ChannelOrder::Rgb);
    assert_eq!(input.mean, [1.0, 2.0, 3.0]);
    // `index name` lines, sorted by index.
    assert_eq!(spec.labels[0], "class_0");
    assert_eq!(spec.labels[9], "class_9");
}

/// A Split layer (as Caffe inserts it, and stores it in a caffemodel) copies its bottom: the
/// net with fc7 split between fc8f and the LSTM imports as the net without (CAFFE-6).
#[test]
fn a_split_layer_maps_its_tops_back_to_its_bottom() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(tiny_lstm_prototxt()).unwrap();
    let split = text
        .replacen(
            "layer { name: \"fc8f\"",
            "layer { name: \"fc7_split\" type: \"Split\" bottom: \"fc7\" top: \"fc7_a\" top: \"fc7_b\" }\nlayer { name: \"fc8f\"",
            1,
        )
        .replacen("bottom: \"fc7\" top: \"fc8f\"", "bottom: \"fc7_a\" top: \"fc8f\"", 1)
        .replacen("bottom: \"fc7\" top: \"feat-reshape\"", "bottom: \"fc7_b\" top: \"feat-reshape\"", 1);
    assert_eq!(split.matches("fc7_a").count(), 2);
    assert_eq!(split.matches("fc7_b").count(), 2);
    let path = dir.path().join("split.prototxt");
    fs::write(&path, split).unwrap();
    let options = InputOptions::default();
    let with_split = import(&path, &tiny_weights(), &options, None).unwrap();
    let without = import(&tiny_lstm_prototxt(), &tiny_weights(), &options, None).unwrap();
    assert_eq!(
        (
            with_split.spec.frame,
            with_split.spec.temporal,
            with_split.spec.frame_classifier
        ),
        (
            without.spec.frame,
            without.spec.temporal,
            without.spec.frame_classifier
        )
    );
}

/// include / exclude rules: only the layers of the TEST net are mapped (CAFFE-5).
#[test]
fn layers_outside_the_test_net_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let lrn = |rule: &str| {
        format!("layer {{ name: \"norm1\" type: \"LRN\" bottom: \"conv1\" top: \"conv1\" {rule} }}\nlayer {{ name: \"pool1\"")
    };
    for (rule, kept) in [
        ("include { phase: TRAIN }", false),
        ("exclude { phase: TEST }", false),
        ("include { phase: TEST }", true),
        ("include { stage: \"deploy\" }", false),
        ("include { min_level: 1 }", false),
        ("exclude { phase: TRAIN }", true),
    ] {
        let path = edited_prototxt(
            dir.path(),
            "rule.prototxt",
            "layer { name: \"pool1\"",
            &lrn(rule),
        );
        let result = import(&path, &tiny_weights(), &InputOptions::default(), None);
        assert_eq!(result.is_err(), kept, "{rule}");
    }
}
