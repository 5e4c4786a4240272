#!/usr/bin/env python3
"""Export a Caffe model (deploy.prototxt + .caffemodel) to an ebr model directory.

An ebr model directory is model.json plus one float32 .npy file per parameter; its schema is
spec/model.md and its reader src/model/schema.rs + src/model/load.rs. This script reads the
prototxt's structure (caffe_pb2 + text_format: nothing is run), walks its layers from the data
input, maps each one to ebr's layers, takes the trained parameters from pycaffe's caffe.Net,
writes the directory, reloads every file to check it, and prints a summary.

It refuses, with one line naming the layer, anything ebr cannot represent (branches and merges,
BatchNorm, Scale, grouped or dilated or non-square convolutions, ...), rather than writing a
model that computes something else.

Needs: Python 3, numpy, and pycaffe (Caffe's python/ directory on PYTHONPATH; protobuf comes
with it). Run by hand, never by CI. Example (the authors' VGG16_LSTM, from the root of their
Caffe-ExcitationBP-RNNs checkout; tools/README.md has the details):

    python3 tools/export_caffe.py \
        --prototxt models/VGG16_LSTM/deploy.prototxt \
        --caffemodel models/VGG16_LSTM/VGG16LSTM_UCF101plusBU101.caffemodel \
        --labels models/VGG16_LSTM/catName.txt --out vgg16_lstm

Layout: the mapping itself (`convert`, `write_model_dir`, `verify_model_dir`) works on plain
Python data (dicts standing for the protobuf messages, numpy arrays, shape tuples) and never
imports caffe, so tools/test_export_caffe.py exercises it with numpy alone; only `load_caffe`
and `caffemodel_layer_names` touch pycaffe.
"""

import argparse
import json
import os
import sys

import numpy as np

FORMAT = "ebr-model-1"
# src/model/schema.rs MAX_SIZE and src/model/load.rs PARAMETER_BUDGET: ebr refuses more.
MAX_SIZE = 1 << 20
PARAMETER_BUDGET = 1 << 30
# The RNN demo's preprocessing (../shared/ORIGINAL.md section 3).
DEMO_RESIZE = (240, 320)
DEMO_MEAN = (103.939, 116.779, 128.68)
DEMO_SCALE = 255.0

DEFAULT_OPTIONS = {
    "name": "",
    "data_blob": "data",
    "resize": DEMO_RESIZE,
    "mean": DEMO_MEAN,
    "scale": DEMO_SCALE,
    "channel_order": "bgr",
    "labels": None,
    "frame_classifier": None,
}

# Layer types that only read the classifier's output (or a skipped head's) and are not part
# of the model ebr runs: ebr applies the softmax itself.
OUTPUT_TYPES = {"Softmax", "Accuracy", "ArgMax", "Silence"}

CHAIN = "ebr's frame net is a chain from the input to the feature blob: branches and merges cannot be represented"
NOT_IN_EBR = ("is not in ebr's layer set (Convolution, ReLU, Pooling MAX/AVE, InnerProduct, "
              "Dropout; LSTM or AVE pooling over time; an InnerProduct classifier)")
REFUSED_TYPES = {
    "Eltwise": CHAIN,
    "Concat": CHAIN,
    "Split": CHAIN,
    "Slice": CHAIN,
    "BatchNorm": "batch normalization " + NOT_IN_EBR,
    "Scale": "a Scale layer " + NOT_IN_EBR,
    "Bias": "a Bias layer " + NOT_IN_EBR,
    "LRN": "local response normalization " + NOT_IN_EBR,
    "PReLU": "a PReLU " + NOT_IN_EBR,
    "RNN": "Caffe's RNN layer is not ebr's ReLU-LSTM",
    "LSTMUnit": "a bare LSTMUnit is not supported: use Caffe's LSTM layer",
}


def fail(message):
    """Stops the export with one line that says what is wrong (and where)."""
    raise SystemExit("export_caffe: " + message)


# ---------------------------------------------------------------------------------------------
# Reading the protobuf-like description (dicts: field name -> value; lists for repeated fields,
# though a single value is accepted anywhere a list is, and a one-element list anywhere a single
# value is; fields Caffe leaves at their default may be absent: the defaults are applied here).
# ---------------------------------------------------------------------------------------------

