//! What the fuzz targets (fuzz/fuzz_targets/) run on one input, shared with the regression
//! tests (tests/regressions/main.rs), which replay every input a fuzz target ever crashed on.
//! Each function panics on a bug (a panic in ebr, or an inconsistency) and returns normally
//! whatever the input; the inputs' formats are in the doc comment of each.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use ebr::clip::load_clip;
use ebr::grounding::caption::{ground_caption, CaptionOptions};
use ebr::grounding::{ground, Method, Normalization, Options, Prior};
use ebr::layers::{ConvGeometry, LstmEbRule, PoolGeometry};
use ebr::model::schema::{FrameLayerSpec, TemporalLayerSpec};
use ebr::model::{forward_clip, Execution};
use ebr::model::{ChannelOrder, InputSpec, Model, ModelSpec};
use ebr::npy::write_npy;
use ebr::{Error, Tensor};

/// The .npy reader on arbitrary bytes: `parse_npy` on the bytes in memory, and `read_npy` on
/// the same bytes in a file (it reads the header first, then only the data). Neither may
/// panic, and both must agree: the same array, or an error.
pub fn npy(bytes: &[u8]) {
    let in_memory = ebr::npy::parse_npy(Path::new("fuzz.npy"), bytes);
    // One directory for the whole run; the file is overwritten by every input.
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    let path = dir.path().join("fuzz.npy");
    std::fs::write(&path, bytes).expect("the file is written");
    let from_file = ebr::npy::read_npy(&path);
    match (&in_memory, &from_file) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.tensor.shape, b.tensor.shape);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.tensor.data), bits(&b.tensor.data));
            assert_eq!(a.converted_from, b.converted_from);
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "parse_npy and read_npy disagree: {:?} vs {:?}",
            in_memory
                .as_ref()
                .map(|a| &a.tensor.shape)
                .map_err(|e| e.to_string()),
            from_file
                .as_ref()
                .map(|a| &a.tensor.shape)
                .map_err(|e| e.to_string())
        ),
    }
}

/// At most this many parameter values are written, and a model runs only if one frame's blobs
/// and its temporal layers are this small: the target stays fast.
const SMALL: usize = 1 << 16;

