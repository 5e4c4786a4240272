#!/usr/bin/env python3
"""Train ebr's demo model on `ebr synth` clips, export it, pick the demo clip, write the README.

Run by hand (never by CI), from the root of the ebr checkout, after `cargo build --release`:

    /work/venv-torch/bin/python tools/train_synthetic.py --data /work/data/ebr-demo

Needs Python 3, numpy and PyTorch (CPU). Steps, each printed as it runs:

1. `ebr synth --protocol trimmed` writes the training and the validation set (different seeds)
   under --data (skipped when a set with the same seed and size is there already: the
   generator is deterministic).
2. A small CNN + ReLU-LSTM is trained on the training set (trimmed clips only: no
   localization labels, as the paper's model): conv1 (--channels, default 8)
   3x3 pad 1, relu, pool1 (max 2x2 s2), conv2 (16) 3x3 pad 1, relu, pool2, conv3 (32) 3x3
   pad 1, relu, pool3 (32 x 8 x 8), fc6 128, relu, dropout; the LSTM lstm1 (64 hidden) with ebr's exact equations (spec/layers/lstm.md,
   written out below); the classifier fc8 on every step's h; the frame classifier fc8f on
   fc6's feature. Loss: the mean cross-entropy of fc8 over every step of the clip plus the
   mean cross-entropy of fc8f over every frame.
3. The validation set gives the accuracies: clip level at the last step and from the softmax
   averaged over the steps (as `ebr classify` ranks), the mean per-step accuracy, and the frame
   classifier's per-frame accuracy; a splice2 set shows how the model follows a change of
   action it never saw in training.
4. The model is exported as an ebr model directory (spec/model.md) into --out/model and
   checked with `ebr inspect` and `ebr classify` (whose top class must equal PyTorch's).
5. The demo clip: `ebr synth --protocol splice2 --seed --demo-seed` writes a few clips; of
   the rand + GT clips that the model gets right at both ends (the rand class at step 7, the
   GT class at the last step), the one right at the most steps is copied as PNG frames into
   --out/clip with its ground truth in --out/clip.json, and `ebr ground` is run on it with
   every method.
6. --out/README.md records the commands, the accuracies, the time and the demo clip.

Determinism: torch.manual_seed(--seed), numpy's default_rng(--seed) for the batch order,
torch.use_deterministic_algorithms(True), --threads CPU threads. The same command on the same
machine gives the same weights; another CPU or PyTorch build may differ in the last bits.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FRAME = 64


def run(cmd, capture=False):
    """Runs a command, echoing it; fails loudly."""
    print("$ " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, check=True, text=True, capture_output=capture)
    if capture:
        return result.stdout
    return None


def synth(ebr, out, protocol, clips, seed, examples=0):
    """`ebr synth` into `out` unless a set with this protocol, seed and size is there."""
    cmd = [ebr, "synth", "--out", out, "--protocol", protocol, "--clips", str(clips),
           "--seed", str(seed), "--examples", str(examples), "--quiet"]
    set_json = os.path.join(out, "set.json")
    if os.path.exists(set_json):
        s = json.load(open(set_json))
        examples_there = os.path.isdir(os.path.join(out, "examples")) or examples == 0
        if s["seed"] == seed and len(s["clips"]) == clips and s["protocol"] == protocol \
                and examples_there:
            print(f"(reusing {out}: same protocol, seed and size)")
            return cmd
    run(cmd)
    return cmd


def load_set(path):
    """A set's clips as uint8 (N, T, 3, 64, 64), recovered exactly from the preprocessed .npy
    (x = (u / 255 - 0.5) / 0.25 in f64 rounded to f32, so round((x * 0.25 + 0.5) * 255) == u),
    and the per-frame classes (N, T)."""
    s = json.load(open(os.path.join(path, "set.json")))
    assert s["format"] == "ebr-synth-1", s["format"]
    inp = s["input"]
    assert inp["scale"] == 1.0 and inp["channel_order"] == "rgb", inp
    mean = np.array(inp["mean"]).reshape(1, 3, 1, 1)
    std = np.array(inp["std"]).reshape(1, 3, 1, 1)
    n, t_n = len(s["clips"]), s["frames_per_clip"]
    u = np.empty((n, t_n, 3, FRAME, FRAME), np.uint8)
    classes = np.empty((n, t_n), np.int64)
    for k, c in enumerate(s["clips"]):
        x = np.load(os.path.join(path, c["file"])).astype(np.float64)
        v = np.round((x * std + mean) * 255.0)
        assert v.min() >= 0 and v.max() <= 255
        u[k] = v.astype(np.uint8)
        classes[k] = [f["class"] for f in c["frames"]]
    return s, u, classes


def preprocess(u, s):
    """uint8 frames to the model's input, as set.json's "input" says (in float32)."""
    inp = s["input"]
    mean = torch.tensor(inp["mean"], dtype=torch.float32).reshape(1, 1, 3, 1, 1)
    std = torch.tensor(inp["std"], dtype=torch.float32).reshape(1, 1, 3, 1, 1)
    return (torch.from_numpy(u).float() / 255.0 * inp["scale"] - mean) / std


class DemoNet(nn.Module):
    """The demo model. Every layer is one of ebr's (spec/model.md); the LSTM is ebr's ReLU-LSTM
    (spec/layers/lstm.md), written out by hand: gates i, f, o, g along 4H, one W_xc [4H, D],
    one b_c [4H], one W_hc [4H, H]."""

    def __init__(self, classes, channels=(16, 32, 64), hidden=64, feature=128, dropout=0.3):
        super().__init__()
        self.channels = channels
        self.conv1 = nn.Conv2d(3, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.conv3 = nn.Conv2d(channels[1], channels[2], 3, padding=1)
        self.fc6 = nn.Linear(channels[2] * 8 * 8, feature)
        self.dropout = dropout
        self.hidden = hidden
        bound = 1.0 / np.sqrt(hidden)
        self.W_xc = nn.Parameter(torch.empty(4 * hidden, feature).uniform_(-bound, bound))
        b_c = torch.zeros(4 * hidden)
        b_c[hidden:2 * hidden] = 1.0  # the forget gate starts open
        self.b_c = nn.Parameter(b_c)
        self.W_hc = nn.Parameter(torch.empty(4 * hidden, hidden).uniform_(-bound, bound))
        self.fc8 = nn.Linear(hidden, classes)
        self.fc8f = nn.Linear(feature, classes)

    def frame_features(self, x):
        """x (N, 3, 64, 64) -> fc6 after relu and dropout (N, D); also conv1 (after relu) and
        pool2, for the torch fixtures."""
        conv1 = F.relu(self.conv1(x))
        pool1 = F.max_pool2d(conv1, 2, 2)
        conv2 = F.relu(self.conv2(pool1))
        pool2 = F.max_pool2d(conv2, 2, 2)
        conv3 = F.relu(self.conv3(pool2))
        pool3 = F.max_pool2d(conv3, 2, 2)
        # flatten in (C, H, W) order, as ebr's fc (Caffe's InnerProduct)
        fc6 = F.relu(self.fc6(pool3.flatten(1)))
        fc6 = F.dropout(fc6, self.dropout, self.training)
        return fc6, {"conv1": conv1, "pool2": pool2}

    def lstm(self, f):
        """f (B, T, D) -> h (B, T, H). spec/layers/lstm.md LSTM-1..LSTM-4 with the clip markers
        cont = 0 at t = 0 (f = 0 there, no recurrent term; h_0 = c_0 = 0), 1 after."""
        b, t_n, _ = f.shape
        hid = self.hidden
        xg = f @ self.W_xc.T + self.b_c  # LSTM-1
        h = f.new_zeros(b, hid)
        c = f.new_zeros(b, hid)
        hs = []
        for t in range(t_n):
            cont = 0.0 if t == 0 else 1.0
            a = xg[:, t] + (cont * h) @ self.W_hc.T  # LSTM-2
            i = torch.sigmoid(a[:, :hid])  # LSTM-3
            fg = cont * torch.sigmoid(a[:, hid:2 * hid])
            o = torch.sigmoid(a[:, 2 * hid:3 * hid])
            g = F.relu(a[:, 3 * hid:])
            c = fg * c + i * g  # LSTM-4
            h = o * F.relu(c)
            hs.append(h)
        return torch.stack(hs, 1)

    def forward(self, x):
        """x (B, T, 3, 64, 64) -> logits (B, T, K), frame logits (B, T, K), features (B, T, D),
        h (B, T, H), and the conv1 / pool2 blobs (B*T, C, H, W)."""
        b, t_n = x.shape[:2]
        f, blobs = self.frame_features(x.reshape(b * t_n, 3, FRAME, FRAME))
        f = f.reshape(b, t_n, -1)
        h = self.lstm(f)
        return self.fc8(h), self.fc8f(f), f, h, blobs


def evaluate(net, s, u, classes, batch=50):
    """Validation accuracies and the per-step probabilities."""
    net.eval()
    probs, frame_logits = [], []
    with torch.no_grad():
        for k in range(0, len(u), batch):
            z, zf, _, _, _ = net(preprocess(u[k:k + batch], s))
            probs.append(torch.softmax(z, -1).numpy())
            frame_logits.append(zf.numpy())
    probs = np.concatenate(probs)
    frame_logits = np.concatenate(frame_logits)
    gt = classes[:, -1]
    shape_of = lambda k: k // 2  # classes come in pairs of one shape (spec/synth.md SYN-1)
    frame_pred = frame_logits.argmax(-1)
    return {
        "clips": int(len(u)),
        "last_step": float((probs[:, -1].argmax(-1) == gt).mean()),
        "mean_probs": float((probs.mean(1).argmax(-1) == gt).mean()),
        "mean_over_steps": float((probs.argmax(-1) == classes).mean()),
        "per_step": [float(v) for v in (probs.argmax(-1) == classes).mean(0)],
        "frame_classifier": float((frame_pred == classes).mean()),
        "frame_classifier_shape": float((shape_of(frame_pred) == shape_of(classes)).mean()),
    }, probs


def splice_metrics(net, s, u, classes):
    """On splice2 clips: does the classifier name the first action at step 7 and the second
    at the last step, or keep the first?"""
    _, probs = evaluate(net, s, u, classes)
    pred = probs.argmax(-1)
    first, second = classes[:, 7], classes[:, -1]
    return {
        "clips": int(len(u)),
        "step7_first_action": float((pred[:, 7] == first).mean()),
        "last_step_second_action": float((pred[:, -1] == second).mean()),
        "last_step_first_action": float((pred[:, -1] == first).mean()),
    }


def compact_json(value):
    """JSON with one line per element of "frames" (as set.json), else indented."""
    frames = value["frames"]
    text = json.dumps({**value, "frames": "FRAMES"}, indent=2)
    rows = ",\n".join("    " + json.dumps(f) for f in frames)
    return text.replace('"FRAMES"', "[\n" + rows + "\n  ]") + "\n"


def train(net, s, u, classes, val, args):
    """Adam on the step loss + the frame loss; cosine learning rate; returns the log."""
    rng = np.random.default_rng(args.seed)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * (len(u) // args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    log = []
    step = 0
    for epoch in range(args.epochs):
        net.train()
        order = rng.permutation(len(u))
        t0, total, count = time.time(), 0.0, 0
        for b in range(len(u) // args.batch):
            idx = np.sort(order[b * args.batch:(b + 1) * args.batch])
            x = preprocess(u[idx], s)
            y = torch.from_numpy(classes[idx])
            z, zf, _, _, _ = net(x)
            k = z.shape[-1]
            loss = F.cross_entropy(z.reshape(-1, k), y.reshape(-1)) \
                + F.cross_entropy(zf.reshape(-1, k), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            step += 1
            total += float(loss.detach())
            count += 1
            if b % 50 == 0:
                print(f"epoch {epoch} batch {b}: loss {total / count:.4f}", flush=True)
        metrics, _ = evaluate(net, *val)
        entry = {"epoch": epoch, "train_loss": total / count, "seconds": time.time() - t0,
                 **{k: v for k, v in metrics.items() if k != "per_step"}}
        print(json.dumps(entry), flush=True)
        log.append(entry)
    return log


def save_npy(path, t):
    np.save(path, np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32)))


def export(net, s, out, name):
    """The ebr model directory (spec/model.md) for `net`, with the set's input block."""
    if os.path.isdir(out):
        for f in os.listdir(out):
            if f.endswith(".npy") or f == "model.json":
                os.remove(os.path.join(out, f))
    os.makedirs(out, exist_ok=True)
    inp = s["input"]
    spec = {
        "format": "ebr-model-1",
        "name": name,
        "input": {"channels": 3, "height": FRAME, "width": FRAME, "scale": inp["scale"],
                  "channel_order": inp["channel_order"], "mean": inp["mean"], "std": inp["std"]},
        "frame": [
            {"type": "conv", "name": "conv1", "out": net.channels[0], "kernel": 3, "stride": 1,
             "pad": 1},
            {"type": "relu"},
            {"type": "max_pool", "name": "pool1", "kernel": 2, "stride": 2, "pad": 0},
            {"type": "conv", "name": "conv2", "out": net.channels[1], "kernel": 3, "stride": 1,
             "pad": 1},
            {"type": "relu"},
            {"type": "max_pool", "name": "pool2", "kernel": 2, "stride": 2, "pad": 0},
            {"type": "conv", "name": "conv3", "out": net.channels[2], "kernel": 3, "stride": 1,
             "pad": 1},
            {"type": "relu"},
            {"type": "max_pool", "name": "pool3", "kernel": 2, "stride": 2, "pad": 0},
            {"type": "fc", "name": "fc6", "out": net.fc6.out_features},
            {"type": "relu"},
            {"type": "dropout"},
        ],
        "temporal": [{"type": "lstm", "name": "lstm1", "hidden": net.hidden}],
        "classifier": {"type": "fc", "name": "fc8", "out": len(s["classes"])},
        "frame_classifier": {"type": "fc", "name": "fc8f", "out": len(s["classes"])},
        "labels": s["classes"],
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    for layer in ["conv1", "conv2", "conv3", "fc6", "fc8", "fc8f"]:
        m = getattr(net, layer)
        save_npy(os.path.join(out, f"{layer}_w.npy"), m.weight)
        save_npy(os.path.join(out, f"{layer}_b.npy"), m.bias)
    save_npy(os.path.join(out, "lstm1_W_xc.npy"), net.W_xc)
    save_npy(os.path.join(out, "lstm1_b_c.npy"), net.b_c)
    save_npy(os.path.join(out, "lstm1_W_hc.npy"), net.W_hc)


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ebr", default="./target/release/ebr")
    p.add_argument("--data", required=True, help="where the generated sets go (not the repo)")
    p.add_argument("--out", default="fixtures/demo")
    p.add_argument("--train-clips", type=int, default=4000)
    p.add_argument("--train-seed", type=int, default=1)
    p.add_argument("--val-clips", type=int, default=600)
    p.add_argument("--val-seed", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--channels", type=int, nargs=3, default=[8, 16, 32],
                   help="conv1, conv2, conv3 output channels")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--splice-clips", type=int, default=300)
    p.add_argument("--splice-seed", type=int, default=3)
    p.add_argument("--demo-seed", type=int, default=11)
    p.add_argument("--demo-clips", type=int, default=64)
    args = p.parse_args()
    command = " ".join(["/work/venv-torch/bin/python tools/train_synthetic.py"] + sys.argv[1:])

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.data, exist_ok=True)

    # 1. The sets.
    train_dir = os.path.join(args.data, "train")
    val_dir = os.path.join(args.data, "val")
    synth_cmds = [
        synth(args.ebr, train_dir, "trimmed", args.train_clips, args.train_seed),
        synth(args.ebr, val_dir, "trimmed", args.val_clips, args.val_seed),
    ]
    s, u, classes = load_set(train_dir)
    val = load_set(val_dir)
    print(f"train {u.shape}, validation {val[1].shape}", flush=True)

    # 2. Training.
    net = DemoNet(len(s["classes"]), channels=tuple(args.channels), dropout=args.dropout)
    t0 = time.time()
    log = train(net, s, u, classes, val, args)
    train_seconds = time.time() - t0
    del u

    # 3. Validation.
    metrics, val_probs = evaluate(net, *val)
    print(json.dumps(metrics), flush=True)

    # The same model on splice2 clips (8 + 8 frames of two classes), which it never saw.
    splice_dir = os.path.join(args.data, "splice2")
    synth_cmds.append(synth(args.ebr, splice_dir, "splice2", args.splice_clips,
                            args.splice_seed))
    splice = splice_metrics(net, *load_set(splice_dir))
    print(json.dumps(splice), flush=True)

    # 4. Export and check with ebr.
    model_dir = os.path.join(args.out, "model")
    export(net, s, model_dir,
           "ebr demo: CNN + ReLU-LSTM trained on ebr synth trimmed clips "
           "(tools/train_synthetic.py, fixtures/demo/README.md)")
    run([args.ebr, "inspect", "--model", model_dir])
    val_s = val[0]
    clip0 = os.path.join(val_dir, val_s["clips"][0]["file"])
    out = run([args.ebr, "classify", "--model", model_dir, "--clip", clip0, "--quiet"],
              capture=True)
    print(out)
    ebr_top = int(out.splitlines()[1].split()[1])
    torch_top = int(val_probs[0].mean(0).argmax())
    assert ebr_top == torch_top, f"ebr classify says {ebr_top}, PyTorch {torch_top}"
    torch.save(net.state_dict(), os.path.join(args.data, "demo_model.pt"))

    # 5. The demo clip.
    demo_dir = os.path.join(args.data, "demo_splice2")
    demo_cmd = synth(args.ebr, demo_dir, "splice2", args.demo_clips, args.demo_seed,
                     examples=args.demo_clips)
    ds, du, dclasses = load_set(demo_dir)
    _, dprobs = evaluate(net, ds, du, dclasses)
    # The rand + GT clip right at the most steps (rand's class at 0-7, GT's at 8-15), among
    # those right at steps 7 and 15; the first on ties.
    chosen, best = None, -1
    for k, c in enumerate(ds["clips"]):
        pred = dprobs[k].argmax(-1)
        truth = dclasses[k]
        right = int((pred == truth).sum())
        if c["segment"][0] == 8 and pred[7] == truth[7] and pred[15] == truth[15] \
                and right > best:
            chosen, best = k, right
    assert chosen is not None, "no rand + GT clip classified right at steps 7 and 15"
    entry = ds["clips"][chosen]
    clip_dir = os.path.join(args.out, "clip")
    if os.path.isdir(clip_dir):
        shutil.rmtree(clip_dir)
    os.makedirs(clip_dir)
    for t in range(ds["frames_per_clip"]):
        shutil.copy(os.path.join(demo_dir, "examples", f"{chosen:04d}", f"{t:02d}.png"),
                    os.path.join(clip_dir, f"{t:02d}.png"))
    clip_json = {
        "format": ds["format"],
        "note": "the set.json entry of the demo clip; its frames are the PNGs in clip/",
        "source": {"command": " ".join(demo_cmd), "protocol": ds["protocol"],
                   "seed": ds["seed"], "clip": chosen, "file": entry["file"]},
        "classes": ds["classes"],
        "input": ds["input"],
        "gt_class": entry["gt_class"],
        "segment": entry["segment"],
        "other_class": entry["other_class"],
        "frames": entry["frames"],
    }
    with open(os.path.join(args.out, "clip.json"), "w") as f:
        f.write(compact_json(clip_json))
    gt_name = ds["classes"][entry["gt_class"]]
    other_name = ds["classes"][entry["other_class"]]
    ground = {}
    for method in ["cebr", "ebr", "bpr", "eb", "ceb", "bp"]:
        g_out = os.path.join(args.data, f"demo_ground_{method}")
        run([args.ebr, "ground", "--model", model_dir, "--clip", clip_dir, "--target", gt_name,
             "--method", method, "--out", g_out, "--quiet"])
        summ = json.load(open(os.path.join(g_out, "summary.json")))
        ground[method] = {
            "sums": [f["sum"] for f in summ["frames"]],
            "segment": [summ["segment"]["start"], summ["segment"]["end"]],
            "peak_in_box": sum(
                1 for f, truth in zip(summ["frames"], entry["frames"])
                if truth["class"] == entry["gt_class"]
                and truth["box"][0] <= f["peak"]["row"] <= truth["box"][2]
                and truth["box"][1] <= f["peak"]["col"] <= truth["box"][3]),
        }
        print(method, json.dumps(ground[method]), flush=True)

    # 6. The README.
    size = directory_bytes(model_dir)
    params = sum(p.numel() for p in net.parameters())
    write_readme(args, command, synth_cmds, demo_cmd, log, metrics, splice, train_seconds,
                 size, params, chosen, best, entry, gt_name, other_name, dprobs[chosen], ds,
                 ground)


