//! Drawing the synthetic frames: shapes as hard-edged pixel masks, a floating-point canvas and
//! its rounding to 8-bit RGB. spec/synth.md (SYN-2, SYN-3, SYN-8)
//!
//! Only IEEE-exact operations are used (+, -, *, /, sqrt, floor, comparisons): they round the
//! same way on every platform, so a seed gives the same bytes everywhere. No sin, cos, exp or
//! ln (their last bit depends on the platform's math library).

use image::RgbImage;

/// The shapes: the actors' (disk, square, triangle) and the distractors' (ring, cross, bars).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Disk,
    Square,
    /// Apex up, base down; the same orientation whatever the motion (SYN-2).
    Triangle,
    Ring,
    Cross,
    HorizontalBar,
    VerticalBar,
}

/// The width of a ring's band, in pixels (SYN-2).
pub const RING_WIDTH: f64 = 2.5;
/// The width of a cross's arms and of a bar, in pixels (SYN-2).
pub const STROKE: f64 = 3.0;

/// A shape at a place: `center` (row, column) in continuous frame coordinates, where pixel
/// (i, j) spans [i, i + 1) x [j, j + 1) and its centre is (i + 0.5, j + 0.5); `size` the
/// shape's extent (diameter, side, length) in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub shape: Shape,
    pub center: [f64; 2],
    pub size: f64,
}

/// True when the point (y, x) lies in the shape (SYN-2). `dy`, `dx` are taken from the centre,
/// `r` is half the size:
///
/// ```text
/// disk      dy^2 + dx^2 <= r^2
/// square    |dy| <= r and |dx| <= r
/// triangle  -r <= dy <= r and |dx| <= (dy + r) / 2        (apex at the top)
/// ring      (r - RING_WIDTH)^2 <= dy^2 + dx^2 <= r^2
/// cross     (|dx| <= STROKE/2 and |dy| <= r) or (|dy| <= STROKE/2 and |dx| <= r)
/// bar       |dy| <= STROKE/2 and |dx| <= r   (horizontal; vertical: dy and dx swapped)
/// ```
pub fn contains(p: &Placed, y: f64, x: f64) -> bool {
    let dy = y - p.center[0];
    let dx = x - p.center[1];
    let r = p.size / 2.0;
    let half_stroke = STROKE / 2.0;
    let d2 = dy * dy + dx * dx;
    match p.shape {
        Shape::Disk => d2 <= r * r,
        Shape::Square => dy.abs() <= r && dx.abs() <= r,
        Shape::Triangle => dy >= -r && dy <= r && dx.abs() <= (dy + r) / 2.0,
        Shape::Ring => {
            let inner = (r - RING_WIDTH).max(0.0);
            d2 <= r * r && d2 >= inner * inner
        }
        Shape::Cross => {
            (dx.abs() <= half_stroke && dy.abs() <= r) || (dy.abs() <= half_stroke && dx.abs() <= r)
        }
        Shape::HorizontalBar => dy.abs() <= half_stroke && dx.abs() <= r,
        Shape::VerticalBar => dx.abs() <= half_stroke && dy.abs() <= r,
    }
}

/// The pixels a shape may cover: rows and columns [first, last] of a frame `height` x `width`
/// (clipped; empty when the shape lies outside, then first > last).
fn pixel_range(p: &Placed, height: usize, width: usize) -> ([i64; 2], [i64; 2]) {
    let r = p.size / 2.0 + 1.0;
    let span = |c: f64, n: usize| {
        let first = ((c - r).floor() as i64).max(0);
        let last = ((c + r).floor() as i64).min(n as i64 - 1);
        [first, last]
    };
    (span(p.center[0], height), span(p.center[1], width))
}

/// The shape's pixels in a frame `height` x `width`: mask[i * width + j] is true when the
/// centre of pixel (i, j) lies in the shape (SYN-2). This is what `Canvas::paint` colours.
pub fn mask(p: &Placed, height: usize, width: usize) -> Vec<bool> {
    let mut m = vec![false; height * width]; // (H, W)
    let (rows, cols) = pixel_range(p, height, width);
    for i in rows[0]..=rows[1] {
        for j in cols[0]..=cols[1] {
            if contains(p, i as f64 + 0.5, j as f64 + 0.5) {
                m[i as usize * width + j as usize] = true;
            }
        }
    }
    m
}

/// The tight box [top, left, bottom, right] (inclusive pixel indices) of a mask's true pixels,
/// or None when there are none (SYN-8).
pub fn bounding_box(mask: &[bool], height: usize, width: usize) -> Option<[usize; 4]> {
    let mut b: Option<[usize; 4]> = None;
    for i in 0..height {
        for j in 0..width {
            if mask[i * width + j] {
                b = Some(match b {
                    None => [i, j, i, j],
                    Some([t, l, bo, r]) => [t.min(i), l.min(j), bo.max(i), r.max(j)],
                });
            }
        }
    }
    b
}

