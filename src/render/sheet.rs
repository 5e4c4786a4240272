//! The contact sheet of a grounding, sheet.png: every frame's overlay in a grid with its
//! number, the detected segment framed, the per-frame sums as a signed bar chart under the
//! grid, the colour bar of the overlays, the class and the method in a title line.
//! spec/render.md (REN-7, REN-8, REN-9)

use image::{Rgb, RgbImage};

use super::colormap::jet_unit;
use super::font::{draw_text, fill_rect, text_width, GLYPH_HEIGHT};
use super::scale::{drawn_size, overlay_at};
use crate::Error;

/// The outer margin, the gap between cells, the gap between the sheet's blocks, the width of
/// the frame's border (the segment's colour), in pixels.
pub const MARGIN: u32 = 12;
pub const CELL_GAP: u32 = 16;
pub const BLOCK_GAP: u32 = 16;
pub const BORDER: u32 = 4;
/// Text is drawn at this scale (a font pixel is 2 x 2) and falls back to 1 where it does not
/// fit; a line of text takes LINE pixels.
pub const TEXT_SCALE: u32 = 2;
pub const LINE: u32 = GLYPH_HEIGHT * TEXT_SCALE + 4;
/// The bar chart's plot height, the width kept for its value labels, the colour bar's height.
pub const PLOT_HEIGHT: u32 = 120;
pub const AXIS_WIDTH: u32 = 112;
pub const COLOUR_BAR_HEIGHT: u32 = 16;
/// The least width of the blocks under the grid, so that a short clip still gets a readable
/// chart and colour bar.
pub const MIN_CONTENT_WIDTH: u32 = 480;
/// The largest sheet drawn, in pixels (about 400 MB in memory): a longer clip needs
/// --no-sheet.
pub const MAX_PIXELS: u64 = 1 << 27;

/// The colours: white paper, dark text, the segment's magenta (not a colour of 'jet', so it
/// stands out from the overlays), a light grey frame for the other frames, the bars' blue and
/// the segment's band behind them.
pub const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
pub const TEXT: Rgb<u8> = Rgb([30, 30, 30]);
pub const SEGMENT: Rgb<u8> = Rgb([214, 0, 214]);
pub const FRAME: Rgb<u8> = Rgb([210, 210, 210]);
pub const BAR: Rgb<u8> = Rgb([31, 119, 180]);
pub const SEGMENT_BAND: Rgb<u8> = Rgb([250, 218, 250]);

/// What a sheet shows: the model's input frames (T of them, as drawn by `deprocess_frame`),
/// their maps (T, map_h, map_w), the per-frame sums (LOC-1), the segment (first, last frame,
/// inclusive), the temporal peak and the title (class and method).
pub struct Sheet<'a> {
    pub frames: &'a [RgbImage],
    pub maps: &'a [f32],
    pub map_h: usize,
    pub map_w: usize,
    pub sums: &'a [f32],
    pub segment: (usize, usize),
    pub peak: usize,
    pub title: &'a str,
    /// Columns of the grid; None: ceil(sqrt(T)).
    pub columns: Option<usize>,
}

/// A rectangle of the sheet, in pixels: top-left corner and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Where everything goes on a sheet. spec/render.md (REN-7)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub frames: usize,
    pub columns: usize,
    pub rows: usize,
    /// A frame's drawn size (height, width): REN-6's default.
    pub cell_image: (u32, u32),
    pub width: u32,
    pub height: u32,
    /// The bar chart's plot area (the value range from its top row to its bottom row).
    pub plot: Rect,
    /// The colour bar.
    pub colour_bar: Rect,
    content_w: u32,
    grid_top: u32,
    chart_top: u32,
    legend_top: u32,
}

