//! Clip loading and frame preprocessing (src/clip.rs, spec/preprocess.md) against the original
//! demo's preprocessing (fixtures/caffe/preprocess: pycaffe's caffe.io and Transformer run on
//! two PNG images, see its manifest.json), hand-worked resize and geometry examples, the
//! round trip for drawing, and every error a user can meet.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use ebr::clip::{deprocess_frame, load_clip, preprocess_frame, ClipSource, FrameGeometry};
use ebr::model::{ChannelOrder, InputSpec};
use ebr::npy::write_npy;
use ebr::resize::resize_bilinear;
use ebr::Tensor;
use image::{Rgb, RgbImage};

use common::{caffe_case, load};

/// Against the demo: bit for bit. The means are kept as the float64 decimals of model.json,
/// as the demo's numpy subtracts them, and the demo's f32(f32(u / 255) * 255) equals u for
/// every u8 (checked below), so both compute u - mean rounded once to f32.
const DEMO_EXACT: f32 = 0.0;

/// A hand-worked example written with decimal literals (-53.939, ...): the literal and the
/// computed value are two f32 roundings of numbers within 1e-14, at most one ulp apart
/// (2^-16 below 256).
const DECIMAL_LITERAL: f32 = 1.0 / 65536.0;

/// The RNN demo's preprocessing (util_preprocess_data.py): 224x224 crop of 240x320, x255,
/// BGR, the BGR mean.
fn demo_input() -> InputSpec {
    InputSpec {
        channels: 3,
        height: 224,
        width: 224,
        resize: Some([240, 320]),
        scale: 255.0,
        channel_order: ChannelOrder::Bgr,
        mean: vec![103.939, 116.779, 128.68],
        std: vec![1.0; 3],
    }
}

/// A PyTorch-style input: RGB, [0, 1], ImageNet mean and std.
fn torch_input() -> InputSpec {
    InputSpec {
        channels: 3,
        height: 224,
        width: 224,
        resize: Some([240, 320]),
        scale: 1.0,
        channel_order: ChannelOrder::Rgb,
        mean: vec![0.485, 0.456, 0.406],
        std: vec![0.229, 0.224, 0.225],
    }
}

/// A deterministic colour image with every u8 value in each channel.
fn pattern_image(height: u32, width: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |j, i| {
        Rgb([
            ((7 * i + 13 * j) % 256) as u8,
            ((11 * i + 3 * j + 101) % 256) as u8,
            ((5 * i * j + 17 * i + 29) % 256) as u8,
        ])
    })
}

fn fixture_png(name: &str) -> PathBuf {
    caffe_case("preprocess").join(format!("{name}.png"))
}

/// Largest |got - want|, and how many values are bitwise equal; fails past `tol` or on NaN.
fn assert_within_abs(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{name}: lengths");
    let mut worst = 0.0f32;
    let mut equal = 0;
    for (index, (&g, &w)) in got.iter().zip(want).enumerate() {
        let difference = (g - w).abs();
        // NaN compares false: a NaN in got or want fails here.
        let within = difference <= tol;
        if !within {
            panic!("{name}: index {index}: got {g}, want {w}, |difference| {difference:.3e} > {tol:.3e}");
        }
        worst = worst.max(difference);
        if g.to_bits() == w.to_bits() {
            equal += 1;
        }
    }
    println!(
        "{name}: max abs error {worst:.3e} (tolerance {tol:.3e}); {equal} of {} bitwise equal",
        got.len()
    );
}

fn error_message<T: std::fmt::Debug>(result: Result<T, ebr::Error>) -> String {
    result.expect_err("an error").to_string()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "message {message:?} does not mention {part:?}"
        );
    }
}

// ---- the demo's fixtures ----

#[test]
fn fixture_images_match_the_demo() {
    for name in ["rgb_240x320", "gray_240x320"] {
        let image = image::open(fixture_png(name)).unwrap().to_rgb8();
        let (x, geometry) = preprocess_frame(&image, &demo_input()).unwrap();
        let want = load("preprocess", name);
        assert_eq!(want.shape, vec![3, 224, 224]);
        assert_within_abs(name, &x, &want.data, DEMO_EXACT);
        assert_eq!(
            geometry,
            FrameGeometry {
                original: [240, 320],
                resized: [240, 320],
                crop_offset: [8, 48],
                crop: [224, 224],
            }
        );
    }
}

