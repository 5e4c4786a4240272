//! Reading and writing .npy files (through npyz), with errors that name the file.
//!
//! ebr reads float32 arrays in C order, little- or big-endian. A float64 array is converted to
//! float32 and the conversion is reported in [`NpyArray::converted_from`]. Every other element
//! type, a Fortran-order array and a truncated or corrupt file are refused with an [`Error`].
//! Writing goes to a temporary file beside the target, then renames it, so that a failure never
//! leaves a half-written file.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar, WriterBuilder};

use crate::error::Error;
use crate::tensor::Tensor;

/// A tensor read from a file, and what reading it changed.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub tensor: Tensor,
    /// `Some("<f8")` when the file held float64 values that were rounded to float32.
    pub converted_from: Option<String>,
}

impl NpyArray {
    /// A one-line note for the user when reading changed the values' type, else `None`.
    pub fn note(&self, path: &Path) -> Option<String> {
        self.converted_from.as_ref().map(|descr| {
            format!(
                "{}: element type {descr} converted to float32",
                path.display()
            )
        })
    }
}

fn malformed(path: &Path, reason: impl Into<String>) -> Error {
    Error::Malformed {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// The header text (the Python dict) of a .npy file, after checking the preamble: the magic,
/// a known version, and a header length that stays inside the file.
fn header_text<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], Error> {
    if bytes.is_empty() {
        return Err(malformed(path, "the file is empty"));
    }
    let magic_len = MAGIC.len().min(bytes.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(malformed(
            path,
            "the file does not begin with the .npy magic \\x93NUMPY",
        ));
    }
    let too_short = || {
        malformed(
            path,
            format!(
                "the file ends after {} bytes, inside the .npy preamble",
                bytes.len()
            ),
        )
    };
    // Version (1, 0): u16 header length; (2, 0) and (3, 0): u32.
    let length_field = match bytes.get(6..8).ok_or_else(too_short)? {
        [1, 0] => 2,
        [2, 0] | [3, 0] => 4,
        version => {
            return Err(malformed(
                path,
                format!("unsupported .npy version ({}, {})", version[0], version[1]),
            ))
        }
    };
    let text_start = 8 + length_field;
    let field = bytes.get(8..text_start).ok_or_else(too_short)?;
    let text_len = field
        .iter()
        .rev()
        .fold(0u64, |len, &byte| (len << 8) | u64::from(byte));
    let text_end = text_start as u64 + text_len;
    if text_end > bytes.len() as u64 {
        return Err(malformed(
            path,
            format!(
                "the header length {text_len} runs past the end of the file ({} bytes)",
                bytes.len()
            ),
        ));
    }
    Ok(&bytes[text_start..text_end as usize])
}

/// The sizes in the header text's `'shape': (a, b, ...)`, if they can be found and read as
/// plain integers; `None` otherwise (npyz's parser then reports what is wrong).
fn shape_in_header_text(text: &[u8]) -> Option<Vec<u64>> {
    let text = std::str::from_utf8(text).ok()?;
    let value = ["'shape'", "\"shape\""].iter().find_map(|key| {
        text.match_indices(key)
            .find_map(|(at, _)| text[at + key.len()..].trim_start().strip_prefix(':'))
    })?;
    let value = value.trim_start();
    let close = match value.chars().next()? {
        '(' => ')',
        '[' => ']',
        _ => return None,
    };
    let inside = &value[1..value.find(close)?];
    inside
        .split(',')
        .map(str::trim)
        .filter(|size| !size.is_empty())
        // Python 2's numpy wrote long integers as `3L`.
        .map(|size| size.trim_end_matches('L').parse::<u64>().ok())
        .collect()
}

/// The number of elements of `shape`. An error when the sizes other than 0 multiply past
/// u64 (numpy refuses such a shape, and strides computed from it would overflow).
fn element_count(path: &Path, shape: &[u64]) -> Result<u64, Error> {
    let overflow = || {
        malformed(
            path,
            format!("shape {shape:?} has too many elements (their count overflows 64 bits)"),
        )
    };
    shape
        .iter()
        .filter(|&&size| size != 0)
        .try_fold(1u64, |count, &size| count.checked_mul(size))
        .ok_or_else(overflow)?;
    Ok(shape.iter().product())
}

/// Reads a .npy file of float32 (or float64, converted) values in C order.
pub fn read_npy(path: &Path) -> Result<NpyArray, Error> {
    let bytes = fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npy(path, &bytes)
}

/// Reads a .npy file and returns its tensor, dropping the conversion note.
pub fn read_tensor(path: &Path) -> Result<Tensor, Error> {
    read_npy(path).map(|array| array.tensor)
}

/// Reads a .npy file whose shape must be exactly `expected`; `field` says what the array is
/// for (e.g. "conv1 weight [out, in, kh, kw]") and appears in the error.
pub fn read_tensor_shaped(path: &Path, field: &str, expected: &[usize]) -> Result<Tensor, Error> {
    read_npy_shaped(path, field, expected).map(|array| array.tensor)
}

/// As [`read_tensor_shaped`], keeping the conversion note; a missing file's error says what
/// the file is for.
pub fn read_npy_shaped(path: &Path, field: &str, expected: &[usize]) -> Result<NpyArray, Error> {
    if !path.exists() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("missing: the file of {field}"),
            ),
        });
    }
    let array = read_npy(path)?;
    if array.tensor.shape != expected {
        return Err(Error::Shape {
            path: path.to_path_buf(),
            field: field.to_string(),
            expected: expected.to_vec(),
            found: array.tensor.shape,
        });
    }
    Ok(array)
}

