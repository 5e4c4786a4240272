//! Temporary paths removed when the run is interrupted (spec/outputs.md, OUT-6). An output
//! directory is written into a temporary sibling (`OutputDir`); SIGINT (Ctrl-C) or SIGTERM
//! in the middle must not leave it behind. The temporary paths are kept in one registry; on
//! either signal a thread of its own removes them and ends the process with 128 + the signal
//! (130, 143), as a shell reports a process killed by it.
//!
//! The registry is the one piece of process-wide state in ebr: a signal handler has no other
//! way to find the paths. Whoever changes what it holds (creating a directory inside a
//! temporary path, renaming one into place) does so while holding its lock, so that the
//! handler never races them: it takes the lock and does not give it back before the exit.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::Error;

static TEMPORARY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The registry of temporary paths, locked. A panic while it was held does not matter: the
/// list stays valid.
pub fn temporary_paths() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMPORARY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Adds `path` to the paths removed on interruption.
pub fn register(path: &Path) {
    temporary_paths().push(path.to_path_buf());
}

/// Removes `path` from the paths removed on interruption.
pub fn unregister(path: &Path) {
    temporary_paths().retain(|p| p != path);
}

/// From now on, SIGINT and SIGTERM remove the registered paths, print one line
/// (`ebr: interrupted by SIGINT`) and exit with 130 or 143. For the `ebr` binary's `main`.
///
/// signal-hook's `Signals` iterator runs the work on an ordinary thread (its handler only
/// writes to a pipe), so the removal may allocate and take locks, which a signal handler
/// itself may not.
pub fn remove_temporary_paths_on_signals() -> Result<(), Error> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|source| Error::Io {
        path: PathBuf::from("(signal handlers)"),
        source,
    })?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let held = temporary_paths();
            for path in held.iter() {
                remove_all(path);
            }
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            let removed = match held.len() {
                0 => String::new(),
                n => format!(
                    " (removed {n} partial output{})",
                    if n > 1 { "s" } else { "" }
                ),
            };
            eprintln!("ebr: interrupted by {name}{removed}");
            // The lock is never released: no thread can create anything inside a removed
            // path before the process ends.
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

/// Removes the directory (or file) `path`. A writer thread may be creating a file in it while
/// it is emptied (a directory cannot be created: that needs the registry's lock), so that the
/// last `rmdir` finds it not empty: a few more tries remove what appeared meanwhile.
pub fn remove_all(path: &Path) {
    for _ in 0..20 {
        let done = match std::fs::symlink_metadata(path) {
            Err(_) => true,
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).is_ok(),
            Ok(_) => std::fs::remove_file(path).is_ok(),
        };
        if done {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
