//! One synthetic video: a drifting background, distractor shapes, the actor that performs the
//! action, and pixel noise. The protocols (protocol.rs) splice such videos into clips, as the
//! paper splices two UCF-101 videos. spec/synth.md (SYN-3..SYN-8)

use image::RgbImage;

use super::classes::{unit_direction, CLASSES};
use super::draw::{bounding_box, hsv_to_rgb, mask, wave, Canvas, Placed, Shape};
use super::seed::derive_seed;
use crate::rng::Rng;

/// Frames are FRAME_SIZE x FRAME_SIZE RGB (SYN-7).
pub const FRAME_SIZE: usize = 64;
/// The actor moves in passes of at most this many frames; each pass starts at a new place
/// (SYN-4). Equal to a trimmed clip's length, so a trimmed clip is one pass.
pub const PASS_FRAMES: usize = 16;
/// The actor's size (diameter or side) is uniform in this range, in pixels (SYN-4).
pub const ACTOR_SIZE: [f64; 2] = [10.0, 16.0];
/// The actor's speed is uniform in this range, in pixels per frame (SYN-4).
pub const ACTOR_SPEED: [f64; 2] = [1.5, 3.0];
/// The distractors' size and speed ranges (SYN-6).
pub const DISTRACTOR_SIZE: [f64; 2] = [10.0, 16.0];
pub const DISTRACTOR_SPEED: [f64; 2] = [0.5, 2.5];
/// Pixel noise: (u1 + u2 - 1) * NOISE_AMPLITUDE per pixel and channel, u1, u2 uniform in
/// [0, 1): triangular on [-A, A], standard deviation A / sqrt(6) (about 8 / 255) (SYN-7).
pub const NOISE_AMPLITUDE: f64 = 0.08;

/// The background pattern (SYN-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackgroundKind {
    /// A smooth ramp between two colours with a long period (48-128 px).
    Gradient,
    /// Stripes of a short period (6-14 px).
    Stripes,
}

/// A pattern of two colours along a direction, drifting along it (SYN-5):
/// `colour(t, y, x) = a + (b - a) * wave(((y, x) . direction - drift * t) / period + phase)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Background {
    pub kind: BackgroundKind,
    pub colours: [[f64; 3]; 2],
    /// Unit vector (row, column).
    pub direction: [f64; 2],
    pub period: f64,
    pub phase: f64,
    /// Pixels per frame along `direction`.
    pub drift: f64,
}

impl Background {
    fn colour(&self, t: usize, y: f64, x: f64) -> [f64; 3] {
        let along = y * self.direction[0] + x * self.direction[1] - self.drift * t as f64;
        let w = wave(along / self.period + self.phase);
        let [a, b] = self.colours;
        [
            a[0] + (b[0] - a[0]) * w,
            a[1] + (b[1] - a[1]) * w,
            a[2] + (b[2] - a[2]) * w,
        ]
    }
}

/// A distractor: a ring, cross or bar moving in a straight line and bouncing off the frame's
/// edges so that its centre stays in [size/2, FRAME_SIZE - size/2] (SYN-6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distractor {
    pub shape: Shape,
    pub size: f64,
    pub colour: [f64; 3],
    pub start: [f64; 2],
    /// Pixels per frame (row, column).
    pub velocity: [f64; 2],
}

impl Distractor {
    /// Where the distractor is at frame t.
    pub fn at(&self, t: usize) -> Placed {
        let r = self.size / 2.0;
        let (lo, hi) = (r, FRAME_SIZE as f64 - r);
        let mut center = [0.0; 2];
        for (a, c) in center.iter_mut().enumerate() {
            *c = reflect(self.start[a] + self.velocity[a] * t as f64, lo, hi);
        }
        Placed {
            shape: self.shape,
            center,
            size: self.size,
        }
    }
}

/// `p` folded into [lo, hi] by reflections at both ends (a bounce).
fn reflect(p: f64, lo: f64, hi: f64) -> f64 {
    let span = hi - lo;
    if span <= 0.0 {
        return lo;
    }
    let period = 2.0 * span;
    let u = (p - lo) - period * ((p - lo) / period).floor(); // in [0, 2 span)
    lo + if u > span { period - u } else { u }
}

/// One pass of the actor: frames first..first + frames of the video, starting at `start` and
/// moving `step` pixels per frame (SYN-4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pass {
    pub first: usize,
    pub frames: usize,
    pub start: [f64; 2],
    pub step: f64,
}

