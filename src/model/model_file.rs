//! model.json as a file: its serde types (strict: `deny_unknown_fields`, every size a whole
//! number in range), their conversion to and from [`ModelSpec`], and the checks serde cannot
//! express (the format tag, channels 1 or 3, lists of one value per channel, a resize no smaller
//! than the crop, the labels' count). Every error names model.json and the field path.
//! spec/model.md ("model.json", "How model.json is read")

use std::fmt;
use std::path::Path;

use serde::de::{Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::schema::{
    CaptionerSpec, ChannelOrder, FcSpec, FrameLayerSpec, InputSpec, ModelSpec, TemporalLayerSpec,
    FORMAT, MAX_SIZE,
};
use crate::error::Error;
use crate::json_file::{field_error, from_value_at, UniqueMap};

/// A size field of model.json: a whole number in `MIN..=MAX_SIZE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Size<const MIN: u64>(usize);

impl<'de, const MIN: u64> Deserialize<'de> for Size<MIN> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor<const MIN: u64>;
        impl<const MIN: u64> Visitor<'_> for SizeVisitor<MIN> {
            type Value = Size<MIN>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a whole number >= {MIN}")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Size<MIN>, E> {
                if n < MIN {
                    Err(E::invalid_value(Unexpected::Unsigned(n), &self))
                } else if n > MAX_SIZE as u64 {
                    Err(E::custom(format!(
                        "{n} is larger than ebr accepts for a size ({MAX_SIZE})"
                    )))
                } else {
                    Ok(Size(n as usize))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Size<MIN>, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(n), &self)),
                }
            }
        }
        deserializer.deserialize_u64(SizeVisitor::<MIN>)
    }
}

impl<const MIN: u64> Serialize for Size<MIN> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0 as u64)
    }
}

fn one() -> Size<1> {
    Size(1)
}
fn zero() -> Size<0> {
    Size(0)
}
fn yes() -> bool {
    true
}
fn center() -> String {
    "center".to_string()
}
fn caffe_scale() -> f64 {
    255.0
}
fn twenty_words() -> Size<1> {
    Size(20)
}

/// model.json. `Layer` is how a layer of "frame" and "temporal" is held: read as a map (its
/// "type" says which struct it is, [`frame_layer`]), written as a [`LayerFile`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModelFile<Layer = UniqueMap> {
    format: String,
    #[serde(default)]
    name: String,
    input: InputFile,
    frame: Vec<Layer>,
    #[serde(default)]
    temporal: Vec<Layer>,
    classifier: HeadFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frame_classifier: Option<HeadFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    captioner: Option<CaptionerFile>,
    #[serde(default)]
    labels: Option<Vec<String>>,
}

/// "input".
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InputFile {
    channels: Size<1>,
    height: Size<1>,
    width: Size<1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resize: Option<[Size<1>; 2]>,
    #[serde(default = "center")]
    crop: String,
    #[serde(default = "caffe_scale")]
    scale: f64,
    #[serde(default)]
    channel_order: ChannelOrder,
    #[serde(default)]
    mean: Option<Vec<f64>>,
    #[serde(default)]
    std: Option<Vec<f64>>,
}

/// A "conv" layer.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConvFile {
    r#type: String,
    name: String,
    out: Size<1>,
    kernel: Size<1>,
    #[serde(default = "one")]
    stride: Size<1>,
    #[serde(default = "zero")]
    pad: Size<0>,
    #[serde(default = "yes")]
    bias: bool,
}

/// A "max_pool" or "avg_pool" layer.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PoolFile {
    r#type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    kernel: Size<1>,
    #[serde(default = "one")]
    stride: Size<1>,
    #[serde(default = "zero")]
    pad: Size<0>,
}

/// An inner product: an "fc" layer of "frame" (its type given), or a head ("classifier",
/// "frame_classifier", where "type" may be left out).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HeadFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r#type: Option<String>,
    name: String,
    out: Size<1>,
    #[serde(default = "yes")]
    bias: bool,
}

/// An "lstm" layer.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LstmFile {
    r#type: String,
    name: String,
    hidden: Size<1>,
}

/// A layer without parameters ("relu", "dropout", "mean_pool"): its type alone.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TypeOnlyFile {
    r#type: String,
}

