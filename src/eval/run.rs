//! The evaluation of a model on one set: every clip in turn (one clip in memory at a time),
//! one forward pass per clip shared by every method, then what the set's protocol asks for.
//! spec/eval.md ("What runs on which set")

use std::path::PathBuf;

use crate::clip::{load_clip, Clip};
use crate::error::Error;
use crate::grounding::caption::{ground_caption, CaptionOptions};
use crate::grounding::{
    channel_sum, frame_backward, ground, map_blob, Method, Normalization, Options, Prior,
};
use crate::layers::{LstmEbRule, Rule};
use crate::localize::{frame_sums, temporal_peak, temporal_pointing_hit};
use crate::model::captioner::{teacher_inputs, SENTENCE};
use crate::model::{forward_clip, ClipForward, Execution, Model};

use super::caption::{
    caption_random_points, frame_centre, map_peak, noun_frames, peak_in_segment, point_hits,
    random_pixel, CaptionPointer, CaptionScore, CaptioningScore, CAPTION_POINTING_RADIUS,
};
use super::curve::{Curve, CurveSums, SignCheck, SpliceOrder};
use super::detection::{detect, matches, with_common_score, TemporalDetection};
use super::interval::BOOTSTRAP_RESAMPLES;
use super::localization::{
    localization_table, ClipDetection, ClipDetections, Length, LocalizationRow, PairedDifference,
    Signal,
};
use super::probability::{class_probabilities, predicted_class, thresholded_probability};
use super::set::{Protocol, SetClip, SynthSet, SET_FILE};
use super::spatial::{clip_hits, pointing_radius};
use super::temporal_pointing::{
    combined_peak, peak_probability, pointing_table, random_point, random_points, ClipPoints,
    Pointer, PointingDifference, PointingRow,
};
use super::variant::{Variant, PAPER_ORDER};

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalOptions {
    /// The methods to run where they apply (Table 1: all six; Tables 2-3 and Fig. 7: cEB-R and
    /// EB-R).
    pub methods: Vec<Method>,
    /// The LSTM rules for cEB-R and EB-R: one, or both to compare them.
    pub lstm_rules: Vec<LstmEbRule>,
    /// The map layer of the spatial pointing game (e.g. the last convolution).
    pub spatial_layer: String,
    /// The layer whose per-frame sums the temporal protocols use (the paper's fc7: the layer
    /// that writes the feature blob).
    pub temporal_layer: String,
    pub prior: Prior,
    /// The priors of the temporal protocols (Tables 2-3, Fig. 7), each reported (EVAL-19);
    /// the first is the default reading.
    pub temporal_priors: Vec<Prior>,
    /// At most this many clips of each set (the first ones).
    pub limit: Option<usize>,
    pub execution: Execution,
}

/// The temporal protocols' layer by default: the one that writes the feature blob (fc7 in the
/// paper's Fig. 7), where the sums need no pass down the CNN; the spatial default if that layer
/// has no name.
pub fn default_temporal_layer(model: &Model) -> String {
    let writer = &model.frame.layers[model.frame.feature_writer()];
    writer
        .name()
        .map(str::to_string)
        .unwrap_or_else(|| crate::grounding::default_map_layer(model))
}

/// Table 1's columns for this model: the chosen methods in the paper's order, cEB-R and EB-R
/// once per LSTM rule; the per-frame methods only when the model has a frame classifier of
/// `classes` outputs (else a note says why they are missing).
pub fn spatial_variants(
    model: &Model,
    options: &EvalOptions,
    classes: usize,
) -> (Vec<Variant>, Vec<String>) {
    let mut variants = Vec::new();
    let mut notes = Vec::new();
    for method in PAPER_ORDER {
        if !options.methods.contains(&method) {
            continue;
        }
        if method.per_frame() {
            match &model.frame_classifier {
                Some(head) if head.fc.outputs == classes => {}
                Some(head) => {
                    notes.push(format!(
                        "{} skipped: the frame classifier has {} outputs, the set {classes} classes",
                        method.name(),
                        head.fc.outputs
                    ));
                    continue;
                }
                None => {
                    notes.push(format!(
                        "{} skipped: the model has no frame_classifier",
                        method.name()
                    ));
                    continue;
                }
            }
        }
        variants.extend(Variant::of(method, &options.lstm_rules));
    }
    (variants, notes)
}

