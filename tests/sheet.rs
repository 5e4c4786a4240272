//! sheet.png and the overlays' size (spec/render.md REN-6..REN-9): the sheet's pixel size from
//! the layout's rule, every frame in its cell, the segment's border, the bars' signs, the
//! colour bar's ends, and through the binary: sheet.png written (or not with --no-sheet),
//! --sheet-columns, --overlay-size on frames/*.png and overlay.gif.

use std::path::Path;
use std::process::{Command, Output};

use ebr::npy::write_npy;
use ebr::render::sheet::{
    draw_sheet, Layout, Sheet, BAR, BORDER, FRAME, SEGMENT, SEGMENT_BAND, TEXT,
};
use ebr::Tensor;
use image::{Rgb, RgbImage};

/// A sheet of uniform frames of `size` x `size`, colour (40 t, 100, 250 - 30 t), maps of
/// (2, 2) from `maps`.
fn synthetic<'a>(
    frames: &'a [RgbImage],
    maps: &'a [f32],
    sums: &'a [f32],
    segment: (usize, usize),
    columns: Option<usize>,
) -> Sheet<'a> {
    Sheet {
        frames,
        maps,
        map_h: 2,
        map_w: 2,
        sums,
        segment,
        peak: segment.0,
        title: "cebr of test (0), per-frame sums at conv3",
        columns,
    }
}

fn uniform_frames(t_n: usize, size: u32) -> Vec<RgbImage> {
    (0..t_n)
        .map(|t| RgbImage::from_pixel(size, size, frame_colour(t)))
        .collect()
}

fn frame_colour(t: usize) -> Rgb<u8> {
    Rgb([40 * t as u8, 100, 250 - 30 * t as u8])
}

#[test]
fn sheet_size_follows_the_layout_rule() {
    // REN-7, worked: T = 5 in 2 columns, frames of 32 x 48 drawn at 160 x 240 (REN-6: k = 5).
    // cell 248 wide (240 + 2 * 4), 188 high (20 + 160 + 8); 3 rows.
    // grid_w = 2 * 248 + 16 = 512; grid_h = 3 * 188 + 2 * 16 = 596.
    // width = 24 + 512 = 536.
    // height = 12 + 60 + 16 + 596 + 16 + 161 + 16 + 80 + 12 = 969.
    let layout = Layout::new(5, Some(2), 32, 48);
    assert_eq!((layout.columns, layout.rows), (2, 3));
    assert_eq!(layout.cell_image, (160, 240));
    assert_eq!((layout.width, layout.height), (536, 969));

    // The demo: 16 frames of 64 x 64, ceil(sqrt(16)) = 4 columns of 192 x 192 cells.
    // grid_w = 4 * 200 + 3 * 16 = 848; grid_h = 4 * 220 + 3 * 16 = 928.
    // height = 12 + 60 + 16 + 928 + 16 + 161 + 16 + 80 + 12 = 1301.
    let demo = Layout::new(16, None, 64, 64);
    assert_eq!((demo.columns, demo.rows), (4, 4));
    assert_eq!((demo.width, demo.height), (872, 1301));

    // One large frame: k = 1, the content at its least width 480.
    let one = Layout::new(1, None, 224, 224);
    assert_eq!((one.columns, one.rows, one.cell_image), (1, 1, (224, 224)));
    assert_eq!(one.width, 24 + 480);
    assert_eq!(
        one.height,
        12 + 60 + 16 + (20 + 224 + 8) + 16 + 161 + 16 + 80 + 12
    );

    // More columns than frames: T columns. ceil(sqrt(17)) = 5.
    assert_eq!(Layout::new(3, Some(8), 64, 64).columns, 3);
    assert_eq!(Layout::new(17, None, 64, 64).columns, 5);
    assert_eq!(Layout::new(17, None, 64, 64).rows, 4);

    // The drawn sheet has the layout's size.
    let frames = uniform_frames(5, 8);
    let maps = vec![0.0f32; 5 * 4];
    let sums = vec![0.0f32; 5];
    let image = draw_sheet(&synthetic(&frames, &maps, &sums, (1, 2), Some(2))).unwrap();
    let layout = Layout::new(5, Some(2), 8, 8);
    assert_eq!(image.dimensions(), (layout.width, layout.height));
}

