//! A clip for the model: a directory of frames preprocessed as the authors' demo does
//! (util_preprocess_data.py with pycaffe's caffe.io), or a .npy of frames already preprocessed.
//! spec/preprocess.md states every step (PRE-1..PRE-6); the functions cite the tags.
//!
#![doc = include_str!("../spec/preprocess.md")]

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use image::{ImageReader, RgbImage};

use crate::budget::Budget;
use crate::error::Error;
use crate::model::{ChannelOrder, InputSpec};
use crate::npy::read_npy_checked;
use crate::resize::resize_bilinear;
use crate::tensor::shape_string;

/// The file endings (compared without case) of the frames in a clip directory.
pub const FRAME_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// The most pixels ebr decodes for one frame image: 2^25 (8K UHD, 7680x4320, fits). The size is
/// read from the image's header and a larger image is refused before it is decoded
/// (preprocessing holds 27 bytes per pixel: the RGB image and three f64 planes).
pub const MAX_FRAME_PIXELS: u64 = 1 << 25;

/// Where a frame came from and how it was fitted to the model's input: resize, then crop.
/// Sizes are [height, width]; the crop offset is [row, col] in the resized frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameGeometry {
    pub original: [usize; 2],
    pub resized: [usize; 2],
    pub crop_offset: [usize; 2],
    pub crop: [usize; 2],
}

impl FrameGeometry {
    /// The geometry of a frame that is used as it is (a .npy clip): no resize, no crop.
    pub fn identity(size: [usize; 2]) -> FrameGeometry {
        FrameGeometry {
            original: size,
            resized: size,
            crop_offset: [0, 0],
            crop: size,
        }
    }

    /// A point (row, col) of the model's input frame in the original frame's pixel
    /// coordinates, undoing the crop, then the resize. Both are pixel-index coordinates: the
    /// centre of pixel (i, j) is the point (i, j), and fractions lie between centres. In the
    /// continuous coordinates where pixel i spans [i, i + 1) (centres at half-integers) the
    /// resize is a plain scaling by original / resized, which gives
    /// `original = (resized + 0.5) * original_size / resized_size - 0.5`, PRE-2's source
    /// position (without its clamp). spec/preprocess.md (PRE-5)
    pub fn to_original(&self, row: f32, col: f32) -> (f32, f32) {
        let mut point = [row as f64, col as f64];
        for (axis, p) in point.iter_mut().enumerate() {
            // Undo the crop: the input's row 0 is the resized frame's row crop_offset.
            let p_resized = *p + self.crop_offset[axis] as f64;
            // Undo the resize.
            let ratio = self.original[axis] as f64 / self.resized[axis] as f64;
            *p = (p_resized + 0.5) * ratio - 0.5;
        }
        (point[0] as f32, point[1] as f32)
    }
}

/// Where a clip was read from.
#[derive(Clone, Debug, PartialEq)]
pub enum ClipSource {
    /// A directory of frames, in the order they were used.
    Frames { paths: Vec<PathBuf> },
    /// A .npy of frames already preprocessed.
    Npy { path: PathBuf },
}

/// A clip ready for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub frames: usize,
    /// (T, C, H, W): the model's input for every frame.
    pub data: Vec<f32>,
    /// The same for every frame (a clip's frames all have one size).
    pub geometry: FrameGeometry,
    pub source: ClipSource,
    /// What loading changed, for the user (a float64 .npy converted to float32).
    pub notes: Vec<String>,
}

impl Clip {
    /// Frame `t`'s values (C, H, W). Panics if `t >= frames`.
    pub fn frame(&self, t: usize) -> &[f32] {
        let frame_len = self.data.len() / self.frames;
        &self.data[t * frame_len..(t + 1) * frame_len]
    }
}

fn clip_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Clip {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a clip for a model whose input is `input`: a directory of frames (files ending .jpg,
/// .jpeg or .png, any case, sorted by file name; other files and sub-directories ignored),
/// each preprocessed by [`preprocess_frame`]; or a .npy of shape (T, C, H, W) f32 already
/// preprocessed (no resize, no mean; its geometry is the identity).
/// A clip of more than the default [`Budget`]'s values (2^30, 4 GiB of float32; 10 minutes of
/// 3x224x224 frames at 12 fps hold 1.1 * 10^9 / 10), or a frame of more than
/// [`MAX_FRAME_PIXELS`], is refused before it is decoded; so are frames of different sizes.
pub fn load_clip(path: &Path, input: &InputSpec) -> Result<Clip, Error> {
    load_clip_within(path, input, Budget::DEFAULT)
}

/// As [`load_clip`], refusing a clip of more than `budget` (its values, T * C * H * W, and a
/// .npy clip's data bytes), before its frames are decoded or its .npy data read.
pub fn load_clip_within(path: &Path, input: &InputSpec, budget: Budget) -> Result<Clip, Error> {
    check_input(input).map_err(|reason| clip_error(path, reason))?;
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(clip_error(path, "the clip does not exist"))
        }
        Err(source) => return Err(io_error(path, source)),
    };
    if metadata.is_dir() {
        load_frames(path, input, budget.values())
    } else if has_extension(path, &["npy"]) {
        load_npy_clip(path, input, budget)
    } else {
        Err(clip_error(
            path,
            "is neither a directory of frames (.jpg, .jpeg, .png) nor a .npy clip",
        ))
    }
}