/// "captioner" (spec/caption.md).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CaptionerFile {
    embedding: EmbeddingFile,
    lstm1: NamedLstmFile,
    lstm2: NamedLstmFile,
    #[serde(default = "twenty_words")]
    max_words: Size<1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EmbeddingFile {
    name: String,
    dim: Size<1>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamedLstmFile {
    name: String,
    hidden: Size<1>,
}

/// A layer as written: one of the structs above, each with its "type".
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum LayerFile {
    Conv(ConvFile),
    Pool(PoolFile),
    Fc(HeadFile),
    Lstm(LstmFile),
    TypeOnly(TypeOnlyFile),
}

fn type_only(kind: &str) -> LayerFile {
    LayerFile::TypeOnly(TypeOnlyFile {
        r#type: kind.to_string(),
    })
}

/// The layer `fields` at `at` (e.g. "frame[2]"): its "type", and its fields as a JSON value
/// to be read as the struct that type names.
fn layer_type(json: &Path, at: &str, fields: UniqueMap) -> Result<(String, Value), Error> {
    let type_error = |reason: String| field_error(json, &format!("{at}.type"), reason);
    match fields.0.get("type") {
        Some(Value::String(kind)) => Ok((kind.clone(), Value::Object(fields.0))),
        None | Some(Value::Null) => Err(type_error("is missing".to_string())),
        Some(other) => Err(type_error(format!("must be a string, found {other}"))),
    }
}

/// The error for a layer of unknown type `kind` at `at`, listing the `valid` ones.
fn unknown_type(json: &Path, at: &str, stack: &str, kind: &str, valid: &str) -> Error {
    field_error(
        json,
        &format!("{at}.type"),
        format!("unknown {stack} layer type \"{kind}\"; valid: {valid}"),
    )
}

/// Layer `i` of "frame".
fn frame_layer(json: &Path, i: usize, fields: UniqueMap) -> Result<FrameLayerSpec, Error> {
    let at = format!("frame[{i}]");
    let (kind, value) = layer_type(json, &at, fields)?;
    Ok(match kind.as_str() {
        "conv" => {
            let c: ConvFile = from_value_at(json, &at, value)?;
            FrameLayerSpec::Conv {
                name: c.name,
                out: c.out.0,
                kernel: c.kernel.0,
                stride: c.stride.0,
                pad: c.pad.0,
                bias: c.bias,
            }
        }
        "relu" | "dropout" => {
            from_value_at::<TypeOnlyFile>(json, &at, value)?;
            if kind == "relu" {
                FrameLayerSpec::Relu
            } else {
                FrameLayerSpec::Dropout
            }
        }
        "max_pool" | "avg_pool" => {
            let p: PoolFile = from_value_at(json, &at, value)?;
            let (name, kernel, stride, pad) = (p.name, p.kernel.0, p.stride.0, p.pad.0);
            if kind == "max_pool" {
                FrameLayerSpec::MaxPool {
                    name,
                    kernel,
                    stride,
                    pad,
                }
            } else {
                FrameLayerSpec::AvgPool {
                    name,
                    kernel,
                    stride,
                    pad,
                }
            }
        }
        "fc" => {
            let f: HeadFile = from_value_at(json, &at, value)?;
            FrameLayerSpec::Fc {
                name: f.name,
                out: f.out.0,
                bias: f.bias,
            }
        }
        other => {
            let valid = "conv, relu, max_pool, avg_pool, fc, dropout";
            return Err(unknown_type(json, &at, "frame", other, valid));
        }
    })
}

/// Layer `i` of "temporal".
fn temporal_layer(json: &Path, i: usize, fields: UniqueMap) -> Result<TemporalLayerSpec, Error> {
    let at = format!("temporal[{i}]");
    let (kind, value) = layer_type(json, &at, fields)?;
    match kind.as_str() {
        "lstm" => {
            let l: LstmFile = from_value_at(json, &at, value)?;
            Ok(TemporalLayerSpec::Lstm {
                name: l.name,
                hidden: l.hidden.0,
            })
        }
        "mean_pool" => {
            from_value_at::<TypeOnlyFile>(json, &at, value)?;
            Ok(TemporalLayerSpec::MeanPool)
        }
        other => Err(unknown_type(
            json,
            &at,
            "temporal",
            other,
            "lstm, mean_pool",
        )),
    }
}

/// A head at `at`: its "type", when given, must be "fc".
fn head(json: &Path, at: &str, head: HeadFile) -> Result<FcSpec, Error> {
    match head.r#type.as_deref() {
        None | Some("fc") => Ok(FcSpec {
            name: head.name,
            out: head.out.0,
            bias: head.bias,
        }),
        Some(other) => Err(field_error(
            json,
            &format!("{at}.type"),
            format!("must be \"fc\", found \"{other}\""),
        )),
    }
}

