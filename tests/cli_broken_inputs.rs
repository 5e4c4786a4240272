//! `ebr ground` on a corpus of broken inputs, run as a user runs it: for each, exit code 1, one
//! line on stderr with the exact message (or, where the operating system words part of it,
//! its key parts: the path, the field, both shapes), and nothing left in or beside --out (no
//! output directory, no temporary directory).
//!
//! Every broken model is the Caffe fixture's net fixtures/caffe-nets/tiny_cnn_lstm (re-saved by
//! `Model::save` into a temporary directory) with one edit; every broken clip is its
//! input.npy (8 frames of 3x32x32, float32) or a frame directory with one fault.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use ebr::model::Model;
use ebr::npy::{read_tensor, write_npy};
use ebr::Tensor;
use serde_json::Value;
use tempfile::TempDir;

mod common;

/// A test's directory: a working model, a working clip, and `outs/`, where --out goes.
struct Case {
    root: TempDir,
}

impl Case {
    fn new() -> Case {
        let root = tempfile::tempdir().unwrap();
        common::tiny_model_and_clip(root.path());
        fs::create_dir(root.path().join("outs")).unwrap();
        Case { root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    fn model(&self) -> PathBuf {
        self.path("model")
    }

    fn clip(&self) -> PathBuf {
        self.path("clip.npy")
    }

    fn out(&self) -> PathBuf {
        self.path("outs/out")
    }

    /// Rewrites model/model.json after `edit`.
    fn edit_json(&self, edit: impl FnOnce(&mut Value)) {
        let path = self.model().join("model.json");
        let mut json: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut json);
        fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }

    /// Runs `ebr ground --model M --clip C --target 3 --out O`, which must fail with exit code
    /// 1 and one line on stderr; returns the message after "ebr: ". Asserts that --out does not
    /// exist and that its parent holds what it held before (nothing was left beside it).
    fn ground_fails(&self, model: &Path, clip: &Path, out: &Path) -> String {
        let parent = out.parent().unwrap();
        let before = listing(parent);
        let output = Command::new(env!("CARGO_BIN_EXE_ebr"))
            .args(["ground", "--quiet", "--target", "3", "--model"])
            .arg(model)
            .arg("--clip")
            .arg(clip)
            .arg("--out")
            .arg(out)
            .output()
            .expect("the ebr binary runs");
        let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
        assert_eq!(output.status.code(), Some(1), "exit code; stderr: {stderr}");
        assert!(output.stdout.is_empty(), "stdout: {:?}", output.stdout);
        assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr:?}");
        assert!(!out.exists(), "{} exists after a failure", out.display());
        assert_eq!(listing(parent), before, "{}: left behind", parent.display());
        stderr
            .strip_prefix("ebr: ")
            .unwrap_or_else(|| panic!("{stderr:?} does not begin with \"ebr: \""))
            .trim_end_matches('\n')
            .to_string()
    }

    /// `ground_fails` with this case's model, `clip` and --out.
    fn clip_fails(&self, clip: &Path) -> String {
        self.ground_fails(&self.model(), clip, &self.out())
    }

    /// `ground_fails` with this case's (edited) model, its clip and --out.
    fn model_fails(&self) -> String {
        self.ground_fails(&self.model(), &self.clip(), &self.out())
    }
}

/// The names in `dir` (empty if it is not a readable directory), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// Asserts `message` contains every part.
fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} does not mention {part:?}"
        );
    }
}

/// A version (1, 0) .npy file (numpy's format: magic, version, u16 header length, the header
/// dict padded with spaces and '\n' to a multiple of 64 bytes) of `descr` and `shape` (Python
/// literals), followed by `data`.
fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut text = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + text.len() + 1) % 64 != 0 {
        text.push(' ');
    }
    text.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Frames of `size` (height, width) as PNG files frame000.png, frame001.png, ... in `dir`.
fn write_frames(dir: &Path, count: usize, size: (u32, u32)) {
    fs::create_dir_all(dir).unwrap();
    for t in 0..count {
        image::RgbImage::from_fn(size.1, size.0, |x, y| {
            image::Rgb([(x * 5 + t as u32) as u8, (y * 3) as u8, 90])
        })
        .save(dir.join(format!("frame{t:03}.png")))
        .unwrap();
    }
}

// ---- Broken clips ---------------------------------------------------------------------------