/// The methods through the LSTM: EB-R then cEB-R (those chosen), once per LSTM rule, with
/// eval's `--prior` (the caption table).
pub fn recurrent_variants(options: &EvalOptions) -> Vec<Variant> {
    [Method::Ebr, Method::Cebr]
        .into_iter()
        .filter(|m| options.methods.contains(m))
        .flat_map(|m| Variant::of(m, &options.lstm_rules))
        .collect()
}

/// The temporal protocols' methods: EB-R then cEB-R (those chosen), once per temporal prior
/// and, within a prior, once per LSTM rule (EVAL-19).
pub fn temporal_variants(options: &EvalOptions) -> Vec<Variant> {
    let variants = recurrent_variants(options);
    let mut out = Vec::new();
    for method in [Method::Ebr, Method::Cebr] {
        for &prior in &options.temporal_priors {
            out.extend(
                variants
                    .iter()
                    .filter(|v| v.method == method)
                    .map(|v| v.with_prior(prior)),
            );
        }
    }
    out
}

/// Checks the layers and methods against the model before any clip runs.
pub fn check_options(model: &Model, options: &EvalOptions) -> Result<(), Error> {
    map_blob(model, &options.spatial_layer)?;
    map_blob(model, &options.temporal_layer)?;
    if options.lstm_rules.is_empty() {
        return Err(Error::Unsupported {
            reason: "no LSTM rule chosen".to_string(),
        });
    }
    if options.temporal_priors.is_empty() {
        return Err(Error::Unsupported {
            reason: "no temporal prior chosen".to_string(),
        });
    }
    Ok(())
}

/// Table 1's numbers and the classification accuracy on trimmed clips.
#[derive(Clone, Debug, PartialEq)]
pub struct TrimmedResult {
    pub clips: usize,
    /// Clips whose class with the largest probability averaged over the steps is the GT.
    pub correct_mean: usize,
    /// Clips whose class with the largest probability at the last step is the GT.
    pub correct_last: usize,
    pub layer: String,
    pub radius: f32,
    pub pointing: Vec<SpatialScore>,
}

/// One method's spatial pointing game.
#[derive(Clone, Debug, PartialEq)]
pub struct SpatialScore {
    pub variant: Variant,
    pub hits: usize,
    pub frames: usize,
    /// (class, hits, frames) for every class with an annotated frame.
    pub per_class: Vec<(usize, usize, usize)>,
}

impl SpatialScore {
    pub fn accuracy(&self) -> f64 {
        self.hits as f64 / self.frames as f64
    }
}

/// Tables 2 and 3 on rand + GT + rand clips.
#[derive(Clone, Debug, PartialEq)]
pub struct Splice3Result {
    pub layer: String,
    /// Table 2's columns, in order.
    pub signals: Vec<Signal>,
    pub localization: Vec<LocalizationRow>,
    /// Every cEB-R cell minus the probability baseline's, paired (EVAL-18).
    pub paired: Vec<PairedDifference>,
    pub pointing: Vec<PointingRow>,
    /// Every method's peak minus the random point and the peak probability (EVAL-18).
    pub pointing_differences: Vec<PointingDifference>,
    /// Every clip's detections and points, for eval.json.
    pub clips: Vec<Splice3Clip>,
}

/// One clip's record on splice3.
#[derive(Clone, Debug, PartialEq)]
pub struct Splice3Clip {
    pub file: PathBuf,
    pub detections: ClipDetections,
    pub points: ClipPoints,
}

/// Fig. 7 for one method: a curve and a sign check per order, and the check over both.
#[derive(Clone, Debug, PartialEq)]
pub struct Fig7 {
    pub variant: Variant,
    pub gt_first: Curve,
    pub rand_first: Curve,
    pub gt_first_check: SignCheck,
    pub rand_first_check: SignCheck,
    /// Over the clips of both orders.
    pub check: SignCheck,
}

