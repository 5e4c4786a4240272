//! The timeline of a clip: the per-frame sums S_t (LOC-1) as a line with a dot per frame, the
//! zero line, the detected segment shaded, the temporal peak marked, as a self-contained SVG
//! written by hand. spec/render.md (REN-5)

use std::fmt::Write;

/// The drawing's size and the plot area's margins, in SVG user units (pixels).
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 44.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;

/// The colors: the sums in blue, the peak in red, the segment in light orange.
const SUMS_COLOR: &str = "#1f77b4";
const PEAK_COLOR: &str = "#d62728";
const SEGMENT_COLOR: &str = "#ffbb78";

/// `text` with XML's five special characters replaced by entities, and the control characters
/// XML 1.0 forbids (all below U+0020 but tab, newline and carriage return) dropped.
pub fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            c if (c as u32) < 0x20 => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// 1, 2 or 5 times a power of ten, the smallest at least `raw` (> 0): a tick spacing.
pub(crate) fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// A tick label for `value` on an axis with tick spacing `step`: as many decimals as the
/// step needs, or scientific notation for very small or very large numbers.
pub(crate) fn tick_label(value: f64, step: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    if step < 1e-3 || value.abs() >= 1e6 {
        return format!("{value:.1e}");
    }
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{value:.decimals$}")
}

/// A chart of values over the frames of a clip, as the timeline and `ebr eval`'s Fig. 7 draw
/// it: the page (a title on top), a value axis of nice ticks that always shows 0, and one bin
/// of equal width per frame. spec/render.md (REN-5)
#[derive(Clone, Copy, Debug)]
pub(crate) struct FramePlot {
    /// The page's height (the width is fixed).
    pub height: f64,
    pub frames: usize,
    /// The value ticks: `first_tick * step ..= last_tick * step`.
    pub step: f64,
    pub first_tick: f64,
    pub last_tick: f64,
}

impl FramePlot {
    /// A plot of `frames` frames whose values span `low..=high` (with 0 added).
    pub(crate) fn new(height: f64, frames: usize, low: f64, high: f64) -> FramePlot {
        let (low, mut high) = (low.min(0.0), high.max(0.0));
        if high == low {
            high = low + 1.0;
        }
        let step = nice_step((high - low) / 4.0);
        FramePlot {
            height,
            frames,
            step,
            first_tick: (low / step).floor(),
            last_tick: (high / step).ceil(),
        }
    }

    pub(crate) fn plot_h(&self) -> f64 {
        self.height - TOP - BOTTOM
    }

    /// x of frame position `t` (t = frame index + 0.5 is the bin's centre).
    pub(crate) fn x_of(&self, t: f64) -> f64 {
        LEFT + PLOT_W * t / self.frames.max(1) as f64
    }

    /// y of a value.
    pub(crate) fn y_of(&self, v: f64) -> f64 {
        let (low, high) = (self.first_tick * self.step, self.last_tick * self.step);
        TOP + self.plot_h() * (high - v) / (high - low)
    }

    /// The SVG's opening: the header, the white page and the title (escaped).
    pub(crate) fn open(&self, svg: &mut String, title: &str) {
        let (width, height) = (WIDTH, self.height);
        let title = escape_xml(title);
        // Writing to a String cannot fail: the `write!` results are ignored with `let _`.
        let _ = writeln!(svg, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
        );
        let _ = writeln!(svg, "<title>{title}</title>");
        let _ = writeln!(
            svg,
            r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<text class="title" x="{:.2}" y="22" text-anchor="middle" font-size="14">{title}</text>"#,
            width / 2.0
        );
    }