#[test]
fn every_frame_is_drawn_in_its_cell_in_order() {
    // Frame t is uniform in its own colour; its (2, 2) map is hot in quadrant t mod 4 only.
    // At the drawn size 160 (k = 20) the bicubic resize (REN-2) gives the hot corner pixel
    // 1 - W(1.49375) = 1.0632 per axis, m = 1.13 clamped to 1: jet(1) = (0.5, 0, 0) ->
    // (128, 0, 0), opaque. The corner beside it in the same row gets 1.0632 * W(1.49375) < 0,
    // clamped to m = 0: the frame's own colour.
    let t_n = 7;
    let frames = uniform_frames(t_n, 8);
    let mut maps = vec![0.0f32; t_n * 4];
    for t in 0..t_n {
        maps[t * 4 + t % 4] = 1.0;
    }
    let sums = vec![1.0f32; t_n];
    let image = draw_sheet(&synthetic(&frames, &maps, &sums, (0, 0), Some(3))).unwrap();
    let layout = Layout::new(t_n, Some(3), 8, 8);
    for t in 0..t_n {
        let r = layout.image_rect(t);
        assert_eq!((r.w, r.h), (160, 160));
        // the cell's place: row t / 3, column t % 3
        assert_eq!(r.x, 12 + (t as u32 % 3) * (160 + 8 + 16) + 4, "frame {t}");
        assert_eq!(
            r.y,
            12 + 60 + 16 + (t as u32 / 3) * (20 + 160 + 8 + 16) + 20 + 4
        );
        let corners = [
            (r.x, r.y),
            (r.x + r.w - 1, r.y),
            (r.x, r.y + r.h - 1),
            (r.x + r.w - 1, r.y + r.h - 1),
        ];
        let hot = t % 4;
        let cold = hot ^ 1; // the other corner of the same row
        let (hx, hy) = corners[hot];
        let (cx, cy) = corners[cold];
        assert_eq!(
            image.get_pixel(hx, hy).0,
            [128, 0, 0],
            "frame {t}: hot corner"
        );
        assert_eq!(
            *image.get_pixel(cx, cy),
            frame_colour(t),
            "frame {t}: cold corner"
        );
    }
}

#[test]
fn the_segment_is_framed_and_shaded() {
    let t_n = 6;
    let frames = uniform_frames(t_n, 8);
    let maps = vec![0.0f32; t_n * 4];
    let sums = vec![0.0f32; t_n];
    let segment = (2, 4);
    let image = draw_sheet(&synthetic(&frames, &maps, &sums, segment, None)).unwrap();
    let layout = Layout::new(t_n, None, 8, 8);
    for t in 0..t_n {
        let r = layout.image_rect(t);
        let want = if (2..=4).contains(&t) { SEGMENT } else { FRAME };
        // the border's four sides, at mid-length
        for (x, y) in [
            (r.x - BORDER, r.y + r.h / 2),
            (r.x + r.w, r.y + r.h / 2),
            (r.x + r.w / 2, r.y - BORDER),
            (r.x + r.w / 2, r.y + r.h + BORDER - 1),
        ] {
            assert_eq!(*image.get_pixel(x, y), want, "frame {t} at ({x}, {y})");
        }
        // the chart's bin: shaded over the segment (all sums 0: no bars), white elsewhere
        let (bx, bw) = layout.bin(t);
        let band = *image.get_pixel(bx + bw / 2, layout.plot.y + 2);
        let want = if (2..=4).contains(&t) {
            SEGMENT_BAND
        } else {
            Rgb([255, 255, 255])
        };
        assert_eq!(band, want, "frame {t}: the chart's bin");
    }
}

#[test]
fn bars_go_up_for_positive_and_down_for_negative_sums() {
    // REN-8, worked: sums [1, -0.5, 0, 0.25]: hi = 1, lo = -0.5, span 1.5, zero row
    // z = y0 + round(120 / 1.5) = y0 + 80. Bar heights round(120 |S| / 1.5): 80, 40, 0, 20.
    let frames = uniform_frames(4, 8);
    let maps = vec![0.0f32; 16];
    let sums = [1.0f32, -0.5, 0.0, 0.25];
    let image = draw_sheet(&synthetic(&frames, &maps, &sums, (3, 3), None)).unwrap();
    let layout = Layout::new(4, None, 8, 8);
    let y0 = layout.plot.y;
    let z = y0 + 80;
    let column = |t: usize| {
        let (x, w) = layout.bin(t);
        x + w / 2
    };
    let at = |t: usize, y: u32| *image.get_pixel(column(t), y);
    // the zero line
    assert_eq!(at(2, z), TEXT);
    // frame 0: up 80 rows, from y0 to z - 1; nothing under the zero line
    assert_eq!(at(0, y0), BAR);
    assert_eq!(at(0, z - 1), BAR);
    assert_ne!(at(0, z + 1), BAR);
    // frame 1: down 40 rows, z + 1 ..= z + 40
    assert_eq!(at(1, z + 1), BAR);
    assert_eq!(at(1, z + 40), BAR);
    assert_ne!(at(1, z + 41), BAR);
    assert_ne!(at(1, z - 1), BAR);
    // frame 2: no bar
    assert_ne!(at(2, z - 1), BAR);
    assert_ne!(at(2, z + 1), BAR);
    // frame 3 (the segment): up 20 rows over the band
    assert_eq!(at(3, z - 20), BAR);
    assert_eq!(at(3, z - 21), SEGMENT_BAND);
    assert_eq!(at(3, z + 1), SEGMENT_BAND);
}

