//! The size overlays are drawn at, and the frame's enlargement to it: nearest neighbour for
//! the frame (its pixels as the model saw them, no invented detail), the map resized
//! bicubically straight to the drawn size (REN-2). spec/render.md (REN-6)

use image::RgbImage;

use super::overlay::overlay;

/// The shortest side a frame is drawn at by default, in pixels: below it a 64 x 64 frame is a
/// thumbnail, hard to read.
pub const READABLE_SIDE: u32 = 160;

/// The drawn size (height, width) of a frame of `height` x `width`. `shorter_side` given:
/// the shorter side becomes that many pixels and the longer one keeps the aspect ratio
/// (rounded, at least 1). Not given: the frame's own size enlarged by the smallest whole
/// factor k that makes its shorter side at least READABLE_SIDE (k = 1 for a frame already
/// that large), so that every frame pixel becomes a k x k block. spec/render.md (REN-6)
pub fn drawn_size(height: u32, width: u32, shorter_side: Option<u32>) -> (u32, u32) {
    let short = height.min(width);
    if short == 0 {
        return (height, width);
    }
    match shorter_side {
        Some(side) => {
            let scale =
                |n: u32| ((n as u64 * side as u64 + short as u64 / 2) / short as u64).max(1);
            (scale(height) as u32, scale(width) as u32)
        }
        None => {
            let k = READABLE_SIDE.div_ceil(short).max(1);
            (height * k, width * k)
        }
    }
}

/// `image` resized to `out_h` x `out_w` by nearest neighbour: the output pixel (i, j) is the
/// input pixel (floor(i * h / out_h), floor(j * w / out_w)). For a whole factor k every input
/// pixel becomes a k x k block. spec/render.md (REN-6)
pub fn resize_nearest(image: &RgbImage, out_h: u32, out_w: u32) -> RgbImage {
    let (w, h) = (image.width() as u64, image.height() as u64);
    if w == 0 || h == 0 {
        return RgbImage::new(0, 0);
    }
    RgbImage::from_fn(out_w, out_h, |j, i| {
        let src_i = (i as u64 * h / out_h as u64) as u32;
        let src_j = (j as u64 * w / out_w as u64) as u32;
        *image.get_pixel(src_j, src_i)
    })
}

/// `map` (h, w) drawn over `frame` at the drawn size `size` (height, width): the frame
/// enlarged by nearest neighbour, then the demo's overlay (REN-1..REN-4), whose bicubic resize
/// takes the map straight from (h, w) to `size`. spec/render.md (REN-6)
pub fn overlay_at(frame: &RgbImage, map: &[f32], h: usize, w: usize, size: (u32, u32)) -> RgbImage {
    let (out_h, out_w) = size;
    if (frame.height(), frame.width()) == (out_h, out_w) {
        return overlay(frame, map, h, w);
    }
    overlay(&resize_nearest(frame, out_h, out_w), map, h, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_size_is_a_whole_factor_to_at_least_160() {
        assert_eq!(drawn_size(64, 64, None), (192, 192)); // k = 3: 192 >= 160 > 128
        assert_eq!(drawn_size(80, 80, None), (160, 160)); // k = 2 exactly
        assert_eq!(drawn_size(81, 100, None), (162, 200)); // the shorter side decides
        assert_eq!(drawn_size(224, 224, None), (224, 224)); // already readable: k = 1
        assert_eq!(drawn_size(240, 320, None), (240, 320));
        assert_eq!(drawn_size(1, 3, None), (160, 480));
        assert_eq!(drawn_size(0, 5, None), (0, 5));
    }

    #[test]
    fn given_size_sets_the_shorter_side() {
        assert_eq!(drawn_size(64, 64, Some(100)), (100, 100));
        assert_eq!(drawn_size(240, 320, Some(120)), (120, 160));
        assert_eq!(drawn_size(320, 240, Some(300)), (400, 300));
        assert_eq!(drawn_size(3, 2, Some(1)), (2, 1)); // 1.5 rounds to 2
        assert_eq!(drawn_size(100, 1, Some(1)), (100, 1));
    }

    #[test]
    fn nearest_makes_blocks_for_a_whole_factor() {
        let image = RgbImage::from_fn(2, 3, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let big = resize_nearest(&image, 9, 6); // k = 3
        assert_eq!(big.dimensions(), (6, 9));
        for i in 0..9 {
            for j in 0..6 {
                assert_eq!(
                    big.get_pixel(j, i),
                    image.get_pixel(j / 3, i / 3),
                    "({i}, {j})"
                );
            }
        }
        // the same size is the identity; shrinking samples
        assert_eq!(resize_nearest(&image, 3, 2), image);
        assert_eq!(
            resize_nearest(&image, 1, 1).get_pixel(0, 0),
            image.get_pixel(0, 0)
        );
        assert_eq!(
            resize_nearest(&RgbImage::new(0, 0), 4, 4).dimensions(),
            (0, 0)
        );
    }

    #[test]
    fn overlay_at_the_frame_size_is_the_overlay() {
        let frame = RgbImage::from_fn(4, 4, |x, y| image::Rgb([x as u8 * 60, y as u8 * 60, 9]));
        let map = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(
            overlay_at(&frame, &map, 2, 2, (4, 4)),
            overlay(&frame, &map, 2, 2)
        );
        let big = overlay_at(&frame, &map, 2, 2, (12, 8));
        assert_eq!(big.dimensions(), (8, 12));
        // a zero map leaves the enlarged frame: nearest blocks of 2 x 3
        let plain = overlay_at(&frame, &[0.0; 4], 2, 2, (12, 8));
        assert_eq!(plain, resize_nearest(&frame, 12, 8));
    }
}
