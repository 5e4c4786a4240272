#!/usr/bin/env python3
"""Train ebr's demo captioner on `ebr synth --protocol caption` clips, export it, pick the demo
clip, ground its two nouns, write fixtures/demo-caption/README.md.

Run by hand (never by CI), from the root of the ebr checkout, after `cargo build --release`:

    /work/venv-torch/bin/python tools/train_captioner.py --data /work/data/ebr-caption

Needs Python 3, numpy and PyTorch (CPU). Steps, each printed as it runs:

1. `ebr synth --protocol caption` writes the training and the validation set (different seeds)
   under --data (skipped when a set with the same seed and size is there already: the
   generator is deterministic). A clip is two actors of different shapes in sequence, 8 + 8
   frames, captioned "<shape> <direction> then <shape> <direction>" (spec/synth.md SYN-16,
   SYN-17).
2. The mean-pool captioner of spec/caption.md is trained with teacher forcing: the frame CNN
   (conv1 --channels[0] 3x3 pad 1, relu, pool1 max 2x2 s2, conv2, relu, pool2, conv3, relu,
   pool3, fc6 --feature, relu, dropout: the action demo's, and initialized from the action
   demo's weights, --init, as the paper's captioner starts from a VGG-16 trained on ImageNet;
   fine-tuned at --cnn-lr-scale times the learning rate), the temporal mean of fc6 over the
   16 frames (CAP-1, v), the word embedding (CAP-2), LSTM1 over the embedded previous word
   (CAP-3), LSTM2 over LSTM1's output with v as a static input (CAP-4: its own weight
   W_xc_static [4H, D_v], no bias, added to every step's gates), the vocabulary classifier
   on LSTM2's output (CAP-5). Both LSTMs are ebr's ReLU-LSTM (spec/layers/lstm.md), written
   out by hand: gates i, f, o, g along 4H, clip markers 0 then 1 over the caption's steps.
   Inputs <s> w1 .. w5, targets w1 .. w5 <s>; loss: the mean cross-entropy over the 6 steps.
3. The validation set gives the word accuracy with teacher forcing (per position and over all
   words), and for greedy decoding (as `ebr classify` and `ebr ground-caption` decode): the
   exact caption, the two nouns in order, the two nouns as a set, the directions.
4. The model is exported as an ebr model directory (spec/model.md, spec/caption.md) into
   --out/model and checked with `ebr inspect` and `ebr classify` (whose greedy caption must be
   PyTorch's on a validation clip).
5. The demo clip: `ebr synth --protocol caption --seed --demo-seed` writes a few clips with
   their frames; of those the model captions exactly right, the first whose two nouns, each
   grounded with `ebr ground-caption` (cEB-R at conv3, the model's own caption), have their
   temporal peak in their own actor's frames is copied as PNG frames into --out/clip with its
   ground truth in --out/clip.json (the first clip captioned right, if none is); two overlay
   PNGs (one frame of each actor, its noun's map) and the two nouns' timelines are copied
   beside it.
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
SENTENCE = 0  # the sentence token's index: <s> starts and ends every caption


def run(cmd, capture=False):
    """Runs a command, echoing it; fails loudly."""
    print("$ " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, check=True, text=True, capture_output=capture)
    if capture:
        return result.stdout
    return None


def synth(ebr, out, clips, seed, examples=0):
    """`ebr synth --protocol caption` into `out` unless a set with this seed and size is
    there."""
    cmd = [ebr, "synth", "--out", out, "--protocol", "caption", "--clips", str(clips),
           "--seed", str(seed), "--examples", str(examples), "--quiet"]
    set_json = os.path.join(out, "set.json")
    if os.path.exists(set_json):
        s = json.load(open(set_json))
        examples_there = os.path.isdir(os.path.join(out, "examples")) or examples == 0
        if s["seed"] == seed and len(s["clips"]) == clips and s["protocol"] == "caption" \
                and examples_there:
            print(f"(reusing {out}: same protocol, seed and size)")
            return cmd
    run(cmd)
    return cmd


def load_set(path):
    """A caption set's clips as uint8 (N, T, 3, 64, 64), recovered exactly from the
    preprocessed .npy (x = (u / 255 - 0.5) / 0.25 in f64 rounded to f32, so
    round((x * 0.25 + 0.5) * 255) == u), and the captions as vocabulary indices (N, 5)."""
    s = json.load(open(os.path.join(path, "set.json")))
    assert s["format"] == "ebr-synth-1" and s["protocol"] == "caption", s["protocol"]
    inp = s["input"]
    assert inp["scale"] == 1.0 and inp["channel_order"] == "rgb", inp
    mean = np.array(inp["mean"]).reshape(1, 3, 1, 1)
    std = np.array(inp["std"]).reshape(1, 3, 1, 1)
    words = s["words"]
    assert words[SENTENCE] == "<s>", words
    n, t_n = len(s["clips"]), s["frames_per_clip"]
    u = np.empty((n, t_n, 3, FRAME, FRAME), np.uint8)
    captions = np.empty((n, 5), np.int64)
    for k, c in enumerate(s["clips"]):
        x = np.load(os.path.join(path, c["file"])).astype(np.float64)
        v = np.round((x * std + mean) * 255.0)
        assert v.min() >= 0 and v.max() <= 255
        u[k] = v.astype(np.uint8)
        captions[k] = [words.index(w) for w in c["caption"]]
    return s, u, captions


def preprocess(u, s):
    """uint8 frames to the model's input, as set.json's "input" says (in float32)."""
    inp = s["input"]
    mean = torch.tensor(inp["mean"], dtype=torch.float32).reshape(1, 1, 3, 1, 1)
    std = torch.tensor(inp["std"], dtype=torch.float32).reshape(1, 1, 3, 1, 1)
    return (torch.from_numpy(u).float() / 255.0 * inp["scale"] - mean) / std


def relu_lstm(xg, w_hc, hidden):
    """ebr's ReLU-LSTM (spec/layers/lstm.md LSTM-1..LSTM-4) over the steps of xg (B, S, 4H),
    the input term W_xc x_s + b_c (and, for LSTM2, W_xc_static v) already added; clip markers
    cont = 0 at s = 0 (f = 0 there, no recurrent term; h_0 = c_0 = 0), 1 after. -> h (B, S, H)"""
    b, s_n, _ = xg.shape
    h = xg.new_zeros(b, hidden)
    c = xg.new_zeros(b, hidden)
    hs = []
    for s in range(s_n):
        cont = 0.0 if s == 0 else 1.0
        a = xg[:, s] + (cont * h) @ w_hc.T  # LSTM-2
        i = torch.sigmoid(a[:, :hidden])  # LSTM-3
        f = cont * torch.sigmoid(a[:, hidden:2 * hidden])
        o = torch.sigmoid(a[:, 2 * hidden:3 * hidden])
        g = F.relu(a[:, 3 * hidden:])
        c = f * c + i * g  # LSTM-4
        h = o * F.relu(c)
        hs.append(h)
    return torch.stack(hs, 1)


def lstm_parameters(inputs, hidden):
    """W_xc [4H, D], b_c [4H] (the forget gate's part at 1), W_hc [4H, H]."""
    bound = 1.0 / np.sqrt(hidden)
    w_xc = nn.Parameter(torch.empty(4 * hidden, inputs).uniform_(-bound, bound))
    b_c = torch.zeros(4 * hidden)
    b_c[hidden:2 * hidden] = 1.0
    w_hc = nn.Parameter(torch.empty(4 * hidden, hidden).uniform_(-bound, bound))
    return w_xc, nn.Parameter(b_c), w_hc


class Captioner(nn.Module):
    """The mean-pool captioner of spec/caption.md (CAP-1..CAP-5), every layer one of ebr's."""

    def __init__(self, vocabulary, channels=(8, 16, 32), feature=128, embed=16, hidden1=32,
                 hidden2=32, dropout=0.3):
        super().__init__()
        self.channels = channels
        self.conv1 = nn.Conv2d(3, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.conv3 = nn.Conv2d(channels[1], channels[2], 3, padding=1)
        self.fc6 = nn.Linear(channels[2] * 8 * 8, feature)
        self.dropout = dropout
        self.embed = nn.Parameter(torch.randn(vocabulary, embed) * 0.5)
        self.hidden1, self.hidden2 = hidden1, hidden2
        self.lstm1_W_xc, self.lstm1_b_c, self.lstm1_W_hc = lstm_parameters(embed, hidden1)
        self.lstm2_W_xc, self.lstm2_b_c, self.lstm2_W_hc = lstm_parameters(hidden1, hidden2)
        bound = 1.0 / np.sqrt(feature)
        self.lstm2_W_xc_static = nn.Parameter(
            torch.empty(4 * hidden2, feature).uniform_(-bound, bound))
        self.predict = nn.Linear(hidden2, vocabulary)

    def clip_feature(self, x):
        """x (B, T, 3, 64, 64) -> v (B, D): fc6 after relu and dropout per frame (PIPE-1),
        then the mean over the frames (CAP-1)."""
        b, t_n = x.shape[:2]
        y = x.reshape(b * t_n, 3, FRAME, FRAME)
        y = F.max_pool2d(F.relu(self.conv1(y)), 2, 2)
        y = F.max_pool2d(F.relu(self.conv2(y)), 2, 2)
        y = F.max_pool2d(F.relu(self.conv3(y)), 2, 2)
        # flatten in (C, H, W) order, as ebr's fc (Caffe's InnerProduct)
        f = F.relu(self.fc6(y.flatten(1)))
        f = F.dropout(f, self.dropout, self.training)
        return f.reshape(b, t_n, -1).mean(1)

    def language(self, v, inputs):
        """v (B, D), inputs (B, S) word indices (<s> first) -> logits (B, S, V).
        CAP-2..CAP-5."""
        e = self.embed[inputs]  # CAP-2
        h1 = relu_lstm(e @ self.lstm1_W_xc.T + self.lstm1_b_c, self.lstm1_W_hc,
                       self.hidden1)  # CAP-3
        # CAP-4: W_xc h1_s + b_c + W_xc_static v, the static term the same at every step
        static = (v @ self.lstm2_W_xc_static.T).unsqueeze(1)
        h2 = relu_lstm(h1 @ self.lstm2_W_xc.T + self.lstm2_b_c + static, self.lstm2_W_hc,
                       self.hidden2)
        return self.predict(h2)  # CAP-5

    def forward(self, x, inputs):
        return self.language(self.clip_feature(x), inputs)

    def decode(self, v, max_words):
        """Greedy decoding (spec/caption.md): the word of largest logit (the first on ties, as
        ebr), fed back, until <s> or max_words words. -> a list of index lists."""
        captions = []
        for k in range(v.shape[0]):
            words = []
            while len(words) < max_words:
                inputs = torch.tensor([[SENTENCE] + words])
                logits = self.language(v[k:k + 1], inputs)[0, -1]
                nxt = int(torch.argmax(logits))
                if nxt == SENTENCE:
                    break
                words.append(nxt)
            captions.append(words)
        return captions


def teacher_batch(captions):
    """Inputs <s> w1..w5 and targets w1..w5 <s> (teacher forcing)."""
    c = torch.from_numpy(captions)
    start = torch.full((c.shape[0], 1), SENTENCE, dtype=torch.int64)
    return torch.cat([start, c], 1), torch.cat([c, start], 1)


def evaluate(net, s, u, captions, max_words, batch=50):
    """Teacher-forced word accuracy (per position, over the 6 steps, the end included) and
    greedy decoding's accuracies; returns the metrics and the greedy captions."""
    net.eval()
    right = np.zeros(6)
    greedy = []
    with torch.no_grad():
        for k in range(0, len(u), batch):
            x = preprocess(u[k:k + batch], s)
            inputs, targets = teacher_batch(captions[k:k + batch])
            v = net.clip_feature(x)
            pred = net.language(v, inputs).argmax(-1)
            right += (pred == targets).float().sum(0).numpy()
            greedy.extend(net.decode(v, max_words))
    n = len(u)
    truth = [list(c) for c in captions]
    nouns = lambda c: (c[0], c[3]) if len(c) == 5 else None
    exact = sum(g == t for g, t in zip(greedy, truth))
    in_order = sum(nouns(g) == nouns(t) for g, t in zip(greedy, truth))
    as_set = sum(nouns(g) is not None and set(nouns(g)) == set(nouns(t))
                 for g, t in zip(greedy, truth))
    directions = sum(len(g) == 5 and (g[1], g[4]) == (t[1], t[4]) for g, t in zip(greedy, truth))
    return {
        "clips": n,
        "teacher_word_accuracy": float(right.sum() / (6 * n)),
        "teacher_caption_words_accuracy": float(right[:5].sum() / (5 * n)),
        "teacher_per_position": [float(r / n) for r in right],
        "greedy_exact": exact / n,
        "greedy_nouns_in_order": in_order / n,
        "greedy_nouns_as_set": as_set / n,
        "greedy_directions": directions / n,
        "greedy_five_words": sum(len(g) == 5 for g in greedy) / n,
    }, greedy


def initialize_cnn(net, model_dir):
    """The frame CNN's weights (conv1-3, fc6) from an ebr model directory of the same shapes
    (the action demo's); returns the layers copied."""
    copied = []
    for layer in ["conv1", "conv2", "conv3", "fc6"]:
        m = getattr(net, layer)
        w = np.load(os.path.join(model_dir, f"{layer}_w.npy"))
        b = np.load(os.path.join(model_dir, f"{layer}_b.npy"))
        assert w.shape == tuple(m.weight.shape) and b.shape == tuple(m.bias.shape), \
            f"{model_dir}: {layer} is {w.shape}, the captioner's {tuple(m.weight.shape)}"
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(w))
            m.bias.copy_(torch.from_numpy(b))
        copied.append(layer)
    return copied


CNN_LAYERS = ["conv1", "conv2", "conv3", "fc6"]


def train(net, s, u, captions, val, args):
    """Adam on the teacher-forced cross-entropy (the CNN at --cnn-lr-scale times the rate);
    cosine learning rate; returns the log."""
    rng = np.random.default_rng(args.seed)
    cnn = [q for name in CNN_LAYERS for q in getattr(net, name).parameters()]
    cnn_ids = {id(q) for q in cnn}
    language = [q for q in net.parameters() if id(q) not in cnn_ids]
    opt = torch.optim.Adam([{"params": language, "lr": args.lr},
                            {"params": cnn, "lr": args.lr * args.cnn_lr_scale}])
    steps = args.epochs * (len(u) // args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    log = []
    for epoch in range(args.epochs):
        net.train()
        order = rng.permutation(len(u))
        t0, total, count = time.time(), 0.0, 0
        for b in range(len(u) // args.batch):
            idx = np.sort(order[b * args.batch:(b + 1) * args.batch])
            x = preprocess(u[idx], s)
            inputs, targets = teacher_batch(captions[idx])
            z = net(x, inputs)
            loss = F.cross_entropy(z.reshape(-1, z.shape[-1]), targets.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
            count += 1
            if b % 50 == 0:
                print(f"epoch {epoch} batch {b}: loss {total / count:.4f}", flush=True)
        metrics, _ = evaluate(net, *val, args.max_words)
        entry = {"epoch": epoch, "train_loss": total / count, "seconds": time.time() - t0,
                 **{k: v for k, v in metrics.items() if k != "teacher_per_position"}}
        print(json.dumps(entry), flush=True)
        log.append(entry)
    return log


def save_npy(path, t):
    np.save(path, np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32)))


def export(net, s, out, name, max_words):
    """The ebr model directory (spec/model.md, spec/caption.md) for `net`."""
    if os.path.isdir(out):
        for f in os.listdir(out):
            if f.endswith(".npy") or f == "model.json":
                os.remove(os.path.join(out, f))
    os.makedirs(out, exist_ok=True)
    inp = s["input"]
    words = s["words"]
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
        "temporal": [{"type": "mean_pool"}],
        "classifier": {"type": "fc", "name": "predict", "out": len(words)},
        "labels": words,
        "captioner": {
            "embedding": {"name": "embed", "dim": net.embed.shape[1]},
            "lstm1": {"name": "lstm1", "hidden": net.hidden1},
            "lstm2": {"name": "lstm2", "hidden": net.hidden2},
            "max_words": max_words,
        },
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(spec, f, indent=2)
        f.write("\n")
    for layer in ["conv1", "conv2", "conv3", "fc6", "predict"]:
        m = getattr(net, layer)
        save_npy(os.path.join(out, f"{layer}_w.npy"), m.weight)
        save_npy(os.path.join(out, f"{layer}_b.npy"), m.bias)
    save_npy(os.path.join(out, "embed_w.npy"), net.embed)
    for p in ["lstm1_W_xc", "lstm1_b_c", "lstm1_W_hc", "lstm2_W_xc", "lstm2_W_xc_static",
              "lstm2_b_c", "lstm2_W_hc"]:
        save_npy(os.path.join(out, f"{p}.npy"), getattr(net, p))


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))


