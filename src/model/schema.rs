//! model.json: the description of a model directory, parsed into plain data with errors that
//! name the field. spec/model.md describes the schema; this file is its one reader.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::Error;

/// The format tag every model.json carries.
pub const FORMAT: &str = "ebr-model-1";

/// The largest value of any size field (channels, kernel, stride, pad, out, hidden, ...):
/// far beyond real models, small enough that the loader's shape arithmetic cannot overflow
/// (products are then checked against a memory budget in src/model/load.rs).
pub const MAX_SIZE: usize = 1 << 20;

/// How a frame image becomes the model's input (spec/model.md, "input").
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// [height, width] every frame is resized to before the crop, if given.
    pub resize: Option<[usize; 2]>,
    /// Values in [0, 1] are multiplied by this (255 for Caffe models, 1 for PyTorch ones).
    pub scale: f64,
    /// Channel order of the model's input: "bgr" (Caffe) or "rgb".
    pub channel_order: ChannelOrder,
    /// Subtracted per channel, in the model's channel order, after scaling.
    pub mean: Vec<f64>,
    /// Divided per channel after the mean (PyTorch's normalisation); 1 when absent.
    pub std: Vec<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelOrder {
    Bgr,
    Rgb,
}

/// One layer of "frame", as written in model.json.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameLayerSpec {
    Conv {
        name: String,
        out: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        bias: bool,
    },
    Relu,
    MaxPool {
        name: Option<String>,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    AvgPool {
        name: Option<String>,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    Fc {
        name: String,
        out: usize,
        bias: bool,
    },
    Dropout,
}

/// One layer of "temporal".
#[derive(Clone, Debug, PartialEq)]
pub enum TemporalLayerSpec {
    Lstm { name: String, hidden: usize },
    MeanPool,
}

/// A classifier head ("classifier" or "frame_classifier"): an inner product.
#[derive(Clone, Debug, PartialEq)]
pub struct FcSpec {
    pub name: String,
    pub out: usize,
    pub bias: bool,
}

/// The language part of a captioner ("captioner" in model.json, spec/caption.md): its
/// vocabulary is "labels" (index 0 the sentence token) and its vocabulary classifier is
/// "classifier", on LSTM2's output.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionerSpec {
    pub embedding: String,
    /// E: values of one word's embedding.
    pub dim: usize,
    pub lstm1: String,
    pub lstm1_hidden: usize,
    pub lstm2: String,
    pub lstm2_hidden: usize,
    pub max_words: usize,
}

/// Everything model.json says.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub input: InputSpec,
    pub frame: Vec<FrameLayerSpec>,
    pub temporal: Vec<TemporalLayerSpec>,
    pub classifier: FcSpec,
    pub frame_classifier: Option<FcSpec>,
    /// For a captioner: its language part (then "classifier" is the vocabulary classifier).
    pub captioner: Option<CaptionerSpec>,
    /// One name per class of the classifier ("0", "1", ... when model.json has none).
    pub labels: Vec<String>,
}

/// A JSON object together with its path in the file, for messages like `frame[2].kernel`.
struct Fields<'a> {
    file: &'a Path,
    at: String,
    object: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn of(file: &'a Path, at: String, value: &'a Value) -> Result<Fields<'a>, Error> {
        match value.as_object() {
            Some(object) => Ok(Fields { file, at, object }),
            None => Err(json_error(
                file,
                &at,
                format!("must be an object, found {}", describe(value)),
            )),
        }
    }

    fn path(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at)
        }
    }

    fn error(&self, key: &str, reason: String) -> Error {
        json_error(self.file, &self.path(key), reason)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    fn required(&self, key: &str) -> Result<&'a Value, Error> {
        self.get(key)
            .ok_or_else(|| self.error(key, "is missing".to_string()))
    }

    fn string(&self, key: &str) -> Result<String, Error> {
        let value = self.required(key)?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.error(key, format!("must be a string, found {}", describe(value))))
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.string(key).map(Some),
        }
    }

    /// A whole number >= `min`.
    /// A whole number in `min..=MAX_SIZE`.
    fn count(&self, key: &str, min: u64) -> Result<usize, Error> {
        let value = self.required(key)?;
        match value.as_u64() {
            Some(n) if n > MAX_SIZE as u64 => Err(self.error(
                key,
                format!("{n} is larger than ebr accepts for a size ({MAX_SIZE})"),
            )),
            Some(n) if n >= min => Ok(n as usize),
            _ => Err(self.error(
                key,
                format!("must be a whole number >= {min}, found {}", describe(value)),
            )),
        }
    }

    fn count_or(&self, key: &str, min: u64, default: usize) -> Result<usize, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(_) => self.count(key, min),
        }
    }

    fn number(&self, key: &str) -> Result<f64, Error> {
        let value = self.required(key)?;
        finite(value).ok_or_else(|| {
            self.error(
                key,
                format!("must be a finite number, found {}", describe(value)),
            )
        })
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => value.as_bool().ok_or_else(|| {
                self.error(
                    key,
                    format!("must be true or false, found {}", describe(value)),
                )
            }),
        }
    }

    fn numbers(&self, key: &str, len: usize) -> Result<Vec<f64>, Error> {
        let value = self.required(key)?;
        let items = value.as_array().ok_or_else(|| {
            self.error(
                key,
                format!("must be a list of {len} numbers, found {}", describe(value)),
            )
        })?;
        if items.len() != len {
            return Err(self.error(
                key,
                format!(
                    "must have {len} values (one per channel), found {}",
                    items.len()
                ),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                finite(item).ok_or_else(|| {
                    json_error(
                        self.file,
                        &format!("{}[{i}]", self.path(key)),
                        format!("must be a finite number, found {}", describe(item)),
                    )
                })
            })
            .collect()
    }

    fn list(&self, key: &str) -> Result<&'a Vec<Value>, Error> {
        let value = self.required(key)?;
        value
            .as_array()
            .ok_or_else(|| self.error(key, format!("must be a list, found {}", describe(value))))
    }

    fn object(&self, key: &str) -> Result<Fields<'a>, Error> {
        Fields::of(self.file, self.path(key), self.required(key)?)
    }
}

