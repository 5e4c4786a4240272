//! A set's evaluation as the paper's tables (markdown, for stdout and eval.md) and as JSON
//! (eval.json). Percentages in the tables have one decimal, as the paper's; the JSON keeps
//! fractions in [0, 1] and every count. spec/eval.md ("Output")

use std::fmt::Write;

use serde_json::{json, Value};

use super::caption::CaptionScore;
use super::curve::{Curve, SignCheck};
use super::interval::Interval;
use super::localization::{Length, LengthBin, LocalizationRow};
use super::run::{
    CaptionResult, Fig7, SetReport, SetResult, Splice2Result, Splice3Result, TrimmedResult,
};

/// `100 * x` with one decimal, or "-" when undefined.
fn percent(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{:.1}", 100.0 * v),
        _ => "-".to_string(),
    }
}

/// "58.1 [52.0, 63.9]": a percentage and its 95% interval (EVAL-18), or the percentage alone.
fn with_interval(x: Option<f64>, interval: Option<Interval>) -> String {
    match (x, interval) {
        (Some(_), Some(i)) => format!(
            "{} [{}, {}]",
            percent(x),
            percent(Some(i.low)),
            percent(Some(i.high))
        ),
        _ => percent(x),
    }
}

/// A difference in percentage points with its interval, signed: "+15.9 [+11.1, +20.7]".
fn difference(x: Option<f64>, interval: Option<Interval>) -> String {
    let points = |v: f64| format!("{:+.1}", 100.0 * v);
    match (x.filter(|v| v.is_finite()), interval) {
        (Some(v), Some(i)) => format!("{} [{}, {}]", points(v), points(i.low), points(i.high)),
        (Some(v), None) => points(v),
        _ => "-".to_string(),
    }
}

/// An interval as JSON (fractions), or null.
fn interval_json(i: Option<Interval>) -> Value {
    i.map_or(Value::Null, |i| json!({"low": i.low, "high": i.high}))
}

fn ratio(hits: usize, total: usize) -> Option<f64> {
    (total > 0).then(|| hits as f64 / total as f64)
}

/// A signed number with 4 significant digits for the sums.
fn signed(x: f64) -> String {
    if !x.is_finite() {
        return "-".to_string();
    }
    format!("{x:+.4e}")
}

/// The markdown of one set: a heading, the notes, the tables of its protocol.
pub fn set_markdown(report: &SetReport, fig7_files: &[String]) -> String {
    let mut md = String::new();
    let title = if report.name == report.protocol.name() {
        report.name.clone()
    } else {
        format!("{}: {}", report.protocol.name(), report.name)
    };
    let _ = writeln!(
        md,
        "## {title} ({} clips, `{}`)\n",
        report.clips,
        report.dir.display()
    );
    for note in &report.notes {
        let _ = writeln!(md, "Note: {note}.\n");
    }
    match &report.result {
        SetResult::Trimmed(r) => trimmed_markdown(&mut md, r),
        SetResult::Splice3(r) => splice3_markdown(&mut md, r),
        SetResult::Splice2(r) => splice2_markdown(&mut md, r, fig7_files),
        SetResult::Caption(r) => caption_markdown(&mut md, r),
    }
    md
}

