//! The .npy reader and writer (src/npy.rs) on files built byte by byte here: what it accepts,
//! and for everything it refuses, an [`Error`] whose message names the file and says what is
//! wrong (the type, the shape, the bytes), never a panic.
//!
//! The format (numpy's `numpy/lib/format.py`): magic "\x93NUMPY", version (1, 0) with a u16
//! little-endian header length or (2, 0)/(3, 0) with a u32, then a Python dict literal padded
//! with spaces and ended by '\n' to a multiple of 64 bytes, then the raw data.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ebr::npy::{parse_npy, read_npy, read_tensor, read_tensor_shaped, write_npy};
use ebr::{Error, Tensor};
use tempfile::TempDir;

const MAGIC: &[u8] = b"\x93NUMPY";

/// A version (1, 0) .npy file: the header dict `{'descr': <descr>, 'fortran_order': <..>,
/// 'shape': <shape>, }` (descr and shape are Python literals, e.g. "'<f4'" and "(2, 3)"),
/// padded as numpy pads it, followed by `data`.
fn npy_bytes(descr: &str, fortran_order: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let order = if fortran_order { "True" } else { "False" };
    let dict = format!("{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}");
    npy_with_header_text(&dict, data)
}

/// A version (1, 0) .npy file with any header text (padded with spaces and '\n' so that magic,
/// version, length and text make a multiple of 64 bytes), followed by `data`.
fn npy_with_header_text(text: &str, data: &[u8]) -> Vec<u8> {
    let preamble = MAGIC.len() + 2 + 2;
    let unpadded = preamble + text.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    let header = format!("{text}{}\n", " ".repeat(padding));
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    assert_eq!((bytes.len()) % 64, 0, "test helper: header not aligned");
    bytes.extend_from_slice(data);
    bytes
}

