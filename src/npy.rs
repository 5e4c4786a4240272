//! Reading and writing .npy files (through npyz), with errors that name the file.
//!
//! ebr reads float32 arrays in C order, little- or big-endian. A float64 array is converted to
//! float32 and the conversion is reported in [`NpyArray::converted_from`]. Every other element
//! type, a Fortran-order array and a truncated or corrupt file are refused with an [`Error`].
//! Nothing is allocated for a file's data before its header has been checked: its shape,
//! that the data is all there, and that it fits in a budget ([`NPY_DATA_BUDGET`]).
//! Writing goes to a temporary file beside the target, then renames it, so that a failure never
//! leaves a half-written file.

use std::io::{BufReader, Read};
use std::path::Path;

use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar, WriterBuilder};

use crate::error::Error;
use crate::output::write_atomically;
use crate::tensor::{shape_string, Tensor};

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

/// The most bytes of array data ebr reads from one .npy file by default: 4 GiB, i.e. 2^30
/// float32 values (a model's whole default budget of parameters in one file, src/budget.rs).
/// A header that implies more is refused with [`Error::TooLarge`] before any of the data is
/// read or allocated; [`read_npy_within`], [`read_npy_shaped_within`] and
/// [`parse_npy_within`] take another budget.
pub const NPY_DATA_BUDGET: u64 = crate::budget::Budget::DEFAULT.bytes;

/// The longest header text ebr reads: 64 KiB. numpy writes a float array's header in under 200
/// bytes (its own reader refuses more than 10000 by default); a version (2, 0) file may claim
/// up to 4 GiB, which is refused before it is read.
pub const MAX_HEADER_TEXT: u64 = 1 << 16;