fn caption_markdown(md: &mut String, r: &CaptionResult) {
    let c = &r.captioning;
    let _ = writeln!(
        md,
        "Captioning (EVAL-14): with teacher forcing, {}% of the words right ({}/{} steps, the end token included), {}% of the nouns ({}/{}); greedy captions: {}% exactly the set's ({}/{}), {}% naming every noun of the set's caption ({}/{}).\n",
        percent(ratio(c.teacher_right, c.teacher_steps)),
        c.teacher_right,
        c.teacher_steps,
        percent(ratio(c.teacher_nouns_right, c.nouns)),
        c.teacher_nouns_right,
        c.nouns,
        percent(ratio(c.greedy_exact, c.clips)),
        c.greedy_exact,
        c.clips,
        percent(ratio(c.greedy_names_nouns, c.clips)),
        c.greedy_names_nouns,
        c.clips
    );
    let (frames, nouns) = r.scores.first().map_or((0, 0), |s| (s.frames, s.nouns));
    let _ = writeln!(
        md,
        "Caption table (the paper's Table 5 protocol, EVAL-15..EVAL-17): each noun of the set's captions grounded with teacher forcing ({nouns} nouns). Spatial: pointing game on the frames of the actor the noun names ({frames} frames), maps at `{}`, a hit when the peak is {} the actor's box. Temporal: the peak of the noun's per-frame sums at `{}` in that actor's frames.\n",
        r.layer,
        if r.radius == 0.0 {
            "inside".to_string()
        } else {
            format!("within {:.2} px of", r.radius)
        },
        r.temporal_layer
    );
    let _ = writeln!(
        md,
        "| Method | Spatial pointing (%) | hits / frames | Temporal peak in the actor's frames (%) | hits / nouns |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for score in &r.scores {
        let (temporal, counts) = if score.pointer.temporal() {
            (
                percent(ratio(score.temporal_hits, score.nouns)),
                format!("{}/{}", score.temporal_hits, score.nouns),
            )
        } else {
            ("-".to_string(), "-".to_string())
        };
        let _ = writeln!(
            md,
            "| {} | {} | {}/{} | {temporal} | {counts} |",
            score.pointer.label(),
            percent(ratio(score.spatial_hits, score.frames)),
            score.spatial_hits,
            score.frames
        );
    }
    let _ = writeln!(md);
    // By the noun's place in the caption: a mean-pool captioner cannot see the actors' order.
    let places: Vec<usize> = r
        .scores
        .first()
        .map_or(Vec::new(), |s| s.per_place.iter().map(|e| e.0).collect());
    if places.len() > 1 {
        let mut header = "| Method |".to_string();
        let mut rule = "| --- |".to_string();
        for &p in &places {
            let _ = write!(
                header,
                " noun {}: spatial (%) | noun {}: temporal (%) |",
                p + 1,
                p + 1
            );
            rule.push_str(" ---: | ---: |");
        }
        let _ = writeln!(
            md,
            "By the noun's place in the caption (noun 1 names the first actor, frames of the first half):\n\n{header}\n{rule}"
        );
        for score in &r.scores {
            let _ = write!(md, "| {} |", score.pointer.label());
            for &p in &places {
                let e = score.per_place.iter().find(|e| e.0 == p);
                let spatial = percent(e.and_then(|e| ratio(e.1, e.2)));
                let temporal = if score.pointer.temporal() {
                    percent(e.and_then(|e| ratio(e.3, e.4)))
                } else {
                    "-".to_string()
                };
                let _ = write!(md, " {spatial} | {temporal} |");
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md);
    }
}

fn caption_score_json(s: &CaptionScore) -> Value {
    let temporal = s.pointer.temporal();
    let per_word: Vec<Value> = s
        .per_word
        .iter()
        .map(|(word, hits, frames, t_hits, nouns)| {
            json!({"word": word, "spatial_hits": hits, "frames": frames,
                   "spatial_accuracy": ratio(*hits, *frames),
                   "temporal_hits": if temporal { json!(t_hits) } else { Value::Null },
                   "nouns": nouns,
                   "temporal_accuracy": if temporal { json!(ratio(*t_hits, *nouns)) } else { Value::Null }})
        })
        .collect();
    let per_place: Vec<Value> = s
        .per_place
        .iter()
        .map(|(place, hits, frames, t_hits, nouns)| {
            json!({"place": place, "spatial_hits": hits, "frames": frames,
                   "spatial_accuracy": ratio(*hits, *frames),
                   "temporal_hits": if temporal { json!(t_hits) } else { Value::Null },
                   "nouns": nouns,
                   "temporal_accuracy": if temporal { json!(ratio(*t_hits, *nouns)) } else { Value::Null }})
        })
        .collect();
    json!({
        "key": s.pointer.key(),
        "label": s.pointer.label(),
        "spatial_hits": s.spatial_hits,
        "frames": s.frames,
        "spatial_accuracy": ratio(s.spatial_hits, s.frames),
        "temporal_hits": if temporal { json!(s.temporal_hits) } else { Value::Null },
        "nouns": s.nouns,
        "temporal_accuracy": if temporal { json!(ratio(s.temporal_hits, s.nouns)) } else { Value::Null },
        "per_word": per_word,
        "per_place": per_place,
    })
}

fn trimmed_markdown(md: &mut String, r: &TrimmedResult) {
    let _ = writeln!(
        md,
        "Classification accuracy (EVAL-1): {}% from the softmax averaged over the steps, {}% at the last step.\n",
        percent(ratio(r.correct_mean, r.clips)),
        percent(ratio(r.correct_last, r.clips))
    );
    let frames = r.pointing.first().map_or(0, |s| s.frames);
    let _ = writeln!(
        md,
        "Table 1: spatial pointing game (EVAL-3), accuracy (%) = hits / annotated frames ({frames} frames), maps at `{}`, radius {:.2} px (the paper's 7.5 px at 224 px, scaled).\n",
        r.layer, r.radius
    );
    if r.pointing.is_empty() {
        let _ = writeln!(md, "(no method chosen applies)\n");
        return;
    }
    let mut header = "| |".to_string();
    let mut rule = "| --- |".to_string();
    let mut acc = "| Acc (%) |".to_string();
    let mut hits = "| hits / frames |".to_string();
    for s in &r.pointing {
        let _ = write!(header, " {} |", s.variant.label());
        rule.push_str(" ---: |");
        let _ = write!(acc, " {} |", percent(ratio(s.hits, s.frames)));
        let _ = write!(hits, " {}/{} |", s.hits, s.frames);
    }
    let _ = writeln!(md, "{header}\n{rule}\n{acc}\n{hits}\n");
}

/// One of Table 2's grids: a line per (length setting, bin), a column per signal, each cell
/// written by `cell`.
fn localization_grid(
    md: &mut String,
    r: &Splice3Result,
    setting_suffix: &str,
    cell: &dyn Fn(&LocalizationRow) -> String,
) {
    let mut header = "| Action length | Length (frames) | Clips |".to_string();
    let mut rule = "| --- | --- | ---: |".to_string();
    for s in &r.signals {
        let _ = write!(header, " {} |", s.label());
        rule.push_str(" ---: |");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    // One line per (length setting, bin) in the rows' order.
    let mut keys: Vec<(Length, Option<LengthBin>)> = Vec::new();
    for row in &r.localization {
        if !keys.contains(&(row.length, row.bin)) {
            keys.push((row.length, row.bin));
        }
    }
    for (length, bin) in keys {
        let cells: Vec<Option<&LocalizationRow>> = r
            .signals
            .iter()
            .map(|&s| {
                r.localization
                    .iter()
                    .find(|row| row.length == length && row.bin == bin && row.signal == s)
            })
            .collect();
        let clips = cells
            .iter()
            .flatten()
            .map(|row| row.clips)
            .max()
            .unwrap_or(0);
        let bin_label = bin.map_or("all".to_string(), |b| b.label());
        let _ = write!(
            md,
            "| {}{setting_suffix} | {bin_label} | {clips} |",
            length_name(length)
        );
        for c in cells {
            let _ = write!(md, " {} |", c.map_or("-".to_string(), cell));
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md);
}

/// A table's caption paragraph, then its header and rule lines.
fn caption_and_header(md: &mut String, caption: &str, header: &str) {
    let _ = writeln!(md, "{caption}\n\n{header}");
}

fn length_name(length: Length) -> &'static str {
    match length {
        Length::Known => "Known",
        Length::Unknown => "Unknown",
    }
}

fn splice3_markdown(md: &mut String, r: &Splice3Result) {
    let _ = writeln!(
        md,
        "Table 2: temporal localization at IoU 0.5, one detection per clip, sums at `{}`. Each cell: mAP (%) with each signal's own score (EVAL-6, EVAL-7) / the share of clips localized (%, IoU >= 0.5); [95% bootstrap interval over clips] (EVAL-18).\n",
        r.layer
    );
    localization_grid(md, r, "", &|row| {
        format!(
            "{} / {}",
            with_interval(row.map, row.map_interval),
            with_interval(Some(row.localized()), row.localized_interval)
        )
    });
    let _ = writeln!(
        md,
        "Table 2's mAP (%) ranked by one score common to every signal: the mean GT probability over the detection (EVAL-6), [95% interval].\n"
    );
    localization_grid(md, r, " (common score)", &|row| {
        with_interval(row.common_map, row.common_map_interval)
    });
    if !r.paired.is_empty() {
        caption_and_header(
            md,
            "cEB-R minus the probability baseline on the same clips, percentage points [paired 95% interval] (EVAL-18).",
            "| Method | Action length | Length (frames) | mAP | Clips localized |\n| --- | --- | --- | ---: | ---: |",
        );
        for p in &r.paired {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                p.signal.label(),
                length_name(p.length),
                p.bin.map_or("all".to_string(), |b| b.label()),
                difference(p.map, p.map_interval),
                difference(Some(p.localized), p.localized_interval)
            );
        }
        let _ = writeln!(md);
    }
    caption_and_header(
        md,
        "Table 3: temporal pointing game (EVAL-8..EVAL-11), accuracy (%) = clips whose point lies in the GT segment, [95% interval].",
        "| Method | Accuracy (%) | hits / clips |\n| --- | ---: | ---: |",
    );
    for row in &r.pointing {
        let _ = writeln!(
            md,
            "| {} | {} | {}/{} |",
            row.pointer.label(),
            with_interval(ratio(row.hits, row.clips), row.interval),
            row.hits,
            row.clips
        );
    }
    if !r.pointing_differences.is_empty() {
        let _ = writeln!(
            md,
            "\nTable 3's differences on the same clips, percentage points [paired 95% interval] (EVAL-18).\n"
        );
        let _ = writeln!(md, "| Method | minus | Difference |\n| --- | --- | ---: |");
        for d in &r.pointing_differences {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                d.pointer.label(),
                d.baseline.label(),
                difference(Some(d.difference), d.interval)
            );
        }
    }
    let _ = writeln!(md);
}

