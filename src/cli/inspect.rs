//! `ebr inspect`: the layers of a model, their output shapes, parameter counts, strides and
//! receptive fields, and which of them `--layer` accepts.

use std::path::{Path, PathBuf};

use clap::Args;

use ebr::model::schema::model_json_path;
use ebr::model::{ChannelOrder, FrameLayer, Model, ModelSpec, TemporalLayer};
use ebr::Error;

use super::output_text::print_line;
use super::MemoryArg;

/// The layers of a model directory: output shape, parameters, stride and receptive field (in
/// input pixels), and the names `ebr ground --layer` accepts.
///
/// Example:
///   ebr inspect --model fixtures/caffe-nets/tiny_cnn_lstm
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct InspectArgs {
    /// Model directory: model.json and one .npy per parameter.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    memory: MemoryArg,
}

/// (stride, receptive field) after a layer with `kernel` and `stride`, given the jump and the
/// receptive field of its input (in input pixels).
fn after(kernel: usize, stride: usize, jump: usize, field: usize) -> (usize, usize) {
    (jump * stride, field + (kernel - 1) * jump)
}

/// Whether `dir` holds no parameter file at all: a model.json written without weights
/// (`ebr import-caffe` without --weights; spec/caffe-import.md, CAFFE-13).
fn holds_no_weights(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        !entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "npy"))
    })
}

pub fn run(args: &InspectArgs) -> Result<(), Error> {
    let model = match Model::load_within(&args.model, args.memory.memory_budget) {
        Ok(model) => model,
        Err(Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound && holds_no_weights(&args.model) =>
        {
            let spec = ModelSpec::read(&model_json_path(&args.model))?;
            print_line(format_args!(
                "weights: missing (model.json only); shapes and parameter counts from model.json"
            ));
            Model::architecture(&spec, &args.model)?
        }
        Err(error) => return Err(error),
    };
    let net = &model.frame;
    let [c, h, w] = net.input_shape();
    print_line(format_args!(
        "model: {} ({})",
        model.name,
        model.dir.display()
    ));
    let resize = match model.input.resize {
        Some([rh, rw]) => format!("resize to {rh}x{rw}, then a center crop"),
        None => "no resize".to_string(),
    };
    let order = match model.input.channel_order {
        ChannelOrder::Bgr => "bgr",
        ChannelOrder::Rgb => "rgb",
    };
    print_line(format_args!(
        "input: {c}x{h}x{w}, {resize}, scale {}, channel order {order}, mean {:?}, std {:?}",
        model.input.scale, model.input.mean, model.input.std
    ));
    print_line(format_args!(
        "{:<14} {:<9} {:>16} {:>12} {:>7} {:>9}",
        "layer", "type", "output", "parameters", "stride", "receptive"
    ));
    print_line(format_args!(
        "{:<14} {:<9} {:>16} {:>12} {:>7} {:>9}",
        "data",
        "input",
        format!("{c}x{h}x{w}"),
        0,
        1,
        1
    ));
    let (mut jump, mut field) = (1usize, 1usize);
    let mut total = 0usize;
    for (i, layer) in net.layers.iter().enumerate() {
        let shape = net.blob_shapes[net.layer_blob[i]];
        let params = match layer {
            FrameLayer::Conv { conv, .. } => {
                let g = conv.geometry;
                (jump, field) = after(g.kernel, g.stride, jump, field);
                conv.w.len() + conv.b.as_ref().map_or(0, Vec::len)
            }
            FrameLayer::MaxPool { pool, .. } => {
                let g = pool.geometry;
                (jump, field) = after(g.kernel, g.stride, jump, field);
                0
            }
            FrameLayer::AvgPool { pool, .. } => {
                let g = pool.geometry;
                (jump, field) = after(g.kernel, g.stride, jump, field);
                0
            }
            FrameLayer::Fc { fc, .. } => {
                field = h.max(w);
                fc.w.len() + fc.b.as_ref().map_or(0, Vec::len)
            }
            FrameLayer::Relu | FrameLayer::Dropout => 0,
        };
        total += params;
        let name = layer.name().unwrap_or("");
        let shown = format!("{}x{}x{}", shape[0], shape[1], shape[2]);
        print_line(format_args!(
            "{name:<14} {:<9} {shown:>16} {params:>12} {jump:>7} {field:>9}",
            layer.kind()
        ));
    }
    let mut width = net.feature_len();
    print_line(format_args!(
        "feature blob: {} ({width} values per frame)",
        net.layer_names().last().map_or("data", String::as_str)
    ));
    for layer in &model.temporal {
        match layer {
            TemporalLayer::Lstm { name, lstm } => {
                let params = lstm.input_transform.w.len() + 4 * lstm.hidden + lstm.w_hc.len();
                total += params;
                print_line(format_args!(
                    "{name:<14} {:<9} {:>16} {params:>12}",
                    "lstm",
                    format!("T x {}", lstm.hidden)
                ));
                width = lstm.hidden;
            }
            TemporalLayer::MeanPool => print_line(format_args!(
                "{:<14} {:<9} {:>16} {:>12}",
                "",
                "mean_pool",
                format!("1 x {width}"),
                0
            )),
        }
    }
    if let Some(c) = &model.captioner {
        let embed = c.embedding.len();
        let lstm = |l: &ebr::layers::Lstm| l.input_transform.w.len() + 4 * l.hidden + l.w_hc.len();
        total += embed + lstm(&c.lstm1) + lstm(&c.lstm2);
        print_line(format_args!(
            "{:<14} {:<9} {:>16} {embed:>12}   (captioner: the previous word)",
            c.embed_name,
            "embed",
            format!("S x {}", c.dim)
        ));
        print_line(format_args!(
            "{:<14} {:<9} {:>16} {:>12}",
            c.lstm1_name,
            "lstm",
            format!("S x {}", c.lstm1.hidden),
            lstm(&c.lstm1)
        ));
        print_line(format_args!(
            "{:<14} {:<9} {:>16} {:>12}   (static input: the mean feature, {})",
            c.lstm2_name,
            "lstm",
            format!("S x {}", c.lstm2.hidden),
            lstm(&c.lstm2),
            c.static_width
        ));
    }
    for (role, head) in [
        ("classifier", Some(&model.classifier)),
        ("frame head", model.frame_classifier.as_ref()),
    ] {
        if let Some(head) = head {
            let params = head.fc.w.len() + head.fc.b.as_ref().map_or(0, Vec::len);
            total += params;
            print_line(format_args!(
                "{:<14} {:<9} {:>16} {params:>12}   ({role})",
                head.name, "fc", head.fc.outputs
            ));
        }
    }
    print_line(format_args!(
        "parameters: {total}; classes: {}",
        model.classes()
    ));
    print_line(format_args!(
        "--layer accepts: {}",
        net.layer_names().join(", ")
    ));
    Ok(())
}