#[test]
fn a_truncated_npy_clip_names_the_shape_and_both_byte_counts() {
    let case = Case::new();
    let bytes = fs::read(case.clip()).unwrap();
    let clip = case.path("cut.npy");
    fs::write(&clip, &bytes[..bytes.len() - 1000]).unwrap();
    // 8 * 3 * 32 * 32 float32 values: 98304 bytes after a 128-byte header.
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: not a valid .npy file: truncated: shape [8, 3, 32, 32] of <f4 needs 98304 data bytes, the file has 97304",
            show(&clip)
        )
    );
}

#[test]
fn an_npy_clip_of_integers_names_the_element_type() {
    let case = Case::new();
    let clip = case.path("ints.npy");
    fs::write(&clip, npy_bytes("'<i4'", "(1, 3, 32, 32)", &[0; 4 * 3072])).unwrap();
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: element type <i4 is not supported (ebr reads float32, and float64 converted to float32)",
            show(&clip)
        )
    );
}

#[test]
fn an_npy_clip_of_the_wrong_shape_names_both_shapes() {
    let case = Case::new();
    let clip = case.path("small.npy");
    write_npy(&clip, &Tensor::zeros(vec![2, 3, 16, 16])).unwrap();
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: the clip has shape [2, 3, 16, 16], expected [T, 3, 32, 32] (T frames preprocessed for the model)",
            show(&clip)
        )
    );
}

#[test]
fn nan_in_an_npy_clip_names_the_first_bad_index() {
    let case = Case::new();
    let mut tensor = read_tensor(&case.clip()).unwrap();
    tensor.data[7] = f32::NAN;
    tensor.data[9] = f32::INFINITY;
    let clip = case.path("nan.npy");
    write_npy(&clip, &tensor).unwrap();
    assert_eq!(
        case.clip_fails(&clip),
        format!("{}: value NaN at flat index 7 is not finite", show(&clip))
    );
}

/// The end of every overflow message (src/error.rs, `Error::Overflow`).
const OVERFLOWS: &str =
    "the computation overflows float32 (the clip's or the model's values are too large)";

#[test]
fn a_finite_clip_that_overflows_the_forward_pass_is_refused() {
    // 3e38 is finite, but conv1's sums over 3x3x3 inputs are not: before ebr's check, the
    // NaN of inf - inf was hidden by the ReLU (f32::max(NaN, 0) = 0), and ebr wrote all-zero
    // maps with exit code 0.
    let case = Case::new();
    let mut tensor = read_tensor(&case.clip()).unwrap();
    tensor.data.iter_mut().for_each(|v| *v = 3e38);
    let clip = case.path("huge_values.npy");
    write_npy(&clip, &tensor).unwrap();
    assert_eq!(
        case.clip_fails(&clip),
        format!("the frame CNN's feature of frame 0 (index 0) is NaN: {OVERFLOWS}")
    );
}

#[test]
fn finite_weights_that_overflow_the_forward_pass_are_refused() {
    let case = Case::new();
    for name in ["conv1_w.npy", "conv2_w.npy", "conv3_w.npy"] {
        let weight = case.model().join(name);
        let mut tensor = read_tensor(&weight).unwrap();
        tensor.data.iter_mut().for_each(|v| *v *= 1e15);
        write_npy(&weight, &tensor).unwrap();
    }
    let message = case.model_fails();
    assert!(
        message.starts_with("the frame CNN's feature of frame 0 (index ")
            && message.ends_with(&format!(") is NaN: {OVERFLOWS}")),
        "{message}"
    );
}

#[test]
fn frames_whose_preprocessing_overflows_name_the_frame_and_the_index() {
    let case = Case::new();
    let clip = case.path("frames");
    write_frames(&clip, 2, (32, 32));
    case.edit_json(|json| json["input"]["scale"] = Value::from(1e300));
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: preprocessed value inf at flat index 0 of the frame is not finite: model.json's input scale, mean or std overflow float32",
            show(&clip.join("frame000.png"))
        )
    );
}

#[test]
fn a_float64_clip_is_converted_with_a_note_on_stderr() {
    let case = Case::new();
    let tensor = read_tensor(&case.clip()).unwrap();
    // The same values as float64: a header of '<f8' and every value widened.
    let data: Vec<u8> = tensor
        .data
        .iter()
        .flat_map(|&v| f64::from(v).to_le_bytes())
        .collect();
    let clip = case.path("clip64.npy");
    fs::write(&clip, npy_bytes("'<f8'", "(8, 3, 32, 32)", &data)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(["classify", "--model"])
        .arg(case.model())
        .arg("--clip")
        .arg(&clip)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "ebr: note: {}: element type <f8 converted to float32\n",
            show(&clip)
        )
    );
}