/// What Fig. 7 accumulates for one method, one clip at a time.
#[derive(Clone, Debug, Default)]
struct Fig7Sums {
    gt_first: CurveSums,
    rand_first: CurveSums,
    gt_first_check: SignCheck,
    rand_first_check: SignCheck,
    check: SignCheck,
}

/// Fig. 7 on GT + rand and rand + GT clips.
#[derive(Clone, Debug, PartialEq)]
pub struct Splice2Result {
    pub layer: String,
    pub figures: Vec<Fig7>,
}

/// The caption table on a caption set (EVAL-14..EVAL-17).
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionResult {
    /// The spatial maps' layer and the pointing radius.
    pub layer: String,
    pub radius: f32,
    /// The layer of the per-frame sums whose peak is the temporal point.
    pub temporal_layer: String,
    pub captioning: CaptioningScore,
    /// Random, Center, then the methods (EB-R, cEB-R, once per LSTM rule).
    pub scores: Vec<CaptionScore>,
    /// Every clip's record, for eval.json.
    pub clips: Vec<CaptionClip>,
}

/// One caption clip's record.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionClip {
    pub file: PathBuf,
    pub caption: Vec<String>,
    /// The model's greedy caption.
    pub greedy: Vec<String>,
    pub nouns: Vec<CaptionNounRecord>,
}

/// One noun of a caption clip: its word, its actor's frames, and every pointer's temporal
/// point (a frame).
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionNounRecord {
    pub word: String,
    pub segment: (usize, usize),
    pub points: Vec<(CaptionPointer, usize)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SetResult {
    Trimmed(TrimmedResult),
    Splice2(Splice2Result),
    Splice3(Splice3Result),
    Caption(CaptionResult),
}

/// A set's evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct SetReport {
    pub name: String,
    pub dir: PathBuf,
    pub protocol: Protocol,
    /// The set's class names, by index.
    pub classes: Vec<String>,
    /// Clips evaluated (the set's, or the first --limit).
    pub clips: usize,
    pub notes: Vec<String>,
    pub result: SetResult,
}

/// Evaluates `model` on `set` as its protocol says (spec/eval.md). `on_clip` is called after
/// every clip. The set must fit the model (`check_model_fits`).
pub fn evaluate_set(
    model: &Model,
    set: &SynthSet,
    options: &EvalOptions,
    on_clip: &mut dyn FnMut(),
) -> Result<SetReport, Error> {
    check_options(model, options)?;
    let clips: Vec<&SetClip> = set
        .clips
        .iter()
        .take(options.limit.unwrap_or(usize::MAX))
        .collect();
    let mut notes = Vec::new();
    let result = match set.protocol {
        Protocol::Trimmed => {
            let (variants, skipped) = spatial_variants(model, options, set.classes.len());
            notes.extend(skipped);
            SetResult::Trimmed(trimmed(model, set, &clips, options, &variants, on_clip)?)
        }
        Protocol::Splice2 => SetResult::Splice2(splice2(model, set, &clips, options, on_clip)?),
        Protocol::Splice3 => {
            SetResult::Splice3(splice3(model, set, &clips, options, &mut notes, on_clip)?)
        }
        Protocol::Caption => {
            let others: Vec<&str> = options
                .methods
                .iter()
                .filter(|m| !matches!(m, Method::Cebr | Method::Ebr))
                .map(|m| m.name())
                .collect();
            if !others.is_empty() {
                notes.push(format!(
                    "{} not run: a word is grounded with cEB-R or EB-R only (spec/caption.md)",
                    others.join(", ")
                ));
            }
            SetResult::Caption(caption(model, set, &clips, options, on_clip)?)
        }
    };
    Ok(SetReport {
        name: set.name.clone(),
        dir: set.dir.clone(),
        protocol: set.protocol,
        classes: set.classes.clone(),
        clips: clips.len(),
        notes,
        result,
    })
}

/// A set clip's input, checked against the set's frames per clip.
fn load_set_clip(model: &Model, set: &SynthSet, clip: &SetClip) -> Result<Clip, Error> {
    let loaded = load_clip(&clip.file, &model.input)?;
    if loaded.frames != set.frames_per_clip {
        return Err(Error::Clip {
            path: clip.file.clone(),
            reason: format!(
                "has {} frames, but {} says frames_per_clip = {}",
                loaded.frames,
                set.dir.join(SET_FILE).display(),
                set.frames_per_clip
            ),
        });
    }
    Ok(loaded)
}

