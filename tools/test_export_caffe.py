#!/usr/bin/env python3
"""Tests of tools/export_caffe.py's mapping, without pycaffe (numpy only).

Run by hand: python3 tools/test_export_caffe.py (it prints one line per test and exits
non-zero on a failure; pytest collects the same test_* functions). Never run by CI.

What stands in for Caffe: dicts shaped like the protobuf messages (field names of
caffe.proto, only the fields a prototxt sets), the parameter arrays of the Caffe fixtures in
fixtures/caffe/ (made by the authors' code), and blob shapes written out by hand. Two nets are
exported and compared with the fixtures' model.json files (fixtures/caffe-nets/) and arrays:
- the authors' VGG16_LSTM layout (DummyData inputs, in-place relu/dropout, reshape-data,
  reshape-cm, LSTM, a not-in-place lstm1-drop, fc8 with axis 2, softmax, a dummy
  EuclideanLoss) at the size of fixtures/caffe/tiny_cnn_lstm, with its per-frame head fc8f;
- fixtures/caffe/tiny_cnn_meanpool, from the prototxt text in its manifest.json (read by a
  small text-format reader below, standing in for protobuf's text_format).
Then every refusal the exporter promises, one net each. If an ebr binary is found
(target/release/ebr or target/debug/ebr, or $EBR), the exported directories are also loaded
with `ebr inspect`.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import export_caffe as ec  # noqa: E402

FIXTURES = os.path.join(ROOT, "fixtures", "caffe")
NETS = os.path.join(ROOT, "fixtures", "caffe-nets")  # the fixtures' model.json files


# ---------------------------------------------------------------------------------------------
# Building descriptions
# ---------------------------------------------------------------------------------------------

def layer(name, kind, bottom=(), top=(), **fields):
    """A LayerParameter-like dict."""
    d = {"name": name, "type": kind}
    if bottom:
        d["bottom"] = list(bottom)
    if top:
        d["top"] = list(top)
    d.update(fields)
    return d


def conv(name, bottom, out, kernel=3, pad=1, **extra):
    p = {"num_output": out, "kernel_size": [kernel], "pad": [pad]}
    p.update(extra)
    return layer(name, "Convolution", [bottom], [name], convolution_param=p)


def relu(name, blob):
    return layer(name, "ReLU", [blob], [blob])


def maxpool(name, bottom, kernel=2, stride=2):
    return layer(name, "Pooling", [bottom], [name],
                 pooling_param={"pool": "MAX", "kernel_size": kernel, "stride": stride})


def fc(name, bottom, out, **extra):
    p = {"num_output": out}
    p.update(extra)
    return layer(name, "InnerProduct", [bottom], [name], inner_product_param=p)


def dropout(name, bottom, top=None):
    return layer(name, "Dropout", [bottom], [top or bottom], dropout_param={"dropout_ratio": 0.5})


def authors_like_net(frames=8):
    """The authors' deploy.prototxt layout (models/VGG16_LSTM/deploy.prototxt) at the size of
    fixtures/caffe/tiny_cnn_lstm: 3 conv blocks instead of 13 convolutions, fc6/fc7 64,
    LSTM 32, fc8 10 classes; plus the fixture's per-frame head fc8f on fc7."""
    return {
        "name": "lstm_joints",
        "layer": [
            layer("data", "DummyData", top=["data"],
                  dummy_data_param={"shape": [{"dim": [frames, 3, 32, 32]}]}),
            layer("clip_markers", "DummyData", top=["clip_markers"],
                  dummy_data_param={"shape": [{"dim": [frames, 1, 1, 1]}]}),
            conv("conv1", "data", 8), relu("relu1", "conv1"), maxpool("pool1", "conv1"),
            conv("conv2", "pool1", 16), relu("relu2", "conv2"), maxpool("pool2", "conv2"),
            conv("conv3", "pool2", 16), relu("relu3", "conv3"), maxpool("pool3", "conv3"),
            fc("fc6", "pool3", 64), relu("relu6", "fc6"), dropout("drop6", "fc6"),
            fc("fc7", "fc6", 64), relu("relu7", "fc7"), dropout("drop7", "fc7"),
            layer("reshape-data", "Reshape", ["fc7"], ["fc7-reshape"],
                  reshape_param={"shape": {"dim": [frames, 1, 64]}}),
            layer("reshape-cm", "Reshape", ["clip_markers"], ["reshape-cm"],
                  reshape_param={"shape": {"dim": [frames, 1]}}),
            layer("lstm1", "LSTM", ["fc7-reshape", "reshape-cm"], ["lstm1"],
                  recurrent_param={"num_output": 32}),
            dropout("lstm1-drop", "lstm1", "lstm1-drop"),
            fc("fc8", "lstm1-drop", 10, axis=2),
            layer("probs", "Softmax", ["fc8"], ["probs"], softmax_param={"axis": 2}),
            fc("fc8f", "fc7", 10),
            layer("probs-frame", "Softmax", ["fc8f"], ["probs-frame"]),
            layer("dummyLoss", "EuclideanLoss", ["probs", "probs"], ["loss"]),
        ],
    }


