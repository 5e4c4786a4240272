//! The protocols of the paper's synthetic experiment (Sec. 5.2): a trimmed action, two videos
//! spliced at the middle (Fig. 7), and an action inserted into another at a random position
//! (Table 2). Clip k of a protocol depends only on (seed, protocol, k).
//! spec/synth.md (SYN-9..SYN-12)

use image::RgbImage;

use super::classes::CLASSES;
use super::draw::Placed;
use super::scene::Video;
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
}

/// The GT lengths of splice3: the paper's 11, 41 and 65 of 128 frames, scaled to 64 and
/// rounded (5.5 -> 6, 20.5 -> 20, 32.5 -> 32), as ebr's task statement fixes them (SYN-12).
pub const SPLICE3_GT_LENGTHS: [usize; 3] = [6, 20, 32];

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Trimmed, Protocol::Splice2, Protocol::Splice3];

    /// The name in set.json and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Trimmed => "trimmed",
            Protocol::Splice2 => "splice2",
            Protocol::Splice3 => "splice3",
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
            Protocol::Trimmed | Protocol::Splice2 => 16,
            Protocol::Splice3 => 64,
        }
    }

    /// Mixed into the seed so that the protocols' clips differ for one seed (SYN-9).
    fn code(self) -> u64 {
        match self {
            Protocol::Trimmed => 1,
            Protocol::Splice2 => 2,
            Protocol::Splice3 => 3,
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
    /// The rand action's class in splices; None for trimmed.
    pub other_class: Option<usize>,
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
    let mut rng = Rng::new(clip_seed);
    let classes = CLASSES.len();
    // SYN-9: the GT class uniform; the rand class uniform among the others.
    let gt_class = rng.below(classes);
    let other = (gt_class + 1 + rng.below(classes - 1)) % classes;
    let t_n = protocol.frames_per_clip();
    let video = |index: u64, class: usize, frames: usize| {
        Video::random(class, frames, &mut Rng::new(derive_seed(clip_seed, index)))
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
    let mut truth = Vec::with_capacity(t_n);
    let mut images = Vec::with_capacity(t_n);
    for part in &parts {
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
    SynthClip {
        gt_class,
        segment,
        other_class,
        truth,
        images,
    }
}