/// "mean" or "std" (`key`): one number per channel, `default` for each when absent.
fn per_channel(
    json: &Path,
    key: &str,
    values: Option<Vec<f64>>,
    channels: usize,
    default: f64,
) -> Result<Vec<f64>, Error> {
    match values {
        None => Ok(vec![default; channels]),
        Some(values) if values.len() == channels => Ok(values),
        Some(values) => Err(field_error(
            json,
            &format!("input.{key}"),
            format!(
                "must have {channels} values (one per channel), found {}",
                values.len()
            ),
        )),
    }
}

impl InputFile {
    /// The checks serde cannot express: channels 1 or 3, a crop of "center", the resize no
    /// smaller than the crop, one mean and std per channel, no std of 0.
    fn into_spec(self, json: &Path) -> Result<InputSpec, Error> {
        let at = |key: &str| format!("input.{key}");
        let (channels, height, width) = (self.channels.0, self.height.0, self.width.0);
        if self.crop != "center" {
            return Err(field_error(
                json,
                &at("crop"),
                format!("only \"center\" is supported, found \"{}\"", self.crop),
            ));
        }
        if channels != 3 && channels != 1 {
            return Err(field_error(
                json,
                &at("channels"),
                format!("must be 3 (colour) or 1 (gray), found {channels}"),
            ));
        }
        let resize = self.resize.map(|[h, w]| [h.0, w.0]);
        if let Some([h, w]) = resize {
            if h < height || w < width {
                return Err(field_error(
                    json,
                    &at("resize"),
                    format!("[{h}, {w}] is smaller than the crop {height}x{width}"),
                ));
            }
        }
        let mean = per_channel(json, "mean", self.mean, channels, 0.0)?;
        let std = per_channel(json, "std", self.std, channels, 1.0)?;
        if let Some(i) = std.iter().position(|&s| s == 0.0) {
            return Err(field_error(
                json,
                &format!("input.std[{i}]"),
                "must not be 0",
            ));
        }
        Ok(InputSpec {
            channels,
            height,
            width,
            resize,
            scale: self.scale,
            channel_order: self.channel_order,
            mean,
            std,
        })
    }
}

impl ModelFile<UniqueMap> {
    /// The model this file describes, after the checks serde cannot express.
    pub(super) fn into_spec(self, json: &Path) -> Result<ModelSpec, Error> {
        if self.format != FORMAT {
            return Err(field_error(
                json,
                "format",
                format!("must be \"{FORMAT}\", found \"{}\"", self.format),
            ));
        }
        let input = self.input.into_spec(json)?;
        let frame = (self.frame.into_iter().enumerate())
            .map(|(i, layer)| frame_layer(json, i, layer))
            .collect::<Result<Vec<_>, _>>()?;
        let temporal = (self.temporal.into_iter().enumerate())
            .map(|(i, layer)| temporal_layer(json, i, layer))
            .collect::<Result<Vec<_>, _>>()?;
        let classifier = head(json, "classifier", self.classifier)?;
        let frame_classifier = match self.frame_classifier {
            Some(h) => Some(head(json, "frame_classifier", h)?),
            None => None,
        };
        let captioner = self.captioner.map(|c| CaptionerSpec {
            embedding: c.embedding.name,
            dim: c.embedding.dim.0,
            lstm1: c.lstm1.name,
            lstm1_hidden: c.lstm1.hidden.0,
            lstm2: c.lstm2.name,
            lstm2_hidden: c.lstm2.hidden.0,
            max_words: c.max_words.0,
        });
        let labels = match self.labels {
            None if captioner.is_some() => return Err(field_error(
                json,
                "labels",
                "is missing: a captioner's labels are its vocabulary (index 0 the sentence token)",
            )),
            None => (0..classifier.out).map(|k| k.to_string()).collect(),
            Some(labels) if labels.len() != classifier.out => {
                return Err(field_error(
                    json,
                    "labels",
                    format!(
                        "has {} names, the classifier has {} outputs",
                        labels.len(),
                        classifier.out
                    ),
                ))
            }
            Some(labels) => labels,
        };
        if captioner.is_some() && temporal != [TemporalLayerSpec::MeanPool] {
            return Err(field_error(
                json,
                "temporal",
                "must be [{\"type\": \"mean_pool\"}] for a captioner (its static input is the clip's mean feature)",
            ));
        }
        Ok(ModelSpec {
            name: self.name,
            input,
            frame,
            temporal,
            classifier,
            frame_classifier,
            captioner,
            labels,
        })
    }
}