def authors_like_shapes(frames=8):
    """caffe.Net's blob shapes for authors_like_net (written out by hand)."""
    t = frames
    return {
        "data": (t, 3, 32, 32), "clip_markers": (t, 1, 1, 1),
        "conv1": (t, 8, 32, 32), "pool1": (t, 8, 16, 16), "conv2": (t, 16, 16, 16),
        "pool2": (t, 16, 8, 8), "conv3": (t, 16, 8, 8), "pool3": (t, 16, 4, 4),
        "fc6": (t, 64), "fc7": (t, 64), "fc7-reshape": (t, 1, 64), "reshape-cm": (t, 1),
        "lstm1": (t, 1, 32), "lstm1-drop": (t, 1, 32), "fc8": (t, 1, 10), "probs": (t, 1, 10),
        "fc8f": (t, 10), "probs-frame": (t, 10), "loss": (),
    }


def fixture_params(case):
    """net.params of a fixture case: its <layer>_w/_b and lstm1_W_xc/b_c/W_hc files."""
    d = os.path.join(FIXTURES, case)
    params = {}
    for f in sorted(os.listdir(d)):
        m = re.match(r"^(.*)_(w|b)\.npy$", f)
        if m and not f.startswith(("c3_", "c7_", "fwd_")):
            params.setdefault(m.group(1), {})[m.group(2)] = np.load(os.path.join(d, f))
    out = {k: [v["w"], v["b"]] for k, v in params.items()}
    if os.path.exists(os.path.join(d, "lstm1_W_xc.npy")):
        out["lstm1"] = [np.load(os.path.join(d, "lstm1_%s.npy" % k)) for k in ("W_xc", "b_c", "W_hc")]
    return out


def random_params(net, seed=0):
    """Random parameters of the right shapes for the small hand-made nets below."""
    rng = np.random.default_rng(seed)
    shapes = {
        "conv1": [(4, 3, 3, 3), (4,)], "conv2": [(4, 4, 3, 3), (4,)],
        "fc6": [(16, 4 * 4 * 4), (16,)], "fc7": [(8, 16), (8,)],
        "lstm1": [(4 * 6, 8), (4 * 6,), (4 * 6, 6)], "fc8": [(5, 6), (5,)],
    }
    return {k: [rng.standard_normal(s).astype(np.float32) for s in v] for k, v in shapes.items()}


def small_net(frames=4):
    """A small CNN-LSTM (8x8 input) to mutate in the refusal tests."""
    return {
        "name": "small",
        "input": ["data", "cm"],
        "input_shape": [{"dim": [frames, 3, 8, 8]}, {"dim": [frames, 1]}],
        "layer": [
            conv("conv1", "data", 4), relu("relu1", "conv1"), maxpool("pool1", "conv1"),
            conv("conv2", "pool1", 4), relu("relu2", "conv2"),
            fc("fc6", "conv2", 16), relu("relu6", "fc6"),
            fc("fc7", "fc6", 8), relu("relu7", "fc7"), dropout("drop7", "fc7"),
            layer("to-seq", "Reshape", ["fc7"], ["seq"], reshape_param={"shape": {"dim": [0, 1, -1]}}),
            layer("lstm1", "LSTM", ["seq", "cm"], ["lstm1"], recurrent_param={"num_output": 6}),
            fc("fc8", "lstm1", 5, axis=2),
            layer("prob", "Softmax", ["fc8"], ["prob"], softmax_param={"axis": 2}),
        ],
    }


def find(net, name):
    for l in net["layer"]:
        if l["name"] == name:
            return l
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# A small reader of protobuf text format (standing in for google.protobuf.text_format): a
# field read once is a value, a field read several times a list.
# ---------------------------------------------------------------------------------------------

TOKEN = re.compile(r'\s*(?:#[^\n]*\n?)*\s*("(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"#]+)')