fn f32_le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32_be(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn f64_le(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes `bytes` to `<dir>/<name>` and returns the path.
fn put(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, bytes).expect("write test file");
    path
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list directory")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Reads `path`, asserting it neither panics nor succeeds; returns the error.
fn read_error(path: &Path) -> Error {
    match catch_unwind(AssertUnwindSafe(|| read_npy(path))) {
        Ok(Ok(array)) => panic!(
            "{}: read succeeded with shape {:?}, expected an error",
            path.display(),
            array.tensor.shape
        ),
        Ok(Err(error)) => error,
        Err(_) => panic!("{}: read_npy panicked", path.display()),
    }
}

/// The message every element-type refusal has.
fn dtype_message(path: &Path, descr: &str) -> String {
    format!(
        "{}: element type {descr} is not supported (ebr reads float32, and float64 converted to float32)",
        path.display()
    )
}

/// Reads a file of element type `descr` (a Python literal) holding `data`, and asserts it is
/// refused with Error::DType naming the file and `shown` (the type as the message shows it).
fn assert_dtype_refused(descr: &str, shape: &str, data: &[u8], shown: &str) {
    let dir = TempDir::new().unwrap();
    let path = put(&dir, "typed.npy", &npy_bytes(descr, false, shape, data));
    let error = read_error(&path);
    assert!(
        matches!(&error, Error::DType { path: p, found } if p == &path && found == shown),
        "{descr}: {error:?}"
    );
    assert_eq!(error.to_string(), dtype_message(&path, shown));
}

/// Asserts `error` is Error::Malformed for `path`, with a message that names the file and
/// contains `reason_part`.
fn assert_malformed(error: &Error, path: &Path, reason_part: &str) {
    assert!(
        matches!(error, Error::Malformed { path: p, .. } if p == path),
        "expected Malformed for {}: {error:?}",
        path.display()
    );
    let message = error.to_string();
    let prefix = format!("{}: not a valid .npy file: ", path.display());
    assert!(message.starts_with(&prefix), "{message}");
    assert!(
        message.contains(reason_part),
        "{message:?} does not say {reason_part:?}"
    );
}

/// Reads `path` and asserts the whole message: Error::Malformed naming the file, with `reason`.
fn assert_malformed_exactly(path: &Path, reason: &str) {
    let error = read_error(path);
    assert!(
        matches!(&error, Error::Malformed { path: p, .. } if p == path),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("{}: not a valid .npy file: {reason}", path.display())
    );
}

// ---- What is accepted -------------------------------------------------------------------

#[test]
fn reads_little_endian_float32_with_shape_and_values() {
    let dir = TempDir::new().unwrap();
    let values = [1.0, -2.5, 3.25, 0.0, 1e-30, 6.0e7];
    let path = put(
        &dir,
        "le.npy",
        &npy_bytes("'<f4'", false, "(2, 3)", &f32_le(&values)),
    );
    let array = read_npy(&path).unwrap();
    assert_eq!(array.tensor.shape, vec![2, 3]);
    assert_eq!(array.tensor.data, values);
    // float32 is read as is: nothing to report.
    assert_eq!(array.converted_from, None);
    assert_eq!(array.note(&path), None);
}

#[test]
fn reads_big_endian_float32_with_shape_and_values() {
    let dir = TempDir::new().unwrap();
    let values = [1.0, -2.5, 3.25, 1e-30];
    let path = put(
        &dir,
        "be.npy",
        &npy_bytes("'>f4'", false, "(4,)", &f32_be(&values)),
    );
    let array = read_npy(&path).unwrap();
    assert_eq!(array.tensor.shape, vec![4]);
    // Byte-swapped values would differ (1.0 big-endian read as little-endian is 4.6e-41).
    assert_eq!(array.tensor.data, values);
    assert_eq!(array.converted_from, None);
}

#[test]
fn reads_zero_dimensional_array_as_one_value_with_empty_shape() {
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "scalar.npy",
        &npy_bytes("'<f4'", false, "()", &f32_le(&[7.5])),
    );
    let tensor = read_tensor(&path).unwrap();
    assert_eq!(tensor.shape, Vec::<usize>::new());
    assert_eq!(tensor.data, vec![7.5]);
}

#[test]
fn reads_empty_array_with_zero_axis() {
    let dir = TempDir::new().unwrap();
    let path = put(&dir, "empty.npy", &npy_bytes("'<f4'", false, "(0, 3)", &[]));
    let tensor = read_tensor(&path).unwrap();
    assert_eq!(tensor.shape, vec![0, 3]);
    assert!(tensor.data.is_empty());
}

#[test]
fn accepts_fortran_order_for_one_element_array() {
    // With one element, Fortran and C order store the same bytes.
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "one.npy",
        &npy_bytes("'<f4'", true, "(1, 1)", &f32_le(&[4.0])),
    );
    let tensor = read_tensor(&path).unwrap();
    assert_eq!(tensor.shape, vec![1, 1]);
    assert_eq!(tensor.data, vec![4.0]);
}

#[test]
fn converts_float64_to_float32_and_reports_it() {
    let dir = TempDir::new().unwrap();
    // 0.1 is not a float32: the value read must be 0.1 rounded to float32.
    let path = put(
        &dir,
        "wide.npy",
        &npy_bytes("'<f8'", false, "(3,)", &f64_le(&[0.1, -2.0, 1e300])),
    );
    let array = read_npy(&path).unwrap();
    assert_eq!(array.tensor.shape, vec![3]);
    assert_eq!(array.tensor.data, vec![0.1f32, -2.0, f32::INFINITY]);
    assert_eq!(array.converted_from.as_deref(), Some("<f8"));
    assert_eq!(
        array.note(&path),
        Some(format!(
            "{}: element type <f8 converted to float32",
            path.display()
        ))
    );
}

// ---- Refused element types ----------------------------------------------------------------

#[test]
fn refuses_int32() {
    assert_dtype_refused("'<i4'", "(2,)", &[0; 8], "<i4");
}

#[test]
fn refuses_uint8() {
    assert_dtype_refused("'|u1'", "(2,)", &[0; 2], "|u1");
}

#[test]
fn refuses_float16() {
    // A float, but not one ebr reads: the size check must refuse it.
    assert_dtype_refused("'<f2'", "(2,)", &[0; 4], "<f2");
}

