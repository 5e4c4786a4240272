//! An output directory written all or nothing: files go into a temporary directory beside the
//! target, which is renamed to the target at the end. A failure removes the temporary
//! directory, so the target is either the previous complete result or the new one.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The file that marks a directory as an ebr output (and allows replacing it).
pub const MARKER: &str = "summary.json";

/// A directory being written; `commit` moves it into place.
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl OutputDir {
    /// Starts writing `target`. Refuses a target that exists and is neither empty nor an
    /// earlier ebr output (it holds summary.json), so that a mistyped --out never replaces
    /// someone's directory; refuses a parent that does not exist.
    pub fn create(target: &Path) -> Result<OutputDir, Error> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            let reason = if parent.exists() {
                format!("the parent {} is not a directory", parent.display())
            } else {
                format!("the parent directory {} does not exist", parent.display())
            };
            return Err(Error::Io {
                path: target.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, reason),
            });
        }
        if target.exists() {
            let replaceable =
                target.is_dir() && (target.join(MARKER).is_file() || is_empty_dir(target));
            if !replaceable {
                return Err(Error::Io {
                    path: target.to_path_buf(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "exists and is not an ebr output directory (no summary.json); choose another --out",
                    ),
                });
            }
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ebr-out".to_string());
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_error(&staging))?;
        }
        fs::create_dir(&staging).map_err(io_error(&staging))?;
        Ok(OutputDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where to write `relative` (its parent directories are created).
    pub fn path(&self, relative: &str) -> Result<PathBuf, Error> {
        let path = self.staging.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        Ok(path)
    }

    /// The final location of `relative`, for messages and summary.json.
    pub fn final_path(&self, relative: &str) -> PathBuf {
        self.target.join(relative)
    }

    /// Moves the finished directory into place, replacing an earlier ebr output.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        if self.target.exists() {
            let old = self.staging.with_extension("old");
            fs::rename(&self.target, &old).map_err(io_error(&self.target))?;
            if let Err(source) = fs::rename(&self.staging, &self.target) {
                let _ = fs::rename(&old, &self.target);
                return Err(Error::Io {
                    path: self.target.clone(),
                    source,
                });
            }
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&self.staging, &self.target).map_err(io_error(&self.target))?;
        }
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_output_leaves_nothing_and_a_committed_one_replaces_the_old() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        {
            let out = OutputDir::create(&target).unwrap();
            fs::write(out.path("a/b.txt").unwrap(), "x").unwrap();
        }
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);

        let out = OutputDir::create(&target).unwrap();
        fs::write(out.path(MARKER).unwrap(), "{}").unwrap();
        out.commit().unwrap();
        let out = OutputDir::create(&target).unwrap();
        fs::write(out.path(MARKER).unwrap(), "{\"new\": 1}").unwrap();
        out.commit().unwrap();
        assert_eq!(
            fs::read_to_string(target.join(MARKER)).unwrap(),
            "{\"new\": 1}"
        );
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_foreign_directory_is_never_replaced() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("precious.txt"), "keep").unwrap();
        let err = OutputDir::create(root.path()).unwrap_err().to_string();
        assert!(err.contains("is not an ebr output directory"), "{err}");
        assert!(root.path().join("precious.txt").exists());
    }
}
