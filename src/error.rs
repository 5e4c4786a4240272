//! The library's error: every variant names the file, and for shapes both the expected and the
//! found shape, so that a user can fix the export that produced it.

use std::fmt;
use std::path::PathBuf;

/// What went wrong while reading or writing ebr's files.
#[derive(Debug)]
pub enum Error {
    /// The operating system refused to open, read, write or rename the file.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a well-formed .npy file (bad magic, bad header, truncated data).
    Malformed { path: PathBuf, reason: String },
    /// The array's element type is not one ebr reads (f32, or f64 converted).
    DType { path: PathBuf, found: String },
    /// The array is stored in Fortran (column-major) order.
    FortranOrder { path: PathBuf, shape: Vec<usize> },
    /// The array's shape is not the one its consumer needs.
    Shape {
        path: PathBuf,
        /// What the array is for, e.g. "conv1 weight [out, in, kh, kw]".
        field: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A field of a JSON file (model.json) is missing, of the wrong type or out of range.
    /// `field` is its path, e.g. `frame[2].kernel`.
    Json {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// The model directory is inconsistent (e.g. a layer whose input is too small).
    Model { path: PathBuf, reason: String },
    /// The clip cannot be used (no frames, frames of different sizes, an unreadable image,
    /// a .npy of the wrong shape for the model).
    Clip { path: PathBuf, reason: String },
    /// The file's content would take more memory than ebr allows (a .npy array past its data
    /// budget, a clip of too many or too large frames): refused before it is read or decoded.
    TooLarge { path: PathBuf, reason: String },
    /// A name the user gave (a class, a layer) is not one of the valid ones.
    UnknownName {
        /// What was looked up, e.g. "class" or "layer".
        kind: String,
        given: String,
        valid: Vec<String>,
    },
    /// A request the model or the options cannot serve (e.g. a per-frame method on a model
    /// without a frame_classifier).
    Unsupported { reason: String },
    /// A computation on finite inputs left float32's range (values near 3e38 in a clip,
    /// weights of 1e30): reported instead of maps computed from infinities.
    Overflow {
        /// What overflowed, e.g. "the frame CNN's feature of frame 3 (index 12) is inf".
        what: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::tensor::shape_string;
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Malformed { path, reason } => {
                write!(f, "{}: not a valid .npy file: {reason}", path.display())
            }
            Error::DType { path, found } => write!(
                f,
                "{}: element type {found} is not supported (ebr reads float32, and float64 converted to float32)",
                path.display()
            ),
            Error::FortranOrder { path, shape } => write!(
                f,
                "{}: array of shape {} is stored in Fortran order; save it in C order (numpy.ascontiguousarray)",
                path.display(),
                shape_string(shape)
            ),
            Error::Shape {
                path,
                field,
                expected,
                found,
            } => write!(
                f,
                "{}: {field} has shape {}, expected {}",
                path.display(),
                shape_string(found),
                shape_string(expected)
            ),
            Error::Json {
                path,
                field,
                reason,
            } => write!(f, "{}: field {field}: {reason}", path.display()),
            Error::Model { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::Clip { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::TooLarge { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::UnknownName { kind, given, valid } => {
                write!(f, "unknown {kind} \"{given}\"; valid: {}", list_for_message(valid))
            }
            Error::Unsupported { reason } => write!(f, "{reason}"),
            Error::Overflow { what } => write!(
                f,
                "{what}: the computation overflows float32 (the clip's or the model's values are too large)"
            ),
        }
    }
}

/// `a, b, c`, cut after 30 names (a model may have hundreds of classes).
fn list_for_message(names: &[String]) -> String {
    const SHOWN: usize = 30;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(", ... ({} in all)", names.len()));
    }
    text
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