impl Layout {
    /// The layout of a sheet of `frames` frames of `frame_h` x `frame_w` pixels (the model's
    /// input) in `columns` columns (None: ceil(sqrt(T)); more than T: T).
    /// spec/render.md (REN-7)
    pub fn new(frames: usize, columns: Option<usize>, frame_h: u32, frame_w: u32) -> Layout {
        let columns = columns
            .unwrap_or_else(|| ceil_sqrt(frames))
            .min(frames)
            .max(1);
        let rows = frames.div_ceil(columns);
        let (fh, fw) = drawn_size(frame_h, frame_w, None);
        let (cell_w, cell_h) = (fw + 2 * BORDER, LINE + fh + 2 * BORDER);
        let grid_w = columns as u32 * cell_w + (columns as u32 - 1) * CELL_GAP;
        let grid_h = if rows == 0 {
            0
        } else {
            rows as u32 * cell_h + (rows as u32 - 1) * CELL_GAP
        };
        let content_w = grid_w.max(MIN_CONTENT_WIDTH);
        let grid_top = MARGIN + 3 * LINE + BLOCK_GAP;
        let chart_top = grid_top + grid_h + BLOCK_GAP;
        let legend_top = chart_top + LINE + PLOT_HEIGHT + 1 + LINE + BLOCK_GAP;
        let plot = Rect {
            x: MARGIN + AXIS_WIDTH,
            y: chart_top + LINE,
            w: content_w - AXIS_WIDTH,
            h: PLOT_HEIGHT + 1,
        };
        let colour_bar = Rect {
            x: MARGIN + AXIS_WIDTH,
            y: legend_top,
            w: content_w - AXIS_WIDTH,
            h: COLOUR_BAR_HEIGHT,
        };
        Layout {
            frames,
            columns,
            rows,
            cell_image: (fh, fw),
            width: 2 * MARGIN + content_w,
            height: legend_top + COLOUR_BAR_HEIGHT + 4 + 3 * LINE + MARGIN,
            plot,
            colour_bar,
            content_w,
            grid_top,
            chart_top,
            legend_top,
        }
    }

    /// An error if the sheet would be larger than MAX_PIXELS (checked by `draw_sheet`, and by
    /// the commands before the long work starts). spec/render.md (REN-7)
    pub fn check_size(&self) -> Result<(), Error> {
        let pixels = self.width as u64 * self.height as u64;
        if pixels > MAX_PIXELS {
            return Err(Error::Unsupported {
                reason: format!(
                    "sheet.png of {} frames would be {} x {} pixels, more than {MAX_PIXELS}: \
                     use --no-sheet",
                    self.frames, self.width, self.height
                ),
            });
        }
        Ok(())
    }

    /// Where frame t's overlay is drawn: row t / columns, column t % columns, under its
    /// number and inside its border.
    pub fn image_rect(&self, t: usize) -> Rect {
        let (fh, fw) = self.cell_image;
        let (row, col) = ((t / self.columns) as u32, (t % self.columns) as u32);
        let x = MARGIN + col * (fw + 2 * BORDER + CELL_GAP);
        let y = self.grid_top + row * (LINE + fh + 2 * BORDER + CELL_GAP);
        Rect {
            x: x + BORDER,
            y: y + LINE + BORDER,
            w: fw,
            h: fh,
        }
    }

    /// The bar chart's bin of frame t: columns [x, x + w) of the plot.
    pub fn bin(&self, t: usize) -> (u32, u32) {
        let n = self.frames.max(1) as u64;
        let w = self.plot.w as u64;
        let left = self.plot.x + (t as u64 * w / n) as u32;
        let right = self.plot.x + ((t as u64 + 1) * w / n) as u32;
        (left, right - left)
    }
}

/// The smallest c with c * c >= n.
fn ceil_sqrt(n: usize) -> usize {
    let mut c = (n as f64).sqrt() as usize;
    while c * c < n {
        c += 1;
    }
    while c > 0 && (c - 1) * (c - 1) >= n {
        c -= 1;
    }
    c
}