/// True when `path`'s extension is one of `extensions` (lower case), in any case.
fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some(extension) => {
            let extension = extension.to_ascii_lowercase();
            extensions.iter().any(|&e| e == extension)
        }
        None => false,
    }
}

/// The frames of a clip directory, sorted by file name.
pub fn frame_paths(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        // is_dir follows symbolic links; anything else named as a frame must be a regular file.
        if has_extension(&path, &FRAME_EXTENSIONS) && !path.is_dir() {
            crate::input_file::check_regular(&path, "the frame")?;
            paths.push(path);
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(paths)
}

/// The size [height, width] of a frame image, read from its header without decoding it.
pub fn frame_size(path: &Path) -> Result<[usize; 2], Error> {
    let reader = ImageReader::open(path).map_err(|e| io_error(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| io_error(path, e))?;
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| clip_error(path, format!("cannot decode the image: {e}")))?;
    Ok([height as usize, width as usize])
}

/// Reads one frame as 8-bit RGB: gray is tiled to three channels, alpha dropped, 16-bit
/// samples rounded to 8 bits. The format is guessed from the content, then the extension.
pub fn read_frame(path: &Path) -> Result<RgbImage, Error> {
    let reader = ImageReader::open(path).map_err(|e| io_error(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| io_error(path, e))?;
    let image = reader
        .decode()
        .map_err(|e| clip_error(path, format!("cannot decode the image: {e}")))?;
    Ok(image.to_rgb8())
}

/// The values of `frames` frames of the model's input, if they are within `budget`.
fn clip_values(input: &InputSpec, frames: usize, budget: usize) -> Option<usize> {
    [input.channels, input.height, input.width]
        .iter()
        .try_fold(frames, |n, &size| n.checked_mul(size))
        .filter(|&n| n <= budget)
}

/// The message for a clip of `frames` frames past `budget` values.
fn too_many_values(input: &InputSpec, frames: usize, budget: usize) -> String {
    format!(
        "{frames} frames of {}x{}x{} are more than the {budget} values ebr loads for one clip",
        input.channels, input.height, input.width
    )
}

fn load_frames(dir: &Path, input: &InputSpec, budget: usize) -> Result<Clip, Error> {
    let paths = frame_paths(dir)?;
    if paths.is_empty() {
        return Err(clip_error(
            dir,
            "no frames: the directory has no file ending .jpg, .jpeg or .png (any case)",
        ));
    }
    // Everything that can be known before decoding is checked first: the clip's size for the
    // model, then every frame's size from its header.
    let values = clip_values(input, paths.len(), budget).ok_or_else(|| Error::TooLarge {
        path: dir.to_path_buf(),
        reason: too_many_values(input, paths.len(), budget),
    })?;
    let mut first: Option<[usize; 2]> = None;
    for path in &paths {
        let size = frame_size(path)?;
        if size[0] as u64 * size[1] as u64 > MAX_FRAME_PIXELS {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                reason: format!(
                    "the image is {} (height x width), more than the {MAX_FRAME_PIXELS} pixels ebr decodes for one frame",
                    size_string(size)
                ),
            });
        }
        match first {
            Some(first) if size != first => {
                return Err(clip_error(
                    path,
                    format!(
                        "is {} (height x width), but the first frame {} is {}; all frames of a clip must have the same size",
                        size_string(size),
                        paths[0].display(),
                        size_string(first)
                    ),
                ));
            }
            _ => first = Some(size),
        }
    }
    // (T, C, H, W)
    let mut data = Vec::with_capacity(values);
    let mut geometry = None;
    for path in &paths {
        let image = read_frame(path)?;
        let size = [image.height() as usize, image.width() as usize];
        if Some(size) != first {
            return Err(clip_error(
                path,
                format!(
                    "decodes to {}, but its header says {}",
                    size_string(size),
                    size_string(first.expect("a clip directory with frames has a first size"))
                ),
            ));
        }
        let (frame, frame_geometry) =
            preprocess_frame(&image, input).map_err(|reason| clip_error(path, reason))?;
        if let Some(index) = frame.iter().position(|v| !v.is_finite()) {
            return Err(clip_error(
                path,
                format!(
                    "preprocessed value {} at flat index {index} of the frame is not finite: model.json's input scale, mean or std overflow float32",
                    frame[index]
                ),
            ));
        }
        data.extend_from_slice(&frame);
        geometry = Some(frame_geometry);
    }
    Ok(Clip {
        frames: paths.len(),
        data,
        geometry: geometry.expect("a clip directory with frames has a geometry"),
        source: ClipSource::Frames { paths },
        notes: Vec::new(),
    })
}

