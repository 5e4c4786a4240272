//! The protocols of the paper's synthetic experiment (Sec. 5.2): a trimmed action, two videos
//! spliced at the middle (Fig. 7), and an action inserted into another at a random position
//! (Table 2); and for caption grounding (Sec. 4.2), two actors of different shapes in sequence
//! with a caption naming them. Clip k of a protocol depends only on (seed, protocol, k).
//! spec/synth.md (SYN-9..SYN-12, SYN-16, SYN-17)

use image::RgbImage;

use super::caption::{caption_of, CaptionTruth};
use super::classes::CLASSES;
use super::draw::Placed;
use super::scene::{Video, VideoKind};
use super::seed::derive_seed;
use crate::error::Error;
use crate::rng::Rng;

/// A protocol: how a clip is made of videos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// One action, 16 frames (SYN-10).
    Trimmed,
    /// rand + GT or GT + rand, 8 + 8 frames (SYN-11).
    Splice2,
    /// rand + GT + rand, 64 frames, GT of 6, 20 or 32 frames (SYN-12).
    Splice3,
    /// Two actors of different shapes in sequence, 8 + 8 frames, with a caption (SYN-16).
    Caption,
}

/// The GT lengths of splice3: the paper's 11, 41 and 65 of 128 frames, scaled to 64 and
/// rounded (5.5 -> 6, 20.5 -> 20, 32.5 -> 32), as ebr's task statement fixes them (SYN-12).
pub const SPLICE3_GT_LENGTHS: [usize; 3] = [6, 20, 32];

impl Protocol {
    /// Every protocol.
    pub const ALL: [Protocol; 4] = [
        Protocol::Trimmed,
        Protocol::Splice2,
        Protocol::Splice3,
        Protocol::Caption,
    ];

    /// The action protocols: what `--protocol all` writes (a caption set is written on its
    /// own: it is for a captioning model, SYN-15).
    pub const ACTIONS: [Protocol; 3] = [Protocol::Trimmed, Protocol::Splice2, Protocol::Splice3];

    /// The name in set.json and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Trimmed => "trimmed",
            Protocol::Splice2 => "splice2",
            Protocol::Splice3 => "splice3",
            Protocol::Caption => "caption",
        }
    }

    /// The protocol of a name (as in set.json's "protocol").
    pub fn from_name(name: &str) -> Result<Protocol, Error> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| Error::UnknownName {
                kind: "protocol".to_string(),
                given: name.to_string(),
                valid: Protocol::ALL.iter().map(|p| p.name().to_string()).collect(),
            })
    }

    /// T, the frames of every clip of the protocol.
    pub fn frames_per_clip(self) -> usize {
        match self {
            Protocol::Trimmed | Protocol::Splice2 | Protocol::Caption => 16,
            Protocol::Splice3 => 64,
        }
    }

    /// Mixed into the seed so that the protocols' clips differ for one seed (SYN-9).
    fn code(self) -> u64 {
        match self {
            Protocol::Trimmed => 1,
            Protocol::Splice2 => 2,
            Protocol::Splice3 => 3,
            Protocol::Caption => 4,
        }
    }
}

/// The ground truth of one frame: the class shown and where its actor is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameTruth {
    pub class: usize,
    /// [top, left, bottom, right], inclusive pixels of the 64 x 64 frame: the tight box of the
    /// actor's pixels (SYN-8).
    pub bbox: [usize; 4],
    /// The actor's shape and place, to draw it alone (`draw::mask`).
    pub actor: Placed,
}

/// One clip with its ground truth (a set.json entry, and the frames).
#[derive(Clone, Debug)]
pub struct SynthClip {
    /// The class to ground: the trimmed clip's, or the spliced GT action's.
    pub gt_class: usize,
    /// [start, end], inclusive frames of the GT action.
    pub segment: [usize; 2],
    /// The rand action's class in splices, the second action's in a caption clip; None for
    /// trimmed.
    pub other_class: Option<usize>,
    /// The caption and its nouns (caption clips only, SYN-17).
    pub caption: Option<CaptionTruth>,
    pub truth: Vec<FrameTruth>,
    /// The RGB frames, 64 x 64.
    pub images: Vec<RgbImage>,
}

/// A part of a clip: `len` frames of `video`, from its frame `from`.
struct Part<'a> {
    video: &'a Video,
    from: usize,
    len: usize,
}