#[test]
fn a_huge_sparse_npy_clip_is_refused_before_it_is_read() {
    // 350000 frames of 3x32x32: 1.075e9 values (4.3 GB), past the clip budget of 2^30
    // values. The file really has that many bytes, but sparse (a hole): reading them, or
    // allocating for them, would take minutes and 4 GB; the refusal comes from the header.
    let case = Case::new();
    let clip = case.path("huge.npy");
    let header = npy_bytes("'<f4'", "(350000, 3, 32, 32)", &[]);
    fs::write(&clip, &header).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&clip).unwrap();
    file.set_len(header.len() as u64 + 350_000 * 3072 * 4)
        .unwrap();
    drop(file);
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: 350000 frames of 3x32x32 are more than the 1073741824 values ebr loads for one clip",
            show(&clip)
        )
    );
}

#[test]
fn an_empty_frame_directory_says_it_has_no_frames() {
    let case = Case::new();
    let clip = case.path("empty");
    fs::create_dir(&clip).unwrap();
    fs::write(clip.join("notes.txt"), "not a frame").unwrap();
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: no frames: the directory has no file ending .jpg, .jpeg or .png (any case)",
            show(&clip)
        )
    );
}

#[test]
fn a_text_file_named_png_names_the_file() {
    let case = Case::new();
    let clip = case.path("frames");
    write_frames(&clip, 2, (32, 32));
    let fake = clip.join("frame001.png");
    fs::write(&fake, "this is not an image\n").unwrap();
    // The rest of the line is the image decoder's.
    let message = case.clip_fails(&clip);
    assert!(
        message.starts_with(&format!("{}: cannot decode the image: ", show(&fake))),
        "{message}"
    );
}

#[test]
fn frames_of_different_sizes_name_both_frames_and_sizes() {
    let case = Case::new();
    let clip = case.path("frames");
    write_frames(&clip, 2, (32, 32));
    image::RgbImage::new(40, 36)
        .save(clip.join("frame002.png"))
        .unwrap();
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: is 36x40 (height x width), but the first frame {} is 32x32; all frames of a clip must have the same size",
            show(&clip.join("frame002.png")),
            show(&clip.join("frame000.png"))
        )
    );
}

#[test]
fn a_missing_clip_names_it() {
    let case = Case::new();
    let clip = case.path("nowhere.npy");
    assert_eq!(
        case.clip_fails(&clip),
        format!("{}: the clip does not exist", show(&clip))
    );
}

// ---- Broken models --------------------------------------------------------------------------

#[test]
fn model_json_that_is_not_json_is_refused() {
    let case = Case::new();
    let json = case.model().join("model.json");
    let text = fs::read_to_string(&json).unwrap();
    fs::write(&json, &text[..text.len() / 2]).unwrap();
    let message = case.model_fails();
    // The rest is serde_json's (line and column of the end).
    assert!(
        message.starts_with(&format!(
            "{}: field (file): not valid JSON: EOF while parsing",
            show(&json)
        )),
        "{message}"
    );
}

#[test]
fn a_missing_field_of_model_json_is_named() {
    let case = Case::new();
    case.edit_json(|v| {
        v["classifier"].as_object_mut().unwrap().remove("out");
    });
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: field classifier.out: is missing",
            show(&case.model().join("model.json"))
        )
    );
}

#[test]
fn a_missing_frame_list_is_named() {
    let case = Case::new();
    case.edit_json(|v| {
        v.as_object_mut().unwrap().remove("frame");
    });
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: field frame: is missing",
            show(&case.model().join("model.json"))
        )
    );
}

#[test]
fn a_mistyped_field_of_model_json_is_named_with_the_value_found() {
    let case = Case::new();
    case.edit_json(|v| v["frame"][0]["kernel"] = Value::from("3"));
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: field frame[0].kernel: must be a whole number >= 1, found the string \"3\"",
            show(&case.model().join("model.json"))
        )
    );
}

