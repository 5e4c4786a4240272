//! ebr's conserving EB rule for the ReLU-LSTM, `Lstm::eb_backward_conserving` (spec/layers/
//! lstm.md, LSTM-9..LSTM-12 and LSTM-P6..LSTM-P9; `ebr ground --lstm-rule conserving`):
//!
//! 1. the worked example of the spec, every value exact in f32;
//! 2. properties of the layer over random sizes (T = 1..6, N = 1..3, D = 1..4, H = 1..3),
//!    post-ReLU inputs with exact zeros, signed weights and biases, random clip markers:
//!    agreement with an f64 reference written from the equations, conservation with the drops
//!    computed here, non-negativity, linearity, causality and clip markers, independent
//!    streams, nothing to a zero input;
//! 3. the whole network: on random models the conserving attMap1 (and attMap2) sums to the
//!    prior's mass minus what the zero normalizers drop (classifier, LSTM cells, W_xc,
//!    mean-pool), and so does `TemporalAttention::norm`; on fixtures/caffe/tiny_cnn_lstm the
//!    sums of both rules;
//! 4. `ebr ground --lstm-rule conserving` through the binary.
//!
//! Expected values come from the equations (the f64 reference below, computed from the f32
//! forward activations), never from the code under test. Outputs are poisoned with NaN first.
//! u = 2^-24 ≈ 6e-8 is the f32 unit roundoff.

mod common;

use std::f64::consts::PI;
use std::fmt::Debug;
use std::path::Path;
use std::process::Command;

use common::{assert_within_bound, caffe_case, load, poisoned};
use ebr::grounding::{
    one_hot_prior, temporal_attention, Method, Normalization, Options, Prior, TemporalAttention,
};
use ebr::layers::{Fc, Lstm, LstmActivations, LstmEbRule};
use ebr::model::schema::{FcSpec, FrameLayerSpec, TemporalLayerSpec};
use ebr::model::temporal::TemporalActivations;
use ebr::model::{forward_clip, ClipForward, Execution};
use ebr::model::{ChannelOrder, FrameLayer, InputSpec, Model, ModelSpec, TemporalLayer};
use ebr::npy::read_tensor;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------------------------
// Tolerances
// ---------------------------------------------------------------------------------------------

/// Random cases per layer property (each takes microseconds).
const CASES: u32 = 1024;

/// Random models per whole-network property (each runs a small CNN on T <= 6 frames).
const MODEL_CASES: u32 = 256;

/// One LSTM layer's conserving EB in f32 against the f64 reference, relative to the size of
/// the summed terms (the reference run on |p_h|: every factor is >= 0 with x >= 0, so for a
/// non-negative signal the result is its own size). Per step and unit the f32 chain rounds at
/// most 5 times (R_c = p_h + carry, the share f c_{t-1} / c_t or i g / c_t with its product,
/// the product by R_c), T <= 6 steps: 30u; then W_xc's EB: D <= 4 terms in z, the ratio, the
/// product back over 4H <= 12 gate units, the product by x: 18u. 48u ≈ 2.9e-6; 1e-5. The same
/// bound holds for the sum (a sum of non-negative terms each within it), so it is also the
/// tolerance of the conservation and the linearity (which adds 3 roundings: a s1 + b s2).
/// Observed at most 2.9e-7 elementwise and 1.1e-7 on the sums.
const LAYER_CHAIN: f32 = 1e-5;

/// The conserving attMap1 of a model against the prior's mass minus the drops, relative to
/// the prior's mass (1 or S; every term is >= 0). The f32 chain of a random model: the
/// classifier's EB (H' <= 4 terms in z, the ratio, K <= 4 back, the product by h: 10u), then
/// per temporal layer at most an LSTM's 5T + D + 4H + 2 <= 30 + 8 + 16 + 2 = 56u (a
/// mean-pool's is T + 3 <= 9u), two layers: 122u; norm's rounding to f32 adds 1u: 123u ≈
/// 7.3e-6. The fixture tiny_cnn_lstm (T = 8, D = 64, H = H' = 32, K = 10): 44u + 234u + 1u =
/// 279u ≈ 1.7e-5. 3e-5; observed at most 2.0e-7 on either.
const STACK_CONSERVATION: f64 = 3e-5;

// ---------------------------------------------------------------------------------------------
// The f64 reference of LSTM-9..LSTM-12, with what it drops
// ---------------------------------------------------------------------------------------------

/// spec/README.md (EB-2): a normalizer can be divided by when it is an f32 of at least f32's
/// smallest normal magnitude, and finite (0 and subnormals are not).
fn usable(z: f64) -> bool {
    let z = z as f32;
    z.abs() >= f32::MIN_POSITIVE && z.is_finite()
}

/// LSTM-9..LSTM-12 in f64, from the f32 forward activations.
#[derive(Debug)]
struct Reference {
    /// p_a: (T, N, 4H), the gate signal; 0 on the i, f, o rows.
    p_a: Vec<f64>,
    /// p_x: (T, N, D)
    p_x: Vec<f64>,
    /// The signal on c_t where c_t is not a usable normalizer (LSTM-9): dropped.
    dropped_at_c: f64,
    /// The gate signal of the W_xc units whose z is not usable (EB-2): dropped.
    dropped_at_z: f64,
}