/// Clip k of `protocol` for `seed` (SYN-9..SYN-12). The clip's random numbers come from the
/// stream `derive_seed(derive_seed(seed, protocol code), k)`; its videos from streams derived
/// from that one (0: GT, 1: rand).
pub fn generate_clip(seed: u64, protocol: Protocol, k: usize) -> SynthClip {
    let clip_seed = derive_seed(derive_seed(seed, protocol.code()), k as u64);
    if protocol == Protocol::Caption {
        return caption_clip(clip_seed);
    }
    let mut rng = Rng::new(clip_seed);
    let classes = CLASSES.len();
    // SYN-9: the GT class uniform; the rand class uniform among the others.
    let gt_class = rng.below(classes);
    let other = (gt_class + 1 + rng.below(classes - 1)) % classes;
    let t_n = protocol.frames_per_clip();
    let video = |index: u64, class: usize, frames: usize| {
        Video::random(
            class,
            frames,
            VideoKind::Action,
            &mut Rng::new(derive_seed(clip_seed, index)),
        )
    };
    let (segment, other_class, gt_video, rand_video) = match protocol {
        // SYN-10: one video of the GT class.
        Protocol::Trimmed => ([0, t_n - 1], None, video(0, gt_class, t_n), None),
        // SYN-11: even k rand + GT, odd k GT + rand; the boundary in the middle.
        Protocol::Splice2 => {
            let half = t_n / 2;
            let segment = if k.is_multiple_of(2) {
                [half, t_n - 1]
            } else {
                [0, half - 1]
            };
            (
                segment,
                Some(other),
                video(0, gt_class, half),
                Some(video(1, other, t_n - half)),
            )
        }
        // SYN-12: GT length by k mod 3, its start uniform with rand on both sides.
        Protocol::Caption => unreachable!("caption clips are made by caption_clip"),
        Protocol::Splice3 => {
            let len = SPLICE3_GT_LENGTHS[k % SPLICE3_GT_LENGTHS.len()];
            let start = 1 + rng.below(t_n - len - 1);
            (
                [start, start + len - 1],
                Some(other),
                video(0, gt_class, len),
                Some(video(1, other, t_n - len)),
            )
        }
    };
    // The parts in clip order: the rand video's frames before the segment, the GT video, the
    // rand video's remaining frames.
    let [start, end] = segment;
    let mut parts = Vec::new();
    if let Some(rand) = &rand_video {
        if start > 0 {
            parts.push(Part {
                video: rand,
                from: 0,
                len: start,
            });
        }
    }
    parts.push(Part {
        video: &gt_video,
        from: 0,
        len: end - start + 1,
    });
    if let Some(rand) = &rand_video {
        if end + 1 < t_n {
            parts.push(Part {
                video: rand,
                from: start,
                len: t_n - end - 1,
            });
        }
    }
    let (truth, images) = render_parts(&parts, t_n);
    SynthClip {
        gt_class,
        segment,
        other_class,
        caption: None,
        truth,
        images,
    }
}

/// The frames of `parts` in order, with their ground truth: `t_n` in all.
fn render_parts(parts: &[Part], t_n: usize) -> (Vec<FrameTruth>, Vec<RgbImage>) {
    let mut truth = Vec::with_capacity(t_n);
    let mut images = Vec::with_capacity(t_n);
    for part in parts {
        for t in part.from..part.from + part.len {
            truth.push(FrameTruth {
                class: part.video.actor.class,
                bbox: part.video.actor_box(t),
                actor: part.video.actor.at(t),
            });
            images.push(part.video.render(t));
        }
    }
    debug_assert_eq!(truth.len(), t_n);
    (truth, images)
}

/// A caption clip from its clip seed (SYN-16, SYN-17): the first action uniform among the six
/// classes; the second's shape uniform among the two other shapes, its direction uniform
/// among that shape's two; each its own video of 8 frames (streams 0 and 1 of the clip seed,
/// as splice2's GT and rand videos); frames 0-7 the first, 8-15 the second.
fn caption_clip(clip_seed: u64) -> SynthClip {
    let mut rng = Rng::new(clip_seed);
    // SYN-16: the classes come in pairs of one shape (SYN-1): class = 2 * shape + direction
    let first = rng.below(CLASSES.len());
    let second_shape = (first / 2 + 1 + rng.below(2)) % 3;
    let second = 2 * second_shape + rng.below(2);
    let t_n = Protocol::Caption.frames_per_clip();
    let half = t_n / 2;
    let video = |index: u64, class: usize| {
        Video::random(
            class,
            half,
            VideoKind::Caption,
            &mut Rng::new(derive_seed(clip_seed, index)),
        )
    };
    let (first_video, second_video) = (video(0, first), video(1, second));
    let parts = [
        Part {
            video: &first_video,
            from: 0,
            len: half,
        },
        Part {
            video: &second_video,
            from: 0,
            len: t_n - half,
        },
    ];
    let (truth, images) = render_parts(&parts, t_n);
    // SYN-17: the caption names both actors in order
    let caption = caption_of(first, [0, half - 1], second, [half, t_n - 1]);
    SynthClip {
        gt_class: first,
        segment: [0, half - 1],
        other_class: Some(second),
        caption: Some(caption),
        truth,
        images,
    }
}
