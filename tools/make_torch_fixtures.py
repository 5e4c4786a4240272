#!/usr/bin/env python3
"""Write fixtures/torch/: PyTorch's forward outputs and autograd input gradients of the demo
model (fixtures/demo/model) on three splice2 clips, a second oracle beside the Caffe fixtures.
tests/torch_oracle.rs compares ebr's forward pass and its BP-R and BP maps with them.

Run by hand (never by CI), from the root of the ebr checkout, after `cargo build --release`:

    /work/venv-torch/bin/python tools/make_torch_fixtures.py

Needs Python 3, numpy and PyTorch (CPU). The model is rebuilt from the exported .npy files
(not from the training checkpoint), with the same layer code as tools/train_synthetic.py, so
the fixtures describe exactly the committed model. Every array is computed in float32 (what
ebr computes in) and once more in float64; manifest.json records, per array, how far the
float32 result is from the float64 one: the rounding noise of float32 itself, which a
tolerance must exceed. A clip on which float32 and float64 route a ReLU or a max-pool of
the CNN differently (a near-tie) is skipped: there the float64 result takes another path and
measures no rounding noise. The first three of the set's clips that route alike are kept.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_synthetic import DemoNet  # noqa: E402  (the same layer code as the training)


def load_model(model_dir, dtype):
    spec = json.load(open(os.path.join(model_dir, "model.json")))
    convs = [l for l in spec["frame"] if l["type"] == "conv"]
    net = DemoNet(len(spec["labels"]), channels=tuple(c["out"] for c in convs),
                  hidden=spec["temporal"][0]["hidden"],
                  feature=[l for l in spec["frame"] if l["type"] == "fc"][0]["out"])
    load = lambda name: torch.from_numpy(np.load(os.path.join(model_dir, name + ".npy")))
    with torch.no_grad():
        for layer in ["conv1", "conv2", "conv3", "fc6", "fc8", "fc8f"]:
            getattr(net, layer).weight.copy_(load(f"{layer}_w"))
            getattr(net, layer).bias.copy_(load(f"{layer}_b"))
        net.W_xc.copy_(load("lstm1_W_xc"))
        net.b_c.copy_(load("lstm1_b_c"))
        net.W_hc.copy_(load("lstm1_W_hc"))
    net.eval()  # dropout is the identity
    return net.to(dtype), spec


def routing(net, x):
    """Which way every ReLU and max-pool of the frame CNN routes the clip x (T, 3, 64, 64): the
    ReLUs' signs and the pools' argmax. A clip on which float32 and float64 route differently
    sits within rounding of a tie (a max-pool of equal activations, a pre-activation at 0):
    there the float64 gradient takes another path, so its difference from float32 is not
    float32's rounding noise and cannot justify a tolerance (tests/torch_oracle.rs)."""
    with torch.no_grad():
        out, h = [], x
        for conv in [net.conv1, net.conv2, net.conv3]:
            pre = conv(h)
            out.append(pre > 0)
            h, index = F.max_pool2d(F.relu(pre), 2, 2, return_indices=True)
            out.append(index)
        out.append(net.fc6(h.flatten(1)) > 0)
    return out


def same_routing(net32, net64, x):
    """True when float32 and float64 route every ReLU and max-pool of the CNN alike on x."""
    r32, r64 = routing(net32, x), routing(net64, x.double())
    return all(bool(torch.equal(a, b)) for a, b in zip(r32, r64))