/// How a video is recorded (SYN-4): an action video (the trimmed and spliced protocols) shows
/// the whole action in every pass and colours its actor by class; a caption video keeps the
/// rules the captioner was trained with (passes at the native speed, any colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoKind {
    Action,
    Caption,
}

/// The actor: a shape of the class, one colour and speed for the video, moving in the class's
/// direction in passes (SYN-4).
#[derive(Clone, Debug, PartialEq)]
pub struct Actor {
    pub class: usize,
    pub size: f64,
    pub colour: [f64; 3],
    /// Pixels per frame along the class's unit direction.
    pub speed: f64,
    pub passes: Vec<Pass>,
}

impl Actor {
    /// Where the actor is at frame t: `start + step * (t - first) * direction` of t's pass.
    /// Panics if t is past the video's last frame.
    pub fn at(&self, t: usize) -> Placed {
        let pass = self
            .passes
            .iter()
            .find(|p| t >= p.first && t < p.first + p.frames)
            .expect("Actor::at: t is a frame of the video");
        let class = &CLASSES[self.class];
        let u = unit_direction(class);
        let travelled = pass.step * (t - pass.first) as f64;
        Placed {
            shape: class.shape,
            center: [
                pass.start[0] + u[0] * travelled,
                pass.start[1] + u[1] * travelled,
            ],
            size: self.size,
        }
    }
}

/// One video of `frames` frames showing one action (SYN-3).
#[derive(Clone, Debug, PartialEq)]
pub struct Video {
    pub frames: usize,
    pub background: Background,
    pub distractors: Vec<Distractor>,
    pub actor: Actor,
    /// The seed of the pixel noise: frame t's noise comes from `derive_seed(noise_seed, t)`.
    pub noise_seed: u64,
}

/// A random colour for an actor or a distractor: saturated and bright (SYN-3).
/// The actor's colour in an action video: class k's hue band [k / 6, (k + 0.5) / 6), saturation
/// and value as a vivid colour; so a single frame shows the class, as most frames of a real
/// action video do (SYN-3).
fn class_colour(class: usize, rng: &mut Rng) -> [f64; 3] {
    let h = (class as f64 + rng.range(0.0, 0.5)) / CLASSES.len() as f64;
    let s = rng.range(0.6, 1.0);
    let v = rng.range(0.75, 1.0);
    hsv_to_rgb(h, s, v)
}

/// The frame counts of the passes of a video of `frames` frames (SYN-4): an action video has
/// round(frames / 16) passes (at least one) of as equal lengths as can be (the longer first);
/// a caption video has passes of 16 frames, the last one shorter.
fn pass_lengths(kind: VideoKind, frames: usize) -> Vec<usize> {
    match kind {
        VideoKind::Action => {
            let count = ((frames + PASS_FRAMES / 2) / PASS_FRAMES).max(1);
            (0..count)
                .map(|i| frames / count + usize::from(i < frames % count))
                .collect()
        }
        VideoKind::Caption => (0..frames.div_ceil(PASS_FRAMES))
            .map(|i| PASS_FRAMES.min(frames - i * PASS_FRAMES))
            .collect(),
    }
}

fn vivid_colour(rng: &mut Rng) -> [f64; 3] {
    let h = rng.uniform();
    let s = rng.range(0.6, 1.0);
    let v = rng.range(0.75, 1.0);
    hsv_to_rgb(h, s, v)
}

/// A random background colour: muted and darker than the vivid colours (SYN-5).
fn muted_colour(rng: &mut Rng) -> [f64; 3] {
    let h = rng.uniform();
    let s = rng.range(0.0, 0.5);
    let v = rng.range(0.2, 0.6);
    hsv_to_rgb(h, s, v)
}

/// A random unit vector (row, column): a point uniform in [-1, 1]^2, kept if its norm is in
/// [0.1, 1] (uniform direction), normalized.
fn random_direction(rng: &mut Rng) -> [f64; 2] {
    loop {
        let y = rng.range(-1.0, 1.0);
        let x = rng.range(-1.0, 1.0);
        let n2 = y * y + x * x;
        if (0.01..=1.0).contains(&n2) {
            let n = n2.sqrt();
            return [y / n, x / n];
        }
    }
}

