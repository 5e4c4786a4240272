//! A prototxt's text-format tree (src/caffe/text.rs) read into a [`Net`]: the fields of
//! caffe.proto that ebr uses, by name. spec/caffe-import.md (CAFFE-2, CAFFE-4)

use super::net::{
    v1_type_by_identifier, ConvParam, InnerProductParam, Layer, Net, NetInput, Phase, PoolMethod,
    PoolParam, RecurrentParam, ReshapeParam, StateRule,
};
use super::text::{parse_text, Position, Scalar, TextError, TextField, TextMessage, TextValue};

fn error(at: Position, reason: String) -> TextError {
    TextError { at, reason }
}

fn scalar(field: &TextField) -> Result<&Scalar, TextError> {
    match &field.value {
        TextValue::Scalar(s) => Ok(s),
        TextValue::Message(_) => Err(error(
            field.at,
            format!("\"{}\" must be a value, found a message", field.name),
        )),
    }
}

fn message(field: &TextField) -> Result<&TextMessage, TextError> {
    match &field.value {
        TextValue::Message(m) => Ok(m),
        TextValue::Scalar(_) => Err(error(
            field.at,
            format!(
                "\"{}\" must be a message {{ ... }}, found a value",
                field.name
            ),
        )),
    }
}

fn string(field: &TextField) -> Result<String, TextError> {
    match scalar(field)? {
        Scalar::Str(s) => Ok(s.clone()),
        _ => Err(error(
            field.at,
            format!("\"{}\" must be a quoted string", field.name),
        )),
    }
}

fn integer(field: &TextField) -> Result<i64, TextError> {
    let text = match scalar(field)? {
        Scalar::Number(n) => n.as_str(),
        _ => "",
    };
    let parsed = if let Some(hex) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else {
        text.parse::<i64>().ok()
    };
    parsed.ok_or_else(|| {
        error(
            field.at,
            format!("\"{}\" must be a whole number", field.name),
        )
    })
}

fn unsigned(field: &TextField) -> Result<u64, TextError> {
    u64::try_from(integer(field)?)
        .map_err(|_| error(field.at, format!("\"{}\" must not be negative", field.name)))
}

fn float(field: &TextField) -> Result<f32, TextError> {
    let value = match scalar(field)? {
        Scalar::Number(n) => n.trim_end_matches(['f', 'F']).parse::<f32>().ok(),
        Scalar::Identifier(w) => match w.to_ascii_lowercase().as_str() {
            "inf" | "infinity" => Some(f32::INFINITY),
            "nan" => Some(f32::NAN),
            _ => None,
        },
        Scalar::Str(_) => None,
    };
    value.ok_or_else(|| error(field.at, format!("\"{}\" must be a number", field.name)))
}

fn boolean(field: &TextField) -> Result<bool, TextError> {
    match scalar(field)? {
        Scalar::Identifier(w) if w == "true" || w == "True" || w == "t" => Ok(true),
        Scalar::Identifier(w) if w == "false" || w == "False" || w == "f" => Ok(false),
        Scalar::Number(n) if n == "1" => Ok(true),
        Scalar::Number(n) if n == "0" => Ok(false),
        _ => Err(error(
            field.at,
            format!("\"{}\" must be true or false", field.name),
        )),
    }
}

/// An enum value: its identifier or its number.
fn enumeration<T>(field: &TextField, names: &[(&str, i64, T)]) -> Result<T, TextError>
where
    T: Copy,
{
    let found = match scalar(field)? {
        Scalar::Identifier(w) => names.iter().find(|(n, _, _)| n == w),
        Scalar::Number(_) => {
            let n = integer(field)?;
            names.iter().find(|(_, v, _)| *v == n)
        }
        Scalar::Str(_) => None,
    };
    found.map(|(_, _, t)| *t).ok_or_else(|| {
        let valid: Vec<&str> = names.iter().map(|(n, _, _)| *n).collect();
        error(
            field.at,
            format!("\"{}\" must be one of {}", field.name, valid.join(", ")),
        )
    })
}

fn phase(field: &TextField) -> Result<Phase, TextError> {
    enumeration(
        field,
        &[("TRAIN", 0, Phase::Train), ("TEST", 1, Phase::Test)],
    )
}

/// A `BlobShape`'s dims.
fn blob_shape(field: &TextField) -> Result<Vec<i64>, TextError> {
    let mut dims = Vec::new();
    for f in &message(field)?.fields {
        if f.name == "dim" {
            dims.push(integer(f)?);
        }
    }
    Ok(dims)
}