/// The conserving rule of spec/layers/lstm.md written out from its equations: per stream and
/// unit, R_c = p_h + the carry; R_fc = R_c f c_{t-1} / c_t, R_ig = R_c i g / c_t (0 where c_t
/// is not usable); R_fc carried to c_{t-1}; R_ig the g rows' gate signal; then EB-1..EB-3
/// through W_xc with z = x W_xc+^T (no bias).
fn reference(lstm: &Lstm, x: &[f32], act: &LstmActivations, p_h: &[f32]) -> Reference {
    let (t_n, n_n, d_n, h_n) = (act.steps, act.streams, lstm.inputs, lstm.hidden);
    let mut r = Reference {
        p_a: vec![0.0; t_n * n_n * 4 * h_n],
        p_x: vec![0.0; t_n * n_n * d_n],
        dropped_at_c: 0.0,
        dropped_at_z: 0.0,
    };
    let mut carry = vec![0.0f64; n_n * h_n]; // (N, H): the signal on c_t from step t+1
    for t in (0..t_n).rev() {
        for s in 0..n_n {
            let row = t * n_n + s;
            for j in 0..h_n {
                let gate = |k: usize| act.gates[row * 4 * h_n + k * h_n + j] as f64;
                let (i, f, g) = (gate(0), gate(1), gate(3));
                let c = act.c[row * h_n + j] as f64;
                let c_prev = if t > 0 {
                    act.c[((t - 1) * n_n + s) * h_n + j] as f64
                } else {
                    0.0
                };
                let r_c = p_h[row * h_n + j] as f64 + carry[s * h_n + j];
                if usable(c) {
                    carry[s * h_n + j] = r_c * f * c_prev / c;
                    r.p_a[row * 4 * h_n + 3 * h_n + j] = r_c * i * g / c;
                } else {
                    carry[s * h_n + j] = 0.0;
                    r.dropped_at_c += r_c;
                }
            }
        }
    }
    let w_plus: Vec<f64> = lstm
        .input_transform
        .w
        .iter()
        .map(|&w| w.max(0.0) as f64)
        .collect();
    for row in 0..t_n * n_n {
        let x_row = &x[row * d_n..(row + 1) * d_n];
        for k in 0..4 * h_n {
            let p = r.p_a[row * 4 * h_n + k];
            let z: f64 = (0..d_n)
                .map(|d| x_row[d] as f64 * w_plus[k * d_n + d])
                .sum();
            if !usable(z) {
                r.dropped_at_z += p;
                continue;
            }
            for d in 0..d_n {
                r.p_x[row * d_n + d] += x_row[d] as f64 * w_plus[k * d_n + d] * p / z;
            }
        }
    }
    r
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&a| a as f32).collect()
}

