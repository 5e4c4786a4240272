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
    let _cli = Cli::parse();
    println!(
        "ebr {}: the layer library is ready; run `ebr --help` for what comes next.",
        env!("CARGO_PKG_VERSION")
    );
}