#[test]
fn a_mistyped_boolean_of_model_json_is_named() {
    let case = Case::new();
    case.edit_json(|v| v["classifier"]["bias"] = Value::from("yes"));
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: field classifier.bias: must be true or false, found the string \"yes\"",
            show(&case.model().join("model.json"))
        )
    );
}

#[test]
fn a_weight_of_the_wrong_shape_names_the_file_the_field_and_both_shapes() {
    let case = Case::new();
    let weight = case.model().join("conv2_w.npy");
    write_npy(&weight, &Tensor::zeros(vec![16, 8, 5, 5])).unwrap();
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: conv2 weight [out, in, kh, kw] has shape [16, 8, 5, 5], expected [16, 8, 3, 3]",
            show(&weight)
        )
    );
}

#[test]
fn an_lstm_weight_of_the_wrong_shape_names_both_shapes() {
    let case = Case::new();
    let weight = case.model().join("lstm1_W_hc.npy");
    write_npy(&weight, &Tensor::zeros(vec![128, 64])).unwrap();
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: lstm1 recurrent weight W_hc [4H, H] has shape [128, 64], expected [128, 32]",
            show(&weight)
        )
    );
}

#[test]
fn a_missing_weight_file_says_what_it_is_for() {
    let case = Case::new();
    let weight = case.model().join("fc8_b.npy");
    fs::remove_file(&weight).unwrap();
    assert_eq!(
        case.model_fails(),
        format!("{}: missing: the file of fc8 bias [out]", show(&weight))
    );
}

#[test]
fn nan_in_a_weight_names_the_file_the_field_and_the_first_bad_index() {
    let case = Case::new();
    let weight = case.model().join("conv1_w.npy");
    let mut tensor = read_tensor(&weight).unwrap();
    tensor.data[5] = f32::NAN;
    write_npy(&weight, &tensor).unwrap();
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: conv1 weight [out, in, kh, kw]: value NaN at flat index 5 is not finite",
            show(&weight)
        )
    );
}

#[test]
fn infinity_in_an_lstm_bias_is_refused_too() {
    let case = Case::new();
    let weight = case.model().join("lstm1_b_c.npy");
    let mut tensor = read_tensor(&weight).unwrap();
    tensor.data[100] = f32::NEG_INFINITY;
    write_npy(&weight, &tensor).unwrap();
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: lstm1 gate bias b_c [4H]: value -inf at flat index 100 is not finite",
            show(&weight)
        )
    );
}

#[test]
fn a_truncated_weight_file_names_the_byte_counts() {
    let case = Case::new();
    let weight = case.model().join("fc6_w.npy");
    let bytes = fs::read(&weight).unwrap();
    fs::write(&weight, &bytes[..bytes.len() - 4]).unwrap();
    // fc6 reads pool3's 16x4x4 = 256 values into 64 outputs: 64 * 256 float32 values.
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: not a valid .npy file: truncated: shape [64, 256] of <f4 needs 65536 data bytes, the file has 65532",
            show(&weight)
        )
    );
}

// ---- Broken --out -----------------------------------------------------------------------------

#[test]
fn an_out_whose_parent_does_not_exist_is_refused() {
    let case = Case::new();
    let out = case.path("outs/no/such/parent/out");
    assert_eq!(
        case.ground_fails(&case.model(), &case.clip(), &out),
        format!(
            "{}: the parent directory {} does not exist",
            show(&out),
            show(&case.path("outs/no/such/parent"))
        )
    );
}

/// True when this process may create files in a directory without write permission (root, or
/// CAP_DAC_OVERRIDE): then permission bits cannot make a directory read-only for it.
fn permission_checks_are_skipped(scratch: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch.join("probe");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let writable = fs::write(dir.join("file"), "x").is_ok();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    writable
}

#[test]
fn an_out_that_cannot_be_written_is_refused_and_leaves_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::new();
    if permission_checks_are_skipped(case.root.path()) {
        // As root a read-only directory can be written: use a parent that is a regular file,
        // where nothing can be created whoever asks.
        let file = case.path("outs/file");
        fs::write(&file, "a file, not a directory").unwrap();
        let out = file.join("out");
        let message = case.ground_fails(&case.model(), &case.clip(), &out);
        assert_eq!(
            message,
            format!(
                "{}: the parent {} is not a directory",
                show(&out),
                show(&file)
            )
        );
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "a file, not a directory"
        );
    } else {
        let locked = case.path("outs/locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
        let out = locked.join("out");
        let message = case.ground_fails(&case.model(), &case.clip(), &out);
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        // The directory that could not be made is the temporary one beside --out; the rest
        // of the line is the operating system's.
        assert_mentions(&message, &[&show(&locked), "ermission denied"]);
        assert!(listing(&locked).is_empty(), "{:?}", listing(&locked));
    }
}