/// A clip's forward pass, keeping the blobs from `layer`'s up.
struct ClipRun<'c> {
    frames: usize,
    fwd: ClipForward<'c>,
}

fn run_clip<'c>(
    model: &Model,
    loaded: &'c Clip,
    layer: &str,
    execution: &Execution,
) -> Result<ClipRun<'c>, Error> {
    let down_to = map_blob(model, layer)?;
    let fwd = forward_clip(
        model,
        &loaded.data,
        loaded.frames,
        execution,
        Some(down_to),
        &|_| {},
    );
    Ok(ClipRun {
        frames: loaded.frames,
        fwd,
    })
}

/// The maps of `variant` for `class` at `layer` (T, h, w) and the layer's (h, w).
fn maps_of(
    model: &Model,
    run: &ClipRun,
    variant: Variant,
    class: usize,
    layer: &str,
    prior: Prior,
) -> Result<(Vec<f32>, [usize; 2]), Error> {
    let options = Options {
        method: variant.method,
        class,
        layer: layer.to_string(),
        prior: variant.prior.unwrap_or(prior),
        normalization: Normalization::Paper,
        lstm_rule: variant.lstm_rule,
    };
    let g = ground(model, &run.fwd, &options, &|_| {})?;
    Ok((g.maps, [g.layer_shape[1], g.layer_shape[2]]))
}

/// Classification (EVAL-1) and the spatial pointing game (EVAL-2, EVAL-3).
fn trimmed(
    model: &Model,
    set: &SynthSet,
    clips: &[&SetClip],
    options: &EvalOptions,
    variants: &[Variant],
    on_clip: &mut dyn FnMut(),
) -> Result<TrimmedResult, Error> {
    let layer = &options.spatial_layer;
    let radius = pointing_radius(set.frame_size[0], set.frame_size[1]);
    let classes = set.classes.len();
    let mut result = TrimmedResult {
        clips: clips.len(),
        correct_mean: 0,
        correct_last: 0,
        layer: layer.clone(),
        radius,
        pointing: variants
            .iter()
            .map(|&variant| SpatialScore {
                variant,
                hits: 0,
                frames: 0,
                per_class: Vec::new(),
            })
            .collect(),
    };
    // per_class_counts[v][k] = (hits, frames)
    let mut per_class_counts = vec![vec![(0usize, 0usize); classes]; variants.len()];
    for clip in clips {
        let loaded = load_set_clip(model, set, clip)?;
        let run = run_clip(model, &loaded, layer, &options.execution)?;
        // EVAL-1: the class of the mean over the steps, and of the last step.
        let k = model.classes();
        let steps = run.fwd.steps();
        if predicted_class(&run.fwd.mean_probs()) == clip.gt_class {
            result.correct_mean += 1;
        }
        if predicted_class(&run.fwd.probs[(steps - 1) * k..]) == clip.gt_class {
            result.correct_last += 1;
        }
        // EVAL-3 for every method.
        for (v, &variant) in variants.iter().enumerate() {
            let (maps, map_size) =
                maps_of(model, &run, variant, clip.gt_class, layer, options.prior)?;
            let (hits, frames) = clip_hits(
                &maps,
                map_size,
                set.frame_size,
                &clip.frames,
                clip.gt_class,
                radius,
            );
            let score = &mut result.pointing[v];
            score.hits += hits;
            score.frames += frames;
            let counts = &mut per_class_counts[v][clip.gt_class];
            counts.0 += hits;
            counts.1 += frames;
        }
        on_clip();
    }
    for (score, counts) in result.pointing.iter_mut().zip(per_class_counts) {
        score.per_class = counts
            .into_iter()
            .enumerate()
            .filter(|(_, (_, frames))| *frames > 0)
            .map(|(k, (hits, frames))| (k, hits, frames))
            .collect();
    }
    Ok(result)
}

