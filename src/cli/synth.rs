//! `ebr synth`: synthetic action clips with exact ground truth (spec/synth.md).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use ebr::synth::{write_sets, Protocol, ProtocolChoice, SetOptions};
use ebr::Error;

use super::output_text::print_line;

/// Write a set of synthetic action clips with exact ground truth (spec/synth.md).
///
/// Six classes, each a shape and a direction of motion (disk left/right, square up/down,
/// triangle down-right/up-left), 64x64 RGB frames, cluttered moving backgrounds. The same seed
/// gives the same bytes on every run and platform (all but the run's id, in summary.json and
/// .ebr-output).
///
/// Writes into --out (replaced as a whole, only if it is an earlier ebr output of synth or
/// empty; spec/outputs.md):
///   set.json            the set: classes, preprocessing, every clip's ground truth
///   clips/NNNN.npy      (T, 3, 64, 64) float32, preprocessed as set.json's "input" says
///   examples/NNNN/TT.png  the RGB frames of the first --examples clips
///   summary.json        what was written
///   .ebr-output         the marker of an ebr output, with the run's id
/// With --protocol all, the three action sets go into --out/trimmed, --out/splice2,
/// --out/splice3. --protocol caption writes one set of two actors of different shapes in
/// sequence, with a caption naming them ("disk left then square up") and the frames each noun
/// names, for a captioning model (ebr ground-caption).
///
/// Examples:
///   ebr synth --out train --protocol trimmed --clips 3000 --seed 1
///   ebr synth --out eval --protocol all --clips 200 --seed 7
///   ebr synth --out captions --protocol caption --clips 200 --seed 7
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SynthArgs {
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Clips per set (1 to 10000).
    #[arg(long, default_value_t = 100, value_name = "N")]
    clips: usize,
    /// The seed: clip k depends only on the seed, the protocol and k.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// trimmed: one action, 16 frames; splice2: rand + GT or GT + rand, 8 + 8 frames;
    /// splice3: rand + GT + rand, 64 frames, GT of 6, 20 or 32; all: those three;
    /// caption: two actors in sequence, 8 + 8 frames, with a caption.
    #[arg(long, value_enum, default_value_t = ProtocolArg::All)]
    protocol: ProtocolArg,
    /// Also write the frames of the first N clips of each set as PNG.
    #[arg(long, default_value_t = 2, value_name = "N")]
    examples: usize,
    /// Worker threads (0: one per core; at most 256); the output does not depend on it.
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = super::thread_count)]
    threads: usize,
    /// Print nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ProtocolArg {
    Trimmed,
    Splice2,
    Splice3,
    All,
    Caption,
}

impl ProtocolArg {
    fn choice(self) -> ProtocolChoice {
        match self {
            ProtocolArg::Trimmed => ProtocolChoice::One(Protocol::Trimmed),
            ProtocolArg::Splice2 => ProtocolChoice::One(Protocol::Splice2),
            ProtocolArg::Splice3 => ProtocolChoice::One(Protocol::Splice3),
            ProtocolArg::All => ProtocolChoice::All,
            ProtocolArg::Caption => ProtocolChoice::One(Protocol::Caption),
        }
    }
}

pub fn run(args: &SynthArgs) -> Result<(), Error> {
    let options = SetOptions {
        protocols: args.protocol.choice(),
        clips: args.clips,
        seed: args.seed,
        examples: args.examples.min(args.clips),
        threads: args.threads,
    };
    let written = write_sets(&args.out, &options)?;
    if !args.quiet {
        let sets = match options.protocols {
            ProtocolChoice::One(p) => p.name().to_string(),
            ProtocolChoice::All => "trimmed, splice2, splice3".to_string(),
        };
        print_line(format_args!(
            "{} clips per set ({sets}), seed {}: {}",
            options.clips,
            options.seed,
            written.display()
        ));
    }
    Ok(())
}