// ---- Exit codes -----------------------------------------------------------------------------

#[test]
fn help_documents_the_exit_codes_and_usage_errors_exit_with_2() {
    let help = Command::new(env!("CARGO_BIN_EXE_ebr"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(
        text.contains(
            "Exit codes: 0 success, 1 bad input or failure (one line on stderr), 2 bad usage."
        ),
        "{text}"
    );
    let usage = Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args([
            "ground",
            "--model",
            "m",
            "--clip",
            "c",
            "--target",
            "3",
            "--threads",
            "two",
        ])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

// ---- Inputs past ebr's limits, refused before they are read ---------------------------------

/// A PNG whose header says `width` x `height` (its pixel data is one row of a tiny image: a
/// decoder would fail on it, but the size is read first). The IHDR chunk of an encoded 1x1
/// image with the size replaced and its CRC recomputed.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::new(1, 1)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), 5 more bytes, CRC.
    assert_eq!(&bytes[12..16], b"IHDR");
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// CRC-32 (IEEE, as PNG uses), bit by bit.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_frame_too_large_to_decode_is_refused_from_its_header() {
    // 100000 x 100000 pixels: 30 GB as RGB. Refused from the size in its header, before the
    // first frame is decoded.
    let case = Case::new();
    let clip = case.path("frames");
    write_frames(&clip, 1, (32, 32));
    let huge = clip.join("frame001.png");
    fs::write(&huge, png_claiming(100_000, 100_000)).unwrap();
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: the image is 100000x100000 (height x width), more than the 33554432 pixels ebr decodes for one frame",
            show(&huge)
        )
    );
}

#[test]
fn a_huge_sparse_float64_clip_is_refused_by_the_npy_budget() {
    // 180000 frames of 3x32x32 in float64: 5.5e8 values (within the clip's 2^30) but 4.4 GB of
    // data, past the 4 GiB ebr reads from one .npy file. Sparse, as above.
    let case = Case::new();
    let clip = case.path("wide.npy");
    let header = npy_bytes("'<f8'", "(180000, 3, 32, 32)", &[]);
    fs::write(&clip, &header).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&clip).unwrap();
    file.set_len(header.len() as u64 + 180_000 * 3072 * 8)
        .unwrap();
    drop(file);
    assert_eq!(
        case.clip_fails(&clip),
        format!(
            "{}: the array of shape [180000, 3, 32, 32] (<f8) holds 4423680000 bytes of data, more than the 4294967296 bytes ebr reads from one .npy file",
            show(&clip)
        )
    );
}

#[test]
fn a_huge_sparse_weight_of_the_wrong_shape_is_refused_before_it_is_read() {
    // conv1's weight as a 4 GiB array (sparse): its shape, from the header, is compared with
    // the one model.json implies before any of the data is read.
    let case = Case::new();
    let weight = case.model().join("conv1_w.npy");
    let header = npy_bytes("'<f4'", "(1048576, 1024)", &[]);
    fs::write(&weight, &header).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&weight).unwrap();
    file.set_len(header.len() as u64 + (1 << 32)).unwrap();
    drop(file);
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: conv1 weight [out, in, kh, kw] has shape [1048576, 1024], expected [8, 3, 3, 3]",
            show(&weight)
        )
    );
}

#[test]
fn a_model_of_too_many_parameters_is_refused_before_its_files_are_read() {
    // conv1 with 2^20 filters of 3x32x32: 3 * 2^30 parameters, past the 2^30 budget.
    let case = Case::new();
    case.edit_json(|v| {
        v["frame"][0]["out"] = Value::from(1u64 << 20);
        v["frame"][0]["kernel"] = Value::from(32);
        v["frame"][0]["pad"] = Value::from(0);
    });
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: conv1 weight [out, in, kh, kw] of shape [1048576, 3, 32, 32] takes the model past 1073741824 parameters (4 GiB of float32), more than ebr accepts",
            show(&case.model().join("model.json"))
        )
    );
}