/// The Fig. 7 curves (EVAL-12) and the sign check (EVAL-13) of cEB-R.
fn splice2(
    model: &Model,
    set: &SynthSet,
    clips: &[&SetClip],
    options: &EvalOptions,
    on_clip: &mut dyn FnMut(),
) -> Result<Splice2Result, Error> {
    let layer = &options.temporal_layer;
    let variants: Vec<Variant> = temporal_variants(options)
        .into_iter()
        .filter(|v| v.method == Method::Cebr)
        .collect();
    let mut sums = vec![Fig7Sums::default(); variants.len()];
    for (index, clip) in clips.iter().enumerate() {
        let order = SpliceOrder::of(clip.segment, set.frames_per_clip).ok_or_else(|| {
            Error::Json {
                path: set.dir.join(SET_FILE),
                field: format!("clips[{index}].segment"),
                reason: format!(
                    "[{}, {}] is neither at the start nor at the end of the clip of {} frames (splice2 is GT + rand or rand + GT)",
                    clip.segment.0, clip.segment.1, set.frames_per_clip
                ),
            }
        })?;
        if variants.is_empty() {
            on_clip();
            continue;
        }
        let loaded = load_set_clip(model, set, clip)?;
        let run = run_clip(model, &loaded, layer, &options.execution)?;
        for (v, &variant) in variants.iter().enumerate() {
            let (maps, _) = maps_of(model, &run, variant, clip.gt_class, layer, options.prior)?;
            let s = frame_sums(&maps, run.frames);
            let f = &mut sums[v];
            let boundary = order.boundary(clip.segment);
            match order {
                SpliceOrder::GtFirst => {
                    f.gt_first.add(&s, boundary);
                    f.gt_first_check.add(&s, clip.segment);
                }
                SpliceOrder::RandFirst => {
                    f.rand_first.add(&s, boundary);
                    f.rand_first_check.add(&s, clip.segment);
                }
            }
            f.check.add(&s, clip.segment);
        }
        on_clip();
    }
    Ok(Splice2Result {
        layer: layer.clone(),
        figures: variants
            .into_iter()
            .zip(sums)
            .map(|(variant, f)| Fig7 {
                variant,
                gt_first: f.gt_first.curve(),
                rand_first: f.rand_first.curve(),
                gt_first_check: f.gt_first_check,
                rand_first_check: f.rand_first_check,
                check: f.check,
            })
            .collect(),
    })
}