fn sum64(v: &[f32]) -> f64 {
    v.iter().map(|&a| a as f64).sum()
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|a| a.abs()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. The worked example of spec/layers/lstm.md (LSTM-9..LSTM-12)
// ---------------------------------------------------------------------------------------------

/// The example layer of spec/layers/lstm.md's conserving example: D = H = 1, W_xc all ones,
/// b_c = (-2, -2, -2, 0) (so i, f, o are sigmoid(0) = 0.5 for x = 2), W_hc = (0, 0, 0, 2).
fn example_lstm() -> Lstm {
    Lstm::new(
        1,
        1,
        vec![1.0, 1.0, 1.0, 1.0],
        vec![-2.0, -2.0, -2.0, 0.0],
        vec![0.0, 0.0, 0.0, 2.0],
    )
}

fn example_forward(lstm: &Lstm, x: &[f32], cont: &[f32]) -> LstmActivations {
    let mut act = LstmActivations::zeros(2, 1, 1);
    act.gates.fill(f32::NAN);
    act.c.fill(f32::NAN);
    act.h.fill(f32::NAN);
    lstm.forward(&mut act, x, cont);
    act
}

fn conserving(
    lstm: &Lstm,
    x: &[f32],
    cont: &[f32],
    act: &LstmActivations,
    p_h: &[f32],
) -> Vec<f32> {
    let mut p_x = poisoned(x.len());
    lstm.eb_backward_conserving(&mut p_x, x, cont, act, p_h);
    p_x
}

fn original(lstm: &Lstm, x: &[f32], cont: &[f32], act: &LstmActivations, p_h: &[f32]) -> Vec<f32> {
    let mut p_x = poisoned(x.len());
    lstm.eb_backward(&mut p_x, x, cont, act, p_h);
    p_x
}

/// spec/layers/lstm.md, the conserving rule's worked example: 1 on h (0.25 at step 0, 0.75 at
/// step 1) arrives whole at x; the original's rule turns it into 1.3125.
#[test]
fn worked_example_conserves() {
    let lstm = example_lstm();
    let (x, cont) = ([2.0, 2.0], [0.0, 1.0]);
    let act = example_forward(&lstm, &x, &cont); // LSTM-1..LSTM-4
    assert_eq!(act.gates, [0.5, 0.0, 0.5, 2.0, 0.5, 0.5, 0.5, 3.0]);
    assert_eq!(act.c, [1.0, 2.0]);
    assert_eq!(act.h, [0.5, 1.0]);

    // LSTM-9..11: step 1: R_c = 0.75, shares 0.5 / 2 and 1.5 / 2: R_fc = 0.1875, R_g = 0.5625;
    // step 0: R_c = 0.25 + 0.1875 = 0.4375, shares 0 / 1 and 1 / 1: R_g = 0.4375.
    // LSTM-12: z = x = 2 on every gate unit, p_x[t] = x * R_g / z = R_g.
    let p_h = [0.25, 0.75];
    let p_x = conserving(&lstm, &x, &cont, &act, &p_h);
    assert_eq!(p_x, [0.4375, 0.5625]);
    assert_eq!(p_x.iter().sum::<f32>(), 1.0); // LSTM-P6: nothing dropped

    // The original (LSTM-5..7) on the same layer and signal: p_a = [0.15625, 0, 0.0625,
    // 0.15625 | 0.28125, 0.09375, 0.375, 0.1875].
    let p_x = original(&lstm, &x, &cont, &act, &p_h);
    assert_eq!(p_x, [0.375, 0.9375]);
    assert_eq!(p_x.iter().sum::<f32>(), 1.3125);
}

/// The example with x = (0, 2): c_0 = 0 (g = relu(0) = 0, f = 0), so step 0's 0.25 on h_0 is
/// dropped at the cell (LSTM-9), and step 1's f c_0 = 0 sends nothing back.
#[test]
fn worked_example_drops_the_signal_of_a_zero_cell() {
    let lstm = example_lstm();
    let (x, cont) = ([0.0, 2.0], [0.0, 1.0]);
    let act = example_forward(&lstm, &x, &cont);
    assert_eq!((act.gates[1], act.gates[3]), (0.0, 0.0)); // f_0 = 0 (cont), g_0 = 0
    assert_eq!(act.gates[4..], [0.5, 0.5, 0.5, 2.0]);
    assert_eq!(act.c, [0.0, 1.0]);
    assert_eq!(act.h, [0.0, 0.5]);
    // step 1: R_c = 0.75, shares 0 / 1 and 1 / 1: R_g = 0.75; step 0: c = 0, 0.25 dropped.
    let p_x = conserving(&lstm, &x, &cont, &act, &[0.25, 0.75]);
    assert_eq!(p_x, [0.0, 0.75]);
}

/// The example with x = (2, 0): at step 1, i = f = sigmoid(-2) (not exact, but equal), g =
/// relu(0 + 2 h_0) = 1 and c_0 = 1, so f c_0 = i g and each share is exactly 0.5. The g unit of
/// step 1 has z = x_1 W_xc+ = 0: W_xc drops its 0.375 (EB-2).
#[test]
fn worked_example_drops_the_signal_of_a_zero_normalizer_in_w_xc() {
    let lstm = example_lstm();
    let (x, cont) = ([2.0, 0.0], [0.0, 1.0]);
    let act = example_forward(&lstm, &x, &cont);
    assert_eq!(act.gates[..4], [0.5, 0.0, 0.5, 2.0]);
    assert_eq!(act.gates[4], act.gates[5]); // i_1 = f_1 = sigmoid(-2)
    assert_eq!(act.gates[7], 1.0);
    assert_eq!(act.c[1], 2.0 * act.gates[4]);
    // step 1: R_c = 0.75, R_fc = R_g = 0.375, the latter dropped by W_xc (z = 0);
    // step 0: R_c = 0.25 + 0.375 = 0.625, all to g: p_x[0] = 0.625.
    let p_x = conserving(&lstm, &x, &cont, &act, &[0.25, 0.75]);
    assert_eq!(p_x, [0.625, 0.0]);
}

/// The example with cont = (0, 0): step 1 starts a new sequence (f_1 = 0), so its whole
/// signal stays at step 1 (LSTM-P9).
#[test]
fn worked_example_clip_marker_cuts_the_past() {
    let lstm = example_lstm();
    let (x, cont) = ([2.0, 2.0], [0.0, 0.0]);
    let act = example_forward(&lstm, &x, &cont);
    assert_eq!(act.c, [1.0, 1.0]);
    let p_x = conserving(&lstm, &x, &cont, &act, &[0.0, 1.0]);
    assert_eq!(p_x, [0.0, 1.0]);
}

// ---------------------------------------------------------------------------------------------
// 2. The layer: random cases
// ---------------------------------------------------------------------------------------------

/// |N(0, 1)| by Box-Muller.
fn half_normal() -> impl Strategy<Value = f32> {
    (1e-9f64..1.0, 0.0f64..1.0)
        .prop_map(|(u1, u2)| ((-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()).abs() as f32)
}

/// A post-ReLU activation: about 30% exact zeros, else uniform [0, 2) or |N(0, 1)|.
fn activation() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => Just(0.0f32),
        4 => 0.0f32..2.0,
        3 => half_normal(),
    ]
}

