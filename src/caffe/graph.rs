//! A Caffe net (its test phase) mapped onto ebr's model: the frame CNN, the temporal part,
//! the classifier and the frame classifier, with the parameter blobs each layer needs.
//! spec/caffe-import.md (CAFFE-5..CAFFE-10)

use std::collections::HashMap;

use super::net::{Layer, Net, Phase, PoolMethod, StateRule};
use crate::layers::{ConvGeometry, PoolGeometry};
use crate::model::schema::{FcSpec, FrameLayerSpec, TemporalLayerSpec};
use crate::tensor::shape_string;

/// One parameter blob a layer needs: the ebr file it becomes, what it is, and its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamBlob {
    /// e.g. "conv1_w.npy"
    pub file: String,
    /// e.g. "weight [out, in, kh, kw]"
    pub what: String,
    pub shape: Vec<usize>,
}

/// A Caffe layer with parameters and the blobs ebr takes from it, in Caffe's blob order
/// (CAFFE-11).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamLayer {
    pub caffe_name: String,
    pub caffe_type: String,
    pub blobs: Vec<ParamBlob>,
}

/// The net in ebr's terms (without the input block and labels, which the caller adds).
#[derive(Clone, Debug, PartialEq)]
pub struct Mapped {
    /// C, H, W of one frame.
    pub frame_shape: [usize; 3],
    /// The first dimension of the input: the frames the prototxt was written for.
    pub declared_frames: usize,
    pub frame: Vec<FrameLayerSpec>,
    pub temporal: Vec<TemporalLayerSpec>,
    pub classifier: FcSpec,
    pub frame_classifier: Option<FcSpec>,
    pub params: Vec<ParamLayer>,
    /// What was skipped or assumed, for the user.
    pub notes: Vec<String>,
}

/// What a blob is, for ebr. spec/caffe-import.md (CAFFE-6)
#[derive(Clone, Debug, PartialEq)]
enum Value {
    /// An input (or a reshape of one); `shape` as Caffe has it.
    Input { name: String, shape: Vec<i64> },
    /// The frame chain's blob after `at` frame layers (0: the data).
    Frame { at: usize },
    /// The frame classifier's output.
    FrameHead,
    /// A sequence (T, 1, D).
    Sequence { steps: usize, width: usize },
    /// The feature reshaped to (1, 1, T, D), for a mean-pool.
    PoolRows { steps: usize, width: usize },
    /// The mean over the steps, (1, 1, 1, D).
    Pooled { width: usize },
    /// The classifier's output; softmax must run over `class_axis` of `rank` axes.
    Logits { class_axis: i64, rank: i64 },
    /// A Softmax's output: nothing of ebr's model reads it.
    Probabilities,
}

/// Layer types skipped without a trace in ebr's model (CAFFE-10).
fn is_skipped_type(kind: &str) -> bool {
    kind.ends_with("Loss") || matches!(kind, "Accuracy" | "ArgMax" | "Silence")
}

/// Every type ebr maps (besides the skipped ones).
const SUPPORTED: &str = "Input, DummyData, Convolution, Pooling, ReLU, Dropout, InnerProduct, Reshape, LSTM, Softmax, Split, and losses, Accuracy, ArgMax, Silence (skipped)";

/// Whether a `NetStateRule` is met by the test net (phase TEST, level 0, no stages).
/// spec/caffe-import.md (CAFFE-5)
fn rule_met(rule: &StateRule) -> bool {
    rule.phase.is_none_or(|p| p == Phase::Test)
        && rule.min_level.is_none_or(|l| l <= 0)
        && rule.max_level.is_none_or(|l| l >= 0)
        && rule.stages.is_empty()
}

/// The layers Caffe keeps in the TEST phase (`Net::FilterNet`). spec/caffe-import.md (CAFFE-5)
pub fn test_net(layers: &[Layer]) -> Vec<&Layer> {
    layers
        .iter()
        .filter(|layer| {
            if layer.include.is_empty() {
                !layer.exclude.iter().any(rule_met)
            } else {
                layer.include.iter().any(rule_met)
            }
        })
        .collect()
}