/// Temporal localization (EVAL-4, EVAL-5, EVAL-7) and the temporal pointing game
/// (EVAL-8..EVAL-11).
fn splice3(
    model: &Model,
    set: &SynthSet,
    clips: &[&SetClip],
    options: &EvalOptions,
    notes: &mut Vec<String>,
    on_clip: &mut dyn FnMut(),
) -> Result<Splice3Result, Error> {
    let layer = &options.temporal_layer;
    let variants = temporal_variants(options);
    let mut rng = random_points(set.seed);
    let mut records = Vec::with_capacity(clips.len());
    let mut per_step = true;
    for clip in clips {
        let loaded = load_set_clip(model, set, clip)?;
        let run = run_clip(model, &loaded, layer, &options.execution)?;
        let t_n = run.frames;
        let length = clip.segment.1 - clip.segment.0 + 1;
        let mut detections = Vec::new();
        let mut points = vec![(Pointer::Random, random_point(&mut rng, t_n))];
        let mut push = |signal: Signal, length_setting: Length, d: TemporalDetection| {
            detections.push(ClipDetection {
                signal,
                length: length_setting,
                detection: d,
                correct: matches(d.segment, clip.segment),
            });
        };
        // EVAL-4: the GT probability at every step, when the steps are the frames.
        let p = if run.fwd.steps() == t_n {
            Some(class_probabilities(
                &run.fwd.probs,
                model.classes(),
                clip.gt_class,
            ))
        } else {
            per_step = false;
            None
        };
        if let Some(p) = &p {
            let thresholded = thresholded_probability(p);
            for (setting, l) in [(Length::Known, Some(length)), (Length::Unknown, None)] {
                if let Some(d) = detect(&thresholded, p, l) {
                    push(Signal::Probability, setting, with_common_score(d, p));
                }
            }
            points.push((Pointer::PeakProbability, peak_probability(p)));
        }
        for &variant in &variants {
            let (maps, _) = maps_of(model, &run, variant, clip.gt_class, layer, options.prior)?;
            let s = frame_sums(&maps, t_n);
            // EB-R's sums are not negative: only the known length (paper Sec. 5.2).
            let settings: &[(Length, Option<usize>)] = match variant.method {
                Method::Cebr => &[(Length::Known, Some(length)), (Length::Unknown, None)],
                _ => &[(Length::Known, Some(length))],
            };
            for &(setting, l) in settings {
                if let Some(d) = detect(&s, &s, l) {
                    let d = match &p {
                        Some(p) => with_common_score(d, p),
                        None => d,
                    };
                    push(Signal::Sums(variant), setting, d);
                }
            }
            if variant.method == Method::Cebr {
                points.push((Pointer::Peak(variant), temporal_peak(&s)));
                if let Some(p) = &p {
                    points.push((Pointer::Combined(variant), combined_peak(p, &s)));
                }
            }
        }
        records.push(Splice3Clip {
            file: clip.file.clone(),
            detections: ClipDetections {
                class: clip.gt_class,
                segment: clip.segment,
                detections,
            },
            points: ClipPoints {
                segment: clip.segment,
                points,
            },
        });
        on_clip();
    }
    if !per_step {
        notes.push(
            "the model classifies once per clip (a mean-pool), not per step: no probability baseline, no peak probability"
                .to_string(),
        );
    }
    let mut signals = Vec::new();
    if per_step {
        signals.push(Signal::Probability);
    }
    signals.extend(variants.iter().map(|&v| Signal::Sums(v)));
    let detections: Vec<ClipDetections> = records.iter().map(|r| r.detections.clone()).collect();
    let points: Vec<ClipPoints> = records.iter().map(|r| r.points.clone()).collect();
    let (localization, paired) =
        localization_table(&detections, &signals, set.seed, BOOTSTRAP_RESAMPLES);
    let (pointing, pointing_differences) = pointing_table(&points, set.seed, BOOTSTRAP_RESAMPLES);
    Ok(Splice3Result {
        layer: layer.clone(),
        localization,
        paired,
        pointing,
        pointing_differences,
        signals,
        clips: records,
    })
}