#[test]
fn refuses_bool() {
    assert_dtype_refused("'|b1'", "(2,)", &[0; 2], "|b1");
}

#[test]
fn refuses_complex64() {
    // Same size as two float32 values: it must be refused by type, not by size.
    assert_dtype_refused("'<c8'", "(2,)", &[0; 16], "<c8");
}

#[test]
fn refuses_structured_dtype() {
    // A record of two float32 fields: every field is a float, the array is not.
    assert_dtype_refused(
        "[('x', '<f4'), ('y', '<f4')]",
        "(2,)",
        &[0; 16],
        "[('x', '<f4'), ('y', '<f4'), ]",
    );
}

#[test]
fn refuses_byte_string_type() {
    assert_dtype_refused("'|S4'", "(2,)", &[b'a'; 8], "|S4");
}

// ---- Refused layouts and shapes -----------------------------------------------------------

#[test]
fn refuses_fortran_order_two_dimensional_naming_shape_and_fix() {
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "fortran.npy",
        &npy_bytes("'<f4'", true, "(2, 3)", &f32_le(&[0.0; 6])),
    );
    let error = read_error(&path);
    assert!(
        matches!(&error, Error::FortranOrder { path: p, shape } if p == &path && shape == &[2, 3]),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}: array of shape [2, 3] is stored in Fortran order; save it in C order (numpy.ascontiguousarray)",
            path.display()
        )
    );
}

#[test]
fn wrong_shape_for_consumer_names_path_field_and_both_shapes() {
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "conv1_w.npy",
        &npy_bytes(
            "'<f4'",
            false,
            "(8, 3, 5, 5)",
            &f32_le(&[0.0; 8 * 3 * 5 * 5]),
        ),
    );
    let field = "conv1 weight [out, in, kh, kw]";
    let error = read_tensor_shaped(&path, field, &[8, 3, 3, 3]).unwrap_err();
    assert!(matches!(&error, Error::Shape { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: conv1 weight [out, in, kh, kw] has shape [8, 3, 5, 5], expected [8, 3, 3, 3]",
            path.display()
        )
    );
}

#[test]
fn right_shape_for_consumer_is_read() {
    // The counterpart of the test above: the check passes a matching file through unchanged.
    let dir = TempDir::new().unwrap();
    let values: Vec<f32> = (0..6).map(|i| i as f32).collect();
    let path = put(
        &dir,
        "fc.npy",
        &npy_bytes("'<f4'", false, "(2, 3)", &f32_le(&values)),
    );
    let tensor = read_tensor_shaped(&path, "fc weight [out, in]", &[2, 3]).unwrap();
    assert_eq!(tensor, Tensor::new(vec![2, 3], values));
}