/// The state of the walk over the layers.
struct Walk {
    bindings: HashMap<String, Value>,
    data: Option<(String, [usize; 3], usize)>,
    frame: Vec<FrameLayerSpec>,
    /// Caffe's shape of the chain's blob after each frame layer (index 0: the data), per
    /// frame: [C, H, W] or [D] after an InnerProduct.
    shapes: Vec<Vec<usize>>,
    /// The frame layer count where the temporal part read the feature.
    feature_at: Option<usize>,
    temporal: Vec<TemporalLayerSpec>,
    classifier: Option<FcSpec>,
    frame_classifier: Option<FcSpec>,
    params: Vec<ParamLayer>,
    notes: Vec<String>,
}

fn ebr_name(caffe: &str) -> String {
    caffe.replace(['/', '\\'], "_")
}

fn layer_ref(layer: &Layer) -> String {
    format!("layer \"{}\" ({})", layer.name, layer.kind)
}

/// One value of a square setting: `h`/`w` if given (they must be equal), else `list` (0, 1
/// or 2 values) or `default`.
fn square(
    layer: &Layer,
    what: &str,
    list: &[u64],
    h: Option<u64>,
    w: Option<u64>,
    default: Option<u64>,
) -> Result<usize, String> {
    let (vh, vw) = match (h, w) {
        (Some(h), Some(w)) => (h, w),
        (None, None) => match list {
            [] => match default {
                Some(d) => (d, d),
                None => return Err(format!("{}: {what} is missing", layer_ref(layer))),
            },
            [v] => (*v, *v),
            [h, w] => (*h, *w),
            _ => {
                return Err(format!(
                    "{}: {} values of {what}: ebr's layers are 2-D",
                    layer_ref(layer),
                    list.len()
                ))
            }
        },
        _ => {
            return Err(format!(
                "{}: {what}_h and {what}_w must be given together",
                layer_ref(layer)
            ))
        }
    };
    if vh != vw {
        return Err(format!(
            "{}: {what} {vh}x{vw} is not square; ebr's layers use one {what} for both axes",
            layer_ref(layer)
        ));
    }
    usize::try_from(vh)
        .ok()
        .filter(|&v| v <= crate::model::schema::MAX_SIZE)
        .ok_or_else(|| format!("{}: {what} {vh} is too large", layer_ref(layer)))
}

fn count(layer: &Layer, what: &str, value: Option<u64>) -> Result<usize, String> {
    match value {
        Some(v) if v >= 1 && v <= crate::model::schema::MAX_SIZE as u64 => Ok(v as usize),
        Some(v) => Err(format!("{}: {what} {v} is out of range", layer_ref(layer))),
        None => Err(format!("{}: {what} is missing", layer_ref(layer))),
    }
}

impl Walk {
    fn value(&self, layer: &Layer, bottom: &str) -> Result<Value, String> {
        self.bindings.get(bottom).cloned().ok_or_else(|| {
            format!(
                "{} reads the blob \"{bottom}\", which no earlier layer of the test net writes",
                layer_ref(layer)
            )
        })
    }

    fn bind_tops(&mut self, layer: &Layer, value: Value) {
        for top in &layer.tops {
            self.bindings.insert(top.clone(), value.clone());
        }
    }

    /// The chain's end: where a frame layer may read. Reading an earlier blob is a branch.
    fn chain_end(&mut self, layer: &Layer, value: &Value) -> Result<(), String> {
        match value {
            Value::Input { name, shape } => {
                if let Some((data, _, _)) = &self.data {
                    return Err(format!(
                        "{} reads the input \"{name}\", but the frame CNN already starts at \"{data}\"",
                        layer_ref(layer)
                    ));
                }
                let dims: Vec<usize> = shape
                    .iter()
                    .map(|&d| {
                        usize::try_from(d)
                            .ok()
                            .filter(|&d| (1..=crate::model::schema::MAX_SIZE).contains(&d))
                    })
                    .collect::<Option<_>>()
                    .unwrap_or_default();
                let [n, c, h, w] = dims[..] else {
                    return Err(format!(
                        "{} reads the input \"{name}\" of shape {shape:?}; the frames' input must be N x C x H x W (each at most 2^20)",
                        layer_ref(layer)
                    ));
                };
                self.data = Some((name.clone(), [c, h, w], n));
                self.shapes.push(vec![c, h, w]);
                Ok(())
            }
            Value::Frame { at } if *at == self.frame.len() && self.feature_at.is_none() => Ok(()),
            Value::Frame { .. } if self.feature_at.is_some() => Err(format!(
                "{} continues the frame CNN after the temporal part read its feature blob; ebr's frame CNN is one chain",
                layer_ref(layer)
            )),
            Value::Frame { .. } => Err(format!(
                "{} reads a blob that later layers of the frame CNN have moved past (a branch); ebr's frame CNN is one chain",
                layer_ref(layer)
            )),
            other => Err(format!(
                "{} is a frame layer but reads {}, not the frame CNN",
                layer_ref(layer),
                describe(other)
            )),
        }
    }

