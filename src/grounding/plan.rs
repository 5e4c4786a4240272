//! A grounding's plan: everything a user can get wrong (the method against the model's heads,
//! the class, the map layer, a known length) resolved and checked before any work, so that
//! running it fails only where the data leave float32's range (`Error::Overflow`).
//! spec/pipeline.md (PIPE-4..PIPE-10)

use super::{
    channel_sum, feature_signal, frame_backward, Grounding, Method, Normalization, Options, Prior,
};
use crate::error::Error;
use crate::layers::LstmEbRule;
use crate::model::forward::check_finite;
use crate::model::{ClipForward, FrameLayer, Model};

/// What a user asks for, by name: the class as a label or an index, the map layer or None for
/// the default (the last convolution).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: Method,
    /// A class's label (exact, else the one label equal ignoring case) or index.
    pub target: String,
    pub layer: Option<String>,
    pub prior: Prior,
    pub normalization: Normalization,
    pub lstm_rule: LstmEbRule,
}

/// A checked grounding of one class with one method on one model.
#[derive(Clone, Debug)]
pub struct Plan<'m> {
    pub model: &'m Model,
    pub options: Options,
    /// The blob of the map layer `options.layer`.
    pub map_blob: usize,
    /// The class's name: its label, or its index for a frame classifier without labels.
    pub class_name: String,
}

impl<'m> Plan<'m> {
    /// Checks `options` against `model`: the method has the head it needs (a classifier that
    /// is not a captioner's, or a frame classifier), the class exists, the map layer exists.
    pub fn new(model: &'m Model, options: Options) -> Result<Plan<'m>, Error> {
        check_method(model, options.method)?;
        Plan::with_method_checked(model, options)
    }

    /// Resolves a request's names (the class, the default map layer), then checks it as
    /// [`Plan::new`] does.
    pub fn from_request(model: &'m Model, request: &Request) -> Result<Plan<'m>, Error> {
        check_method(model, request.method)?;
        let class = resolve_class(&class_names(model, request.method), &request.target)?;
        let layer = match &request.layer {
            Some(layer) => layer.clone(),
            None => default_map_layer(model),
        };
        let options = Options {
            method: request.method,
            class,
            layer,
            prior: request.prior,
            normalization: request.normalization,
            lstm_rule: request.lstm_rule,
        };
        Plan::with_method_checked(model, options)
    }

    /// The class and map layer checks of [`Plan::new`], for a method already checked.
    fn with_method_checked(model: &'m Model, options: Options) -> Result<Plan<'m>, Error> {
        let names = class_names(model, options.method);
        if options.class >= names.len() {
            return Err(Error::UnknownName {
                kind: "class".to_string(),
                given: options.class.to_string(),
                valid: vec![format!("0..{}", names.len().saturating_sub(1))],
            });
        }
        let map_blob = map_blob(model, &options.layer)?;
        Ok(Plan {
            model,
            class_name: names[options.class].clone(),
            options,
            map_blob,
        })
    }

    /// Checks a known length of the action against the clip's `frames`: 1..=frames.
    pub fn check_length(&self, length: usize, frames: usize) -> Result<(), Error> {
        if length == 0 || length > frames {
            return Err(Error::Unsupported {
                reason: format!(
                    "--length {length} must be between 1 and the clip's {frames} frames"
                ),
            });
        }
        Ok(())
    }

    /// Grounds the plan's class in the clip whose forward pass is `fwd`: the signal at the
    /// feature blob (PIPE-4..PIPE-7, PIPE-10), then down the CNN to the map layer (PIPE-8,
    /// PIPE-9). Fails only on a non-finite feature, logit or map value.
    pub fn ground(
        &self,
        fwd: &ClipForward,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Grounding, Error> {
        fwd.check_finite()?;
        let (model, options) = (self.model, &self.options);
        let (feature_signal, attention) = feature_signal(model, fwd, options);
        let layer_shape = model.frame.blob_shapes[self.map_blob];
        let rule = options.method.rule(options.lstm_rule);
        let layer_signal =
            frame_backward(model, fwd, &feature_signal, self.map_blob, rule, progress);
        let maps = channel_sum(&layer_signal, fwd.frames, layer_shape);
        check_finite("the map", "frame", &maps, layer_shape[1] * layer_shape[2])?;
        Ok(Grounding {
            options: options.clone(),
            layer_shape,
            feature_signal,
            layer_signal,
            maps,
            attention,
        })
    }
}

/// Refuses a method the model cannot run: a class method on a captioner, a per-frame method
/// without a frame classifier.
pub fn check_method(model: &Model, method: Method) -> Result<(), Error> {
    if model.captioner.is_some() && !method.per_frame() {
        return Err(Error::Unsupported {
            reason: format!(
                "the model in {} is a captioner: ground a word with ebr ground-caption",
                model.dir.display()
            ),
        });
    }
    if method.per_frame() && model.frame_classifier.is_none() {
        return Err(Error::Unsupported {
            reason: format!(
                "method {} needs a frame_classifier, and {} has none (use cebr, ebr or bpr)",
                method.name(),
                model.dir.join("model.json").display()
            ),
        });
    }
    Ok(())
}

/// The names of the classes a method grounds: the classifier's labels, or for the per-frame
/// methods the frame classifier's (the same labels when it has as many classes, else indices).
pub fn class_names(model: &Model, method: Method) -> Vec<String> {
    match (&model.frame_classifier, method.per_frame()) {
        (Some(head), true) if head.fc.outputs != model.labels.len() => {
            (0..head.fc.outputs).map(|k| k.to_string()).collect()
        }
        _ => model.labels.clone(),
    }
}

/// A class given as its index or its name (exact, else the one name equal ignoring case).
pub fn resolve_class(names: &[String], given: &str) -> Result<usize, Error> {
    if let Ok(index) = given.parse::<usize>() {
        if index < names.len() {
            return Ok(index);
        }
    }
    if let Some(index) = names.iter().position(|n| n == given) {
        return Ok(index);
    }
    let folded: Vec<usize> = (0..names.len())
        .filter(|&k| names[k].eq_ignore_ascii_case(given))
        .collect();
    if folded.len() == 1 {
        return Ok(folded[0]);
    }
    Err(Error::UnknownName {
        kind: "class".to_string(),
        given: given.to_string(),
        valid: names.to_vec(),
    })
}

/// The map layer by default: the last convolution (conv5_3 in VGG16; the paper's maps are at
/// conv5), else the input.
pub fn default_map_layer(model: &Model) -> String {
    model
        .frame
        .layers
        .iter()
        .rev()
        .find_map(|layer| match layer {
            FrameLayer::Conv { name, .. } => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "data".to_string())
}

/// The blob of the map layer named `layer` ("data" or a named frame layer).
pub fn map_blob(model: &Model, layer: &str) -> Result<usize, Error> {
    if layer == "data" {
        return Ok(0);
    }
    model
        .frame
        .blob_of_layer(layer)
        .ok_or_else(|| Error::UnknownName {
            kind: "layer".to_string(),
            given: layer.to_string(),
            valid: model.frame.layer_names(),
        })
}

/// Grounds `options` in the clip whose forward pass is `fwd`: [`Plan::new`], then
/// [`Plan::ground`]. spec/pipeline.md (PIPE-4..PIPE-10)
pub fn ground(
    model: &Model,
    fwd: &ClipForward,
    options: &Options,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Grounding, Error> {
    Plan::new(model, options.clone())?.ground(fwd, progress)
}
