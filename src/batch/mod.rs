//! Grounding many clips: the manifest, the shards, the batch directory and its index
//! (spec/batch.md). The grounding of one clip is the command line's (cli/ground.rs); this
//! module holds what does not depend on it.

pub mod dir;
pub mod index;
pub mod manifest;

use std::path::Path;

use crate::error::Error;

/// An error about `path` with ebr's own reason, printed as `PATH: reason`.
pub fn refusal(path: &Path, reason: String) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(reason),
    }
}