    fn current_shape(&self) -> &[usize] {
        self.shapes.last().expect("the data's shape comes first")
    }

    /// The chain's shape as ebr's frame layers see it: [C, H, W] (a flat [D] is [D, 1, 1]).
    fn chw(&self) -> [usize; 3] {
        match self.current_shape() {
            [c, h, w] => [*c, *h, *w],
            [d] => [*d, 1, 1],
            _ => unreachable!("frame shapes have 1 or 3 values"),
        }
    }

    fn push_frame(&mut self, layer: &Layer, spec: FrameLayerSpec, shape: Vec<usize>) {
        self.frame.push(spec);
        self.shapes.push(shape);
        let at = self.frame.len();
        self.bind_tops(layer, Value::Frame { at });
    }

    /// Records the blobs of a Convolution or InnerProduct `layer`: its weight (`what`, shape)
    /// and, with `bias`, a bias of the weight's first dimension (CAFFE-11).
    fn weight_and_bias(
        &mut self,
        layer: &Layer,
        name: &str,
        (what, shape): (&str, Vec<usize>),
        bias: bool,
    ) {
        let out = shape[0];
        let mut blobs = vec![ParamBlob {
            file: format!("{name}_w.npy"),
            what: what.to_string(),
            shape,
        }];
        if bias {
            blobs.push(ParamBlob {
                file: format!("{name}_b.npy"),
                what: "bias [out]".to_string(),
                shape: vec![out],
            });
        }
        self.params.push(ParamLayer {
            caffe_name: layer.name.clone(),
            caffe_type: layer.kind.clone(),
            blobs,
        });
    }

    /// Convolution and Pooling and their output shapes (CAFFE-8).
    fn conv(&mut self, layer: &Layer) -> Result<(), String> {
        let p = layer.conv.clone().unwrap_or_default();
        if p.group.is_some_and(|g| g != 1) {
            return Err(format!(
                "{}: group {} (a grouped convolution) is not supported",
                layer_ref(layer),
                p.group.unwrap_or(1)
            ));
        }
        if p.dilation.iter().any(|&d| d != 1) {
            return Err(format!(
                "{}: dilation {:?} is not supported",
                layer_ref(layer),
                p.dilation
            ));
        }
        if p.axis.is_some_and(|a| a != 1) {
            return Err(format!(
                "{}: axis {} is not supported (ebr convolves N x C x H x W with axis 1)",
                layer_ref(layer),
                p.axis.unwrap_or(1)
            ));
        }
        let out = count(layer, "num_output", p.num_output)?;
        let kernel = square(
            layer,
            "kernel",
            &p.kernel_size,
            p.kernel_h,
            p.kernel_w,
            None,
        )?;
        let stride = square(layer, "stride", &p.stride, p.stride_h, p.stride_w, Some(1))?;
        let pad = square(layer, "pad", &p.pad, p.pad_h, p.pad_w, Some(0))?;
        let bias = p.bias_term.unwrap_or(true);
        let [c, h, w] = self.chw();
        let g = ConvGeometry::new(c, h, w, out, kernel, stride, pad)
            .map_err(|e| format!("{} on a {c}x{h}x{w} input: {e}", layer_ref(layer)))?;
        let name = ebr_name(&layer.name);
        let weight = ("weight [out, in, kh, kw]", vec![out, c, kernel, kernel]);
        self.weight_and_bias(layer, &name, weight, bias);
        let spec = FrameLayerSpec::Conv {
            kernel: g.kernel,
            stride: g.stride,
            pad: g.pad,
            name,
            out,
            bias,
        };
        self.push_frame(layer, spec, vec![out, g.out_height(), g.out_width()]);
        Ok(())
    }