#[test]
fn demo_arithmetic_for_every_u8_value() {
    // The demo: v = f32(u / 255) (load_image), f32(v * 255) (raw_scale, in f32), then the
    // float64 mean subtracted in place in the f32 array: f32(f64(.) - mean).
    let means_f64 = [103.939f64, 116.779, 128.68];
    let input = InputSpec {
        height: 1,
        width: 256,
        resize: None,
        ..demo_input()
    };
    let image = RgbImage::from_fn(256, 1, |j, _| Rgb([j as u8, j as u8, j as u8]));
    let (x, _) = preprocess_frame(&image, &input).unwrap();
    for (c, &mean) in means_f64.iter().enumerate() {
        let mut demo = Vec::new();
        let mut single_rounding = Vec::new();
        for u in 0..256u32 {
            let v = (u as f64 / 255.0) as f32;
            let scaled = v * 255.0f32;
            assert_eq!(scaled, u as f32, "f32(f32(u / 255) * 255) == u for u = {u}");
            demo.push((scaled as f64 - mean) as f32);
            single_rounding.push((u as f64 - input.mean[c]) as f32);
        }
        let got = &x[c * 256..(c + 1) * 256];
        assert_within_abs(&format!("channel {c} vs demo"), got, &demo, DEMO_EXACT);
        // With the mean as InputSpec holds it (f32), the result is u - mean rounded once.
        assert_eq!(got, &single_rounding[..]);
    }
}

#[test]
fn clip_directory_of_the_fixture_images() {
    let dir = tempfile::tempdir().unwrap();
    // Sorted by file name (upper-case extension accepted); other files and sub-directories
    // (even one named like a frame) are ignored.
    let first = dir.path().join("frame_000.png");
    let second = dir.path().join("frame_001.PNG");
    fs::copy(fixture_png("rgb_240x320"), &first).unwrap();
    fs::copy(fixture_png("gray_240x320"), &second).unwrap();
    fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
    fs::create_dir(dir.path().join("sub.png")).unwrap();

    let clip = load_clip(dir.path(), &demo_input()).unwrap();
    assert_eq!(clip.frames, 2);
    assert_eq!(clip.data.len(), 2 * 3 * 224 * 224);
    assert_eq!(
        clip.source,
        ClipSource::Frames {
            paths: vec![first, second]
        }
    );
    assert_eq!(clip.geometry.crop_offset, [8, 48]);
    assert_within_abs(
        "frame 0",
        clip.frame(0),
        &load("preprocess", "rgb_240x320").data,
        DEMO_EXACT,
    );
    assert_within_abs(
        "frame 1",
        clip.frame(1),
        &load("preprocess", "gray_240x320").data,
        DEMO_EXACT,
    );
}

#[test]
fn npy_clip_is_used_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.npy");
    let input = InputSpec {
        height: 4,
        width: 5,
        ..demo_input()
    };
    let data: Vec<f32> = (0..2 * 3 * 4 * 5).map(|k| k as f32 - 60.5).collect();
    write_npy(&path, &Tensor::new(vec![2, 3, 4, 5], data.clone())).unwrap();
    let clip = load_clip(&path, &input).unwrap();
    assert_eq!(clip.frames, 2);
    assert_eq!(clip.data, data);
    assert_eq!(clip.geometry, FrameGeometry::identity([4, 5]));
    assert_eq!(clip.source, ClipSource::Npy { path });
}

// ---- PRE-2: the resize, hand-worked from skimage's definition ----

