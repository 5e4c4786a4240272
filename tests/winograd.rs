//! The Winograd path (src/layers/winograd.rs, spec/layers/winograd.md) against the direct
//! path, its reference: VGG16-shaped layers with random He weights, every Caffe convolution
//! fixture, both tiny nets with every method, a layer with all-zero windows, and the same
//! bytes for any thread count.
//!
//! The bound (spec/layers/winograd.md, "Error analysis"): forward blobs, EB maps and gradient
//! maps within 1e-4 of the direct path's, relative to the direct result's largest magnitude.
//! Run with `-- --nocapture` to see every error.

mod common;

use std::path::Path;
use std::process::Command;

use common::{assert_close, caffe_case, caffe_net, load, ONE_LAYER};
use ebr::grounding::{ground, Method, Normalization, Options, Prior};
use ebr::layers::conv::F4_MIN_SIDE;
use ebr::layers::{winograd, Conv, ConvAlgorithm, ConvGeometry};
use ebr::model::Model;
use ebr::model::{forward_clip, Execution};
use ebr::rng::Rng;

/// The bound: 1e-4 of the largest magnitude. The per-layer errors measured are
/// ~1e-6 (F(2x2)); the margin covers the nets' ten-odd layers and EB's divisions.
const BOUND: f32 = 1e-4;

fn no_progress(_: usize) {}

/// The same layer twice: the direct path and Winograd forced.
fn pair(conv: Conv) -> (Conv, Conv) {
    let mut direct = conv.clone();
    direct.algorithm = ConvAlgorithm::Direct;
    let mut wino = conv;
    wino.algorithm = ConvAlgorithm::Winograd;
    (direct, wino)
}

/// Forward, EB and gradient of both paths on `x` (n frames), each within `bound` of the
/// direct path (relative to the direct result's largest magnitude).
fn assert_paths_agree(name: &str, conv: Conv, x: &[f32], p_top: &[f32], n: usize, bound: f32) {
    let (direct, wino) = pair(conv);
    let g = direct.geometry;
    let (mut want, mut got) = (vec![0.0; n * g.out_len()], vec![f32::NAN; n * g.out_len()]);
    direct.forward(&mut want, x, n);
    wino.forward(&mut got, x, n);
    assert_close(&format!("{name} forward"), &got, &want, bound);
    let (mut want, mut got) = (vec![0.0; n * g.in_len()], vec![f32::NAN; n * g.in_len()]);
    direct.eb_backward(&mut want, x, p_top, n);
    wino.eb_backward(&mut got, x, p_top, n);
    assert_close(&format!("{name} eb"), &got, &want, bound);
    direct.grad_backward(&mut want, p_top, n);
    wino.grad_backward(&mut got, p_top, n);
    assert_close(&format!("{name} grad"), &got, &want, bound);
}

/// VGG16's convolutions (channels as in VGG16, 3x3, stride 1, pad 1) at small planes (F(2x2))
/// and two at 28 px (F(4x4)), with random He weights and biases, a post-ReLU normal input (the
/// image layer: a signed one at the image's scale) and a uniform top signal, 2 frames.
#[test]
fn vgg16_shaped_layers_agree_with_the_direct_path() {
    let mut rng = Rng::new(21);
    for (name, c, size, o) in [
        ("conv1_1", 3, 14, 64),
        ("conv1_2", 64, 14, 64),
        ("conv2_1", 64, 10, 128),
        ("conv3_1", 128, 9, 256),
        ("conv4_1", 256, 7, 512),
        ("conv4_2", 512, 7, 512),
        ("conv5_1", 512, 5, 512),
        ("conv2_1 at 28 px", 64, 28, 128),
        ("conv4_1 at 28 px", 256, 28, 512),
    ] {
        let g = ConvGeometry::new(c, size, size, o, 3, 1, 1).unwrap();
        let he = (2.0 / g.patch_len() as f64).sqrt();
        let w = (0..o * g.patch_len())
            .map(|_| (rng.normal() * he) as f32)
            .collect();
        let b = Some((0..o).map(|_| (rng.normal() * 0.1) as f32).collect());
        let x: Vec<f32> = (0..2 * g.in_len())
            .map(|_| {
                let v = rng.normal() as f32;
                if c == 3 {
                    v * 60.0
                } else {
                    v.max(0.0)
                }
            })
            .collect();
        let p_top: Vec<f32> = (0..2 * g.out_len()).map(|_| rng.uniform() as f32).collect();
        let conv = Conv::new(g, w, b);
        let mut wino = conv.clone();
        wino.algorithm = ConvAlgorithm::Winograd;
        let want = if size >= F4_MIN_SIDE {
            winograd::Tile::F4
        } else {
            winograd::Tile::F2
        };
        assert_eq!(wino.winograd_tile(), Some(want), "{name}");
        assert_paths_agree(name, conv, &x, &p_top, 2, BOUND);
    }
}

