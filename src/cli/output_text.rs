//! Text for standard output. A reader that closes the pipe early (`ebr classify ... | head -1`)
//! must not turn a finished command into a panic: write errors on stdout are ignored, the
//! command's files are written all the same and its exit code is its own.
//!
//! Labels, captions and file names come from files a user did not necessarily write: their
//! control characters are escaped (`escape_control`) so that a label cannot add lines or drive
//! the terminal (spec/outputs.md, OUT-8).

use std::fmt::Arguments;
use std::io::Write;

/// `text` with its control characters escaped (`\n`, `\t`, `\u{1b}`); when `keep_newlines`,
/// line breaks are kept (for multi-line text such as eval's tables).
pub fn escape_control(text: &str, keep_newlines: bool) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && !(keep_newlines && c == '\n') {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// Writes `text`, its control characters escaped, and a newline to standard output, ignoring
/// a closed pipe.
pub fn print_line(text: Arguments) {
    let line = escape_control(&text.to_string(), false);
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"));
}

/// Writes `text`, its control characters but line breaks escaped, to standard output,
/// ignoring a closed pipe.
pub fn print_text(text: Arguments) {
    let text = escape_control(&text.to_string(), true);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Writes `ebr: ` and `text`, its control characters escaped, as one line on standard error:
/// every error and note.
pub fn print_error_line(text: &str) {
    eprintln!("ebr: {}", escape_control(text, false));
}

#[cfg(test)]
mod tests {
    use super::escape_control;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_control("a\nb\u{1b}[31m\tc", false),
            "a\\nb\\u{1b}[31m\\tc"
        );
        assert_eq!(escape_control("row 1\nrow\r2\n", true), "row 1\nrow\\r2\n");
        assert_eq!(escape_control("disk_left \"x\"", false), "disk_left \"x\"");
    }
}