    fn pool(&mut self, layer: &Layer) -> Result<(), String> {
        let p = layer.pool.clone().unwrap_or_default();
        let method = p.pool.unwrap_or(PoolMethod::Max);
        if method == PoolMethod::Stochastic {
            return Err(format!(
                "{}: STOCHASTIC pooling is not supported",
                layer_ref(layer)
            ));
        }
        let [c, h, w] = self.chw();
        let (kernel, stride, pad) = if p.global_pooling == Some(true) {
            if h != w {
                return Err(format!(
                    "{}: global pooling over a {h}x{w} input is not square",
                    layer_ref(layer)
                ));
            }
            (h, 1, 0)
        } else {
            let list = |v: Option<u64>| v.into_iter().collect::<Vec<_>>();
            (
                square(
                    layer,
                    "kernel",
                    &list(p.kernel_size),
                    p.kernel_h,
                    p.kernel_w,
                    None,
                )?,
                square(
                    layer,
                    "stride",
                    &list(p.stride),
                    p.stride_h,
                    p.stride_w,
                    Some(1),
                )?,
                square(layer, "pad", &list(p.pad), p.pad_h, p.pad_w, Some(0))?,
            )
        };
        let g = PoolGeometry::new(c, h, w, kernel, stride, pad)
            .map_err(|e| format!("{} on a {c}x{h}x{w} input: {e}", layer_ref(layer)))?;
        let name = Some(ebr_name(&layer.name)).filter(|n| !n.is_empty());
        let spec = match method {
            PoolMethod::Max => FrameLayerSpec::MaxPool {
                name,
                kernel: g.kernel,
                stride: g.stride,
                pad: g.pad,
            },
            _ => FrameLayerSpec::AvgPool {
                kernel: g.kernel,
                stride: g.stride,
                pad: g.pad,
                name,
            },
        };
        self.push_frame(layer, spec, vec![c, g.out_height(), g.out_width()]);
        Ok(())
    }

    /// An InnerProduct's settings: outputs and bias (axis handled by the caller).
    fn fc_spec(&mut self, layer: &Layer, inputs: usize) -> Result<FcSpec, String> {
        let p = layer.inner_product.clone().unwrap_or_default();
        if p.transpose == Some(true) {
            return Err(format!(
                "{}: transpose: true is not supported",
                layer_ref(layer)
            ));
        }
        let out = count(layer, "num_output", p.num_output)?;
        let bias = p.bias_term.unwrap_or(true);
        let name = ebr_name(&layer.name);
        self.weight_and_bias(layer, &name, ("weight [out, in]", vec![out, inputs]), bias);
        Ok(FcSpec { name, out, bias })
    }

    fn inner_product(&mut self, layer: &Layer, value: Value) -> Result<(), String> {
        let axis = layer
            .inner_product
            .as_ref()
            .and_then(|p| p.axis)
            .unwrap_or(1);
        match value {
            // The frame classifier: beside the temporal part, on the finished feature (CAFFE-10).
            Value::Frame { at }
                if Some(at) == self.feature_at && self.frame_classifier.is_none() =>
            {
                if axis != 1 {
                    return Err(format!(
                        "{}: axis {axis} on the feature blob; ebr's frame classifier takes axis 1",
                        layer_ref(layer)
                    ));
                }
                let inputs = self.chw().iter().product();
                let head = self.fc_spec(layer, inputs)?;
                self.frame_classifier = Some(head);
                self.bind_tops(layer, Value::FrameHead);
                Ok(())
            }
            Value::Input { .. } | Value::Frame { .. } => {
                self.chain_end(layer, &value)?;
                if axis != 1 {
                    return Err(format!(
                        "{}: axis {axis} in the frame CNN; ebr's fc flattens C*H*W (axis 1)",
                        layer_ref(layer)
                    ));
                }
                let inputs = self.chw().iter().product();
                let FcSpec { name, out, bias } = self.fc_spec(layer, inputs)?;
                self.push_frame(layer, FrameLayerSpec::Fc { name, out, bias }, vec![out]);
                Ok(())
            }
            Value::Sequence { width, .. } | Value::Pooled { width } => {
                if self.classifier.is_some() {
                    return Err(format!(
                        "{}: a second classifier on the temporal output",
                        layer_ref(layer)
                    ));
                }
                let rank: i64 = if matches!(value, Value::Sequence { .. }) {
                    3
                } else {
                    4
                };
                let axis = if axis < 0 { axis + rank } else { axis };
                // (T, 1, D): axis 1 or 2 keep one row per step; (1, 1, 1, D): any axis.
                let first = if rank == 3 { 1 } else { 0 };
                if !(first..rank).contains(&axis) {
                    return Err(format!(
                        "{}: axis {axis} on the {} output would mix the steps; ebr's classifier takes one row per step",
                        layer_ref(layer),
                        if rank == 3 { "(T, 1, D)" } else { "(1, 1, 1, D)" }
                    ));
                }
                let head = self.fc_spec(layer, width)?;
                self.classifier = Some(head);
                self.bind_tops(
                    layer,
                    Value::Logits {
                        class_axis: axis,
                        rank: axis + 1,
                    },
                );
                Ok(())
            }
            other => Err(format!(
                "{} reads {}, which ebr's model has no place for",
                layer_ref(layer),
                describe(&other)
            )),
        }
    }