#[test]
fn resize_downsample_by_two_averages_blocks() {
    // 4x6 -> 2x3, x[i][j] = 10 i + j. Rows: s = (d + 0.5) * 4 / 2 - 0.5 = 2d + 0.5, so output
    // row 0 reads rows 0 and 1 with weights 1/2, 1/2, and row 1 reads rows 2 and 3. Columns the
    // same (6 / 3 = 2): s = 0.5, 2.5, 4.5. Each output is the mean of a 2x2 block:
    // (0 + 1 + 10 + 11) / 4 = 5.5, (2 + 3 + 12 + 13) / 4 = 7.5, 9.5; then +20 for row 1.
    let x: Vec<f64> = (0..4)
        .flat_map(|i| (0..6).map(move |j| (10 * i + j) as f64))
        .collect();
    let y = resize_bilinear(&x, 1, [4, 6], [2, 3]);
    assert_eq!(y, vec![5.5, 7.5, 9.5, 25.5, 27.5, 29.5]);
}

#[test]
fn resize_upsample_clamps_at_the_edges() {
    // 2x3 -> 4x6. Rows: s = (d + 0.5) * 2 / 4 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to
    // [0, 1]: 0, 0.25, 0.75, 1. Columns: s = (d + 0.5) * 3 / 6 - 0.5 = -0.25, 0.25, 0.75, 1.25,
    // 1.75, 2.25, clamped to [0, 2]: 0, 0.25, 0.75, 1.25, 1.75, 2.
    // Plane 0, x[i][j] = 12 i + 4 j (linear, so the output is 12 s_row + 4 s_col):
    //   row s=0:    0  1  3  5  7  8
    //   row s=0.25: 3  4  6  8 10 11
    //   row s=0.75: 9 10 12 14 16 17
    //   row s=1:   12 13 15 17 19 20
    // Plane 1, a single 16 at (1, 2) (x[1][2] = 16, else 0): only the taps that reach column 2
    // see it. Column s = 1.25 reads columns 1, 2 with weights 0.75, 0.25; s = 1.75: 0.25, 0.75;
    // s = 2: column 2 alone. Row s = 0.25: weight 0.25 on row 1; 0.75: 0.75; 1: 1. So
    // y = 16 * w_row * w_col:
    //   row s=0:    0 0 0 0 0  0
    //   row s=0.25: 0 0 0 1 3  4
    //   row s=0.75: 0 0 0 3 9 12
    //   row s=1:    0 0 0 4 12 16
    let mut x = vec![0.0, 4.0, 8.0, 12.0, 16.0, 20.0];
    x.extend_from_slice(&[0.0, 0.0, 0.0, 0.0, 0.0, 16.0]);
    let y = resize_bilinear(&x, 2, [2, 3], [4, 6]);
    #[rustfmt::skip]
    let want = vec![
        0.0, 1.0, 3.0, 5.0, 7.0, 8.0,
        3.0, 4.0, 6.0, 8.0, 10.0, 11.0,
        9.0, 10.0, 12.0, 14.0, 16.0, 17.0,
        12.0, 13.0, 15.0, 17.0, 19.0, 20.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 1.0, 3.0, 4.0,
        0.0, 0.0, 0.0, 3.0, 9.0, 12.0,
        0.0, 0.0, 0.0, 4.0, 12.0, 16.0,
    ];
    assert_eq!(y, want);
}

#[test]
fn resize_to_the_same_size_is_the_identity() {
    // s = (d + 0.5) - 0.5 = d: every output reads its own pixel with weight 0 on the next.
    let x: Vec<f64> = (0..15).map(|k| (k * k) as f64 / 7.0).collect();
    assert_eq!(resize_bilinear(&x, 1, [3, 5], [3, 5]), x);
}

#[test]
fn frame_twice_the_size_is_resized_then_cropped() {
    // A 480x640 image of 2x2 blocks: resizing by 1/2 reads each block's two rows and two
    // columns with weights 1/2 (s = 2d + 0.5), so it gives back the 240x320 image exactly.
    let small = pattern_image(240, 320);
    let large = RgbImage::from_fn(640, 480, |j, i| *small.get_pixel(j / 2, i / 2));
    let (x_large, geometry) = preprocess_frame(&large, &demo_input()).unwrap();
    let (x_small, _) = preprocess_frame(&small, &demo_input()).unwrap();
    assert_eq!(x_large, x_small);
    assert_eq!(
        geometry,
        FrameGeometry {
            original: [480, 640],
            resized: [240, 320],
            crop_offset: [8, 48],
            crop: [224, 224],
        }
    );
}

