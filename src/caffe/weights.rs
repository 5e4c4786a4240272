//! A caffemodel's blobs given to the layers of the imported model, matched by layer name as
//! Caffe does, with their count and shapes checked. spec/caffe-import.md (CAFFE-11)

use std::collections::HashMap;

use super::graph::ParamLayer;
use super::net::{Blob, Net};
use crate::tensor::shape_string;
use crate::Tensor;

impl Blob {
    /// Whether this blob has `expected`'s shape: equal, or for a legacy 4-D blob, `expected`
    /// with 1s in front (Caffe's `Blob::ShapeEquals`). spec/caffe-import.md (CAFFE-3)
    pub fn fits(&self, expected: &[usize]) -> bool {
        if self.shape == expected {
            return true;
        }
        self.legacy
            && expected.len() <= 4
            && self.shape.len() == 4
            && self.shape[4 - expected.len()..] == *expected
            && self.shape[..4 - expected.len()].iter().all(|&d| d == 1)
    }
}

/// The tensors of every parameter file of `params`, from `weights` (a caffemodel's net),
/// keyed by file name ("conv1_w.npy"). spec/caffe-import.md (CAFFE-11)
/// The blobs' values are moved out of `weights` (a VGG16's take 0.55 GB).
pub fn weights_for(
    params: &[ParamLayer],
    mut weights: Net,
) -> Result<HashMap<String, Tensor>, String> {
    // Caffe copies every source layer into the target layer of its name, in order: a later
    // layer of the same name wins.
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, layer) in weights.layers.iter().enumerate() {
        by_name.insert(layer.name.clone(), i);
    }
    let mut tensors = HashMap::new();
    for p in params {
        let Some(source) = by_name.get(&p.caffe_name).map(|&i| &mut weights.layers[i]) else {
            return Err(format!(
                "has no layer \"{}\" ({}), which has parameters in the prototxt (Caffe matches weights by layer name)",
                p.caffe_name, p.caffe_type
            ));
        };
        if source.blobs.len() != p.blobs.len() {
            let wanted: Vec<&str> = p.blobs.iter().map(|b| b.what.as_str()).collect();
            return Err(format!(
                "layer \"{}\" has {} blobs, the prototxt's {} needs {} ({})",
                p.caffe_name,
                source.blobs.len(),
                p.caffe_type,
                p.blobs.len(),
                wanted.join(", ")
            ));
        }
        for (i, (blob, wanted)) in source.blobs.iter_mut().zip(&p.blobs).enumerate() {
            if !blob.fits(&wanted.shape) {
                return Err(format!(
                    "layer \"{}\" blob {i} ({}) has shape {}, the prototxt needs {}",
                    p.caffe_name,
                    wanted.what,
                    shape_string(&blob.shape),
                    shape_string(&wanted.shape)
                ));
            }
            if let Some(index) = blob.data.iter().position(|v| !v.is_finite()) {
                return Err(format!(
                    "layer \"{}\" blob {i} ({}): value {} at flat index {index} is not finite",
                    p.caffe_name, wanted.what, blob.data[index]
                ));
            }
            tensors.insert(
                wanted.file.clone(),
                Tensor::new(wanted.shape.clone(), std::mem::take(&mut blob.data)),
            );
        }
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_dims_fit_right_aligned() {
        let blob = |shape: Vec<usize>, legacy| Blob {
            shape,
            legacy,
            data: Vec::new(),
        };
        assert!(blob(vec![1, 1, 10, 64], true).fits(&[10, 64]));
        assert!(blob(vec![1, 1, 1, 10], true).fits(&[10]));
        assert!(!blob(vec![1, 1, 10, 64], false).fits(&[10, 64]));
        assert!(!blob(vec![1, 2, 10, 64], true).fits(&[10, 64]));
        assert!(blob(vec![8, 3, 3, 3], true).fits(&[8, 3, 3, 3]));
    }
}