#[test]
fn truncated_data_names_shape_bytes_needed_and_found() {
    let dir = TempDir::new().unwrap();
    // (2, 3) float32 needs 24 bytes; the file stops after 5 values and 2 bytes (22 bytes).
    let mut data = f32_le(&[1.0; 5]);
    data.extend_from_slice(&[0, 0]);
    let path = put(
        &dir,
        "short.npy",
        &npy_bytes("'<f4'", false, "(2, 3)", &data),
    );
    let error = read_error(&path);
    assert!(matches!(&error, Error::Malformed { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: not a valid .npy file: truncated: shape [2, 3] of <f4 needs 24 data bytes, the file has 22",
            path.display()
        )
    );
}

// ---- Corrupt files ------------------------------------------------------------------------

#[test]
fn bad_magic_is_malformed() {
    let dir = TempDir::new().unwrap();
    let mut bytes = npy_bytes("'<f4'", false, "(1,)", &f32_le(&[1.0]));
    bytes[1] = b'X'; // "\x93XUMPY"
    let path = put(&dir, "magic.npy", &bytes);
    assert_malformed_exactly(
        &path,
        r"the file does not begin with the .npy magic \x93NUMPY",
    );
}

#[test]
fn header_length_past_end_of_file_is_malformed() {
    let dir = TempDir::new().unwrap();
    // The u16 header length says 1000 bytes; the whole file is shorter.
    let mut bytes = npy_bytes("'<f4'", false, "(1,)", &[0; 4]);
    bytes[8..10].copy_from_slice(&1000u16.to_le_bytes());
    let path = put(&dir, "long_header.npy", &bytes);
    assert_malformed_exactly(
        &path,
        &format!(
            "the header length 1000 runs past the end of the file ({} bytes)",
            bytes.len()
        ),
    );
}

#[test]
fn huge_version_2_header_length_is_malformed_without_reading_it() {
    // Version (2, 0) has a u32 header length: 4 GiB here, in a small file. The reader must
    // compare it with the file's size, not allocate a buffer that large and then fail.
    let dir = TempDir::new().unwrap();
    let mut bytes = npy_bytes("'<f4'", false, "(1,)", &[0; 4]);
    bytes[6] = 2;
    bytes.splice(8..10, u32::MAX.to_le_bytes());
    let path = put(&dir, "v2_huge_header.npy", &bytes);
    assert_malformed_exactly(
        &path,
        &format!(
            "the header length 4294967295 runs past the end of the file ({} bytes)",
            bytes.len()
        ),
    );
}

#[test]
fn version_2_header_is_read() {
    // The counterpart of the test above: a correct (2, 0) file (u32 length) is accepted, so
    // the preamble check does not refuse the versions numpy writes for long headers.
    let dir = TempDir::new().unwrap();
    let v1 = npy_bytes("'<f4'", false, "(2,)", &f32_le(&[1.5, -1.5]));
    let text_len = u16::from_le_bytes([v1[8], v1[9]]) as u32;
    let mut v2 = v1[..8].to_vec();
    v2[6] = 2;
    v2.extend_from_slice(&text_len.to_le_bytes());
    v2.extend_from_slice(&v1[10..]);
    let path = put(&dir, "v2.npy", &v2);
    let tensor = read_tensor(&path).unwrap();
    assert_eq!(tensor, Tensor::new(vec![2], vec![1.5, -1.5]));
}

#[test]
fn unknown_version_is_malformed() {
    let dir = TempDir::new().unwrap();
    let mut bytes = npy_bytes("'<f4'", false, "(1,)", &[0; 4]);
    bytes[6] = 9;
    let path = put(&dir, "v9.npy", &bytes);
    assert_malformed_exactly(&path, "unsupported .npy version (9, 0)");
}

#[test]
fn header_that_is_not_a_dict_is_malformed() {
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "list_header.npy",
        &npy_with_header_text("['<f4', False, (1,)]", &[0; 4]),
    );
    // The reason is npyz's wording; it must at least say a dict was expected.
    assert_malformed(&read_error(&path), &path, "dict");
}

#[test]
fn header_without_shape_key_is_malformed() {
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "no_shape.npy",
        &npy_with_header_text("{'descr': '<f4', 'fortran_order': False, }", &[0; 4]),
    );
    assert_malformed(&read_error(&path), &path, "'shape'");
}

#[test]
fn negative_dimension_is_malformed() {
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "negative.npy",
        &npy_bytes("'<f4'", false, "(2, -3)", &[0; 24]),
    );
    assert_malformed(&read_error(&path), &path, "negative");
}

#[test]
fn non_integer_dimension_is_malformed() {
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "fractional.npy",
        &npy_bytes("'<f4'", false, "(2, 1.5)", &[0; 24]),
    );
    assert_malformed(&read_error(&path), &path, "integer");
}

#[test]
fn python_2_header_is_one_line_naming_the_fix() {
    // Python 2's numpy wrote long integers as `2L`; npyz's parser reports them in a six-line
    // dump. ebr gives one line with the position and the fix.
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "python2.npy",
        &npy_bytes("'<f4'", false, "(2L, 3L)", &f32_le(&[0.0; 6])),
    );
    assert_malformed_exactly(
        &path,
        "the header is not a Python literal as numpy writes it: syntax error at line 1, column 53: a Python 2 long integer such as 3L; save the array again with Python 3's numpy",
    );
    assert!(!read_error(&path).to_string().contains('\n'));
}