// ---- PRE-3, PRE-5: the crop and the geometry back to the original frame ----

#[test]
fn crop_offsets_round_down() {
    // No resize: (241 - 224) / 2 = 8 (8.5 rounded down), (321 - 224) / 2 = 48.
    let input = InputSpec {
        resize: None,
        ..demo_input()
    };
    let image = pattern_image(241, 321);
    let (x, geometry) = preprocess_frame(&image, &input).unwrap();
    assert_eq!(geometry.crop_offset, [8, 48]);
    assert_eq!(geometry.resized, [241, 321]);
    // Model channel 0 is B: x[0, 0, 0] comes from pixel (8, 48)'s blue.
    let u = image.get_pixel(48, 8)[2] as f32;
    assert_eq!(x[0], u - 103.939f32);
}

#[test]
fn worked_example_of_pre4() {
    // spec/preprocess.md, PRE-4: (R, G, B) = (200, 100, 50) at (8, 48) of a 240x320 frame is
    // the input's pixel (0, 0): (B, G, R) - mean = (-53.939, -16.779, 71.32), rounded to f32.
    let mut image = RgbImage::new(320, 240);
    image.put_pixel(48, 8, Rgb([200, 100, 50]));
    let (x, _) = preprocess_frame(&image, &demo_input()).unwrap();
    let plane = 224 * 224;
    let got = [x[0], x[plane], x[2 * plane]];
    let want = [
        (50.0 - 103.939f64) as f32,
        (100.0 - 116.779f64) as f32,
        (200.0 - 128.68f64) as f32,
    ];
    assert_eq!(got, want);
    assert_within_abs("worked", &got, &[-53.939, -16.779, 71.32], DECIMAL_LITERAL);
}

#[test]
fn geometry_of_the_demo_frame() {
    // 240x320, no resize, crop at (8, 48): only the crop is undone, (row + 8, col + 48).
    let geometry = FrameGeometry {
        original: [240, 320],
        resized: [240, 320],
        crop_offset: [8, 48],
        crop: [224, 224],
    };
    assert_eq!(geometry.to_original(0.0, 0.0), (8.0, 48.0));
    assert_eq!(geometry.to_original(0.5, 10.25), (8.5, 58.25));
    assert_eq!(geometry.to_original(223.0, 223.0), (231.0, 271.0));
}

#[test]
fn geometry_of_a_resized_frame() {
    // 480x640 -> 240x320 (ratio 2 on both axes), crop at (8, 48).
    let geometry = FrameGeometry {
        original: [480, 640],
        resized: [240, 320],
        crop_offset: [8, 48],
        crop: [224, 224],
    };
    // Input pixel (0, 0) is resized pixel (8, 48); (8 + 0.5) * 2 - 0.5 = 16.5 and
    // (48 + 0.5) * 2 - 0.5 = 96.5: the point between original pixels 16, 17 and 96, 97, the
    // very position PRE-2 sampled for it.
    assert_eq!(geometry.to_original(0.0, 0.0), (16.5, 96.5));
    // The last input pixel (223, 223) is resized (231, 271): 231.5 * 2 - 0.5, 271.5 * 2 - 0.5.
    assert_eq!(geometry.to_original(223.0, 223.0), (462.5, 542.5));
    // Half a resized pixel is one original pixel: -0.5 -> (7.5 + 0.5) * 2 - 0.5 = 15.5.
    assert_eq!(geometry.to_original(-0.5, -0.5), (15.5, 95.5));
    // Ratio 1.25: 300x400 -> 240x320, crop at (8, 48). The input's centre (111.5, 111.5) is
    // the resized frame's centre (119.5, 159.5), and (120 * 1.25 - 0.5, 160 * 1.25 - 0.5) =
    // (149.5, 199.5) is the original's centre ((300 - 1) / 2, (400 - 1) / 2).
    let geometry = FrameGeometry {
        original: [300, 400],
        ..geometry
    };
    assert_eq!(geometry.to_original(111.5, 111.5), (149.5, 199.5));
}

