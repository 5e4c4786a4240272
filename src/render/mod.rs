//! Drawing results: the 'jet' colormap, the demo's overlay of a map on its frame, the
//! animated GIF of a clip's overlays, the PNG of one frame and the timeline of the per-frame
//! sums. spec/render.md
//!
//! Every file is encoded in memory, then written with `write_atomically` (a temporary file,
//! then a rename), so that a failure never leaves a half-written file. Errors name the file.
//!
#![doc = include_str!("../../spec/render.md")]

pub mod colormap;
pub mod font;
pub mod gif;
pub mod overlay;
pub mod scale;
pub mod sheet;
pub mod timeline;

use std::path::Path;

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

use crate::output::write_atomically;
use crate::Error;

/// The error for a file that could not be encoded (e.g. an image of zero pixels, GIF frames of
/// different sizes): an `Error::Io` naming the file, with the encoder's reason.
pub(crate) fn encoding_error(
    path: &Path,
    reason: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
    }
}

/// Writes `image` as an 8-bit RGB PNG, atomically. An image of zero pixels cannot be encoded
/// and is an error naming the file. spec/render.md (REN-5)
pub fn write_png(path: &Path, image: &RgbImage) -> Result<(), Error> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .map_err(|e| encoding_error(path, format!("cannot encode the PNG: {e}")))?;
    write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frame.png");
        let image = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 50, y as u8 * 100, 7]));
        write_png(&path, &image).unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back, image);
        // no temporary file left beside it
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn png_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("frame.png");
        let error = write_png(&path, &RgbImage::new(2, 2)).unwrap_err();
        assert!(matches!(&error, Error::Io { path: p, .. } if p == &path));
        assert!(error.to_string().contains("frame.png"), "{error}");

        let path = dir.path().join("empty.png");
        let error = write_png(&path, &RgbImage::new(0, 0)).unwrap_err();
        assert!(error.to_string().contains("empty.png"), "{error}");
        assert!(!path.exists());
    }
}