#[test]
fn deeply_nested_header_is_malformed_not_a_stack_overflow() {
    // The parser recurses once per level: 60000 levels would overflow the stack.
    let dir = TempDir::new().unwrap();
    let text = format!("{}{}", "(".repeat(60_000), ")".repeat(60_000));
    let path = put(&dir, "nested.npy", &npy_with_header_text(&text, &[]));
    assert_malformed_exactly(
        &path,
        "the header nests dicts, lists or tuples deeper than 6 levels",
    );
}

#[test]
fn unclosed_brackets_are_refused_before_the_parser_backtracks() {
    // What the npy fuzz target found: the parser backtracks about 3x per unclosed level
    // (12 took 7 s, 22 hung); the depth check refuses it first, at once.
    let dir = TempDir::new().unwrap();
    let text = format!(
        "{{'descr': '<f4', 'fortran_order': False, {}",
        "{".repeat(22)
    );
    let path = put(&dir, "unclosed.npy", &npy_with_header_text(&text, &[]));
    assert_malformed_exactly(
        &path,
        "the header nests dicts, lists or tuples deeper than 6 levels",
    );
}

#[test]
fn header_key_given_twice_is_malformed() {
    // npyz keeps the last of two equal keys; the element count ebr checks must be npyz's.
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "twice.npy",
        &npy_with_header_text(
            "{'descr': '<f4', 'fortran_order': False, 'descr': '<f8', 'shape': (1,), }",
            &[0; 8],
        ),
    );
    assert_malformed_exactly(&path, "the header dict has the key 'descr' twice");
}

#[test]
fn empty_file_is_malformed() {
    // What an interrupted export leaves behind.
    let dir = TempDir::new().unwrap();
    let path = put(&dir, "empty_file.npy", &[]);
    assert_malformed_exactly(&path, "the file is empty");
}

#[test]
fn five_random_bytes_are_malformed() {
    let dir = TempDir::new().unwrap();
    let path = put(&dir, "five.npy", &[0x5e, 0x00, 0xff, 0x93, 0x4e]);
    assert_malformed_exactly(
        &path,
        r"the file does not begin with the .npy magic \x93NUMPY",
    );
}

#[test]
fn file_cut_inside_preamble_is_malformed() {
    // The magic alone: version and header length are missing.
    let dir = TempDir::new().unwrap();
    let path = put(&dir, "magic_only.npy", MAGIC);
    assert_malformed_exactly(
        &path,
        "the file ends after 6 bytes, inside the .npy preamble",
    );
}

#[test]
fn element_count_overflow_is_an_error_not_a_panic() {
    // 2**40 * 2**40 overflows u64. Neither the count, nor the bytes needed, nor an allocation
    // of that size may be attempted: a clean error, in any build profile.
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "huge.npy",
        &npy_bytes("'<f4'", false, "(1099511627776, 1099511627776)", &[0; 16]),
    );
    assert_malformed_exactly(
        &path,
        "shape [1099511627776, 1099511627776] has too many elements (their count overflows 64 bits)",
    );
}

#[test]
fn zero_axis_does_not_hide_overflow_of_the_other_axes() {
    // (0, 2**40, 2**40) has no element, but its strides overflow u64: still refused cleanly.
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "huge_empty.npy",
        &npy_bytes("'<f4'", false, "(0, 1099511627776, 1099511627776)", &[]),
    );
    assert_malformed_exactly(
        &path,
        "shape [0, 1099511627776, 1099511627776] has too many elements (their count overflows 64 bits)",
    );
}

#[test]
fn large_count_with_small_file_is_truncated_not_allocated() {
    // 2**40 float32 values claimed (4 TiB), 16 bytes present: refused by size before reading.
    let dir = TempDir::new().unwrap();
    let path = put(
        &dir,
        "claims_4tib.npy",
        &npy_bytes("'<f4'", false, "(1099511627776,)", &[0; 16]),
    );
    let error = read_error(&path);
    assert_eq!(
        error.to_string(),
        format!(
            "{}: not a valid .npy file: truncated: shape [1099511627776] of <f4 needs 4398046511104 data bytes, the file has 16",
            path.display()
        )
    );
}