fn load_npy_clip(path: &Path, input: &InputSpec, budget: Budget) -> Result<Clip, Error> {
    let (bytes, budget) = (budget.bytes, budget.values());
    let expected = format!("[T, {}, {}, {}]", input.channels, input.height, input.width);
    // The shape is checked from the header, before the data is read.
    let check = |shape: &[usize]| {
        if shape.len() != 4 || shape[1..] != [input.channels, input.height, input.width] {
            return Err(clip_error(
                path,
                format!(
                    "the clip has shape {}, expected {expected} (T frames preprocessed for the model)",
                    shape_string(shape)
                ),
            ));
        }
        if shape[0] == 0 {
            return Err(clip_error(
                path,
                format!(
                    "the clip has no frames (shape {}, expected {expected} with T >= 1)",
                    shape_string(shape)
                ),
            ));
        }
        if clip_values(input, shape[0], budget).is_none() {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                reason: too_many_values(input, shape[0], budget),
            });
        }
        Ok(())
    };
    let array = read_npy_checked(path, bytes, &check)?;
    let notes = array.note(path).into_iter().collect();
    let tensor = array.tensor;
    let shape = &tensor.shape;
    if let Some(index) = tensor.data.iter().position(|v| !v.is_finite()) {
        return Err(clip_error(
            path,
            format!(
                "value {} at flat index {index} is not finite",
                tensor.data[index]
            ),
        ));
    }
    Ok(Clip {
        frames: shape[0],
        data: tensor.data,
        geometry: FrameGeometry::identity([input.height, input.width]),
        source: ClipSource::Npy {
            path: path.to_path_buf(),
        },
        notes,
    })
}

/// `240x320` for messages (height x width).
fn size_string(size: [usize; 2]) -> String {
    format!("{}x{}", size[0], size[1])
}

/// What preprocessing needs of `input` (model.json's reader checks the same).
fn check_input(input: &InputSpec) -> Result<(), String> {
    if input.channels != 1 && input.channels != 3 {
        return Err(format!(
            "the model's input has {} channels; preprocessing makes 3 (colour) or 1 (gray)",
            input.channels
        ));
    }
    if input.mean.len() != input.channels || input.std.len() != input.channels {
        return Err(format!(
            "the model's input has {} channels but {} mean and {} std values",
            input.channels,
            input.mean.len(),
            input.std.len()
        ));
    }
    if input.height == 0 || input.width == 0 {
        return Err(format!(
            "the model's input {} is empty",
            size_string([input.height, input.width])
        ));
    }
    Ok(())
}

/// One RGB image (u8) to the model's input (C, H, W), with its geometry: load (PRE-1), resize
/// (PRE-2), center crop (PRE-3), scale, channel order, mean and std (PRE-4). A 1-channel model
/// takes the luminance with the Rec. 709 weights of image's `to_luma`
/// (0.2126 R + 0.7152 G + 0.0722 B), without its rounding to 8 bits. The error is a reason
/// meant to follow the image's path.
pub fn preprocess_frame(
    image: &RgbImage,
    input: &InputSpec,
) -> Result<(Vec<f32>, FrameGeometry), String> {
    check_input(input)?;
    let original = [image.height() as usize, image.width() as usize];
    if original[0] == 0 || original[1] == 0 {
        return Err(format!("the image is empty ({})", size_string(original)));
    }

    // spec/preprocess.md (PRE-1): v in [0, 1], K planes (K = 3: R, G, B; K = 1: luminance).
    let planes = if input.channels == 3 { 3 } else { 1 };
    let mut v = load_planes(image, planes); // (K, H0, W0)

    // spec/preprocess.md (PRE-2): resize only when the size differs.
    let mut resized = original;
    if let Some(size) = input.resize {
        if size != original {
            if size[0] == 0 || size[1] == 0 {
                return Err(format!("the resize {} is empty", size_string(size)));
            }
            v = resize_bilinear(&v, planes, original, size); // (K, Hr, Wr)
            resized = size;
        }
    }

    // spec/preprocess.md (PRE-3): center crop, offsets rounded down.
    let crop = [input.height, input.width];
    if resized[0] < crop[0] || resized[1] < crop[1] {
        return Err(match input.resize {
            None => format!(
                "is {} (height x width), smaller than the model's input {}, and the model has no resize",
                size_string(original),
                size_string(crop)
            ),
            Some(size) => format!(
                "the resize {} is smaller than the model's input {}",
                size_string(size),
                size_string(crop)
            ),
        });
    }
    let crop_offset = [(resized[0] - crop[0]) / 2, (resized[1] - crop[1]) / 2];

    // spec/preprocess.md (PRE-4): x[c, i, j] = (v[k(c), oy + i, ox + j] * scale - mean[c]) / std[c]
    let (h, w) = (crop[0], crop[1]);
    let (hr, wr) = (resized[0], resized[1]);
    let mut x = vec![0.0f32; input.channels * h * w]; // (C, H, W)
    for c in 0..input.channels {
        let k = plane_of_channel(c, input);
        let scale = input.scale;
        let mean = input.mean[c];
        let std = input.std[c];
        for i in 0..h {
            for j in 0..w {
                let v_kij = v[(k * hr + crop_offset[0] + i) * wr + crop_offset[1] + j];
                x[(c * h + i) * w + j] = ((v_kij * scale - mean) / std) as f32;
            }
        }
    }
    let geometry = FrameGeometry {
        original,
        resized,
        crop_offset,
        crop,
    };
    Ok((x, geometry))
}