/// A weight, a bias or a signed signal.
fn signed() -> impl Strategy<Value = f32> {
    -1.0f32..1.0
}

/// A non-negative signal with some exact zeros.
fn non_negative() -> impl Strategy<Value = f32> {
    prop_oneof![1 => Just(0.0f32), 3 => 0.0f32..1.0]
}

fn vec_of<S: Strategy<Value = f32>>(values: S, len: usize) -> impl Strategy<Value = Vec<f32>> {
    proptest::collection::vec(values, len)
}

/// A case together with more values drawn for its shapes.
fn and<C, S, F>(cases: impl Strategy<Value = C>, more: F) -> impl Strategy<Value = (C, S::Value)>
where
    C: Clone + Debug,
    S: Strategy,
    F: Fn(&C) -> S,
{
    cases.prop_flat_map(move |case| (Just(case.clone()), more(&case)))
}

#[derive(Clone, Debug)]
struct LstmCase {
    lstm: Lstm,
    /// T
    steps: usize,
    /// N
    streams: usize,
    /// x: (T, N, D), post-ReLU
    x: Vec<f32>,
    /// cont: (T, N): 0 at step 0 of every stream (the demo's markers), then 0 (a restart) or 1
    cont: Vec<f32>,
}

impl LstmCase {
    /// T*N*H: the length of a signal on h.
    fn h_len(&self) -> usize {
        self.steps * self.streams * self.lstm.hidden
    }
    fn forward(&self) -> LstmActivations {
        let mut act = LstmActivations::zeros(self.steps, self.streams, self.lstm.hidden);
        act.gates.fill(f32::NAN);
        act.c.fill(f32::NAN);
        act.h.fill(f32::NAN);
        self.lstm.forward(&mut act, &self.x, &self.cont);
        act
    }
    fn eb(&self, act: &LstmActivations, p_h: &[f32]) -> Vec<f32> {
        conserving(&self.lstm, &self.x, &self.cont, act, p_h)
    }
}