#[test]
fn a_layer_whose_blob_is_too_large_is_refused_before_its_weights_are_read() {
    // A padding of 2^20 makes conv1's output 8 x (32 + 2 * 2^20 - 3 + 1) x (the same), that
    // is 8 x 2097182 x 2097182.
    let case = Case::new();
    case.edit_json(|v| v["frame"][0]["pad"] = Value::from(1u64 << 20));
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: frame[0]: its output 8x2097182x2097182 takes one frame's blobs past 1073741824 values (4 GiB of float32), more than ebr accepts",
            show(&case.model().join("model.json"))
        )
    );
}

#[test]
fn an_input_too_large_for_one_frame_is_refused() {
    let case = Case::new();
    case.edit_json(|v| {
        v["input"]["height"] = Value::from(1u64 << 20);
        v["input"]["width"] = Value::from(1u64 << 20);
    });
    assert_eq!(
        case.model_fails(),
        format!(
            "{}: input: the input 3x1048576x1048576 takes one frame's blobs past 1073741824 values (4 GiB of float32), more than ebr accepts",
            show(&case.model().join("model.json"))
        )
    );
}

/// The library takes smaller budgets than the defaults: the same refusals at a size a test
/// can write for real (not sparse).
#[test]
fn memory_budget_sets_the_limits_and_a_bad_value_is_a_usage_error() {
    let case = Case::new();
    let run = |budget: &str| {
        Command::new(env!("CARGO_BIN_EXE_ebr"))
            .args(["ground", "--quiet", "--target", "3", "--model"])
            .arg(case.model())
            .arg("--clip")
            .arg(case.clip())
            .arg("--out")
            .arg(case.out())
            .arg(format!("--memory-budget={budget}"))
            .output()
            .unwrap()
    };
    // 0.0001 GiB = 107374 bytes = 26843 float32 values: conv1..fc7 take 24320 parameters
    // with their biases (224 + 1168 + 2320 + 16448 + 4160), and lstm1's W_xc (128 x 64 = 8192)
    // is the first file past the budget.
    let output = run("0.0001");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        format!(
            "ebr: {}: lstm1 input weight W_xc [4H, D] of shape [128, 64] takes the model past 26843 parameters (107374 bytes of float32), more than ebr accepts\n",
            show(&case.model().join("model.json"))
        )
    );
    assert!(!case.out().exists());
    // The same model and clip within a budget that holds them.
    assert_eq!(run("0.001").status.code(), Some(0));
    for bad in ["0", "-1", "lots", "inf"] {
        let output = run(bad);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains(&format!("{bad:?} is not a positive number of GiB")),
            "{stderr}"
        );
    }
}

#[test]
fn smaller_budgets_refuse_real_files_with_the_same_messages() {
    use ebr::budget::Budget;
    use ebr::clip::load_clip_within;
    // A budget of `n` float32 values.
    let values = |n: u64| Budget { bytes: 4 * n };
    use ebr::npy::read_npy_within;
    let case = Case::new();
    // input.npy: 8 * 3072 float32 values, 98304 bytes.
    let error = read_npy_within(&case.clip(), 98303).unwrap_err();
    assert!(matches!(error, ebr::Error::TooLarge { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the array of shape [8, 3, 32, 32] (<f4) holds 98304 bytes of data, more than the 98303 bytes ebr reads from one .npy file",
            show(&case.clip())
        )
    );
    assert_eq!(
        read_npy_within(&case.clip(), 98304).unwrap().tensor.shape,
        [8, 3, 32, 32]
    );

    let model = Model::load(&case.model()).unwrap();
    let error = load_clip_within(&case.clip(), &model.input, values(8 * 3072 - 1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: 8 frames of 3x32x32 are more than the 24575 values ebr loads for one clip",
            show(&case.clip())
        )
    );
    let frames = case.path("frames");
    write_frames(&frames, 3, (32, 32));
    let error = load_clip_within(&frames, &model.input, values(3 * 3072 - 1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: 3 frames of 3x32x32 are more than the 9215 values ebr loads for one clip",
            show(&frames)
        )
    );
    assert_eq!(
        load_clip_within(&frames, &model.input, values(3 * 3072))
            .unwrap()
            .frames,
        3
    );
}

// ---- Inputs that are not regular files (spec/outputs.md, OUT-7) -----------------------------

/// What stands where an input file should be.
#[derive(Clone, Copy, Debug)]
enum Special {
    Fifo,
    Socket,
    /// A symbolic link to /dev/null.
    Null,
    /// A symbolic link to /dev/zero.
    Zero,
}

const SPECIALS: [Special; 4] = [Special::Fifo, Special::Socket, Special::Null, Special::Zero];

impl Special {
    /// Replaces `path` by this special file; the socket's listener is returned to keep it open.
    fn make(self, path: &Path) -> Option<std::os::unix::net::UnixListener> {
        if fs::symlink_metadata(path).is_ok() {
            fs::remove_file(path).unwrap();
        }
        match self {
            Special::Fifo => {
                let status = Command::new("mkfifo").arg(path).status().unwrap();
                assert!(status.success(), "mkfifo {}", path.display());
                None
            }
            Special::Socket => Some(std::os::unix::net::UnixListener::bind(path).unwrap()),
            Special::Null => {
                std::os::unix::fs::symlink("/dev/null", path).unwrap();
                None
            }
            Special::Zero => {
                std::os::unix::fs::symlink("/dev/zero", path).unwrap();
                None
            }
        }
    }

    /// How ebr's message calls it.
    fn described(self) -> &'static str {
        match self {
            Special::Fifo => "a named pipe (FIFO)",
            Special::Socket => "a socket",
            Special::Null | Special::Zero => "a character device",
        }
    }
}

