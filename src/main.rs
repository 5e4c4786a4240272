//! The `ebr` command line. Exit codes: 0 success, 1 bad input or failure (one line on
//! stderr), 2 bad usage (clap's message).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ebr: {error}");
            ExitCode::from(1)
        }
    }
}
