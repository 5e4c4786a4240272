//! A .caffemodel (a `NetParameter` in protobuf's wire format) read into a [`Net`]: the layers'
//! names, types, bottoms, tops, phases and blobs. spec/caffe-import.md (CAFFE-2, CAFFE-3)

use super::net::{v1_type_name, Blob, Layer, Net, Phase};
use super::wire::{WireError, WireField, WireReader};

/// Why a caffemodel cannot be read: a broken byte, or a V0 net.
#[derive(Debug, PartialEq, Eq)]
pub enum CaffemodelError {
    Wire(WireError),
    V0,
}

impl From<WireError> for CaffemodelError {
    fn from(e: WireError) -> Self {
        CaffemodelError::Wire(e)
    }
}

/// Reads a whole caffemodel. spec/caffe-import.md (CAFFE-1, CAFFE-2)
pub fn read_caffemodel(bytes: &[u8]) -> Result<Net, CaffemodelError> {
    let mut net = Net::default();
    let mut reader = WireReader::new(bytes, 0);
    while let Some(field) = reader.next_field()? {
        match field.number {
            1 => net.name = field.string()?,
            2 => net.layers.push(v1_layer(&field)?),
            100 => net.layers.push(layer(&field)?),
            _ => {}
        }
    }
    Ok(net)
}

/// A `LayerParameter` (NetParameter.layer, field 100).
fn layer(field: &WireField) -> Result<Layer, CaffemodelError> {
    let mut layer = Layer::default();
    let mut reader = field.message()?;
    while let Some(f) = reader.next_field()? {
        match f.number {
            1 => layer.name = f.string()?,
            2 => layer.kind = f.string()?,
            3 => layer.bottoms.push(f.string()?),
            4 => layer.tops.push(f.string()?),
            7 => layer.blobs.push(blob(&f)?),
            10 => layer.phase = Phase::from_number(f.varint()?),
            _ => {}
        }
    }
    Ok(layer)
}

/// A `V1LayerParameter` (NetParameter.layers, field 2); one holding a V0 `layer` (field 1)
/// is a V0 net.
fn v1_layer(field: &WireField) -> Result<Layer, CaffemodelError> {
    let mut layer = Layer::default();
    let mut reader = field.message()?;
    while let Some(f) = reader.next_field()? {
        match f.number {
            1 => return Err(CaffemodelError::V0),
            2 => layer.bottoms.push(f.string()?),
            3 => layer.tops.push(f.string()?),
            4 => layer.name = f.string()?,
            5 => {
                let number = f.varint()?;
                layer.kind = match v1_type_name(number) {
                    Some(name) => name.to_string(),
                    None => format!("V1 type {number}"),
                }
            }
            6 => layer.blobs.push(blob(&f)?),
            _ => {}
        }
    }
    Ok(layer)
}

/// A `BlobProto`: shape (field 7) or legacy dims (1-4), data (5) or double_data (8), whose
/// count must be the shape's. spec/caffe-import.md (CAFFE-3)
fn blob(field: &WireField) -> Result<Blob, CaffemodelError> {
    let mut shape: Option<Vec<u64>> = None;
    let mut legacy = [None::<u64>; 4];
    let (mut data, mut doubles) = (Vec::new(), Vec::new());
    let mut reader = field.message()?;
    while let Some(f) = reader.next_field()? {
        match f.number {
            1..=4 => legacy[f.number as usize - 1] = Some(f.varint()?),
            5 => f.floats_into(&mut data)?,
            7 => {
                let mut dims = Vec::new();
                let mut shape_reader = f.message()?;
                while let Some(d) = shape_reader.next_field()? {
                    if d.number == 1 {
                        dims.extend(d.varints()?);
                    }
                }
                shape = Some(dims);
            }
            8 => f.doubles_into(&mut doubles)?,
            _ => {}
        }
    }
    let bad = |reason: String| WireError {
        at: field.at,
        reason,
    };
    let (dims, is_legacy) = match shape {
        Some(dims) => (dims, false),
        None => (legacy.iter().map(|d| d.unwrap_or(0)).collect(), true),
    };
    // int64 dims are read as u64: a negative one is huge, and refused here.
    let shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).ok().filter(|&d| d <= 1 << 40))
        .collect::<Option<_>>()
        .ok_or_else(|| bad(format!("a blob has the dimensions {dims:?}")))?;
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad(format!("a blob's dimensions {dims:?} overflow")))?;
    let data = if data.is_empty() { doubles } else { data };
    let is_empty_legacy = is_legacy && shape.iter().all(|&d| d == 0);
    if data.len() != count && !(is_empty_legacy && data.is_empty()) {
        return Err(bad(format!(
            "a blob of shape {} holds {} values",
            crate::tensor::shape_string(&shape),
            data.len()
        ))
        .into());
    }
    Ok(Blob {
        shape,
        legacy: is_legacy,
        data,
    })
}