/// Parses the bytes of a .npy file; `path` is only used in errors.
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<NpyArray, Error> {
    // npyz allocates the header text before reading it and multiplies the shape's sizes
    // unchecked (a panic in debug builds): check the preamble and the shape's element count
    // first, so that a corrupt file gives an error and never a panic or a huge allocation.
    let header_text = header_text(path, bytes)?;
    if let Some(shape) = shape_in_header_text(header_text) {
        element_count(path, &shape)?;
    }

    let mut cursor = Cursor::new(bytes);
    let header = NpyHeader::from_reader(&mut cursor).map_err(|e| malformed(path, e.to_string()))?;
    // Bytes before the data: magic, version, header length field and header text.
    let header_len = cursor.position();
    let npy = NpyFile::with_header(header, &bytes[header_len as usize..]);

    // The type as numpy writes it (`<f8`, `|u1`); a structured type as its list.
    let descr = match npy.dtype() {
        DType::Plain(type_str) => type_str.to_string(),
        other => other.descr(),
    };
    let item_bytes: u64 = match npy.dtype() {
        DType::Plain(type_str) if type_str.type_char() == TypeChar::Float => {
            match type_str.size_field() {
                4 | 8 => type_str.size_field(),
                _ => {
                    return Err(Error::DType {
                        path: path.to_path_buf(),
                        found: descr,
                    })
                }
            }
        }
        _ => {
            return Err(Error::DType {
                path: path.to_path_buf(),
                found: descr,
            })
        }
    };

    let shape_u64 = npy.shape().to_vec();
    let count = element_count(path, &shape_u64)?;
    let shape: Vec<usize> = shape_u64
        .iter()
        .map(|&s| usize::try_from(s))
        .collect::<Result<_, _>>()
        .map_err(|_| malformed(path, format!("shape {shape_u64:?} is too large")))?;

    let axes_longer_than_one = shape.iter().filter(|&&s| s > 1).count();
    if npy.order() == Order::Fortran && axes_longer_than_one > 1 {
        return Err(Error::FortranOrder {
            path: path.to_path_buf(),
            shape,
        });
    }

    let data_len = (bytes.len() as u64).saturating_sub(header_len);
    let needed = count
        .checked_mul(item_bytes)
        .ok_or_else(|| malformed(path, format!("shape {shape_u64:?} overflows")))?;
    if data_len < needed {
        return Err(malformed(
            path,
            format!(
                "truncated: shape {shape_u64:?} of {descr} needs {needed} data bytes, the file has {data_len}"
            ),
        ));
    }

    let read_error = |e: std::io::Error| malformed(path, e.to_string());
    let (data, converted_from) = if item_bytes == 4 {
        (npy.into_vec::<f32>().map_err(read_error)?, None)
    } else {
        let wide = npy.into_vec::<f64>().map_err(read_error)?;
        (wide.into_iter().map(|v| v as f32).collect(), Some(descr))
    };
    if data.len() as u64 != count {
        return Err(malformed(
            path,
            format!("expected {count} values, read {}", data.len()),
        ));
    }
    Ok(NpyArray {
        tensor: Tensor::new(shape, data),
        converted_from,
    })
}

/// Writes `tensor` as a float32 C-order .npy file, atomically (temporary file, then rename).
pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<(), Error> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::with_capacity(128 + 4 * tensor.len());
    {
        let shape: Vec<u64> = tensor.shape.iter().map(|&s| s as u64).collect();
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut bytes)
            .begin_nd()
            .map_err(io_error)?;
        writer
            .extend(tensor.data.iter().copied())
            .map_err(io_error)?;
        writer.finish().map_err(io_error)?;
    }
    write_atomically(path, &bytes)
}

/// Writes `bytes` to a temporary file in `path`'s folder, then renames it to `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let temporary = temporary_sibling(path);
    let result = fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temporary, path));
    result.map_err(|source| {
        let _ = fs::remove_file(&temporary);
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
