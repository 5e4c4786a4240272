//! The temporal part of a model ("temporal" in model.json): a stack of ReLU-LSTMs and temporal
//! mean-pools over the clip's per-frame features, one stream (N = 1).
//! spec/pipeline.md (PIPE-2, PIPE-4)

use crate::layers::{Lstm, LstmActivations, LstmEbRule, MeanPool, Rule};

/// One temporal layer with its parameters.
#[derive(Clone, Debug)]
pub enum TemporalLayer {
    Lstm { name: String, lstm: Lstm },
    MeanPool,
}

/// What one temporal layer's forward pass kept for the backward passes.
#[derive(Clone, Debug)]
pub enum TemporalActivations {
    Lstm(LstmActivations),
    /// The mean over the steps: (1, D).
    MeanPool(Vec<f32>),
}

/// The forward pass of the whole stack: every layer's input and activations.
#[derive(Clone, Debug)]
pub struct TemporalForward {
    /// `inputs[l]`: (steps_l, width_l), the input of layer l; `inputs[0]` is the features.
    pub inputs: Vec<Vec<f32>>,
    /// (steps, width) of every input, then of the output.
    pub sizes: Vec<(usize, usize)>,
    pub activations: Vec<TemporalActivations>,
    /// `cont[l]`: the clip markers of layer l's steps (0 for the first step, 1 after).
    pub cont: Vec<Vec<f32>>,
    /// The stack's output: (steps, width) = *sizes.last().
    pub output: Vec<f32>,
}

impl TemporalForward {
    /// (steps, width) of the stack's output.
    pub fn output_size(&self) -> (usize, usize) {
        *self.sizes.last().expect("sizes holds the input")
    }
}

/// Clip markers for one stream of `steps` steps: 0 starts the sequence, 1 continues it (the
/// demo's markers). spec/layers/lstm.md (LSTM-2)
pub fn clip_markers(steps: usize) -> Vec<f32> {
    (0..steps).map(|t| if t == 0 { 0.0 } else { 1.0 }).collect()
}

/// (steps, width) after `layer` for an input of (steps, width).
pub fn output_size(layer: &TemporalLayer, steps: usize, width: usize) -> (usize, usize) {
    match layer {
        TemporalLayer::Lstm { lstm, .. } => (steps, lstm.hidden),
        TemporalLayer::MeanPool => (1, width),
    }
}

/// The forward pass of `layers` over `features` (T, D). spec/pipeline.md (PIPE-2)
pub fn forward(
    layers: &[TemporalLayer],
    features: &[f32],
    steps: usize,
    width: usize,
) -> TemporalForward {
    assert_eq!(
        features.len(),
        steps * width,
        "temporal forward: features are (T, D)"
    );
    let mut inputs = vec![features.to_vec()];
    let mut sizes = vec![(steps, width)];
    let mut activations = Vec::with_capacity(layers.len());
    let mut cont = Vec::with_capacity(layers.len());
    for layer in layers {
        let (t_n, d) = *sizes.last().expect("sizes holds the input");
        let x = inputs.last().expect("inputs holds the features");
        let markers = clip_markers(t_n);
        let (output, kept) = match layer {
            TemporalLayer::Lstm { lstm, .. } => {
                let mut act = LstmActivations::zeros(t_n, 1, lstm.hidden);
                lstm.forward(&mut act, x, &markers);
                (act.h.clone(), TemporalActivations::Lstm(act))
            }
            TemporalLayer::MeanPool => {
                let pool = MeanPool {
                    steps: t_n,
                    width: d,
                };
                let mut mean = vec![0.0f32; d];
                pool.forward(&mut mean, x);
                (mean.clone(), TemporalActivations::MeanPool(mean))
            }
        };
        sizes.push(output_size(layer, t_n, d));
        activations.push(kept);
        cont.push(markers);
        inputs.push(output);
    }
    let output = inputs.pop().expect("the last entry is the output");
    TemporalForward {
        inputs,
        sizes,
        activations,
        cont,
        output,
    }
}

/// The backward pass of `top` (the stack's output shape) down to the features (T, D), by
/// `rule`: excitation backprop (with its LSTM rule) or the gradient. spec/pipeline.md (PIPE-4)
pub fn backward(
    layers: &[TemporalLayer],
    fwd: &TemporalForward,
    top: &[f32],
    rule: Rule,
) -> Vec<f32> {
    let (steps, width) = fwd.output_size();
    assert_eq!(
        top.len(),
        steps * width,
        "temporal backward: the signal has the output's shape"
    );
    let mut p = top.to_vec();
    for (l, layer) in layers.iter().enumerate().rev() {
        let (t_n, d) = fwd.sizes[l];
        let x = &fwd.inputs[l];
        let mut p_x = vec![0.0f32; t_n * d];
        match (layer, &fwd.activations[l]) {
            (TemporalLayer::Lstm { lstm, .. }, TemporalActivations::Lstm(act)) => match rule {
                Rule::Excitation(LstmEbRule::Original) => {
                    lstm.eb_backward(&mut p_x, x, &fwd.cont[l], act, &p)
                }
                Rule::Excitation(LstmEbRule::Conserving) => {
                    lstm.eb_backward_conserving(&mut p_x, x, &fwd.cont[l], act, &p)
                }
                Rule::Gradient => lstm.grad_backward(&mut p_x, &fwd.cont[l], act, &p),
            },
            (TemporalLayer::MeanPool, TemporalActivations::MeanPool(mean)) => {
                let pool = MeanPool {
                    steps: t_n,
                    width: d,
                };
                if rule.is_excitation() {
                    pool.eb_backward(&mut p_x, x, mean, &p);
                } else {
                    pool.grad_backward(&mut p_x, &p);
                }
            }
            _ => unreachable!("temporal backward: activations of another layer kind"),
        }
        p = p_x;
    }
    p
}