/// The caption table (EVAL-14..EVAL-17): every clip's caption as the model captions it, and
/// for every noun of the set's caption (teacher forcing), the spatial pointing game on its
/// actor's frames and the temporal peak of its sums, for the random and centre baselines and
/// EB-R and cEB-R.
fn caption(
    model: &Model,
    set: &SynthSet,
    clips: &[&SetClip],
    options: &EvalOptions,
    on_clip: &mut dyn FnMut(),
) -> Result<CaptionResult, Error> {
    let captioner = model.captioner.as_ref().ok_or_else(|| Error::Unsupported {
        reason: format!(
            "{}: a caption set is for a captioner, and the model in {} has none",
            set.dir.join(SET_FILE).display(),
            model.dir.display()
        ),
    })?;
    let (spatial, temporal) = (&options.spatial_layer, &options.temporal_layer);
    let (spatial_blob, temporal_blob) = (map_blob(model, spatial)?, map_blob(model, temporal)?);
    // the blobs are kept from the lower of the two layers up
    let keep = if spatial_blob <= temporal_blob {
        spatial
    } else {
        temporal
    };
    let radius = CAPTION_POINTING_RADIUS;
    let variants = recurrent_variants(options);
    let mut scores: Vec<CaptionScore> = [CaptionPointer::Random, CaptionPointer::Centre]
        .into_iter()
        .chain(variants.iter().map(|&v| CaptionPointer::Method(v)))
        .map(CaptionScore::new)
        .collect();
    let mut captioning = CaptioningScore::default();
    let mut rng = caption_random_points(set.seed);
    let mut records = Vec::with_capacity(clips.len());
    let word_index = |w: &str| {
        captioner.word_index(w).ok_or_else(|| Error::Unsupported {
            reason: format!(
                "\"{w}\" is not a word of the model's vocabulary ({})",
                captioner.words[1..].join(", ")
            ),
        })
    };
    for clip in clips {
        let loaded = load_set_clip(model, set, clip)?;
        let run = run_clip(model, &loaded, keep, &options.execution)?;
        let words = clip
            .caption
            .iter()
            .map(|w| word_index(w))
            .collect::<Result<Vec<_>, _>>()?;
        // EVAL-14: teacher forcing over the caption and its end, and greedy decoding
        let v = &run.fwd.temporal.output;
        let n = words.len();
        let argmax = captioner
            .forward(&model.classifier.fc, v, &teacher_inputs(&words, n + 1))
            .argmax_words();
        captioning.clips += 1;
        captioning.teacher_steps += n + 1;
        captioning.teacher_right += (0..=n)
            .filter(|&s| argmax[s] == if s < n { words[s] } else { SENTENCE })
            .count();
        let greedy = captioner.decode(&model.classifier.fc, v);
        captioning.greedy_exact += usize::from(greedy == words);
        let mut names_nouns = true;
        let mut nouns = Vec::with_capacity(clip.nouns.len());
        for (place, noun) in clip.nouns.iter().enumerate() {
            let index = word_index(&noun.word)?;
            let step = words
                .iter()
                .position(|&w| w == index)
                .expect("set.rs checks that a noun is a word of its caption");
            captioning.nouns += 1;
            captioning.teacher_nouns_right += usize::from(argmax[step] == index);
            names_nouns &= greedy.contains(&index);
            // EVAL-15: the frames of the noun's actor; EVAL-16: the baselines
            let frames = noun_frames(&clip.frames, noun.segment, noun.class);
            let mut points = Vec::with_capacity(scores.len());
            let hits = point_hits(&clip.frames, &frames, radius, |_| {
                random_pixel(&mut rng, set.frame_size)
            });
            let t = random_point(&mut rng, run.frames);
            let hit = temporal_pointing_hit(t, noun.segment);
            scores[0].add(&noun.word, place, hits, frames.len(), Some(hit));
            points.push((CaptionPointer::Random, t));
            let centre = frame_centre(set.frame_size);
            let hits = point_hits(&clip.frames, &frames, radius, |_| centre);
            scores[1].add(&noun.word, place, hits, frames.len(), None);
            // EVAL-15, EVAL-17: the methods
            for (i, &variant) in variants.iter().enumerate() {
                let o = CaptionOptions {
                    method: variant.method,
                    word: index,
                    layer: spatial.clone(),
                    lstm_rule: variant.lstm_rule,
                };
                let g = ground_caption(model, &run.fwd, &words, &o, &|_| {})?;
                let map_size = [g.layer_shape[1], g.layer_shape[2]];
                let hits = point_hits(&clip.frames, &frames, radius, |t| {
                    map_peak(&g.maps, map_size, set.frame_size, t)
                });
                let sums = if temporal_blob == spatial_blob {
                    frame_sums(&g.maps, run.frames)
                } else {
                    let signal = frame_backward(
                        model,
                        &run.fwd,
                        &g.feature_signal,
                        temporal_blob,
                        Rule::Excitation(variant.lstm_rule),
                        &|_| {},
                    );
                    let shape = model.frame.blob_shapes[temporal_blob];
                    frame_sums(&channel_sum(&signal, run.frames, shape), run.frames)
                };
                let hit = peak_in_segment(&sums, noun.segment);
                scores[2 + i].add(&noun.word, place, hits, frames.len(), Some(hit));
                points.push((CaptionPointer::Method(variant), temporal_peak(&sums)));
            }
            nouns.push(CaptionNounRecord {
                word: noun.word.clone(),
                segment: noun.segment,
                points,
            });
        }
        captioning.greedy_names_nouns += usize::from(names_nouns);
        let text = |ws: &[usize]| ws.iter().map(|&w| captioner.words[w].clone()).collect();
        records.push(CaptionClip {
            file: clip.file.clone(),
            caption: clip.caption.clone(),
            greedy: text(&greedy),
            nouns,
        });
        on_clip();
    }
    Ok(CaptionResult {
        layer: spatial.clone(),
        radius,
        temporal_layer: temporal.clone(),
        captioning,
        scores,
        clips: records,
    })
}
