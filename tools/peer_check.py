#!/usr/bin/env python3
"""Write fixtures/peers/: excitation backprop (EB) as the two peer libraries compute it,
TorchRay (facebookresearch, `excitation_backprop`) and Zennit (its `ExcitationBackprop`
composite), on the frame CNN of the Caffe fixture net tiny_cnn_lstm and on single layers.
tests/peers.rs compares ebr against these files; spec/peers.md states what each peer computes
and the measured agreement.

Run by hand (never by CI), from the root of the ebr checkout:

    python3 -m venv /work/venv-peers
    /work/venv-peers/bin/pip install torch torchray zennit numpy
    /work/venv-peers/bin/python tools/peer_check.py

Needs Python 3, numpy, PyTorch (CPU), torchray and zennit; fixtures/peers/README.md names the
versions that wrote the committed files. Nothing of ebr runs here: the inputs and weights are
the Caffe fixtures' .npy files (fixtures/caffe/), read as they are.

Four peer configurations:
- `torchray`: `torchray.attribution.excitation_backprop.excitation_backprop` as shipped. Its
  saliency is the channel sum of the pseudo-gradient at a layer's output; the full signal is
  taken with `gradient_to_saliency=lambda t: t.grad` (the same backward pass, no reduction).
- `zennit`: Zennit configured to agree with EB: `ExcitationBackprop(stabilizer=zero_guard,
  zero_params=['bias'])` with average pooling's Norm rule under `positive_guard`, and on the
  first layer (signed input) a BasicHook that uses x as it is (`EbWithInputAsIs`) instead of
  z+'s x+W+ + x-W- split.
- `zennit_shipped`: `zennit.composites.ExcitationBackprop()` with its defaults (bias in the
  normalizer, a 1e-6 sign stabilizer, z+ on the first layer too).
- `torchray64`: TorchRay as shipped on the float64 copy of the same net and input: the
  reference for the float32 precision of EB at the input.
"""

import argparse
import contextlib
import importlib.metadata
import inspect
import json
import os
import platform
import sys
import textwrap
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchray.attribution.excitation_backprop as torchray_eb
from torchray.attribution.excitation_backprop import excitation_backprop
from zennit.composites import ExcitationBackprop, SpecialFirstLayerMapComposite
from zennit.core import BasicHook
from zennit.rules import ClampMod, Norm
from zennit.types import AvgPool as ZennitAvgPool
from zennit.types import Convolution as ZennitConvolution

CLASSES = (3, 7)
NET_LAYERS = ("conv1", "conv2", "conv3", "fc7")  # signals at these blobs, plus the input "data"


# ---------------------------------------------------------------------------------------------
# Zennit configured to agree with EB


def zero_guard(z):
    """EB-2's division: by z as it is, and 0 where z == 0 (a denominator of inf)."""
    return torch.where(z == 0, torch.full_like(z, float("inf")), z)


def positive_guard(z):
    """AVE-2's division: by z where z > 0, and 0 where z <= 0 (Caffe skips those windows)."""
    return torch.where(z <= 0, torch.full_like(z, float("inf")), z)


class EbWithInputAsIs(BasicHook):
    """EB-1..EB-3 with the input x as it is (signed at the first layer): z = x W+ (no bias),
    relevance = x * W+^T (p / z). Zennit's z+ instead splits x into x+ W+ + x- W-."""

    def __init__(self, stabilizer):
        super().__init__(
            input_modifiers=[lambda x: x],
            param_modifiers=[ClampMod(min=0.0, zero_params=["bias"])],
            output_modifiers=[lambda y: y],
            gradient_mapper=lambda p, outputs: [p / stabilizer(outputs[0])],
            reducer=lambda inputs, gradients: inputs[0] * gradients[0],
        )


