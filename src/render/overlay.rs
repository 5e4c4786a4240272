//! The demo's drawing of one frame's saliency map over the frame (util_LSTM.showAttMap):
//! clip the negatives, stretch to [0, 1], resize bicubically to the image, color with 'jet'
//! and blend with an alpha of m^0.8. spec/render.md (REN-1, REN-2, REN-4)

use image::RgbImage;

use super::colormap::jet_unit;
use crate::resize::resize_bicubic;

/// The exponent of the overlay's alpha: strong evidence is opaque, weak evidence shows the
/// frame through.
pub const OVERLAY_GAMMA: f64 = 0.8;

/// The map's normalization for drawing, in f32 as the demo's numpy code: negatives clipped
/// (`max(v, 0)`; a NaN becomes 0), then `m -= min(m)`, then `m /= max(m)` if `max(m) > 0`.
/// A constant map (a zero map included) becomes all zeros. spec/render.md (REN-1)
pub fn normalize_for_drawing(map: &[f32]) -> Vec<f32> {
    // 1. clip: the drawing shows only the evidence for the class.
    let mut m: Vec<f32> = map.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect();
    // 2. m -= min(m)
    let mut min = f32::INFINITY;
    for &v in &m {
        min = min.min(v);
    }
    for v in m.iter_mut() {
        *v -= min;
    }
    // 3. m /= max(m) where max(m) > 0
    let mut max = 0.0f32;
    for &v in &m {
        max = max.max(v);
    }
    if max > 0.0 {
        for v in m.iter_mut() {
            *v /= max;
        }
    }
    m
}