fn state_rule(field: &TextField) -> Result<StateRule, TextError> {
    let mut rule = StateRule::default();
    for f in &message(field)?.fields {
        match f.name.as_str() {
            "phase" => rule.phase = Some(phase(f)?),
            "min_level" => rule.min_level = Some(integer(f)?),
            "max_level" => rule.max_level = Some(integer(f)?),
            "stage" => rule.stages.push(string(f)?),
            "not_stage" => rule.not_stages.push(string(f)?),
            _ => {}
        }
    }
    Ok(rule)
}

fn conv_param(field: &TextField) -> Result<ConvParam, TextError> {
    let mut p = ConvParam::default();
    for f in &message(field)?.fields {
        match f.name.as_str() {
            "num_output" => p.num_output = Some(unsigned(f)?),
            "bias_term" => p.bias_term = Some(boolean(f)?),
            "pad" => p.pad.push(unsigned(f)?),
            "kernel_size" => p.kernel_size.push(unsigned(f)?),
            "stride" => p.stride.push(unsigned(f)?),
            "dilation" => p.dilation.push(unsigned(f)?),
            "pad_h" => p.pad_h = Some(unsigned(f)?),
            "pad_w" => p.pad_w = Some(unsigned(f)?),
            "kernel_h" => p.kernel_h = Some(unsigned(f)?),
            "kernel_w" => p.kernel_w = Some(unsigned(f)?),
            "stride_h" => p.stride_h = Some(unsigned(f)?),
            "stride_w" => p.stride_w = Some(unsigned(f)?),
            "group" => p.group = Some(unsigned(f)?),
            "axis" => p.axis = Some(integer(f)?),
            _ => {}
        }
    }
    Ok(p)
}

fn pool_param(field: &TextField) -> Result<PoolParam, TextError> {
    let mut p = PoolParam::default();
    for f in &message(field)?.fields {
        match f.name.as_str() {
            "pool" => {
                p.pool = Some(enumeration(
                    f,
                    &[
                        ("MAX", 0, PoolMethod::Max),
                        ("AVE", 1, PoolMethod::Ave),
                        ("STOCHASTIC", 2, PoolMethod::Stochastic),
                    ],
                )?)
            }
            "kernel_size" => p.kernel_size = Some(unsigned(f)?),
            "kernel_h" => p.kernel_h = Some(unsigned(f)?),
            "kernel_w" => p.kernel_w = Some(unsigned(f)?),
            "stride" => p.stride = Some(unsigned(f)?),
            "stride_h" => p.stride_h = Some(unsigned(f)?),
            "stride_w" => p.stride_w = Some(unsigned(f)?),
            "pad" => p.pad = Some(unsigned(f)?),
            "pad_h" => p.pad_h = Some(unsigned(f)?),
            "pad_w" => p.pad_w = Some(unsigned(f)?),
            "global_pooling" => p.global_pooling = Some(boolean(f)?),
            _ => {}
        }
    }
    Ok(p)
}

fn inner_product_param(field: &TextField) -> Result<InnerProductParam, TextError> {
    let mut p = InnerProductParam::default();
    for f in &message(field)?.fields {
        match f.name.as_str() {
            "num_output" => p.num_output = Some(unsigned(f)?),
            "bias_term" => p.bias_term = Some(boolean(f)?),
            "axis" => p.axis = Some(integer(f)?),
            "transpose" => p.transpose = Some(boolean(f)?),
            _ => {}
        }
    }
    Ok(p)
}

fn reshape_param(field: &TextField) -> Result<ReshapeParam, TextError> {
    let mut p = ReshapeParam::default();
    for f in &message(field)?.fields {
        match f.name.as_str() {
            "shape" => p.shape = blob_shape(f)?,
            "axis" => p.axis = Some(integer(f)?),
            "num_axes" => p.num_axes = Some(integer(f)?),
            _ => {}
        }
    }
    Ok(p)
}

fn recurrent_param(field: &TextField) -> Result<RecurrentParam, TextError> {
    let mut p = RecurrentParam::default();
    for f in &message(field)?.fields {
        match f.name.as_str() {
            "num_output" => p.num_output = Some(unsigned(f)?),
            "expose_hidden" => p.expose_hidden = Some(boolean(f)?),
            _ => {}
        }
    }
    Ok(p)
}

/// `dummy_data_param`: its `shape`s, or the legacy num/channels/height/width lists.
fn dummy_shapes(field: &TextField) -> Result<Vec<Vec<i64>>, TextError> {
    let mut shapes = Vec::new();
    let mut legacy: [Vec<i64>; 4] = Default::default();
    for f in &message(field)?.fields {
        match f.name.as_str() {
            "shape" => shapes.push(blob_shape(f)?),
            "num" => legacy[0].push(integer(f)?),
            "channels" => legacy[1].push(integer(f)?),
            "height" => legacy[2].push(integer(f)?),
            "width" => legacy[3].push(integer(f)?),
            _ => {}
        }
    }
    if shapes.is_empty() {
        for i in 0..legacy[0].len() {
            shapes.push(
                legacy
                    .iter()
                    .map(|dims| dims.get(i).copied().unwrap_or(1))
                    .collect(),
            );
        }
    }
    Ok(shapes)
}