def as_list(value):
    """A field's values as a list: [] when absent, [v] for a single value."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def one(layer, message, key, default=None):
    """A single-valued field of `message`, `default` when absent; a field given several
    times (repeated) must hold one value."""
    values = as_list(message.get(key))
    if not values:
        return default
    if len(values) > 1 and any(v != values[0] for v in values):
        fail('layer "%s": %s has several values %s; only one is supported' % (layer, key, values))
    return values[0]


def enum_name(value, names):
    """An enum field given either by name ("MAX") or by number (0)."""
    if isinstance(value, str):
        return value
    return names.get(int(value), str(value))


POOL_METHODS = {0: "MAX", 1: "AVE", 2: "STOCHASTIC"}
PHASES = {0: "TRAIN", 1: "TEST"}


def rule_met(rule):
    """Caffe's NetStateRule against the state a deploy net is loaded in (TEST, level 0, no
    stages)."""
    if "phase" in rule and enum_name(rule["phase"], PHASES) != "TEST":
        return False
    if "min_level" in rule and 0 < int(rule["min_level"]):
        return False
    if "max_level" in rule and 0 > int(rule["max_level"]):
        return False
    if as_list(rule.get("stage")):
        return False
    return True


def in_test_phase(layer):
    """Whether caffe.Net(..., caffe.TEST) keeps `layer` (its include/exclude rules)."""
    include = as_list(layer.get("include"))
    if include:
        return any(rule_met(r) for r in include)
    return not any(rule_met(r) for r in as_list(layer.get("exclude")))


def spatial(layer, param, key, key_h, key_w, default):
    """(h, w) of a convolution/pooling size given as `key` (one value, or one per axis) or as
    `key_h` and `key_w`; `default` for both when absent (None: required)."""
    if key_h in param or key_w in param:
        h, w = param.get(key_h), param.get(key_w)
        if h is None or w is None:
            fail('layer "%s": %s and %s must be given together' % (layer, key_h, key_w))
        return int(one(layer, param, key_h)), int(one(layer, param, key_w))
    values = [int(v) for v in as_list(param.get(key))]
    if not values:
        if default is None:
            fail('layer "%s": %s is missing' % (layer, key))
        return default, default
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    fail('layer "%s": %s has %d values; only 2-D (images) is supported' % (layer, key, len(values)))


def square(layer, what, hw):
    """The one value of a square (h, w) pair; refuses a non-square one (ebr's kernels,
    strides and pads are one number)."""
    if hw[0] != hw[1]:
        fail('layer "%s": non-square %s %dx%d; ebr supports square kernels, strides and pads only'
             % (layer, what, hw[0], hw[1]))
    return hw[0]


# ---------------------------------------------------------------------------------------------
# Caffe's output sizes (spec/layers/conv.md CONV-1, spec/layers/pooling.md POOL-1).
# ---------------------------------------------------------------------------------------------

def conv_out_size(size, kernel, stride, pad):
    """Convolution output size: floor((H + 2 pad - k) / s) + 1; None if the kernel does not
    fit the padded input."""
    if size + 2 * pad < kernel:
        return None
    return (size + 2 * pad - kernel) // stride + 1


def pool_out_size(size, kernel, stride, pad):
    """Pooling output size: ceil((H + 2 pad - k) / s) + 1, minus one when pad > 0 and the
    last window would start at or past H + pad; None if the kernel does not fit."""
    if size + 2 * pad < kernel:
        return None
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def product(values):
    """The product of a sequence of ints (1 for an empty one)."""
    p = 1
    for v in values:
        p *= int(v)
    return p


# ---------------------------------------------------------------------------------------------
# The mapping: description + parameters + blob shapes -> model.json dict + parameter arrays.
# ---------------------------------------------------------------------------------------------

def clean_name(name, notes):
    """A layer name ebr accepts: path separators become '_' (ebr refuses them: names become
    file names); says so in `notes`."""
    if not name:
        fail("a layer has no name; ebr needs one for every layer with parameters")
    cleaned = name.replace("/", "_").replace("\\", "_")
    if cleaned != name:
        notes.append('layer "%s" is exported as "%s" (ebr refuses path separators in names)'
                     % (name, cleaned))
    return cleaned


def fit_array(layer, array, expected, what):
    """`array` as a float32 C-order array of shape `expected`. A legacy blob with extra
    leading 1s (old caffemodels store an InnerProduct weight as [1, 1, out, in]) is reshaped;
    any other shape is refused with both shapes."""
    a = np.asarray(array)
    expected = tuple(int(e) for e in expected)
    if tuple(a.shape) != expected:
        dims = list(a.shape)
        while len(dims) > len(expected) and dims[0] == 1:
            dims.pop(0)
        if tuple(dims) != expected:
            fail('layer "%s": %s has shape %s in the caffemodel, expected %s'
                 % (layer, what, list(a.shape), list(expected)))
        a = a.reshape(expected)
    if not np.all(np.isfinite(a)):
        fail('layer "%s": %s holds NaN or infinite values' % (layer, what))
    return np.ascontiguousarray(a, dtype=np.float32)


def layer_params(params, layer, count):
    """The parameter arrays of `layer` (pycaffe's net.params[layer]); there must be `count`."""
    arrays = params.get(layer)
    if arrays is None:
        fail('layer "%s" has no parameters in the caffemodel' % layer)
    arrays = list(arrays)
    if len(arrays) != count:
        fail('layer "%s" has %d parameter blobs in the caffemodel, expected %d'
             % (layer, len(arrays), count))
    return arrays


def input_shape(net, layers, data_blob, blob_shapes):
    """(index of the layer that writes the data blob or -1 for a net-level input, its shape
    (N, C, H, W)). The shape comes from the prototxt (net-level input, an Input or a
    DummyData layer), else from caffe.Net's blobs."""
    shape = None
    index = None
    inputs = as_list(net.get("input"))
    if data_blob in inputs:
        i = inputs.index(data_blob)
        shapes = as_list(net.get("input_shape"))
        dims = as_list(net.get("input_dim"))
        if i < len(shapes):
            shape = [int(d) for d in as_list(shapes[i].get("dim"))]
        elif len(dims) >= 4 * (i + 1):
            shape = [int(d) for d in dims[4 * i:4 * i + 4]]
        index = -1
    for li, layer in enumerate(layers):
        if data_blob not in as_list(layer.get("top")):
            continue
        if as_list(layer.get("bottom")):
            continue  # an in-place layer on the data blob: the walk refuses or maps it
        if index is not None:
            fail('the data blob "%s" is written by two input layers' % data_blob)
        index = li
        k = as_list(layer.get("top")).index(data_blob)
        kind = layer.get("type")
        if kind == "Input":
            shapes = as_list(layer.get("input_param", {}).get("shape"))
            if shapes:
                s = shapes[k] if len(shapes) > 1 else shapes[0]
                shape = [int(d) for d in as_list(s.get("dim"))]
        elif kind == "DummyData":
            p = layer.get("dummy_data_param", {})
            shapes = as_list(p.get("shape"))
            if shapes:
                s = shapes[k] if len(shapes) > 1 else shapes[0]
                shape = [int(d) for d in as_list(s.get("dim"))]
            elif as_list(p.get("num")):
                legacy = [as_list(p.get(f)) for f in ("num", "channels", "height", "width")]
                shape = [int(v[k] if len(v) > 1 else v[0]) for v in legacy]
    if index is None:
        fail('no input named "%s" (a net-level input, or an Input/DummyData layer with that top); '
             'pass --data-blob to name the image input' % data_blob)
    known = blob_shapes.get(data_blob) if blob_shapes else None
    if shape is None:
        if known is None:
            fail('cannot find the shape of the input "%s" in the prototxt; give a deploy prototxt '
                 'with an Input or DummyData layer' % data_blob)
        shape = list(known)
    if known is not None and tuple(known) != tuple(shape):
        fail('the prototxt gives the input "%s" shape %s, caffe.Net %s'
             % (data_blob, shape, list(known)))
    if len(shape) != 4:
        fail('the input "%s" has shape %s; expected (frames, channels, height, width)'
             % (data_blob, shape))
    return index, shape


def convert(net, params, blob_shapes=None, options=None):
    """Maps a Caffe net to an ebr model.

    net: the NetParameter as a dict ({"name", "input", "layer": [LayerParameter dicts]},
      field names as in caffe.proto); params: layer name -> list of arrays (pycaffe's
      net.params); blob_shapes: blob name -> shape tuple (pycaffe's net.blobs), or None: used
      to cross-check every shape this function computes and to find a shape the prototxt
      does not give; options: see DEFAULT_OPTIONS.

    Returns {"model": the model.json dict, "arrays": {file name: float32 array},
    "notes": [what was skipped or changed, one line each], "param_layers": [the Caffe names
    of the layers whose parameters were exported]}. Raises SystemExit (one line naming the
    layer) on anything ebr cannot represent.
    """
    opts = dict(DEFAULT_OPTIONS)
    opts.update(options or {})
    blob_shapes = blob_shapes or {}
    notes = []
    if as_list(net.get("layers")):
        fail("the prototxt uses Caffe's old V1 'layers' format; convert it with Caffe's "
             "tools/upgrade_net_proto_text first")
    all_layers = as_list(net.get("layer"))
    layers = [l for l in all_layers if in_test_phase(l)]
    if len(layers) != len(all_layers):
        notes.append("%d layer(s) outside the TEST phase are ignored (as caffe.Net(..., TEST) does)"
                     % (len(all_layers) - len(layers)))
    data_blob = opts["data_blob"]
    data_index, (frames, channels, height, width) = input_shape(net, layers, data_blob, blob_shapes)

    arrays = {}           # file name -> array
    param_layers = []     # Caffe names of the exported layers with parameters
    names = {}            # exported name -> Caffe name (unique, "data" reserved)

    def export_name(caffe_name):
        name = clean_name(caffe_name, notes)
        if name == "data":
            fail('layer "%s": the name "data" is reserved for the input in ebr' % caffe_name)
        if name in names:
            fail('layers "%s" and "%s" both become "%s" in ebr; names must be unique'
                 % (names[name], caffe_name, name))
        names[name] = caffe_name
        return name

    def check_blob(blob, expected, layer):
        """Cross-checks a computed Caffe blob shape against caffe.Net's."""
        known = blob_shapes.get(blob)
        if known is not None and tuple(int(d) for d in known) != tuple(expected):
            fail('layer "%s": computed the shape %s for blob "%s", caffe.Net has %s (this layer '
                 'is not read as Caffe reads it; please report)'
                 % (layer, list(expected), blob, list(known)))

    def fc_arrays(caffe_name, name, p, inputs):
        """Weight [out, in] (and bias [out]) of an InnerProduct; `transpose: true` layers
        store [in, out] and are transposed."""
        out = int(p.get("num_output", 0))
        if out < 1:
            fail('layer "%s": inner_product_param.num_output is missing' % caffe_name)
        bias = bool(p.get("bias_term", True))
        blobs = layer_params(params, caffe_name, 2 if bias else 1)
        if p.get("transpose", False):
            w = fit_array(caffe_name, blobs[0], (inputs, out), "weight (transpose: true)").T
            notes.append('layer "%s" has transpose: true; its weight is written transposed, '
                         '[out, in]' % caffe_name)
        else:
            w = fit_array(caffe_name, blobs[0], (out, inputs), "weight [out, in]")
        arrays[name + "_w.npy"] = np.ascontiguousarray(w, dtype=np.float32)
        if bias:
            arrays[name + "_b.npy"] = fit_array(caffe_name, blobs[1], (out,), "bias [out]")
        param_layers.append(caffe_name)
        return out, bias

    def ip_split(caffe_name, p, shape):
        """(M, K) of an InnerProduct with its axis on a blob of `shape`: it multiplies each of
        the M rows of the K trailing values."""
        axis = int(p.get("axis", 1))
        if axis < 0:
            axis += len(shape)
        if not 0 <= axis < len(shape):
            fail('layer "%s": axis %s is outside its %d-D input' % (caffe_name, p.get("axis"), len(shape)))
        return product(shape[:axis]), product(shape[axis:])

    # --- state of the walk ---
    roles = {data_blob: "frame"}   # blob -> frame | seq | aux | logits | side
    for other in as_list(net.get("input")):
        if other != data_blob:
            roles[other] = "aux"   # net-level inputs besides the images: clip markers
    frame = []                     # model.json "frame"
    frame_caffe = []               # Caffe name of each entry of `frame`
    cur = data_blob                # the frame chain's current blob
    ebr_shape = (channels, height, width)   # ebr's [C, H, W] of `cur`
    caffe_shape = (channels, height, width)  # Caffe's per-frame shape of `cur`
    written = {data_blob: 0}       # frame blob -> len(frame) after its last write
    blob_caffe_shape = {data_blob: caffe_shape}  # frame blob -> Caffe's per-frame shape
    continued = {}                 # frame blob -> the layer the chain continued through
    state = "frame"                # frame -> temporal -> done
    feature = None                 # the feature blob (the frame part's last blob)
    seq = set()                    # the temporal chain's current blob and its Dropout aliases
    seq_shape = None               # Caffe's shape of the temporal chain's current blob
    pending_mean = False           # reshaped to (1, 1, T, D): AVE pooling over T must follow
    temporal = []
    classifier = None
    frame_head = None              # (layer dict, blob it reads, written[] when it read it)
    wanted_head = opts["frame_classifier"]

    def refuse_type(layer):
        kind = layer.get("type")
        reason = REFUSED_TYPES.get(kind, NOT_IN_EBR)
        fail('layer "%s" (type %s): %s' % (layer.get("name"), kind, reason))

    def single_io(layer):
        if len(as_list(layer.get("bottom"))) != 1 or len(as_list(layer.get("top"))) != 1:
            fail('layer "%s" (type %s): expected one input and one output'
                 % (layer.get("name"), layer.get("type")))
        return as_list(layer.get("top"))[0]

    def check_dropout(layer):
        p = layer.get("dropout_param", {})
        if not p.get("scale_train", True):
            fail('layer "%s": Dropout with scale_train: false scales its output at test time; '
                 'ebr\'s dropout is the identity' % layer.get("name"))

    for li, layer in enumerate(layers):
        name = layer.get("name", "")
        kind = layer.get("type", "")
        bottoms = as_list(layer.get("bottom"))
        tops = as_list(layer.get("top"))
        if li == data_index:
            for t in tops:
                if t != data_blob:
                    roles[t] = "aux"
            continue
        if not bottoms:
            if data_blob in tops:
                fail('layer "%s" writes the data blob "%s" a second time' % (name, data_blob))
            for t in tops:
                roles[t] = "aux"   # other inputs: clip markers, labels
            continue
        for b in bottoms:
            if b not in roles:
                fail('layer "%s" reads blob "%s", which no earlier layer writes' % (name, b))
        kinds = set(roles[b] for b in bottoms)

        # Layers on the other inputs only (reshape-cm on the clip markers).
        if kinds == {"aux"}:
            notes.append('layer "%s" (%s) works on the other inputs %s only: not part of ebr\'s model '
                         '(ebr makes the clip markers itself: 0, 1, ..., 1)' % (name, kind, bottoms))
            for t in tops:
                roles[t] = "aux"
            continue

        # The per-frame classifier asked for with --frame-classifier.
        if wanted_head is not None and name == wanted_head:
            if kind != "InnerProduct" or len(bottoms) != 1 or roles[bottoms[0]] != "frame":
                fail('--frame-classifier "%s": it must be an InnerProduct on the feature blob; '
                     'it is a %s reading %s' % (name, kind, bottoms))
            frame_head = (layer, bottoms[0], written.get(bottoms[0]))
            for t in tops:
                roles[t] = "side"
            continue

        # Outputs of skipped heads (a per-frame classifier not asked for, a side branch).
        if kinds <= {"side", "aux"}:
            if kind == "LSTM":
                fail('layer "%s" (type LSTM) reads %s, off the model\'s main path: ebr stacks LSTMs '
                     'only on the temporal chain' % (name, bottoms))
            notes.append('layer "%s" (%s) skipped: it reads only outputs that are not exported'
                         % (name, kind))
            for t in tops:
                roles[t] = "side"
            continue

        # The classifier's output: Softmax and losses are not part of ebr's model.
        if "logits" in kinds:
            if not kinds <= {"logits", "side", "aux"}:
                fail('layer "%s" (type %s) mixes the classifier\'s output with other blobs'
                     % (name, kind))
            in_place = any(t in bottoms for t in tops)
            if kind.endswith("Loss") or kind in OUTPUT_TYPES or kind == "Dropout":
                if in_place and kind not in ("Silence", "Dropout"):
                    fail('layer "%s" (type %s) changes the classifier\'s output in place'
                         % (name, kind))
                notes.append('layer "%s" (%s) skipped: ebr\'s model ends at the classifier '
                             '(it applies the softmax itself)' % (name, kind))
                for t in tops:
                    roles[t] = "logits" if kind == "Dropout" else "side"
                continue
            fail('layer "%s" (type %s) reads the classifier\'s output: ebr\'s model ends at the '
                 'classifier, and only Softmax, losses, Accuracy and ArgMax may follow it'
                 % (name, kind))

        if kind in REFUSED_TYPES:
            refuse_type(layer)

        # --- the frame part ---
        if state == "frame":
            stale = [b for b in bottoms if roles[b] == "frame" and b != cur]
            if stale:
                b = stale[0]
                fail('layer "%s" reads "%s", but the frame chain already continued from it through '
                     '"%s": %s (if one of them is a per-frame classifier, pass --frame-classifier '
                     'with its name)' % (name, b, continued.get(b, "?"), CHAIN))
            if [r for r in kinds if r not in ("frame", "aux")]:
                fail('layer "%s" (type %s) mixes the frame chain with other blobs' % (name, kind))
            if kind == "LSTM":
                fail('layer "%s" (type LSTM) reads the frame blob "%s" directly: the feature must be '
                     'reshaped to (T, 1, D) first' % (name, cur))
            if kind.endswith("Loss") or kind in OUTPUT_TYPES:
                # A per-frame CNN without a temporal part: its last InnerProduct is the classifier.
                classifier, feature = pop_classifier(frame, frame_caffe, names, layers, notes)
                notes.append('layer "%s" (%s) skipped: ebr\'s model ends at the classifier '
                             '(it applies the softmax itself)' % (name, kind))
                state = "done"
                roles[cur] = "logits"
                for t in tops:
                    if t != cur:
                        roles[t] = "side"
                continue
            if bottoms != [cur]:
                if kind in ("Convolution", "ReLU", "Pooling", "InnerProduct", "Dropout", "Reshape"):
                    fail('layer "%s" (type %s): expected one input, the frame blob "%s"'
                         % (name, kind, cur))
                refuse_type(layer)
            c, h, w = ebr_shape
            if kind == "Convolution":
                top = single_io(layer)
                p = layer.get("convolution_param", {})
                out = int(p.get("num_output", 0))
                if out < 1:
                    fail('layer "%s": convolution_param.num_output is missing' % name)
                if int(p.get("group", 1)) != 1:
                    fail('layer "%s": grouped convolution (group %s) is not supported by ebr'
                         % (name, p.get("group")))
                dilation = [int(d) for d in as_list(p.get("dilation"))]
                if any(d != 1 for d in dilation):
                    fail('layer "%s": dilated convolution (dilation %s) is not supported by ebr'
                         % (name, dilation))
                if int(p.get("axis", 1)) != 1:
                    fail('layer "%s": convolution axis %s is not supported' % (name, p.get("axis")))
                k = square(name, "kernel", spatial(name, p, "kernel_size", "kernel_h", "kernel_w", None))
                s = square(name, "stride", spatial(name, p, "stride", "stride_h", "stride_w", 1))
                pad = square(name, "pad", spatial(name, p, "pad", "pad_h", "pad_w", 0))
                if k < 1 or s < 1:
                    fail('layer "%s": kernel and stride must be >= 1' % name)
                oh, ow = conv_out_size(h, k, s, pad), conv_out_size(w, k, s, pad)
                if oh is None or ow is None:
                    fail('layer "%s": kernel %d does not fit its %dx%d input (pad %d)' % (name, k, h, w, pad))
                n = export_name(name)
                bias = bool(p.get("bias_term", True))
                blobs = layer_params(params, name, 2 if bias else 1)
                arrays[n + "_w.npy"] = fit_array(name, blobs[0], (out, c, k, k), "weight [out, in, kh, kw]")
                if bias:
                    arrays[n + "_b.npy"] = fit_array(name, blobs[1], (out,), "bias [out]")
                param_layers.append(name)
                frame.append({"type": "conv", "name": n, "out": out, "kernel": k, "stride": s,
                              "pad": pad, "bias": bias})
                ebr_shape = caffe_shape = (out, oh, ow)
            elif kind == "ReLU":
                top = single_io(layer)
                slope = float(layer.get("relu_param", {}).get("negative_slope", 0.0))
                if slope != 0.0:
                    fail('layer "%s": a leaky ReLU (negative_slope %g) is not ebr\'s ReLU' % (name, slope))
                frame.append({"type": "relu"})
                if top != cur:
                    notes.append('ReLU "%s" is not in place in the prototxt; ebr runs it in place, so '
                                 'the map of "%s" is taken after it' % (name, frame_caffe[-1] if frame_caffe else cur))
            elif kind == "Dropout":
                top = single_io(layer)
                check_dropout(layer)
                frame.append({"type": "dropout"})
            elif kind == "Pooling":
                top = single_io(layer)
                p = layer.get("pooling_param", {})
                method = enum_name(p.get("pool", "MAX"), POOL_METHODS)
                if method not in ("MAX", "AVE"):
                    fail('layer "%s": %s pooling is not supported (MAX and AVE are)' % (name, method))
                if "round_mode" in p and enum_name(p["round_mode"], {0: "CEIL", 1: "FLOOR"}) != "CEIL":
                    fail('layer "%s": round_mode FLOOR is not supported (ebr rounds up, as Caffe\'s default)' % name)
                if p.get("global_pooling", False):
                    if any(f in p for f in ("kernel_size", "kernel_h", "kernel_w")):
                        fail('layer "%s": global_pooling with a kernel size' % name)
                    s = square(name, "stride", spatial(name, p, "stride", "stride_h", "stride_w", 1))
                    pad = square(name, "pad", spatial(name, p, "pad", "pad_h", "pad_w", 0))
                    if s != 1 or pad != 0:
                        fail('layer "%s": global pooling needs stride 1 and pad 0' % name)
                    k = square(name, "global pooling window (its input)", (h, w))
                    notes.append('layer "%s": global pooling exported as kernel %d (its input is %dx%d)'
                                 % (name, k, h, w))
                else:
                    k = square(name, "kernel", spatial(name, p, "kernel_size", "kernel_h", "kernel_w", None))
                    s = square(name, "stride", spatial(name, p, "stride", "stride_h", "stride_w", 1))
                    pad = square(name, "pad", spatial(name, p, "pad", "pad_h", "pad_w", 0))
                if k < 1 or s < 1:
                    fail('layer "%s": kernel and stride must be >= 1' % name)
                if pad >= k:
                    fail('layer "%s": pad %d must be smaller than the kernel %d' % (name, pad, k))
                oh, ow = pool_out_size(h, k, s, pad), pool_out_size(w, k, s, pad)
                if oh is None or ow is None:
                    fail('layer "%s": kernel %d does not fit its %dx%d input (pad %d)' % (name, k, h, w, pad))
                frame.append({"type": "max_pool" if method == "MAX" else "avg_pool",
                              "name": export_name(name), "kernel": k, "stride": s, "pad": pad})
                ebr_shape = caffe_shape = (c, oh, ow)
            elif kind == "InnerProduct":
                top = single_io(layer)
                p = layer.get("inner_product_param", {})
                m, kk = ip_split(name, p, (frames,) + caffe_shape)
                if m != frames:
                    fail('layer "%s": an InnerProduct in the frame part must have axis 1 (one row per '
                         'frame); it has axis %s' % (name, p.get("axis")))
                n = export_name(name)
                out, bias = fc_arrays(name, n, p, kk)
                frame.append({"type": "fc", "name": n, "out": out, "bias": bias})
                ebr_shape = (out, 1, 1)
                caffe_shape = (out,)
            elif kind == "Reshape":
                top = single_io(layer)
                p = layer.get("reshape_param", {})
                if int(p.get("axis", 0)) != 0 or int(p.get("num_axes", -1)) != -1:
                    fail('layer "%s": a Reshape with axis/num_axes is not supported' % name)
                dims = [int(d) for d in as_list(p.get("shape", {}).get("dim"))]
                bottom_shape = (frames,) + caffe_shape
                total = product(bottom_shape)
                resolved = []
                for i, d in enumerate(dims):
                    if d == 0:
                        if i >= len(bottom_shape):
                            fail('layer "%s": dim %d is 0 but the input has %d axes' % (name, i, len(bottom_shape)))
                        resolved.append(bottom_shape[i])
                    else:
                        resolved.append(d)
                if resolved.count(-1) > 1:
                    fail('layer "%s": more than one dim is -1' % name)
                if -1 in resolved:
                    rest = product(d for d in resolved if d != -1)
                    if rest == 0 or total % rest:
                        fail('layer "%s": cannot infer the -1 dim of %s from %s' % (name, dims, list(bottom_shape)))
                    resolved[resolved.index(-1)] = total // rest
                if product(resolved) != total:
                    fail('layer "%s": reshapes %s (%d values) to %s' % (name, list(bottom_shape), total, resolved))
                d_feat = product(caffe_shape)
                if len(resolved) == 3 and resolved == [frames, 1, d_feat]:
                    pending_mean = False
                elif len(resolved) == 4 and resolved == [1, 1, frames, d_feat]:
                    pending_mean = True
                elif len(resolved) == 3 and resolved[2] == d_feat and resolved[1] != 1:
                    fail('layer "%s": reshapes the features to %s, i.e. %d clips side by side; ebr runs '
                         'one clip: (T, 1, D)' % (name, resolved, resolved[1]))
                else:
                    fail('layer "%s": reshapes the feature blob %s to %s; ebr expects (T, 1, D) = %s before '
                         'an LSTM, or (1, 1, T, D) = %s before AVE pooling over time'
                         % (name, list(bottom_shape), resolved, [frames, 1, d_feat], [1, 1, frames, d_feat]))
                check_blob(top, resolved, name)
                feature = cur
                state = "temporal"
                seq = {top}
                seq_shape = tuple(resolved)
                roles[top] = "seq"
                continued[cur] = name
                notes.append('the clip length T = %d of the prototxt is not part of the model: ebr runs '
                             'clips of any length' % frames)
                continue
            else:
                refuse_type(layer)
            frame_caffe.append(name)
            if top != cur:
                continued[cur] = name
            check_blob(top, (frames,) + caffe_shape, name)
            roles[top] = "frame"
            cur = top
            written[cur] = len(frame)
            blob_caffe_shape[cur] = caffe_shape
            continue

        # --- after the frame part: frame blobs are frozen ---
        if "frame" in kinds:
            if any(t in bottoms for t in tops):
                fail('layer "%s" (type %s) changes the frame blob %s in place after the temporal part '
                     'read it' % (name, kind, [b for b in bottoms if roles[b] == "frame"]))
            if kind == "LSTM":
                fail('layer "%s" (type LSTM) reads %s: ebr stacks LSTMs only on the temporal chain, '
                     'with the clip markers as second input and no static input' % (name, bottoms))
            if kinds - {"frame", "aux", "side"}:
                fail('layer "%s" (type %s) mixes frame blobs with the temporal part' % (name, kind))
            if kind == "InnerProduct" and bottoms == [feature]:
                notes.append('layer "%s" (an InnerProduct on the feature blob "%s") is not exported; pass '
                             '--frame-classifier %s to export it as the per-frame classifier'
                             % (name, feature, name))
            else:
                notes.append('layer "%s" (%s) reads %s inside the frame part: a side branch, not exported'
                             % (name, kind, bottoms))
            for t in tops:
                roles[t] = "side"
            continue

        # --- the temporal part ---
        if state == "temporal":
            on_seq = [b for b in bottoms if b in seq]
            stale = [b for b in bottoms if roles[b] == "seq" and b not in seq]
            if stale:
                fail('layer "%s" reads "%s", but the temporal chain already continued from it: '
                     'branches cannot be represented' % (name, stale[0]))
            if kind == "LSTM":
                if len(bottoms) != 2 or bottoms[0] not in seq or roles[bottoms[1]] != "aux":
                    fail('layer "%s" (type LSTM) reads %s; ebr expects the temporal chain\'s blob and '
                         'the clip markers (a third, static input is not supported)' % (name, bottoms))
                if pending_mean or len(seq_shape) != 3:
                    fail('layer "%s" (type LSTM) reads a %s blob; it needs (T, 1, D)' % (name, list(seq_shape)))
                p = layer.get("recurrent_param", {})
                if p.get("expose_hidden", False):
                    fail('layer "%s": expose_hidden is not supported (ebr starts every clip at h = c = 0)'
                         % name)
                hidden = int(p.get("num_output", 0))
                if hidden < 1:
                    fail('layer "%s": recurrent_param.num_output is missing' % name)
                if len(tops) != 1:
                    fail('layer "%s" (type LSTM): expected one output' % name)
                t_steps, _, d_in = seq_shape
                n = export_name(name)
                blobs = layer_params(params, name, 3)
                arrays[n + "_W_xc.npy"] = fit_array(name, blobs[0], (4 * hidden, d_in), "W_xc [4H, D]")
                arrays[n + "_b_c.npy"] = fit_array(name, blobs[1], (4 * hidden,), "b_c [4H]")
                arrays[n + "_W_hc.npy"] = fit_array(name, blobs[2], (4 * hidden, hidden), "W_hc [4H, H]")
                param_layers.append(name)
                temporal.append({"type": "lstm", "name": n, "hidden": hidden})
                notes.append('LSTM "%s": ebr runs the authors\' ReLU-LSTM (gates i, f, o, g; ReLU where '
                             'stock Caffe has tanh), with clip markers 0, 1, ..., 1; a model trained '
                             'with stock Caffe\'s LSTM is not the same network' % name)
                seq_shape = (t_steps, 1, hidden)
                check_blob(tops[0], seq_shape, name)
            elif bottoms != on_seq or len(bottoms) != 1:
                fail('layer "%s" (type %s) mixes the temporal chain with other blobs' % (name, kind))
            elif kind == "Dropout":
                top = single_io(layer)
                check_dropout(layer)
                notes.append('Dropout "%s" after the temporal part skipped: the identity at inference' % name)
                if top not in seq:
                    seq = seq | {top}
                roles[top] = "seq"
                continue
            elif kind == "Pooling" and pending_mean:
                top = single_io(layer)
                p = layer.get("pooling_param", {})
                method = enum_name(p.get("pool", "MAX"), POOL_METHODS)
                if method != "AVE":
                    fail('layer "%s": %s pooling over time is not supported (AVE is ebr\'s mean_pool)'
                         % (name, method))
                if p.get("global_pooling", False):
                    fail('layer "%s": global pooling over (T, D) averages the units too; pool over time '
                         'with kernel_h T and kernel_w 1' % name)
                kh, kw = spatial(name, p, "kernel_size", "kernel_h", "kernel_w", None)
                sh, sw = spatial(name, p, "stride", "stride_h", "stride_w", 1)
                ph, pw = spatial(name, p, "pad", "pad_h", "pad_w", 0)
                if (kh, kw) != (frames, 1) or sw != 1 or (ph, pw) != (0, 0):
                    fail('layer "%s": AVE pooling of the (1, 1, T, D) blob must have kernel_h T = %d, '
                         'kernel_w 1, stride_w 1 and no pad (a mean over the frames); it has kernel '
                         '%dx%d, stride %dx%d, pad %dx%d' % (name, frames, kh, kw, sh, sw, ph, pw))
                temporal.append({"type": "mean_pool"})
                pending_mean = False
                seq_shape = (1, 1, 1, seq_shape[3])
                check_blob(top, seq_shape, name)
            elif kind == "InnerProduct":
                if pending_mean:
                    fail('layer "%s": the (1, 1, T, D) reshape must be followed by AVE pooling over time'
                         % name)
                top = single_io(layer)
                p = layer.get("inner_product_param", {})
                steps = seq_shape[0] if len(seq_shape) == 3 else 1
                seq_width = seq_shape[-1]
                m, kk = ip_split(name, p, seq_shape)
                if (m, kk) != (steps, seq_width):
                    fail('layer "%s": with axis %s on the %s blob it multiplies %d rows of %d values; '
                         'ebr\'s classifier takes one row of %d per step (%d steps)'
                         % (name, p.get("axis", 1), list(seq_shape), m, kk, seq_width, steps))
                n = export_name(name)
                out, bias = fc_arrays(name, n, p, seq_width)
                classifier = {"type": "fc", "name": n, "out": out, "bias": bias}
                axis = int(p.get("axis", 1))
                axis = axis + len(seq_shape) if axis < 0 else axis
                check_blob(top, tuple(seq_shape[:axis]) + (out,), name)
                state = "done"
                roles[top] = "logits"
                continue
            else:
                if kind == "Pooling":
                    fail('layer "%s": pooling in the temporal part is supported only as AVE pooling '
                         'over time right after a (1, 1, T, D) reshape' % name)
                refuse_type(layer)
            seq = {tops[0]}
            roles[tops[0]] = "seq"
            continue

        # --- after the classifier ---
        if kind == "LSTM":
            fail('layer "%s" (type LSTM) comes after the classifier: ebr stacks LSTMs only before it' % name)
        notes.append('layer "%s" (%s) reads %s after the classifier: not exported' % (name, kind, bottoms))
        for t in tops:
            roles[t] = "side"

    # --- the end of the net ---
    if state == "frame":
        # A per-frame CNN whose prototxt ends at its last InnerProduct (no softmax).
        classifier, feature = pop_classifier(frame, frame_caffe, names, layers, notes)
    elif state == "temporal":
        fail("no classifier after the temporal part: expected an InnerProduct on the %s"
             % ("LSTM's output" if temporal else "reshaped features"))
    if pending_mean:
        fail("the (1, 1, T, D) reshape is not followed by AVE pooling over time")
    if not any(l["type"] not in ("relu", "dropout") for l in frame):
        fail("the frame part has no convolution, pooling or InnerProduct")

    frame_classifier = None
    if wanted_head is not None:
        if frame_head is None:
            fail('--frame-classifier "%s": no such layer in the TEST phase of the prototxt' % wanted_head)
        head, blob, seen = frame_head
        if blob != feature:
            fail('--frame-classifier "%s" reads "%s", but the feature blob (the frame part\'s last blob) '
                 'is "%s"' % (wanted_head, blob, feature))
        if seen != len(frame):
            fail('--frame-classifier "%s" reads "%s" before the layers that follow it in the frame part '
                 '(ebr gives it the finished feature blob)' % (wanted_head, blob))
        p = head.get("inner_product_param", {})
        feat_len = product(ebr_shape_of(frame, (channels, height, width)))
        m, kk = ip_split(wanted_head, p, (frames,) + tuple(blob_caffe_shape[feature]))
        if kk != feat_len:
            fail('--frame-classifier "%s": its axis %s does not take each frame\'s whole feature'
                 % (wanted_head, p.get("axis", 1)))
        n = export_name(wanted_head)
        out, bias = fc_arrays(wanted_head, n, p, feat_len)
        frame_classifier = {"type": "fc", "name": n, "out": out, "bias": bias}

    labels = opts["labels"]
    if labels is None:
        labels = [str(k) for k in range(classifier["out"])]
    elif len(labels) != classifier["out"]:
        fail("the labels file has %d names, the classifier \"%s\" has %d outputs"
             % (len(labels), names[classifier["name"]], classifier["out"]))

    model = {
        "format": FORMAT,
        "name": opts["name"],
        "input": input_block(channels, height, width, opts),
        "frame": frame,
        "temporal": temporal,
        "classifier": classifier,
    }
    if frame_classifier is not None:
        model["frame_classifier"] = frame_classifier
    model["labels"] = list(labels)
    return {"model": model, "arrays": arrays, "notes": notes, "param_layers": param_layers}


def pop_classifier(frame, frame_caffe, names, layers, notes):
    """For a per-frame CNN (no temporal part): takes its last InnerProduct (after which only
    Dropout may come) off the frame part as the classifier. Returns (the classifier's
    model.json entry, the blob it reads: the feature blob)."""
    while frame and frame[-1]["type"] == "dropout":
        frame.pop()
        frame_caffe.pop()
    if not frame or frame[-1]["type"] != "fc":
        fail("no classifier: the frame part ends without an InnerProduct, and no Reshape to "
             "(T, 1, D) starts a temporal part")
    last = frame.pop()
    caffe_name = frame_caffe.pop()
    notes.append('no temporal part: "%s" is the classifier, on every frame\'s feature '
                 '(model.json "temporal": [])' % caffe_name)
    feature = None
    for layer in layers:
        if layer.get("name") == caffe_name:
            feature = as_list(layer.get("bottom"))[0]
    head = {"type": "fc", "name": last["name"], "out": last["out"], "bias": last["bias"]}
    return head, feature


def ebr_shape_of(frame, input_chw):
    """ebr's [C, H, W] after the frame layers (the loader's shape rules)."""
    c, h, w = input_chw
    for layer in frame:
        t = layer["type"]
        if t == "conv":
            k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("pad", 0)
            c, h, w = layer["out"], conv_out_size(h, k, s, p), conv_out_size(w, k, s, p)
        elif t in ("max_pool", "avg_pool"):
            k, s, p = layer["kernel"], layer.get("stride", 1), layer.get("pad", 0)
            h, w = pool_out_size(h, k, s, p), pool_out_size(w, k, s, p)
        elif t == "fc":
            c, h, w = layer["out"], 1, 1
        if h is None or w is None:
            raise ValueError("a kernel does not fit its input")
    return c, h, w


def input_block(channels, height, width, opts):
    """model.json "input": the model's frame size and the preprocessing options."""
    mean = [float(m) for m in opts["mean"]]
    if len(mean) != channels:
        fail("--mean has %d values, the model has %d input channel(s)" % (len(mean), channels))
    order = opts["channel_order"]
    if order not in ("bgr", "rgb"):
        fail('--channel-order must be "bgr" or "rgb", found "%s"' % order)
    scale = float(opts["scale"])
    if not np.isfinite(scale):
        fail("--scale must be a finite number")
    if channels not in (1, 3):
        fail("the input has %d channels; ebr reads colour (3) or gray (1) frames" % channels)
    block = {"channels": channels, "height": height, "width": width}
    resize = opts["resize"]
    if resize is not None:
        rh, rw = int(resize[0]), int(resize[1])
        if rh < height or rw < width:
            fail("--resize %dx%d is smaller than the model's input %dx%d (frames are resized, then "
                 "center-cropped); pass a larger --resize or --no-resize" % (rh, rw, height, width))
        block["resize"] = [rh, rw]
    block.update({"crop": "center", "scale": scale, "channel_order": order,
                  "mean": mean, "std": [1.0] * channels})
    return block


def parse_labels(text):
    """Class names from a catName.txt-like text: one per line, either "name" or "index name"
    (UCF101's classInd.txt style, ordered by index). Blank lines are skipped."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    split = [l.split(None, 1) for l in lines]
    indexed = bool(lines) and all(len(s) == 2 and s[0].isdigit() for s in split)
    if not indexed:
        return lines
    pairs = sorted((int(s[0]), s[1].strip()) for s in split)
    first = pairs[0][0]
    if [i for i, _ in pairs] != list(range(first, first + len(pairs))):
        fail("the labels file numbers its lines, but not consecutively")
    return [name for _, name in pairs]


# ---------------------------------------------------------------------------------------------
# Writing and checking the directory.
# ---------------------------------------------------------------------------------------------

def write_model_dir(out_dir, result, force=False):
    """Writes the .npy files, then model.json (last, so an interrupted export has none).
    Refuses a non-empty directory unless `force`."""
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            fail("%s exists and is not a directory" % out_dir)
        if os.listdir(out_dir) and not force:
            fail("%s exists and is not empty; pass --force to overwrite" % out_dir)
    else:
        os.makedirs(out_dir)
    for file_name, array in result["arrays"].items():
        path = os.path.join(out_dir, file_name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(array, dtype=np.float32))
        os.replace(tmp, path)
    path = os.path.join(out_dir, "model.json")
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(result["model"], indent=2) + "\n")
    os.replace(path + ".tmp", path)


def expected_files(model):
    """[(file, shape, layer name, kind, output shape)] that ebr's loader will read for
    `model` (a model.json dict), derived from model.json alone, as src/model/load.rs does."""
    inp = model["input"]
    c, h, w = inp["channels"], inp["height"], inp["width"]
    rows = []
    for i, layer in enumerate(model["frame"]):
        t = layer["type"]
        files = []
        if t == "conv":
            k = layer["kernel"]
            files = [(layer["name"] + "_w.npy", (layer["out"], c, k, k))]
            if layer.get("bias", True):
                files.append((layer["name"] + "_b.npy", (layer["out"],)))
        elif t == "fc":
            files = [(layer["name"] + "_w.npy", (layer["out"], c * h * w))]
            if layer.get("bias", True):
                files.append((layer["name"] + "_b.npy", (layer["out"],)))
        elif t not in ("relu", "dropout", "max_pool", "avg_pool"):
            fail("model.json frame[%d]: unknown type %s" % (i, t))
        try:
            c, h, w = ebr_shape_of([layer], (c, h, w))
        except ValueError:
            fail("model.json frame[%d]: the kernel does not fit its input" % i)
        rows.append((layer.get("name", ""), t, (c, h, w), files))
    feat = c * h * w
    width, steps = feat, "T"
    for layer in model["temporal"]:
        if layer["type"] == "lstm":
            hh = layer["hidden"]
            files = [(layer["name"] + "_W_xc.npy", (4 * hh, width)),
                     (layer["name"] + "_b_c.npy", (4 * hh,)),
                     (layer["name"] + "_W_hc.npy", (4 * hh, hh))]
            width = hh
            rows.append((layer["name"], "lstm", (steps, width), files))
        else:
            steps = 1
            rows.append(("", "mean_pool", (steps, width), []))
    for key, inputs in (("classifier", width), ("frame_classifier", feat)):
        head = model.get(key)
        if head is None:
            continue
        files = [(head["name"] + "_w.npy", (head["out"], inputs))]
        if head.get("bias", True):
            files.append((head["name"] + "_b.npy", (head["out"],)))
        rows.append((head["name"], key, ("T" if key == "frame_classifier" else steps, head["out"]), files))
    return rows


def verify_model_dir(out_dir):
    """Reloads model.json and every .npy file and checks them as ebr's loader will (format,
    names, sizes, float32, C order, shapes, the parameter budget). Returns the summary lines."""
    with open(os.path.join(out_dir, "model.json")) as f:
        model = json.load(f)
    if model.get("format") != FORMAT:
        fail("model.json: format is not %s" % FORMAT)
    inp = model["input"]
    if len(model.get("labels", [])) != model["classifier"]["out"]:
        fail("model.json: labels and classifier outputs differ in number")
    seen = set()
    for layer in model["frame"] + model["temporal"] + [model["classifier"], model.get("frame_classifier")]:
        if not layer:
            continue
        for key in ("out", "kernel", "stride", "pad", "hidden"):
            if key in layer and not 0 <= layer[key] <= MAX_SIZE:
                fail("model.json: %s %s of %s is beyond ebr's limit" % (key, layer[key], layer.get("name")))
        name = layer.get("name")
        if name is None:
            continue
        if name in seen or name == "data" or "/" in name or "\\" in name or not name:
            fail('model.json: the layer name "%s" is empty, reserved, repeated or holds a path separator' % name)
        seen.add(name)
    rows = expected_files(model)
    lines = ["%-16s %-16s %-18s %12s" % ("layer", "type", "output", "parameters"),
             "%-16s %-16s %-18s %12s" % ("data", "input", "%dx%dx%d" % (inp["channels"], inp["height"], inp["width"]), 0)]
    total = 0
    wanted = set()
    for name, kind, shape, files in rows:
        count = 0
        for file_name, expected in files:
            path = os.path.join(out_dir, file_name)
            if not os.path.exists(path):
                fail("%s is missing" % path)
            a = np.load(path, mmap_mode="r")
            if a.dtype != np.float32:
                fail("%s holds %s, expected float32" % (path, a.dtype))
            if not a.flags.c_contiguous:
                fail("%s is not in C order" % path)
            if tuple(a.shape) != tuple(expected):
                fail("%s has shape %s, expected %s" % (path, list(a.shape), list(expected)))
            count += a.size
            wanted.add(file_name)
        total += count
        out = "x".join(str(d) for d in shape)
        lines.append("%-16s %-16s %-18s %12d" % (name or "-", kind, out, count))
    if total > PARAMETER_BUDGET:
        fail("the model has %d parameters, more than ebr accepts (%d)" % (total, PARAMETER_BUDGET))
    lines.append("total parameters: %d" % total)
    extra = sorted(f for f in os.listdir(out_dir) if f.endswith(".npy") and f not in wanted)
    if extra:
        lines.append("note: %d .npy file(s) in %s are not part of this model (left from an earlier "
                     "export?): %s" % (len(extra), out_dir, ", ".join(extra[:5])))
    return lines


# ---------------------------------------------------------------------------------------------
# pycaffe: the only part that needs Caffe.
# ---------------------------------------------------------------------------------------------

def message_to_dict(message):
    """A protobuf message as a dict of its set fields (repeated -> list, enum -> its name,
    message -> dict); the stored weights ("blobs") are left out."""
    out = {}
    for fd, value in message.ListFields():
        if fd.name == "blobs":
            continue
        repeated = getattr(fd, "is_repeated", None)
        if repeated is None:
            repeated = fd.label == fd.LABEL_REPEATED

        def plain(v, fd=fd):
            if fd.type == fd.TYPE_MESSAGE:
                return message_to_dict(v)
            if fd.type == fd.TYPE_ENUM:
                named = fd.enum_type.values_by_number.get(v)
                return named.name if named is not None else v
            return v

        out[fd.name] = [plain(v) for v in value] if repeated else plain(value)
    return out


def import_caffe():
    """pycaffe's modules, or a one-line explanation of how to get them."""
    try:
        import caffe
        from caffe.proto import caffe_pb2
        from google.protobuf import text_format
    except ImportError as e:
        fail("needs pycaffe (%s): build Caffe with its python interface and put its python/ "
             "directory on PYTHONPATH" % e)
    return caffe, caffe_pb2, text_format