impl Video {
    /// A random video of `class` with `frames` frames. The draws from `rng`, in this order:
    /// the background (SYN-5), the distractors (SYN-6), the actor (SYN-4), the noise seed.
    pub fn random(class: usize, frames: usize, video_kind: VideoKind, rng: &mut Rng) -> Video {
        // SYN-5: the background.
        let kind = if rng.below(2) == 0 {
            BackgroundKind::Gradient
        } else {
            BackgroundKind::Stripes
        };
        let colours = [muted_colour(rng), muted_colour(rng)];
        let direction = random_direction(rng);
        let period = match kind {
            BackgroundKind::Gradient => rng.range(48.0, 128.0),
            BackgroundKind::Stripes => rng.range(6.0, 14.0),
        };
        let phase = rng.uniform();
        let drift = rng.range(0.25, 1.5);
        let background = Background {
            kind,
            colours,
            direction,
            period,
            phase,
            drift,
        };

        // SYN-6: 2 to 4 distractors.
        let count = 2 + rng.below(3);
        let mut distractors = Vec::with_capacity(count);
        for _ in 0..count {
            let shape = [
                Shape::Ring,
                Shape::Cross,
                Shape::HorizontalBar,
                Shape::VerticalBar,
            ][rng.below(4)];
            let size = rng.range(DISTRACTOR_SIZE[0], DISTRACTOR_SIZE[1]);
            let colour = vivid_colour(rng);
            let r = size / 2.0;
            let start = [
                rng.range(r, FRAME_SIZE as f64 - r),
                rng.range(r, FRAME_SIZE as f64 - r),
            ];
            let d = random_direction(rng);
            let speed = rng.range(DISTRACTOR_SPEED[0], DISTRACTOR_SPEED[1]);
            distractors.push(Distractor {
                shape,
                size,
                colour,
                start,
                velocity: [d[0] * speed, d[1] * speed],
            });
        }

        // SYN-4: the actor.
        let size = rng.range(ACTOR_SIZE[0], ACTOR_SIZE[1]);
        let colour = match video_kind {
            VideoKind::Action => class_colour(class, rng),
            VideoKind::Caption => vivid_colour(rng),
        };
        let speed = rng.range(ACTOR_SPEED[0], ACTOR_SPEED[1]);
        let u = unit_direction(&CLASSES[class]);
        let r = size / 2.0;
        let mut passes = Vec::new();
        let mut first = 0;
        for n in pass_lengths(video_kind, frames) {
            // An action pass samples the whole action (16 frames' travel) at its n frames
            // (temporal subsampling, the paper's Sec. 5.2); a caption pass is a crop at the
            // native speed.
            let travel = match video_kind {
                VideoKind::Action => speed * (PASS_FRAMES - 1) as f64,
                VideoKind::Caption => speed * (n - 1) as f64,
            };
            let step = if n > 1 { travel / (n - 1) as f64 } else { 0.0 };
            let mut start = [0.0; 2];
            for (a, s) in start.iter_mut().enumerate() {
                // The centre stays in [r, FRAME_SIZE - r] from the first to the last frame.
                let d = u[a] * travel;
                let lo = r + (-d).max(0.0);
                let hi = FRAME_SIZE as f64 - r - d.max(0.0);
                *s = rng.range(lo, hi);
            }
            passes.push(Pass {
                first,
                frames: n,
                start,
                step,
            });
            first += n;
        }
        let actor = Actor {
            class,
            size,
            colour,
            speed,
            passes,
        };
        let noise_seed = rng.next_u64();
        Video {
            frames,
            background,
            distractors,
            actor,
            noise_seed,
        }
    }

    /// Frame t: the background, the distractors in order, the actor on top, then the noise on
    /// every pixel; rounded to 8 bits (SYN-7).
    pub fn render(&self, t: usize) -> RgbImage {
        let n = FRAME_SIZE;
        let mut canvas = Canvas::new(n, n);
        for i in 0..n {
            for j in 0..n {
                let c = self.background.colour(t, i as f64 + 0.5, j as f64 + 0.5);
                canvas.rgb[(i * n + j) * 3..(i * n + j) * 3 + 3].copy_from_slice(&c);
            }
        }
        for d in &self.distractors {
            canvas.paint(&d.at(t), d.colour);
        }
        canvas.paint(&self.actor.at(t), self.actor.colour);
        let mut noise = Rng::new(derive_seed(self.noise_seed, t as u64));
        for v in canvas.rgb.iter_mut() {
            *v += (noise.uniform() + noise.uniform() - 1.0) * NOISE_AMPLITUDE;
        }
        canvas.to_image()
    }