def compute(net, x, k):
    """Every array of one clip: x (T, 3, 64, 64) -> dict of numpy arrays."""
    t_n = x.shape[0]
    out = {}
    # Forward.
    x = x.clone().requires_grad_(True)
    z, zf, f, h, blobs = net(x.unsqueeze(0))
    for blob in blobs.values():
        blob.retain_grad()
    out["fc6"] = f[0]
    out["lstm_h"] = h[0]
    out["logits"] = z[0]
    out["probs"] = torch.softmax(z[0], -1)
    out["frame_logits"] = zf[0]

    # The blobs whose gradient is the map: conv1's output before its ReLU (Caffe's conv1
    # blob after the in-place relu's backward, ebr's map at "conv1"), pool2's output.
    def grads(target):
        for p in [x, *blobs.values()]:
            p.grad = None
        target.backward(retain_graph=True)
        return {"data": x.grad.clone(), "conv1": blobs["conv1_pre"].grad.clone(),
                "pool2": blobs["pool2"].grad.clone()}

    # BP-R: d logit[T-1, k] / d blob (the prior "last").
    for name, g in grads(z[0, t_n - 1, k]).items():
        out[f"bpr_{name}"] = g
        out[f"bpr_map_{name}"] = g.sum(1)
    # BP: d sum_t frame_logit[t, k] / d blob: frames are independent, so frame t's rows are
    # d frame_logit[t, k] / d frame t.
    for name, g in grads(zf[0, :, k].sum()).items():
        out[f"bp_{name}"] = g
        out[f"bp_map_{name}"] = g.sum(1)
    return {name: v.detach() for name, v in out.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ebr", default="./target/release/ebr")
    p.add_argument("--model", default="fixtures/demo/model")
    p.add_argument("--out", default="fixtures/torch")
    p.add_argument("--seed", type=int, default=21, help="ebr synth --seed of the clips")
    p.add_argument("--clips", type=int, default=3)
    p.add_argument("--candidates", type=int, default=12,
                   help="clips drawn; the first --clips that route alike in f32 and f64 are kept")
    p.add_argument("--work", default="/tmp/ebr-torch-fixtures", help="scratch directory")
    args = p.parse_args()
    command = " ".join(["/work/venv-torch/bin/python tools/make_torch_fixtures.py"] + sys.argv[1:])
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    set_dir = os.path.join(args.work, "splice2")
    synth = [args.ebr, "synth", "--out", set_dir, "--protocol", "splice2", "--clips",
             str(args.candidates), "--seed", str(args.seed), "--examples", "0", "--quiet"]
    os.makedirs(args.work, exist_ok=True)
    print("$ " + " ".join(synth))
    subprocess.run(synth, check=True)
    s = json.load(open(os.path.join(set_dir, "set.json")))

    net32, spec = load_model(args.model, torch.float32)
    net64, _ = load_model(args.model, torch.float64)
    # The conv1 blob before its ReLU: wrap frame_features to expose it.
    for net in (net32, net64):
        def frame_features(x, net=net):
            import torch.nn.functional as F
            conv1_pre = net.conv1(x)
            conv1 = F.relu(conv1_pre)
            pool1 = F.max_pool2d(conv1, 2, 2)
            conv2 = F.relu(net.conv2(pool1))
            pool2 = F.max_pool2d(conv2, 2, 2)
            conv3 = F.relu(net.conv3(pool2))
            pool3 = F.max_pool2d(conv3, 2, 2)
            fc6 = F.relu(net.fc6(pool3.flatten(1)))
            return fc6, {"conv1_pre": conv1_pre, "pool2": pool2}
        net.frame_features = frame_features

    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    c = spec["frame"][0]["out"]
    c2 = [l for l in spec["frame"] if l["type"] == "conv"][1]["out"]
    t_n = s["frames_per_clip"]
    files = {
        "input.npy": f"(T, 3, 64, 64) float32: the clip, preprocessed by ebr synth (spec/synth.md SYN-14)",
        "fc6.npy": "(T, 128): the feature blob, fc6 after relu6 (dropout is the identity)",
        "lstm_h.npy": "(T, 64): the LSTM's h at every step (cont 0 then 1, h_0 = c_0 = 0)",
        "logits.npy": "(T, 6): fc8 on every step's h",
        "probs.npy": "(T, 6): softmax of logits over the classes",
        "frame_logits.npy": "(T, 6): fc8f on every frame's fc6",
        "bpr_map_data.npy": "(T, 64, 64): d logits[T-1, k] / d input (BP-R, prior last), "
                            "summed over the channels (ebr's map at \"data\")",
        "bpr_map_conv1.npy": f"(T, 64, 64): d logits[T-1, k] / d conv1's output before relu1 "
                             f"({c} channels), summed over the channels. That gradient is "
                             "Caffe's conv1 blob diff after the in-place relu1 ran backward, "
                             "ebr's signal at \"conv1\" (spec/pipeline.md)",
        "bpr_pool2.npy": f"(T, {c2}, 16, 16): d logits[T-1, k] / d pool2's output (the full "
                         "signal, before the channel sum)",
        "bpr_map_pool2.npy": "(T, 16, 16): bpr_pool2 summed over the channels",
        "bp_map_data.npy": "(T, 64, 64): d (sum_t frame_logits[t, k]) / d input summed over "
                           "the channels; frames are independent, so frame t's rows are "
                           "d frame_logits[t, k] / d frame t (BP, the per-frame gradient)",
        "bp_map_conv1.npy": "(T, 64, 64): the same at conv1 (before relu1, as bpr_map_conv1)",
        "bp_pool2.npy": f"(T, {c2}, 16, 16): the same at pool2, before the channel sum",
        "bp_map_pool2.npy": "(T, 16, 16): bp_pool2 summed over the channels",
    }
    clips, skipped = [], []
    for k, entry in enumerate(s["clips"]):
        if len(clips) == args.clips:
            break
        x = np.load(os.path.join(set_dir, entry["file"]))
        assert x.dtype == np.float32
        if not same_routing(net32, net64, torch.from_numpy(x)):
            skipped.append(k)
            print(f"set clip {k}: float32 and float64 route a ReLU or max-pool differently "
                  "(a near-tie); skipped")
            continue
        name = f"clip{len(clips)}"
        d = os.path.join(args.out, name)
        os.makedirs(d)
        np.save(os.path.join(d, "input.npy"), x)
        gt = entry["gt_class"]
        r32 = compute(net32, torch.from_numpy(x), gt)
        r64 = compute(net64, torch.from_numpy(x).double(), gt)
        noise = {}
        for key in files:
            key = key[:-len(".npy")]
            if key == "input":
                continue
            v = r32[key]
            np.save(os.path.join(d, key + ".npy"), np.ascontiguousarray(v.numpy()))
            w = r64[key].numpy()
            scale = max(np.abs(w).max(), 1e-30)
            noise[key] = float(np.abs(v.numpy().astype(np.float64) - w).max() / scale)
        pred = r32["probs"][-1].argmax().item()
        clips.append({
            "dir": name, "set_clip": k, "target_class": gt, "target_name": s["classes"][gt],
            "segment": entry["segment"], "other_class": entry["other_class"],
            "predicted_last_step": pred, "frames": x.shape[0],
            "float32_vs_float64": noise,
        })
        print(name, s["classes"][gt], "predicted", s["classes"][pred],
              "max f32/f64 relative difference", f"{max(noise.values()):.2e}")

    assert len(clips) == args.clips, f"only {len(clips)} of {args.candidates} clips route alike"
    manifest = {
        "what": "PyTorch forward outputs and autograd gradients of the demo model "
                "(fixtures/demo/model) on splice2 clips; k is each clip's GT class "
                "(target_class). Every array is float32, computed in float32 on the CPU. "
                "The full gradients at data and conv1 (3 and C1 channels) are not stored, "
                "to keep the fixtures small: their channel sums (the maps) are, and pool2's "
                "full gradient is.",
        "command": command,
        "clips_from": " ".join(synth),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "model": args.model,
        "frames_per_clip": t_n,
        "model_code": "tools/train_synthetic.py DemoNet (conv, relu, max_pool 2x2 s2, fc6, "
                      "relu, ReLU-LSTM with gates i, f, o, g as spec/layers/lstm.md, fc8, "
                      "fc8f), weights read from the model's .npy files, eval mode",
        "float32_vs_float64": "per clip and array: max |f32 - f64| / max |f64|, the same "
                              "computation in float64: float32's own rounding noise",
        "skipped_set_clips": skipped,
        "skipped_why": "the set's clips (in order) on which float32 and float64 route a ReLU "
                       "or max-pool of the CNN differently (a near-tie): there the float64 "
                       "result takes another path and is no measure of float32's noise",
        "files": files,
        "clips": clips,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
