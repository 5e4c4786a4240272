//! The `ebr` command line.

use clap::Parser;

/// ebr: contrastive Excitation Backprop for RNNs (cEB-R; Bargal et al., CVPR 2018).
///
/// Given a CNN-LSTM video model and one clip, ebr shows where and when the evidence for a
/// decision lies: a signed saliency map per frame and the temporal segment of the action.
///
/// This version holds the layers (forward, excitation backward and gradient backward, equal to
/// the original Caffe code); the grounding commands (`ebr ground`, `ebr classify`,
/// `ebr inspect`) come with the pipeline. See README.md and spec/.
#[derive(Parser, Debug)]
#[command(name = "ebr", version, about, long_about)]
struct Cli {}

fn main() {
    // No subcommand yet: `ebr` and `ebr --help` print the help, `ebr --version` the version.
    let _cli = Cli::parse();
    let mut command = <Cli as clap::CommandFactory>::command();
    // Printing the help can only fail on a closed stdout; there is nothing more to say then.
    let _ = command.print_long_help();
}