fn splice2_markdown(md: &mut String, r: &Splice2Result, fig7_files: &[String]) {
    let files = if fig7_files.is_empty() {
        String::new()
    } else {
        format!(" ({})", fig7_files.join(", "))
    };
    let _ = writeln!(
        md,
        "Fig. 7: the mean per-frame sum of the cEB-R maps at `{}` over the clips of each order{files}; the check (EVAL-13): positive on GT frames, negative on rand frames on average.\n",
        r.layer
    );
    if r.figures.is_empty() {
        let _ = writeln!(md, "(cEB-R not chosen)\n");
        return;
    }
    let _ = writeln!(
        md,
        "| Method | Order | mean on GT frames | mean on rand frames | clips with GT mean > 0 > rand mean | positive on GT, negative on rand |\n| --- | --- | ---: | ---: | ---: | --- |"
    );
    for f in &r.figures {
        for (order, c) in [
            ("GT + rand", &f.gt_first_check),
            ("rand + GT", &f.rand_first_check),
            ("both", &f.check),
        ] {
            let _ = writeln!(
                md,
                "| {} | {order} | {} | {} | {}/{} | {} |",
                f.variant.label(),
                signed(c.gt_mean()),
                signed(c.rand_mean()),
                c.clips_separated,
                c.clips,
                if c.holds() { "yes" } else { "no" }
            );
        }
    }
    let _ = writeln!(md);
    for f in &r.figures {
        let frames = f.gt_first.mean.len().max(f.rand_first.mean.len());
        let boundary = |c: &Curve| c.boundary.map_or("-".to_string(), |b| format!("{b:.1}"));
        let _ = writeln!(
            md,
            "{} per frame, mean ± std (boundary: frame {} for GT + rand, {} for rand + GT):\n",
            f.variant.label(),
            boundary(&f.gt_first),
            boundary(&f.rand_first)
        );
        let _ = writeln!(
            md,
            "| frame | GT + rand ({} clips) | rand + GT ({} clips) |\n| ---: | ---: | ---: |",
            f.gt_first.clips, f.rand_first.clips
        );
        let cell = |c: &Curve, t: usize| match (c.mean.get(t), c.std.get(t)) {
            (Some(&m), Some(&s)) => format!("{} ± {:.2e}", signed(m), s),
            _ => "-".to_string(),
        };
        for t in 0..frames {
            let _ = writeln!(
                md,
                "| {t} | {} | {} |",
                cell(&f.gt_first, t),
                cell(&f.rand_first, t)
            );
        }
        let _ = writeln!(md);
    }
}