fn head_file(h: &FcSpec) -> HeadFile {
    HeadFile {
        r#type: Some("fc".to_string()),
        name: h.name.clone(),
        out: Size(h.out),
        bias: h.bias,
    }
}

fn pool_file(
    kind: &str,
    name: &Option<String>,
    kernel: usize,
    stride: usize,
    pad: usize,
) -> LayerFile {
    LayerFile::Pool(PoolFile {
        r#type: kind.to_string(),
        name: name.clone(),
        kernel: Size(kernel),
        stride: Size(stride),
        pad: Size(pad),
    })
}

impl ModelFile<LayerFile> {
    /// The file that describes `spec`: every field written, defaults included.
    pub(super) fn from_spec(spec: &ModelSpec) -> ModelFile<LayerFile> {
        let i = &spec.input;
        let frame = spec
            .frame
            .iter()
            .map(|layer| match layer {
                FrameLayerSpec::Conv {
                    name,
                    out,
                    kernel,
                    stride,
                    pad,
                    bias,
                } => LayerFile::Conv(ConvFile {
                    r#type: "conv".to_string(),
                    name: name.clone(),
                    out: Size(*out),
                    kernel: Size(*kernel),
                    stride: Size(*stride),
                    pad: Size(*pad),
                    bias: *bias,
                }),
                FrameLayerSpec::Relu => type_only("relu"),
                FrameLayerSpec::Dropout => type_only("dropout"),
                FrameLayerSpec::MaxPool {
                    name,
                    kernel,
                    stride,
                    pad,
                } => pool_file("max_pool", name, *kernel, *stride, *pad),
                FrameLayerSpec::AvgPool {
                    name,
                    kernel,
                    stride,
                    pad,
                } => pool_file("avg_pool", name, *kernel, *stride, *pad),
                FrameLayerSpec::Fc { name, out, bias } => LayerFile::Fc(head_file(&FcSpec {
                    name: name.clone(),
                    out: *out,
                    bias: *bias,
                })),
            })
            .collect();
        let temporal = spec
            .temporal
            .iter()
            .map(|layer| match layer {
                TemporalLayerSpec::Lstm { name, hidden } => LayerFile::Lstm(LstmFile {
                    r#type: "lstm".to_string(),
                    name: name.clone(),
                    hidden: Size(*hidden),
                }),
                TemporalLayerSpec::MeanPool => type_only("mean_pool"),
            })
            .collect();
        ModelFile {
            format: FORMAT.to_string(),
            name: spec.name.clone(),
            input: InputFile {
                channels: Size(i.channels),
                height: Size(i.height),
                width: Size(i.width),
                resize: i.resize.map(|[h, w]| [Size(h), Size(w)]),
                crop: center(),
                scale: i.scale,
                channel_order: i.channel_order,
                mean: Some(i.mean.clone()),
                std: Some(i.std.clone()),
            },
            frame,
            temporal,
            classifier: head_file(&spec.classifier),
            frame_classifier: spec.frame_classifier.as_ref().map(head_file),
            captioner: spec.captioner.as_ref().map(|c| CaptionerFile {
                embedding: EmbeddingFile {
                    name: c.embedding.clone(),
                    dim: Size(c.dim),
                },
                lstm1: NamedLstmFile {
                    name: c.lstm1.clone(),
                    hidden: Size(c.lstm1_hidden),
                },
                lstm2: NamedLstmFile {
                    name: c.lstm2.clone(),
                    hidden: Size(c.lstm2_hidden),
                },
                max_words: Size(c.max_words),
            }),
            labels: Some(spec.labels.clone()),
        }
    }
}
