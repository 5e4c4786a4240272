//! `ebr ground-batch`: ground every clip of a manifest with one loaded model, one output
//! directory per clip under --out and an index of the results; resumable, shardable over
//! processes and machines (spec/batch.md).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use ebr::batch::dir::{completed, open_batch_dir, remove_stale_index_temporaries};
use ebr::batch::index::{merge_shards, write_index, IndexRow, Status, INDEX};
use ebr::batch::manifest::{read_manifest, Entry, Shard, Target};
use ebr::model::Model;
use ebr::output::InputPath;
use ebr::Error;

use super::ground::{ground_clip, ClipJob, GroundOptions};
use super::output_text::print_line;
use super::{load_model, ConvArg, MemoryArg, Workers};

/// Ground many clips: every row of a manifest, with the model loaded once.
///
/// The manifest is JSON lines, one clip a line (relative paths from the manifest's directory):
///   {"clip": "clips/v_Ride_g01.npy", "target": "HorseRiding", "name": "ride01"}
///   {"clip": "frames/v_Surf_g02", "target": 7}
///   {"clip": "clips/x.npy", "target": "top"}        (the model's top class)
/// Writes under --out (a batch directory of ebr's; spec/batch.md):
///   NAME/             what `ebr ground` writes, per row (NAME: "name", or from the clip)
///   index.jsonl       one row per clip: clip, target, class, predicted class and probability,
///                     segment, peak, status (ok, skipped, failed), error, seconds
///   index.K-of-N.jsonl  the index of --shard K/N instead; --merge joins them into index.jsonl
/// A rerun skips the rows whose directory is complete for the same request. Exit code 1 if
/// any row failed (the last line says how many).
///
/// Examples:
///   ebr ground-batch --model DIR --manifest clips.jsonl --out results
///   ebr ground-batch --model DIR --manifest clips.jsonl --out results --shard 3/16
///   ebr ground-batch --merge --manifest clips.jsonl --out results
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct GroundBatchArgs {
    /// Model directory: model.json and one .npy per parameter (spec/model.md).
    #[arg(long, value_name = "DIR", required_unless_present = "merge")]
    model: Option<PathBuf>,
    /// The clips: JSON lines of {"clip": PATH, "target": NAME|INDEX|"top", "name": NAME}.
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// The batch directory: one directory per row, and the index.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Ground only the rows i with i mod N == K (rows from 0), into index.K-of-N.jsonl.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse, conflicts_with = "merge")]
    shard: Option<Shard>,
    /// Join the shards' indexes in --out into index.jsonl; ground nothing.
    #[arg(long)]
    merge: bool,
    #[command(flatten)]
    workers: Workers,
    /// No progress bar and nothing on stdout (a failure still ends with its line on stderr).
    #[arg(long, short)]
    quiet: bool,
    /// One line per clip on stdout.
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    memory: MemoryArg,
    /// How the 3x3, stride-1 convolutions compute their products: auto, Winograd where the
    /// layer has 16 or more input channels; direct, im2col (the reference); winograd, every
    /// such layer (spec/layers/winograd.md).
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ConvArg::Auto)]
    conv: ConvArg,
    #[command(flatten)]
    options: GroundOptions,
}

/// Reads the manifest, then merges, or grounds this run's rows.
pub fn run(args: &GroundBatchArgs) -> Result<(), Error> {
    let entries = read_manifest(&args.manifest)?;
    let model_dir = match (&args.model, args.merge) {
        (Some(dir), false) => dir,
        _ => return merge(args, &entries),
    };
    let mut model = load_model(model_dir, args.quiet, args.memory.memory_budget)?;
    model.set_conv_algorithm(args.conv.algorithm());
    let inputs = [
        InputPath::new("the model directory (--model)", model_dir),
        InputPath::new("the manifest (--manifest)", &args.manifest),
    ];
    open_batch_dir(&args.out, &inputs)?;
    remove_stale_index_temporaries(&args.out);
    let index = args
        .out
        .join(args.shard.map_or(INDEX.to_string(), |s| s.index_name()));
    // spec/batch.md (BATCH-3): row i belongs to shard i mod N.
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| args.shard.is_none_or(|s| s.holds(e.row)))
        .collect();
    let bar = clip_bar(mine.len(), args.quiet);
    let mut rows = Vec::with_capacity(mine.len());
    for (k, entry) in mine.iter().enumerate() {
        let row = ground_row(args, &model, model_dir, entry);
        if args.verbose {
            bar.suspend(|| {
                print_line(format_args!(
                    "[{}/{}] {}",
                    k + 1,
                    mine.len(),
                    row_line(&row)
                ))
            });
        }
        rows.push(row);
        // The whole index, atomically, after every row (BATCH-5).
        write_index(&index, &rows)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    let (ok, skipped, failed) = (
        count(Status::Ok),
        count(Status::Skipped),
        count(Status::Failed),
    );
    let totals = format!(
        "{} clips: {ok} grounded, {skipped} skipped (done before), {failed} failed",
        rows.len()
    );
    if failed > 0 {
        return Err(ebr::batch::refusal(
            &index,
            format!("{totals}; their errors are in the index"),
        ));
    }
    if !args.quiet {
        print_line(format_args!("{totals}; {}", index.display()));
    }
    Ok(())
}

