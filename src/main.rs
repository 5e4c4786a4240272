//! The `ebr` command line. Exit codes: 0 success, 1 bad input or failure (one line on
//! stderr), 2 bad usage (clap's message), 130 and 143 interrupted by SIGINT and SIGTERM (the
//! partial output removed; spec/outputs.md, OUT-6).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let result = ebr::interrupt::remove_temporary_paths_on_signals().and_then(|()| cli::run(args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            cli::print_error_line(&error.to_string());
            ExitCode::from(1)
        }
    }
}
