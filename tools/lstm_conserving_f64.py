#!/usr/bin/env python3
"""An independent float64 computation of what no Caffe fixture covers, written from spec/ alone
(not from ebr's code): the conserving LSTM rule (spec/layers/lstm.md, LSTM-9..LSTM-12), the
temporal part of EB-R and cEB-R with the prior on every step and the paper's normalization
(spec/pipeline.md, PIPE-4, PIPE-5, PIPE-7), and BP-R's gradient with the prior on every step
(PIPE-4 with FC-4, LSTM-5, LSTM-8).

Inputs: the Caffe fixture fixtures/caffe/tiny_cnn_lstm (its fc7 blob fwd_fc7, the LSTM lstm1_*,
the classifier fc8_*; T = 8 frames, D = 64, 32 hidden units, K = 10 classes). Outputs, float32
.npy, into fixtures/lstm-f64/ (see the README written there):

  x.npy                        (T, D)  fwd_fc7, the LSTM's input, as read
  h.npy                        (T, J)  the LSTM's output (LSTM-1..LSTM-4), float64 rounded
  c<k>_p_h_last.npy            (T, J)  EB of a one-hot on class k at the last step through
                                       fc8 (FC-3): the signal on h
  c<k>_conserving_p_x_last.npy (T, D)  LSTM-9..LSTM-12 applied to c<k>_p_h_last (attMap1)
  c<k>_conserving_dual_p_x_last.npy    the same with fc8's weights negated (attMap2)
  c<k>_all_norm1.npy, c<k>_all_norm2.npy, c<k>_all_contrast.npy
                               (T, D)  prior on every step, the original's LSTM rule
                                       (LSTM-5..LSTM-7), PIPE-5 on attMap1 and attMap2, PIPE-7
  c<k>_bpr_all_fc7.npy         (T, D)  BP-R's gradient at the feature blob for the prior on
                                       every step, after relu7's mask (what Caffe's fc7 diff
                                       would hold: PIPE-8)

for k = 3 and 7. Run by hand (numpy only; CI never runs it):

  python3 -m venv /work/venv-spec && /work/venv-spec/bin/pip install numpy
  /work/venv-spec/bin/python tools/lstm_conserving_f64.py

tests/lstm_f64.rs compares ebr with these files.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASE = os.path.join(ROOT, "fixtures", "caffe", "tiny_cnn_lstm")
OUT = os.path.join(ROOT, "fixtures", "lstm-f64")

F32_MIN_NORMAL = float(np.finfo(np.float32).tiny)  # 2^-126


def load(name):
    return np.load(os.path.join(CASE, name + ".npy")).astype(np.float64)


def usable(z):
    """spec/README.md EB-2, for a float64 port: the normalizer rounded to float32 is normal
    (|z| >= 2^-126) and finite."""
    z32 = np.asarray(z, dtype=np.float32)
    return (np.abs(z32) >= F32_MIN_NORMAL) & np.isfinite(z32)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def lstm_forward(x, w_xc, b_c, w_hc, cont):
    """LSTM-1..LSTM-4, one stream. Returns gates (T, 4J) = (i, f, o, g), c (T, J), h (T, J)."""
    steps, j_n = x.shape[0], w_hc.shape[1]
    gates = np.zeros((steps, 4 * j_n))
    c = np.zeros((steps, j_n))
    h = np.zeros((steps, j_n))
    c_prev = np.zeros(j_n)
    h_prev = np.zeros(j_n)
    for t in range(steps):
        a = w_xc @ x[t] + b_c
        if t > 0:
            a = a + w_hc @ (cont[t] * h_prev)
        i = sigmoid(a[:j_n])
        f = np.zeros(j_n) if cont[t] == 0 else cont[t] * sigmoid(a[j_n:2 * j_n])
        o = sigmoid(a[2 * j_n:3 * j_n])
        g = np.maximum(a[3 * j_n:], 0.0)
        c_t = f * c_prev + i * g
        h_t = o * np.maximum(c_t, 0.0)
        gates[t] = np.concatenate([i, f, o, g])
        c[t], h[t] = c_t, h_t
        c_prev, h_prev = c_t, h_t
    return gates, c, h


def fc_eb(x, w, p_top):
    """FC-3 on rows: z = x W+^T (no bias), X = p_top / z where z is usable else 0,
    p_bottom = x * (X W+)."""
    w_plus = np.maximum(w, 0.0)
    z = x @ w_plus.T
    ok = usable(z)
    ratio = np.where(ok, p_top / np.where(ok, z, 1.0), 0.0)
    return x * (ratio @ w_plus)


def lstm_unit_backward(w_hc, gates, c, cont, dh_top, recurrent):
    """LSTM-5 from the last step to the first; with `recurrent`, LSTM-8 sends each step's
    signal on h[t-1] through W_hc (the gradient), else nothing goes that way (LSTM-6, EB).
    Returns the signal on the gate pre-activations (T, 4J)."""
    steps, j_n = c.shape
    da = np.zeros((steps, 4 * j_n))
    dc_next = np.zeros(j_n)
    dh_next = np.zeros(j_n)
    for t in reversed(range(steps)):
        i, f, o, g = (gates[t, k * j_n:(k + 1) * j_n] for k in range(4))
        c_t = c[t]
        c_prev = c[t - 1] if t > 0 else np.zeros(j_n)
        dh = dh_top[t] + dh_next
        dc = dc_next + dh * o * (c_t > 0)
        da[t, :j_n] = dc * g * i * (1 - i)
        da[t, j_n:2 * j_n] = dc * c_prev * f * (1 - f)
        da[t, 2 * j_n:3 * j_n] = dh * np.maximum(c_t, 0.0) * o * (1 - o)
        da[t, 3 * j_n:] = np.where(g > 0, dc * i, 0.0)
        dc_next = dc * f
        dh_next = cont[t] * (da[t] @ w_hc) if recurrent and t > 0 else np.zeros(j_n)
    return da


def lstm_eb_original(x, w_xc, w_hc, gates, c, cont, p_h):
    """LSTM-5 with no recurrent path (LSTM-6), then LSTM-7 through W_xc."""
    return fc_eb(x, w_xc, lstm_unit_backward(w_hc, gates, c, cont, p_h, recurrent=False))


def lstm_eb_conserving(x, w_xc, gates, c, p_h):
    """LSTM-9..LSTM-12."""
    steps, j_n = c.shape
    p_a = np.zeros((steps, 4 * j_n))
    r_c_next = np.zeros(j_n)
    for t in reversed(range(steps)):
        i, f, _, g = (gates[t, k * j_n:(k + 1) * j_n] for k in range(4))
        c_t = c[t]
        c_prev = c[t - 1] if t > 0 else np.zeros(j_n)
        r_c = p_h[t] + r_c_next  # LSTM-9
        ok = usable(c_t)  # LSTM-10
        safe = np.where(ok, c_t, 1.0)
        r_fc = np.where(ok, r_c * (f * c_prev / safe), 0.0)
        r_ig = np.where(ok, r_c * (i * g / safe), 0.0)
        r_c_next = r_fc
        p_a[t, 3 * j_n:] = r_ig  # LSTM-11: i, f, o rows stay 0
    return fc_eb(x, w_xc, p_a)  # LSTM-12


def lstm_grad(w_xc, w_hc, gates, c, cont, dh_top):
    """LSTM-5 with the recurrent path LSTM-8, then FC-4 through W_xc."""
    return lstm_unit_backward(w_hc, gates, c, cont, dh_top, recurrent=True) @ w_xc


def normalize_over_clip(a):
    """PIPE-5: divided by the total; 0 everywhere when the total (as float32) is 0."""
    total = a.sum()
    return np.zeros_like(a) if np.float32(total) == 0 else a / total


def save(name, array):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(array, dtype=np.float32))


def main():
    x = load("fwd_fc7")  # (T, D), after relu7 and drop7
    w_xc, b_c, w_hc = load("lstm1_W_xc"), load("lstm1_b_c"), load("lstm1_W_hc")
    w_cls, b_cls = load("fc8_w"), load("fc8_b")
    steps = x.shape[0]
    cont = np.array([0.0] + [1.0] * (steps - 1))
    gates, c, h = lstm_forward(x, w_xc, b_c, w_hc, cont)
    caffe_h = load("fwd_lstm1").reshape(h.shape)
    print("h against Caffe's fwd_lstm1: max relative error %.2e"
          % (np.abs(h - caffe_h).max() / np.abs(caffe_h).max()))
    logits = h @ w_cls.T + b_cls
    caffe_logits = load("fwd_fc8").reshape(logits.shape)
    print("logits against Caffe's fwd_fc8: max relative error %.2e"
          % (np.abs(logits - caffe_logits).max() / np.abs(caffe_logits).max()))
    # Against Caffe's arrays where they exist (the original rule, BP-R with the prior "last"):
    # checks this script before it computes what Caffe's fixtures do not hold.
    os.makedirs(OUT, exist_ok=True)
    save("x", x)
    save("h", h)
    for k in (3, 7):
        last = np.zeros((steps, w_cls.shape[0]))
        last[-1, k] = 1.0
        every = np.zeros((steps, w_cls.shape[0]))
        every[:, k] = 1.0
        check = lstm_eb_original(x, w_xc, w_hc, gates, c, cont, fc_eb(h, w_cls, last))
        caffe = load("c%d_last_attmap1" % k).reshape(check.shape)
        print("c%d original rule, prior last, against Caffe's attmap1: max relative error %.2e"
              % (k, np.abs(check - caffe).max() / np.abs(caffe).max()))

        p_h = fc_eb(h, w_cls, last)
        p_h_dual = fc_eb(h, -w_cls, last)
        save("c%d_p_h_last" % k, p_h)
        save("c%d_p_h_dual_last" % k, p_h_dual)
        a = lstm_eb_conserving(x, w_xc, gates, c, p_h)
        a_dual = lstm_eb_conserving(x, w_xc, gates, c, p_h_dual)
        save("c%d_conserving_p_x_last" % k, a)
        save("c%d_conserving_dual_p_x_last" % k, a_dual)
        print("c%d conserving, prior last: attMap1 sums to %.9f, attMap2 to %.9f"
              % (k, a.sum(), a_dual.sum()))

        a_all = lstm_eb_original(x, w_xc, w_hc, gates, c, cont, fc_eb(h, w_cls, every))
        a_all_dual = lstm_eb_original(x, w_xc, w_hc, gates, c, cont, fc_eb(h, -w_cls, every))
        n1, n2 = normalize_over_clip(a_all), normalize_over_clip(a_all_dual)
        save("c%d_all_norm1" % k, n1)
        save("c%d_all_norm2" % k, n2)
        save("c%d_all_contrast" % k, n1 - n2)
        print("c%d original rule, prior all: attMap1 sums to %.6f, attMap2 to %.6f"
              % (k, a_all.sum(), a_all_dual.sum()))

        caffe = load("c%d_all_attmap1" % k).reshape(a_all.shape)
        print("c%d original rule, prior all, against Caffe's attmap1: max relative error %.2e"
              % (k, np.abs(a_all - caffe).max() / np.abs(caffe).max()))

        g_last = lstm_grad(w_xc, w_hc, gates, c, cont, last @ w_cls) * (x > 0)
        caffe = load("c%d_bpr_fc7" % k).reshape(g_last.shape)
        print("c%d gradient, prior last, against Caffe's bpr_fc7: max relative error %.2e"
              % (k, np.abs(g_last - caffe).max() / np.abs(caffe).max()))
        g_all = lstm_grad(w_xc, w_hc, gates, c, cont, every @ w_cls)
        save("c%d_bpr_all_fc7" % k, g_all * (x > 0))
    print("wrote", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