def load_caffe(prototxt, caffemodel):
    """(description dict, params, blob shapes, net) of a deploy prototxt + caffemodel.
    The structure comes from parsing the prototxt (nothing runs); the parameters and the
    blob shapes from caffe.Net in the TEST phase (CPU). `net` must stay alive while the
    parameter arrays (views of its blobs) are used."""
    caffe, caffe_pb2, text_format = import_caffe()
    message = caffe_pb2.NetParameter()
    with open(prototxt) as f:
        text_format.Merge(f.read(), message)
    description = message_to_dict(message)
    caffe.set_mode_cpu()
    net = caffe.Net(prototxt, caffemodel, caffe.TEST)
    shapes = {}
    for blob_name, blob in net.blobs.items():
        try:
            shapes[blob_name] = tuple(int(d) for d in blob.shape)
        except (AttributeError, TypeError):
            shapes[blob_name] = tuple(blob.data.shape)
    params = {layer: [b.data for b in blobs] for layer, blobs in net.params.items()}
    return description, params, shapes, net


def caffemodel_layer_names(caffemodel):
    """Names of the layers that hold weights in the .caffemodel file, or None if it cannot be
    read here (HDF5). caffe.Net keeps a layer's initial filler values, silently, when the
    caffemodel has no layer of that name: this is how the exporter notices."""
    if caffemodel.endswith(".h5"):
        return None
    _, caffe_pb2, _ = import_caffe()
    message = caffe_pb2.NetParameter()
    with open(caffemodel, "rb") as f:
        message.ParseFromString(f.read())
    names = set(l.name for l in message.layer if len(l.blobs))
    names |= set(l.name for l in message.layers if len(l.blobs))
    return names


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------