/// Draws the sheet. An error if it would be larger than MAX_PIXELS. Panics if the frames and
/// maps disagree in number or size (a programmer error). spec/render.md (REN-7)
pub fn draw_sheet(sheet: &Sheet) -> Result<RgbImage, Error> {
    let t_n = sheet.frames.len();
    assert_eq!(
        sheet.maps.len(),
        t_n * sheet.map_h * sheet.map_w,
        "draw_sheet: maps"
    );
    assert_eq!(sheet.sums.len(), t_n, "draw_sheet: sums");
    let (frame_h, frame_w) = sheet
        .frames
        .first()
        .map_or((0, 0), |f| (f.height(), f.width()));
    let layout = Layout::new(t_n, sheet.columns, frame_h, frame_w);
    layout.check_size()?;
    let mut image = RgbImage::from_pixel(layout.width, layout.height, BACKGROUND);
    let segment = (sheet.segment.0, sheet.segment.1.min(t_n.saturating_sub(1)));
    let in_segment = |t: usize| t_n > 0 && segment.0 <= t && t <= segment.1;

    // Title (on one or two lines) and subtitle.
    let mut y = MARGIN;
    match wrap_in_two(sheet.title, layout.content_w) {
        Some(lines) => {
            for line in lines {
                draw_text(&mut image, MARGIN as i64, y as i64, &line, TEXT_SCALE, TEXT);
                y += LINE;
            }
        }
        None => {
            draw_fitted(&mut image, MARGIN, y, sheet.title, layout.content_w, TEXT);
            y += LINE;
        }
    }
    let subtitle = if t_n == 0 {
        "no frames".to_string()
    } else {
        format!(
            "segment frames {}-{} (magenta), peak frame {}",
            segment.0, segment.1, sheet.peak
        )
    };
    draw_fitted(&mut image, MARGIN, y, &subtitle, layout.content_w, SEGMENT);

    // The grid: every frame's number and its map's largest value above it, the segment's
    // frames in a magenta border.
    let map_len = sheet.map_h * sheet.map_w;
    for (t, frame) in sheet.frames.iter().enumerate() {
        let map = &sheet.maps[t * map_len..(t + 1) * map_len];
        let r = layout.image_rect(t);
        let border = if in_segment(t) { SEGMENT } else { FRAME };
        fill_rect(
            &mut image,
            (r.x - BORDER) as i64,
            (r.y - BORDER) as i64,
            (r.w + 2 * BORDER) as i64,
            (r.h + 2 * BORDER) as i64,
            border,
        );
        let drawn = overlay_at(frame, map, sheet.map_h, sheet.map_w, layout.cell_image);
        image::imageops::replace(&mut image, &drawn, r.x as i64, r.y as i64);
        let label_y = r.y - BORDER - LINE;
        let number = t.to_string();
        let color = if in_segment(t) { SEGMENT } else { TEXT };
        draw_text(
            &mut image,
            (r.x - BORDER) as i64,
            label_y as i64,
            &number,
            TEXT_SCALE,
            color,
        );
        let max = map.iter().copied().fold(f32::NAN, f32::max);
        let room = (r.w + 2 * BORDER).saturating_sub(text_width(&number, TEXT_SCALE) + 6);
        draw_right_aligned(
            &mut image,
            r.x + r.w + BORDER,
            label_y,
            &format!("max {max:.1e}"),
            room,
        );
    }

    draw_bar_chart(&mut image, &layout, sheet.sums, segment, t_n > 0);
    draw_colour_bar(&mut image, &layout);
    Ok(image)
}

