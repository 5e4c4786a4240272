//! Text for standard output. A reader that closes the pipe early (`ebr classify ... | head -1`)
//! must not turn a finished command into a panic: write errors on stdout are ignored, the
//! command's files are written all the same and its exit code is its own.

use std::fmt::Arguments;
use std::io::Write;

/// Writes `text` and a newline to standard output, ignoring a closed pipe.
pub fn print_line(text: Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(text).and_then(|()| out.write_all(b"\n"));
}

/// Writes `text` to standard output, ignoring a closed pipe.
pub fn print_text(text: Arguments) {
    let _ = std::io::stdout().lock().write_fmt(text);
}