def parse_args(argv):
    """The command line (see --help)."""
    ap = argparse.ArgumentParser(
        description="Export a Caffe deploy.prototxt + .caffemodel to an ebr model directory "
                    "(spec/model.md). Needs numpy and pycaffe.")
    ap.add_argument("--prototxt", required=True, help="the deploy prototxt")
    ap.add_argument("--caffemodel", required=True, help="the trained weights (.caffemodel)")
    ap.add_argument("--out", required=True, metavar="DIR", help="the model directory to write")
    ap.add_argument("--labels", metavar="FILE",
                    help='class names, one per line ("name" or "index name"); default "0", "1", ...')
    ap.add_argument("--name", help="free text for model.json; default: the net's name and the caffemodel's")
    ap.add_argument("--resize", nargs=2, type=int, metavar=("H", "W"), default=list(DEMO_RESIZE),
                    help="frames are resized to H x W before the center crop (default 240 320, the demo's)")
    ap.add_argument("--no-resize", action="store_true", help="no resize: frames are only center-cropped")
    ap.add_argument("--mean", nargs="+", type=float, default=list(DEMO_MEAN), metavar="M",
                    help="per-channel mean in the model's channel order (default the demo's B G R: "
                         "103.939 116.779 128.68; 128.68 may be a typo of ImageNet's 123.68)")
    ap.add_argument("--scale", type=float, default=DEMO_SCALE,
                    help="values in [0, 1] are multiplied by this (default 255)")
    ap.add_argument("--channel-order", choices=("bgr", "rgb"), default="bgr",
                    help="the model's input channel order (default bgr, Caffe's)")
    ap.add_argument("--frame-classifier", metavar="LAYER",
                    help="an InnerProduct on the feature blob to export as the per-frame classifier")
    ap.add_argument("--data-blob", default="data", help='the image input blob (default "data")')
    ap.add_argument("--force", action="store_true", help="write into a non-empty --out directory")
    return ap.parse_args(argv)