    /// The value ticks with light grid lines, the dashed zero line, the frame ticks (about 8,
    /// or `empty` when there is no frame), the axes, "frame" and `value_name`.
    pub(crate) fn axes(&self, svg: &mut String, value_name: &str, empty: &str) {
        let plot_h = self.plot_h();
        let mut k = self.first_tick;
        while k <= self.last_tick {
            let value = k * self.step;
            let y = self.y_of(value);
            let _ = writeln!(
                svg,
                r##"<line class="grid" x1="{LEFT:.2}" y1="{y:.2}" x2="{:.2}" y2="{y:.2}" stroke="#e0e0e0"/>"##,
                LEFT + PLOT_W
            );
            let _ = writeln!(
                svg,
                r#"<text class="tick" x="{:.2}" y="{:.2}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                tick_label(value, self.step)
            );
            k += 1.0;
        }
        let y_zero = self.y_of(0.0);
        let _ = writeln!(
            svg,
            r##"<line class="zero" x1="{LEFT:.2}" y1="{y_zero:.2}" x2="{:.2}" y2="{y_zero:.2}" stroke="#555555" stroke-dasharray="4 3"/>"##,
            LEFT + PLOT_W
        );
        if self.frames > 0 {
            let frame_step = nice_step(self.frames as f64 / 8.0).max(1.0) as usize;
            let mut t = 0;
            while t < self.frames {
                let x = self.x_of(t as f64 + 0.5);
                let y = TOP + plot_h;
                let _ = writeln!(
                    svg,
                    r#"<line class="tick" x1="{x:.2}" y1="{y:.2}" x2="{x:.2}" y2="{:.2}" stroke="black"/>"#,
                    y + 4.0
                );
                let _ = writeln!(
                    svg,
                    r#"<text class="tick" x="{x:.2}" y="{:.2}" text-anchor="middle">{t}</text>"#,
                    y + 16.0
                );
                t += frame_step;
            }
        } else {
            let _ = writeln!(
                svg,
                r#"<text class="empty" x="{:.2}" y="{:.2}" text-anchor="middle">{empty}</text>"#,
                LEFT + PLOT_W / 2.0,
                TOP + plot_h / 2.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<path class="axes" d="M {LEFT:.2} {TOP:.2} V {:.2} H {:.2}" fill="none" stroke="black"/>"#,
            TOP + plot_h,
            LEFT + PLOT_W
        );
        let _ = writeln!(
            svg,
            r#"<text class="axis-name" x="{:.2}" y="{:.2}" text-anchor="middle">frame</text>"#,
            LEFT + PLOT_W / 2.0,
            self.height - 8.0
        );
        let _ = writeln!(
            svg,
            r#"<text class="axis-name" x="14" y="{:.2}" text-anchor="middle" transform="rotate(-90 14 {:.2})">{value_name}</text>"#,
            TOP + plot_h / 2.0,
            TOP + plot_h / 2.0
        );
    }
}

/// The SVG of a clip's timeline: `sums` (T) over frame index, each frame a bin of equal
/// width with its dot at the bin's centre; `segment` (inclusive, clipped to the clip) shaded;
/// `peak` marked by a vertical line and a ring; a dashed zero line; tick labels on both axes;
/// `title` on top (escaped). Non-finite sums are left out (the line breaks there). Empty
/// `sums` give the frame, the title and "no frames". spec/render.md (REN-5)
pub fn timeline_svg(
    sums: &[f32],
    segment: Option<(usize, usize)>,
    peak: Option<usize>,
    title: &str,
) -> String {
    let frames = sums.len();
    // The value range: the finite sums (and 0, FramePlot::new).
    let (mut low, mut high) = (0.0f64, 0.0f64);
    for &s_t in sums {
        if s_t.is_finite() {
            low = low.min(s_t as f64);
            high = high.max(s_t as f64);
        }
    }
    let plot = FramePlot::new(HEIGHT, frames, low, high);
    let x_of = |t: f64| plot.x_of(t);
    let y_of = |v: f64| plot.y_of(v);
    let mut svg = String::new();
    plot.open(&mut svg, title);

    // 1. the segment, shaded over its frames' bins
    if let Some((start, end)) = segment {
        let end = end.min(frames.saturating_sub(1));
        if start < frames && start <= end {
            let x0 = x_of(start as f64);
            let x1 = x_of(end as f64 + 1.0);
            let _ = writeln!(
                svg,
                r#"<rect class="segment" x="{x0:.2}" y="{TOP:.2}" width="{:.2}" height="{PLOT_H:.2}" fill="{SEGMENT_COLOR}" fill-opacity="0.6"><title>segment: frames {start} to {end}</title></rect>"#,
                x1 - x0
            );
        }
    }

    // 2. the value and frame ticks, the zero line, the axes
    plot.axes(&mut svg, "sum of the map", "no frames");

    // 3. the sums: a polyline per run of finite values, a dot per frame
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    for (t, &s_t) in sums.iter().enumerate() {
        if s_t.is_finite() {
            run.push((x_of(t as f64 + 0.5), y_of(s_t as f64)));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    for run in &runs {
        let mut points = String::new();
        for (index, (x, y)) in run.iter().enumerate() {
            if index > 0 {
                points.push(' ');
            }
            let _ = write!(points, "{x:.2},{y:.2}");
        }
        let _ = writeln!(
            svg,
            r#"<polyline class="sums" points="{points}" fill="none" stroke="{SUMS_COLOR}" stroke-width="1.5"/>"#
        );
    }
    let _ = writeln!(svg, r#"<g class="frames" fill="{SUMS_COLOR}">"#);
    for (t, &s_t) in sums.iter().enumerate() {
        if s_t.is_finite() {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.2}" cy="{:.2}" r="2.5"><title>frame {t}: {s_t}</title></circle>"#,
                x_of(t as f64 + 0.5),
                y_of(s_t as f64)
            );
        }
    }
    let _ = writeln!(svg, "</g>");

    // 4. the peak: a dashed vertical line, a ring on its dot, its frame written above
    if let Some(peak) = peak {
        if peak < frames {
            let x = x_of(peak as f64 + 0.5);
            let _ = writeln!(
                svg,
                r#"<line class="peak" x1="{x:.2}" y1="{TOP:.2}" x2="{x:.2}" y2="{:.2}" stroke="{PEAK_COLOR}" stroke-dasharray="3 2"/>"#,
                TOP + PLOT_H
            );
            if sums[peak].is_finite() {
                let _ = writeln!(
                    svg,
                    r#"<circle class="peak" cx="{x:.2}" cy="{:.2}" r="5" fill="none" stroke="{PEAK_COLOR}" stroke-width="2"/>"#,
                    y_of(sums[peak] as f64)
                );
            }
            let _ = writeln!(
                svg,
                r#"<text class="peak" x="{x:.2}" y="{:.2}" text-anchor="middle" fill="{PEAK_COLOR}">peak {peak}</text>"#,
                TOP - 3.0
            );
        }
    }

    let _ = writeln!(svg, "</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal XML well-formedness check: tags balance and nest, attribute values are
    /// quoted, every `&` starts one of the five predefined entities, no `<` in text or values,
    /// exactly one root element. Enough for the SVG written here (no CDATA, no DTD).
    fn check_well_formed(xml: &str) {
        let bytes = xml.as_bytes();
        let mut stack: Vec<String> = Vec::new();
        let mut roots = 0;
        let mut i = 0;
        let check_entities = |text: &str| {
            let mut rest = text;
            while let Some(at) = rest.find('&') {
                rest = &rest[at..];
                let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
                assert!(
                    known.iter().any(|e| rest.starts_with(e)),
                    "bare & in {text:?}"
                );
                rest = &rest[1..];
            }
        };
        while i < bytes.len() {
            if bytes[i] != b'<' {
                let next = xml[i..].find('<').map_or(xml.len(), |n| i + n);
                let text = &xml[i..next];
                assert!(!text.contains('>'), "'>' in text {text:?}");
                check_entities(text);
                if stack.is_empty() {
                    assert!(text.trim().is_empty(), "text outside the root: {text:?}");
                }
                i = next;
                continue;
            }
            if xml[i..].starts_with("<?") {
                assert_eq!(i, 0, "the XML declaration must come first");
                i += xml[i..].find("?>").expect("unclosed <?") + 2;
                continue;
            }
            // find the tag's end, skipping quoted attribute values
            let mut j = i + 1;
            let mut quote: Option<u8> = None;
            while j < bytes.len() {
                match (quote, bytes[j]) {
                    (None, b'"') | (None, b'\'') => quote = Some(bytes[j]),
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), b'<') => panic!("'<' in an attribute value at {j}"),
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            assert!(j < bytes.len(), "unclosed tag at {i}");
            let tag = &xml[i + 1..j];
            check_entities(tag);
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack
                    .pop()
                    .unwrap_or_else(|| panic!("</{name}> closes nothing"));
                assert_eq!(open, name.trim(), "mismatched tags");
            } else {
                let name: String = tag
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '/')
                    .collect();
                assert!(!name.is_empty(), "empty tag name at {i}");
                // attributes: name="value" pairs
                let attributes = tag[name.len()..].trim_end_matches('/');
                let mut rest = attributes.trim();
                while !rest.is_empty() {
                    let eq = rest
                        .find('=')
                        .unwrap_or_else(|| panic!("attribute without value in <{tag}>"));
                    let after = rest[eq + 1..].trim_start();
                    let q = after.chars().next().expect("attribute value");
                    assert!(q == '"' || q == '\'', "unquoted attribute in <{tag}>");
                    let close = after[1..].find(q).expect("unclosed attribute value");
                    rest = after[close + 2..].trim_start();
                }
                if stack.is_empty() {
                    roots += 1;
                }
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            i = j + 1;
        }
        assert!(stack.is_empty(), "unclosed elements: {stack:?}");
        assert_eq!(roots, 1, "one root element");
    }

    #[test]
    fn the_checker_catches_bad_xml() {
        for bad in [
            "<a><b></a></b>",
            "<a>x & y</a>",
            "<a b=c/>",
            "<a/><b/>",
            "<a>",
        ] {
            let result = std::panic::catch_unwind(|| check_well_formed(bad));
            assert!(result.is_err(), "{bad} passed");
        }
        check_well_formed("<?xml version=\"1.0\"?>\n<a b=\"1 &amp; 2\"><c/>t &lt;</a>\n");
    }

    #[test]
    fn escaping_by_hand() {
        assert_eq!(
            escape_xml(r#"a<b & "c" > 'd'"#),
            "a&lt;b &amp; &quot;c&quot; &gt; &apos;d&apos;"
        );
        assert_eq!(escape_xml("tab\tbell\u{7}é"), "tab\tbellé");
    }

    #[test]
    fn the_worked_example_draws_every_part() {
        let sums = [1.0, -2.0, 3.0, 0.0, 5.0, -1.0, 2.0];
        let svg = timeline_svg(
            &sums,
            Some((2, 4)),
            Some(4),
            "cEB-R <Basketball> & \"dunk\"",
        );
        check_well_formed(&svg);
        assert!(svg.starts_with("<?xml"));
        // the title, escaped, in <title> and in the heading
        let escaped = "cEB-R &lt;Basketball&gt; &amp; &quot;dunk&quot;";
        assert_eq!(svg.matches(escaped).count(), 2);
        assert!(!svg.contains("<Basketball>"));
        // one line through 7 dots (no NaN), each dot with its frame
        assert_eq!(svg.matches(r#"<polyline class="sums""#).count(), 1);
        assert_eq!(svg.matches("<circle cx=").count(), 7);
        assert!(svg.contains("<title>frame 4: 5</title>"));
        // the segment: bins 2..4 of 7 over a 628-wide plot from x = 72:
        // x0 = 72 + 628 * 2/7 = 251.43, width 628 * 3/7 = 269.14
        assert!(svg.contains(r#"<rect class="segment" x="251.43" y="36.00" width="269.14""#));
        assert!(svg.contains("segment: frames 2 to 4"));
        // the peak at bin 4's centre: 72 + 628 * 4.5/7 = 475.71
        assert!(svg.contains(r#"<line class="peak" x1="475.71""#));
        assert!(svg.contains(">peak 4</text>"));
        assert!(svg.contains(r#"<circle class="peak""#));
        // values -2..5: step nice(7/4 = 1.75) = 2, ticks -2, 0, 2, 4, 6; the zero line
        for label in [
            ">-2</text>",
            ">0</text>",
            ">2</text>",
            ">4</text>",
            ">6</text>",
        ] {
            assert!(svg.contains(label), "{label}");
        }
        assert_eq!(svg.matches(r#"<line class="zero""#).count(), 1);
        // frames 0..6: step nice(7/8) = 1, a tick label per frame
        for t in 0..7 {
            assert!(
                svg.contains(&format!(r#"text-anchor="middle">{t}</text>"#)),
                "frame {t}"
            );
        }
    }

    #[test]
    fn edge_cases_stay_well_formed() {
        // no frames
        let svg = timeline_svg(&[], Some((0, 3)), Some(0), "empty");
        check_well_formed(&svg);
        assert!(svg.contains("no frames"));
        assert!(!svg.contains("class=\"segment\""));
        assert!(!svg.contains("class=\"peak\""));
        // one frame, all zeros
        let svg = timeline_svg(&[0.0], Some((0, 0)), Some(0), "");
        check_well_formed(&svg);
        assert!(svg.contains(r#"<rect class="segment" x="72.00" y="36.00" width="628.00""#));
        // all negative, tiny values, a segment past the end, a peak past the end
        let svg = timeline_svg(&[-3e-6, -1e-6, -2e-6], Some((1, 10)), Some(9), "t");
        check_well_formed(&svg);
        assert!(svg.contains("segment: frames 1 to 2"));
        assert!(!svg.contains("class=\"peak\""));
        assert!(svg.contains("e-6"), "scientific tick labels");
        // non-finite sums break the line and lose their dots
        let svg = timeline_svg(
            &[1.0, f32::NAN, 2.0, f32::INFINITY, 3.0],
            None,
            Some(1),
            "t",
        );
        check_well_formed(&svg);
        assert_eq!(svg.matches(r#"<polyline class="sums""#).count(), 3);
        assert_eq!(svg.matches("<circle cx=").count(), 3);
        assert!(svg.contains(r#"<line class="peak""#));
        assert!(!svg.contains(r#"<circle class="peak""#));
        // a reversed segment is not drawn
        let svg = timeline_svg(&[1.0, 2.0, 3.0], Some((2, 1)), None, "t");
        assert!(!svg.contains("class=\"segment\""));
        // a long clip gets about 8 frame ticks: 128 / 8 = 16 -> step 20: 0, 20, ..., 120
        let sums: Vec<f32> = (0..128).map(|t| (t as f32 * 0.1).sin()).collect();
        let svg = timeline_svg(&sums, Some((10, 40)), Some(15), "long");
        check_well_formed(&svg);
        assert_eq!(svg.matches(r#"<line class="tick""#).count(), 7);
    }

    #[test]
    fn nice_steps_and_labels() {
        assert_eq!(nice_step(1.75), 2.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(16.0), 20.0);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(tick_label(0.5, 0.5), "0.5");
        assert_eq!(tick_label(-0.04, 0.02), "-0.04");
        assert_eq!(tick_label(40.0, 20.0), "40");
        assert_eq!(tick_label(0.0, 0.02), "0");
        assert_eq!(tick_label(2e-6, 1e-6), "2.0e-6");
    }
}
