//! Loading a model directory: model.json (src/model/schema.rs), the shape of every blob, and
//! every parameter file with its expected shape. spec/model.md

use std::collections::HashMap;
use std::path::Path;

use super::captioner::Captioner;
use super::frame_net::{frame_len, FrameLayer, FrameNet};
use super::schema::{CaptionerSpec, FcSpec, FrameLayerSpec, ModelSpec, TemporalLayerSpec};
use super::temporal::TemporalLayer;
use super::{Head, Model};
use crate::budget::Budget;
use crate::error::Error;
use crate::layers::{AvgPool, Conv, ConvGeometry, Fc, Lstm, MaxPool, PoolGeometry};
use crate::npy::read_npy_shaped_within;
use crate::rng::Rng;
use crate::tensor::{shape_string, Tensor};

/// Where a model's parameters come from: its directory's .npy files, or a generator.
/// `param(file, field, shape)` returns the tensor of `file` (e.g. "conv1_w.npy"), which must
/// have `shape`; `field` says what it is for, for messages.
type ParamSource<'a> = dyn FnMut(&str, &str, &[usize]) -> Result<Tensor, Error> + 'a;

impl Model {
    /// Loads the model directory `dir`: its model.json and the parameter files it names,
    /// within the default memory budget.
    pub fn load(dir: &Path) -> Result<Model, Error> {
        Model::load_within(dir, Budget::DEFAULT)
    }

    /// As [`Model::load`], refusing a model whose parameters, one of whose parameter files or
    /// one frame's blobs would take more than `budget`, before anything is read.
    pub fn load_within(dir: &Path, budget: Budget) -> Result<Model, Error> {
        let json = super::schema::model_json_path(dir);
        if !dir.is_dir() {
            let reason = if dir.exists() {
                "is not a directory (a model is a directory holding model.json and .npy files)"
            } else {
                "does not exist (a model is a directory holding model.json and .npy files)"
            };
            return Err(Error::Model {
                path: dir.to_path_buf(),
                reason: reason.to_string(),
            });
        }
        let spec = ModelSpec::read(&json)?;
        let mut notes = Vec::new();
        let mut from_files = |file: &str, field: &str, shape: &[usize]| {
            let path = dir.join(file);
            let array = read_npy_shaped_within(&path, field, shape, budget.bytes)?;
            // A NaN or an infinity would spread through every map: refused, as in a clip.
            if let Some(index) = array.tensor.data.iter().position(|v| !v.is_finite()) {
                return Err(Error::Model {
                    path,
                    reason: format!(
                        "{field}: value {} at flat index {index} is not finite",
                        array.tensor.data[index]
                    ),
                });
            }
            notes.extend(array.note(&path));
            Ok(array.tensor)
        };
        let mut model = build(dir, &json, &spec, &mut from_files, budget)?;
        model.notes = notes;
        Ok(model)
    }

    /// A model of `spec` whose parameters are given in memory, keyed by file name
    /// ("conv1_w.npy"), each of the shape the loader expects; `dir` is only recorded. For
    /// importers (spec/caffe-import.md, CAFFE-11), which then write it with `Model::save`.
    pub fn from_parameters(
        spec: &ModelSpec,
        mut parameters: HashMap<String, Tensor>,
        dir: &Path,
    ) -> Result<Model, Error> {
        let mut take = |file: &str, field: &str, shape: &[usize]| match parameters.remove(file) {
            Some(tensor) if tensor.shape == shape => Ok(tensor),
            Some(tensor) => Err(Error::Shape {
                path: dir.join(file),
                field: field.to_string(),
                expected: shape.to_vec(),
                found: tensor.shape,
            }),
            None => Err(Error::Model {
                path: dir.join(file),
                reason: format!("{field}: no values given"),
            }),
        };
        build(
            dir,
            &super::schema::model_json_path(dir),
            spec,
            &mut take,
            Budget::DEFAULT,
        )
    }

    /// A model of `spec` with every parameter 0: its architecture (shapes, parameter counts)
    /// for `ebr inspect` of a directory that holds model.json and no weights
    /// (spec/caffe-import.md, CAFFE-13). Zeroed pages are not touched until written.
    pub fn architecture(spec: &ModelSpec, dir: &Path) -> Result<Model, Error> {
        let mut zeros = |_file: &str, _field: &str, shape: &[usize]| {
            let len = shape.iter().product();
            Ok(Tensor::new(shape.to_vec(), vec![0.0f32; len]))
        };
        let json = super::schema::model_json_path(dir);
        build(dir, &json, spec, &mut zeros, Budget::DEFAULT)
    }