def parse_prototxt(text):
    tokens = []
    pos = 0
    while True:
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        tokens.append(m.group(1))
        pos = m.end()
    if text[pos:].strip():
        raise ValueError("cannot read the prototxt at %r" % text[pos:pos + 20])

    def value(tok):
        if tok.startswith('"'):
            return tok[1:-1]
        if tok in ("true", "false"):
            return tok == "true"
        for cast in (int, float):
            try:
                return cast(tok)
            except ValueError:
                pass
        return tok  # an enum name

    def message(i, end):
        out = {}
        while i < len(tokens) and tokens[i] != end:
            key = tokens[i]
            i += 1
            if tokens[i] == ":":
                i += 1
            if tokens[i] == "{":
                v, i = message(i + 1, "}")
                i += 1
                vals = [v]
            elif tokens[i] == "[":
                vals = []
                i += 1
                while tokens[i] != "]":
                    if tokens[i] != ",":
                        vals.append(value(tokens[i]))
                    i += 1
                i += 1
            else:
                vals = [value(tokens[i])]
                i += 1
            for v in vals:
                if key in out:
                    if not isinstance(out[key], list):
                        out[key] = [out[key]]
                    out[key].append(v)
                else:
                    out[key] = v
        return out, i

    msg, _ = message(0, None)
    return msg


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def refused(fn, *args, **kwargs):
    """The one-line message of the SystemExit `fn` raises (fails if it does not)."""
    try:
        fn(*args, **kwargs)
    except SystemExit as e:
        message = str(e)
        assert "\n" not in message, message
        return message
    raise AssertionError("expected a refusal")


def normalized_layer(entry):
    """A model.json layer with ebr's defaults filled in, for comparisons."""
    e = dict(entry)
    if e["type"] in ("conv", "max_pool", "avg_pool"):
        e.setdefault("stride", 1)
        e.setdefault("pad", 0)
    if e["type"] in ("conv", "fc"):
        e.setdefault("bias", True)
    return e


def compare_with_fixture(model, case):
    """The exported model.json describes the same net as the fixture's own model.json."""
    with open(os.path.join(NETS, case, "model.json")) as f:
        want = json.load(f)
    for key in ("channels", "height", "width", "scale", "channel_order", "mean"):
        assert model["input"][key] == want["input"][key], key
    assert [normalized_layer(l) for l in model["frame"]] == [normalized_layer(l) for l in want["frame"]]
    assert model["temporal"] == want["temporal"], (model["temporal"], want["temporal"])
    assert normalized_layer(model["classifier"]) == normalized_layer(want["classifier"])
    if "frame_classifier" in want:
        assert normalized_layer(model["frame_classifier"]) == normalized_layer(want["frame_classifier"])
    else:
        assert "frame_classifier" not in model
    assert model["labels"] == want["labels"]


