//! The same inputs give the same bytes: `ebr ground` writes a bit-identical maps.npy and
//! summary.json with one worker thread and with two, with the forward pass's blobs kept or
//! recomputed, and from one run to the next. Frames are split into chunks by thread count
//! (src/grounding/clip_forward.rs), but every frame's arithmetic is the same whichever thread
//! does it, and the per-frame results are joined in frame order.
//!
//! Inputs: the Caffe fixture's net fixtures/caffe-nets/tiny_cnn_lstm and its clip
//! fixtures/caffe/tiny_cnn_lstm/input.npy (8 frames of 3x32x32)
//! and a directory of 5 PNG frames written here; methods cEB-R, BP-R and cEB.

use std::fs;
use std::path::Path;
use std::process::Command;

mod common;

/// The fixture's net, an ebr model directory.
fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/caffe-nets/tiny_cnn_lstm")
}

/// The fixture's clip, made by the original code.
fn fixture_clip() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/caffe/tiny_cnn_lstm/input.npy")
}

/// Runs `ebr ground` with `extra` arguments into `out`; returns (maps.npy, summary.json).
fn ground(clip: &Path, out: &Path, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let model = fixture();
    let output = Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(["ground", "--model"])
        .arg(&model)
        .arg("--clip")
        .arg(clip)
        .arg("--out")
        .arg(out)
        .args([
            "--target",
            "3",
            "--layer",
            "conv2",
            "--quiet",
            "--no-overlays",
        ])
        .args(extra)
        .output()
        .expect("the ebr binary runs");
    assert!(
        output.status.success(),
        "ebr ground {extra:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        fs::read(out.join("maps.npy")).unwrap(),
        common::without_run_id(&fs::read_to_string(out.join("summary.json")).unwrap()),
    )
}

/// Grounds `clip` with every method and execution choice and asserts every run's files equal
/// the first run's (with one thread), byte for byte.
fn assert_deterministic(clip: &Path, root: &Path) {
    for method in ["cebr", "bpr", "ceb"] {
        let runs: [&[&str]; 4] = [
            &["--threads", "1"],
            &["--threads", "2"],
            &["--threads", "2"],
            &["--threads", "2", "--activations", "recompute"],
        ];
        let mut first = None;
        for (k, run) in runs.iter().enumerate() {
            let mut args = vec!["--method", method];
            args.extend_from_slice(run);
            let out = root.join(format!("{method}_{k}"));
            let (maps, summary) = ground(clip, &out, &args);
            match &first {
                None => first = Some((maps, summary)),
                Some((maps_1, summary_1)) => {
                    assert!(
                        maps == *maps_1,
                        "{method} {run:?}: maps.npy differs from the run with --threads 1"
                    );
                    assert!(
                        summary == *summary_1,
                        "{method} {run:?}: summary.json differs from the run with --threads 1:\n{}\n{}",
                        String::from_utf8_lossy(&summary),
                        String::from_utf8_lossy(summary_1)
                    );
                }
            }
        }
    }
}

#[test]
fn maps_and_summary_are_bit_identical_across_threads_and_runs_for_a_npy_clip() {
    let root = tempfile::tempdir().unwrap();
    assert_deterministic(&fixture_clip(), root.path());
}

#[test]
fn maps_and_summary_are_bit_identical_across_threads_and_runs_for_a_frame_directory() {
    let root = tempfile::tempdir().unwrap();
    let frames = root.path().join("frames");
    fs::create_dir(&frames).unwrap();
    for t in 0..5u32 {
        let image = image::RgbImage::from_fn(40, 36, |x, y| {
            image::Rgb([
                (x * 6 + t * 17) as u8,
                (y * 7) as u8,
                ((x + y) * 3 + t) as u8,
            ])
        });
        image.save(frames.join(format!("{t:04}.png"))).unwrap();
    }
    assert_deterministic(&frames, root.path());
}
