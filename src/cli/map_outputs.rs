//! What every grounding subcommand writes about its maps: maps.npy, timeline.svg,
//! frames/NNNN.png, overlay.gif and sheet.png, summary.json (the command's own entries, then
//! the per-frame sums, peak points and the segment), and its report on stdout; `ebr ground`
//! and `ebr ground-caption` share it (`write_grounding`). spec/localize.md, spec/render.md

use clap::Args;
use serde_json::{json, Value};

use ebr::clip::{deprocess_frame, Clip, ClipSource};
use ebr::localize::{
    frame_sums, known_length_window, peak_point, temporal_peak, unknown_length_segment,
};
use ebr::model::Model;
use ebr::npy::write_npy;
use ebr::output::{write_atomically, InputPath, OutputDir, SUMMARY};
use ebr::render::gif::write_gif;
use ebr::render::scale::{drawn_size, overlay_at};
use ebr::render::sheet::{draw_sheet, Layout, Sheet};
use ebr::render::timeline::timeline_svg;
use ebr::render::write_png;
use ebr::{Error, Tensor};

use super::output_text::print_line;

/// What a grounding command says of its maps, beside what every grounding writes.
pub struct Report {
    /// The title of the timeline: what was grounded, with which method, at which layer.
    pub title: String,
    /// The command's own entries of summary.json (a JSON object).
    pub summary: Value,
    /// The first line on stdout (the prediction, or the caption).
    pub headline: String,
    /// What was grounded, for the second line ("square_up", "\"triangle\"").
    pub subject: String,
    /// The method's name and the map layer, for the second line.
    pub method: &'static str,
    pub layer: String,
}

/// The inputs of a grounding command, which its --out must not touch (spec/outputs.md, OUT-4).
pub fn input_paths(input: &super::Input) -> Vec<InputPath> {
    vec![
        InputPath::new("the model directory (--model)", &input.model),
        InputPath::new("the clip (--clip)", &input.clip),
    ]
}

/// Writes a grounding's outputs into `out` (maps.npy, timeline.svg, with `overlays` the frames
/// and the GIF, sheet.png as `drawing` says, then summary.json), commits the directory and
/// prints the report unless `quiet`. `length` is the known length of the action, if given.
#[allow(clippy::too_many_arguments)]
pub fn write_grounding(
    out: OutputDir,
    model: &Model,
    clip: &Clip,
    clip_path: &std::path::Path,
    maps: &[f32],
    layer_shape: [usize; 3],
    length: Option<usize>,
    overlays: bool,
    drawing: &DrawingArgs,
    quiet: bool,
    report: Report,
) -> Result<(), Error> {
    let localized = write_maps(
        &out,
        model,
        clip,
        maps,
        layer_shape,
        &report.title,
        length,
        overlays,
        drawing,
    )?;
    let [_, h, w] = layer_shape;
    let mut summary = json!({
        "ebr_version": env!("CARGO_PKG_VERSION"),
        "model": {"dir": model.dir.display().to_string(), "name": model.name},
        "clip": clip_json(model, clip, clip_path),
        "method": report.method,
        "layer": report.layer,
        "map_size": [h, w],
    });
    let own = report.summary.as_object().into_iter().flatten();
    let located = localization_json(&localized);
    for (key, value) in own.chain(located.as_object().into_iter().flatten()) {
        summary[key] = value.clone();
    }
    summary["frames"] = json!(frames_json(model, clip, maps, layer_shape, &localized.sums));
    out.write_json(SUMMARY, &summary)?;
    let written = out.commit()?;
    if !quiet {
        print_line(format_args!("{}", report.headline));
        print_line(format_args!(
            "{} of {} at {}: segment frames {}..={} (peak {}, sum {:.4}); {}",
            report.method,
            report.subject,
            report.layer,
            localized.segment.0,
            localized.segment.1,
            localized.peak,
            localized.sums[localized.peak],
            written.display()
        ));
    }
    Ok(())
}

/// The demo's video rate (moviepy at 12 fps): the delay between GIF frames.
const GIF_DELAY_MS: u32 = 83;

/// How the maps are drawn: the overlays' size and the contact sheet. spec/render.md (REN-6,
/// REN-7)
#[derive(Args, Debug)]
pub struct DrawingArgs {
    /// The shorter side of frames/*.png and overlay.gif in pixels (default: the frame's own
    /// size, enlarged by a whole factor to at least 160).
    #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..=4096))]
    overlay_size: Option<u32>,
    /// Columns of sheet.png's grid of frames (default: ceil(sqrt(T))).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    sheet_columns: Option<u32>,
    /// Do not write sheet.png (every frame's overlay, the segment, the sums, the colour bar).
    #[arg(long)]
    no_sheet: bool,
}

