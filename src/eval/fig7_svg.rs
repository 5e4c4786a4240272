//! The Fig. 7 plot as a self-contained SVG written by hand, in the style of the timeline
//! (src/render/timeline.rs): the mean cEB-R sum at every frame position for the GT + rand
//! clips (green) and the rand + GT clips (blue), as in the paper's figure, each with a band of
//! one standard deviation, the zero line, and each order's boundary marked.
//! spec/eval.md (EVAL-12)

use std::fmt::Write;

use crate::render::timeline::{escape_xml, FramePlot};

use super::curve::Curve;

/// The drawing's size and the plot area's margins, in SVG user units (pixels).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 44.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;

/// The paper's colors: rand + GT blue, GT + rand green.
const RAND_FIRST_COLOR: &str = "#1f77b4";
const GT_FIRST_COLOR: &str = "#2ca02c";

/// One line of the plot: its curve, class name (for tests and styling), label and color.
struct Line<'a> {
    curve: &'a Curve,
    class: &'a str,
    label: &'a str,
    color: &'a str,
}

/// The SVG of Fig. 7: `gt_first` (GT + rand) and `rand_first` (rand + GT) over the frame
/// index, each frame a bin of equal width with the curve's point at its centre; a band of
/// mean +- std per curve; a dashed vertical line at each order's boundary (the mean first
/// frame of the second action, at the bin's left edge; one gray line when they coincide); a dashed zero line; a legend with the
/// clip counts; `title` on top (escaped). A curve without clips is left out.
/// spec/eval.md (EVAL-12)
pub fn fig7_svg(gt_first: &Curve, rand_first: &Curve, title: &str) -> String {
    let gt_label = format!("GT + rand ({} clips)", gt_first.clips);
    let rand_label = format!("rand + GT ({} clips)", rand_first.clips);
    let lines: Vec<Line> = [
        Line {
            curve: rand_first,
            class: "rand-first",
            label: &rand_label,
            color: RAND_FIRST_COLOR,
        },
        Line {
            curve: gt_first,
            class: "gt-first",
            label: &gt_label,
            color: GT_FIRST_COLOR,
        },
    ]
    .into_iter()
    .filter(|line| line.curve.clips > 0)
    .collect();
    let frames = lines.iter().map(|l| l.curve.mean.len()).max().unwrap_or(0);
    // The value range: every finite mean +- std (and 0, FramePlot::new).
    let mut low = 0.0f64;
    let mut high = 0.0f64;
    for line in &lines {
        for (&m, &s) in line.curve.mean.iter().zip(&line.curve.std) {
            if m.is_finite() && s.is_finite() {
                low = low.min(m - s);
                high = high.max(m + s);
            }
        }
    }
    let plot = FramePlot::new(HEIGHT, frames, low, high);
    let x_of = |t: f64| plot.x_of(t);
    let y_of = |v: f64| plot.y_of(v);
    let mut svg = String::new();
    plot.open(&mut svg, title);

    // 1. the value and frame ticks, the zero line, the axes
    plot.axes(&mut svg, "mean sum of the cEB-R map", "no clips");

    // 2. the boundaries: the left edge of the second action's first frame, one neutral line
    // when the orders share it, else one per order in its color
    let boundaries: Vec<(f64, &str, &str)> = lines
        .iter()
        .filter_map(|l| l.curve.boundary.map(|b| (b, l.class, l.color)))
        .collect();
    let shared = boundaries.len() == 2 && (boundaries[0].0 - boundaries[1].0).abs() < 1e-9;
    let drawn = if shared {
        vec![(boundaries[0].0, "both", "#555555")]
    } else {
        boundaries
    };
    for (b, class, color) in drawn {
        let x = x_of(b);
        let _ = writeln!(
            svg,
            r#"<line class="boundary {class}" x1="{x:.2}" y1="{TOP:.2}" x2="{x:.2}" y2="{:.2}" stroke="{color}" stroke-dasharray="6 3"><title>boundary: frame {b:.2}</title></line>"#,
            TOP + PLOT_H
        );
    }

    for line in &lines {
        let c = line.curve;
        let finite = |t: usize| c.mean[t].is_finite() && c.std[t].is_finite();
        // 3. the band of mean +- std: along the top, back along the bottom
        let mut band = String::new();
        let upper = (0..c.mean.len()).filter(|&t| finite(t));
        let lower = (0..c.mean.len()).rev().filter(|&t| finite(t));
        for (index, t) in upper.enumerate() {
            let sep = if index > 0 { " " } else { "" };
            let _ = write!(
                band,
                "{sep}{:.2},{:.2}",
                x_of(t as f64 + 0.5),
                y_of(c.mean[t] + c.std[t])
            );
        }
        for t in lower {
            let _ = write!(
                band,
                " {:.2},{:.2}",
                x_of(t as f64 + 0.5),
                y_of(c.mean[t] - c.std[t])
            );
        }
        let _ = writeln!(
            svg,
            r#"<polygon class="band {}" points="{band}" fill="{}" fill-opacity="0.15" stroke="none"/>"#,
            line.class, line.color
        );
        // 4. the mean: a polyline, a dot per frame
        let mut points = String::new();
        for t in (0..c.mean.len()).filter(|&t| finite(t)) {
            let sep = if points.is_empty() { "" } else { " " };
            let _ = write!(
                points,
                "{sep}{:.2},{:.2}",
                x_of(t as f64 + 0.5),
                y_of(c.mean[t])
            );
        }
        let _ = writeln!(
            svg,
            r#"<polyline class="mean {}" points="{points}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            line.class, line.color
        );
        let _ = writeln!(
            svg,
            r#"<g class="frames {}" fill="{}">"#,
            line.class, line.color
        );
        for t in (0..c.mean.len()).filter(|&t| finite(t)) {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.2}" cy="{:.2}" r="2.5"><title>frame {t}: mean {:.4}, std {:.4}</title></circle>"#,
                x_of(t as f64 + 0.5),
                y_of(c.mean[t]),
                c.mean[t],
                c.std[t]
            );
        }
        let _ = writeln!(svg, "</g>");
    }

    // 5. the legend, top right
    for (index, line) in lines.iter().enumerate() {
        let y = TOP + 14.0 + 16.0 * index as f64;
        let x = LEFT + PLOT_W - 170.0;
        let _ = writeln!(
            svg,
            r#"<line class="legend" x1="{x:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="{}" stroke-width="2"/>"#,
            y - 4.0,
            x + 20.0,
            y - 4.0,
            line.color
        );
        let _ = writeln!(
            svg,
            r#"<text class="legend" x="{:.2}" y="{y:.2}">{}</text>"#,
            x + 26.0,
            escape_xml(line.label)
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}