fn lstm_case() -> impl Strategy<Value = LstmCase> {
    // (D, H, T, N)
    (1usize..=4, 1usize..=3, 1usize..=6, 1usize..=3)
        .prop_flat_map(|(d, h, steps, streams)| {
            (
                Just((d, h, steps, streams)),
                vec_of(signed(), 4 * h * d),
                vec_of(signed(), 4 * h),
                vec_of(signed(), 4 * h * h),
                vec_of(activation(), steps * streams * d),
                vec_of(
                    prop_oneof![2 => Just(0.0f32), 8 => Just(1.0f32)],
                    steps * streams,
                ),
            )
        })
        .prop_map(|((d, h, steps, streams), w_xc, b_c, w_hc, x, mut cont)| {
            cont[..streams].fill(0.0);
            LstmCase {
                lstm: Lstm::new(d, h, w_xc, b_c, w_hc),
                steps,
                streams,
                x,
                cont,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// LSTM-9..LSTM-12: the f32 rule equals the f64 reference written from the equations,
    /// elementwise within LAYER_CHAIN of the size of the terms (the reference on |p_h|).
    #[test]
    fn conserving_eb_agrees_with_the_f64_reference(
        (case, p_h) in and(lstm_case(), |c| vec_of(signed(), c.h_len()))
    ) {
        let act = case.forward();
        let want = reference(&case.lstm, &case.x, &act, &p_h);
        let size = reference(&case.lstm, &case.x, &act, &abs(&p_h));
        assert_within_bound(
            "conserving lstm", &case.eb(&act, &p_h), &f32s(&want.p_x), &f32s(&size.p_x), LAYER_CHAIN,
        );
    }

    /// LSTM-P6: with x >= 0 and p_h >= 0, sum(p_x) = sum(p_h) - (the signal on the cells with
    /// c_t == 0, i.e. p_h there) - (the gate signal of W_xc's units with z == 0). Both drops
    /// are computed here: the first from the forward activations alone (where c_t == 0 the
    /// carry is 0, so the cell's whole signal is p_h[t]), the second from the reference's
    /// gate signal and z = x W_xc+^T.
    #[test]
    fn conserving_eb_conserves_all_but_what_zero_normalizers_drop_lstm_p6(
        (case, p_h) in and(lstm_case(), |c| vec_of(non_negative(), c.h_len()))
    ) {
        let act = case.forward();
        let r = reference(&case.lstm, &case.x, &act, &p_h);
        let at_zero_cells: f64 = act.c.iter().zip(&p_h)
            .filter(|(&c, _)| c == 0.0).map(|(_, &p)| p as f64).sum();
        // no subnormal cells in these cases: only c == 0 is unusable
        prop_assert!((r.dropped_at_c - at_zero_cells).abs() <= LAYER_CHAIN as f64 * sum64(&p_h),
            "dropped at the cells {} vs p_h where c == 0: {at_zero_cells}", r.dropped_at_c);
        let want = sum64(&p_h) - at_zero_cells - r.dropped_at_z;
        let got = sum64(&case.eb(&act, &p_h));
        prop_assert!((got - want).abs() <= LAYER_CHAIN as f64 * sum64(&p_h),
            "sum(p_x) = {got}, sum(p_h) = {} minus {at_zero_cells} (cells) and {} (W_xc) = {want}",
            sum64(&p_h), r.dropped_at_z);
    }

    /// LSTM-P7: x >= 0 and p_h >= 0 give p_x >= 0 (no NaN).
    #[test]
    fn conserving_eb_keeps_a_non_negative_signal_non_negative_lstm_p7(
        (case, p_h) in and(lstm_case(), |c| vec_of(non_negative(), c.h_len()))
    ) {
        let act = case.forward();
        let p_x = case.eb(&act, &p_h);
        if let Some(i) = p_x.iter().position(|&v| v < 0.0 || v.is_nan()) {
            prop_assert!(false, "p_x[{i}] = {}", p_x[i]);
        }
    }

    /// LSTM-P8: linear in p_h: eb(a s1 + b s2) = a eb(s1) + b eb(s2), within LAYER_CHAIN of
    /// the size of the terms |a| eb(|s1|) + |b| eb(|s2|).
    #[test]
    fn conserving_eb_is_linear_in_the_signal_lstm_p8(
        (case, (s1, s2, a, b)) in and(lstm_case(), |c| (
            vec_of(signed(), c.h_len()), vec_of(signed(), c.h_len()), -2.0f32..2.0, -2.0f32..2.0,
        ))
    ) {
        let act = case.forward();
        let mix = |u: &[f32], v: &[f32], a: f32, b: f32| -> Vec<f32> {
            u.iter().zip(v).map(|(x, y)| a * x + b * y).collect()
        };
        let got = case.eb(&act, &mix(&s1, &s2, a, b));
        let want = mix(&case.eb(&act, &s1), &case.eb(&act, &s2), a, b);
        let size = mix(&case.eb(&act, &abs(&s1)), &case.eb(&act, &abs(&s2)), a.abs(), b.abs());
        assert_within_bound("conserving lstm linearity", &got, &want, &size, LAYER_CHAIN);
    }

    /// LSTM-P9: a signal on h up to step `last` reaches x only at steps <= last (exactly 0
    /// after).
    #[test]
    fn conserving_signal_on_h_t_reaches_only_x_up_to_t_lstm_p9(
        (case, (p_h, last)) in and(lstm_case(), |c| (vec_of(signed(), c.h_len()), 0..c.steps))
    ) {
        let (n_n, h_n, d_n) = (case.streams, case.lstm.hidden, case.lstm.inputs);
        let mut p_h = p_h;
        p_h[(last + 1) * n_n * h_n..].fill(0.0);
        let act = case.forward();
        let p_x = case.eb(&act, &p_h);
        if let Some(i) = p_x[(last + 1) * n_n * d_n..].iter().position(|&v| v != 0.0) {
            prop_assert!(false, "signal up to step {last} reaches step {}", last + 1 + i / (n_n * d_n));
        }
    }

    /// LSTM-P9: with cont = 0 at step r of stream s (a restart), a signal at steps >= r gives
    /// exactly 0 at the steps < r of stream s (f_r = 0 carries nothing to c_{r-1}).
    #[test]
    fn conserving_sequence_start_stops_the_signal_lstm_p9(
        (case, (p_h, r, s)) in and(
            lstm_case().prop_filter("needs two steps", |c| c.steps >= 2),
            |c| (vec_of(signed(), c.h_len()), 1..c.steps, 0..c.streams),
        )
    ) {
        let mut case = case;
        case.cont[r * case.streams + s] = 0.0;
        let (n_n, h_n, d_n) = (case.streams, case.lstm.hidden, case.lstm.inputs);
        let mut p_h = p_h;
        p_h[..r * n_n * h_n].fill(0.0);
        let act = case.forward();
        let p_x = case.eb(&act, &p_h);
        for t in 0..r {
            let x_ts = &p_x[(t * n_n + s) * d_n..(t * n_n + s + 1) * d_n];
            prop_assert!(x_ts.iter().all(|&v| v == 0.0),
                "cont = 0 at step {r} of stream {s}, yet step {t} receives {x_ts:?}");
        }
    }

    /// LSTM-P9: a signal on stream s reaches only stream s.
    #[test]
    fn conserving_streams_are_independent_lstm_p9(
        (case, (p_h, s)) in and(
            lstm_case().prop_filter("needs two streams", |c| c.streams >= 2),
            |c| (vec_of(signed(), c.h_len()), 0..c.streams),
        )
    ) {
        let (t_n, n_n, h_n, d_n) = (case.steps, case.streams, case.lstm.hidden, case.lstm.inputs);
        let mut p_h = p_h;
        for t in 0..t_n {
            for other in (0..n_n).filter(|&o| o != s) {
                p_h[(t * n_n + other) * h_n..(t * n_n + other + 1) * h_n].fill(0.0);
            }
        }
        let act = case.forward();
        let p_x = case.eb(&act, &p_h);
        for t in 0..t_n {
            for other in (0..n_n).filter(|&o| o != s) {
                let x_to = &p_x[(t * n_n + other) * d_n..(t * n_n + other + 1) * d_n];
                prop_assert!(x_to.iter().all(|&v| v == 0.0),
                    "a signal on stream {s} reaches stream {other} at step {t}: {x_to:?}");
            }
        }
    }

    /// EB-3 through W_xc: an input that is exactly 0 receives exactly 0 (signed signal).
    #[test]
    fn conserving_eb_gives_nothing_to_a_zero_input(
        (case, p_h) in and(lstm_case(), |c| vec_of(signed(), c.h_len()))
    ) {
        let act = case.forward();
        let p_x = case.eb(&act, &p_h);
        for (i, (&p, &x)) in p_x.iter().zip(&case.x).enumerate() {
            prop_assert!(x != 0.0 || p == 0.0, "x[{i}] = 0 receives {p}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The whole network: attMap1 = the prior's mass minus the drops
// ---------------------------------------------------------------------------------------------

/// What EB from `prior` on the logits drops on the way to the feature blob, in f64 from the
/// f32 forward pass: the classifier's units with z = h W_cls+^T unusable (EB-2), then per
/// temporal layer from the top: an LSTM's cells and W_xc units (LSTM-9, LSTM-12; `reference`),
/// a mean-pool's units with z = y T unusable (MEAN-2). Returns (the signal at the feature
/// blob, the total dropped).
fn reference_chain(
    model: &Model,
    fwd: &ClipForward,
    classifier: &Fc,
    prior: &[f32],
) -> (Vec<f64>, f64) {
    let (steps, width) = fwd.temporal.output_size();
    let h = &fwd.temporal.output; // (S, H')
    let k_n = classifier.outputs;
    let mut dropped = 0.0f64;
    // the classifier: EB-1..EB-3 per step
    let mut p = vec![0.0f64; steps * width];
    for s in 0..steps {
        for k in 0..k_n {
            let w_plus = |j: usize| classifier.w[k * width + j].max(0.0) as f64;
            let prior_sk = prior[s * k_n + k] as f64;
            let z: f64 = (0..width)
                .map(|j| h[s * width + j] as f64 * w_plus(j))
                .sum();
            if !usable(z) {
                dropped += prior_sk;
                continue;
            }
            for j in 0..width {
                p[s * width + j] += h[s * width + j] as f64 * w_plus(j) * prior_sk / z;
            }
        }
    }
    for (l, layer) in model.temporal.iter().enumerate().rev() {
        let x = &fwd.temporal.inputs[l];
        let (t_n, d) = fwd.temporal.sizes[l];
        p = match (layer, &fwd.temporal.activations[l]) {
            (TemporalLayer::Lstm { lstm, .. }, TemporalActivations::Lstm(act)) => {
                // the reference reads p_h as f32: the signal entering the layer, rounded once
                let r = reference(lstm, x, act, &f32s(&p));
                dropped += r.dropped_at_c + r.dropped_at_z;
                r.p_x
            }
            (TemporalLayer::MeanPool, TemporalActivations::MeanPool(mean)) => {
                let mut p_x = vec![0.0f64; t_n * d];
                for u in 0..d {
                    let z = mean[u] as f64 * t_n as f64;
                    if !usable(z) {
                        dropped += p[u];
                        continue;
                    }
                    for t in 0..t_n {
                        p_x[t * d + u] = x[t * d + u] as f64 * p[u] / z;
                    }
                }
                p_x
            }
            _ => unreachable!("activations of another layer kind"),
        };
    }
    (p, dropped)
}

/// Temporal stacks of the random models.
#[derive(Clone, Copy, Debug)]
enum TemporalDraw {
    Lstm(usize),
    TwoLstms(usize, usize),
    MeanPool,
    MeanPoolThenLstm(usize),
    LstmThenMeanPool(usize),
}

fn temporal_draw() -> impl Strategy<Value = TemporalDraw> {
    prop_oneof![
        3 => (1usize..=4).prop_map(TemporalDraw::Lstm),
        3 => (1usize..=4, 1usize..=4).prop_map(|(a, b)| TemporalDraw::TwoLstms(a, b)),
        1 => Just(TemporalDraw::MeanPool),
        1 => (1usize..=4).prop_map(TemporalDraw::MeanPoolThenLstm),
        1 => (1usize..=4).prop_map(TemporalDraw::LstmThenMeanPool),
    ]
}

/// A small model.json: conv (kernel 1..3, pad 0..1), ReLU, maybe a max pooling, fc7 with its
/// ReLU (the feature blob, 1..8 units), the temporal stack, a classifier of 2..4 classes.
/// The CNN only makes the features; the properties are about the temporal part.
fn model_spec(
    (channels, height, width): (usize, usize, usize),
    (out, kernel, pad, pool): (usize, usize, usize, bool),
    features: usize,
    temporal: TemporalDraw,
    classes: usize,
) -> ModelSpec {
    let mut frame = vec![
        FrameLayerSpec::Conv {
            name: "conv1".into(),
            out,
            kernel,
            stride: 1,
            pad,
            bias: true,
        },
        FrameLayerSpec::Relu,
    ];
    if pool {
        frame.push(FrameLayerSpec::MaxPool {
            name: Some("pool1".into()),
            kernel: 2,
            stride: 2,
            pad: 0,
        });
    }
    frame.push(FrameLayerSpec::Fc {
        name: "fc7".into(),
        out: features,
        bias: true,
    });
    frame.push(FrameLayerSpec::Relu);
    let lstm = |name: &str, hidden| TemporalLayerSpec::Lstm {
        name: name.into(),
        hidden,
    };
    let temporal = match temporal {
        TemporalDraw::Lstm(a) => vec![lstm("lstm1", a)],
        TemporalDraw::TwoLstms(a, b) => vec![lstm("lstm1", a), lstm("lstm2", b)],
        TemporalDraw::MeanPool => vec![TemporalLayerSpec::MeanPool],
        TemporalDraw::MeanPoolThenLstm(a) => vec![TemporalLayerSpec::MeanPool, lstm("lstm1", a)],
        TemporalDraw::LstmThenMeanPool(a) => vec![lstm("lstm1", a), TemporalLayerSpec::MeanPool],
    };
    ModelSpec {
        name: "random".into(),
        input: InputSpec {
            channels,
            height,
            width,
            resize: None,
            scale: 1.0,
            channel_order: ChannelOrder::Bgr,
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        },
        frame,
        temporal,
        classifier: FcSpec {
            name: "fc8".into(),
            out: classes,
            bias: true,
        },
        frame_classifier: None,
        captioner: None,
        labels: (0..classes).map(|k| k.to_string()).collect(),
    }
}

/// `Model::random` leaves every bias at 0; random biases make dead features, zero cells
/// (a_g <= 0) and saturated gates, i.e. the drops this file is about.
fn with_random_biases(mut model: Model, seed: u64) -> Model {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(0x0b1a5));
    let mut randomize = |b: &mut Option<Vec<f32>>| {
        if let Some(b) = b {
            b.iter_mut().for_each(|v| *v = rng.gen_range(-0.5f32..0.5));
        }
    };
    for layer in &mut model.frame.layers {
        match layer {
            FrameLayer::Conv { conv, .. } => randomize(&mut conv.b),
            FrameLayer::Fc { fc, .. } => randomize(&mut fc.b),
            _ => {}
        }
    }
    for layer in &mut model.temporal {
        if let TemporalLayer::Lstm { lstm, .. } = layer {
            randomize(&mut lstm.input_transform.b);
        }
    }
    randomize(&mut model.classifier.fc.b);
    model
}

#[derive(Clone, Debug)]
struct ModelCase {
    spec: ModelSpec,
    seed: u64,
    /// T
    frames: usize,
    /// clip: (T, C, H, W), signed
    clip: Vec<f32>,
    class: usize,
    prior: Prior,
}

fn model_case() -> impl Strategy<Value = ModelCase> {
    (
        (prop_oneof![Just(1usize), Just(3)], 4usize..=6, 4usize..=6),
        (1usize..=3, 1usize..=3, 0usize..=1, any::<bool>()),
        1usize..=8,
        temporal_draw(),
        2usize..=4,
        1usize..=6,
    )
        .prop_flat_map(|(input, conv, features, temporal, classes, frames)| {
            let spec = model_spec(input, conv, features, temporal, classes);
            let len = frames * input.0 * input.1 * input.2;
            (
                Just(spec),
                any::<u64>(),
                Just(frames),
                proptest::collection::vec(-2.0f32..2.0, len),
                0..classes,
                prop_oneof![Just(Prior::Last), Just(Prior::All)],
            )
        })
        .prop_map(|(spec, seed, frames, clip, class, prior)| ModelCase {
            spec,
            seed,
            frames,
            clip,
            class,
            prior,
        })
}

fn no_progress(_: usize) {}

fn conserving_options(class: usize, prior: Prior) -> Options {
    Options {
        method: Method::Ebr,
        class,
        layer: "conv1".to_string(),
        prior,
        normalization: Normalization::Paper,
        lstm_rule: LstmEbRule::Conserving,
    }
}

/// Checks attMap1 and attMap2 of `a` (and their norms) against the prior's mass minus the
/// reference's drops; returns (sum, drops) of attMap1 and of attMap2.
fn check_mass(
    model: &Model,
    fwd: &ClipForward,
    a: &TemporalAttention,
    prior: &[f32],
) -> [(f64, f64); 2] {
    let mass = sum64(prior);
    let dual = model.classifier.fc.negated();
    let mut checked = [(0.0, 0.0); 2];
    for (m, (what, classifier, signal, norm)) in [
        ("attMap1", &model.classifier.fc, &a.signal, a.norm),
        ("attMap2", &dual, &a.dual_signal, a.dual_norm),
    ]
    .into_iter()
    .enumerate()
    {
        let (_, dropped) = reference_chain(model, fwd, classifier, prior);
        let want = mass - dropped;
        let got = sum64(signal);
        assert!(
            (got - want).abs() <= STACK_CONSERVATION * mass,
            "{what}: sum {got}, want the prior's {mass} minus {dropped} dropped = {want}"
        );
        assert!(
            (norm as f64 - want).abs() <= STACK_CONSERVATION * mass,
            "{what}: norm {norm}, want {want}"
        );
        checked[m] = (got, dropped);
    }
    checked
}

proptest! {
    #![proptest_config(ProptestConfig { cases: MODEL_CASES, ..ProptestConfig::default() })]

    /// PIPE-4 with the conserving rule (LSTM-P6 through the stack): attMap1 and attMap2 sum to
    /// the prior's mass (1 for "last", S for "all") minus what the zero normalizers drop in
    /// the classifier, the LSTM cells, W_xc and a mean-pool, computed by the f64 reference;
    /// `TemporalAttention::norm` and `dual_norm` report the same. Also: attMap1 >= 0.
    #[test]
    fn conserving_attmap_sums_to_the_prior_minus_the_drops(case in model_case()) {
        let model = Model::random(&case.spec, case.seed, Path::new("random"))
            .unwrap_or_else(|e| panic!("the generated spec does not build: {e}"));
        let model = with_random_biases(model, case.seed);
        let fwd = forward_clip(&model, &case.clip, case.frames, &Execution::default(), None, &no_progress);
        let a = temporal_attention(&model, &fwd, &conserving_options(case.class, case.prior));
        let prior = one_hot_prior(fwd.steps(), model.classes(), case.class, case.prior);
        check_mass(&model, &fwd, &a, &prior);
        if let Some(i) = a.signal.iter().position(|&v| v < 0.0 || v.is_nan()) {
            prop_assert!(false, "attMap1[{i}] = {}", a.signal[i]);
        }
    }
}

/// The attMap sums of the fixture's CNN-LSTM for both rules, prior "last", every class. The
/// original's (attMap1: 7.3 for class 3, 8.0 for class 7; spec/layers/lstm.md LSTM-P3) are
/// far from 1; the conserving rule's are 1 minus what its zero normalizers drop, and on this
/// clip nothing is dropped, for any class: both sum to 1 within STACK_CONSERVATION. The values
/// printed here are quoted in spec/layers/lstm.md.
#[test]
fn tiny_cnn_lstm_conserving_attmap_sums_to_one_minus_the_drops() {
    let case = "tiny_cnn_lstm";
    let model = Model::load(&caffe_case(case)).unwrap_or_else(|e| panic!("{e}"));
    let clip = load(case, "input");
    let frames = clip.shape[0];
    let fwd = forward_clip(
        &model,
        &clip.data,
        frames,
        &Execution::default(),
        None,
        &no_progress,
    );
    for class in 0..model.classes() {
        let prior = one_hot_prior(fwd.steps(), model.classes(), class, Prior::Last);
        let a = temporal_attention(&model, &fwd, &conserving_options(class, Prior::Last));
        let [(got, dropped), (dual_got, dual_dropped)] = check_mass(&model, &fwd, &a, &prior);
        assert_eq!(
            (dropped, dual_dropped),
            (0.0, 0.0),
            "class {class}: the fixture drops nothing"
        );
        let original = temporal_attention(
            &model,
            &fwd,
            &Options {
                lstm_rule: LstmEbRule::Original,
                ..conserving_options(class, Prior::Last)
            },
        );
        println!(
            "class {class}: conserving attMap1 sums to {got:.9}, attMap2 to {dual_got:.9}; \
             original attMap1 {:.4}, attMap2 {:.4}",
            original.norm, original.dual_norm
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Through the binary
// ---------------------------------------------------------------------------------------------

/// `ebr ground --lstm-rule conserving` on the fixture: cEB-R and EB-R write finite maps of the
/// clip's shape, different from the original rule's.
#[test]
fn ground_with_the_conserving_rule_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let model = caffe_case("tiny_cnn_lstm");
    let clip = model.join("input.npy");
    let run = |method: &str, rule: &str| {
        let out = dir.path().join(format!("{method}_{rule}"));
        let status = Command::new(env!("CARGO_BIN_EXE_ebr"))
            .args([
                "ground",
                "--model",
                model.to_str().unwrap(),
                "--clip",
                clip.to_str().unwrap(),
                "--target",
                "3",
                "--method",
                method,
                "--layer",
                "conv2",
                "--lstm-rule",
                rule,
                "--out",
                out.to_str().unwrap(),
                "--quiet",
                "--no-overlays",
            ])
            .output()
            .expect("the ebr binary runs");
        assert!(
            status.status.success(),
            "ebr ground --method {method} --lstm-rule {rule}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        read_tensor(&out.join("maps.npy")).unwrap()
    };
    for method in ["cebr", "ebr"] {
        let maps = run(method, "conserving");
        assert_eq!(
            maps.shape,
            [8, 16, 16],
            "{method}: maps are (T, H, W) at conv2"
        );
        assert!(
            maps.data.iter().all(|v| v.is_finite()),
            "{method}: a map value is not finite"
        );
        assert!(maps.data.iter().any(|&v| v != 0.0), "{method}: all zero");
        let original = run(method, "original");
        assert_ne!(
            maps.data, original.data,
            "{method}: the option changed nothing"
        );
    }
}
