//! Importing a Caffe model (deploy.prototxt + .caffemodel) into an ebr model directory, with
//! no Caffe: readers of protobuf's text and wire formats for the subset of caffe.proto ebr
//! needs, and the mapping of the net onto ebr's model. spec/caffe-import.md

pub mod caffemodel;
pub mod graph;
pub mod net;
pub mod prototxt;
pub mod text;
pub mod weights;
pub mod wire;

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::model::schema::{ChannelOrder, InputSpec, ModelSpec};
use crate::model::Model;
use crate::output::write_atomically;
use caffemodel::CaffemodelError;
use net::Net;
use prototxt::PrototxtError;

/// The V0 refusal (CAFFE-14).
const V0_MESSAGE: &str = "a V0 net (layers with an inner \"layer\" message, Caffe before 2014); upgrade it with Caffe's tools/upgrade_net_proto_text or upgrade_net_proto_binary first";

/// Files larger than this are refused before they are read (a caffemodel of VGG16 takes
/// 0.55 GB; protobuf itself caps a message at 2 GiB).
const MAX_FILE_BYTES: u64 = 2 << 30;

fn model_error(path: &Path, reason: String) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason,
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            reason: format!("{size} bytes, more than protobuf's 2 GiB for one message"),
        });
    }
    std::fs::read(path).map_err(io)
}

/// Reads a prototxt. spec/caffe-import.md (CAFFE-4)
pub fn read_prototxt(path: &Path) -> Result<Net, Error> {
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        model_error(
            path,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })?;
    parse_prototxt(path, &text)
}

/// Parses a prototxt's text; `path` is only used in errors. spec/caffe-import.md (CAFFE-4)
pub fn parse_prototxt(path: &Path, text: &str) -> Result<Net, Error> {
    prototxt::net_from_text(text).map_err(|e| match e {
        PrototxtError::Text(e) => model_error(
            path,
            format!("line {}, column {}: {}", e.at.line, e.at.column, e.reason),
        ),
        PrototxtError::V0 => model_error(path, V0_MESSAGE.to_string()),
    })
}

/// Reads a caffemodel. spec/caffe-import.md (CAFFE-1..CAFFE-3)
pub fn read_caffemodel(path: &Path) -> Result<Net, Error> {
    parse_caffemodel(path, &read_file(path)?)
}

/// Parses a caffemodel's bytes; `path` is only used in errors.
pub fn parse_caffemodel(path: &Path, bytes: &[u8]) -> Result<Net, Error> {
    caffemodel::read_caffemodel(bytes).map_err(|e| match e {
        CaffemodelError::Wire(e) => model_error(
            path,
            format!("not a valid caffemodel: at byte {}: {}", e.at, e.reason),
        ),
        CaffemodelError::V0 => model_error(path, V0_MESSAGE.to_string()),
    })
}

/// One line per layer of a caffemodel: name, type, phase, bottoms -> tops, blob shapes.
/// spec/caffe-import.md (CAFFE-15)
pub fn list_layers(net: &Net) -> Vec<String> {
    net.layers
        .iter()
        .map(|layer| {
            let blobs: Vec<String> = layer
                .blobs
                .iter()
                .map(|b| {
                    let dims: Vec<String> = b.shape.iter().map(|d| d.to_string()).collect();
                    dims.join("x")
                })
                .collect();
            format!(
                "{:<24} {:<16} {:<5} {} -> {}{}",
                layer.name,
                layer.kind,
                layer.phase.map_or("-", |p| p.name()),
                layer.bottoms.join(","),
                layer.tops.join(","),
                if blobs.is_empty() {
                    String::new()
                } else {
                    format!("  blobs: {}", blobs.join(", "))
                }
            )
        })
        .collect()
}

/// How frames become the model's input (a prototxt does not say). spec/caffe-import.md
/// (CAFFE-12)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Plain Caffe: no resize, x255, BGR, no mean.
    Caffe,
    /// The authors' RNN demo (spec/preprocess.md): resize to 240x320, x255, BGR, mean
    /// (103.939, 116.779, 128.68).
    Authors,
}

/// The input block: a preset, and single fields overriding it. spec/caffe-import.md
/// (CAFFE-12)
#[derive(Clone, Debug, PartialEq)]
pub struct InputOptions {
    pub preset: Preset,
    pub resize: Option<[usize; 2]>,
    /// No resize, even if the preset has one.
    pub no_resize: bool,
    pub scale: Option<f64>,
    pub channel_order: Option<ChannelOrder>,
    pub mean: Option<Vec<f64>>,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            preset: Preset::Caffe,
            resize: None,
            no_resize: false,
            scale: None,
            channel_order: None,
            mean: None,
        }
    }
}

impl InputOptions {
    /// The input block for a frame of `[C, H, W]`.
    pub fn input_spec(&self, [channels, height, width]: [usize; 3]) -> InputSpec {
        let (resize, mean) = match self.preset {
            Preset::Caffe => (None, vec![0.0; channels]),
            Preset::Authors => (Some([240, 320]), vec![103.939, 116.779, 128.68]),
        };
        let resize = if self.no_resize {
            None
        } else {
            self.resize.or(resize)
        };
        InputSpec {
            channels,
            height,
            width,
            resize,
            scale: self.scale.unwrap_or(255.0),
            channel_order: self.channel_order.unwrap_or(ChannelOrder::Bgr),
            mean: self.mean.clone().unwrap_or(mean),
            std: vec![1.0; channels],
        }
    }
}