/// The chart of the per-frame sums: one bin per frame across the plot, a bar from the zero
/// row up for a positive sum and down for a negative one, the segment's bins shaded, the
/// value range's ends and zero labelled, frame numbers under the bins. spec/render.md (REN-8)
fn draw_bar_chart(
    image: &mut RgbImage,
    layout: &Layout,
    sums: &[f32],
    segment: (usize, usize),
    any: bool,
) {
    let plot = layout.plot;
    draw_fitted(
        image,
        MARGIN,
        layout.chart_top,
        "per-frame sums of the signed maps (LOC-1)",
        layout.content_w,
        TEXT,
    );
    let finite = sums.iter().copied().filter(|s| s.is_finite());
    let hi = finite.clone().fold(0.0f32, f32::max) as f64;
    let lo = finite.fold(0.0f32, f32::min) as f64;
    let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
    let height = (plot.h - 1) as f64;
    let zero = plot.y + (height * hi / span).round() as u32;
    if any {
        for t in segment.0..=segment.1 {
            let (x, w) = layout.bin(t);
            fill_rect(
                image,
                x as i64,
                plot.y as i64,
                w as i64,
                plot.h as i64,
                SEGMENT_BAND,
            );
        }
    }
    for (t, &s) in sums.iter().enumerate() {
        if !s.is_finite() {
            continue;
        }
        let (x, w) = layout.bin(t);
        let inset = w / 6;
        let bar = (height * (s as f64).abs() / span).round() as i64;
        let top = if s > 0.0 {
            zero as i64 - bar
        } else {
            zero as i64 + 1
        };
        fill_rect(
            image,
            (x + inset) as i64,
            top,
            (w - 2 * inset) as i64,
            bar,
            BAR,
        );
    }
    fill_rect(image, plot.x as i64, zero as i64, plot.w as i64, 1, TEXT);

    // Value labels at the left of the plot: the top, the bottom, and zero where there is room.
    let label_right = plot.x - 6;
    let room = AXIS_WIDTH - 6;
    let value = |v: f64| {
        if v == 0.0 {
            "0".to_string()
        } else {
            format!("{v:+.2e}")
        }
    };
    let bottom = plot.y + plot.h - 1;
    let glyph_h = GLYPH_HEIGHT * TEXT_SCALE;
    draw_right_aligned(image, label_right, plot.y, &value(hi), room);
    draw_right_aligned(image, label_right, bottom + 1 - glyph_h, &value(lo), room);
    if zero >= plot.y + glyph_h + glyph_h / 2 && zero + glyph_h + glyph_h / 2 <= bottom {
        draw_right_aligned(image, label_right, zero - glyph_h / 2, "0", room);
    }

    // Frame numbers under the bins, every k-th frame, k in 1, 2, 5, 10, 20, 50, ...: the
    // smallest that leaves room for the widest number.
    let t_n = sums.len();
    if t_n == 0 {
        return;
    }
    let widest = text_width(&(t_n - 1).to_string(), TEXT_SCALE) + 4;
    let every = tick_step(widest as f64 * t_n as f64 / plot.w as f64);
    for t in (0..t_n).step_by(every) {
        let (x, w) = layout.bin(t);
        let number = t.to_string();
        let centre = x as i64 + w as i64 / 2;
        let left = centre - text_width(&number, TEXT_SCALE) as i64 / 2;
        draw_text(image, left, (bottom + 4) as i64, &number, TEXT_SCALE, TEXT);
    }
}

/// The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `n`.
fn tick_step(n: f64) -> usize {
    let mut power = 1usize;
    loop {
        for m in [1, 2, 5] {
            if (m * power) as f64 >= n {
                return m * power;
            }
        }
        power *= 10;
    }
}

/// The colour bar: 'jet' from 0 at the left to 1 at the right (column x shows
/// jet(x / (w - 1)), at full opacity as an overlay shows m = 1), its ends and middle labelled,
/// and how a frame's map becomes m. spec/render.md (REN-9)
fn draw_colour_bar(image: &mut RgbImage, layout: &Layout) {
    let bar = layout.colour_bar;
    for i in 0..bar.w {
        let v = if bar.w > 1 {
            i as f32 / (bar.w - 1) as f32
        } else {
            0.0
        };
        let c = jet_unit(v);
        let color = Rgb(c.map(|u| (u * 255.0).round() as u8));
        fill_rect(
            image,
            (bar.x + i) as i64,
            bar.y as i64,
            1,
            bar.h as i64,
            color,
        );
    }
    draw_fitted(image, MARGIN, bar.y, "colour", AXIS_WIDTH - 6, TEXT);
    let labels_y = bar.y + bar.h + 4;
    draw_text(image, bar.x as i64, labels_y as i64, "0", TEXT_SCALE, TEXT);
    let half = "0.5";
    let centre = bar.x as i64 + bar.w as i64 / 2 - text_width(half, TEXT_SCALE) as i64 / 2;
    draw_text(image, centre, labels_y as i64, half, TEXT_SCALE, TEXT);
    draw_right_aligned(image, bar.x + bar.w, labels_y, "1 = max", bar.w / 3);
    let lines = [
        "m = (max(map, 0) - min) / max, per frame (REN-1)",
        "map <= 0 is not drawn: negative evidence shows in the sums",
    ];
    for (k, line) in lines.iter().enumerate() {
        let y = labels_y + (k as u32 + 1) * LINE;
        draw_fitted(image, MARGIN, y, line, layout.content_w, TEXT);
    }
}