/// Where the header text lies, from the preamble (magic, version, header length): the text is
/// `text_start..text_start + text_len`. `first` is the file's first bytes (at least 12 when the
/// file has them); `file_len` the file's size.
fn preamble(path: &Path, first: &[u8], file_len: u64) -> Result<(usize, u64), Error> {
    if file_len == 0 {
        return Err(malformed(path, "the file is empty"));
    }
    let magic_len = MAGIC.len().min(first.len());
    if first[..magic_len] != MAGIC[..magic_len] {
        return Err(malformed(
            path,
            "the file does not begin with the .npy magic \\x93NUMPY",
        ));
    }
    let too_short = || {
        malformed(
            path,
            format!("the file ends after {file_len} bytes, inside the .npy preamble"),
        )
    };
    // Version (1, 0): u16 header length; (2, 0) and (3, 0): u32.
    let length_field = match first.get(6..8).ok_or_else(too_short)? {
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
    let field = first.get(8..text_start).ok_or_else(too_short)?;
    let text_len = field
        .iter()
        .rev()
        .fold(0u64, |len, &byte| (len << 8) | u64::from(byte));
    if text_start as u64 + text_len > file_len {
        return Err(malformed(
            path,
            format!(
                "the header length {text_len} runs past the end of the file ({file_len} bytes)"
            ),
        ));
    }
    if text_len > MAX_HEADER_TEXT {
        return Err(malformed(
            path,
            format!(
                "the header length {text_len} is more than ebr reads ({MAX_HEADER_TEXT} bytes; numpy writes a float array's header in under 200)"
            ),
        ));
    }
    Ok((text_start, text_len))
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

/// How deep dicts, lists and tuples may nest in a header. A header ebr reads nests 2 levels (the
/// dict and its 'shape' tuple; a structured type, refused later, a few more). The parser
/// recurses once per level, so a header of 64 KiB of '(' would overflow the stack, and it
/// backtracks on unclosed brackets in time that grows about 3x per level: 8 unclosed '{' took
/// 0.09 s, 12 took 7 s, 14 more than 30 s (a header the npy fuzz target found).
const MAX_HEADER_DEPTH: usize = 6;

/// The sizes of the header's 'shape', read with the parser npyz reads headers with
/// (py_literal), from the text npyz parses (without its final '\n'). npyz multiplies the sizes
/// it reads unchecked; ebr reads them first and checks their element count. A key given twice
/// is refused (npyz would take the last).
fn header_shape(text: &[u8]) -> Result<Vec<u64>, String> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = std::str::from_utf8(text).map_err(|_| "the header is not UTF-8 text".to_string())?;
    if nesting_depth(text) > MAX_HEADER_DEPTH {
        return Err(format!(
            "the header nests dicts, lists or tuples deeper than {MAX_HEADER_DEPTH} levels"
        ));
    }
    let value: py_literal::Value = text.parse().map_err(|e: py_literal::ParseError| {
        let mut reason = one_line(&e.to_string());
        if python2_long(text) {
            // The parser's list of expected tokens does not help here; the cause does.
            reason.truncate(reason.find(": expected").unwrap_or(reason.len()));
            reason.push_str(
                ": a Python 2 long integer such as 3L; save the array again with Python 3's numpy",
            );
        }
        format!("the header is not a Python literal as numpy writes it: {reason}")
    })?;
    let items = match value {
        py_literal::Value::Dict(items) => items,
        other => {
            return Err(format!(
                "the header is not a dict (numpy writes {{'descr': ..., 'fortran_order': ..., 'shape': ...}}), found {other}"
            ))
        }
    };
    let mut shape = None;
    let mut keys: Vec<String> = Vec::new();
    for (key, value) in &items {
        let py_literal::Value::String(key) = key else {
            return Err(format!(
                "the header dict has a key {key} that is not a string"
            ));
        };
        if keys.contains(key) {
            return Err(format!("the header dict has the key '{key}' twice"));
        }
        keys.push(key.clone());
        if key == "shape" {
            shape = Some(value);
        }
    }
    let sizes = match shape {
        None => return Err("the header dict is missing key 'shape'".to_string()),
        Some(py_literal::Value::Tuple(sizes) | py_literal::Value::List(sizes)) => sizes,
        Some(_) => return Err("the header's 'shape' is not a tuple".to_string()),
    };
    sizes
        .iter()
        .map(|size| match size {
            py_literal::Value::Integer(n) => u64::try_from(n).map_err(|_| {
                if n.to_string().starts_with('-') {
                    format!("the header's 'shape' has a negative size {n}")
                } else {
                    format!("the header's 'shape' has a size {n} larger than 64 bits")
                }
            }),
            other => Err(format!(
                "the header's 'shape' has a size {other} that is not an integer"
            )),
        })
        .collect()
}

/// The deepest nesting of brackets in `text`, outside quoted strings.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut quote, mut escaped) = (0usize, 0, None, false);
    for c in text.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' | '{' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' | ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    deepest
}

/// True when `text` holds a Python 2 long integer: a digit followed by `L`.
fn python2_long(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_digit() && w[1] == b'L')
}