/// `--merge`: the shards' indexes joined (BATCH-6).
fn merge(args: &GroundBatchArgs, entries: &[Entry]) -> Result<(), Error> {
    let rows = merge_shards(&args.out, entries)?;
    let failed = rows.iter().filter(|r| r.status == Status::Failed).count();
    print_line(format_args!(
        "merged {} rows, {failed} failed; {}",
        rows.len(),
        args.out.join(INDEX).display()
    ));
    Ok(())
}

/// What identifies a row's directory as done (BATCH-4): the model, the clip, the target and
/// every option that changes what is written.
fn batch_request(args: &GroundBatchArgs, model_dir: &std::path::Path, entry: &Entry) -> Value {
    json!({
        "model": model_dir.display().to_string(),
        "clip": entry.clip_text,
        "target": entry.target.text(),
        "options": format!("{:?}", args.options),
        "conv": format!("{:?}", args.conv),
    })
}

/// Grounds one row, or skips it if its directory is done; never an error (BATCH-4).
fn ground_row(
    args: &GroundBatchArgs,
    model: &Model,
    model_dir: &std::path::Path,
    entry: &Entry,
) -> IndexRow {
    let start = Instant::now();
    let dir = args.out.join(&entry.name);
    let request = batch_request(args, model_dir, entry);
    if let Some(summary) = completed(&dir, &request) {
        let mut row = IndexRow::new(entry, Status::Skipped, 0.0);
        if row.fill_from_summary(&summary) {
            return row;
        }
    }
    let job = ClipJob {
        clip: &entry.clip,
        target: match &entry.target {
            Target::Class(text) => Some(text),
            Target::Top => None,
        },
        out: &dir,
        inputs: vec![
            InputPath::new("the model directory (--model)", model_dir),
            InputPath::new("the clip", &entry.clip),
        ],
        batch_request: Some(request.clone()),
        execution: args.workers.execution(),
        budget: args.memory.memory_budget,
        quiet: true,
    };
    let result = ground_clip(model, &args.options, &job).and_then(|()| {
        completed(&dir, &request).ok_or_else(|| {
            ebr::batch::refusal(&dir, "its summary.json could not be read back".to_string())
        })
    });
    let mut row = IndexRow::new(entry, Status::Ok, 0.0);
    match result {
        Ok(summary) => {
            row.fill_from_summary(&summary);
        }
        Err(error) => {
            row.status = Status::Failed;
            row.error = Some(error.to_string());
        }
    }
    row.seconds = start.elapsed().as_secs_f64();
    row
}

/// A row as one line for --verbose.
fn row_line(row: &IndexRow) -> String {
    let status = match row.status {
        Status::Ok => "ok",
        Status::Skipped => "skipped (done before)",
        Status::Failed => "failed",
    };
    match (&row.class, &row.predicted, row.segment, row.peak) {
        (Some(class), Some(p), Some([s, e]), Some(peak)) => format!(
            "{}: {status}, {} ({}), predicted {} {:.3}, segment {s}..={e}, peak {peak}, {:.2} s",
            row.name, class.name, class.index, p.name, p.probability, row.seconds
        ),
        _ => format!(
            "{}: {status}: {}",
            row.name,
            row.error.as_deref().unwrap_or("")
        ),
    }
}

/// One bar over the clips on stderr, shown only on a terminal and without --quiet.
fn clip_bar(total: usize, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template(
        "ground-batch [{bar:30}] {pos}/{len} clips, {elapsed}, ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}