#[test]
fn identity_geometry_changes_nothing() {
    let geometry = FrameGeometry::identity([224, 224]);
    assert_eq!(geometry.to_original(3.25, 100.5), (3.25, 100.5));
    assert_eq!(geometry.to_original(0.0, 223.0), (0.0, 223.0));
}

// ---- PRE-6: back to an image for drawing ----

#[test]
fn deprocess_inverts_preprocess() {
    let image = pattern_image(240, 320);
    let crop = image::imageops::crop_imm(&image, 48, 8, 224, 224).to_image();
    for input in [demo_input(), torch_input()] {
        let (x, _) = preprocess_frame(&image, &input).unwrap();
        assert_eq!(deprocess_frame(&x, &input), crop, "{input:?}");
    }
}

#[test]
fn one_channel_model_takes_the_luminance() {
    let input = InputSpec {
        channels: 1,
        height: 2,
        width: 2,
        resize: None,
        scale: 1.0,
        channel_order: ChannelOrder::Rgb,
        mean: vec![0.0],
        std: vec![1.0],
    };
    // Pure red, green, blue: their Rec. 709 weights. Gray 200: exactly 200 / 255.
    let image =
        RgbImage::from_raw(2, 2, vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 200, 200]).unwrap();
    let (x, _) = preprocess_frame(&image, &input).unwrap();
    assert_eq!(
        x,
        vec![0.2126f32, 0.7152, 0.0722, (200.0f64 / 255.0) as f32]
    );
    // Drawn gray: round(255 * 0.2126) = 54, 182, 18, and the gray pixel unchanged.
    let drawn = deprocess_frame(&x, &input);
    let gray: Vec<u8> = drawn.pixels().map(|p| p[0]).collect();
    assert_eq!(gray, vec![54, 182, 18, 200]);
    assert!(drawn.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
}

#[test]
fn deprocess_clamps() {
    let input = InputSpec {
        channels: 3,
        height: 1,
        width: 1,
        resize: None,
        ..demo_input()
    };
    // B far below 0, G far above 255, R NaN (drawn 0).
    let drawn = deprocess_frame(&[-1000.0, 1000.0, f32::NAN], &input);
    assert_eq!(drawn.get_pixel(0, 0), &Rgb([0, 255, 0]));
}

// ---- errors ----

#[test]
fn error_path_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing");
    let message = error_message(load_clip(&path, &demo_input()));
    assert_mentions(&message, &[&path.display().to_string(), "does not exist"]);
}

#[test]
fn error_directory_without_frames() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("readme.txt"), "x").unwrap();
    fs::write(dir.path().join("frame.gif"), "x").unwrap();
    fs::create_dir(dir.path().join("frames.jpg")).unwrap();
    let message = error_message(load_clip(dir.path(), &demo_input()));
    assert_mentions(
        &message,
        &[
            &dir.path().display().to_string(),
            "no frames",
            ".jpg, .jpeg or .png",
        ],
    );
}

#[test]
fn error_corrupt_image() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("000.png");
    let bad = dir.path().join("001.png");
    fs::copy(fixture_png("rgb_240x320"), &good).unwrap();
    fs::write(&bad, b"\x89PNG\r\n\x1a\n truncated").unwrap();
    let message = error_message(load_clip(dir.path(), &demo_input()));
    assert_mentions(
        &message,
        &[&bad.display().to_string(), "cannot decode the image"],
    );

    // A JPEG cut short.
    let jpeg_dir = tempfile::tempdir().unwrap();
    let cut = jpeg_dir.path().join("frame.jpg");
    fs::write(&cut, [0xFF, 0xD8, 0xFF, 0xE0, 0x00]).unwrap();
    let message = error_message(load_clip(jpeg_dir.path(), &demo_input()));
    assert_mentions(
        &message,
        &[&cut.display().to_string(), "cannot decode the image"],
    );
}

#[test]
fn error_frames_of_different_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("a.png");
    let other = dir.path().join("b.png");
    fs::copy(fixture_png("gray_240x320"), &first).unwrap();
    pattern_image(100, 80).save(&other).unwrap();
    let message = error_message(load_clip(dir.path(), &demo_input()));
    assert_mentions(
        &message,
        &[
            &first.display().to_string(),
            &other.display().to_string(),
            "100x80",
            "240x320",
            "same size",
        ],
    );
}