/// A parser's message on one line: a pest report (" --> 1:5", the source line, a caret,
/// "= expected ...") becomes "at line 1, column 5: expected ..."; other line breaks become "; ".
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim).collect();
    let position = lines.iter().find_map(|l| l.split_once("--> "));
    let reason = lines.iter().find_map(|l| l.strip_prefix("= "));
    match (position, reason) {
        (Some((head, position)), Some(reason)) => {
            let (line, column) = position.split_once(':').unwrap_or((position, "?"));
            let head = head.trim().trim_end_matches(':');
            format!("{head} at line {line}, column {column}: {reason}")
                .trim_start()
                .to_string()
        }
        _ => lines
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// What a .npy file's header says, checked, before any of its data is read.
struct Layout {
    header: NpyHeader,
    /// Bytes before the data: magic, version, header length field and header text.
    header_len: u64,
    /// The element type as numpy writes it (`<f4`).
    descr: String,
    /// 4 (float32) or 8 (float64).
    item_bytes: u64,
    shape: Vec<usize>,
    /// Values in the array.
    count: u64,
}

/// Reads and checks the header. `first` is the start of the file, holding at least the
/// preamble and the header text when the file has them; `file_len` is the file's size. Checks,
/// in order: the preamble, the header, the element type, the order, that the data is all
/// there, `check` on the shape (the caller's, e.g. the shape a weight must have), and that the
/// data fits in `budget` bytes.
fn read_layout(
    path: &Path,
    first: &[u8],
    file_len: u64,
    budget: u64,
    check: &dyn Fn(&[usize]) -> Result<(), Error>,
) -> Result<Layout, Error> {
    let (text_start, text_len) = preamble(path, first, file_len)?;
    let header_len = text_start as u64 + text_len;
    let header_bytes = first
        .get(..header_len as usize)
        .ok_or_else(|| malformed(path, "the file is shorter than its header"))?;
    // npyz multiplies the shape's sizes unchecked (a panic in debug builds): read the shape
    // with npyz's own parser first and check its element count, so that a corrupt file gives
    // an error.
    let shape_u64 = header_shape(&header_bytes[text_start..]).map_err(|e| malformed(path, e))?;
    element_count(path, &shape_u64)?;

    let header = NpyHeader::from_reader(header_bytes)
        .map_err(|e| malformed(path, one_line(&e.to_string())))?;
    // The type as numpy writes it (`<f8`, `|u1`); a structured type as its list.
    let dtype = header.dtype();
    let descr = match &dtype {
        DType::Plain(type_str) => type_str.to_string(),
        other => other.descr(),
    };
    let item_bytes: u64 = match &dtype {
        DType::Plain(type_str)
            if type_str.type_char() == TypeChar::Float
                && matches!(type_str.size_field(), 4 | 8) =>
        {
            type_str.size_field()
        }
        _ => {
            return Err(Error::DType {
                path: path.to_path_buf(),
                found: descr,
            })
        }
    };
    if header.shape() != shape_u64.as_slice() {
        // Cannot happen: `header_shape` reads the text with npyz's parser, as npyz does.
        return Err(malformed(
            path,
            format!(
                "the header's shape reads as {shape_u64:?} and as {:?}",
                header.shape()
            ),
        ));
    }
    let count = element_count(path, &shape_u64)?;
    let shape: Vec<usize> = shape_u64
        .iter()
        .map(|&s| usize::try_from(s))
        .collect::<Result<_, _>>()
        .map_err(|_| malformed(path, format!("shape {shape_u64:?} is too large")))?;

    let axes_longer_than_one = shape.iter().filter(|&&s| s > 1).count();
    if header.order() == Order::Fortran && axes_longer_than_one > 1 {
        return Err(Error::FortranOrder {
            path: path.to_path_buf(),
            shape,
        });
    }

    let data_len = file_len.saturating_sub(header_len);
    let data_bytes = count
        .checked_mul(item_bytes)
        .ok_or_else(|| malformed(path, format!("shape {shape_u64:?} overflows")))?;
    if data_len < data_bytes {
        return Err(malformed(
            path,
            format!(
                "truncated: shape {shape_u64:?} of {descr} needs {data_bytes} data bytes, the file has {data_len}"
            ),
        ));
    }
    check(&shape)?;
    if data_bytes > budget {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            reason: format!(
                "the array of shape {} ({descr}) holds {data_bytes} bytes of data, more than the {budget} bytes ebr reads from one .npy file",
                shape_string(&shape)
            ),
        });
    }
    Ok(Layout {
        header,
        header_len,
        descr,
        item_bytes,
        shape,
        count,
    })
}

/// The array's values, read from `data` (positioned at the first data byte) as float32.
fn read_data(path: &Path, layout: Layout, data: impl Read) -> Result<NpyArray, Error> {
    let read_error = |e: std::io::Error| malformed(path, e.to_string());
    let npy = NpyFile::with_header(layout.header, data);
    let (values, converted_from) = if layout.item_bytes == 4 {
        (npy.into_vec::<f32>().map_err(read_error)?, None)
    } else {
        let wide = npy.into_vec::<f64>().map_err(read_error)?;
        (
            wide.into_iter().map(|v| v as f32).collect(),
            Some(layout.descr),
        )
    };
    if values.len() as u64 != layout.count {
        return Err(malformed(
            path,
            format!("expected {} values, read {}", layout.count, values.len()),
        ));
    }
    Ok(NpyArray {
        tensor: Tensor::new(layout.shape, values),
        converted_from,
    })
}