def write_readme(args, command, synth_cmds, demo_cmd, log, metrics, splice, train_seconds,
                 size, params, chosen, best, entry, gt_name, other_name, probs, ds, ground):
    pct = lambda v: f"{100 * v:.1f}%"
    lines = []
    add = lines.append
    add("# The demo model and clip")
    add("")
    add("A small CNN + ReLU-LSTM trained with PyTorch on `ebr synth` clips (spec/synth.md) by")
    add("`tools/train_synthetic.py`, exported as an ebr model directory (spec/model.md), and one")
    add("spliced clip to ground with it. Everything here was written by that script; do not edit")
    add("by hand, rerun it.")
    add("")
    add("## How it was made")
    add("")
    add("From the root of the checkout, after `cargo build --release`:")
    add("")
    add("```sh")
    add(command)
    add("```")
    add("")
    add("which ran (the sets go under --data, outside the repository):")
    add("")
    add("```sh")
    for c in synth_cmds + [demo_cmd]:
        add(" ".join(c))
    add("```")
    add("")
    add(f"Training: seed {args.seed}, {args.epochs} epochs of {args.train_clips} clips "
        f"(16 frames), batch {args.batch} clips, Adam lr {args.lr} with a cosine decay to 0, "
        f"weight decay {args.weight_decay}, dropout {args.dropout} on fc6, gradient norm "
        f"clipped at 5, {args.threads} CPU threads, torch {torch.__version__}, "
        f"numpy {np.__version__}.")
    add("Loss: the cross-entropy of the classifier fc8 at every step (mean over the 16 steps) "
        "plus the cross-entropy of the frame classifier fc8f on every frame.")
    add(f"Training time: {train_seconds / 60:.1f} minutes on this machine's CPU "
        f"({args.threads} threads).")
    add("")
    add("## The model (`model/`)")
    add("")
    c1, c2, c3 = args.channels
    add(f"frame: conv1 {c1} 3x3 pad 1, relu, pool1 max 2x2 s2, conv2 {c2} 3x3 pad 1, relu, "
        f"pool2, conv3 {c3} 3x3 pad 1, relu, pool3 ({c3}x8x8), fc6 128, relu, dropout; "
        "temporal: lstm1 (ReLU-LSTM, 64 hidden, "
        "gates i, f, o, g); classifier fc8 (6) on every step; frame_classifier fc8f (6) on fc6. "
        "Input: 64x64 RGB, (u / 255 - 0.5) / 0.25, the set's \"input\" block.")
    add(f"{params:,} parameters, {size / 1e6:.2f} MB of .npy files.")
    add("")
    add(f"## Validation ({metrics['clips']} trimmed clips, seed {args.val_seed})")
    add("")
    add("| measure | accuracy |")
    add("| --- | --- |")
    add(f"| clip, classifier at the last step | {pct(metrics['last_step'])} |")
    add(f"| clip, softmax averaged over the steps (as `ebr classify` ranks) "
        f"| {pct(metrics['mean_probs'])} |")
    add(f"| every step, mean over the 16 steps | {pct(metrics['mean_over_steps'])} |")
    add(f"| frame classifier, per frame (6 classes) | {pct(metrics['frame_classifier'])} |")
    add(f"| frame classifier, per frame, shape only (3 shapes) "
        f"| {pct(metrics['frame_classifier_shape'])} |")
    add("")
    add("Per step: " +
        ", ".join(f"{t}: {pct(v)}" for t, v in enumerate(metrics["per_step"])) + ".")
    add("")
    add("The frame classifier sees one frame. In the action protocols the actor's hue lies "
        "in its class's band (spec/synth.md SYN-1, SYN-3b), so one frame shows the class, as "
        "most frames of a real action video do (the paper's UCF-101 model and its probability "
        "baseline localize from such per-frame evidence); the motion confirms it. The model "
        "never sees a localization label: it is trained on trimmed clips only.")
    add("")
    add(f"On {splice['clips']} splice2 clips (seed {args.splice_seed}: 8 frames of one "
        "class, then 8 of another; the model was trained on trimmed clips only), the "
        "classifier names the first action at step 7 in "
        f"{pct(splice['step7_first_action'])} of the clips, and the second action at the "
        f"last step in {pct(splice['last_step_second_action'])} (it still names the first "
        f"one in {pct(splice['last_step_first_action'])}). The LSTM never saw an action "
        "change during training and mostly holds on to the first action.")
    add("")
    add("Per epoch:")
    add("")
    add("| epoch | train loss | last step | mean probs | frame | seconds |")
    add("| --- | --- | --- | --- | --- | --- |")
    for e in log:
        add(f"| {e['epoch']} | {e['train_loss']:.4f} | {pct(e['last_step'])} | "
            f"{pct(e['mean_probs'])} | {pct(e['frame_classifier'])} | {e['seconds']:.0f} |")
    add("")
    add("## The demo clip (`clip/`, `clip.json`)")
    add("")
    add(f"Clip {chosen} of `{' '.join(demo_cmd)}`: frames 0-7 are {other_name} (rand), frames "
        f"8-15 are {gt_name} (GT), the boundary in the middle as in the paper's Fig. 7. "
        "clip.json holds its set.json entry (per-frame classes and actor boxes). Of that "
        "set's rand + GT clips that the model classifies right at steps 7 and 15, it is the "
        f"one right at the most steps: {best} of 16 ({other_name} at steps 0-7, {gt_name} at "
        "8-15, the class of the frame at each step). Per step, the probability of the frame's "
        "class: " + ", ".join(
            f"{t}: {probs[t][entry['other_class'] if t < 8 else entry['gt_class']]:.3f}"
            for t in range(16)) + ". Few clips are this clean (see the splice2 figures "
        "above).")
    add("")
    add("```sh")
    add(f"./target/release/ebr ground --model fixtures/demo/model --clip fixtures/demo/clip "
        f"--target {gt_name} --out /tmp/demo-ground")
    add("```")
    add("")
    add("Per-frame sums of the maps at conv3 (the default layer) for each method, target "
        f"{gt_name}, and on how many of the 8 GT frames the map's peak lies in the actor's "
        "box:")
    add("")
    add("| method | sums, frames 0..15 | segment | peak in box |")
    add("| --- | --- | --- | --- |")
    for m, g in ground.items():
        sums = " ".join(f"{v:+.3f}" for v in g["sums"])
        add(f"| {m} | {sums} | {g['segment'][0]}..{g['segment'][1]} | {g['peak_in_box']}/8 |")
    add("")
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write("\n".join(lines))
    print("wrote", os.path.join(args.out, "README.md"))


if __name__ == "__main__":
    main()