#[test]
fn error_frame_smaller_than_the_crop_without_resize() {
    let dir = tempfile::tempdir().unwrap();
    let frame = dir.path().join("f.png");
    pattern_image(100, 300).save(&frame).unwrap();
    let input = InputSpec {
        resize: None,
        ..demo_input()
    };
    let message = error_message(load_clip(dir.path(), &input));
    assert_mentions(
        &message,
        &[
            &frame.display().to_string(),
            "100x300",
            "224x224",
            "no resize",
        ],
    );
    // With the demo's resize the same frame is resized to 240x320 and accepted.
    let clip = load_clip(dir.path(), &demo_input()).unwrap();
    assert_eq!(clip.geometry.resized, [240, 320]);
    assert_eq!(clip.geometry.original, [100, 300]);
}

#[test]
fn error_empty_image() {
    let empty = RgbImage::new(0, 0);
    for input in [
        demo_input(),
        InputSpec {
            resize: None,
            ..demo_input()
        },
    ] {
        let message = preprocess_frame(&empty, &input).unwrap_err();
        assert_mentions(&message, &["empty", "0x0"]);
    }
    let message = preprocess_frame(&RgbImage::new(5, 0), &demo_input()).unwrap_err();
    assert_mentions(&message, &["empty", "0x5"]);
}

fn write_clip(dir: &Path, shape: Vec<usize>) -> PathBuf {
    let path = dir.join("clip.npy");
    let len = shape.iter().product();
    write_npy(&path, &Tensor::new(shape, vec![0.5; len])).unwrap();
    path
}

#[test]
fn error_npy_of_the_wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    for shape in [vec![2, 3, 10, 10], vec![3, 224, 224], vec![2, 1, 224, 224]] {
        let path = write_clip(dir.path(), shape.clone());
        let message = error_message(load_clip(&path, &demo_input()));
        let found = format!("{shape:?}");
        assert_mentions(
            &message,
            &[
                &path.display().to_string(),
                &found,
                "expected [T, 3, 224, 224]",
            ],
        );
    }
}

#[test]
fn error_npy_without_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_clip(dir.path(), vec![0, 3, 224, 224]);
    let message = error_message(load_clip(&path, &demo_input()));
    assert_mentions(
        &message,
        &[&path.display().to_string(), "no frames", "[0, 3, 224, 224]"],
    );
}

#[test]
fn error_npy_with_a_non_finite_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.npy");
    let mut data = vec![0.0f32; 3 * 2 * 2];
    data[5] = f32::INFINITY;
    write_npy(&path, &Tensor::new(vec![1, 3, 2, 2], data)).unwrap();
    let input = InputSpec {
        height: 2,
        width: 2,
        ..demo_input()
    };
    let message = error_message(load_clip(&path, &input));
    assert_mentions(
        &message,
        &[&path.display().to_string(), "index 5", "not finite"],
    );
}

#[test]
fn error_npy_corrupt_or_huge_header() {
    let dir = tempfile::tempdir().unwrap();
    // A header that promises a huge clip, with no data after it: refused, no allocation.
    let path = dir.path().join("huge.npy");
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 3, 224, 224), }";
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    fs::write(&path, &bytes).unwrap();
    let message = error_message(load_clip(&path, &demo_input()));
    assert_mentions(&message, &[&path.display().to_string(), "truncated"]);

    let path = dir.path().join("garbage.NPY");
    fs::write(&path, "not numpy").unwrap();
    let message = error_message(load_clip(&path, &demo_input()));
    assert_mentions(
        &message,
        &[&path.display().to_string(), "not a valid .npy file"],
    );
}

#[test]
fn error_neither_directory_nor_npy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.png");
    fs::copy(fixture_png("rgb_240x320"), &path).unwrap();
    let message = error_message(load_clip(&path, &demo_input()));
    assert_mentions(
        &message,
        &[&path.display().to_string(), "neither a directory", ".npy"],
    );
}