def main(argv=None):
    """Export, write, verify, summarise."""
    args = parse_args(argv)
    for path in (args.prototxt, args.caffemodel) + ((args.labels,) if args.labels else ()):
        if not os.path.isfile(path):
            fail("%s does not exist" % path)
    labels = None
    if args.labels:
        with open(args.labels) as f:
            labels = parse_labels(f.read())
    description, params, shapes, net = load_caffe(args.prototxt, args.caffemodel)
    name = args.name
    if name is None:
        name = "%s (Caffe: %s)" % (description.get("name", "") or os.path.basename(args.prototxt),
                                   os.path.basename(args.caffemodel))
    options = {
        "name": name,
        "data_blob": args.data_blob,
        "resize": None if args.no_resize else args.resize,
        "mean": args.mean,
        "scale": args.scale,
        "channel_order": args.channel_order,
        "labels": labels,
        "frame_classifier": args.frame_classifier,
    }
    result = convert(description, params, shapes, options)
    try:
        stored = caffemodel_layer_names(args.caffemodel)
    except Exception as e:  # the check is a safeguard; say so if it cannot run
        stored = None
        print("warning: could not list the caffemodel's layers (%s); not checked that every "
              "exported layer has trained weights" % e, file=sys.stderr)
    if stored is not None:
        missing = [l for l in result["param_layers"] if l not in stored]
        if missing:
            fail('layer "%s" has no weights in %s (caffe.Net kept its initial filler values); are '
                 'the prototxt and the caffemodel a pair?' % (missing[0], args.caffemodel))
    write_model_dir(args.out, result, force=args.force)
    lines = verify_model_dir(args.out)
    print("exported %s + %s -> %s" % (args.prototxt, args.caffemodel, args.out))
    for note in result["notes"]:
        print("note: " + note)
    for line in lines:
        print(line)
    print("checked: model.json and every .npy file reloaded with the shapes ebr expects")
    print("next: ebr inspect --model %s   (or: cargo run --release -- inspect --model %s)"
          % (args.out, args.out))


if __name__ == "__main__":
    main()
