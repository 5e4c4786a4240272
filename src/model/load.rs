//! Loading a model directory: model.json (src/model/schema.rs), the shape of every blob, and
//! every parameter file with its expected shape. spec/model.md

use std::collections::HashSet;
use std::path::Path;

use super::frame_net::{frame_len, FrameLayer, FrameNet};
use super::schema::{FcSpec, FrameLayerSpec, ModelSpec, TemporalLayerSpec};
use super::temporal::TemporalLayer;
use super::{Head, Model};
use crate::error::Error;
use crate::layers::{AvgPool, Conv, ConvGeometry, Fc, Lstm, MaxPool, PoolGeometry};
use crate::npy::read_tensor_shaped;

impl Model {
    /// Loads the model directory `dir`: its model.json and the parameter files it names.
    pub fn load(dir: &Path) -> Result<Model, Error> {
        let json = super::schema::model_json_path(dir);
        if !dir.is_dir() {
            return Err(Error::Model {
                path: dir.to_path_buf(),
                reason:
                    "is not a directory (a model is a directory holding model.json and .npy files)"
                        .to_string(),
            });
        }
        let spec = ModelSpec::read(&json)?;
        build(dir, &json, &spec)
    }
}

fn model_error(json: &Path, reason: String) -> Error {
    Error::Model {
        path: json.to_path_buf(),
        reason,
    }
}

fn build(dir: &Path, json: &Path, spec: &ModelSpec) -> Result<Model, Error> {
    check_unique_names(json, spec)?;
    let input = [spec.input.channels, spec.input.height, spec.input.width];
    let mut shape = input;
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
                let weight = read_tensor_shaped(
                    &dir.join(format!("{name}_w.npy")),
                    &format!("{name} weight [out, in, kh, kw]"),
                    &[*out, c, *kernel, *kernel],
                )?;
                let b = read_bias(dir, name, *bias, *out)?;
                let out_shape = [*out, g.out_height(), g.out_width()];
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
                let fc = load_fc(dir, name, *out, frame_len(shape), *bias)?;
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
                let w_xc = read_tensor_shaped(
                    &dir.join(format!("{name}_W_xc.npy")),
                    &format!("{name} input weight W_xc [4H, D]"),
                    &[4 * hidden, width],
                )?;
                let b_c = read_tensor_shaped(
                    &dir.join(format!("{name}_b_c.npy")),
                    &format!("{name} gate bias b_c [4H]"),
                    &[4 * hidden],
                )?;
                let w_hc = read_tensor_shaped(
                    &dir.join(format!("{name}_W_hc.npy")),
                    &format!("{name} recurrent weight W_hc [4H, H]"),
                    &[4 * hidden, *hidden],
                )?;
                temporal.push(TemporalLayer::Lstm {
                    name: name.clone(),
                    lstm: Lstm::new(width, *hidden, w_xc.data, b_c.data, w_hc.data),
                });
                width = *hidden;
            }
            TemporalLayerSpec::MeanPool => temporal.push(TemporalLayer::MeanPool),
        }
    }
    let classifier = load_head(dir, &spec.classifier, width)?;
    let frame_classifier = match &spec.frame_classifier {
        Some(head) => Some(load_head(dir, head, frame.feature_len())?),
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
        labels: spec.labels.clone(),
    })
}

/// Layer names are how users and files refer to layers: they must be unique, and "data" is
/// the input's.
fn check_unique_names(json: &Path, spec: &ModelSpec) -> Result<(), Error> {
    let mut names: Vec<&str> = Vec::new();
    for layer in &spec.frame {
        match layer {
            FrameLayerSpec::Conv { name, .. } | FrameLayerSpec::Fc { name, .. } => names.push(name),
            FrameLayerSpec::MaxPool {
                name: Some(name), ..
            }
            | FrameLayerSpec::AvgPool {
                name: Some(name), ..
            } => names.push(name),
            _ => {}
        }
    }
    for layer in &spec.temporal {
        if let TemporalLayerSpec::Lstm { name, .. } = layer {
            names.push(name);
        }
    }
    names.push(&spec.classifier.name);
    if let Some(head) = &spec.frame_classifier {
        names.push(&head.name);
    }
    let mut seen = HashSet::new();
    for name in names {
        if name == "data" {
            return Err(model_error(
                json,
                "the layer name \"data\" is reserved for the input".to_string(),
            ));
        }
        if name.is_empty() || name.contains(['/', '\\']) {
            return Err(model_error(
                json,
                format!(
                    "the layer name \"{name}\" must be non-empty and contain no path separator"
                ),
            ));
        }
        if !seen.insert(name) {
            return Err(model_error(
                json,
                format!("the layer name \"{name}\" is used twice"),
            ));
        }
    }
    Ok(())
}

fn read_bias(dir: &Path, name: &str, bias: bool, out: usize) -> Result<Option<Vec<f32>>, Error> {
    if !bias {
        return Ok(None);
    }
    let b = read_tensor_shaped(
        &dir.join(format!("{name}_b.npy")),
        &format!("{name} bias [out]"),
        &[out],
    )?;
    Ok(Some(b.data))
}

fn load_fc(dir: &Path, name: &str, out: usize, inputs: usize, bias: bool) -> Result<Fc, Error> {
    let w = read_tensor_shaped(
        &dir.join(format!("{name}_w.npy")),
        &format!("{name} weight [out, in]"),
        &[out, inputs],
    )?;
    let b = read_bias(dir, name, bias, out)?;
    Ok(Fc::new(inputs, out, w.data, b))
}

fn load_head(dir: &Path, head: &FcSpec, inputs: usize) -> Result<Head, Error> {
    Ok(Head {
        name: head.name.clone(),
        fc: load_fc(dir, &head.name, head.out, inputs, head.bias)?,
    })
}