def zennit_configured():
    """ebr's EB in Zennit: z+ without bias and with EB's zero guard, Norm with Caffe's skip of
    non-positive windows for average pooling, x as it is on the first layer."""
    eb = ExcitationBackprop(
        stabilizer=zero_guard,
        zero_params=["bias"],
        layer_map=[(ZennitAvgPool, Norm(stabilizer=positive_guard))],
    )
    return SpecialFirstLayerMapComposite(
        layer_map=eb.layer_map,
        first_map=[(ZennitConvolution, EbWithInputAsIs(zero_guard))],
    )


def zennit_shipped():
    return ExcitationBackprop()


# ---------------------------------------------------------------------------------------------
# The frame CNN of tiny_cnn_lstm (fixtures/caffe/README.md; model.json's "frame" section)


class FrameCnn(nn.Module):
    """conv1-relu-pool1-conv2-relu-pool2-conv3-relu-pool3-fc6-relu-fc7-relu-fc8f, Caffe's
    geometry (3x3 convolutions with pad 1, 2x2 max pools with stride 2, C-order flatten).
    Dropout is the identity at test time and left out. The ReLUs are not in place, so the
    gradient at a layer's output is the signal after its ReLU's mask, as Caffe's in-place ReLU
    leaves it in the conv blob's diff."""

    def __init__(self, weights):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool3 = nn.MaxPool2d(2, 2)
        self.flatten = nn.Flatten()
        self.fc6 = nn.Linear(16 * 4 * 4, 64)
        self.relu6 = nn.ReLU()
        self.fc7 = nn.Linear(64, 64)
        self.relu7 = nn.ReLU()
        self.fc8f = nn.Linear(64, 10)
        with torch.no_grad():
            for name in ("conv1", "conv2", "conv3", "fc6", "fc7", "fc8f"):
                getattr(self, name).weight.copy_(torch.from_numpy(weights[name + "_w"]))
                getattr(self, name).bias.copy_(torch.from_numpy(weights[name + "_b"]))
        self.blobs = None  # name -> output tensor, kept for their .grad when not None

    def keep(self, name, t):
        if self.blobs is not None:
            t.retain_grad()
            self.blobs[name] = t
        return t

    def forward(self, x):
        x = self.pool1(self.relu1(self.keep("conv1", self.conv1(x))))
        x = self.pool2(self.relu2(self.keep("conv2", self.conv2(x))))
        x = self.pool3(self.relu3(self.keep("conv3", self.conv3(x))))
        x = self.relu6(self.fc6(self.flatten(x)))
        x = self.relu7(self.keep("fc7", self.fc7(x)))
        return self.fc8f(x)


def load_net(net_dir, dtype):
    names = [n + s for n in ("conv1", "conv2", "conv3", "fc6", "fc7", "fc8f") for s in ("_w", "_b")]
    weights = {n: np.load(os.path.join(net_dir, n + ".npy")) for n in names}
    net = FrameCnn(weights).to(dtype).eval()
    x = torch.from_numpy(np.load(os.path.join(net_dir, "input.npy"))).to(dtype)
    return net, x


def one_hot(frames, cls, dtype):
    g = torch.zeros(frames, 10, dtype=dtype)
    g[:, cls] = 1.0
    return g


def full_signal(t):
    """TorchRay's saliency without its channel sum: the pseudo-gradient itself."""
    return t.grad.detach().clone()


def torchray_net(net, x, cls):
    """TorchRay as shipped: {layer: full signal} and {layer: its own channel-sum map}."""
    signals, maps = {}, {}
    for layer in NET_LAYERS + ("data",):
        saliency_layer = "" if layer == "data" else layer
        inp = x.clone()
        signals[layer] = excitation_backprop(
            net, inp, cls, saliency_layer=saliency_layer, gradient_to_saliency=full_signal
        )
        if layer != "fc7":
            maps[layer] = excitation_backprop(net, x.clone(), cls, saliency_layer=saliency_layer)[:, 0]
    return signals, maps