def find_ebr():
    """An ebr binary to load exported directories with, or None."""
    candidates = [os.environ.get("EBR")] if os.environ.get("EBR") else []
    candidates += [os.path.join(ROOT, "target", b, "ebr") for b in ("release", "debug")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def ebr_inspect(out_dir):
    """Loads `out_dir` with `ebr inspect` when a binary is available; returns its output."""
    ebr = find_ebr()
    if ebr is None:
        print("    (no ebr binary found: `ebr inspect` not run; build with cargo build --release)")
        return None
    run = subprocess.run([ebr, "inspect", "--model", out_dir], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    assert run.returncode == 0, "ebr inspect failed:\n" + run.stderr
    print("    ebr inspect (%s): ok, %d lines" % (os.path.relpath(ebr, ROOT), len(run.stdout.splitlines())))
    return run.stdout


class TempDir:
    """A temporary directory removed afterwards (a context manager)."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="ebr-export-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Tests: the two fixture nets
# ---------------------------------------------------------------------------------------------

def test_authors_layout_matches_tiny_cnn_lstm():
    net = authors_like_net()
    params = fixture_params("tiny_cnn_lstm")
    labels = ["class%d" % k for k in range(10)]
    result = ec.convert(net, params, authors_like_shapes(), {
        "name": "tiny", "labels": labels, "frame_classifier": "fc8f", "resize": None})
    model = result["model"]
    compare_with_fixture(model, "tiny_cnn_lstm")
    assert model["format"] == "ebr-model-1"
    assert model["input"]["crop"] == "center" and model["input"]["std"] == [1.0, 1.0, 1.0]
    assert "resize" not in model["input"]
    assert set(result["param_layers"]) == {"conv1", "conv2", "conv3", "fc6", "fc7", "lstm1", "fc8", "fc8f"}
    notes = "\n".join(result["notes"])
    assert "lstm1-drop" in notes and "identity" in notes, notes
    assert "ReLU-LSTM" in notes and "T = 8" in notes, notes
    assert "dummyLoss" in notes and "probs" in notes, notes
    with TempDir() as d:
        ec.write_model_dir(d, result)
        lines = ec.verify_model_dir(d)
        assert any(l.startswith("total parameters:") for l in lines)
        with open(os.path.join(d, "model.json")) as f:
            assert json.load(f) == model
        want = sorted(f for f in os.listdir(os.path.join(FIXTURES, "tiny_cnn_lstm"))
                      if re.match(r"^(conv\d|fc\d+f?|lstm1)_(w|b|W_xc|b_c|W_hc)\.npy$", f))
        got = sorted(f for f in os.listdir(d) if f.endswith(".npy"))
        assert got == want, (got, want)
        for f in got:
            a = np.load(os.path.join(d, f))
            b = np.load(os.path.join(FIXTURES, "tiny_cnn_lstm", f))
            assert a.dtype == np.float32 and a.flags.c_contiguous and a.shape == b.shape, f
            assert np.array_equal(a, b), f
        ebr_inspect(d)


def test_demo_defaults():
    """Without options: the demo's preprocessing, labels "0".."K-1", no frame classifier."""
    net = authors_like_net()
    net["layer"] = [l for l in net["layer"] if l["name"] not in ("fc8f", "probs-frame")]
    result = ec.convert(net, fixture_params("tiny_cnn_lstm"), authors_like_shapes())
    inp = result["model"]["input"]
    assert inp["resize"] == [240, 320] and inp["scale"] == 255.0
    assert inp["mean"] == [103.939, 116.779, 128.68] and inp["channel_order"] == "bgr"
    assert result["model"]["labels"] == [str(k) for k in range(10)]
    assert "frame_classifier" not in result["model"]


def test_unrequested_frame_head_is_skipped_with_a_hint():
    result = ec.convert(authors_like_net(), fixture_params("tiny_cnn_lstm"), authors_like_shapes(),
                        {"resize": None})
    assert "frame_classifier" not in result["model"]
    assert any("--frame-classifier fc8f" in n for n in result["notes"]), result["notes"]
    assert "fc8f_w.npy" not in result["arrays"]


def test_meanpool_fixture_from_its_prototxt():
    with open(os.path.join(FIXTURES, "tiny_cnn_meanpool", "manifest.json")) as f:
        text = json.load(f)["prototxt"]
    net = parse_prototxt(text)
    params = fixture_params("tiny_cnn_meanpool")
    labels = ["class%d" % k for k in range(10)]
    result = ec.convert(net, params, None, {"labels": labels, "resize": None})
    compare_with_fixture(result["model"], "tiny_cnn_meanpool")
    assert result["model"]["temporal"] == [{"type": "mean_pool"}]
    with TempDir() as d:
        ec.write_model_dir(d, result)
        ec.verify_model_dir(d)
        for f in sorted(os.listdir(d)):
            if f.endswith(".npy"):
                assert np.array_equal(np.load(os.path.join(d, f)),
                                      np.load(os.path.join(FIXTURES, "tiny_cnn_meanpool", f))), f
        ebr_inspect(d)


# ---------------------------------------------------------------------------------------------
# Tests: other supported nets and options
# ---------------------------------------------------------------------------------------------

def test_small_net_and_reshape_dims_0_and_minus_1():
    net = small_net()
    result = ec.convert(net, random_params(net), None, {"resize": None})
    m = result["model"]
    assert [l["type"] for l in m["frame"]] == ["conv", "relu", "max_pool", "conv", "relu",
                                               "fc", "relu", "fc", "relu", "dropout"]
    assert m["temporal"] == [{"type": "lstm", "name": "lstm1", "hidden": 6}]
    assert m["classifier"] == {"type": "fc", "name": "fc8", "out": 5, "bias": True}
    with TempDir() as d:
        ec.write_model_dir(d, result)
        ec.verify_model_dir(d)
        ebr_inspect(d)


def test_slash_names_are_sanitized():
    net = small_net()
    for l in net["layer"]:
        if l["name"] in ("conv1", "pool1"):
            l["name"] = "inception/" + l["name"]
    params = random_params(net)
    params["inception/conv1"] = params.pop("conv1")
    result = ec.convert(net, params, None, {"resize": None})
    assert result["model"]["frame"][0]["name"] == "inception_conv1"
    assert result["model"]["frame"][2]["name"] == "inception_pool1"
    assert "inception_conv1_w.npy" in result["arrays"]
    assert any("inception/conv1" in n and "path separator" in n for n in result["notes"])
    assert "inception/conv1" in result["param_layers"]


def test_sanitized_name_collision_is_refused():
    net = small_net()
    find(net, "conv1")["name"] = "a/b"
    find(net, "pool1")["name"] = "a_b"
    params = random_params(net)
    params["a/b"] = params.pop("conv1")
    msg = refused(ec.convert, net, params, None, {"resize": None})
    assert "a/b" in msg and "a_b" in msg and "unique" in msg, msg


def test_transposed_and_legacy_fc_weights():
    net = small_net()
    find(net, "fc7")["inner_product_param"]["transpose"] = True
    params = random_params(net)
    w7 = params["fc7"][0]
    params["fc7"][0] = np.ascontiguousarray(w7.T)          # stored [in, out]
    params["fc6"][0] = params["fc6"][0].reshape(1, 1, 16, 64)  # an old 4-D blob
    result = ec.convert(net, params, None, {"resize": None})
    assert np.array_equal(result["arrays"]["fc7_w.npy"], w7)
    assert result["arrays"]["fc7_w.npy"].flags.c_contiguous
    assert result["arrays"]["fc6_w.npy"].shape == (16, 64)


def test_float64_params_are_written_as_float32():
    net = small_net()
    params = random_params(net)
    params["conv1"] = [a.astype(np.float64) for a in params["conv1"]]
    result = ec.convert(net, params, None, {"resize": None})
    assert result["arrays"]["conv1_w.npy"].dtype == np.float32


def test_no_bias_and_global_and_average_pooling():
    net = small_net()
    find(net, "conv2")["convolution_param"]["bias_term"] = False
    net["layer"].insert(5, layer("gap", "Pooling", ["conv2"], ["gap"],
                                 pooling_param={"pool": "AVE", "global_pooling": True}))
    find(net, "fc6")["bottom"] = ["gap"]
    params = random_params(net)
    params["conv2"] = params["conv2"][:1]
    params["fc6"][0] = params["fc6"][0][:, :4]
    shapes = {"gap": (4, 4, 1, 1), "conv2": (4, 4, 4, 4), "fc6": (4, 16)}
    result = ec.convert(net, params, shapes, {"resize": None})
    frame = result["model"]["frame"]
    assert frame[3] == {"type": "conv", "name": "conv2", "out": 4, "kernel": 3, "stride": 1, "pad": 1, "bias": False}
    assert frame[5] == {"type": "avg_pool", "name": "gap", "kernel": 4, "stride": 1, "pad": 0}
    assert "conv2_b.npy" not in result["arrays"]
    with TempDir() as d:
        ec.write_model_dir(d, result)
        ec.verify_model_dir(d)
        ebr_inspect(d)


def test_kernel_h_w_and_padded_ceil_pooling():
    net = small_net()
    find(net, "conv1")["convolution_param"] = {"num_output": 4, "kernel_h": 3, "kernel_w": 3,
                                               "pad_h": 1, "pad_w": 1, "stride": [1, 1]}
    find(net, "pool1")["pooling_param"] = {"pool": 0, "kernel_size": 3, "stride": 2, "pad": 1}
    # pool: ceil((8 + 2 - 3) / 2) + 1 = 5, and (5 - 1) * 2 = 8 >= 8 + 1 is false: 5
    # conv2 on 5x5 -> 5x5, fc6 reads 4 * 5 * 5 = 100
    params = random_params(net)
    params["fc6"][0] = np.zeros((16, 100), np.float32)
    result = ec.convert(net, params, {"pool1": (4, 4, 5, 5)}, {"resize": None})
    assert result["model"]["frame"][2] == {"type": "max_pool", "name": "pool1", "kernel": 3, "stride": 2, "pad": 1}


def test_stacked_lstms():
    net = small_net()
    i = net["layer"].index(find(net, "fc8"))
    net["layer"].insert(i, layer("lstm2", "LSTM", ["lstm1", "cm"], ["lstm2"], recurrent_param={"num_output": 3}))
    find(net, "fc8")["bottom"] = ["lstm2"]
    params = random_params(net)
    rng = np.random.default_rng(1)
    params["lstm2"] = [rng.standard_normal(s).astype(np.float32) for s in [(12, 6), (12,), (12, 3)]]
    params["fc8"][0] = np.zeros((5, 3), np.float32)
    result = ec.convert(net, params, None, {"resize": None})
    assert [t["name"] for t in result["model"]["temporal"]] == ["lstm1", "lstm2"]
    with TempDir() as d:
        ec.write_model_dir(d, result)
        ec.verify_model_dir(d)


def test_cnn_without_temporal_part():
    net = small_net()
    net["layer"] = [l for l in net["layer"] if l["name"] not in ("to-seq", "lstm1", "fc8", "prob")]
    net["layer"] += [fc("fc8", "fc7", 5), layer("prob", "Softmax", ["fc8"], ["prob"])]
    params = random_params(net)
    params["fc8"][0] = np.zeros((5, 8), np.float32)
    result = ec.convert(net, params, None, {"resize": None})
    m = result["model"]
    assert m["temporal"] == [] and m["classifier"]["name"] == "fc8"
    assert m["frame"][-1] == {"type": "dropout"} and m["frame"][-3]["name"] == "fc7"
    assert any("no temporal part" in n for n in result["notes"])
    # without the softmax too
    net["layer"] = net["layer"][:-1]
    assert ec.convert(net, params, None, {"resize": None})["model"]["classifier"]["name"] == "fc8"


def test_phase_rules():
    net = small_net()
    net["layer"].insert(0, layer("train-data", "Data", top=["data", "label"], include=[{"phase": "TRAIN"}]))
    net["layer"].append(layer("loss", "SoftmaxWithLoss", ["fc8", "label"], ["loss"], include={"phase": 0}))
    net["layer"].append(layer("acc", "Accuracy", ["fc8", "label"], ["acc"], exclude=[{"phase": "TEST"}]))
    net["layer"].append(layer("staged", "Accuracy", ["fc8", "label"], ["acc2"], include={"stage": "val"}))
    net["layer"].append(layer("levels", "ReLU", ["fc8"], ["fc8"], include={"min_level": 1}))
    result = ec.convert(net, random_params(net), None, {"resize": None})
    assert any("5 layer(s) outside the TEST phase" in n for n in result["notes"]), result["notes"]


def test_labels_file_formats():
    assert ec.parse_labels("ApplyEyeMakeup\nApplyLipstick\n\n") == ["ApplyEyeMakeup", "ApplyLipstick"]
    assert ec.parse_labels("2 ApplyLipstick\n1 ApplyEyeMakeup\n") == ["ApplyEyeMakeup", "ApplyLipstick"]
    assert ec.parse_labels("0 Apply Eye Makeup\n1 B\n") == ["Apply Eye Makeup", "B"]
    assert "consecutively" in refused(ec.parse_labels, "1 a\n3 b\n")


def test_write_refuses_a_non_empty_directory_without_force():
    net = small_net()
    result = ec.convert(net, random_params(net), None, {"resize": None})
    with TempDir() as d:
        with open(os.path.join(d, "other.txt"), "w") as f:
            f.write("x")
        assert "--force" in refused(ec.write_model_dir, d, result)
        ec.write_model_dir(d, result, force=True)
        ec.verify_model_dir(d)


def test_verify_catches_a_wrong_file():
    net = small_net()
    result = ec.convert(net, random_params(net), None, {"resize": None})
    with TempDir() as d:
        ec.write_model_dir(d, result)
        np.save(os.path.join(d, "fc7_w.npy"), np.zeros((8, 15), np.float32))
        assert "fc7_w.npy" in refused(ec.verify_model_dir, d)
        np.save(os.path.join(d, "fc7_w.npy"), np.asfortranarray(np.zeros((8, 16), np.float32)))
        assert "C order" in refused(ec.verify_model_dir, d)


# ---------------------------------------------------------------------------------------------
# Tests: refusals (each must name the layer)
# ---------------------------------------------------------------------------------------------

def refuse_case(mutate, *expected, params=None, shapes=None, options=None):
    """Mutates a fresh small net, converts it, and checks the one-line refusal."""
    net = small_net()
    p = random_params(net) if params is None else params
    mutate(net, p)
    opts = {"resize": None}
    opts.update(options or {})
    msg = refused(ec.convert, net, p, shapes, opts)
    for e in expected:
        assert e in msg, (e, msg)
    return msg


def insert_after(net, name, new):
    i = net["layer"].index(find(net, name))
    net["layer"].insert(i + 1, new)


def test_refuses_unsupported_layers():
    for kind, words in [("Eltwise", "chain"), ("Concat", "chain"), ("BatchNorm", "batch normalization"),
                        ("Scale", "Scale"), ("LRN", "local response"), ("Sigmoid", "not in ebr's layer set")]:
        def mutate(net, p, kind=kind):
            bottoms = ["conv1", "conv1"] if kind in ("Eltwise", "Concat") else ["conv1"]
            insert_after(net, "relu1", layer("bad", kind, bottoms, ["conv1"]))
        refuse_case(mutate, 'layer "bad"', kind, words)


def test_refuses_grouped_dilated_non_square_convolutions():
    refuse_case(lambda n, p: find(n, "conv2")["convolution_param"].update(group=2), '"conv2"', "group")
    refuse_case(lambda n, p: find(n, "conv2")["convolution_param"].update(dilation=[2]), '"conv2"', "dilat")
    refuse_case(lambda n, p: find(n, "conv2")["convolution_param"].update(kernel_size=[3, 1]),
                '"conv2"', "non-square kernel 3x1")
    refuse_case(lambda n, p: find(n, "conv2")["convolution_param"].update(stride=[1, 2]),
                '"conv2"', "non-square stride")
    refuse_case(lambda n, p: find(n, "pool1")["pooling_param"].update(kernel_h=2, kernel_w=3),
                '"pool1"', "non-square kernel")


def test_refuses_other_layer_settings():
    refuse_case(lambda n, p: find(n, "relu1").update(relu_param={"negative_slope": 0.1}), '"relu1"', "leaky")
    refuse_case(lambda n, p: find(n, "pool1")["pooling_param"].update(pool="STOCHASTIC"), '"pool1"', "STOCHASTIC")
    refuse_case(lambda n, p: find(n, "drop7").update(dropout_param={"scale_train": False}), '"drop7"', "scale_train")
    refuse_case(lambda n, p: find(n, "fc6")["inner_product_param"].update(axis=2), '"fc6"', "axis 1")
    refuse_case(lambda n, p: find(n, "fc8")["inner_product_param"].update(axis=0), '"fc8"', "axis 0")
    refuse_case(lambda n, p: find(n, "lstm1")["recurrent_param"].update(expose_hidden=True), '"lstm1"', "expose_hidden")


def test_refuses_a_second_lstm_in_an_unsupported_place():
    def on_frame_blob(net, p):
        insert_after(net, "drop7", layer("lstm0", "LSTM", ["fc7", "cm"], ["lstm0"], recurrent_param={"num_output": 2}))
    refuse_case(on_frame_blob, '"lstm0"', "LSTM")

    def with_static_input(net, p):
        find(net, "lstm1")["bottom"] = ["seq", "cm", "fc7"]
    refuse_case(with_static_input, '"lstm1"', "no static input")

    def after_classifier(net, p):
        net["layer"].append(layer("lstm9", "LSTM", ["fc8", "cm"], ["lstm9"], recurrent_param={"num_output": 2}))
    refuse_case(after_classifier, '"lstm9"')

    def on_a_side_branch(net, p):
        net["layer"].append(layer("side-seq", "Reshape", ["prob"], ["side-seq"]))
        net["layer"].append(layer("lstm8", "LSTM", ["side-seq", "cm"], ["lstm8"], recurrent_param={"num_output": 2}))
    refuse_case(on_a_side_branch, '"lstm8"')


def test_refuses_forks_and_wrong_reshapes():
    def fork(net, p):
        # an InnerProduct on fc7 before the reshape: the chain forks at fc7
        insert_after(net, "drop7", fc("fc8f", "fc7", 5))
        p["fc8f"] = [np.zeros((5, 8), np.float32), np.zeros(5, np.float32)]
    refuse_case(fork, '"to-seq"', '"fc7"', '"fc8f"', "--frame-classifier")

    def two_clips(net, p):
        find(net, "to-seq")["reshape_param"] = {"shape": {"dim": [2, 2, -1]}}
    refuse_case(two_clips, '"to-seq"', "2 clips")

    def flatten(net, p):
        find(net, "to-seq")["reshape_param"] = {"shape": {"dim": [0, -1]}}
    refuse_case(flatten, '"to-seq"', "(T, 1, D)")


def test_frame_classifier_must_read_the_finished_feature():
    def early(net, p):
        # reads fc7 before relu7/drop7 finish it
        i = net["layer"].index(find(net, "relu7"))
        net["layer"].insert(i, fc("fc8f", "fc7", 5))
        p["fc8f"] = [np.zeros((5, 8), np.float32), np.zeros(5, np.float32)]
    refuse_case(early, '"fc8f"', "before", options={"frame_classifier": "fc8f"})

    def wrong_blob(net, p):
        net["layer"].append(fc("fc8f", "fc6", 5))
        p["fc8f"] = [np.zeros((5, 16), np.float32), np.zeros(5, np.float32)]
    refuse_case(wrong_blob, '"fc8f"', '"fc6"', "feature blob", options={"frame_classifier": "fc8f"})
    refuse_case(lambda n, p: None, '"nope"', "no such layer", options={"frame_classifier": "nope"})


def test_refuses_bad_parameters_and_options():
    def missing(net, p):
        del p["conv2"]
    refuse_case(missing, '"conv2"', "no parameters")

    def wrong_shape(net, p):
        p["conv2"][0] = p["conv2"][0][:, :3]
    refuse_case(wrong_shape, '"conv2"', "[4, 3, 3, 3]", "[4, 4, 3, 3]")

    def nan(net, p):
        p["fc8"][1][0] = np.nan
    refuse_case(nan, '"fc8"', "NaN")
    refuse_case(lambda n, p: None, "labels", "3 names", "5 outputs", options={"labels": ["a", "b", "c"]})
    refuse_case(lambda n, p: None, "--resize 4x4", options={"resize": (4, 4)})
    refuse_case(lambda n, p: None, "--mean", options={"mean": [1.0]})


def test_refuses_changes_to_the_logits_and_missing_pieces():
    refuse_case(lambda n, p: n["layer"].append(layer("r", "ReLU", ["fc8"], ["fc8"])), '"r"', "classifier")
    refuse_case(lambda n, p: n["layer"].append(layer("sig", "Sigmoid", ["fc8"], ["sig"])), '"sig"', "Softmax")
    refuse_case(lambda n, p: n["layer"].remove(find(n, "fc8")) or n["layer"].remove(find(n, "prob")),
                "no classifier")
    refuse_case(lambda n, p: n.update(layers=[{"name": "x"}]), "V1")
    refuse_case(lambda n, p: find(n, "conv2").update(bottom=["nowhere"]), '"conv2"', '"nowhere"')


def test_refuses_a_shape_caffe_disagrees_with():
    msg = refuse_case(lambda n, p: None, '"pool1"', "[4, 4, 4, 4]", "[4, 4, 3, 3]",
                      shapes={"pool1": (4, 4, 3, 3)})
    assert "caffe.Net" in msg


def test_mean_pool_must_be_over_time():
    def meanpool_net(net, p, pool):
        net["layer"] = [l for l in net["layer"] if l["name"] not in ("to-seq", "lstm1", "fc8", "prob")]
        net["layer"] += [
            layer("to-t", "Reshape", ["fc7"], ["t"], reshape_param={"shape": {"dim": [1, 1, 4, 8]}}),
            layer("mp", "Pooling", ["t"], ["mp"], pooling_param=pool),
            fc("fc8", "mp", 5),
        ]
        p["fc8"][0] = np.zeros((5, 8), np.float32)

    net = small_net()
    params = random_params(net)
    meanpool_net(net, params, {"pool": "AVE", "kernel_h": 4, "kernel_w": 1})
    result = ec.convert(net, params, {"mp": (1, 1, 1, 8), "fc8": (1, 5)}, {"resize": None})
    assert result["model"]["temporal"] == [{"type": "mean_pool"}]
    refuse_case(lambda n, p: meanpool_net(n, p, {"pool": "MAX", "kernel_h": 4, "kernel_w": 1}), '"mp"', "MAX")
    refuse_case(lambda n, p: meanpool_net(n, p, {"pool": "AVE", "kernel_size": 4}), '"mp"', "kernel_h T = 4")
    refuse_case(lambda n, p: meanpool_net(n, p, {"pool": "AVE", "global_pooling": True}), '"mp"', "global")


# ---------------------------------------------------------------------------------------------

def main():
    tests = [(k, v) for k, v in sorted(globals().items()) if k.startswith("test_") and callable(v)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print("ok   %s" % name)
        except Exception as e:  # report every failure, then exit non-zero
            failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        except SystemExit as e:
            failed += 1
            print("FAIL %s: unexpected refusal: %s" % (name, e))
    print("%d tests, %d failed" % (len(tests), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