/// The parameter files `spec` implies, with their shapes, in the loader's order; None when
/// the shapes do not chain or hold more than SMALL values (the loader then says why).
fn parameter_files(spec: &ModelSpec) -> Option<Vec<(String, Vec<usize>)>> {
    let mut files = Vec::new();
    let [mut c, mut h, mut w] = [spec.input.channels, spec.input.height, spec.input.width];
    for layer in &spec.frame {
        match layer {
            FrameLayerSpec::Conv {
                name,
                out,
                kernel,
                stride,
                pad,
                bias,
            } => {
                let g = ConvGeometry::new(c, h, w, *out, *kernel, *stride, *pad).ok()?;
                files.push((format!("{name}_w.npy"), vec![*out, c, *kernel, *kernel]));
                if *bias {
                    files.push((format!("{name}_b.npy"), vec![*out]));
                }
                [c, h, w] = [*out, g.out_height(), g.out_width()];
            }
            FrameLayerSpec::MaxPool {
                kernel,
                stride,
                pad,
                ..
            }
            | FrameLayerSpec::AvgPool {
                kernel,
                stride,
                pad,
                ..
            } => {
                let g = PoolGeometry::new(c, h, w, *kernel, *stride, *pad).ok()?;
                [h, w] = [g.out_height(), g.out_width()];
            }
            FrameLayerSpec::Fc { name, out, bias } => {
                files.push((
                    format!("{name}_w.npy"),
                    vec![*out, c.checked_mul(h)?.checked_mul(w)?],
                ));
                if *bias {
                    files.push((format!("{name}_b.npy"), vec![*out]));
                }
                [c, h, w] = [*out, 1, 1];
            }
            FrameLayerSpec::Relu | FrameLayerSpec::Dropout => {}
        }
        if c.checked_mul(h)?.checked_mul(w)? > SMALL {
            return None;
        }
    }
    let feature = c * h * w;
    let mut width = feature;
    for layer in &spec.temporal {
        if let TemporalLayerSpec::Lstm { name, hidden } = layer {
            files.push((format!("{name}_W_xc.npy"), vec![4 * hidden, width]));
            files.push((format!("{name}_b_c.npy"), vec![4 * hidden]));
            files.push((format!("{name}_W_hc.npy"), vec![4 * hidden, *hidden]));
            width = *hidden;
        }
    }
    // A captioner's language part (spec/caption.md): its classifier reads LSTM2.
    let mut classifier_inputs = width;
    if let Some(c) = &spec.captioner {
        let (h1, h2) = (c.lstm1_hidden, c.lstm2_hidden);
        files.push((
            format!("{}_w.npy", c.embedding),
            vec![spec.labels.len(), c.dim],
        ));
        files.push((format!("{}_W_xc.npy", c.lstm1), vec![4 * h1, c.dim]));
        files.push((format!("{}_b_c.npy", c.lstm1), vec![4 * h1]));
        files.push((format!("{}_W_hc.npy", c.lstm1), vec![4 * h1, h1]));
        files.push((format!("{}_W_xc.npy", c.lstm2), vec![4 * h2, h1]));
        files.push((format!("{}_W_xc_static.npy", c.lstm2), vec![4 * h2, width]));
        files.push((format!("{}_b_c.npy", c.lstm2), vec![4 * h2]));
        files.push((format!("{}_W_hc.npy", c.lstm2), vec![4 * h2, h2]));
        classifier_inputs = h2;
    }
    let mut heads = vec![(&spec.classifier, classifier_inputs)];
    heads.extend(spec.frame_classifier.as_ref().map(|head| (head, feature)));
    for (head, inputs) in heads {
        files.push((format!("{}_w.npy", head.name), vec![head.out, inputs]));
        if head.bias {
            files.push((format!("{}_b.npy", head.name), vec![head.out]));
        }
    }
    let total = files.iter().try_fold(0usize, |total, (_, shape)| {
        total.checked_add(shape.iter().try_fold(1usize, |n, &s| n.checked_mul(s))?)
    })?;
    (total <= SMALL).then_some(files)
}

/// Small values of both signs, different per file.
fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i * 7 + seed * 13) % 11) as f32 - 4.0) * 0.125)
        .collect()
}

/// Runs a loaded model on two frames when it is small: the pipeline must not panic on any
/// model the loader accepts.
fn run(model: &Model) {
    let blob_values: usize = model
        .frame
        .blob_shapes
        .iter()
        .map(|s| s[0] * s[1] * s[2])
        .sum();
    let temporal_small = model.spec.temporal.iter().all(|layer| match layer {
        TemporalLayerSpec::Lstm { hidden, .. } => *hidden <= 256,
        TemporalLayerSpec::MeanPool => true,
    }) && model
        .spec
        .captioner
        .as_ref()
        .is_none_or(|c| c.lstm1_hidden <= 256 && c.lstm2_hidden <= 256 && c.max_words <= 64);
    if blob_values > SMALL || !temporal_small {
        return;
    }
    let frames = 2;
    let in_len: usize = model.frame.input_shape().iter().product();
    let clip = values(frames * in_len, 1);
    let execution = Execution {
        threads: 1,
        ..Execution::default()
    };
    let fwd = forward_clip(model, &clip, frames, &execution, Some(0), &|_| {});
    if let Some(captioner) = &model.captioner {
        // The model's own caption, and its first word grounded when it has one.
        let caption = captioner.decode(&model.classifier.fc, &fwd.temporal.output);
        if let Some(&word) = caption.first() {
            let options = CaptionOptions {
                method: Method::Cebr,
                word,
                layer: "data".to_string(),
                lstm_rule: LstmEbRule::Original,
            };
            match ground_caption(model, &fwd, &caption, &options, &|_| {}) {
                Ok(_) | Err(Error::Overflow { .. }) => {}
                Err(error) => panic!("ground_caption failed: {error}"),
            }
        }
        return;
    }
    let mut methods = vec![Method::Cebr, Method::Bpr];
    if model.frame_classifier.is_some() {
        methods.push(Method::Ceb);
    }
    for method in methods {
        let options = Options {
            method,
            class: 0,
            layer: "data".to_string(),
            prior: Prior::All,
            normalization: Normalization::Paper,
            lstm_rule: LstmEbRule::Original,
        };
        // Class 0 and the layer "data" exist: the one error left is a fuzzed weight's
        // finite values overflowing float32, which ebr reports.
        match ground(model, &fwd, &options, &|_| {}) {
            Ok(_) | Err(Error::Overflow { .. }) => {}
            Err(error) => panic!("ground failed: {error}"),
        }
    }
}

