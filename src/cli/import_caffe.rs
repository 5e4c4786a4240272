//! `ebr import-caffe`: a Caffe deploy.prototxt (+ .caffemodel) into an ebr model directory,
//! or the layers of a .caffemodel listed. spec/caffe-import.md

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use ebr::caffe::{
    import, list_layers, read_caffemodel, read_labels, write_model_dir, InputOptions, Preset,
    WeightSource,
};
use ebr::model::schema::{FrameLayerSpec, TemporalLayerSpec};
use ebr::model::ChannelOrder;
use ebr::Error;

use super::output_text::print_line;

/// Imports a Caffe net (deploy.prototxt, and its .caffemodel) as an ebr model directory, with
/// no Caffe and no Python; or lists a .caffemodel's layers and blob shapes.
///
/// The prototxt gives the layers; the caffemodel's blobs are matched to them by layer name, as
/// Caffe does. How frames become the input is not in a prototxt: --preset and the options
/// after it say it (spec/caffe-import.md, CAFFE-12).
///
/// Examples:
///   ebr import-caffe --prototxt deploy.prototxt --weights net.caffemodel --preset authors --out vgg16_lstm
///   ebr import-caffe --prototxt deploy.prototxt --random-weights 7 --out untrained
///   ebr import-caffe --prototxt deploy.prototxt --out architecture   # model.json only
///   ebr import-caffe --list net.caffemodel
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct ImportCaffeArgs {
    /// The net: a Caffe prototxt (protobuf text format).
    #[arg(long, value_name = "FILE", required_unless_present = "list")]
    prototxt: Option<PathBuf>,
    /// The trained weights: a .caffemodel. Without it (and without --random-weights) only
    /// model.json is written.
    #[arg(long, value_name = "FILE", conflicts_with = "random_weights")]
    weights: Option<PathBuf>,
    /// He-initialised weights from this seed instead of a caffemodel.
    #[arg(long, value_name = "SEED")]
    random_weights: Option<u64>,
    /// The model directory to write; it must not exist.
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    out: Option<PathBuf>,
    /// The input block's preset: caffe (no resize, x255, BGR, no mean) or authors (the RNN
    /// demo's: resize 240x320, x255, BGR, mean 103.939,116.779,128.68).
    #[arg(long, value_enum, default_value_t = PresetArg::Caffe)]
    preset: PresetArg,
    /// Resize every frame to H,W before the center crop.
    #[arg(long, value_name = "H,W", value_parser = parse_size, conflicts_with = "no_resize")]
    resize: Option<[usize; 2]>,
    /// No resize, even if the preset has one.
    #[arg(long)]
    no_resize: bool,
    /// Pixel values in [0, 1] are multiplied by this.
    #[arg(long, value_name = "S")]
    scale: Option<f64>,
    /// The model's channel order.
    #[arg(long, value_enum, value_name = "ORDER")]
    channel_order: Option<OrderArg>,
    /// Subtracted per channel, in the model's channel order.
    #[arg(
        long,
        value_name = "A,B,C",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    mean: Option<Vec<f64>>,
    /// Class names: one per line, or `index name` per line (UCF101's classInd.txt).
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// List a .caffemodel's layers (name, type, phase, bottoms -> tops, blob shapes).
    #[arg(long, value_name = "FILE.caffemodel", conflicts_with_all = ["prototxt", "out", "weights", "random_weights"])]
    list: Option<PathBuf>,
    /// No notes on stderr and no report on stdout.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PresetArg {
    Caffe,
    Authors,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OrderArg {
    Bgr,
    Rgb,
}

/// `--resize`'s value: two whole numbers >= 1, `H,W`.
fn parse_size(text: &str) -> Result<[usize; 2], String> {
    let sizes: Vec<usize> = text
        .split(',')
        .map(|part| part.trim().parse::<usize>().ok().filter(|&n| n >= 1))
        .collect::<Option<_>>()
        .unwrap_or_default();
    match sizes[..] {
        [h, w] => Ok([h, w]),
        _ => Err(format!("{text:?} is not H,W (two whole numbers >= 1)")),
    }
}

pub fn run(args: &ImportCaffeArgs) -> Result<(), Error> {
    if let Some(path) = &args.list {
        let net = read_caffemodel(path)?;
        print_line(format_args!(
            "net \"{}\": {} layers",
            net.name,
            net.layers.len()
        ));
        for line in list_layers(&net) {
            print_line(format_args!("{line}"));
        }
        return Ok(());
    }
    let (Some(prototxt), Some(out)) = (&args.prototxt, &args.out) else {
        unreachable!("clap requires --prototxt and --out without --list")
    };
    let weights = match (&args.weights, args.random_weights) {
        (Some(path), _) => WeightSource::Caffemodel(path.clone()),
        (None, Some(seed)) => WeightSource::Random(seed),
        (None, None) => WeightSource::Missing,
    };
    let input = InputOptions {
        preset: match args.preset {
            PresetArg::Caffe => Preset::Caffe,
            PresetArg::Authors => Preset::Authors,
        },
        resize: args.resize,
        no_resize: args.no_resize,
        scale: args.scale,
        channel_order: args.channel_order.map(|o| match o {
            OrderArg::Bgr => ChannelOrder::Bgr,
            OrderArg::Rgb => ChannelOrder::Rgb,
        }),
        mean: args.mean.clone(),
    };
    let labels = match &args.labels {
        Some(path) => Some(read_labels(path)?),
        None => None,
    };
    if out.exists() {
        return Err(Error::Model {
            path: out.clone(),
            reason: "exists; give a new directory for the imported model".to_string(),
        });
    }
    let imported = import(prototxt, &weights, &input, labels)?;
    write_model_dir(&imported, out)?;
    if !args.quiet {
        for note in &imported.notes {
            eprintln!("ebr: note: {note}");
        }
        let spec = &imported.spec;
        let convs = spec
            .frame
            .iter()
            .filter(|l| matches!(l, FrameLayerSpec::Conv { .. }))
            .count();
        let temporal: Vec<String> = spec
            .temporal
            .iter()
            .map(|l| match l {
                TemporalLayerSpec::Lstm { name, hidden } => format!("lstm {name} ({hidden})"),
                TemporalLayerSpec::MeanPool => "mean_pool".to_string(),
            })
            .collect();
        let weights = match &weights {
            WeightSource::Caffemodel(path) => format!("weights from {}", path.display()),
            WeightSource::Random(seed) => format!("random weights (seed {seed})"),
            WeightSource::Missing => "no weights (model.json only)".to_string(),
        };
        print_line(format_args!(
            "imported \"{}\": {} frame layers ({convs} conv), temporal [{}], classifier {} ({} classes){}; {weights}; wrote {}",
            spec.name,
            spec.frame.len(),
            temporal.join(", "),
            spec.classifier.name,
            spec.classifier.out,
            spec.frame_classifier
                .as_ref()
                .map_or(String::new(), |h| format!(", frame classifier {}", h.name)),
            out.display()
        ));
    }
    Ok(())
}