/// Where the weights come from. spec/caffe-import.md (CAFFE-11, CAFFE-13)
#[derive(Clone, Debug, PartialEq)]
pub enum WeightSource {
    /// A .caffemodel.
    Caffemodel(PathBuf),
    /// He initialisation with this seed (`Model::random`).
    Random(u64),
    /// None: model.json only.
    Missing,
}

/// An imported model: its model.json, its parameters (unless missing) and what the user
/// should know.
pub struct Imported {
    pub spec: ModelSpec,
    pub model: Option<Model>,
    pub notes: Vec<String>,
}

/// Imports the net of `prototxt` with weights from `weights`. spec/caffe-import.md
pub fn import(
    prototxt: &Path,
    weights: &WeightSource,
    input: &InputOptions,
    labels: Option<Vec<String>>,
) -> Result<Imported, Error> {
    let net = read_prototxt(prototxt)?;
    let mapped = graph::to_spec(&net).map_err(|reason| model_error(prototxt, reason))?;
    let classes = mapped.classifier.out;
    let labels = match labels {
        Some(labels) if labels.len() != classes => {
            return Err(Error::Unsupported {
                reason: format!(
                    "{} labels given, the classifier \"{}\" has {classes} classes",
                    labels.len(),
                    mapped.classifier.name
                ),
            })
        }
        Some(labels) => labels,
        None => (0..classes).map(|k| k.to_string()).collect(),
    };
    let name = if net.name.is_empty() {
        prototxt
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        net.name.clone()
    };
    let spec = ModelSpec {
        name,
        input: input.input_spec(mapped.frame_shape),
        frame: mapped.frame,
        temporal: mapped.temporal,
        classifier: mapped.classifier,
        frame_classifier: mapped.frame_classifier,
        captioner: None,
        labels,
    };
    // What is written must be what ebr reads: the spec goes through model.json's own reader.
    let json = Path::new("model.json");
    let text = serde_json::to_string_pretty(&spec.to_json()).expect("JSON serializes");
    let spec = ModelSpec::parse(json, &text)?;
    let mut notes = mapped.notes;
    let dir = Path::new(".");
    let model = match weights {
        WeightSource::Missing => {
            notes.push("no --weights: model.json only (the weights are missing); `ebr inspect` shows the net, `ebr ground` needs weights".to_string());
            None
        }
        WeightSource::Random(seed) => {
            notes.push(format!(
                "random weights (He initialisation, seed {seed}): for grounding and benchmarking the architecture, not a trained model"
            ));
            Some(Model::random(&spec, *seed, dir)?)
        }
        WeightSource::Caffemodel(path) => {
            let source = read_caffemodel(path)?;
            let tensors = weights::weights_for(&mapped.params, source)
                .map_err(|reason| model_error(path, reason))?;
            Some(Model::from_parameters(&spec, tensors, dir)?)
        }
    };
    if mapped.declared_frames > 0 {
        notes.push(format!(
            "the prototxt's input holds {} frame(s); ebr runs clips of any length",
            mapped.declared_frames
        ));
    }
    Ok(Imported { spec, model, notes })
}

/// Writes an imported model into `out`, which must not exist: into a temporary sibling
/// folder, renamed at the end (a failure leaves nothing). spec/caffe-import.md (CAFFE-14)
pub fn write_model_dir(imported: &Imported, out: &Path) -> Result<(), Error> {
    if out.exists() {
        return Err(model_error(
            out,
            "exists; give a new directory for the imported model".to_string(),
        ));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string());
    let temporary = out.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(&temporary).map_err(io(&temporary))?;
    let written = match &imported.model {
        Some(model) => model.save(&temporary),
        None => {
            let text =
                serde_json::to_string_pretty(&imported.spec.to_json()).expect("JSON serializes");
            write_atomically(
                &temporary.join("model.json"),
                format!("{text}\n").as_bytes(),
            )
        }
    };
    let renamed = written.and_then(|()| std::fs::rename(&temporary, out).map_err(io(out)));
    if renamed.is_err() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    renamed
}

/// Class names from a labels file: one per line, `name` or `index name` (UCF101's
/// classInd.txt; indexed lines are sorted by index). Empty lines are skipped.
/// spec/caffe-import.md (CAFFE-12)
pub fn read_labels(path: &Path) -> Result<Vec<String>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut indexed = Vec::new();
    let mut plain = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once(char::is_whitespace) {
            Some((index, name)) if index.parse::<usize>().is_ok() => {
                indexed.push((index.parse::<usize>().unwrap_or(0), name.trim().to_string()))
            }
            _ => plain.push(line.to_string()),
        }
    }
    if !indexed.is_empty() && !plain.is_empty() {
        return Err(model_error(
            path,
            "mixes `index name` lines with plain names".to_string(),
        ));
    }
    indexed.sort_by_key(|(i, _)| *i);
    Ok(if plain.is_empty() {
        indexed.into_iter().map(|(_, n)| n).collect()
    } else {
        plain
    })
}