/// `Model::load` on a fuzzed model.json and one fuzzed parameter file, in a temporary
/// directory; a model that loads is then run (forward pass and cEB-R, BP-R and, with a frame
/// classifier, cEB) on a two-frame clip, when it is small.
///
/// Input: the model.json text, a 0xFF byte (never in UTF-8 text), a byte k, then the bytes of
/// one parameter file. When the text parses (`ModelSpec::parse`), every parameter file it
/// implies is written with a valid array of its shape (if they hold at most 2^16 values in
/// all) and the k-th (mod their number) is replaced by the fuzzed bytes, so that the loader's
/// checks of every layer, the LSTM and the heads are reached. Without 0xFF, the whole input
/// is the text and there are no parameter files.
pub fn model(input: &[u8]) {
    let split = input.iter().position(|&b| b == 0xFF).unwrap_or(input.len());
    let (text, rest) = input.split_at(split);
    let (pick, weight) = match rest.get(1..) {
        Some([k, weight @ ..]) => (Some(*k as usize), weight),
        _ => (None, &[][..]),
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json = dir.path().join("model.json");
    std::fs::write(&json, text).expect("model.json is written");
    if let (Ok(text), Some(k)) = (std::str::from_utf8(text), pick) {
        if let Ok(spec) = ModelSpec::parse(&json, text) {
            let write = |name: &str, bytes: &[u8]| {
                // A name the loader refuses (a path separator) is not written.
                if !name.contains(['/', '\\']) {
                    std::fs::write(dir.path().join(name), bytes).expect("a file is written");
                }
            };
            match parameter_files(&spec) {
                Some(files) if !files.is_empty() => {
                    for (i, (name, shape)) in files.iter().enumerate() {
                        if i == k % files.len() {
                            write(name, weight);
                        } else if !name.contains(['/', '\\']) {
                            let len = shape.iter().product();
                            let tensor = Tensor::new(shape.clone(), values(len, i));
                            write_npy(&dir.path().join(name), &tensor).expect("a file is written");
                        }
                    }
                }
                _ => {
                    // The first parameter file gets the fuzzed bytes.
                    let first = spec.frame.iter().find_map(|layer| match layer {
                        FrameLayerSpec::Conv { name, .. } | FrameLayerSpec::Fc { name, .. } => {
                            Some(name.clone())
                        }
                        _ => None,
                    });
                    if let Some(name) = first {
                        write(&format!("{name}_w.npy"), weight);
                    }
                }
            }
        }
    }
    if let Ok(model) = Model::load(dir.path()) {
        run(&model);
    }
}

/// `load_clip` on a directory holding the fuzzed bytes as a frame image, with a fixed small
/// model input.
///
/// Input: one byte of settings, then the image's bytes. Settings, bit by bit: 0-1 the file
/// name's ending (png, jpg, jpeg, PNG); 2 resize to 12x10 before the crop (else frames must be
/// at least the crop, 8x6); 3 a 1-channel (gray) model; 4 a second frame, a copy of the first;
/// 5 a third frame, a valid 9x7 PNG (a size mismatch unless the image is 9x7).
pub fn frames(input: &[u8]) {
    let Some((&settings, image)) = input.split_first() else {
        return;
    };
    let ending = ["png", "jpg", "jpeg", "PNG"][(settings & 3) as usize];
    let channels = if settings & 8 != 0 { 1 } else { 3 };
    let spec = InputSpec {
        channels,
        height: 8,
        width: 6,
        resize: (settings & 4 != 0).then_some([12, 10]),
        scale: 255.0,
        channel_order: ChannelOrder::Bgr,
        mean: vec![100.0; channels],
        std: vec![50.0; channels],
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join(format!("a.{ending}")), image).expect("a frame is written");
    if settings & 16 != 0 {
        std::fs::write(dir.path().join(format!("b.{ending}")), image).expect("a frame is written");
    }
    if settings & 32 != 0 {
        image::RgbImage::new(7, 9)
            .save(dir.path().join("c.png"))
            .expect("a frame is written");
    }
    if let Ok(clip) = load_clip(dir.path(), &spec) {
        assert_eq!(clip.data.len(), clip.frames * channels * 8 * 6);
    }
}

/// The tiny CNN-LSTM's prototxt mapped onto ebr's model (fixtures/caffe-models/), once per
/// run: the layers whose weights a fuzzed caffemodel is asked for.
fn tiny_lstm_mapped() -> &'static (ModelSpec, Vec<ebr::caffe::graph::ParamLayer>) {
    static MAPPED: OnceLock<(ModelSpec, Vec<ebr::caffe::graph::ParamLayer>)> = OnceLock::new();
    MAPPED.get_or_init(|| {
        // The tests' manifest directory is the repository, the fuzz targets' is fuzz/.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = if manifest.join("fixtures/caffe-models").exists() {
            manifest.join("fixtures/caffe-models")
        } else {
            manifest.join("../fixtures/caffe-models")
        };
        let prototxt = root.join("tiny_cnn_lstm/deploy.prototxt");
        let net = ebr::caffe::read_prototxt(&prototxt).expect("the fixture's prototxt reads");
        let mapped = ebr::caffe::graph::to_spec(&net).expect("the fixture's net maps");
        let imported = ebr::caffe::import(
            &prototxt,
            &ebr::caffe::WeightSource::Missing,
            &ebr::caffe::InputOptions::default(),
            None,
        )
        .expect("the fixture's net imports");
        (imported.spec, mapped.params)
    })
}