    /// A model of `spec` with random weights: He initialisation (normal, variance 2 / fan_in)
    /// for every weight, zero biases; `dir` is only recorded. For benchmarks and tests.
    pub fn random(spec: &ModelSpec, seed: u64, dir: &Path) -> Result<Model, Error> {
        let mut rng = Rng::new(seed);
        let mut generate = |_file: &str, _field: &str, shape: &[usize]| {
            let len: usize = shape.iter().product();
            let data = if shape.len() == 1 {
                vec![0.0f32; len]
            } else {
                let fan_in: usize = shape[1..].iter().product();
                let std = (2.0 / fan_in.max(1) as f64).sqrt();
                (0..len).map(|_| (rng.normal() * std) as f32).collect()
            };
            Ok(Tensor::new(shape.to_vec(), data))
        };
        build(
            dir,
            &super::schema::model_json_path(dir),
            spec,
            &mut generate,
            Budget::DEFAULT,
        )
    }
}

fn model_error(json: &Path, reason: String) -> Error {
    Error::Model {
        path: json.to_path_buf(),
        reason,
    }
}

fn build(
    dir: &Path,
    json: &Path,
    spec: &ModelSpec,
    source: &mut ParamSource,
    budget: Budget,
) -> Result<Model, Error> {
    // Every parameter's size is checked against the budget (the parameters together at most
    // budget.values()) before it is read or made.
    let mut parameters = 0usize;
    let mut param = |file: &str, field: &str, shape: &[usize]| {
        let len = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        match len.and_then(|n| parameters.checked_add(n)) {
            Some(total) if total <= budget.values() => {
                parameters = total;
                source(file, field, shape)
            }
            _ => Err(model_error(
                json,
                format!(
                    "{field} of shape {} takes the model past {} parameters ({} of float32), more than ebr accepts",
                    shape_string(shape),
                    budget.values(),
                    budget.describe()
                ),
            )),
        }
    };
    let param = &mut param;
    check_unique_names(json, spec)?;
    let input = [spec.input.channels, spec.input.height, spec.input.width];
    let mut shape = input;
    // The input's values count towards the budget; each layer's output is added (and checked)
    // before the layer's parameters are read.
    let mut blob_values = 0;
    check_blob(&mut blob_values, input, "the input", budget)
        .map_err(|reason| model_error(json, format!("input: {reason}")))?;
    // Each frame is resized before the crop (spec/preprocess.md, PRE-2): that frame, C x Hr x
    // Wr float32 values, is held too, and checked against the same budget.
    if let Some([rh, rw]) = spec.input.resize {
        check_blob(
            &mut 0,
            [spec.input.channels, rh, rw],
            "the resized frame",
            budget,
        )
        .map_err(|reason| model_error(json, format!("input.resize: {reason}")))?;
    }
    let mut layers = Vec::with_capacity(spec.frame.len());
    let mut output_shapes = Vec::with_capacity(spec.frame.len());
    for (i, layer) in spec.frame.iter().enumerate() {
        let at = |reason: String| model_error(json, format!("frame[{i}]: {reason}"));
        let [c, h, w] = shape;
        let (built, out) = match layer {
            FrameLayerSpec::Conv {
                name,
                out,
                kernel,
                stride,
                pad,
                bias,
            } => {
                let g = ConvGeometry::new(c, h, w, *out, *kernel, *stride, *pad)
                    .map_err(|e| at(format!("conv \"{name}\" on a {c}x{h}x{w} input: {e}")))?;
                let out_shape = [*out, g.out_height(), g.out_width()];
                check_blob(&mut blob_values, out_shape, "its output", budget).map_err(at)?;
                let weight = param(
                    &format!("{name}_w.npy"),
                    &format!("{name} weight [out, in, kh, kw]"),
                    &[*out, c, *kernel, *kernel],
                )?;
                let b = read_bias(param, name, *bias, *out)?;
                (
                    FrameLayer::Conv {
                        name: name.clone(),
                        conv: Conv::new(g, weight.data, b),
                    },
                    out_shape,
                )
            }
            FrameLayerSpec::Relu => (FrameLayer::Relu, shape),
            FrameLayerSpec::Dropout => (FrameLayer::Dropout, shape),
            FrameLayerSpec::MaxPool {
                name,
                kernel,
                stride,
                pad,
            }
            | FrameLayerSpec::AvgPool {
                name,
                kernel,
                stride,
                pad,
            } => {
                let g = PoolGeometry::new(c, h, w, *kernel, *stride, *pad).map_err(|e| {
                    at(format!(
                        "{} on a {c}x{h}x{w} input: {e}",
                        name.as_deref().unwrap_or("pooling")
                    ))
                })?;
                let out_shape = [c, g.out_height(), g.out_width()];
                check_blob(&mut blob_values, out_shape, "its output", budget).map_err(at)?;
                let built = if matches!(layer, FrameLayerSpec::MaxPool { .. }) {
                    FrameLayer::MaxPool {
                        name: name.clone(),
                        pool: MaxPool { geometry: g },
                    }
                } else {
                    FrameLayer::AvgPool {
                        name: name.clone(),
                        pool: AvgPool { geometry: g },
                    }
                };
                (built, out_shape)
            }
            FrameLayerSpec::Fc { name, out, bias } => {
                check_blob(&mut blob_values, [*out, 1, 1], "its output", budget).map_err(at)?;
                let fc = load_fc(param, name, *out, frame_len(shape), *bias)?;
                (
                    FrameLayer::Fc {
                        name: name.clone(),
                        fc,
                    },
                    [*out, 1, 1],
                )
            }
        };
        layers.push(built);
        output_shapes.push(out);
        shape = out;
    }
    if !layers.iter().any(|l| !l.in_place()) {
        return Err(model_error(
            json,
            "frame: needs at least one layer with weights or pooling (the feature blob)"
                .to_string(),
        ));
    }
    let frame = FrameNet::new(input, layers, &output_shapes);

    let mut width = frame.feature_len();
    let mut temporal = Vec::with_capacity(spec.temporal.len());
    for layer in &spec.temporal {
        match layer {
            TemporalLayerSpec::Lstm { name, hidden } => {
                temporal.push(TemporalLayer::Lstm {
                    name: name.clone(),
                    lstm: load_lstm(param, name, width, *hidden)?,
                });
                width = *hidden;
            }
            TemporalLayerSpec::MeanPool => temporal.push(TemporalLayer::MeanPool),
        }
    }
    // A captioner's language part takes the temporal output (the mean feature) as its static
    // input, and its classifier reads LSTM2's output (spec/caption.md).
    let captioner = match &spec.captioner {
        Some(c) => Some(load_captioner(param, c, &spec.labels, width)?),
        None => None,
    };
    let classifier_inputs = captioner.as_ref().map_or(width, |c| c.lstm2.hidden);
    let classifier = load_head(param, &spec.classifier, classifier_inputs)?;
    let frame_classifier = match &spec.frame_classifier {
        Some(head) => Some(load_head(param, head, frame.feature_len())?),
        None => None,
    };
    Ok(Model {
        dir: dir.to_path_buf(),
        name: spec.name.clone(),
        input: spec.input.clone(),
        frame,
        temporal,
        classifier,
        frame_classifier,
        captioner,
        labels: spec.labels.clone(),
        spec: spec.clone(),
        notes: Vec::new(),
    })
}