    /// The actor's box at frame t: [top, left, bottom, right], inclusive, of the pixels the
    /// actor covers (SYN-8). The actor stays inside the frame, so it always covers some.
    pub fn actor_box(&self, t: usize) -> [usize; 4] {
        let m = mask(&self.actor.at(t), FRAME_SIZE, FRAME_SIZE);
        bounding_box(&m, FRAME_SIZE, FRAME_SIZE)
            .expect("Video::actor_box: the actor lies inside the frame (SYN-4)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_bounces_at_both_ends() {
        assert_eq!(reflect(5.0, 0.0, 10.0), 5.0);
        assert_eq!(reflect(12.0, 0.0, 10.0), 8.0);
        assert_eq!(reflect(-3.0, 0.0, 10.0), 3.0);
        assert_eq!(reflect(23.0, 0.0, 10.0), 3.0);
    }

    #[test]
    fn the_actor_stays_inside_and_moves_its_way() {
        for seed in 0..50u64 {
            let mut rng = Rng::new(seed);
            let class = seed as usize % CLASSES.len();
            let kind = [VideoKind::Action, VideoKind::Caption][seed as usize % 2];
            let video = Video::random(class, 40, kind, &mut rng);
            let r = video.actor.size / 2.0;
            for t in 0..40 {
                let c = video.actor.at(t).center;
                for a in c {
                    assert!(a >= r - 1e-9 && a <= FRAME_SIZE as f64 - r + 1e-9, "{a}");
                }
            }
            let p0 = video.actor.at(0).center;
            let p1 = video.actor.at(1).center;
            let dir = CLASSES[class].direction;
            for a in 0..2 {
                let moved = p1[a] - p0[a];
                assert_eq!(moved.signum() as i32 * (moved.abs() > 1e-9) as i32, dir[a]);
            }
        }
    }

    #[test]
    fn pass_lengths_by_hand() {
        // SYN-4: round(L / 16) passes of equal lengths for an action video.
        assert_eq!(pass_lengths(VideoKind::Action, 6), [6]);
        assert_eq!(pass_lengths(VideoKind::Action, 20), [20]);
        assert_eq!(pass_lengths(VideoKind::Action, 32), [16, 16]);
        assert_eq!(pass_lengths(VideoKind::Action, 58), [15, 15, 14, 14]);
        assert_eq!(pass_lengths(VideoKind::Action, 44), [15, 15, 14]);
        assert_eq!(pass_lengths(VideoKind::Caption, 8), [8]);
        assert_eq!(pass_lengths(VideoKind::Caption, 40), [16, 16, 8]);
    }

    #[test]
    fn an_action_pass_spans_the_whole_action_and_its_hue_is_the_class_band() {
        // SYN-4a: whatever the number of frames, a pass travels 15 v pixels; a caption pass
        // travels (n - 1) v. SYN-3b: the actor's hue lies in [k / 6, (k + 0.5) / 6).
        for seed in 0..30u64 {
            let class = seed as usize % CLASSES.len();
            for frames in [6, 16, 20] {
                let travel = |kind| {
                    let v = Video::random(class, frames, kind, &mut Rng::new(seed));
                    let (a, b) = (v.actor.at(0).center, v.actor.at(frames - 1).center);
                    let d = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
                    (d, v.actor.speed, v.actor.colour)
                };
                let (d, v, colour) = travel(VideoKind::Action);
                assert!(
                    (d - 15.0 * v).abs() < 1e-9,
                    "{frames} frames: {d} vs {}",
                    15.0 * v
                );
                let hue = hue_of(colour);
                let band = class as f64 / 6.0;
                assert!(hue >= band - 1e-9 && hue < band + 0.5 / 6.0 + 1e-9, "{hue}");
                if frames <= PASS_FRAMES {
                    let (d, v, _) = travel(VideoKind::Caption);
                    assert!((d - (frames - 1) as f64 * v).abs() < 1e-9);
                }
            }
        }
    }

    /// The hue in [0, 1) of an RGB colour (inverse of the six-sector formula).
    fn hue_of(c: [f64; 3]) -> f64 {
        let max = c[0].max(c[1]).max(c[2]);
        let min = c[0].min(c[1]).min(c[2]);
        let d = max - min;
        let h = if max == c[0] {
            ((c[1] - c[2]) / d).rem_euclid(6.0)
        } else if max == c[1] {
            (c[2] - c[0]) / d + 2.0
        } else {
            (c[0] - c[1]) / d + 4.0
        };
        h / 6.0
    }
}
