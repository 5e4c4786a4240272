//! Only regular files are read (spec/outputs.md, OUT-7). A named pipe (FIFO) given as a clip
//! or a weight file would block `open` until a writer appears, a socket cannot be opened, and
//! a device (/dev/zero) never ends: each is refused with one line naming the path, before
//! anything is read. Every place that opens an input goes through `open_regular` or, where
//! a library opens the file itself, `check_regular` just before.

use std::fs::{self, File, FileType, OpenOptions};
use std::path::Path;

use crate::error::Error;

/// Opens `path` for reading if it is a regular file after following symbolic links; `what`
/// names the input in the message (e.g. "model.json", "the .npy file").
///
/// The type is checked from the path's metadata before opening (so a FIFO is never opened
/// for reading, which would block), and again on the opened file, which is opened with
/// `O_NONBLOCK` (no effect on regular files), so that a file swapped for a FIFO in between
/// cannot block either.
pub fn open_regular(path: &Path, what: &str) -> Result<File, Error> {
    check_regular(path, what)?;
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(io_error)?;
    let opened = file.metadata().map_err(io_error)?;
    refuse_unless_regular(path, what, opened.file_type())?;
    Ok(file)
}

/// Checks that `path` is a regular file after following symbolic links, without opening it;
/// for readers that open the file themselves (the JSON readers, the image decoder).
pub fn check_regular(path: &Path, what: &str) -> Result<(), Error> {
    let metadata = fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    refuse_unless_regular(path, what, metadata.file_type())
}

fn refuse_unless_regular(path: &Path, what: &str, file_type: FileType) -> Result<(), Error> {
    if file_type.is_file() {
        return Ok(());
    }
    Err(Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} is {}, not a regular file", describe(file_type)),
        ),
    })
}

/// "a named pipe (FIFO)", "a socket", ...: what a file that is not a regular file is.
fn describe(file_type: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_opens_and_the_rest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.npy");
        fs::write(&file, "x").unwrap();
        assert!(open_regular(&file, "the .npy file").is_ok());
        let e = open_regular(dir.path(), "the .npy file")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}: the .npy file is a directory, not a regular file",
                dir.path().display()
            )
        );
        #[cfg(unix)]
        {
            let e = open_regular(Path::new("/dev/zero"), "model.json")
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                "/dev/zero: model.json is a character device, not a regular file"
            );
        }
    }
}