#[test]
fn the_colour_bar_runs_from_jet_0_to_jet_1() {
    // REN-9: jet(0) = (0, 0, 0.5) and jet(1) = (0.5, 0, 0) (REN-3), 0.5 * 255 rounded: 128.
    let frames = uniform_frames(2, 8);
    let image = draw_sheet(&synthetic(&frames, &[0.0; 8], &[0.0; 2], (0, 1), None)).unwrap();
    let bar = Layout::new(2, None, 8, 8).colour_bar;
    for y in [bar.y, bar.y + bar.h - 1] {
        assert_eq!(image.get_pixel(bar.x, y).0, [0, 0, 128]);
        assert_eq!(image.get_pixel(bar.x + bar.w - 1, y).0, [128, 0, 0]);
    }
    // green in the middle (jet(0.5) = (124, 255, 121) in 8 bits, REN-3)
    assert_eq!(image.get_pixel(bar.x + bar.w / 2, bar.y).0[1], 255);
    // nothing above or below it in its columns
    assert_eq!(image.get_pixel(bar.x + 20, bar.y - 1).0, [255, 255, 255]);
    assert_eq!(
        image.get_pixel(bar.x + 20, bar.y + bar.h).0,
        [255, 255, 255]
    );
}

#[test]
fn characters_outside_the_font_are_drawn_as_question_marks() {
    let frames = uniform_frames(2, 8);
    let maps = [0.0; 8];
    let sums = [0.0; 2];
    let mut sheet = synthetic(&frames, &maps, &sums, (0, 1), None);
    sheet.title = "cebr of \"caf\u{e9}\" \u{1f600}";
    let unicode = draw_sheet(&sheet).unwrap();
    sheet.title = "cebr of \"caf?\" ?";
    assert_eq!(unicode, draw_sheet(&sheet).unwrap());
}

#[test]
fn edge_cases_draw_without_panicking() {
    // no frames
    let image = draw_sheet(&synthetic(&[], &[], &[], (0, 0), None)).unwrap();
    assert!(image.width() > 0 && image.height() > 0);
    // non-finite sums, a segment past the clip, a long title
    let frames = uniform_frames(3, 8);
    let maps = [f32::NAN; 12];
    let sums = [f32::NAN, f32::INFINITY, -1.0];
    let mut sheet = synthetic(&frames, &maps, &sums, (1, 9), None);
    let long = "word ".repeat(200);
    sheet.title = &long;
    draw_sheet(&sheet).unwrap();
}

#[test]
fn a_sheet_too_large_is_an_error() {
    // 4,000 frames of 8 x 8 (drawn 160 x 160) in 64 columns: 11,776 x 13,000 pixels, past
    // 2^27.
    let t_n = 4000;
    let frames = uniform_frames(t_n, 8);
    let maps = vec![0.0f32; t_n * 4];
    let sums = vec![0.0f32; t_n];
    let error = draw_sheet(&synthetic(&frames, &maps, &sums, (0, 0), None)).unwrap_err();
    assert!(error.to_string().contains("--no-sheet"), "{error}");
}

// ---- through the binary ----

fn ebr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebr"))
        .args(args)
        .output()
        .expect("the ebr binary runs")
}

/// Runs `ebr COMMAND` on a demo (fixtures/DEMO: model/ and clip/) into `out`, with `extra`
/// flags.
fn run_demo(command: &str, demo: &str, out: &Path, extra: &[&str]) -> Output {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(demo);
    let (model, clip) = (demo.join("model"), demo.join("clip"));
    let mut args = vec![command, "--model", model.to_str().unwrap()];
    args.extend(["--clip", clip.to_str().unwrap(), "--quiet"]);
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    ebr(&args)
}