    /// Caffe's Reshape: 0 copies the input's dim, -1 is inferred. spec/caffe-import.md (CAFFE-9)
    fn reshaped(&self, layer: &Layer, input: &[i64]) -> Result<Vec<i64>, String> {
        let p = layer.reshape.clone().unwrap_or_default();
        if p.axis.is_some_and(|a| a != 0) || p.num_axes.is_some_and(|n| n != -1) {
            return Err(format!(
                "{}: axis and num_axes must be their defaults (0, -1)",
                layer_ref(layer)
            ));
        }
        let total = input
            .iter()
            .try_fold(1i64, |a, &b| a.checked_mul(b).filter(|_| b >= 1))
            .ok_or_else(|| format!("{} reshapes a blob of shape {input:?}", layer_ref(layer)))?;
        let mut out: Vec<i64> = Vec::with_capacity(p.shape.len());
        let mut infer = None;
        for (i, &d) in p.shape.iter().enumerate() {
            match d {
                0 => out.push(*input.get(i).ok_or_else(|| {
                    format!(
                        "{}: dim {i} is 0 (copy) but the input has {} axes",
                        layer_ref(layer),
                        input.len()
                    )
                })?),
                -1 if infer.is_none() => {
                    infer = Some(i);
                    out.push(1);
                }
                d if d >= 1 => out.push(d),
                d => return Err(format!("{}: dim {d} is not valid", layer_ref(layer))),
            }
        }
        let known = out
            .iter()
            .try_fold(1i64, |a, &b| a.checked_mul(b))
            .filter(|&k| k > 0);
        let Some(known) = known else {
            return Err(format!(
                "{}: the shape {:?} overflows",
                layer_ref(layer),
                p.shape
            ));
        };
        if let Some(i) = infer {
            out[i] = total / known;
        }
        if out.iter().product::<i64>() != total {
            return Err(format!(
                "{} reshapes {input:?} ({total} values) to {:?}",
                layer_ref(layer),
                p.shape
            ));
        }
        Ok(out)
    }

    fn reshape(&mut self, layer: &Layer, value: Value) -> Result<(), String> {
        match value {
            Value::Input { name, shape } => {
                let shape = self.reshaped(layer, &shape)?;
                self.bind_tops(layer, Value::Input { name, shape });
                Ok(())
            }
            Value::Frame { at } if self.feature_at.is_none() => {
                // A frame classifier declared before the temporal part (tiny_cnn_lstm's fc8f)
                // is the one InnerProduct after the feature blob.
                if at + 1 == self.frame.len() {
                    if let Some(FrameLayerSpec::Fc { name, out, bias }) = self.frame.last().cloned()
                    {
                        self.frame.pop();
                        self.shapes.pop();
                        self.frame_classifier = Some(FcSpec { name, out, bias });
                        for v in self.bindings.values_mut() {
                            if *v == (Value::Frame { at: at + 1 }) {
                                *v = Value::FrameHead;
                            }
                        }
                    }
                }
                if at != self.frame.len() {
                    return Err(format!(
                        "{} reads a blob that later layers of the frame CNN have moved past (a branch); ebr's frame CNN is one chain",
                        layer_ref(layer)
                    ));
                }
                let (_, _, frames) = self
                    .data
                    .clone()
                    .ok_or_else(|| format!("{} reads no input", layer_ref(layer)))?;
                let feature: usize = self.current_shape().iter().product();
                let mut caffe_shape = vec![frames as i64];
                caffe_shape.extend(self.current_shape().iter().map(|&d| d as i64));
                let r = self.reshaped(layer, &caffe_shape)?;
                let as_usize: Vec<usize> = r.iter().map(|&d| d as usize).collect();
                let value = match as_usize[..] {
                    [t, n, d] if n > 1 => {
                        let _ = (t, d);
                        return Err(format!(
                            "layer \"{}\" reshapes to {}: {n} streams (N > 1); ebr grounds one clip (N = 1)",
                            layer.name,
                            shape_string(&as_usize)
                        ));
                    }
                    [t, 1, d] if d == feature => Value::Sequence { steps: t, width: d },
                    [1, 1, t, d] if d == feature => Value::PoolRows { steps: t, width: d },
                    _ => {
                        return Err(format!(
                            "layer \"{}\" reshapes the feature blob ({feature} values per frame) to {}; ebr reads (T, 1, D) for an LSTM or (1, 1, T, D) for a mean-pool",
                            layer.name,
                            shape_string(&as_usize)
                        ))
                    }
                };
                self.feature_at = Some(at);
                self.bind_tops(layer, value);
                Ok(())
            }
            other => Err(format!(
                "{} reshapes {}, which ebr's model has no place for",
                layer_ref(layer),
                describe(&other)
            )),
        }
    }