/// The plane (0 = R, 1 = G, 2 = B; 0 = luminance for a 1-channel model) that feeds the model's
/// channel `c`.
fn plane_of_channel(c: usize, input: &InputSpec) -> usize {
    if input.channels == 1 {
        return 0;
    }
    match input.channel_order {
        ChannelOrder::Rgb => c,
        ChannelOrder::Bgr => 2 - c,
    }
}

/// spec/preprocess.md (PRE-1): u8 to [0, 1] in f64, as planes (K, H0, W0). K = 3: R, G, B,
/// v = u / 255. K = 1: the luminance (2126 R + 7152 G + 722 B) / (10000 * 255), exactly
/// u / 255 for a gray pixel (R = G = B = u).
fn load_planes(image: &RgbImage, planes: usize) -> Vec<f64> {
    let (h0, w0) = (image.height() as usize, image.width() as usize);
    let u = image.as_raw(); // (H0, W0, 3)
    let mut v = vec![0.0f64; planes * h0 * w0];
    for i in 0..h0 {
        for j in 0..w0 {
            let pixel = (i * w0 + j) * 3;
            if planes == 3 {
                for k in 0..3 {
                    v[(k * h0 + i) * w0 + j] = u[pixel + k] as f64 / 255.0;
                }
            } else {
                let luma =
                    2126 * u[pixel] as u32 + 7152 * u[pixel + 1] as u32 + 722 * u[pixel + 2] as u32;
                v[i * w0 + j] = luma as f64 / 2_550_000.0;
            }
        }
    }
    v
}

/// The inverse of PRE-4 for drawing: the model's input frame (C, H, W) back to an RGB u8
/// image (H, W), u = round(255 * (x * std + mean) / scale) clamped to [0, 255] (a 1-channel
/// model's frame is drawn gray). Exact for frames that came from u8 images (the luminance of a
/// colour image comes back gray); for a .npy clip it shows what the model saw.
/// Panics if `frame.len() != C * H * W` or `input` has not one mean and std per channel
/// (both are checked when the clip is loaded). spec/preprocess.md (PRE-6)
pub fn deprocess_frame(frame: &[f32], input: &InputSpec) -> RgbImage {
    let (h, w) = (input.height, input.width);
    assert!(
        check_input(input).is_ok(),
        "deprocess_frame: {}",
        check_input(input).unwrap_err()
    );
    assert_eq!(
        frame.len(),
        input.channels * h * w,
        "deprocess_frame: the frame has {} values, the model's input is {} x {h} x {w}",
        frame.len(),
        input.channels
    );
    let width = u32::try_from(w).expect("deprocess_frame: width fits in u32");
    let height = u32::try_from(h).expect("deprocess_frame: height fits in u32");
    let mut u = vec![0u8; h * w * 3]; // (H, W, 3)
    for k in 0..3 {
        // The model's channel that holds plane k (R, G, B).
        let c = if input.channels == 1 {
            0
        } else {
            match input.channel_order {
                ChannelOrder::Rgb => k,
                ChannelOrder::Bgr => 2 - k,
            }
        };
        let scale = input.scale;
        let mean = input.mean[c];
        let std = input.std[c];
        for i in 0..h {
            for j in 0..w {
                let x = frame[(c * h + i) * w + j] as f64;
                let v = (x * std + mean) / scale;
                // NaN becomes 0 (`as` saturates and maps NaN to 0).
                u[(i * w + j) * 3 + k] = (v * 255.0).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    RgbImage::from_raw(width, height, u).expect("deprocess_frame: buffer of H * W * 3 bytes")
}