/// A frame being drawn: RGB values in [0, 1] (unclamped until `to_image`), (H, W, 3).
#[derive(Clone, Debug)]
pub struct Canvas {
    pub height: usize,
    pub width: usize,
    /// (H, W, 3)
    pub rgb: Vec<f64>,
}

impl Canvas {
    pub fn new(height: usize, width: usize) -> Canvas {
        Canvas {
            height,
            width,
            rgb: vec![0.0; height * width * 3],
        }
    }

    /// Overwrites the shape's pixels (those of `mask`) with `colour`.
    pub fn paint(&mut self, p: &Placed, colour: [f64; 3]) {
        let (rows, cols) = pixel_range(p, self.height, self.width);
        for i in rows[0]..=rows[1] {
            for j in cols[0]..=cols[1] {
                if contains(p, i as f64 + 0.5, j as f64 + 0.5) {
                    let at = (i as usize * self.width + j as usize) * 3;
                    self.rgb[at..at + 3].copy_from_slice(&colour);
                }
            }
        }
    }

    /// The 8-bit image: u = round(255 * clamp(v, 0, 1)) (SYN-7).
    pub fn to_image(&self) -> RgbImage {
        let u: Vec<u8> = self
            .rgb
            .iter()
            .map(|&v| (255.0 * v.clamp(0.0, 1.0)).round() as u8)
            .collect();
        RgbImage::from_raw(self.width as u32, self.height as u32, u)
            .expect("Canvas::to_image: H * W * 3 values")
    }
}

/// HSV (each in [0, 1]) to RGB in [0, 1], the usual six-sector formula (SYN-3).
pub fn hsv_to_rgb(h: f64, s: f64, v: f64) -> [f64; 3] {
    let h6 = (h - h.floor()) * 6.0;
    let sector = h6.floor();
    let f = h6 - sector;
    let p = v * (1.0 - s);
    let q = v * (1.0 - s * f);
    let t = v * (1.0 - s * (1.0 - f));
    match sector as i64 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// A smooth periodic profile in [0, 1] of period 1: the triangle wave 1 - |2 frac(u) - 1|
/// through smoothstep 3 w^2 - 2 w^3 (a polynomial stand-in for a sinusoid) (SYN-5).
pub fn wave(u: f64) -> f64 {
    let w = 1.0 - (2.0 * (u - u.floor()) - 1.0).abs();
    w * w * (3.0 - 2.0 * w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_of_size_3_covers_the_plus_of_pixels_around_its_centre() {
        // Centre at the middle of pixel (2, 2): r = 1.5; pixel centres at distance 0, 1 and
        // sqrt(2) < 1.5 are in, distance 2 is out.
        let p = Placed {
            shape: Shape::Disk,
            center: [2.5, 2.5],
            size: 3.0,
        };
        let m = mask(&p, 5, 5);
        let count = m.iter().filter(|&&b| b).count();
        assert_eq!(count, 9);
        assert_eq!(bounding_box(&m, 5, 5), Some([1, 1, 3, 3]));
    }

    #[test]
    fn the_triangle_points_up() {
        let p = Placed {
            shape: Shape::Triangle,
            center: [8.0, 8.0],
            size: 12.0,
        };
        let m = mask(&p, 16, 16);
        let row_width = |i: usize| (0..16).filter(|&j| m[i * 16 + j]).count();
        assert!(
            row_width(3) < row_width(12),
            "narrow at the top, wide at the bottom"
        );
    }

    #[test]
    fn hsv_primaries_and_wave_extremes() {
        assert_eq!(hsv_to_rgb(0.0, 1.0, 1.0), [1.0, 0.0, 0.0]);
        assert_eq!(hsv_to_rgb(1.0 / 3.0, 1.0, 1.0)[1], 1.0);
        assert_eq!(wave(0.0), 0.0);
        assert_eq!(wave(0.5), 1.0);
        assert_eq!(wave(1.25), 0.5);
    }

    #[test]
    fn a_shape_outside_the_frame_covers_nothing() {
        let p = Placed {
            shape: Shape::Square,
            center: [-20.0, 80.0],
            size: 10.0,
        };
        assert_eq!(bounding_box(&mask(&p, 64, 64), 64, 64), None);
        let mut canvas = Canvas::new(64, 64);
        canvas.paint(&p, [1.0, 1.0, 1.0]);
        assert!(canvas.rgb.iter().all(|&v| v == 0.0));
    }
}