#[test]
fn parse_npy_names_the_given_path() {
    // parse_npy never reads the path; it only puts it in errors.
    let path = Path::new("from/memory.npy");
    let error = parse_npy(path, b"not an npy").unwrap_err();
    assert_eq!(
        error.to_string(),
        r"from/memory.npy: not a valid .npy file: the file does not begin with the .npy magic \x93NUMPY"
    );
}

#[test]
fn missing_file_is_io_error_naming_path() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("absent.npy");
    let error = read_error(&path);
    assert!(
        matches!(&error, Error::Io { path: p, source } if p == &path
            && source.kind() == std::io::ErrorKind::NotFound),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{}: ", path.display())),
        "{message}"
    );
}

// ---- Writing ------------------------------------------------------------------------------

#[test]
fn write_then_read_is_bit_identical() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("round.npy");
    let values = vec![
        0.0,
        -0.0,
        1.0,
        -1.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
        f32::from_bits(1), // smallest subnormal
        f32::MAX,
        f32::NAN,
        3.0e-39,
        123456.79,
    ];
    let tensor = Tensor::new(vec![2, 3, 2], values.clone());
    write_npy(&path, &tensor).unwrap();
    let back = read_npy(&path).unwrap();
    assert_eq!(back.tensor.shape, vec![2, 3, 2]);
    assert_eq!(back.converted_from, None);
    // Compare bits: -0.0 == 0.0 and NaN != NaN as floats.
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    assert_eq!(bits(&back.tensor.data), bits(&values));
}

#[test]
fn write_round_trips_zero_dimensional_and_empty_tensors() {
    let dir = TempDir::new().unwrap();
    for (name, tensor) in [
        ("scalar.npy", Tensor::new(vec![], vec![2.5])),
        ("empty.npy", Tensor::new(vec![0, 3], vec![])),
    ] {
        let path = dir.path().join(name);
        write_npy(&path, &tensor).unwrap();
        assert_eq!(read_tensor(&path).unwrap(), tensor, "{name}");
    }
}

#[test]
fn written_file_is_aligned_npy_that_parse_npy_reads() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("format.npy");
    let tensor = Tensor::new(vec![3], vec![1.0, 2.0, 3.0]);
    write_npy(&path, &tensor).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(&bytes[..6], MAGIC);
    // The data is the last 12 bytes and starts at a multiple of 64, as numpy aligns it.
    let data_start = bytes.len() - 12;
    assert_eq!(data_start % 64, 0, "header of {data_start} bytes");
    assert_eq!(&bytes[data_start..], &f32_le(&[1.0, 2.0, 3.0])[..]);
    let header = String::from_utf8_lossy(&bytes[10..data_start]);
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    assert!(header.ends_with('\n'), "{header:?}");
    assert_eq!(parse_npy(&path, &bytes).unwrap().tensor, tensor);
}

#[test]
fn write_into_missing_directory_is_io_error_and_leaves_nothing() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("no_such_dir").join("out.npy");
    let error = write_npy(&path, &Tensor::new(vec![1], vec![1.0])).unwrap_err();
    assert!(
        matches!(&error, Error::Io { path: p, .. } if p == &path),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: ", path.display())),
        "{error}"
    );
    // Neither the target, nor its folder, nor a temporary file was created.
    assert_eq!(listing(dir.path()), Vec::<String>::new());
}

#[test]
fn write_over_existing_file_replaces_it_and_leaves_no_temporary() {
    let dir = TempDir::new().unwrap();
    let path = put(&dir, "out.npy", b"old contents, longer than nothing");
    let tensor = Tensor::new(vec![2], vec![5.0, -6.0]);
    write_npy(&path, &tensor).unwrap();
    assert_eq!(read_tensor(&path).unwrap(), tensor);
    assert_eq!(listing(dir.path()), vec!["out.npy".to_string()]);
}