def zennit_net(net, x, cls, composite):
    """One backward pass under `composite`; the relevance at every kept blob and the input."""
    net.blobs = {}
    inp = x.clone().requires_grad_(True)
    with composite.context(net) as modified:
        out = modified(inp)
        out.backward(one_hot(x.shape[0], cls, x.dtype))
    signals = {name: net.blobs[name].grad.detach().clone() for name in NET_LAYERS}
    signals["data"] = inp.grad.detach().clone()
    net.blobs = None
    maps = {k: v.sum(1) for k, v in signals.items() if k != "fc7"}
    return signals, maps


def condition_at_input(net, x, p_conv1):
    """EB at conv1 in float64: z = conv(x, W+), S = conv(|x|, W+) (no bias); the condition
    number S / |z| of every output unit, over all units and over those with a signal."""
    w_plus = net.conv1.weight.detach().double().clamp(min=0)
    x64 = x.double()
    z = F.conv2d(x64, w_plus, padding=1)
    s = F.conv2d(x64.abs(), w_plus, padding=1)
    kappa = s / z.abs()
    carrying = p_conv1.double() != 0
    return {
        "units": int(z.numel()),
        "units_with_signal": int(carrying.sum()),
        "min_abs_z": float(z.abs().min()),
        "min_abs_z_with_signal": float(z.abs()[carrying].min()),
        "max_condition": float(kappa.max()),
        "max_condition_with_signal": float(kappa[carrying].max()),
        "median_condition_with_signal": float(kappa[carrying].median()),
        "units_with_condition_over_1e3": int((kappa[carrying] > 1e3).sum()),
    }


# ---------------------------------------------------------------------------------------------
# Comparisons (printed and written to manifest.json; the Rust tests make their own)