    fn lstm(&mut self, layer: &Layer) -> Result<(), String> {
        match layer.bottoms.len() {
            2 => {}
            3 => {
                return Err(format!(
                    "layer \"{}\" (LSTM) has 3 bottoms; an LSTM with a static input (a third bottom) is not supported",
                    layer.name
                ))
            }
            n => return Err(format!("{} has {n} bottoms; ebr's LSTM reads the sequence and the clip markers", layer_ref(layer))),
        }
        let x = self.value(layer, &layer.bottoms[0])?;
        let markers = self.value(layer, &layer.bottoms[1])?;
        let Value::Sequence { steps, width } = x else {
            return Err(format!("{} reads {} as its sequence; ebr's LSTM reads the feature reshaped to (T, 1, D) or another LSTM", layer_ref(layer), describe(&x)));
        };
        match &markers {
            Value::Input { name, .. } if self.data.as_ref().is_none_or(|(d, _, _)| d != name) => {}
            other => {
                return Err(format!(
                    "{} reads {} as its clip markers; they must be an input",
                    layer_ref(layer),
                    describe(other)
                ))
            }
        }
        let p = layer.recurrent.clone().unwrap_or_default();
        if p.expose_hidden == Some(true) {
            return Err(format!(
                "{}: expose_hidden is not supported (ebr starts from h = c = 0)",
                layer_ref(layer)
            ));
        }
        let hidden = count(layer, "recurrent_param.num_output", p.num_output)?;
        let name = ebr_name(&layer.name);
        self.params.push(ParamLayer {
            caffe_name: layer.name.clone(),
            caffe_type: layer.kind.clone(),
            blobs: vec![
                ParamBlob {
                    file: format!("{name}_W_xc.npy"),
                    what: "input weight W_xc [4H, D]".to_string(),
                    shape: vec![4 * hidden, width],
                },
                ParamBlob {
                    file: format!("{name}_b_c.npy"),
                    what: "gate bias b_c [4H]".to_string(),
                    shape: vec![4 * hidden],
                },
                ParamBlob {
                    file: format!("{name}_W_hc.npy"),
                    what: "recurrent weight W_hc [4H, H]".to_string(),
                    shape: vec![4 * hidden, hidden],
                },
            ],
        });
        self.notes.push(format!(
            "layer \"{}\" (LSTM) becomes ebr's lstm, the authors' ReLU-LSTM (spec/layers/lstm.md); a model trained with stock Caffe's tanh LSTM has the same blobs but computes something else",
            layer.name
        ));
        self.temporal.push(TemporalLayerSpec::Lstm { name, hidden });
        self.bind_tops(
            layer,
            Value::Sequence {
                steps,
                width: hidden,
            },
        );
        Ok(())
    }