/// `map` (h, w) drawn over `image` (the model's input frame): REN-1 normalization,
/// `resize_bicubic` to the image's size clamped to [0, 1] (REN-2), then per pixel and channel
///
/// ```text
/// out = (1 - m^0.8) * img + m^0.8 * jet(m)          img = pixel / 255, jet(m) in [0, 1]
/// ```
///
/// in f64, rounded to the nearest 8-bit value (REN-4). Where m = 0 the pixel is unchanged, so a
/// constant or empty map returns a copy of the image. Panics if `map.len() != h * w` (a
/// programmer error). spec/render.md (REN-4)
pub fn overlay(image: &RgbImage, map: &[f32], h: usize, w: usize) -> RgbImage {
    assert_eq!(
        map.len(),
        h * w,
        "overlay: map has {} values, expected (h={h}, w={w})",
        map.len()
    );
    let (out_w, out_h) = (image.width(), image.height());
    let m_small = normalize_for_drawing(map); // (h, w)
    let m_full = resize_bicubic(&m_small, h, w, out_h as usize, out_w as usize); // (out_h, out_w)
    let mut out = RgbImage::new(out_w, out_h);
    for i in 0..out_h {
        for j in 0..out_w {
            // REN-2: the cubic overshoots near sharp edges; clamp as skimage's clip=True.
            let m = m_full[i as usize * out_w as usize + j as usize].clamp(0.0, 1.0);
            let alpha = (m as f64).powf(OVERLAY_GAMMA);
            let color = jet_unit(m);
            let pixel = image.get_pixel(j, i);
            let mut blended = [0u8; 3];
            for c in 0..3 {
                let img = pixel[c] as f64 / 255.0;
                let value = (1.0 - alpha) * img + alpha * color[c];
                blended[c] = (value * 255.0).round().clamp(0.0, 255.0) as u8;
            }
            out.put_pixel(j, i, image::Rgb(blended));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x6 image with a different color in every pixel.
    fn test_image() -> RgbImage {
        RgbImage::from_fn(6, 4, |x, y| {
            image::Rgb([
                (x * 40) as u8,
                (y * 60) as u8,
                (255 - x * 20 - y * 10) as u8,
            ])
        })
    }

    #[test]
    fn normalization_by_hand() {
        // clip: [0, 1, 3, 0]; min 0; max 3 -> [0, 1/3, 1, 0]
        assert_eq!(
            normalize_for_drawing(&[-2.0, 1.0, 3.0, 0.0]),
            vec![0.0, 1.0 / 3.0, 1.0, 0.0]
        );
        // all positive: min 1 is subtracted first: [0, 1, 3] / 3
        assert_eq!(
            normalize_for_drawing(&[1.0, 2.0, 4.0]),
            vec![0.0, 1.0 / 3.0, 1.0]
        );
        // constant, zero, all negative, NaN, empty
        assert_eq!(normalize_for_drawing(&[0.7; 3]), vec![0.0; 3]);
        assert_eq!(normalize_for_drawing(&[0.0; 3]), vec![0.0; 3]);
        assert_eq!(normalize_for_drawing(&[-1.0, -5.0]), vec![0.0; 2]);
        assert_eq!(normalize_for_drawing(&[f32::NAN, 2.0]), vec![0.0, 1.0]);
        assert_eq!(normalize_for_drawing(&[]), Vec::<f32>::new());
    }

    #[test]
    fn a_constant_map_leaves_the_image_unchanged() {
        let image = test_image();
        assert_eq!(overlay(&image, &[0.25; 6], 2, 3), image);
        assert_eq!(overlay(&image, &[0.0; 6], 2, 3), image);
        assert_eq!(overlay(&image, &[-1.0; 4], 2, 2), image);
        assert_eq!(overlay(&image, &[], 0, 0), image);
    }

    #[test]
    fn the_cubic_overshoot_is_clamped() {
        // A (1, 2) map [0, 5] -> m = [0, 1], resized to the 6 columns of the image (scale
        // 2/6; every row replicates the one map row).
        // col 5: src = 5.5/3 - 0.5 = 1.333, taps 0,1,1,1 (clamped): m = 1 - W(1.333) > 1,
        //   clamped to 1: alpha = 1 and the pixel is jet(1) = (0.5, 0, 0) -> 127.5 -> 128.
        // col 0: src = 0.5/3 - 0.5 = -0.333, taps 0,0,0,1: m = W(1.333) < 0, clamped to 0:
        //   the pixel is unchanged.
        let image = test_image();
        let out = overlay(&image, &[0.0, 5.0], 1, 2);
        for y in 0..4 {
            assert_eq!(out.get_pixel(5, y).0, [128, 0, 0], "row {y}");
            assert_eq!(out.get_pixel(0, y), image.get_pixel(0, y), "row {y}");
        }
    }

    #[test]
    fn one_blend_by_hand() {
        // A (1, 3) map [0, 1, 2] on a (1, 3) image (no resize: the identity).
        // REN-1: min 0, max 2 -> m = [0, 0.5, 1].
        // m = 0: alpha 0, the pixel (100, 200, 50) is unchanged.
        // m = 0.5: alpha = 0.5^0.8 = 0.574349; jet(0.5) = (0.490196, 1, 0.477546)
        //   (colormap.rs); img = (100, 200, 50) / 255 = (0.392157, 0.784314, 0.196078):
        //   red   = 0.425651 * 0.392157 + 0.574349 * 0.490196 = 0.448465 -> 114.36 -> 114
        //   green = 0.425651 * 0.784314 + 0.574349 * 1        = 0.908193 -> 231.59 -> 232
        //   blue  = 0.425651 * 0.196078 + 0.574349 * 0.477546 = 0.357739 -> 91.22  -> 91
        // m = 1: alpha 1, jet(1) = (0.5, 0, 0) -> (127.5 -> 128, 0, 0).
        let image = RgbImage::from_pixel(3, 1, image::Rgb([100, 200, 50]));
        let out = overlay(&image, &[0.0, 1.0, 2.0], 1, 3);
        assert_eq!(out.get_pixel(0, 0).0, [100, 200, 50]);
        assert_eq!(out.get_pixel(1, 0).0, [114, 232, 91]);
        assert_eq!(out.get_pixel(2, 0).0, [128, 0, 0]);
    }

    #[test]
    fn one_hot_pixel_colors_its_block_and_spares_the_rest() {
        // 4x4 map with one hot pixel at (1, 2), drawn on a 16x16 gray image.
        let image = RgbImage::from_pixel(16, 16, image::Rgb([128, 128, 128]));
        let mut map = vec![0.0f32; 16];
        map[4 + 2] = 3.0;
        let out = overlay(&image, &map, 4, 4);
        // The hot pixel's block (rows 4..8, cols 8..12) is colored at its centre...
        assert_ne!(out.get_pixel(9, 5), image.get_pixel(9, 5));
        // ...and the far corners, beyond the kernel's reach (2 source pixels), are not.
        assert_eq!(out.get_pixel(0, 15), image.get_pixel(0, 15));
        assert_eq!(out.get_pixel(15, 15), image.get_pixel(15, 15));
        assert_eq!(out.dimensions(), (16, 16));
    }

    #[test]
    fn an_empty_image_gives_an_empty_image() {
        let image = RgbImage::new(0, 0);
        assert_eq!(overlay(&image, &[1.0, 2.0], 1, 2).dimensions(), (0, 0));
    }
}