fn no_check(_: &[usize]) -> Result<(), Error> {
    Ok(())
}

/// Reads a .npy file of float32 (or float64, converted) values in C order, of at most
/// [`NPY_DATA_BUDGET`] bytes of data.
pub fn read_npy(path: &Path) -> Result<NpyArray, Error> {
    read_npy_within(path, NPY_DATA_BUDGET)
}

/// As [`read_npy`], refusing a file whose data takes more than `budget` bytes (before reading
/// it).
pub fn read_npy_within(path: &Path, budget: u64) -> Result<NpyArray, Error> {
    read_npy_checked(path, budget, &no_check)
}

/// As [`read_npy_within`], with `check` run on the shape the header gives before any of the
/// data is read (e.g. the shape a consumer needs); its error is returned as it is.
pub fn read_npy_checked(
    path: &Path,
    budget: u64,
    check: &dyn Fn(&[usize]) -> Result<(), Error>,
) -> Result<NpyArray, Error> {
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::input_file::open_regular(path, "the .npy file")?;
    let file_len = file.metadata().map_err(io_error)?.len();
    let mut reader = BufReader::new(file);
    // The preamble (at most 12 bytes), then the header text it announces; nothing more is read
    // before the header has been checked.
    let mut first = Vec::with_capacity(12);
    (&mut reader)
        .take(12)
        .read_to_end(&mut first)
        .map_err(io_error)?;
    let (text_start, text_len) = preamble(path, &first, file_len)?;
    let header_end = text_start as u64 + text_len;
    if let Some(more) = header_end.checked_sub(first.len() as u64) {
        (&mut reader)
            .take(more)
            .read_to_end(&mut first)
            .map_err(io_error)?;
    }
    let layout = read_layout(path, &first, file_len, budget, check)?;
    // A short header (version 1.0 with an empty text) ends inside the first 12 bytes: the
    // data begins with what was read past it.
    let read_past = first.get(header_end as usize..).unwrap_or(&[]);
    read_data(path, layout, read_past.chain(reader))
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
/// the file is for. The shape is compared before the data is read.
pub fn read_npy_shaped(path: &Path, field: &str, expected: &[usize]) -> Result<NpyArray, Error> {
    read_npy_shaped_within(path, field, expected, NPY_DATA_BUDGET)
}

/// As [`read_npy_shaped`], refusing an array whose data takes more than `budget` bytes.
pub fn read_npy_shaped_within(
    path: &Path,
    field: &str,
    expected: &[usize],
    budget: u64,
) -> Result<NpyArray, Error> {
    if !path.exists() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("missing: the file of {field}"),
            ),
        });
    }
    let check = |found: &[usize]| {
        if found == expected {
            Ok(())
        } else {
            Err(Error::Shape {
                path: path.to_path_buf(),
                field: field.to_string(),
                expected: expected.to_vec(),
                found: found.to_vec(),
            })
        }
    };
    read_npy_checked(path, budget, &check)
}

/// Parses the bytes of a .npy file; `path` is only used in errors.
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<NpyArray, Error> {
    parse_npy_within(path, bytes, NPY_DATA_BUDGET)
}

/// As [`parse_npy`], refusing an array whose data takes more than `budget` bytes.
pub fn parse_npy_within(path: &Path, bytes: &[u8], budget: u64) -> Result<NpyArray, Error> {
    let layout = read_layout(path, bytes, bytes.len() as u64, budget, &no_check)?;
    let data = &bytes[layout.header_len as usize..];
    read_data(path, layout, data)
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