/// The entries under `dir` (links not followed), each with its bytes if it is a regular file
/// and its kind otherwise: read without opening anything but regular files.
fn entries(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let kind = fs::symlink_metadata(&path).unwrap().file_type();
            let what = if kind.is_file() {
                format!("{:?}", fs::read(&path).unwrap())
            } else if kind.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else {
                format!("{kind:?}")
            };
            all.push((path, what));
        }
    }
    all.sort();
    all
}

/// Runs `ebr args`, which must end within a few seconds with exit 1 and the one line
/// `ebr: {line}`, nothing on stdout and every entry under `root` as it was.
fn fails_fast(root: &Path, args: &[&std::ffi::OsStr], line: &str) {
    let before = entries(root);
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() >= 10 {
            let _ = child.kill();
            panic!("ebr {args:?} still runs after 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr, format!("ebr: {line}\n"), "{args:?}");
    assert!(output.stdout.is_empty(), "{args:?}: {:?}", output.stdout);
    assert!(entries(root) == before, "{args:?} changed the files");
}

fn ground_args<'a>(model: &'a Path, clip: &'a Path, out: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> = ["ground", "--quiet", "--target", "3", "--model"]
        .iter()
        .map(|s| s.as_ref())
        .collect();
    args.extend([model.as_os_str(), "--clip".as_ref(), clip.as_os_str()]);
    args.extend(["--out".as_ref(), out.as_os_str()]);
    args
}

#[test]
fn a_clip_that_is_not_a_regular_file_is_refused_at_once() {
    for special in SPECIALS {
        let case = Case::new();
        let _keep = special.make(&case.clip());
        fails_fast(
            case.root.path(),
            &ground_args(&case.model(), &case.clip(), &case.out()),
            &format!(
                "{}: the .npy file is {}, not a regular file",
                show(&case.clip()),
                special.described()
            ),
        );
    }
}

#[test]
fn a_frame_that_is_not_a_regular_file_is_refused_not_skipped() {
    for special in SPECIALS {
        let case = Case::new();
        let frames = case.path("frames");
        write_frames(&frames, 3, (32, 32));
        let frame = frames.join("frame003.png");
        let _keep = special.make(&frame);
        fails_fast(
            case.root.path(),
            &ground_args(&case.model(), &frames, &case.out()),
            &format!(
                "{}: the frame is {}, not a regular file",
                show(&frame),
                special.described()
            ),
        );
    }
}

#[test]
fn model_json_or_a_weight_that_is_not_a_regular_file_is_refused_at_once() {
    for special in SPECIALS {
        for (file, what) in [
            ("model.json", "model.json"),
            ("conv2_w.npy", "the .npy file"),
        ] {
            let case = Case::new();
            let path = case.model().join(file);
            let _keep = special.make(&path);
            fails_fast(
                case.root.path(),
                &ground_args(&case.model(), &case.clip(), &case.out()),
                &format!(
                    "{}: {what} is {}, not a regular file",
                    show(&path),
                    special.described()
                ),
            );
        }
    }
}

#[test]
fn set_json_or_a_clip_it_names_that_is_not_a_regular_file_is_refused_at_once() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/model");
    for special in SPECIALS {
        for (file, what) in [
            ("set.json", "set.json"),
            ("clips/0000.npy", "the .npy file"),
        ] {
            let root = tempfile::tempdir().unwrap();
            let data = root.path().join("data");
            let synth = Command::new(env!("CARGO_BIN_EXE_ebr"))
                .args(["synth", "--protocol", "trimmed", "--clips", "1"])
                .args(["--examples", "0", "--quiet", "--out"])
                .arg(&data)
                .status()
                .unwrap();
            assert!(synth.success());
            let path = data.join(file);
            let _keep = special.make(&path);
            let out = root.path().join("out");
            let args: Vec<&std::ffi::OsStr> = vec![
                "eval".as_ref(),
                "--quiet".as_ref(),
                "--methods".as_ref(),
                "cebr".as_ref(),
                "--model".as_ref(),
                demo.as_os_str(),
                "--data".as_ref(),
                data.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
            ];
            fails_fast(
                root.path(),
                &args,
                &format!(
                    "{}: {what} is {}, not a regular file",
                    show(&path),
                    special.described()
                ),
            );
        }
    }
}