def compact_json(value):
    """JSON with one line per element of "frames" (as set.json), else indented."""
    frames = value["frames"]
    text = json.dumps({**value, "frames": "FRAMES"}, indent=2)
    rows = ",\n".join("    " + json.dumps(f) for f in frames)
    return text.replace('"FRAMES"', "[\n" + rows + "\n  ]") + "\n"


def ground_nouns(ebr, model_dir, clip_dir, entry, out_root, overlays):
    """`ebr ground-caption` of both nouns (cEB-R at conv3, the model's own caption): per noun
    the per-frame sums, the temporal peak and the segment, and whether the peak is in its
    actor's frames."""
    result = {}
    os.makedirs(out_root, exist_ok=True)
    for noun in entry["nouns"]:
        out = os.path.join(out_root, f"ground_{noun['word']}")
        cmd = [ebr, "ground-caption", "--model", model_dir, "--clip", clip_dir,
               "--word", noun["word"], "--out", out, "--quiet"]
        if not overlays:
            cmd.append("--no-overlays")
        run(cmd)
        summ = json.load(open(os.path.join(out, "summary.json")))
        start, end = noun["segment"]
        peak = summ["temporal_peak"]["frame"] if isinstance(summ["temporal_peak"], dict) \
            else summ["temporal_peak"]
        result[noun["word"]] = {
            "out": out,
            "caption": summ["caption"],
            "steps": summ["word"]["steps"],
            "probabilities": summ["word"]["probabilities"],
            "sums": [f["sum"] for f in summ["frames"]],
            "peak": peak,
            "segment": [summ["segment"]["start"], summ["segment"]["end"]],
            "noun_segment": [start, end],
            "peak_in_segment": start <= peak <= end,
            "own_half_sum": sum(f["sum"] for f in summ["frames"][start:end + 1]),
        }
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ebr", default="./target/release/ebr")
    p.add_argument("--data", required=True, help="where the generated sets go (not the repo)")
    p.add_argument("--out", default="fixtures/demo-caption")
    p.add_argument("--train-clips", type=int, default=3000)
    p.add_argument("--train-seed", type=int, default=1)
    p.add_argument("--val-clips", type=int, default=500)
    p.add_argument("--val-seed", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--channels", type=int, nargs=3, default=[8, 16, 32],
                   help="conv1, conv2, conv3 output channels")
    p.add_argument("--feature", type=int, default=128)
    p.add_argument("--embed", type=int, default=16)
    p.add_argument("--hidden", type=int, default=32, help="LSTM1's and LSTM2's hidden units")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--init", default="fixtures/demo/model",
                   help="an ebr model directory whose conv1-3 and fc6 start the frame CNN "
                        "('' to start from random weights)")
    p.add_argument("--cnn-lr-scale", type=float, default=1.0,
                   help="the frame CNN's learning rate relative to --lr")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--max-words", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--demo-seed", type=int, default=11)
    p.add_argument("--demo-clips", type=int, default=32)
    args = p.parse_args()
    command = " ".join(["/work/venv-torch/bin/python tools/train_captioner.py"] + sys.argv[1:])

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.data, exist_ok=True)

    # 1. The sets.
    train_dir = os.path.join(args.data, "train")
    val_dir = os.path.join(args.data, "val")
    synth_cmds = [
        synth(args.ebr, train_dir, args.train_clips, args.train_seed),
        synth(args.ebr, val_dir, args.val_clips, args.val_seed),
    ]
    s, u, captions = load_set(train_dir)
    val = load_set(val_dir)
    words = s["words"]
    print(f"train {u.shape}, validation {val[1].shape}, vocabulary {words}", flush=True)

    # 2. Training.
    net = Captioner(len(words), channels=tuple(args.channels), feature=args.feature,
                    embed=args.embed, hidden1=args.hidden, hidden2=args.hidden,
                    dropout=args.dropout)
    if args.init:
        print("frame CNN initialized from", args.init, initialize_cnn(net, args.init),
              flush=True)
    t0 = time.time()
    log = train(net, s, u, captions, val, args)
    train_seconds = time.time() - t0
    del u

    # 3. Validation.
    metrics, greedy = evaluate(net, *val, args.max_words)
    print(json.dumps(metrics), flush=True)

    # 4. Export and check with ebr.
    model_dir = os.path.join(args.out, "model")
    export(net, s, model_dir,
           "ebr demo captioner: CNN, temporal mean-pool, two ReLU-LSTMs trained on ebr synth "
           "caption clips (tools/train_captioner.py, fixtures/demo-caption/README.md)",
           args.max_words)
    run([args.ebr, "inspect", "--model", model_dir])
    val_s = val[0]
    for k in range(3):
        clip_k = os.path.join(val_dir, val_s["clips"][k]["file"])
        out = run([args.ebr, "classify", "--model", model_dir, "--clip", clip_k, "--quiet"],
                  capture=True)
        print(out)
        ebr_caption = out.splitlines()[0].split("caption (greedy): ")[1].split()
        torch_caption = [words[w] for w in greedy[k]]
        assert ebr_caption == torch_caption, f"ebr says {ebr_caption}, PyTorch {torch_caption}"
    torch.save(net.state_dict(), os.path.join(args.data, "captioner.pt"))

    # 5. The demo clip.
    demo_dir = os.path.join(args.data, "demo_caption")
    demo_cmd = synth(args.ebr, demo_dir, args.demo_clips, args.demo_seed,
                     examples=args.demo_clips)
    ds, du, dcaptions = load_set(demo_dir)
    _, dgreedy = evaluate(net, ds, du, dcaptions, args.max_words)
    exact = [k for k in range(len(du)) if dgreedy[k] == list(dcaptions[k])]
    print(f"demo set: {len(exact)} of {len(du)} clips captioned exactly right: {exact}")
    assert exact, "no demo clip captioned exactly right"
    chosen, grounded = None, None
    for k in exact:
        clip_dir = os.path.join(demo_dir, "examples", f"{k:04d}")
        g = ground_nouns(args.ebr, model_dir, clip_dir, ds["clips"][k],
                         os.path.join(args.data, f"demo_{k:04d}"), overlays=False)
        if all(r["peak_in_segment"] for r in g.values()):
            chosen, grounded = k, g
            break
    tried = exact if chosen is None else exact[:exact.index(chosen) + 1]
    if chosen is None:
        chosen = exact[0]
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
        "words": ds["words"],
        "input": ds["input"],
        "caption": entry["caption"],
        "nouns": entry["nouns"],
        "gt_class": entry["gt_class"],
        "segment": entry["segment"],
        "other_class": entry["other_class"],
        "frames": entry["frames"],
    }
    with open(os.path.join(args.out, "clip.json"), "w") as f:
        f.write(compact_json(clip_json))
    # The two nouns on the bundled clip, as the README shows them (with overlays).
    grounded = ground_nouns(args.ebr, model_dir, clip_dir, entry,
                            os.path.join(args.data, "demo_bundled"), overlays=True)
    pictures = []
    for noun in entry["nouns"]:
        r = grounded[noun["word"]]
        start, end = noun["segment"]
        t = int(np.argmax(r["sums"][start:end + 1])) + start
        name = f"overlay_{noun['word']}_{t:04d}.png"
        shutil.copy(os.path.join(r["out"], "frames", f"{t:04d}.png"),
                    os.path.join(args.out, name))
        shutil.copy(os.path.join(r["out"], "timeline.svg"),
                    os.path.join(args.out, f"timeline_{noun['word']}.svg"))
        pictures.append((noun["word"], t, name))
    kept = [p[2] for p in pictures] + [f"timeline_{n['word']}.svg" for n in entry["nouns"]]
    for old in os.listdir(args.out):
        if old.startswith(("overlay_", "timeline_")) and old not in kept:
            os.remove(os.path.join(args.out, old))

    # 6. The README.
    size = directory_bytes(model_dir)
    params = sum(q.numel() for q in net.parameters())
    write_readme(args, command, synth_cmds, demo_cmd, log, metrics, train_seconds, size,
                 params, chosen, tried, entry, grounded, pictures, words)