    fn mean_pool(&mut self, layer: &Layer, steps: usize, width: usize) -> Result<(), String> {
        let p = layer.pool.clone().unwrap_or_default();
        let pick = |one: Option<u64>, h: Option<u64>, w: Option<u64>, default: u64| {
            (h.or(one).unwrap_or(default), w.or(one).unwrap_or(default))
        };
        let kernel = pick(p.kernel_size, p.kernel_h, p.kernel_w, 0);
        let stride = pick(p.stride, p.stride_h, p.stride_w, 1);
        let pad = pick(p.pad, p.pad_h, p.pad_w, 0);
        let global = p.global_pooling == Some(true);
        let ave = p.pool == Some(PoolMethod::Ave);
        if !ave || global || kernel != (steps as u64, 1) || stride != (1, 1) || pad != (0, 0) {
            return Err(format!(
                "{} on the (1, 1, {steps}, {width}) feature: ebr's mean-pool is Pooling AVE with kernel_h {steps}, kernel_w 1, stride 1, pad 0",
                layer_ref(layer)
            ));
        }
        self.temporal.push(TemporalLayerSpec::MeanPool);
        self.bind_tops(layer, Value::Pooled { width });
        Ok(())
    }

    fn softmax(&mut self, layer: &Layer, value: Value) -> Result<(), String> {
        let axis = layer.softmax_axis.unwrap_or(1);
        let ok = match value {
            Value::Logits { class_axis, rank } => {
                (if axis < 0 { axis + rank } else { axis }) == class_axis
            }
            Value::FrameHead => axis == 1 || axis == -1,
            Value::Frame { at } => {
                // A Softmax on an InnerProduct at the chain's end (a per-frame classifier).
                at == self.frame.len()
                    && matches!(self.frame.last(), Some(FrameLayerSpec::Fc { .. }))
                    && (axis == 1 || axis == -1)
            }
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{} (axis {axis}) reads {}; ebr applies its softmax over a classifier's classes only",
                layer_ref(layer),
                describe(&value)
            ));
        }
        // An in-place Softmax would rebind the logits' name: the probabilities are read by
        // nothing of ebr's.
        self.bind_tops(layer, Value::Probabilities);
        Ok(())
    }

    fn layer(&mut self, layer: &Layer) -> Result<(), String> {
        let kind = layer.kind.as_str();
        if is_skipped_type(kind) {
            self.notes.push(format!(
                "{} skipped (not part of the model)",
                layer_ref(layer)
            ));
            return Ok(());
        }
        match kind {
            "Input" | "DummyData" => {
                if layer.input_shapes.len() < layer.tops.len() {
                    return Err(format!("{}: {} tops, {} shapes", layer_ref(layer), layer.tops.len(), layer.input_shapes.len()));
                }
                for (top, shape) in layer.tops.iter().zip(&layer.input_shapes) {
                    self.bindings.insert(top.clone(), Value::Input { name: top.clone(), shape: shape.clone() });
                }
                return Ok(());
            }
            "Convolution" | "Pooling" | "ReLU" | "Dropout" | "InnerProduct" | "Reshape" | "LSTM" | "Softmax" | "Split" => {}
            other => {
                return Err(format!(
                    "layer \"{}\" has type \"{other}\", which ebr does not support; supported: {SUPPORTED}",
                    layer.name
                ))
            }
        }
        if kind == "LSTM" {
            return self.lstm(layer);
        }
        if layer.bottoms.len() != 1 {
            return Err(format!(
                "{} has {} bottoms; ebr's layers read one",
                layer_ref(layer),
                layer.bottoms.len()
            ));
        }
        let value = self.value(layer, &layer.bottoms[0])?;
        match kind {
            "Split" => {
                self.bind_tops(layer, value);
                Ok(())
            }
            "Convolution" => {
                self.chain_end(layer, &value)?;
                self.conv(layer)
            }
            "Pooling" => match value {
                Value::PoolRows { steps, width } => self.mean_pool(layer, steps, width),
                _ => {
                    self.chain_end(layer, &value)?;
                    self.pool(layer)
                }
            },
            "ReLU" | "Dropout" => {
                if kind == "Dropout" && layer.phase == Some(Phase::Train) {
                    return Err(format!(
                        "{}: phase TRAIN would drop units; ebr runs the test net",
                        layer_ref(layer)
                    ));
                }
                if kind == "ReLU" && layer.relu_negative_slope.is_some_and(|s| s != 0.0) {
                    return Err(format!(
                        "{}: negative_slope {} (a leaky ReLU) is not supported",
                        layer_ref(layer),
                        layer.relu_negative_slope.unwrap_or(0.0)
                    ));
                }
                match value {
                    Value::Sequence { .. } | Value::Pooled { .. } if kind == "Dropout" => {
                        self.notes.push(format!(
                            "{} skipped (the identity at inference)",
                            layer_ref(layer)
                        ));
                        self.bind_tops(layer, value);
                        Ok(())
                    }
                    _ => {
                        self.chain_end(layer, &value)?;
                        let spec = if kind == "ReLU" {
                            FrameLayerSpec::Relu
                        } else {
                            FrameLayerSpec::Dropout
                        };
                        let shape = self.current_shape().to_vec();
                        self.push_frame(layer, spec, shape);
                        Ok(())
                    }
                }
            }
            "InnerProduct" => self.inner_product(layer, value),
            "Reshape" => self.reshape(layer, value),
            _ => self.softmax(layer, value),
        }
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Input { name, .. } => format!("the input \"{name}\""),
        Value::Frame { .. } => "a blob of the frame CNN".to_string(),
        Value::FrameHead => "the frame classifier's output".to_string(),
        Value::Sequence { .. } => "the (T, 1, D) sequence".to_string(),
        Value::PoolRows { .. } => "the feature reshaped for a mean-pool".to_string(),
        Value::Pooled { .. } => "the temporal mean".to_string(),
        Value::Logits { .. } => "the classifier's output".to_string(),
        Value::Probabilities => "a Softmax's output".to_string(),
    }
}