/// A layer whose input has all-zero windows (a band of rows zero in every channel, and a
/// frame zero but for a few values): the maps agree within the bound, and are exactly 0
/// wherever the input is 0 (the zero guard, WINO-7, WINO-8); at 12 px (F(2x2)) and 28 px
/// (F(4x4)).
#[test]
fn all_zero_windows_keep_the_zero_guard() {
    for (size, tile) in [(12, winograd::Tile::F2), (28, winograd::Tile::F4)] {
        zero_windows_keep_the_zero_guard(size, tile);
    }
}

fn zero_windows_keep_the_zero_guard(size: usize, tile: winograd::Tile) {
    let mut rng = Rng::new(5);
    let g = ConvGeometry::new(64, size, size, 32, 3, 1, 1).unwrap();
    let w: Vec<f32> = (0..32 * g.patch_len())
        .map(|_| (rng.normal() * 0.06) as f32)
        .collect();
    let mut x: Vec<f32> = (0..2 * g.in_len())
        .map(|_| (rng.normal() as f32).max(0.0))
        .collect();
    for c in 0..64 {
        for v in &mut x[(c * size + 4) * size..(c * size + 9) * size] {
            *v = 0.0; // rows 4..9 of frame 0: rows 5..8 of the output see only zeros
        }
    }
    let frame1 = &mut x[g.in_len()..];
    frame1.fill(0.0);
    for (c, i, j) in [(0, 2, 3), (7, 9, 9), (40, 9, 10)] {
        frame1[(c * size + i) * size + j] = 1.5;
    }
    let p_top: Vec<f32> = (0..2 * g.out_len()).map(|_| rng.uniform() as f32).collect();
    let (direct, wino) = pair(Conv::new(g, w, None));
    let (mut want, mut got) = (vec![0.0; 2 * g.in_len()], vec![f32::NAN; 2 * g.in_len()]);
    direct.eb_backward(&mut want, &x, &p_top, 2);
    wino.eb_backward(&mut got, &x, &p_top, 2);
    assert_close("zero windows eb", &got, &want, BOUND);
    // Both rules ran: zero windows (WINO-7) and outputs computed directly (WINO-8).
    let mut again = vec![f32::NAN; 2 * g.in_len()];
    assert_eq!(wino.winograd_tile(), Some(tile), "{size} px");
    let counts = winograd::eb_backward(tile, &g, &wino.w_plus, &mut again, &x, &p_top, 2);
    assert!(counts.zero_windows > 0 && counts.direct > 0, "{counts:?}");
    assert!(again == got, "the same call gives the same bytes");
    for (k, (&a, &b)) in got.iter().zip(&want).enumerate() {
        if x[k] == 0.0 {
            assert_eq!((a, b), (0.0, 0.0), "input {k} is 0: no signal");
        }
    }
    // The sparse frame: what each path conserves (the signal of the outputs with z != 0).
    let (sum_got, sum_want): (f32, f32) = (
        got[g.in_len()..].iter().sum(),
        want[g.in_len()..].iter().sum(),
    );
    assert!(
        (sum_got - sum_want).abs() <= 1e-5 * sum_want,
        "{sum_got} vs {sum_want}"
    );
}