/// `text` broken at spaces into at most two lines that fit `room` pixels at TEXT_SCALE, or
/// None if it takes more (a single word too wide included).
fn wrap_in_two(text: &str, room: u32) -> Option<Vec<String>> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} {word}"), TEXT_SCALE) <= room => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
        if text_width(lines.last().expect("a line"), TEXT_SCALE) > room || lines.len() > 2 {
            return None;
        }
    }
    Some(lines)
}

/// The scale `text` is drawn at within `room` pixels: TEXT_SCALE if it fits, else 1, and
/// the text cut with "..." if it does not fit at 1 either.
fn fitted(text: &str, room: u32) -> (String, u32) {
    if text_width(text, TEXT_SCALE) <= room {
        return (text.to_string(), TEXT_SCALE);
    }
    if text_width(text, 1) <= room {
        return (text.to_string(), 1);
    }
    let mut cut: String = text.chars().collect();
    while !cut.is_empty() && text_width(&format!("{cut}..."), 1) > room {
        cut.pop();
    }
    (format!("{cut}..."), 1)
}

/// `text` fitted into `room` pixels from (x, y).
fn draw_fitted(image: &mut RgbImage, x: u32, y: u32, text: &str, room: u32, color: Rgb<u8>) {
    let (text, scale) = fitted(text, room);
    draw_text(image, x as i64, y as i64, &text, scale, color);
}

/// `text` fitted into `room` pixels, ending at column `right`; nothing if not even "..."
/// fits.
fn draw_right_aligned(image: &mut RgbImage, right: u32, y: u32, text: &str, room: u32) {
    let (text, scale) = fitted(text, room);
    let width = text_width(&text, scale);
    if width <= room {
        draw_text(
            image,
            right as i64 - width as i64,
            y as i64,
            &text,
            scale,
            TEXT,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_sqrt_and_tick_step() {
        let want = [0, 1, 2, 2, 2, 3, 3, 3, 3, 3, 4];
        for (n, &c) in want.iter().enumerate() {
            assert_eq!(ceil_sqrt(n), c, "n = {n}");
        }
        assert_eq!(ceil_sqrt(16), 4);
        assert_eq!(ceil_sqrt(17), 5);
        assert_eq!(tick_step(0.3), 1);
        assert_eq!(tick_step(1.0), 1);
        assert_eq!(tick_step(1.5), 2);
        assert_eq!(tick_step(3.0), 5);
        assert_eq!(tick_step(12.0), 20);
    }

    #[test]
    fn titles_wrap_onto_two_lines_or_fall_back() {
        // "abc def" is 82 px at scale 2 (7 characters); "abc" 34.
        assert_eq!(
            wrap_in_two("abc def", 82),
            Some(vec!["abc def".to_string()])
        );
        assert_eq!(
            wrap_in_two("abc def", 81),
            Some(vec!["abc".to_string(), "def".to_string()])
        );
        assert_eq!(wrap_in_two("abc def ghi", 40), None); // three lines
        assert_eq!(wrap_in_two("abcdefgh", 40), None); // one word too wide
        assert_eq!(wrap_in_two("", 40), Some(vec![String::new()]));
    }

    #[test]
    fn text_falls_back_to_scale_one_then_is_cut() {
        assert_eq!(fitted("abc", 100), ("abc".to_string(), 2));
        assert_eq!(fitted("abc", 20), ("abc".to_string(), 1)); // 34 px at 2, 17 at 1
        let (cut, scale) = fitted("abcdefghij", 30); // 59 px at 1: cut to fit 30
        assert_eq!(scale, 1);
        assert_eq!(cut, "ab...");
        assert!(text_width(&cut, 1) <= 30);
    }
}