/// eval.json's entry for one set.
pub fn set_json(report: &SetReport, seconds: f64, fig7_files: &[String]) -> Value {
    let mut value = json!({
        "name": report.name,
        "dir": report.dir.display().to_string(),
        "protocol": report.protocol.name(),
        "clips": report.clips,
        "classes": report.classes,
        "seconds": seconds,
        "notes": report.notes,
    });
    let class_name = |k: usize| report.classes.get(k).cloned().unwrap_or_default();
    match &report.result {
        SetResult::Trimmed(r) => {
            value["classification"] = json!({
                "correct_mean_over_steps": r.correct_mean,
                "correct_last_step": r.correct_last,
                "accuracy_mean_over_steps": ratio(r.correct_mean, r.clips),
                "accuracy_last_step": ratio(r.correct_last, r.clips),
            });
            let methods: Vec<Value> = r
                .pointing
                .iter()
                .map(|s| {
                    let per_class: Vec<Value> = s
                        .per_class
                        .iter()
                        .map(|&(k, hits, frames)| {
                            json!({"class": k, "name": class_name(k), "hits": hits, "frames": frames,
                                   "accuracy": ratio(hits, frames)})
                        })
                        .collect();
                    json!({
                        "key": s.variant.key(),
                        "label": s.variant.label(),
                        "method": s.variant.method.name(),
                        "lstm_rule": s.variant.lstm_rule.name(),
                        "hits": s.hits,
                        "frames": s.frames,
                        "accuracy": ratio(s.hits, s.frames),
                        "per_class": per_class,
                    })
                })
                .collect();
            value["spatial_pointing"] = json!({
                "layer": r.layer,
                "radius_px": r.radius,
                "methods": methods,
            });
        }
        SetResult::Splice3(r) => {
            let rows: Vec<Value> = r
                .localization
                .iter()
                .map(|row| {
                    let per_class: Vec<Value> = row
                        .per_class
                        .iter()
                        .map(|c| json!({"class": c.class, "name": class_name(c.class), "clips": c.positives, "ap": c.ap}))
                        .collect();
                    json!({
                        "signal": row.signal.key(),
                        "label": row.signal.label(),
                        "length": row.length.name(),
                        "gt_length": row.bin.map(|b| json!({"shortest": b.shortest, "longest": b.longest})),
                        "clips": row.clips,
                        "correct": row.correct,
                        "localized": row.localized(),
                        "localized_interval": interval_json(row.localized_interval),
                        "map": row.map,
                        "map_interval": interval_json(row.map_interval),
                        "common_score_map": row.common_map,
                        "common_score_map_interval": interval_json(row.common_map_interval),
                        "per_class": per_class,
                    })
                })
                .collect();
            value["temporal_localization"] = json!({
                "layer": r.layer,
                "iou_threshold": super::detection::IOU_THRESHOLD,
                "signals": r.signals.iter().map(|s| s.key()).collect::<Vec<_>>(),
                "rows": rows,
                "paired_differences": r.paired.iter().map(|p| json!({
                    "signal": p.signal.key(),
                    "baseline": "probability",
                    "length": p.length.name(),
                    "gt_length": p.bin.map(|b| json!({"shortest": b.shortest, "longest": b.longest})),
                    "map": p.map,
                    "map_interval": interval_json(p.map_interval),
                    "localized": p.localized,
                    "localized_interval": interval_json(p.localized_interval),
                })).collect::<Vec<_>>(),
                "bootstrap": {"resamples": super::interval::BOOTSTRAP_RESAMPLES, "confidence": super::interval::CONFIDENCE},
            });
            let pointing: Vec<Value> = r
                .pointing
                .iter()
                .map(|row| {
                    json!({"key": row.pointer.key(), "label": row.pointer.label(),
                           "hits": row.hits, "clips": row.clips, "accuracy": ratio(row.hits, row.clips),
                           "interval": interval_json(row.interval)})
                })
                .collect();
            let differences: Vec<Value> = r
                .pointing_differences
                .iter()
                .map(|d| {
                    json!({"key": d.pointer.key(), "baseline": d.baseline.key(),
                           "difference": d.difference, "interval": interval_json(d.interval)})
                })
                .collect();
            value["temporal_pointing"] = json!({"rows": pointing, "differences": differences});
            let clips: Vec<Value> = r
                .clips
                .iter()
                .map(|c| {
                    let detections: Vec<Value> = c
                        .detections
                        .detections
                        .iter()
                        .map(|d| {
                            json!({"signal": d.signal.key(), "length": d.length.name(),
                                   "segment": [d.detection.segment.0, d.detection.segment.1],
                                   "score": d.detection.score,
                                   "common_score": Some(d.detection.common_score).filter(|v| v.is_finite()),
                                   "correct": d.correct})
                        })
                        .collect();
                    let mut points = serde_json::Map::new();
                    for &(pointer, t) in &c.points.points {
                        points.insert(pointer.key(), json!(t));
                    }
                    json!({
                        "file": c.file.display().to_string(),
                        "class": c.detections.class,
                        "segment": [c.detections.segment.0, c.detections.segment.1],
                        "detections": detections,
                        "points": points,
                    })
                })
                .collect();
            value["clip_results"] = json!(clips);
        }
        SetResult::Splice2(r) => {
            let figures: Vec<Value> = r
                .figures
                .iter()
                .enumerate()
                .map(|(i, f)| fig7_json(f, fig7_files.get(i)))
                .collect();
            value["fig7"] = json!({"layer": r.layer, "methods": figures});
        }
        SetResult::Caption(r) => {
            let c = &r.captioning;
            value["captioning"] = json!({
                "clips": c.clips,
                "teacher_right": c.teacher_right,
                "teacher_steps": c.teacher_steps,
                "teacher_accuracy": ratio(c.teacher_right, c.teacher_steps),
                "teacher_nouns_right": c.teacher_nouns_right,
                "nouns": c.nouns,
                "teacher_noun_accuracy": ratio(c.teacher_nouns_right, c.nouns),
                "greedy_exact": c.greedy_exact,
                "greedy_exact_accuracy": ratio(c.greedy_exact, c.clips),
                "greedy_names_nouns": c.greedy_names_nouns,
                "greedy_names_nouns_accuracy": ratio(c.greedy_names_nouns, c.clips),
            });
            value["caption_table"] = json!({
                "layer": r.layer,
                "radius_px": r.radius,
                "temporal_layer": r.temporal_layer,
                "rows": r.scores.iter().map(caption_score_json).collect::<Vec<_>>(),
            });
            let clips: Vec<Value> = r
                .clips
                .iter()
                .map(|c| {
                    let nouns: Vec<Value> = c
                        .nouns
                        .iter()
                        .map(|n| {
                            let mut peaks = serde_json::Map::new();
                            for &(pointer, t) in &n.points {
                                peaks.insert(pointer.key(), json!(t));
                            }
                            json!({"word": n.word, "segment": [n.segment.0, n.segment.1],
                                   "temporal_points": peaks})
                        })
                        .collect();
                    json!({
                        "file": c.file.display().to_string(),
                        "caption": c.caption.join(" "),
                        "greedy_caption": c.greedy.join(" "),
                        "nouns": nouns,
                    })
                })
                .collect();
            value["clip_results"] = json!(clips);
        }
    }
    value
}

fn curve_json(c: &Curve) -> Value {
    json!({"clips": c.clips, "boundary": c.boundary, "mean": c.mean, "std": c.std})
}

fn check_json(c: &SignCheck) -> Value {
    json!({
        "gt_frames_mean": c.gt_mean(),
        "gt_frames": c.gt_frames,
        "rand_frames_mean": c.rand_mean(),
        "rand_frames": c.rand_frames,
        "clips_separated": c.clips_separated,
        "clips": c.clips,
        "holds": c.holds(),
    })
}

fn fig7_json(f: &Fig7, file: Option<&String>) -> Value {
    json!({
        "key": f.variant.key(),
        "label": f.variant.label(),
        "svg": file,
        "gt_first": curve_json(&f.gt_first),
        "rand_first": curve_json(&f.rand_first),
        "check": check_json(&f.check),
        "check_gt_first": check_json(&f.gt_first_check),
        "check_rand_first": check_json(&f.rand_first_check),
    })
}
