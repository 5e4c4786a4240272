//! Writing a model directory: model.json and one .npy per parameter (spec/model.md), each
//! file atomically. The inverse of `Model::load`.

use std::path::Path;

use super::frame_net::FrameLayer;
use super::temporal::TemporalLayer;
use super::Model;
use crate::error::Error;
use crate::layers::{Fc, Lstm};
use crate::npy::write_npy;
use crate::output::write_atomically;
use crate::tensor::Tensor;

impl Model {
    /// Writes this model into `dir` (which must exist).
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        write_atomically(&dir.join("model.json"), self.spec.to_json_text().as_bytes())?;
        let write = |file: String, shape: Vec<usize>, data: &[f32]| {
            write_npy(&dir.join(file), &Tensor::new(shape, data.to_vec()))
        };
        let write_fc = |name: &str, fc: &Fc| -> Result<(), Error> {
            write(format!("{name}_w.npy"), vec![fc.outputs, fc.inputs], &fc.w)?;
            match &fc.b {
                Some(b) => write(format!("{name}_b.npy"), vec![fc.outputs], b),
                None => Ok(()),
            }
        };
        for layer in &self.frame.layers {
            match layer {
                FrameLayer::Conv { name, conv } => {
                    let g = conv.geometry;
                    let shape = vec![g.out_channels, g.in_channels, g.kernel, g.kernel];
                    write(format!("{name}_w.npy"), shape, &conv.w)?;
                    if let Some(b) = &conv.b {
                        write(format!("{name}_b.npy"), vec![g.out_channels], b)?;
                    }
                }
                FrameLayer::Fc { name, fc } => write_fc(name, fc)?,
                _ => {}
            }
        }
        let write_lstm = |name: &str, lstm: &Lstm| -> Result<(), Error> {
            let (h, d) = (lstm.hidden, lstm.inputs);
            let t = &lstm.input_transform;
            write(format!("{name}_W_xc.npy"), vec![4 * h, d], &t.w)?;
            let b_c = t.b.clone().unwrap_or_else(|| vec![0.0; 4 * h]);
            write(format!("{name}_b_c.npy"), vec![4 * h], &b_c)?;
            write(format!("{name}_W_hc.npy"), vec![4 * h, h], &lstm.w_hc)
        };
        for layer in &self.temporal {
            if let TemporalLayer::Lstm { name, lstm } = layer {
                write_lstm(name, lstm)?;
            }
        }
        if let Some(c) = &self.captioner {
            write(
                format!("{}_w.npy", c.embed_name),
                vec![c.vocabulary(), c.dim],
                &c.embedding,
            )?;
            write_lstm(&c.lstm1_name, &c.lstm1)?;
            // LSTM2's [W_xc | W_xc_static] back into its two files (CAP-4)
            let (h1, d_v, h2) = (c.lstm1.hidden, c.static_width, c.lstm2.hidden);
            let t = &c.lstm2.input_transform;
            let (mut w_xc, mut w_static) = (Vec::new(), Vec::new());
            for row in t.w.chunks_exact(h1 + d_v) {
                w_xc.extend_from_slice(&row[..h1]);
                w_static.extend_from_slice(&row[h1..]);
            }
            let name = &c.lstm2_name;
            write(format!("{name}_W_xc.npy"), vec![4 * h2, h1], &w_xc)?;
            write(
                format!("{name}_W_xc_static.npy"),
                vec![4 * h2, d_v],
                &w_static,
            )?;
            let b_c = t.b.clone().unwrap_or_else(|| vec![0.0; 4 * h2]);
            write(format!("{name}_b_c.npy"), vec![4 * h2], &b_c)?;
            write(format!("{name}_W_hc.npy"), vec![4 * h2, h2], &c.lstm2.w_hc)?;
        }
        write_fc(&self.classifier.name, &self.classifier.fc)?;
        if let Some(head) = &self.frame_classifier {
            write_fc(&head.name, &head.fc)?;
        }
        Ok(())
    }
}