def rel(got, want):
    """max |got - want| / max |want|, in float64."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    scale = np.abs(want).max()
    return float(np.abs(got - want).max() / (scale if scale > 0 else 1.0))


def save(out_dir, rel_path, array):
    path = os.path.join(out_dir, rel_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    array = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
    np.save(path, array)
    return rel_path


# ---------------------------------------------------------------------------------------------
# Single layers


def run_layer(module, x, top, peer):
    """EB of `top` through `module` (one layer) at `x`; returns the signal at x."""
    model = nn.Sequential(OrderedDict([("layer", module)])).eval()
    if peer == "torchray":
        return excitation_backprop(model, x.clone(), top, saliency_layer="",
                                   gradient_to_saliency=full_signal)
    composite = {"zennit": zennit_configured_inner, "zennit_shipped": zennit_shipped}[peer]()
    inp = x.clone().requires_grad_(True)
    with composite.context(model) as modified:
        modified(inp).backward(top)
    return inp.grad.detach().clone()


def zennit_configured_inner():
    """zennit_configured() without the first-layer rule: a single layer with post-ReLU input
    (the first-layer rule is exercised by the `first_layer_signed` case and the net)."""
    return ExcitationBackprop(
        stabilizer=zero_guard,
        zero_params=["bias"],
        layer_map=[(ZennitAvgPool, Norm(stabilizer=positive_guard))],
    )


class RowsLinear(nn.Module):
    """nn.Linear applied to the rows of a (T, N, D) input viewed as (T*N, D): Caffe's
    InnerProduct with axis 2. TorchRay as shipped fails on a 3-D input to F.linear (see
    `torchray_linear_3d`); feeding it 2-D rows avoids its in-place product on a view."""

    def __init__(self, linear):
        super().__init__()
        self.linear = linear

    def forward(self, x):
        return self.linear(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


IN_PLACE = "grad_inputs_[0] *= inputs_[0]"
OUT_OF_PLACE = "grad_inputs_[0] = grad_inputs_[0] * inputs_[0]"


@contextlib.contextmanager
def torchray_out_of_place():
    """TorchRay with its one in-place product made out of place: the installed source of
    `ExcitationBackpropContext._patch_conv`, read at run time, with IN_PLACE replaced by
    OUT_OF_PLACE, in force inside the `with`. The fix for its 3-D linear failure."""
    cls = torchray_eb.ExcitationBackpropContext
    original = cls.__dict__["_patch_conv"]
    source = textwrap.dedent(inspect.getsource(original.__func__))
    assert source.count(IN_PLACE) == 1, "TorchRay's _patch_conv changed: check the fix"
    scope = dict(vars(torchray_eb))
    exec(source.replace(IN_PLACE, OUT_OF_PLACE), scope)
    cls._patch_conv = staticmethod(scope["_patch_conv"])
    try:
        yield
    finally:
        cls._patch_conv = original


def torchray_linear_3d(linear, x, top):
    """TorchRay as shipped on a 3-D input to F.linear: the error message, or None."""
    model = nn.Sequential(OrderedDict([("layer", linear)])).eval()
    try:
        excitation_backprop(model, x.clone(), top, saliency_layer="", gradient_to_saliency=full_signal)
        return None
    except RuntimeError as e:
        return str(e).split(". ")[0]


def layer_cases(caffe_dir, net_dir, rng):
    """(case, module, x, top, caffe eb_bottom or None, notes) for every single-layer case."""
    load = lambda case, name: np.load(os.path.join(caffe_dir, case, name + ".npy"))
    cases = []

    def with_params(module, case):
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(load(case, "weight")))
            if module.bias is not None:
                module.bias.copy_(torch.from_numpy(load(case, "bias")))
        return module

    for case, stride, pad in [("conv_k3s1p1", 1, 1), ("conv_k1s1p0_nobias", 1, 0),
                              ("conv_k3s2p0_odd", 2, 0), ("conv_k5s2p2", 2, 2),
                              ("conv_k3s1p1_signed", 1, 1)]:
        w = load(case, "weight")
        bias = os.path.exists(os.path.join(caffe_dir, case, "bias.npy"))
        conv = with_params(nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride, pad, bias=bias), case)
        cases.append((case, conv, load(case, "input"), load(case, "top_signal"), load(case, "eb_bottom")))
    for case in ("fc_2d", "fc_2d_signed", "fc_4d_flatten", "fc_axis2"):
        w = load(case, "weight")
        linear = with_params(nn.Linear(w.shape[1], w.shape[0]), case)
        module = nn.Sequential(nn.Flatten(), linear) if case == "fc_4d_flatten" else linear
        if case == "fc_axis2":
            module = RowsLinear(linear)
        cases.append((case, module, load(case, "input"), load(case, "top_signal"), load(case, "eb_bottom")))
    for case, k, s, p in [("maxpool_k2s2", 2, 2, 0), ("maxpool_k2s2_signed", 2, 2, 0),
                          ("maxpool_k3s2_ceil", 3, 2, 0), ("maxpool_k3s2p1", 3, 2, 1)]:
        pool = nn.MaxPool2d(k, s, p, ceil_mode=True)
        cases.append((case, pool, load(case, "input"), load(case, "top_signal"), load(case, "eb_bottom")))
    for case, k, s, p in [("avgpool_k2s2", 2, 2, 0), ("avgpool_k3s2_ceil", 3, 2, 0),
                          ("avgpool_k3s2p1", 3, 2, 1), ("avgpool_k3s2p1_signed", 3, 2, 1)]:
        pool = nn.AvgPool2d(k, s, p, ceil_mode=True, count_include_pad=True)
        cases.append((case, pool, load(case, "input"), load(case, "top_signal"), load(case, "eb_bottom")))

    # The first layer with signed input: tiny_cnn_lstm's conv1 on its (mean-subtracted-like,
    # signed) clip, with a top signal uniform[0, 1) drawn here.
    w = np.load(os.path.join(net_dir, "conv1_w.npy"))
    conv1 = nn.Conv2d(3, 8, 3, 1, 1)
    with torch.no_grad():
        conv1.weight.copy_(torch.from_numpy(w))
        conv1.bias.copy_(torch.from_numpy(np.load(os.path.join(net_dir, "conv1_b.npy"))))
    x = np.load(os.path.join(net_dir, "input.npy"))
    top = rng.random((x.shape[0], 8, 32, 32), dtype=np.float32)
    cases.append(("first_layer_signed", conv1, x, top, None))

    # Average pooling with windows whose normalizer y * pool_size is not positive: 2x2 windows
    # of a (1, 2, 4, 6) signed input, one kind per column pair (see spec/peers.md).
    x = avgpool_nonpositive_input()
    top = rng.random((1, 2, 2, 3), dtype=np.float32)
    cases.append(("avgpool_nonpositive", nn.AvgPool2d(2, 2), x, top, None))
    return cases


def avgpool_nonpositive_input():
    """(1, 2, 4, 6): 2x2 windows (2 rows x 3 columns of windows per channel):
    column 0 positive windows, column 1 all-zero windows (y = 0, x = 0), column 2 windows whose
    entries are non-zero and sum to exactly 0 (y = 0), and in channel 1 row 1 a window with a
    negative mean. Every value is a power of two or a sum of two, so the sums are exact."""
    x = np.zeros((1, 2, 4, 6), dtype=np.float32)
    # channel 0
    x[0, 0, 0:2, 0:2] = [[1.0, 0.5], [0.25, 2.0]]        # y > 0
    x[0, 0, 2:4, 0:2] = [[0.75, -0.25], [0.5, 0.125]]    # y > 0, one negative input
    # [0, 0, :, 2:4] stays 0: y = 0 with x = 0
    x[0, 0, 0:2, 4:6] = [[0.5, -0.5], [0.25, -0.25]]     # y = 0 exactly, x != 0
    x[0, 0, 2:4, 4:6] = [[1.5, -1.0], [-0.25, -0.25]]    # y = 0 exactly, x != 0
    # channel 1
    x[0, 1, 0:2, 0:2] = [[0.5, 0.5], [0.5, 0.5]]         # y > 0
    x[0, 1, 2:4, 0:2] = [[-1.0, 0.5], [-0.5, 0.25]]      # y < 0
    x[0, 1, 0:2, 4:6] = [[-0.5, -0.25], [-2.0, 1.0]]     # y < 0
    x[0, 1, 2:4, 4:6] = [[2.0, -2.0], [0.0, 0.0]]        # y = 0 exactly, x != 0
    return x


# ---------------------------------------------------------------------------------------------


def versions():
    v = {p: importlib.metadata.version(p) for p in ("torch", "torchray", "zennit", "numpy")}
    v["python"] = platform.python_version()
    return v


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--caffe", default=os.path.join(root, "fixtures/caffe"),
                    help="the Caffe fixtures (inputs and weights are read from here)")
    ap.add_argument("--out", default=os.path.join(root, "fixtures/peers"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(20260312)
    net_dir = os.path.join(args.caffe, "tiny_cnn_lstm")
    out = args.out
    manifest = {"versions": versions(), "command": "python tools/peer_check.py", "net": {}, "layers": {}}

    # ---- the net: per-frame EB from a one-hot on fc8f ----
    net32, x32 = load_net(net_dir, torch.float32)
    net64, x64 = load_net(net_dir, torch.float64)
    with torch.no_grad():
        fc8f = net32(x32).numpy()
    caffe_fc8f = np.load(os.path.join(net_dir, "fwd_fc8f.npy"))
    manifest["net"]["forward_fc8f_vs_caffe"] = rel(fc8f, caffe_fc8f)
    print(f"forward fc8f vs caffe: {rel(fc8f, caffe_fc8f):.2e}")
    peers = {"zennit": zennit_configured(), "zennit_shipped": zennit_shipped()}
    for cls in CLASSES:
        entry = {}
        tr, tr_maps = torchray_net(net32, x32, cls)
        tr64, tr64_maps = torchray_net(net64, x64, cls)
        results = {"torchray": (tr, tr_maps), "torchray64": (tr64, tr64_maps)}
        for name, composite in peers.items():
            results[name] = zennit_net(net32, x32, cls, composite)
        for peer, (signals, maps) in results.items():
            for layer, s in signals.items():
                if peer in ("torchray", "zennit") or layer in ("fc7", "data"):
                    save(out, f"tiny_cnn_lstm/{peer}_c{cls}_{layer}.npy", s.numpy())
            for layer, m in maps.items():
                save(out, f"tiny_cnn_lstm/{peer}_c{cls}_map_{layer}.npy", m.numpy())
            entry[peer] = {
                "sums": {layer: float(m.double().sum()) for layer, m in maps.items()},
                "fc7_sum": float(signals["fc7"].double().sum()),
            }
        # agreement between the peers, relative to TorchRay float64
        for layer in NET_LAYERS + ("data",):
            ref = tr64[layer].numpy()
            entry.setdefault("vs_torchray64", {})[layer] = {
                p: rel(results[p][0][layer].numpy(), ref) for p in ("torchray", "zennit", "zennit_shipped")
            }
        entry["vs_torchray"] = {
            layer: rel(results["zennit"][0][layer].numpy(), tr[layer].numpy()) for layer in NET_LAYERS + ("data",)
        }
        entry["input_condition"] = condition_at_input(net32, x32, tr["conv1"])
        # the shipped map is the channel sum of the full signal
        entry["torchray_map_is_channel_sum"] = max(
            rel(tr_maps[l].numpy(), tr[l].sum(1).numpy()) for l in ("conv1", "conv2", "conv3", "data"))
        manifest["net"][f"class{cls}"] = entry
        print(f"class {cls}:")
        for layer in NET_LAYERS + ("data",):
            print(f"  {layer:5s} vs torchray64: " + ", ".join(
                f"{p} {v:.2e}" for p, v in entry["vs_torchray64"][layer].items()))
        print("  sums " + json.dumps({p: entry[p]["sums"] for p in results}))
        print("  input condition " + json.dumps(entry["input_condition"]))

    # ---- single layers ----
    for case, module, x, top, caffe_eb in layer_cases(args.caffe, net_dir, rng):
        xt, topt = torch.from_numpy(x), torch.from_numpy(top)
        entry = {}
        if case in ("first_layer_signed", "avgpool_nonpositive"):
            save(out, f"{case}/input.npy", x)
            save(out, f"{case}/top_signal.npy", top)
        for peer in ("torchray", "zennit", "zennit_shipped"):
            if case == "first_layer_signed" and peer == "zennit":
                model = nn.Sequential(OrderedDict([("layer", module)])).eval()
                inp = xt.clone().requires_grad_(True)
                with zennit_configured().context(model) as modified:
                    modified(inp).backward(topt)
                got = inp.grad.detach().clone()
            else:
                got = run_layer(module, xt, topt, peer)
            save(out, f"{case}/{peer}_eb_bottom.npy", got.numpy())
            entry[peer] = {"sum": float(got.double().sum())}
            if caffe_eb is not None:
                entry[peer]["vs_caffe"] = rel(got.numpy(), caffe_eb)
        if case == "fc_axis2":
            linear = module.linear
            entry["torchray_on_3d_input"] = torchray_linear_3d(linear, xt, topt)
            with torchray_out_of_place():
                assert torchray_linear_3d(linear, xt, topt) is None
                got = run_layer(linear, xt, topt, "torchray")
            save(out, f"{case}/torchray_out_of_place_eb_bottom.npy", got.numpy())
            entry["torchray_out_of_place"] = {"sum": float(got.double().sum()), "vs_caffe": rel(got.numpy(), caffe_eb)}
        if case == "first_layer_signed":
            m64 = nn.Sequential(OrderedDict([("layer", module)])).double().eval()
            got = excitation_backprop(m64, xt.double(), topt.double(), saliency_layer="",
                                      gradient_to_saliency=full_signal)
            save(out, f"{case}/torchray64_eb_bottom.npy", got.numpy())
            ref = got.numpy()
            for peer in ("torchray", "zennit", "zennit_shipped"):
                entry[peer]["vs_torchray64"] = rel(np.load(os.path.join(out, case, f"{peer}_eb_bottom.npy")), ref)
        manifest["layers"][case] = entry
        print(f"{case}: " + json.dumps(entry))

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
