//! The animated GIF of a clip's overlays, looping forever. spec/render.md (REN-5)

use std::path::Path;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbImage, RgbaImage};

use super::encoding_error;
use crate::output::write_atomically;
use crate::Error;

/// The GIF encoder's speed (1..30): 10 is the gif crate's usual trade-off between the
/// palette's quality (NeuQuant, 256 colors per frame) and the time to build it.
const GIF_SPEED: i32 = 10;

/// Writes `frames` as an animated GIF that loops forever, every frame shown for `delay_ms`
/// milliseconds, atomically. GIF stores delays in hundredths of a second: `delay_ms` is
/// rounded down to a multiple of 10 ms (and most viewers show delays under 20 ms slower).
/// Each frame gets its own 256-color palette (the GIF format's limit), so colors are
/// approximate. No frames, frames of no pixels, frames of different sizes or sizes beyond
/// 65535 pixels are errors naming the file. spec/render.md (REN-5)
pub fn write_gif(path: &Path, frames: &[RgbImage], delay_ms: u32) -> Result<(), Error> {
    let Some(first) = frames.first() else {
        return Err(encoding_error(path, "no frames to write to the GIF"));
    };
    let (width, height) = first.dimensions();
    if width == 0 || height == 0 {
        return Err(encoding_error(path, "the GIF's frames have no pixels"));
    }
    for (t, frame) in frames.iter().enumerate() {
        if frame.dimensions() != (width, height) {
            return Err(encoding_error(
                path,
                format!(
                    "GIF frame {t} is {}x{} pixels, frame 0 is {width}x{height}",
                    frame.width(),
                    frame.height()
                ),
            ));
        }
    }
    let delay = Delay::from_numer_denom_ms(delay_ms, 1);
    let mut bytes = Vec::new();
    {
        // The encoder writes the GIF trailer when it is dropped, at the end of this block.
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, GIF_SPEED);
        let cannot =
            |e: image::ImageError| encoding_error(path, format!("cannot encode the GIF: {e}"));
        encoder.set_repeat(Repeat::Infinite).map_err(cannot)?;
        for frame in frames {
            let rgba = RgbaImage::from_fn(width, height, |x, y| {
                let [r, g, b] = frame.get_pixel(x, y).0;
                image::Rgba([r, g, b, 255])
            });
            encoder
                .encode_frame(Frame::from_parts(rgba, 0, 0, delay))
                .map_err(cannot)?;
        }
    }
    write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::gif::GifDecoder;
    use image::AnimationDecoder;

    fn solid(width: u32, height: u32, rgb: [u8; 3]) -> RgbImage {
        RgbImage::from_pixel(width, height, image::Rgb(rgb))
    }

    #[test]
    fn gif_round_trip_with_delay_and_loop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.gif");
        // Few colors: each frame's palette holds them exactly, so pixels come back exact.
        let mut two_colors = solid(4, 3, [255, 0, 0]);
        two_colors.put_pixel(1, 2, image::Rgb([0, 0, 255]));
        let frames = vec![
            two_colors,
            solid(4, 3, [0, 255, 0]),
            solid(4, 3, [10, 20, 30]),
        ];
        write_gif(&path, &frames, 125).unwrap();

        let bytes = std::fs::read(&path).unwrap();
        // The NETSCAPE2.0 application extension with loop count 0 (forever): sub-block
        // 3 bytes, id 1, count 0 (little-endian u16).
        let netscape = b"NETSCAPE2.0\x03\x01\x00\x00";
        assert!(bytes.windows(netscape.len()).any(|w| w == netscape));

        let decoder = GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
        let decoded = decoder.into_frames().collect_frames().unwrap();
        assert_eq!(decoded.len(), 3);
        for (t, (got, want)) in decoded.iter().zip(&frames).enumerate() {
            // 125 ms is stored as 12 hundredths of a second
            assert_eq!(got.delay().numer_denom_ms(), (120, 1), "frame {t}");
            assert_eq!(got.buffer().dimensions(), (4, 3));
            for (x, y, pixel) in want.enumerate_pixels() {
                let [r, g, b, a] = got.buffer().get_pixel(x, y).0;
                assert_eq!([r, g, b], pixel.0, "frame {t} pixel ({x}, {y})");
                assert_eq!(a, 255);
            }
        }
    }

    #[test]
    fn one_frame_is_a_gif_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.gif");
        write_gif(&path, &[solid(2, 2, [1, 2, 3])], 0).unwrap();
        let decoder =
            GifDecoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
        assert_eq!(decoder.into_frames().collect_frames().unwrap().len(), 1);
    }

    #[test]
    fn gif_errors_name_the_file_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.gif");
        let error = write_gif(&path, &[], 100).unwrap_err();
        assert!(error.to_string().contains("bad.gif"), "{error}");
        assert!(error.to_string().contains("no frames"), "{error}");

        let error = write_gif(&path, &[solid(0, 0, [0, 0, 0])], 100).unwrap_err();
        assert!(error.to_string().contains("no pixels"), "{error}");

        let frames = [solid(2, 2, [0, 0, 0]), solid(3, 2, [0, 0, 0])];
        let error = write_gif(&path, &frames, 100).unwrap_err();
        assert!(error.to_string().contains("frame 1 is 3x2"), "{error}");

        let error = write_gif(&path, &[solid(70000, 1, [0, 0, 0])], 100).unwrap_err();
        assert!(error.to_string().contains("bad.gif"), "{error}");

        let missing = dir.path().join("no").join("clip.gif");
        let error = write_gif(&missing, &[solid(2, 2, [0, 0, 0])], 100).unwrap_err();
        assert!(matches!(&error, Error::Io { path: p, .. } if p == &missing));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