/// Adds a blob of `shape` (`what`: "the input", "its output") to `blob_values`, the values one
/// frame's blobs hold, or says why it does not fit in `budget` (its values). A convolution's
/// padding can make a blob larger than its input (each size up to MAX_SIZE more), so C*H*W
/// is multiplied with checks.
fn check_blob(
    blob_values: &mut usize,
    shape: [usize; 3],
    what: &str,
    budget: Budget,
) -> Result<(), String> {
    let total = shape
        .iter()
        .try_fold(1usize, |n, &size| n.checked_mul(size))
        .and_then(|len| blob_values.checked_add(len));
    match total {
        Some(total) if total <= budget.values() => {
            *blob_values = total;
            Ok(())
        }
        _ => Err(format!(
            "{what} {}x{}x{} takes one frame's blobs past {} values ({} of float32), more than ebr accepts",
            shape[0],
            shape[1],
            shape[2],
            budget.values(),
            budget.describe()
        )),
    }
}

/// Layer names are how users and files refer to layers: they must be unique, and "data" is
/// the input's.
fn check_unique_names(json: &Path, spec: &ModelSpec) -> Result<(), Error> {
    // (name, where it is in model.json)
    let mut names: Vec<(&str, String)> = Vec::new();
    for (i, layer) in spec.frame.iter().enumerate() {
        match layer {
            FrameLayerSpec::Conv { name, .. } | FrameLayerSpec::Fc { name, .. } => {
                names.push((name, format!("frame[{i}]")))
            }
            FrameLayerSpec::MaxPool {
                name: Some(name), ..
            }
            | FrameLayerSpec::AvgPool {
                name: Some(name), ..
            } => names.push((name, format!("frame[{i}]"))),
            _ => {}
        }
    }
    for (i, layer) in spec.temporal.iter().enumerate() {
        if let TemporalLayerSpec::Lstm { name, .. } = layer {
            names.push((name, format!("temporal[{i}]")));
        }
    }
    if let Some(c) = &spec.captioner {
        for name in [&c.embedding, &c.lstm1, &c.lstm2] {
            names.push((name, "captioner".to_string()));
        }
    }
    names.push((&spec.classifier.name, "classifier".to_string()));
    if let Some(head) = &spec.frame_classifier {
        names.push((&head.name, "frame_classifier".to_string()));
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (name, at) in &names {
        if *name == "data" {
            return Err(model_error(
                json,
                format!("{at}: the layer name \"data\" is reserved for the input"),
            ));
        }
        if name.is_empty() || name.contains(['/', '\\']) {
            return Err(model_error(
                json,
                format!("{at}: the layer name \"{name}\" must be non-empty and contain no path separator"),
            ));
        }
        if let Some(first) = seen.insert(name, at) {
            return Err(model_error(
                json,
                format!("the layer name \"{name}\" is used twice: {first} and {at}"),
            ));
        }
    }
    Ok(())
}

fn read_bias(
    param: &mut ParamSource,
    name: &str,
    bias: bool,
    out: usize,
) -> Result<Option<Vec<f32>>, Error> {
    if !bias {
        return Ok(None);
    }
    let b = param(
        &format!("{name}_b.npy"),
        &format!("{name} bias [out]"),
        &[out],
    )?;
    Ok(Some(b.data))
}

fn load_fc(
    param: &mut ParamSource,
    name: &str,
    out: usize,
    inputs: usize,
    bias: bool,
) -> Result<Fc, Error> {
    let w = param(
        &format!("{name}_w.npy"),
        &format!("{name} weight [out, in]"),
        &[out, inputs],
    )?;
    let b = read_bias(param, name, bias, out)?;
    Ok(Fc::new(inputs, out, w.data, b))
}

/// An LSTM's three parameter files: W_xc (4J, D), b_c (4J), W_hc (4J, J).
fn load_lstm(
    param: &mut ParamSource,
    name: &str,
    inputs: usize,
    hidden: usize,
) -> Result<Lstm, Error> {
    let w_xc = param(
        &format!("{name}_W_xc.npy"),
        &format!("{name} input weight W_xc [4H, D]"),
        &[4 * hidden, inputs],
    )?;
    let b_c = param(
        &format!("{name}_b_c.npy"),
        &format!("{name} gate bias b_c [4H]"),
        &[4 * hidden],
    )?;
    let w_hc = param(
        &format!("{name}_W_hc.npy"),
        &format!("{name} recurrent weight W_hc [4H, H]"),
        &[4 * hidden, hidden],
    )?;
    Ok(Lstm::new(inputs, hidden, w_xc.data, b_c.data, w_hc.data))
}

/// The captioner's embedding, LSTM1 and LSTM2; LSTM2's input weight is W_xc beside
/// W_xc_static, column-wise: one LSTM over u = [h1 ; v] (CAP-4).
fn load_captioner(
    param: &mut ParamSource,
    spec: &CaptionerSpec,
    words: &[String],
    static_width: usize,
) -> Result<Captioner, Error> {
    let vocabulary = words.len();
    let embedding = param(
        &format!("{}_w.npy", spec.embedding),
        &format!("{} embedding [V, E]", spec.embedding),
        &[vocabulary, spec.dim],
    )?;
    let lstm1 = load_lstm(param, &spec.lstm1, spec.dim, spec.lstm1_hidden)?;
    let (h1, h2) = (spec.lstm1_hidden, spec.lstm2_hidden);
    let name = &spec.lstm2;
    let w_xc = param(
        &format!("{name}_W_xc.npy"),
        &format!("{name} input weight W_xc [4H, H1]"),
        &[4 * h2, h1],
    )?;
    let w_static = param(
        &format!("{name}_W_xc_static.npy"),
        &format!("{name} static input weight W_xc_static [4H, D_v]"),
        &[4 * h2, static_width],
    )?;
    let b_c = param(
        &format!("{name}_b_c.npy"),
        &format!("{name} gate bias b_c [4H]"),
        &[4 * h2],
    )?;
    let w_hc = param(
        &format!("{name}_W_hc.npy"),
        &format!("{name} recurrent weight W_hc [4H, H]"),
        &[4 * h2, h2],
    )?;
    // [W_xc | W_xc_static]: (4J2, J1 + D_v), row by row
    let mut w_u = Vec::with_capacity(4 * h2 * (h1 + static_width));
    for r in 0..4 * h2 {
        w_u.extend_from_slice(&w_xc.data[r * h1..(r + 1) * h1]);
        w_u.extend_from_slice(&w_static.data[r * static_width..(r + 1) * static_width]);
    }
    Ok(Captioner {
        words: words.to_vec(),
        embed_name: spec.embedding.clone(),
        embedding: embedding.data,
        dim: spec.dim,
        lstm1_name: spec.lstm1.clone(),
        lstm1,
        lstm2_name: spec.lstm2.clone(),
        lstm2: Lstm::new(h1 + static_width, h2, w_u, b_c.data, w_hc.data),
        static_width,
        max_words: spec.max_words,
    })
}

fn load_head(param: &mut ParamSource, head: &FcSpec, inputs: usize) -> Result<Head, Error> {
    Ok(Head {
        name: head.name.clone(),
        fc: load_fc(param, &head.name, head.out, inputs, head.bias)?,
    })
}