impl DrawingArgs {
    /// An error if sheet.png would be too large for `clip`: said before the long work starts.
    pub fn check(&self, model: &Model, clip: &Clip) -> Result<(), Error> {
        if self.no_sheet {
            return Ok(());
        }
        let [_, height, width] = model.frame.input_shape();
        let columns = self.sheet_columns.map(|n| n as usize);
        Layout::new(clip.frames, columns, height as u32, width as u32).check_size()
    }
}

/// The localization of a clip's maps (spec/localize.md, LOC-1..LOC-4).
struct Localized {
    pub sums: Vec<f32>,
    pub peak: usize,
    pub segment: (usize, usize),
    pub window: Option<(usize, usize)>,
}

/// Writes maps.npy, timeline.svg, (with `overlays`) frames/NNNN.png and overlay.gif, and
/// (unless --no-sheet) sheet.png for `maps` (T, h, w) of a layer of shape `layer_shape`;
/// `length` is the known length of the action, if given.
#[allow(clippy::too_many_arguments)]
fn write_maps(
    out: &OutputDir,
    model: &Model,
    clip: &Clip,
    maps: &[f32],
    layer_shape: [usize; 3],
    title: &str,
    length: Option<usize>,
    overlays: bool,
    drawing: &DrawingArgs,
) -> Result<Localized, Error> {
    let [_, h, w] = layer_shape;
    let t_n = clip.frames;
    let sums = frame_sums(maps, t_n);
    let peak = temporal_peak(&sums);
    let segment = unknown_length_segment(&sums);
    let window = length.and_then(|l| known_length_window(&sums, l));
    write_npy(
        &out.path("maps.npy")?,
        &Tensor::new(vec![t_n, h, w], maps.to_vec()),
    )?;
    write_atomically(
        &out.path("timeline.svg")?,
        timeline_svg(&sums, Some(segment), Some(peak), title).as_bytes(),
    )?;
    let [c, height, width] = model.frame.input_shape();
    let images: Vec<_> = (0..t_n)
        .map(|t| {
            deprocess_frame(
                &clip.data[t * c * height * width..][..c * height * width],
                &model.input,
            )
        })
        .collect();
    if overlays {
        let size = drawn_size(height as u32, width as u32, drawing.overlay_size);
        let mut drawn = Vec::with_capacity(t_n);
        for (t, image) in images.iter().enumerate() {
            let picture = overlay_at(image, &maps[t * h * w..(t + 1) * h * w], h, w, size);
            write_png(&out.path(&format!("frames/{t:04}.png"))?, &picture)?;
            drawn.push(picture);
        }
        write_gif(&out.path("overlay.gif")?, &drawn, GIF_DELAY_MS)?;
    }
    if !drawing.no_sheet {
        let sheet = Sheet {
            frames: &images,
            maps,
            map_h: h,
            map_w: w,
            sums: &sums,
            segment,
            peak,
            title,
            columns: drawing.sheet_columns.map(|n| n as usize),
        };
        write_png(&out.path("sheet.png")?, &draw_sheet(&sheet)?)?;
    }
    Ok(Localized {
        sums,
        peak,
        segment,
        window,
    })
}

/// The clip's entry of summary.json.
fn clip_json(model: &Model, clip: &Clip, path: &std::path::Path) -> Value {
    let [_, height, width] = model.frame.input_shape();
    let kind = match clip.source {
        ClipSource::Frames { .. } => "frames",
        ClipSource::Npy { .. } => "npy",
    };
    json!({"path": path.display().to_string(), "kind": kind, "frames": clip.frames,
           "original_size": clip.geometry.original, "input_size": [height, width]})
}

/// The per-frame entries of summary.json: the frame's source file, its map's sum and peak
/// point in the model's input frame and in the original frame.
fn frames_json(
    model: &Model,
    clip: &Clip,
    maps: &[f32],
    layer_shape: [usize; 3],
    sums: &[f32],
) -> Vec<Value> {
    let [_, height, width] = model.frame.input_shape();
    let [_, h, w] = layer_shape;
    (0..clip.frames)
        .map(|t| {
            let source = match &clip.source {
                ClipSource::Frames { paths } => json!(paths[t].display().to_string()),
                ClipSource::Npy { .. } => Value::Null,
            };
            let (row, col) = peak_point(&maps[t * h * w..(t + 1) * h * w], h, w, height, width);
            let (orig_row, orig_col) = clip.geometry.to_original(row as f32, col as f32);
            json!({
                "frame": t,
                "source": source,
                "sum": sums[t],
                "peak": {"row": row, "col": col},
                "peak_in_original": {"row": orig_row, "col": orig_col},
            })
        })
        .collect()
}

/// The localization's entries of summary.json.
fn localization_json(l: &Localized) -> Value {
    json!({
        "segment": {"start": l.segment.0, "end": l.segment.1, "rule": "anchor = peak sum; grow while the next frame's sum >= 0"},
        "window": l.window.map(|(s, e)| json!({"start": s, "end": e, "length": e - s + 1})),
        "temporal_peak": l.peak,
    })
}
