//! Every input a fuzz target crashed on (fuzz/, `fuzz/run.sh`), replayed through the target's
//! own harness (tests/regressions/harness.rs), with the target's seeds (fuzz/seeds/<target>):
//! tests/regressions/<target>/<name> holds the input's bytes; the frames target never
//! crashed, so it replays its seeds only, as do the caffemodel and prototxt targets. A new crash is kept by copying fuzz/artifacts/<target>/crash-* here under a
//! name that says what it is; the harness runs every file of the folder. Where the fix gives a
//! particular error, a test below asserts it.
//!
//! The inputs, and what they crashed before their fix:
//! - npy/empty_header_text_then_data: a version 1.0 header of 0 bytes whose data starts inside
//!   the first 12 bytes that `read_npy` reads (found by `cargo fuzz run npy` in the new
//!   header-first reader: a subtraction overflow).
//! - model/weight_with_empty_header_text: the same, in a weight file (found by `cargo fuzz run
//!   model` before that fix).
//! - npy/shape_key_twice, npy/hexadecimal_shape, npy/escaped_shape_key: a shape whose element
//!   count overflows 64 bits, hidden from ebr's check of the header's 'shape' (the first of two
//!   'shape' keys, 0x100000000, '\x73hape'), which npyz then multiplied unchecked (a panic in
//!   debug builds; found by reading npyz's header parser while writing the fuzz target). Since
//!   ebr reads the header with npyz's own parser (py_literal, src/npy.rs), 0x100000000 and
//!   '\x73hape' read as Python reads them, and the overflowing shape is what is refused.

#[path = "harness.rs"]
mod harness;

use std::fs;
use std::path::{Path, PathBuf};

use ebr::npy::parse_npy;

/// The inputs of `target`: its fuzz seeds (fuzz/seeds/<target>, the valid and near-valid
/// inputs the fuzzer starts from) and every input it crashed on
/// (tests/regressions/<target>; a target that never crashed has no such folder).
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    for dir in [root.join("fuzz/seeds"), root.join("tests/regressions")] {
        let dir = dir.join(target);
        if !dir.exists() {
            continue;
        }
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        paths.extend(files);
    }
    paths
}

/// Replays every input of `target`; a target without any input is a mistake (a folder moved
/// or not committed), not a pass.
fn replay(target: &str, run: fn(&[u8])) {
    let paths = inputs(target);
    assert!(!paths.is_empty(), "no inputs for the {target} target");
    for path in paths {
        println!("{target}: {}", path.display());
        run(&fs::read(&path).unwrap());
    }
}

#[test]
fn every_npy_input_replays_without_a_panic() {
    replay("npy", harness::npy);
}

#[test]
fn every_model_input_replays_without_a_panic() {
    replay("model", harness::model);
}

#[test]
fn every_frames_input_replays_without_a_panic() {
    replay("frames", harness::frames);
}

#[test]
fn every_caffemodel_input_replays_without_a_panic() {
    replay("caffemodel", harness::caffemodel);
}

#[test]
fn every_prototxt_input_replays_without_a_panic() {
    replay("prototxt", harness::prototxt);
}

/// The message `parse_npy` gives for tests/regressions/npy/<name>.
fn npy_message(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions/npy")
        .join(name);
    let bytes = fs::read(&path).unwrap();
    match parse_npy(Path::new(name), &bytes) {
        Ok(array) => panic!("{name}: read as shape {:?}", array.tensor.shape),
        Err(error) => error.to_string(),
    }
}

#[test]
fn an_empty_header_text_is_malformed() {
    assert_eq!(
        npy_message("empty_header_text_then_data"),
        "empty_header_text_then_data: not a valid .npy file: the header is not a Python literal as numpy writes it: syntax error at line 1, column 1: expected value"
    );
}

#[test]
fn a_shape_key_written_twice_is_refused() {
    assert_eq!(
        npy_message("shape_key_twice"),
        "shape_key_twice: not a valid .npy file: the header dict has the key 'shape' twice"
    );
}

#[test]
fn a_hexadecimal_size_is_refused() {
    assert_eq!(
        npy_message("hexadecimal_shape"),
        "hexadecimal_shape: not a valid .npy file: shape [4294967296, 4294967296, 4294967296] has too many elements (their count overflows 64 bits)"
    );
}

#[test]
fn an_escaped_key_is_refused() {
    assert_eq!(
        npy_message("escaped_shape_key"),
        "escaped_shape_key: not a valid .npy file: shape [4294967296, 4294967296, 4294967296] has too many elements (their count overflows 64 bits)"
    );
}