/// A `LayerParameter`, or a `V1LayerParameter` (`v1`; its type an enum identifier).
fn layer(field: &TextField, v1: bool) -> Result<Layer, TextError> {
    let mut layer = Layer {
        at: Some(field.at),
        ..Layer::default()
    };
    for f in &message(field)?.fields {
        match f.name.as_str() {
            "name" => layer.name = string(f)?,
            "type" if v1 => {
                let identifier = match scalar(f)? {
                    Scalar::Identifier(w) => w.clone(),
                    _ => String::new(),
                };
                layer.kind = v1_type_by_identifier(&identifier)
                    .ok_or_else(|| {
                        error(
                            f.at,
                            format!("\"type\" is not a V1 layer type: {identifier:?}"),
                        )
                    })?
                    .to_string();
            }
            "type" => layer.kind = string(f)?,
            "bottom" => layer.bottoms.push(string(f)?),
            "top" => layer.tops.push(string(f)?),
            "phase" => layer.phase = Some(phase(f)?),
            "include" => layer.include.push(state_rule(f)?),
            "exclude" => layer.exclude.push(state_rule(f)?),
            "layer" if v1 => return Err(error(f.at, "a V0 layer inside a V1 layer".to_string())),
            "convolution_param" => layer.conv = Some(conv_param(f)?),
            "pooling_param" => layer.pool = Some(pool_param(f)?),
            "inner_product_param" => layer.inner_product = Some(inner_product_param(f)?),
            "reshape_param" => layer.reshape = Some(reshape_param(f)?),
            "recurrent_param" => layer.recurrent = Some(recurrent_param(f)?),
            "input_param" => {
                for s in &message(f)?.fields {
                    if s.name == "shape" {
                        layer.input_shapes.push(blob_shape(s)?);
                    }
                }
            }
            "dummy_data_param" => layer.input_shapes = dummy_shapes(f)?,
            "relu_param" => {
                for s in &message(f)?.fields {
                    if s.name == "negative_slope" {
                        layer.relu_negative_slope = Some(float(s)?);
                    }
                }
            }
            "softmax_param" => {
                for s in &message(f)?.fields {
                    if s.name == "axis" {
                        layer.softmax_axis = Some(integer(s)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(layer)
}

/// What reading a prototxt can find wrong: its syntax or a field (with a position), or a V0
/// net.
#[derive(Debug, PartialEq, Eq)]
pub enum PrototxtError {
    Text(TextError),
    V0,
}

impl From<TextError> for PrototxtError {
    fn from(e: TextError) -> Self {
        PrototxtError::Text(e)
    }
}

/// Reads a prototxt's text into a [`Net`]. spec/caffe-import.md (CAFFE-2, CAFFE-4)
pub fn net_from_text(text: &str) -> Result<Net, PrototxtError> {
    let tree = parse_text(text)?;
    let mut net = Net::default();
    let mut input_names: Vec<(String, Position)> = Vec::new();
    let mut input_dims: Vec<i64> = Vec::new();
    let mut input_shapes: Vec<Vec<i64>> = Vec::new();
    for f in &tree.fields {
        match f.name.as_str() {
            "name" => net.name = string(f)?,
            "input" => input_names.push((string(f)?, f.at)),
            "input_dim" => input_dims.push(integer(f)?),
            "input_shape" => input_shapes.push(blob_shape(f)?),
            "layer" => net.layers.push(layer(f, false)?),
            "layers" => {
                if message(f)?.fields.iter().any(|g| g.name == "layer") {
                    return Err(PrototxtError::V0);
                }
                net.layers.push(layer(f, true)?)
            }
            _ => {}
        }
    }
    // CAFFE-7: each net-level input has an input_shape, or four input_dims.
    for (i, (name, at)) in input_names.into_iter().enumerate() {
        let shape = match input_shapes.get(i) {
            Some(shape) => shape.clone(),
            None => match input_dims.get(4 * i..4 * i + 4) {
                Some(dims) => dims.to_vec(),
                None => {
                    return Err(error(
                        at,
                        format!("the input \"{name}\" has no input_shape and no four input_dim"),
                    )
                    .into())
                }
            },
        };
        net.inputs.push(NetInput { name, shape });
    }
    Ok(net)
}