/// `ebr ground` of square_up on the demo clip into `out`, with `extra` flags; must succeed.
fn ground_demo(out: &Path, extra: &[&str]) {
    let mut args = vec!["--target", "square_up"];
    args.extend(extra);
    let output = run_demo("ground", "demo", out, &args);
    assert!(
        output.status.success(),
        "ebr ground {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn dimensions(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn ground_writes_the_sheet_and_readable_overlays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    ground_demo(&out, &[]);
    // 16 frames of 64 x 64 -> 4 columns of 192 x 192 (see sheet_size_follows_the_layout_rule)
    assert_eq!(dimensions(&out.join("sheet.png")), (872, 1301));
    // frames/*.png and the GIF at the default size: 64 * 3
    assert_eq!(dimensions(&out.join("frames/0000.png")), (192, 192));
    assert_eq!(dimensions(&out.join("frames/0015.png")), (192, 192));
    assert_eq!(dimensions(&out.join("overlay.gif")), (192, 192));

    // The sheet's cell of frame 13 is frames/0013.png, pixel for pixel.
    let sheet = image::open(out.join("sheet.png")).unwrap().to_rgb8();
    let frame = image::open(out.join("frames/0013.png")).unwrap().to_rgb8();
    let r = Layout::new(16, None, 64, 64).image_rect(13);
    let cell = image::imageops::crop_imm(&sheet, r.x, r.y, r.w, r.h).to_image();
    assert_eq!(cell, frame);
}

#[test]
fn sheet_columns_overlay_size_and_no_sheet() {
    let dir = tempfile::tempdir().unwrap();
    // 8 columns: 2 rows; width 24 + 8 * 200 + 7 * 16 = 1736,
    // height 12 + 60 + 16 + (2 * 220 + 16) + 16 + 161 + 16 + 80 + 12 = 829.
    // --overlay-size 100: frames/*.png and the GIF at 100 x 100, the sheet's cells unchanged.
    let out = dir.path().join("columns");
    ground_demo(&out, &["--sheet-columns", "8", "--overlay-size", "100"]);
    assert_eq!(dimensions(&out.join("sheet.png")), (1736, 829));
    assert_eq!(dimensions(&out.join("frames/0007.png")), (100, 100));
    assert_eq!(dimensions(&out.join("overlay.gif")), (100, 100));

    // --overlay-size 64: the model's own size, the overlay as REN-4 draws it.
    let out = dir.path().join("small");
    ground_demo(&out, &["--overlay-size", "64", "--no-sheet"]);
    assert_eq!(dimensions(&out.join("frames/0000.png")), (64, 64));
    assert!(!out.join("sheet.png").exists());

    // --no-overlays keeps the sheet, writes no frames and no GIF.
    let out = dir.path().join("sheet-only");
    ground_demo(&out, &["--no-overlays"]);
    assert!(out.join("sheet.png").exists());
    assert!(!out.join("frames").exists() && !out.join("overlay.gif").exists());

    // out-of-range values are usage errors (exit 2), nothing written
    for bad in [
        ["--sheet-columns", "0"],
        ["--overlay-size", "0"],
        ["--overlay-size", "5000"],
    ] {
        let out = dir.path().join("bad");
        let output = run_demo(
            "ground",
            "demo",
            &out,
            &["--target", "square_up", bad[0], bad[1]],
        );
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        assert!(!out.exists(), "{bad:?}");
    }
}

#[test]
fn ground_caption_writes_the_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = run_demo(
        "ground-caption",
        "demo-caption",
        &out,
        &["--word", "square"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // 16 frames of 64 x 64, as the action demo: the same layout.
    assert_eq!(dimensions(&out.join("sheet.png")), (872, 1301));
    assert_eq!(dimensions(&out.join("frames/0000.png")), (192, 192));
}

#[test]
fn a_sheet_too_large_is_refused_before_the_work() {
    // The Caffe fixture's net takes 32 x 32 frames (drawn 160 x 160). In one column a row
    // takes 20 + 168 + 16 = 204 pixels and the sheet is 504 wide: 1,400 frames make about
    // 504 x 286,000 pixels, past 2^27. Refused with one line, before the grounding, and
    // nothing written.
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("long.npy");
    let t_n = 1400;
    write_npy(
        &clip,
        &Tensor::new(vec![t_n, 3, 32, 32], vec![0.0; t_n * 3 * 32 * 32]),
    )
    .unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/caffe-nets/tiny_cnn_lstm");
    let out = dir.path().join("out");
    let output = ebr(&[
        "ground",
        "--model",
        model.to_str().unwrap(),
        "--clip",
        clip.to_str().unwrap(),
        "--target",
        "3",
        "--sheet-columns",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("ebr: ") && stderr.contains("--no-sheet"),
        "{stderr}"
    );
    assert!(!out.exists());
}