/// Maps the test net of `net` onto ebr's model. spec/caffe-import.md (CAFFE-5..CAFFE-10)
pub fn to_spec(net: &Net) -> Result<Mapped, String> {
    let mut walk = Walk {
        bindings: HashMap::new(),
        data: None,
        frame: Vec::new(),
        shapes: Vec::new(),
        feature_at: None,
        temporal: Vec::new(),
        classifier: None,
        frame_classifier: None,
        params: Vec::new(),
        notes: Vec::new(),
    };
    for input in &net.inputs {
        walk.bindings.insert(
            input.name.clone(),
            Value::Input {
                name: input.name.clone(),
                shape: input.shape.clone(),
            },
        );
    }
    for layer in test_net(&net.layers) {
        walk.layer(layer)?;
    }
    let (_, frame_shape, declared_frames) = walk.data.clone().ok_or_else(|| {
        "no layer of the test net reads an input: the net has no frame CNN".to_string()
    })?;
    if walk.feature_at.is_none() {
        // A per-frame net: its last InnerProduct is the classifier (CAFFE-8).
        match walk.frame.pop() {
            Some(FrameLayerSpec::Fc { name, out, bias }) => {
                walk.shapes.pop();
                walk.classifier = Some(FcSpec { name, out, bias });
            }
            _ => {
                return Err(
                    "the net has no temporal part and does not end with an InnerProduct: ebr needs a classifier"
                        .to_string(),
                )
            }
        }
    }
    let classifier = walk
        .classifier
        .ok_or_else(|| "no InnerProduct classifier reads the temporal part's output".to_string())?;
    if walk.feature_at.is_some() && walk.temporal.is_empty() {
        return Err("the feature is reshaped for a mean-pool that never comes".to_string());
    }
    // Names become file names: two Caffe names that become one are refused (CAFFE-11).
    let mut seen: HashMap<String, &str> = HashMap::new();
    for p in &walk.params {
        let name = ebr_name(&p.caffe_name);
        if name.is_empty() || name == "data" {
            return Err(format!(
                "a {} layer is named \"{name}\"; ebr needs a name for every layer with parameters, and \"data\" is its input's",
                p.caffe_type
            ));
        }
        if let Some(first) = seen.insert(name.clone(), &p.caffe_name) {
            return Err(format!(
                "layers \"{first}\" and \"{}\" both become \"{name}\" in ebr (names become file names, '/' becomes '_')",
                p.caffe_name
            ));
        }
        if name != p.caffe_name {
            walk.notes.push(format!(
                "layer \"{}\" is named \"{name}\" in ebr",
                p.caffe_name
            ));
        }
    }
    Ok(Mapped {
        frame_shape,
        declared_frames,
        frame: walk.frame,
        temporal: walk.temporal,
        classifier,
        frame_classifier: walk.frame_classifier,
        params: walk.params,
        notes: walk.notes,
    })
}