/// Every convolution case of fixtures/caffe with Winograd forced: against the direct path
/// within the bound, and against Caffe's blobs within the single-layer tolerance the direct
/// path meets (tests/caffe_layers.rs). The cases that are not 3x3 stride 1 fall back to the
/// direct path.
#[test]
fn caffe_convolution_cases_agree() {
    for (case, stride, pad) in [
        ("conv_k1s1p0_nobias", 1, 0),
        ("conv_k3s1p1", 1, 1),
        ("conv_k3s1p1_signed", 1, 1),
        ("conv_k3s2p0_odd", 2, 0),
        ("conv_k5s2p2", 2, 2),
    ] {
        let x = load(case, "input");
        let w = load(case, "weight");
        let b = caffe_case(case)
            .join("bias.npy")
            .exists()
            .then(|| load(case, "bias").data);
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let g = ConvGeometry::new(c, h, wd, w.shape[0], w.shape[2], stride, pad).unwrap();
        let conv = Conv::new(g, w.data, b);
        let p_top = load(case, "top_signal");
        assert_paths_agree(case, conv.clone(), &x.data, &p_top.data, n, BOUND);
        let (_, wino) = pair(conv);
        let mut y = vec![f32::NAN; n * g.out_len()];
        wino.forward(&mut y, &x.data, n);
        assert_close(
            &format!("{case} forward vs Caffe"),
            &y,
            &load(case, "output").data,
            ONE_LAYER,
        );
        let mut p = vec![f32::NAN; n * g.in_len()];
        wino.eb_backward(&mut p, &x.data, &p_top.data, n);
        assert_close(
            &format!("{case} eb vs Caffe"),
            &p,
            &load(case, "eb_bottom").data,
            ONE_LAYER,
        );
        wino.grad_backward(&mut p, &p_top.data, n);
        assert_close(
            &format!("{case} grad vs Caffe"),
            &p,
            &load(case, "grad_bottom").data,
            ONE_LAYER,
        );
    }
}

/// Both tiny nets of fixtures/caffe, Winograd forced on every 3x3 layer against the direct
/// path: the frame blobs, and every method's maps at every convolution.
#[test]
fn caffe_nets_agree_for_every_method_and_layer() {
    for case in ["tiny_cnn_lstm", "tiny_cnn_meanpool"] {
        let mut direct = Model::load(&caffe_net(case)).unwrap();
        direct.set_conv_algorithm(ConvAlgorithm::Direct);
        let mut wino = direct.clone();
        wino.set_conv_algorithm(ConvAlgorithm::Winograd);
        let clip = load(case, "input");
        let frames = clip.shape[0];
        let want = direct.frame.forward(&clip.data, frames);
        let got = wino.frame.forward(&clip.data, frames);
        for (b, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_close(&format!("{case} blob {b}"), g, w, BOUND);
        }
        let exec = Execution::default();
        let fwd_d = forward_clip(&direct, &clip.data, frames, &exec, Some(0), &no_progress);
        let fwd_w = forward_clip(&wino, &clip.data, frames, &exec, Some(0), &no_progress);
        for method in Method::ALL {
            if method.per_frame() && direct.frame_classifier.is_none() {
                continue;
            }
            for layer in ["conv1", "conv2", "conv3", "data"] {
                let options = Options {
                    method,
                    class: 3,
                    layer: layer.to_string(),
                    prior: Prior::Last,
                    normalization: Normalization::Paper,
                    lstm_rule: ebr::layers::LstmEbRule::Original,
                };
                let w = ground(&direct, &fwd_d, &options, &no_progress).unwrap();
                let g = ground(&wino, &fwd_w, &options, &no_progress).unwrap();
                let name = format!("{case} {} {layer}", method.name());
                assert_close(
                    &format!("{name} signal"),
                    &g.layer_signal,
                    &w.layer_signal,
                    BOUND,
                );
                assert_close(&format!("{name} maps"), &g.maps, &w.maps, BOUND);
            }
        }
    }
}

/// `ebr ground --conv winograd` writes the same bytes with one thread and with two, kept or
/// recomputed activations (tests/determinism.rs's check, Winograd forced).
#[test]
fn winograd_maps_are_bit_identical_for_any_thread_count() {
    let root = tempfile::tempdir().unwrap();
    let model = caffe_net("tiny_cnn_lstm");
    let clip = caffe_case("tiny_cnn_lstm").join("input.npy");
    let run = |k: usize, extra: &[&str]| -> Vec<u8> {
        let out = root.path().join(format!("run{k}"));
        let output = Command::new(env!("CARGO_BIN_EXE_ebr"))
            .args(["ground", "--model"])
            .arg(&model)
            .arg("--clip")
            .arg(&clip)
            .arg("--out")
            .arg(&out)
            .args([
                "--target",
                "3",
                "--layer",
                "data",
                "--quiet",
                "--no-overlays",
            ])
            .args(["--conv", "winograd"])
            .args(extra)
            .output()
            .expect("the ebr binary runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(Path::new(&out).join("maps.npy")).unwrap()
    };
    let first = run(0, &["--threads", "1"]);
    assert!(first == run(1, &["--threads", "2"]), "--threads 2 differs");
    assert!(
        first == run(2, &["--threads", "2", "--activations", "recompute"]),
        "--activations recompute differs"
    );
}