fn json_error(file: &Path, field: &str, reason: String) -> Error {
    Error::Json {
        path: file.to_path_buf(),
        field: field.to_string(),
        reason,
    }
}

/// Values read as f64, as JSON holds them: the preprocessing subtracts the means as the
/// demo's numpy does (float64 decimals), which makes it bit-exact (spec/preprocess.md).
fn finite(value: &Value) -> Option<f64> {
    value.as_f64().filter(|v| v.is_finite())
}

/// A short description of a JSON value for messages: `"3"` (a string), `-1`, `a list`.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

impl ModelSpec {
    /// Reads and checks `path` (a model.json).
    pub fn read(path: &Path) -> Result<ModelSpec, Error> {
        crate::input_file::check_regular(path, "model.json")?;
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ModelSpec::parse(path, &text)
    }

    /// Parses the text of a model.json; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ModelSpec, Error> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Json {
            path: path.to_path_buf(),
            field: "(file)".to_string(),
            reason: format!("not valid JSON: {e}"),
        })?;
        if !value.is_object() {
            return Err(Error::Json {
                path: path.to_path_buf(),
                field: "(file)".to_string(),
                reason: format!("must hold one JSON object, found {}", describe(&value)),
            });
        }
        let top = Fields::of(path, String::new(), &value)?;

        let format = top.string("format")?;
        if format != FORMAT {
            return Err(top.error(
                "format",
                format!("must be \"{FORMAT}\", found \"{format}\""),
            ));
        }
        let name = top.optional_string("name")?.unwrap_or_default();
        let input = parse_input(&top.object("input")?)?;

        let frame = top
            .list("frame")?
            .iter()
            .enumerate()
            .map(|(i, layer)| parse_frame_layer(path, format!("frame[{i}]"), layer))
            .collect::<Result<Vec<_>, _>>()?;
        let temporal = match top.get("temporal") {
            None => Vec::new(),
            Some(_) => top
                .list("temporal")?
                .iter()
                .enumerate()
                .map(|(i, layer)| parse_temporal_layer(path, format!("temporal[{i}]"), layer))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let classifier = parse_fc_head(&top.object("classifier")?)?;
        let frame_classifier = match top.get("frame_classifier") {
            None => None,
            Some(_) => Some(parse_fc_head(&top.object("frame_classifier")?)?),
        };
        let captioner = match top.get("captioner") {
            None => None,
            Some(_) => Some(parse_captioner(&top.object("captioner")?)?),
        };
        let labels = match top.get("labels") {
            None if captioner.is_some() => return Err(top.error(
                "labels",
                "is missing: a captioner's labels are its vocabulary (index 0 the sentence token)"
                    .to_string(),
            )),
            None => (0..classifier.out).map(|k| k.to_string()).collect(),
            Some(_) => parse_labels(&top, classifier.out)?,
        };
        if captioner.is_some() && temporal != [TemporalLayerSpec::MeanPool] {
            return Err(top.error(
                "temporal",
                "must be [{\"type\": \"mean_pool\"}] for a captioner (its static input is the clip's mean feature)"
                    .to_string(),
            ));
        }
        Ok(ModelSpec {
            name,
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

fn parse_input(fields: &Fields) -> Result<InputSpec, Error> {
    let channels = fields.count("channels", 1)?;
    let height = fields.count("height", 1)?;
    let width = fields.count("width", 1)?;
    let resize = match fields.get("resize") {
        None => None,
        Some(value) => {
            let pair = value.as_array().filter(|a| a.len() == 2);
            let sizes: Option<Vec<usize>> = pair.and_then(|a| {
                a.iter()
                    .map(|v| v.as_u64().filter(|&n| n >= 1).map(|n| n as usize))
                    .collect()
            });
            match sizes {
                Some(s) if s[0] >= height && s[1] >= width => Some([s[0], s[1]]),
                Some(s) => {
                    return Err(fields.error(
                        "resize",
                        format!(
                            "[{}, {}] is smaller than the crop {height}x{width}",
                            s[0], s[1]
                        ),
                    ))
                }
                None => {
                    return Err(fields.error(
                        "resize",
                        format!(
                            "must be [height, width] with two whole numbers >= 1, found {}",
                            describe(value)
                        ),
                    ))
                }
            }
        }
    };
    if let Some(crop) = fields.optional_string("crop")? {
        if crop != "center" {
            return Err(fields.error(
                "crop",
                format!("only \"center\" is supported, found \"{crop}\""),
            ));
        }
    }
    let scale = match fields.get("scale") {
        None => 255.0,
        Some(_) => fields.number("scale")?,
    };
    let channel_order = match fields.optional_string("channel_order")?.as_deref() {
        None | Some("bgr") => ChannelOrder::Bgr,
        Some("rgb") => ChannelOrder::Rgb,
        Some(other) => {
            return Err(fields.error(
                "channel_order",
                format!("must be \"bgr\" or \"rgb\", found \"{other}\""),
            ))
        }
    };
    if channels != 3 && channels != 1 {
        return Err(fields.error(
            "channels",
            format!("must be 3 (colour) or 1 (gray), found {channels}"),
        ));
    }
    let mean = match fields.get("mean") {
        None => vec![0.0; channels],
        Some(_) => fields.numbers("mean", channels)?,
    };
    let std = match fields.get("std") {
        None => vec![1.0; channels],
        Some(_) => fields.numbers("std", channels)?,
    };
    if let Some(i) = std.iter().position(|&s| s == 0.0) {
        return Err(json_error(
            fields.file,
            &format!("{}[{i}]", fields.path("std")),
            "must not be 0".to_string(),
        ));
    }
    Ok(InputSpec {
        channels,
        height,
        width,
        resize,
        scale,
        channel_order,
        mean,
        std,
    })
}

fn parse_frame_layer(file: &Path, at: String, value: &Value) -> Result<FrameLayerSpec, Error> {
    let fields = Fields::of(file, at, value)?;
    let kind = fields.string("type")?;
    match kind.as_str() {
        "conv" => Ok(FrameLayerSpec::Conv {
            name: fields.string("name")?,
            out: fields.count("out", 1)?,
            kernel: fields.count("kernel", 1)?,
            stride: fields.count_or("stride", 1, 1)?,
            pad: fields.count_or("pad", 0, 0)?,
            bias: fields.bool_or("bias", true)?,
        }),
        "relu" => Ok(FrameLayerSpec::Relu),
        "dropout" => Ok(FrameLayerSpec::Dropout),
        "max_pool" | "avg_pool" => {
            let name = fields.optional_string("name")?;
            let kernel = fields.count("kernel", 1)?;
            let stride = fields.count_or("stride", 1, 1)?;
            let pad = fields.count_or("pad", 0, 0)?;
            Ok(if kind == "max_pool" {
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
            })
        }
        "fc" => Ok(FrameLayerSpec::Fc {
            name: fields.string("name")?,
            out: fields.count("out", 1)?,
            bias: fields.bool_or("bias", true)?,
        }),
        other => Err(fields.error(
            "type",
            format!(
                "unknown frame layer type \"{other}\"; valid: conv, relu, max_pool, avg_pool, fc, dropout"
            ),
        )),
    }
}

fn parse_temporal_layer(
    file: &Path,
    at: String,
    value: &Value,
) -> Result<TemporalLayerSpec, Error> {
    let fields = Fields::of(file, at, value)?;
    let kind = fields.string("type")?;
    match kind.as_str() {
        "lstm" => Ok(TemporalLayerSpec::Lstm {
            name: fields.string("name")?,
            hidden: fields.count("hidden", 1)?,
        }),
        "mean_pool" => Ok(TemporalLayerSpec::MeanPool),
        other => Err(fields.error(
            "type",
            format!("unknown temporal layer type \"{other}\"; valid: lstm, mean_pool"),
        )),
    }
}

fn parse_fc_head(fields: &Fields) -> Result<FcSpec, Error> {
    let kind = fields.optional_string("type")?;
    if let Some(kind) = kind {
        if kind != "fc" {
            return Err(fields.error("type", format!("must be \"fc\", found \"{kind}\"")));
        }
    }
    Ok(FcSpec {
        name: fields.string("name")?,
        out: fields.count("out", 1)?,
        bias: fields.bool_or("bias", true)?,
    })
}

fn parse_captioner(fields: &Fields) -> Result<CaptionerSpec, Error> {
    let embedding = fields.object("embedding")?;
    let lstm1 = fields.object("lstm1")?;
    let lstm2 = fields.object("lstm2")?;
    Ok(CaptionerSpec {
        embedding: embedding.string("name")?,
        dim: embedding.count("dim", 1)?,
        lstm1: lstm1.string("name")?,
        lstm1_hidden: lstm1.count("hidden", 1)?,
        lstm2: lstm2.string("name")?,
        lstm2_hidden: lstm2.count("hidden", 1)?,
        max_words: fields.count_or("max_words", 1, 20)?,
    })
}

fn parse_labels(top: &Fields, classes: usize) -> Result<Vec<String>, Error> {
    let items = top.list("labels")?;
    if items.len() != classes {
        return Err(top.error(
            "labels",
            format!(
                "has {} names, the classifier has {classes} outputs",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str().map(str::to_string).ok_or_else(|| {
                json_error(
                    top.file,
                    &format!("labels[{i}]"),
                    format!("must be a string, found {}", describe(item)),
                )
            })
        })
        .collect()
}

/// The path of a model directory's model.json.
pub fn model_json_path(dir: &Path) -> PathBuf {
    dir.join("model.json")
}

impl ModelSpec {
    /// The model.json text of this description (the inverse of [`ModelSpec::parse`]).
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        let i = &self.input;
        let mut input = json!({
            "channels": i.channels, "height": i.height, "width": i.width,
            "crop": "center", "scale": i.scale,
            "channel_order": match i.channel_order { ChannelOrder::Bgr => "bgr", ChannelOrder::Rgb => "rgb" },
            "mean": i.mean, "std": i.std,
        });
        if let Some(resize) = i.resize {
            input["resize"] = json!(resize);
        }
        let frame: Vec<Value> = self
            .frame
            .iter()
            .map(|layer| match layer {
                FrameLayerSpec::Conv { name, out, kernel, stride, pad, bias } => json!({
                    "type": "conv", "name": name, "out": out, "kernel": kernel,
                    "stride": stride, "pad": pad, "bias": bias,
                }),
                FrameLayerSpec::Relu => json!({"type": "relu"}),
                FrameLayerSpec::Dropout => json!({"type": "dropout"}),
                FrameLayerSpec::MaxPool { name, kernel, stride, pad } => json!({
                    "type": "max_pool", "name": name, "kernel": kernel, "stride": stride, "pad": pad,
                }),
                FrameLayerSpec::AvgPool { name, kernel, stride, pad } => json!({
                    "type": "avg_pool", "name": name, "kernel": kernel, "stride": stride, "pad": pad,
                }),
                FrameLayerSpec::Fc { name, out, bias } => json!({
                    "type": "fc", "name": name, "out": out, "bias": bias,
                }),
            })
            .collect();
        let temporal: Vec<Value> = self
            .temporal
            .iter()
            .map(|layer| match layer {
                TemporalLayerSpec::Lstm { name, hidden } => {
                    json!({"type": "lstm", "name": name, "hidden": hidden})
                }
                TemporalLayerSpec::MeanPool => json!({"type": "mean_pool"}),
            })
            .collect();
        let head = |h: &FcSpec| json!({"type": "fc", "name": h.name, "out": h.out, "bias": h.bias});
        let mut model = json!({
            "format": FORMAT,
            "name": self.name,
            "input": input,
            "frame": frame,
            "temporal": temporal,
            "classifier": head(&self.classifier),
            "labels": self.labels,
        });
        if let Some(h) = &self.frame_classifier {
            model["frame_classifier"] = head(h);
        }
        if let Some(c) = &self.captioner {
            model["captioner"] = json!({
                "embedding": {"name": c.embedding, "dim": c.dim},
                "lstm1": {"name": c.lstm1, "hidden": c.lstm1_hidden},
                "lstm2": {"name": c.lstm2, "hidden": c.lstm2_hidden},
                "max_words": c.max_words,
            });
        }
        model
    }
}