// ---- Flags: no value panics (spec/outputs.md, OUT-8) ----------------------------------------

#[test]
fn bench_refuses_bad_counts_and_sizes_at_once() {
    let root = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 9] = [
        (&["--frames", "0"], "--frames: a clip needs at least 1 frame, not 0"),
        (
            &["--frames-list", "0,1"],
            "--frames-list: a clip needs at least 1 frame, not 0",
        ),
        (
            &["--frames-list", "8,0"],
            "--frames-list: a clip needs at least 1 frame, not 0",
        ),
        (&["--repeat", "0"], "--repeat 0 must be between 1 and 1000"),
        (
            &["--repeat", "18446744073709551615"],
            "--repeat 18446744073709551615 must be between 1 and 1000",
        ),
        (
            &["--frames", "18446744073709551615"],
            "--frames: 18446744073709551615 frames of 3x224x224 take more than 1073741824 float32 values (4 GiB), more than ebr accepts",
        ),
        (
            &["--size", "736"],
            "--size 736 must be a multiple of 32 from 32 to 704 (VGG16 pools five times; fc6 grows with the size)",
        ),
        (
            &["--size", "0"],
            "--size 0 must be a multiple of 32 from 32 to 704 (VGG16 pools five times; fc6 grows with the size)",
        ),
        (
            &["--threads", "1000000"],
            "--threads 1000000 must be at most 256 (0: one per core)",
        ),
    ];
    for (flags, line) in cases {
        let mut args: Vec<&std::ffi::OsStr> = vec!["bench".as_ref()];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        fails_fast(root.path(), &args, line);
    }
    // Values clap cannot read are usage errors (exit 2), no panic.
    for flags in [
        ["--frames", "-1"],
        ["--frames", "18446744073709551616"],
        ["--frames-list", "1,x"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_ebr"))
            .arg("bench")
            .args(flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{flags:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
    }
}

// ---- Text on a terminal (spec/outputs.md, OUT-8) --------------------------------------------

#[test]
fn control_characters_in_labels_are_escaped_on_stdout_and_in_errors() {
    let case = Case::new();
    case.edit_json(|json| {
        json["labels"][3] = Value::from("evil\nlabel\u{1b}[2J");
    });
    let output = Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(["ground", "--no-overlays", "--target", "3", "--model"])
        .arg(case.model())
        .arg("--clip")
        .arg(case.clip())
        .arg("--out")
        .arg(case.out())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
    assert!(
        stdout.contains("cebr of evil\\nlabel\\u{1b}[2J at "),
        "{stdout:?}"
    );
    // An error naming the labels is one line too.
    let (model, clip, other) = (case.model(), case.clip(), case.path("outs/other"));
    let args = ground_args(&model, &clip, &other);
    let mut args: Vec<&std::ffi::OsStr> = args.into_iter().filter(|a| *a != "3").collect();
    args.insert(3, "nope".as_ref());
    fails_fast(
        case.root.path(),
        &args,
        "unknown class \"nope\"; valid: class0, class1, class2, evil\\nlabel\\u{1b}[2J, class4, class5, class6, class7, class8, class9",
    );
}