/// The caffemodel reader on arbitrary bytes (`parse_caffemodel`), its listing, and the
/// matching of its blobs to the tiny CNN-LSTM's layers: whatever `weights_for` accepts must
/// build the model (every shape and value it let through is one the loader accepts).
pub fn caffemodel(bytes: &[u8]) {
    let Ok(net) = ebr::caffe::parse_caffemodel(Path::new("fuzz.caffemodel"), bytes) else {
        return;
    };
    let lines = ebr::caffe::list_layers(&net);
    assert_eq!(lines.len(), net.layers.len());
    let (spec, params) = tiny_lstm_mapped();
    if let Ok(tensors) = ebr::caffe::weights::weights_for(params, net) {
        if let Err(error) = Model::from_parameters(spec, tensors, Path::new("fuzz")) {
            panic!("weights_for accepted blobs the model refuses: {error}");
        }
    }
}

/// The prototxt reader and the mapping onto ebr's model on arbitrary text (`import` without
/// weights, from a file): no panic, and an imported model's model.json reads back as the
/// same description.
pub fn prototxt(bytes: &[u8]) {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
    let path = dir.path().join("fuzz.prototxt");
    std::fs::write(&path, bytes).expect("the file is written");
    let imported = ebr::caffe::import(
        &path,
        &ebr::caffe::WeightSource::Missing,
        &ebr::caffe::InputOptions::default(),
        None,
    );
    if let Ok(imported) = imported {
        let text = imported.spec.to_json().to_string();
        let again = ModelSpec::parse(Path::new("model.json"), &text).expect("model.json reads");
        assert_eq!(again, imported.spec);
    }
}