def write_readme(args, command, synth_cmds, demo_cmd, log, metrics, train_seconds, size,
                 params, chosen, tried, entry, grounded, pictures, words):
    pct = lambda v: f"{100 * v:.1f}%"
    lines = []
    add = lines.append
    add("# The demo captioner and clip")
    add("")
    add("A small mean-pool captioner (spec/caption.md) trained with PyTorch on `ebr synth "
        "--protocol caption` clips (spec/synth.md SYN-16, SYN-17) by")
    add("`tools/train_captioner.py`, exported as an ebr model directory (spec/model.md), and "
        "one clip to ground its words in. Everything here was written by that script; do not "
        "edit by hand, rerun it.")
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
    init = (f"the frame CNN (conv1-3, fc6) initialized from `{args.init}` (the action demo "
            "model's, trained on trimmed action clips: the paper's captioner likewise starts "
            "from a CNN trained for another task) and fine-tuned at "
            f"{args.cnn_lr_scale} times the learning rate" if args.init
            else "the frame CNN from random weights")
    add(f"Training: seed {args.seed}, {args.epochs} epochs of {args.train_clips} clips "
        f"(16 frames, captions of 5 words), batch {args.batch} clips, Adam lr {args.lr} with a "
        f"cosine decay to 0; {init}; dropout {args.dropout} on fc6, gradient norm clipped at "
        f"5, {args.threads} CPU threads, torch {torch.__version__}, numpy {np.__version__}.")
    add("Loss: teacher forcing, inputs `<s> w1 .. w5`, targets `w1 .. w5 <s>`, the mean "
        "cross-entropy of the vocabulary classifier over the 6 steps.")
    add(f"Training time: {train_seconds / 60:.1f} minutes on this machine's CPU "
        f"({args.threads} threads).")
    add("")
    add("## The model (`model/`)")
    add("")
    c1, c2, c3 = args.channels
    add(f"frame: conv1 {c1} 3x3 pad 1, relu, pool1 max 2x2 s2, conv2 {c2} 3x3 pad 1, relu, "
        f"pool2, conv3 {c3} 3x3 pad 1, relu, pool3 ({c3}x8x8), fc6 {args.feature}, relu, "
        "dropout (the feature blob); temporal: mean_pool (v, CAP-1); captioner: embed "
        f"({len(words)} x {args.embed}), lstm1 ({args.hidden}, over the embedded previous "
        f"word), lstm2 ({args.hidden}, over lstm1's output, with v as its static input: "
        f"lstm2_W_xc_static.npy {4 * args.hidden} x {args.feature}, no bias); the vocabulary "
        f"classifier predict ({len(words)}) on lstm2's output; max_words {args.max_words}. "
        "Input: 64x64 RGB, (u / 255 - 0.5) / 0.25, the set's \"input\" block.")
    add(f"Vocabulary (model.json's labels, index 0 the sentence token): {', '.join(words)}.")
    add(f"{params:,} parameters, {size / 1e6:.2f} MB of .npy files.")
    add("")
    add(f"## Validation ({metrics['clips']} caption clips, seed {args.val_seed})")
    add("")
    pos = metrics["teacher_per_position"]
    add("| measure | accuracy |")
    add("| --- | --- |")
    add(f"| teacher forcing, every word of the 6 steps (the end token included) "
        f"| {pct(metrics['teacher_word_accuracy'])} |")
    add(f"| teacher forcing, the caption's 5 words | "
        f"{pct(metrics['teacher_caption_words_accuracy'])} |")
    for name, i in [("first noun", 0), ("first direction", 1), ("then", 2),
                    ("second noun (after the first, given)", 3), ("second direction", 4),
                    ("end token", 5)]:
        add(f"| teacher forcing, {name} | {pct(pos[i])} |")
    add(f"| greedy caption, exact | {pct(metrics['greedy_exact'])} |")
    add(f"| greedy caption, five words | {pct(metrics['greedy_five_words'])} |")
    add(f"| greedy caption, both nouns in order | {pct(metrics['greedy_nouns_in_order'])} |")
    add(f"| greedy caption, both nouns as a set (order ignored) "
        f"| {pct(metrics['greedy_nouns_as_set'])} |")
    add(f"| greedy caption, both directions | {pct(metrics['greedy_directions'])} |")
    add("")
    add("What a mean-pool captioner can learn here: the mean of the frames' features forgets "
        "their order, and a single frame does not show the direction of motion (spec/synth.md "
        "SYN-1, SYN-4). So the model can tell which two shapes are in the clip, but not which "
        "came first, nor (but by chance, or from weak cues) where they went. Under teacher "
        "forcing the first noun is a guess between the two shapes it sees (about 50%), the "
        "second noun follows from the first (the other shape), \"then\" and the end are "
        "certain, and a direction is a guess between the two of its shape (about 50%). "
        f"Greedy captions name the right pair of shapes in {pct(metrics['greedy_nouns_as_set'])} "
        "of the clips (chance: 1 in 3), in the right order in "
        f"{pct(metrics['greedy_nouns_in_order'])} (about half of those), with both directions "
        f"right in {pct(metrics['greedy_directions'])} (chance: 1 in 4 of the captions with the "
        "right nouns in order, 1 in 8 of all): it learned the nouns, and neither the order "
        "nor the motion.")
    add("")
    add("Per epoch (validation):")
    add("")
    add("| epoch | train loss | teacher, words | greedy exact | greedy nouns as a set | "
        "seconds |")
    add("| --- | --- | --- | --- | --- | --- |")
    for e in log:
        add(f"| {e['epoch']} | {e['train_loss']:.4f} | {pct(e['teacher_word_accuracy'])} | "
            f"{pct(e['greedy_exact'])} | {pct(e['greedy_nouns_as_set'])} | "
            f"{e['seconds']:.0f} |")
    add("")
    add("## The demo clip (`clip/`, `clip.json`)")
    add("")
    caption = " ".join(entry["caption"])
    first, second = entry["nouns"]
    add(f"Clip {chosen} of `{' '.join(demo_cmd)}`: \"{caption}\": frames "
        f"{first['segment'][0]}-{first['segment'][1]} show the {first['word']}, frames "
        f"{second['segment'][0]}-{second['segment'][1]} the {second['word']}. clip.json holds "
        "its set.json entry (the caption, the nouns' frames, per-frame classes and actor "
        "boxes). Chosen as the first clip of that set that the model captions exactly right "
        "(greedy) and whose two nouns, each grounded with cEB-R, have their temporal peak in "
        f"their own actor's frames (clips tried, in order: {', '.join(map(str, tried))}).")
    add("")
    add("```sh")
    for noun in entry["nouns"]:
        add(f"./target/release/ebr ground-caption --model fixtures/demo-caption/model "
            f"--clip fixtures/demo-caption/clip --word {noun['word']} "
            f"--out /tmp/caption-{noun['word']}")
    add("```")
    add("")
    add("cEB-R at conv3 (the default layer), the model's own caption: per-frame sums of the "
        "maps (summary.json's frames[t].sum), the temporal peak and the segment (spec/"
        "localize.md):")
    add("")
    add("| word | steps (probability) | sums, frames 0..15 | peak | segment | its actor's frames |")
    add("| --- | --- | --- | --- | --- | --- |")
    for noun in entry["nouns"]:
        r = grounded[noun["word"]]
        sums = " ".join(f"{v:+.3f}" for v in r["sums"])
        steps = ", ".join(f"{s} ({q:.3f})" for s, q in zip(r["steps"], r["probabilities"]))
        add(f"| {noun['word']} | {steps} | {sums} | {r['peak']} | "
            f"{r['segment'][0]}..{r['segment'][1]} | {noun['segment'][0]}..{noun['segment'][1]} |")
    add("")
    add("Overlays (the noun's cEB-R map over the frame of its largest sum in its actor's "
        "frames): " + ", ".join(f"`{name}` ({word}, frame {t})" for word, t, name in pictures)
        + "; the timelines: " + ", ".join(f"`timeline_{n['word']}.svg`"
                                           for n in entry["nouns"]) + ".")
    add("")
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write("\n".join(lines))
    print("wrote", os.path.join(args.out, "README.md"))


if __name__ == "__main__":
    main()
