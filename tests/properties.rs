//! Property tests of the layers: what the EB and gradient rules of ORIGINAL.md sections 1-2
//! imply, checked over random shapes (odd sizes, stride > 1, padding, kernel 1..5, T = 1, N > 1
//! frames or streams) and values (post-ReLU-like inputs with about 30% exact zeros, signed
//! weights, signed or non-negative signals).
//!
//! Expected values come from the definition, computed here (a naive f64 forward, a layer built
//! with W+ and no bias, a naive window scan, a finite difference), or from a relation between
//! separate calls (linearity); never from the call under test itself. Every output is poisoned
//! with NaN first. Every tolerance is a named constant with its reason; most are bounds
//! relative to the same sum taken over absolute values, so cancellation cannot make a correct
//! result fail.
//!
//! proptest keeps any shrunk failure in tests/properties.proptest-regressions and replays it
//! first on every run; once understood, a failure also becomes a named `regression_` test at
//! the end. The LSTM statements are tagged LSTM-P1..P5 as in spec/layers/lstm.md.
//!
//! The whole file runs in about a second in release mode: CASES random cases per property,
//! tiny shapes. `PROPTEST_CASES` does not override CASES; to search harder, raise CASES locally.

mod common;

use std::f64::consts::PI;
use std::fmt::Debug;
use std::ops::Range;

use common::{assert_within_bound, load, poisoned};
use ebr::layers::{
    AvgPool, Conv, ConvGeometry, Fc, Lstm, LstmActivations, MaxPool, MeanPool, PoolGeometry, Relu,
    Softmax,
};
use proptest::prelude::*;

/// Random cases per property (each takes microseconds).
const CASES: u32 = 1024;

/// Random cases per LSTM property that runs the f64 reference (finite differences need two
/// forwards per input value).
const LSTM_CASES: u32 = 512;

// ---------------------------------------------------------------------------------------------
// Tolerances
// ---------------------------------------------------------------------------------------------

/// Conservation, relative to the conserved sum (the figure). Every term is
/// non-negative, so the f32 error is at most (terms per sum) * u, u = 2^-24 ≈ 6e-8: under 200
/// terms here (conv: C*K*K = 75 for Z, O*K*K = 100 back) gives 1.2e-5. 1e-4 still catches
/// one unit's share lost or counted twice.
const CONSERVATION: f64 = 1e-4;

/// Relative to the same computation over absolute values (the size of the summed terms): a
/// chain of n f32 roundings errs by at most about n * u. The longest chains here are under 300
/// roundings (conv EB: 75 terms for Z, 100 for the transpose, the ratio, the product with x,
/// a*s1 + b*s2; the LSTM: 3 per step for T <= 4, then 4H <= 12 terms), 300 u = 1.8e-5. Used
/// for linearity, the EB identity, and the gradient checks of the linear layers and max pool
/// (their f32 forward sums and the f32 sums in dx).
const SUM_ROUNDING: f32 = 2e-5;

/// The relu gradient check: the f32 outputs and the gradient are exact copies or masks, so only
/// f64 sums of fewer than 1000 products remain: 1000 * 1.1e-16.
const F64_ROUNDING: f64 = 1e-12;

/// Softmax in f32 against the f64 reference, relative to the size of the terms: the argument
/// x - max is rounded by at most 8u (|x| <= 4), exp adds a few ulp (f32 exp is not correctly
/// rounded), then a sum of C <= 6 terms and a division: about 20 u = 1.2e-6; the f64 central
/// difference adds h^2 ≈ 1e-8 (truncation) and 1e-16 / h ≈ 1e-12 (rounding). 1e-5.
const SOFTMAX_F32: f32 = 1e-5;

/// Softmax finite-difference step (f64): see SOFTMAX_F32.
const SOFTMAX_STEP: f64 = 1e-4;

/// The f32 LSTM forward (gates, c, h) against the f64 reference, relative to the case's size
/// (the largest sum of absolute terms of a gate pre-activation, or the largest cell): each
/// pre-activation sums D + H + 1 <= 8 terms (8 u = 5e-7 of the size), and up to T = 4 steps
/// carry that error on through c and h (a few times more). 1e-5; observed at most 3e-7 over
/// 30000 cases.
const LSTM_FORWARD: f32 = 1e-5;

/// The f32 LSTM gradient against f64 central differences, relative to the size of the
/// gradient's terms (`lstm_gradient_size`): the forward's error (LSTM_FORWARD) through the
/// backward's products and sums of 4H <= 12 and H <= 3 terms per step, plus the difference's
/// own error (LSTM_STEP). 1e-5; observed at most 3e-7 over 30000 cases.
const LSTM_GRAD: f32 = 1e-5;

/// LSTM finite-difference step (f64): truncation h^2 ≈ 1e-12, rounding 1e-16 / h ≈ 1e-10.
const LSTM_STEP: f64 = 1e-6;

/// The finite difference is only valid away from the ReLU kink of g = relu(a_g): cases with
/// some |a_g| below this are skipped. A step of LSTM_STEP moves a_g by at most
/// LSTM_STEP * (D + H) * |w| ≈ 1e-5, far below it (c = 0 happens only with g = 0, see the test).
const LSTM_KINK_MARGIN: f64 = 1e-3;

/// Spacing of the distinct max-pool inputs of the gradient check: every tie is at least this
/// far away, and the step of the finite difference is a quarter of it.
const TIE_GAP: f32 = 0.25;

/// Smallest |x| of a non-zero relu input in the gradient check; the step is half of it, so no
/// input crosses the kink at 0.
const KINK_GAP: f32 = 0.1;

/// LSTM-P3: the unit's backward changes the sum of the signal by far more than rounding
/// (ONE_LAYER = 1e-5 in tests/caffe_layers.rs): the relative change must exceed 1e-3.
const NOT_CONSERVED: f64 = 1e-3;

// ---------------------------------------------------------------------------------------------
// Value strategies
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

/// A weight or a signed signal.
fn signed() -> impl Strategy<Value = f32> {
    -1.0f32..1.0
}

/// A non-negative signal with some exact zeros.
fn non_negative() -> impl Strategy<Value = f32> {
    prop_oneof![1 => Just(0.0f32), 3 => 0.0f32..1.0]
}

/// A scalar coefficient of the linearity tests.
fn coefficient() -> impl Strategy<Value = f32> {
    -2.0f32..2.0
}

fn vec_of<S: Strategy<Value = f32>>(values: S, len: usize) -> impl Strategy<Value = Vec<f32>> {
    proptest::collection::vec(values, len)
}

/// What a layer's input looks like.
#[derive(Clone, Copy, Debug)]
enum Inputs {
    /// After a ReLU: >= 0 with about 30% exact zeros.
    PostRelu,
    /// Signed, as the mean-subtracted image the first convolution sees.
    Signed,
}

fn inputs(kind: Inputs, len: usize) -> BoxedStrategy<Vec<f32>> {
    match kind {
        Inputs::PostRelu => vec_of(activation(), len).boxed(),
        Inputs::Signed => vec_of(-2.0f32..2.0, len).boxed(),
    }
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

// ---------------------------------------------------------------------------------------------
// Cases: a layer and its forward input
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct ConvCase {
    conv: Conv,
    /// N: frames.
    n: usize,
    /// x: (N, C, H, W)
    x: Vec<f32>,
}

impl ConvCase {
    fn out_len(&self) -> usize {
        self.n * self.conv.geometry.out_len()
    }
    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = poisoned(self.out_len());
        self.conv.forward(&mut y, x, self.n);
        y
    }
    fn eb(&self, p_top: &[f32]) -> Vec<f32> {
        let mut p_bottom = poisoned(self.x.len());
        self.conv.eb_backward(&mut p_bottom, &self.x, p_top, self.n);
        p_bottom
    }
    /// The same convolution with W+ and no bias: its forward is the normalizer Z (EB-1).
    fn excitatory(&self) -> Conv {
        Conv::new(self.conv.geometry, self.conv.w_plus.clone(), None)
    }
}

fn conv_geometry() -> impl Strategy<Value = ConvGeometry> {
    // (kernel, stride, pad, C, O, extra rows, extra columns)
    (
        1usize..=5,
        1usize..=3,
        0usize..=2,
        1usize..=3,
        1usize..=4,
        0usize..=4,
        0usize..=4,
    )
        .prop_map(|(kernel, stride, pad, c, o, extra_h, extra_w)| {
            // the smallest input the kernel fits in: K <= H + 2P
            let least = kernel.saturating_sub(2 * pad).max(1);
            ConvGeometry::new(c, least + extra_h, least + extra_w, o, kernel, stride, pad).unwrap()
        })
}

fn conv_case(kind: Inputs) -> impl Strategy<Value = ConvCase> {
    (conv_geometry(), 1usize..=2)
        .prop_flat_map(move |(g, n)| {
            let w_len = g.out_channels * g.in_channels * g.kernel * g.kernel;
            (
                Just(g),
                Just(n),
                vec_of(signed(), w_len),
                proptest::option::of(vec_of(signed(), g.out_channels)),
                inputs(kind, n * g.in_len()),
            )
        })
        .prop_map(|(g, n, w, b, x)| ConvCase {
            conv: Conv::new(g, w, b),
            n,
            x,
        })
}

#[derive(Clone, Debug)]
struct FcCase {
    fc: Fc,
    /// M: independent rows (frames, or T*N steps and streams).
    rows: usize,
    /// x: (M, D)
    x: Vec<f32>,
}

impl FcCase {
    fn out_len(&self) -> usize {
        self.rows * self.fc.outputs
    }
    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = poisoned(self.out_len());
        self.fc.forward(&mut y, x, self.rows);
        y
    }
    fn eb(&self, p_top: &[f32]) -> Vec<f32> {
        let mut p_bottom = poisoned(self.x.len());
        self.fc
            .eb_backward(&mut p_bottom, &self.x, p_top, self.rows);
        p_bottom
    }
    /// The same inner product with W+ and no bias: its forward is Z (EB-1).
    fn excitatory(&self) -> Fc {
        Fc::new(
            self.fc.inputs,
            self.fc.outputs,
            self.fc.w_plus.clone().expect("a small layer keeps its W+"),
            None,
        )
    }
}

fn fc_case(kind: Inputs) -> impl Strategy<Value = FcCase> {
    // (D, O, M)
    (1usize..=6, 1usize..=5, 1usize..=4)
        .prop_flat_map(move |(d, o, rows)| {
            (
                Just((d, o, rows)),
                vec_of(signed(), o * d),
                proptest::option::of(vec_of(signed(), o)),
                inputs(kind, rows * d),
            )
        })
        .prop_map(|((d, o, rows), w, b, x)| FcCase {
            fc: Fc::new(d, o, w, b),
            rows,
            x,
        })
}

#[derive(Clone, Debug)]
struct PoolCase {
    g: PoolGeometry,
    /// N: frames.
    n: usize,
    /// x: (N, C, H, W)
    x: Vec<f32>,
}

impl PoolCase {
    fn out_len(&self) -> usize {
        self.n * self.g.out_len()
    }
    fn avg(&self) -> AvgPool {
        AvgPool { geometry: self.g }
    }
    fn max(&self) -> MaxPool {
        MaxPool { geometry: self.g }
    }
    fn avg_forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = poisoned(self.out_len());
        self.avg().forward(&mut y, x, self.n);
        y
    }
    fn avg_eb(&self, p_top: &[f32]) -> Vec<f32> {
        let y = self.avg_forward(&self.x);
        let mut p_bottom = poisoned(self.x.len());
        self.avg()
            .eb_backward(&mut p_bottom, &self.x, &y, p_top, self.n);
        p_bottom
    }
    fn max_eb(&self, p_top: &[f32]) -> Vec<f32> {
        let mut p_bottom = poisoned(self.x.len());
        self.max()
            .eb_backward(&mut p_bottom, &self.x, p_top, self.n);
        p_bottom
    }
}

/// (channels, height, width, kernel, stride, pad) as Caffe's pooling layer takes them: pad <
/// kernel and the kernel fits in the padded input. Some of these have an empty last window
/// (pad = 0, stride > kernel), which PoolGeometry::new must refuse.
fn pool_parameters() -> impl Strategy<Value = (usize, usize, usize, usize, usize, usize)> {
    // (kernel, stride, pad, C, extra rows, extra columns)
    (
        1usize..=5,
        1usize..=3,
        0usize..=2,
        1usize..=3,
        0usize..=4,
        0usize..=4,
    )
        .prop_map(|(kernel, stride, pad, c, extra_h, extra_w)| {
            let pad = pad.min(kernel - 1); // Caffe: pad < kernel
            let least = kernel.saturating_sub(2 * pad).max(1);
            (c, least + extra_h, least + extra_w, kernel, stride, pad)
        })
}

/// Whether every output window of `g` reads at least one input (naive windows, ORIGINAL.md).
fn windows_are_non_empty(g: &PoolGeometry) -> bool {
    let rows = (0..g.out_height())
        .all(|p| !naive_window(p, g.in_height, g.kernel, g.stride, g.pad).is_empty());
    let cols = (0..g.out_width())
        .all(|p| !naive_window(p, g.in_width, g.kernel, g.stride, g.pad).is_empty());
    rows && cols
}

/// The pooling geometries of the layer properties: those PoolGeometry::new accepts. It refuses
/// a last window that would start past the input (pad = 0, stride > kernel), which this file
/// found (`pool_geometry_accepts_no_empty_window` and the regression case at the end).
fn pool_geometry() -> impl Strategy<Value = PoolGeometry> {
    pool_parameters().prop_filter_map("refused by PoolGeometry::new", |(c, h, w, k, s, p)| {
        PoolGeometry::new(c, h, w, k, s, p).ok()
    })
}

fn pool_case_with(
    values: impl Fn(usize) -> BoxedStrategy<Vec<f32>>,
) -> impl Strategy<Value = PoolCase> {
    (pool_geometry(), 1usize..=2)
        .prop_flat_map(move |(g, n)| (Just(g), Just(n), values(n * g.in_len())))
        .prop_map(|(g, n, x)| PoolCase { g, n, x })
}

fn pool_case() -> impl Strategy<Value = PoolCase> {
    pool_case_with(|len| inputs(Inputs::PostRelu, len))
}

/// The rows (or columns) read by output position `p`, from ORIGINAL.md section 1: start =
/// p*S - pad, clipped to [0, len).
fn naive_window(p: usize, len: usize, kernel: usize, stride: usize, pad: usize) -> Range<usize> {
    let start = (p * stride) as isize - pad as isize;
    let end = (start + kernel as isize).min(len as isize);
    start.max(0) as usize..end.max(0) as usize
}

/// Flags every input position that wins at least one window (the first largest value in
/// row-major order, Caffe's strict `>`).
fn naive_max_winners(g: &PoolGeometry, n: usize, x: &[f32]) -> Vec<bool> {
    let (h, w) = (g.in_height, g.in_width);
    let mut wins = vec![false; x.len()];
    for plane in 0..n * g.channels {
        let base = plane * h * w;
        for ph in 0..g.out_height() {
            for pw in 0..g.out_width() {
                let rows = naive_window(ph, h, g.kernel, g.stride, g.pad);
                let cols = naive_window(pw, w, g.kernel, g.stride, g.pad);
                let mut best: Option<usize> = None;
                for i in rows.clone() {
                    for j in cols.clone() {
                        let index = base + i * w + j;
                        if best.is_none_or(|b| x[index] > x[b]) {
                            best = Some(index);
                        }
                    }
                }
                wins[best.expect("every window holds an input")] = true;
            }
        }
    }
    wins
}

#[derive(Clone, Debug)]
struct MeanCase {
    pool: MeanPool,
    /// x: (T, N, D)
    x: Vec<f32>,
}

impl MeanCase {
    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let mut y = poisoned(self.pool.width);
        self.pool.forward(&mut y, x);
        y
    }
    fn eb(&self, p_top: &[f32]) -> Vec<f32> {
        let y = self.forward(&self.x);
        let mut p_bottom = poisoned(self.x.len());
        self.pool.eb_backward(&mut p_bottom, &self.x, &y, p_top);
        p_bottom
    }
}

fn mean_case() -> impl Strategy<Value = MeanCase> {
    // (T, N*D)
    (1usize..=5, 1usize..=6)
        .prop_flat_map(|(steps, width)| {
            (
                Just(MeanPool { steps, width }),
                inputs(Inputs::PostRelu, steps * width),
            )
        })
        .prop_map(|(pool, x)| MeanCase { pool, x })
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
    /// cont: (T, N), 0 starts a sequence, 1 continues it
    cont: Vec<f32>,
}

impl LstmCase {
    /// T*N*H: the length of a signal on h.
    fn h_len(&self) -> usize {
        self.steps * self.streams * self.lstm.hidden
    }
    fn forward(&self, x: &[f32]) -> LstmActivations {
        let mut act = LstmActivations::zeros(self.steps, self.streams, self.lstm.hidden);
        act.gates.fill(f32::NAN);
        act.c.fill(f32::NAN);
        act.h.fill(f32::NAN);
        self.lstm.forward(&mut act, x, &self.cont);
        act
    }
    fn eb(&self, act: &LstmActivations, p_h: &[f32]) -> Vec<f32> {
        let mut p_x = poisoned(self.x.len());
        self.lstm
            .eb_backward(&mut p_x, &self.x, &self.cont, act, p_h);
        p_x
    }
    fn grad(&self, act: &LstmActivations, dh: &[f32]) -> Vec<f32> {
        let mut dx = poisoned(self.x.len());
        self.lstm.grad_backward(&mut dx, &self.cont, act, dh);
        dx
    }
}

fn lstm_case() -> impl Strategy<Value = LstmCase> {
    // (D, H, T, N)
    (1usize..=4, 1usize..=3, 1usize..=4, 1usize..=3)
        .prop_flat_map(|(d, h, steps, streams)| {
            (
                Just((d, h, steps, streams)),
                vec_of(signed(), 4 * h * d),
                vec_of(signed(), 4 * h),
                vec_of(signed(), 4 * h * h),
                inputs(Inputs::PostRelu, steps * streams * d),
                vec_of(
                    prop_oneof![3 => Just(0.0f32), 7 => Just(1.0f32)],
                    steps * streams,
                ),
            )
        })
        .prop_map(
            |((d, h, steps, streams), w_xc, b_c, w_hc, x, cont)| LstmCase {
                lstm: Lstm::new(d, h, w_xc, b_c, w_hc),
                steps,
                streams,
                x,
                cont,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Naive references from the definitions (f64)
// ---------------------------------------------------------------------------------------------

fn sum64(v: &[f32]) -> f64 {
    v.iter().map(|&a| a as f64).sum()
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&p, &q)| p as f64 * q as f64).sum()
}

/// <a, plus - minus> with the difference taken exactly in f64.
fn dot_of_difference(a: &[f32], plus: &[f32], minus: &[f32]) -> f64 {
    a.iter()
        .zip(plus.iter().zip(minus))
        .map(|(&a, (&p, &m))| a as f64 * (p as f64 - m as f64))
        .sum()
}

/// sum |a| |plus - minus| in f64: the size of the terms of `dot_of_difference`.
fn abs_dot_of_difference(a: &[f32], plus: &[f32], minus: &[f32]) -> f64 {
    a.iter()
        .zip(plus.iter().zip(minus))
        .map(|(&a, (&p, &m))| (a as f64 * (p as f64 - m as f64)).abs())
        .sum()
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|a| a.abs()).collect()
}

/// x + step * v in f32.
fn moved(x: &[f32], v: &[f32], step: f32) -> Vec<f32> {
    x.iter().zip(v).map(|(&x, &v)| x + step * v).collect()
}

/// a * s1 + b * s2 in f32.
fn combination(a: f32, s1: &[f32], b: f32, s2: &[f32]) -> Vec<f32> {
    s1.iter().zip(s2).map(|(&p, &q)| a * p + b * q).collect()
}

/// |a| * e1 + |b| * e2: the bound of a linear combination of non-negative maps' outputs.
fn combination_bound(a: f32, e1: &[f32], b: f32, e2: &[f32]) -> Vec<f32> {
    e1.iter()
        .zip(e2)
        .map(|(&p, &q)| a.abs() * p + b.abs() * q)
        .collect()
}

/// sum of p over the units whose normalizer z is > 0.
fn sum_where_positive(p: &[f32], z: &[f32]) -> f64 {
    assert_eq!(p.len(), z.len());
    p.iter()
        .zip(z)
        .filter(|(_, &z)| z > 0.0)
        .map(|(&p, _)| p as f64)
        .sum()
}

fn assert_conserved(name: &str, got: f64, want: f64) {
    println!("{name}: sum {got:.6e}, conserved {want:.6e}");
    assert!(
        (got - want).abs() <= CONSERVATION * want,
        "{name}: sum(p_bottom) = {got:e}, expected {want:e} (relative {CONSERVATION:e})"
    );
}

fn assert_non_negative(name: &str, p: &[f32]) {
    if let Some((index, v)) = p.iter().enumerate().find(|(_, &v)| v.is_nan() || v < 0.0) {
        panic!("{name}: p_bottom[{index}] = {v} from a non-negative signal and input");
    }
}

/// Every position whose forward input is exactly 0 received exactly 0.
fn assert_zero_where_input_is_zero(name: &str, p: &[f32], x: &[f32]) {
    for (index, (&p, &x)) in p.iter().zip(x).enumerate() {
        assert!(
            x != 0.0 || p == 0.0,
            "{name}: input {index} is 0 but receives {p}"
        );
    }
}

/// The linear layers' gradient check: <dy, f(x+v) - f(x-v)> against <dx, 2v>, both in f64.
/// `scale` is <|dy|, |f|(|x+v|) + |f|(|x-v|)>, the size of the summed terms.
fn assert_directional(name: &str, finite_difference: f64, analytic: f64, scale: f64, tol: f64) {
    let error = (finite_difference - analytic).abs();
    println!("{name}: finite difference {finite_difference:.6e}, gradient {analytic:.6e}, error / scale {:.3e}", error / scale.max(f64::MIN_POSITIVE));
    assert!(
        error <= tol * scale,
        "{name}: finite difference {finite_difference:e} vs gradient {analytic:e}: error {error:e} > {tol:e} * {scale:e}"
    );
}

/// Softmax over the channel axis of (outer, channels, inner), in f64 (SOFT-1).
fn softmax_reference(s: &Softmax, x: &[f64]) -> Vec<f64> {
    let (c_n, inner) = (s.channels, s.inner);
    let mut y = vec![0.0f64; x.len()];
    for o in 0..s.outer {
        for k in 0..inner {
            let at = |c: usize| (o * c_n + c) * inner + k;
            let max = (0..c_n).map(|c| x[at(c)]).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..c_n).map(|c| (x[at(c)] - max).exp()).sum();
            for c in 0..c_n {
                y[at(c)] = (x[at(c)] - max).exp() / sum;
            }
        }
    }
    y
}

fn sigmoid64(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

/// The ReLU-LSTM forward of ORIGINAL.md section 2 in f64.
struct LstmReference {
    /// a: (T, N, 4H), the gate pre-activations, order i, f, o, g
    a: Vec<f64>,
    /// (T, N, 4H): the sum of the absolute values of the terms of each a, the size that its
    /// rounding error is relative to
    a_size: Vec<f64>,
    /// gates: (T, N, 4H): i, f, o = sigmoid (f = 0 where cont = 0), g = relu
    gates: Vec<f64>,
    /// c: (T, N, H)
    c: Vec<f64>,
    /// h: (T, N, H)
    h: Vec<f64>,
}

fn lstm_reference(case: &LstmCase, x: &[f64]) -> LstmReference {
    let lstm = &case.lstm;
    let (t_n, n_n, d_n, h_n) = (case.steps, case.streams, lstm.inputs, lstm.hidden);
    let w_xc = &lstm.input_transform.w; // (4H, D)
    let b_c = lstm.input_transform.b.as_ref().expect("the LSTM has b_c"); // (4H)
    let w_hc = &lstm.w_hc; // (4H, H)
    let mut r = LstmReference {
        a: vec![0.0; t_n * n_n * 4 * h_n],
        a_size: vec![0.0; t_n * n_n * 4 * h_n],
        gates: vec![0.0; t_n * n_n * 4 * h_n],
        c: vec![0.0; t_n * n_n * h_n],
        h: vec![0.0; t_n * n_n * h_n],
    };
    for t in 0..t_n {
        for s in 0..n_n {
            let cont = case.cont[t * n_n + s] as f64;
            let row = t * n_n + s;
            for u in 0..4 * h_n {
                // xg_t = W_xc x_t + b_c; a_t = W_hc (cont_t h_{t-1}) + xg_t
                let mut a = b_c[u] as f64;
                let mut a_size = a.abs();
                for d in 0..d_n {
                    let term = w_xc[u * d_n + d] as f64 * x[row * d_n + d];
                    a += term;
                    a_size += term.abs();
                }
                if t > 0 {
                    for j in 0..h_n {
                        let h_prev = r.h[((t - 1) * n_n + s) * h_n + j];
                        let term = w_hc[u * h_n + j] as f64 * cont * h_prev;
                        a += term;
                        a_size += term.abs();
                    }
                }
                r.a_size[row * 4 * h_n + u] = a_size;
                r.a[row * 4 * h_n + u] = a;
            }
            for j in 0..h_n {
                let a = &r.a[row * 4 * h_n..(row + 1) * 4 * h_n];
                let i = sigmoid64(a[j]);
                let f = if cont == 0.0 {
                    0.0
                } else {
                    cont * sigmoid64(a[h_n + j])
                };
                let o = sigmoid64(a[2 * h_n + j]);
                let g = a[3 * h_n + j].max(0.0);
                let c_prev = if t > 0 {
                    r.c[((t - 1) * n_n + s) * h_n + j]
                } else {
                    0.0
                };
                let c = f * c_prev + i * g;
                r.c[row * h_n + j] = c;
                r.h[row * h_n + j] = o * c.max(0.0);
                let gates = &mut r.gates[row * 4 * h_n..(row + 1) * 4 * h_n];
                gates[j] = i;
                gates[h_n + j] = f;
                gates[2 * h_n + j] = o;
                gates[3 * h_n + j] = g;
            }
        }
    }
    r
}

/// The size the gradient's terms can reach in this case, for the tolerance of the gradient
/// check: the backward of ORIGINAL.md section 2 with the gradient mode's recurrence (LSTM-5,
/// LSTM-8) run on magnitudes (|dh|, |W_hc|, |W_xc|) with every sigmoid derivative at its
/// largest value 1/4 and relu's at 1; the largest value at x. A saturated gate's derivative
/// i (1 - i) is computed from a rounded i, so its error is of order u, not u * i (1 - i):
/// the tolerance must be relative to the unsaturated size, or cases where every gate
/// saturates would fail on rounding alone.
fn lstm_gradient_size(case: &LstmCase, r: &LstmReference, dh_top: &[f32]) -> f32 {
    let lstm = &case.lstm;
    let (t_n, n_n, d_n, h_n) = (case.steps, case.streams, lstm.inputs, lstm.hidden);
    let mut dc_next = vec![0.0f64; n_n * h_n]; // (N, H)
    let mut dh_next = vec![0.0f64; n_n * h_n]; // (N, H)
    let mut largest = 0.0f64;
    for t in (0..t_n).rev() {
        let mut da = vec![0.0f64; n_n * 4 * h_n]; // (N, 4H)
        for s in 0..n_n {
            let row = t * n_n + s;
            for j in 0..h_n {
                let gate = |k: usize| r.gates[row * 4 * h_n + k * h_n + j];
                let (i, f, o, g) = (gate(0), gate(1), gate(2), gate(3));
                let c = r.c[row * h_n + j];
                let c_prev = if t > 0 {
                    r.c[((t - 1) * n_n + s) * h_n + j]
                } else {
                    0.0
                };
                let dh = (dh_top[row * h_n + j] as f64).abs() + dh_next[s * h_n + j];
                let dc = dc_next[s * h_n + j] + dh * o;
                dc_next[s * h_n + j] = dc * f;
                da[s * 4 * h_n + j] = dc * g / 4.0;
                da[s * 4 * h_n + h_n + j] = dc * c_prev / 4.0;
                da[s * 4 * h_n + 2 * h_n + j] = dh * c / 4.0;
                da[s * 4 * h_n + 3 * h_n + j] = dc * i;
            }
            for d in 0..d_n {
                let dx: f64 = (0..4 * h_n)
                    .map(|u| {
                        da[s * 4 * h_n + u] * (lstm.input_transform.w[u * d_n + d] as f64).abs()
                    })
                    .sum();
                largest = largest.max(dx);
            }
        }
        for s in 0..n_n {
            let cont = case.cont[t * n_n + s] as f64;
            for j in 0..h_n {
                dh_next[s * h_n + j] = cont
                    * (0..4 * h_n)
                        .map(|u| da[s * 4 * h_n + u] * (lstm.w_hc[u * h_n + j] as f64).abs())
                        .sum::<f64>();
            }
        }
    }
    largest as f32
}

/// The signal the original's EB sends into the gate pre-activations (T, N, 4H), from the unit's
/// backward formula of ORIGINAL.md section 2 with nothing through W_hc, in f64 from the f32
/// activations `act`.
fn naive_eb_gate_signal(case: &LstmCase, act: &LstmActivations, p_h: &[f32]) -> Vec<f32> {
    let (t_n, n_n, h_n) = (case.steps, case.streams, case.lstm.hidden);
    let mut p_a = vec![0.0f32; t_n * n_n * 4 * h_n];
    let mut dc_next = vec![0.0f64; n_n * h_n];
    for t in (0..t_n).rev() {
        for s in 0..n_n {
            let row = t * n_n + s;
            for j in 0..h_n {
                let gate = |k: usize| act.gates[row * 4 * h_n + k * h_n + j] as f64;
                let (i, f, o, g) = (gate(0), gate(1), gate(2), gate(3));
                let c = act.c[row * h_n + j] as f64;
                let c_prev = if t > 0 {
                    act.c[((t - 1) * n_n + s) * h_n + j] as f64
                } else {
                    0.0
                };
                let dh = p_h[row * h_n + j] as f64;
                let dc = dc_next[s * h_n + j] + if c > 0.0 { dh * o } else { 0.0 };
                dc_next[s * h_n + j] = dc * f;
                let p = &mut p_a[row * 4 * h_n..(row + 1) * 4 * h_n];
                p[j] = (dc * g * i * (1.0 - i)) as f32;
                p[h_n + j] = (dc * c_prev * f * (1.0 - f)) as f32;
                p[2 * h_n + j] = (dh * c.max(0.0) * o * (1.0 - o)) as f32;
                p[3 * h_n + j] = if g > 0.0 { (dc * i) as f32 } else { 0.0 };
            }
        }
    }
    p_a
}

// ---------------------------------------------------------------------------------------------
// 1. Conservation (non-negative signal; ORIGINAL.md section 1)
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// sum(p_bottom) = sum of p_top over the output units with Z = conv(x, W+) > 0 (EB-1..3).
    #[test]
    fn conv_eb_conserves_the_signal_of_units_with_positive_normalizer(
        (case, p_top) in and(conv_case(Inputs::PostRelu), |c| vec_of(non_negative(), c.out_len()))
    ) {
        let mut z = poisoned(case.out_len());
        case.excitatory().forward(&mut z, &case.x, case.n);
        assert_conserved("conv", sum64(&case.eb(&p_top)), sum_where_positive(&p_top, &z));
    }

    /// sum(p_bottom) = sum of p_top over the output units with Z = x W+^T > 0.
    #[test]
    fn fc_eb_conserves_the_signal_of_units_with_positive_normalizer(
        (case, p_top) in and(fc_case(Inputs::PostRelu), |c| vec_of(non_negative(), c.out_len()))
    ) {
        let mut z = poisoned(case.out_len());
        case.excitatory().forward(&mut z, &case.x, case.rows);
        assert_conserved("fc", sum64(&case.eb(&p_top)), sum_where_positive(&p_top, &z));
    }

    /// sum(p_bottom) = sum of p_top over the windows with y * pool_size > 0, i.e. y > 0.
    #[test]
    fn avg_pool_eb_conserves_the_signal_of_windows_with_positive_normalizer(
        (case, p_top) in and(pool_case(), |c| vec_of(non_negative(), c.out_len()))
    ) {
        let y = case.avg_forward(&case.x);
        assert_conserved("avg pool", sum64(&case.avg_eb(&p_top)), sum_where_positive(&p_top, &y));
    }

    /// Max pooling routes every window's signal whole to one input.
    #[test]
    fn max_pool_eb_conserves_the_whole_signal(
        (case, p_top) in and(pool_case(), |c| vec_of(non_negative(), c.out_len()))
    ) {
        assert_conserved("max pool", sum64(&case.max_eb(&p_top)), sum64(&p_top));
    }

    /// sum(p_bottom) = sum of p_top over the units with y * T > 0, i.e. y > 0 (paper Eq. 8).
    #[test]
    fn mean_pool_eb_conserves_the_signal_of_units_with_positive_normalizer(
        (case, p_top) in and(mean_case(), |c| vec_of(non_negative(), c.pool.width))
    ) {
        let y = case.forward(&case.x);
        assert_conserved("mean pool", sum64(&case.eb(&p_top)), sum_where_positive(&p_top, &y));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Non-negativity: x >= 0 and p_top >= 0 give p_bottom >= 0 (and no NaN)
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn conv_eb_keeps_a_non_negative_signal_non_negative(
        (case, p_top) in and(conv_case(Inputs::PostRelu), |c| vec_of(non_negative(), c.out_len()))
    ) {
        assert_non_negative("conv", &case.eb(&p_top));
    }

    #[test]
    fn fc_eb_keeps_a_non_negative_signal_non_negative(
        (case, p_top) in and(fc_case(Inputs::PostRelu), |c| vec_of(non_negative(), c.out_len()))
    ) {
        assert_non_negative("fc", &case.eb(&p_top));
    }

    #[test]
    fn avg_pool_eb_keeps_a_non_negative_signal_non_negative(
        (case, p_top) in and(pool_case(), |c| vec_of(non_negative(), c.out_len()))
    ) {
        assert_non_negative("avg pool", &case.avg_eb(&p_top));
    }

    #[test]
    fn max_pool_eb_keeps_a_non_negative_signal_non_negative(
        (case, p_top) in and(pool_case(), |c| vec_of(non_negative(), c.out_len()))
    ) {
        assert_non_negative("max pool", &case.max_eb(&p_top));
    }

    #[test]
    fn mean_pool_eb_keeps_a_non_negative_signal_non_negative(
        (case, p_top) in and(mean_case(), |c| vec_of(non_negative(), c.pool.width))
    ) {
        assert_non_negative("mean pool", &case.eb(&p_top));
    }

    /// The mask is taken from a signed pre-activation here (the layer's input).
    #[test]
    fn relu_eb_keeps_a_non_negative_signal_non_negative(
        (x, p_top) in (1usize..=20).prop_flat_map(|len| (vec_of(signed(), len), vec_of(non_negative(), len)))
    ) {
        let mut p_bottom = poisoned(x.len());
        Relu.eb_backward(&mut p_bottom, &x, &p_top);
        assert_non_negative("relu", &p_bottom);
    }

    /// LSTM-P1: x >= 0 and a non-negative signal on h give a non-negative signal at x
    /// (c >= 0 always, every factor of the unit's backward is >= 0, then the fc EB rule).
    #[test]
    fn lstm_eb_keeps_a_non_negative_signal_non_negative_lstm_p1(
        (case, p_h) in and(lstm_case(), |c| vec_of(non_negative(), c.h_len()))
    ) {
        let act = case.forward(&case.x);
        assert_non_negative("lstm", &case.eb(&act, &p_h));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Linearity in the signal: eb(a s1 + b s2) = a eb(s1) + b eb(s2), signed s1, s2, a, b.
//    With x >= 0 every EB rule is a linear map with non-negative coefficients, so
//    |a| eb(|s1|) + |b| eb(|s2|) is the size of the summed terms: the bound of the rounding.
// ---------------------------------------------------------------------------------------------

type Signals = (Vec<f32>, Vec<f32>, f32, f32);

fn two_signals(len: usize) -> impl Strategy<Value = Signals> {
    (
        vec_of(signed(), len),
        vec_of(signed(), len),
        coefficient(),
        coefficient(),
    )
}

/// Checks linearity of one EB map `eb`.
fn assert_linear(name: &str, eb: impl Fn(&[f32]) -> Vec<f32>, (s1, s2, a, b): &Signals) {
    let got = eb(&combination(*a, s1, *b, s2));
    let want = combination(*a, &eb(s1), *b, &eb(s2));
    let bound = combination_bound(*a, &eb(&abs(s1)), *b, &eb(&abs(s2)));
    assert_within_bound(name, &got, &want, &bound, SUM_ROUNDING);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn conv_eb_is_linear_in_the_signal(
        (case, signals) in and(conv_case(Inputs::PostRelu), |c| two_signals(c.out_len()))
    ) {
        assert_linear("conv", |p| case.eb(p), &signals);
    }

    #[test]
    fn fc_eb_is_linear_in_the_signal(
        (case, signals) in and(fc_case(Inputs::PostRelu), |c| two_signals(c.out_len()))
    ) {
        assert_linear("fc", |p| case.eb(p), &signals);
    }

    #[test]
    fn avg_pool_eb_is_linear_in_the_signal(
        (case, signals) in and(pool_case(), |c| two_signals(c.out_len()))
    ) {
        assert_linear("avg pool", |p| case.avg_eb(p), &signals);
    }

    #[test]
    fn max_pool_eb_is_linear_in_the_signal(
        (case, signals) in and(pool_case(), |c| two_signals(c.out_len()))
    ) {
        assert_linear("max pool", |p| case.max_eb(p), &signals);
    }

    #[test]
    fn mean_pool_eb_is_linear_in_the_signal(
        (case, signals) in and(mean_case(), |c| two_signals(c.pool.width))
    ) {
        assert_linear("mean pool", |p| case.eb(p), &signals);
    }

    #[test]
    fn relu_eb_is_linear_in_the_signal(
        (x, signals) in (1usize..=20).prop_flat_map(|len| (vec_of(signed(), len), two_signals(len)))
    ) {
        let eb = |p: &[f32]| {
            let mut p_bottom = poisoned(x.len());
            Relu.eb_backward(&mut p_bottom, &x, p);
            p_bottom
        };
        assert_linear("relu", eb, &signals);
    }

    /// LSTM-P4: EB through the LSTM is linear in the signal on h.
    #[test]
    fn lstm_eb_is_linear_in_the_signal_lstm_p4(
        (case, signals) in and(lstm_case(), |c| two_signals(c.h_len()))
    ) {
        let act = case.forward(&case.x);
        assert_linear("lstm", |p| case.eb(&act, p), &signals);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Zero activation, zero share: an input that is exactly 0 receives exactly 0 (signed signal)
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn conv_eb_gives_nothing_to_a_zero_input(
        (case, p_top) in and(conv_case(Inputs::PostRelu), |c| vec_of(signed(), c.out_len()))
    ) {
        assert_zero_where_input_is_zero("conv", &case.eb(&p_top), &case.x);
    }

    #[test]
    fn fc_eb_gives_nothing_to_a_zero_input(
        (case, p_top) in and(fc_case(Inputs::PostRelu), |c| vec_of(signed(), c.out_len()))
    ) {
        assert_zero_where_input_is_zero("fc", &case.eb(&p_top), &case.x);
    }

    #[test]
    fn avg_pool_eb_gives_nothing_to_a_zero_input(
        (case, p_top) in and(pool_case(), |c| vec_of(signed(), c.out_len()))
    ) {
        assert_zero_where_input_is_zero("avg pool", &case.avg_eb(&p_top), &case.x);
    }

    #[test]
    fn mean_pool_eb_gives_nothing_to_a_zero_input(
        (case, p_top) in and(mean_case(), |c| vec_of(signed(), c.pool.width))
    ) {
        assert_zero_where_input_is_zero("mean pool", &case.eb(&p_top), &case.x);
    }

    #[test]
    fn relu_eb_gives_nothing_to_a_zero_input(
        (x, p_top) in (1usize..=20).prop_flat_map(|len| (inputs(Inputs::PostRelu, len), vec_of(signed(), len)))
    ) {
        let mut p_bottom = poisoned(x.len());
        Relu.eb_backward(&mut p_bottom, &x, &p_top);
        assert_zero_where_input_is_zero("relu", &p_bottom, &x);
    }

    /// A 0 may still win a window of zeros (the first of them, Caffe's tie rule); a 0 that wins
    /// no window receives exactly 0. The winners are found here by a naive scan.
    #[test]
    fn max_pool_eb_gives_nothing_to_a_zero_that_wins_no_window(
        (case, p_top) in and(pool_case(), |c| vec_of(signed(), c.out_len()))
    ) {
        let p_bottom = case.max_eb(&p_top);
        let wins = naive_max_winners(&case.g, case.n, &case.x);
        for (index, ((&p, &x), &won)) in p_bottom.iter().zip(&case.x).zip(&wins).enumerate() {
            assert!(
                x != 0.0 || won || p == 0.0,
                "max pool: input {index} is 0, wins no window, and receives {p}"
            );
        }
    }

    /// The inputs of the W_xc inner product are x: a 0 there receives exactly 0.
    #[test]
    fn lstm_eb_gives_nothing_to_a_zero_input(
        (case, p_h) in and(lstm_case(), |c| vec_of(signed(), c.h_len()))
    ) {
        let act = case.forward(&case.x);
        assert_zero_where_input_is_zero("lstm", &case.eb(&act, &p_h), &case.x);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Gradient checks against central finite differences.
//    Linear layers (conv, fc, avg pool, mean pool): f(x + v) - f(x - v) = 2 J v exactly, for any
//    step (here 1), so <dy, f(x+v) - f(x-v)> must equal <J^T dy, (x+v) - (x-v)> up to f32
//    rounding, with the difference of the inputs taken exactly in f64.
// ---------------------------------------------------------------------------------------------

/// (dy, v): a signed output gradient and a signed direction.
fn gradient_and_direction(
    out_len: usize,
    in_len: usize,
) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (vec_of(signed(), out_len), vec_of(signed(), in_len))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn conv_grad_backward_agrees_with_finite_differences(
        (case, (dy, v)) in and(conv_case(Inputs::Signed), |c| gradient_and_direction(c.out_len(), c.x.len()))
    ) {
        let (xp, xm) = (moved(&case.x, &v, 1.0), moved(&case.x, &v, -1.0));
        let mut dx = poisoned(case.x.len());
        case.conv.grad_backward(&mut dx, &dy, case.n);
        let finite_difference = dot_of_difference(&dy, &case.forward(&xp), &case.forward(&xm));
        let analytic = dot_of_difference(&dx, &xp, &xm);
        // the size of the terms: the same convolution with |w| and |b| on |x + v| and |x - v|
        let absolute = ConvCase {
            conv: Conv::new(case.conv.geometry, abs(&case.conv.w), case.conv.b.as_deref().map(abs)),
            ..case.clone()
        };
        let scale = dot64(&abs(&dy), &absolute.forward(&abs(&xp)))
            + dot64(&abs(&dy), &absolute.forward(&abs(&xm)));
        assert_directional("conv", finite_difference, analytic, scale, SUM_ROUNDING as f64);
    }

    #[test]
    fn fc_grad_backward_agrees_with_finite_differences(
        (case, (dy, v)) in and(fc_case(Inputs::Signed), |c| gradient_and_direction(c.out_len(), c.x.len()))
    ) {
        let (xp, xm) = (moved(&case.x, &v, 1.0), moved(&case.x, &v, -1.0));
        let mut dx = poisoned(case.x.len());
        case.fc.grad_backward(&mut dx, &dy, case.rows);
        let finite_difference = dot_of_difference(&dy, &case.forward(&xp), &case.forward(&xm));
        let analytic = dot_of_difference(&dx, &xp, &xm);
        let absolute = FcCase {
            fc: Fc::new(case.fc.inputs, case.fc.outputs, abs(&case.fc.w), case.fc.b.as_deref().map(abs)),
            ..case.clone()
        };
        let scale = dot64(&abs(&dy), &absolute.forward(&abs(&xp)))
            + dot64(&abs(&dy), &absolute.forward(&abs(&xm)));
        assert_directional("fc", finite_difference, analytic, scale, SUM_ROUNDING as f64);
    }

    #[test]
    fn avg_pool_grad_backward_agrees_with_finite_differences(
        (case, (dy, v)) in and(
            pool_case_with(|len| inputs(Inputs::Signed, len)),
            |c| gradient_and_direction(c.out_len(), c.x.len()),
        )
    ) {
        let (xp, xm) = (moved(&case.x, &v, 1.0), moved(&case.x, &v, -1.0));
        let mut dx = poisoned(case.x.len());
        case.avg().grad_backward(&mut dx, &dy, case.n);
        let finite_difference =
            dot_of_difference(&dy, &case.avg_forward(&xp), &case.avg_forward(&xm));
        let analytic = dot_of_difference(&dx, &xp, &xm);
        // average pooling has positive coefficients: the terms' size is the pool of |x|
        let scale = dot64(&abs(&dy), &case.avg_forward(&abs(&xp)))
            + dot64(&abs(&dy), &case.avg_forward(&abs(&xm)));
        assert_directional("avg pool", finite_difference, analytic, scale, SUM_ROUNDING as f64);
    }

    #[test]
    fn mean_pool_grad_backward_agrees_with_finite_differences(
        (case, (dy, v)) in and(mean_case(), |c| gradient_and_direction(c.pool.width, c.x.len()))
    ) {
        let (xp, xm) = (moved(&case.x, &v, 1.0), moved(&case.x, &v, -1.0));
        let mut dx = poisoned(case.x.len());
        case.pool.grad_backward(&mut dx, &dy);
        let finite_difference = dot_of_difference(&dy, &case.forward(&xp), &case.forward(&xm));
        let analytic = dot_of_difference(&dx, &xp, &xm);
        let scale = dot64(&abs(&dy), &case.forward(&abs(&xp)))
            + dot64(&abs(&dy), &case.forward(&abs(&xm)));
        assert_directional("mean pool", finite_difference, analytic, scale, SUM_ROUNDING as f64);
    }

    /// Relu is linear between kinks: inputs are 0 or at least KINK_GAP from 0, the step is
    /// KINK_GAP / 2 and the direction is 0 on the zeros (the kink itself: the subgradient 0 is
    /// the rule there, a central difference would give 1/2). Outputs are exact copies, so only
    /// f64 rounding remains.
    #[test]
    fn relu_grad_backward_agrees_with_finite_differences(
        (x, dy, v) in (1usize..=20).prop_flat_map(|len| (
            vec_of(prop_oneof![1 => Just(0.0f32), 2 => KINK_GAP..3.0f32, 2 => -3.0f32..-KINK_GAP], len),
            vec_of(signed(), len),
            vec_of(signed(), len),
        ))
    ) {
        let v: Vec<f32> = v.iter().zip(&x).map(|(&v, &x)| if x == 0.0 { 0.0 } else { v }).collect();
        let step = KINK_GAP / 2.0;
        let (xp, xm) = (moved(&x, &v, step), moved(&x, &v, -step));
        let relu = |x: &[f32]| {
            let mut y = poisoned(x.len());
            Relu.forward(&mut y, x);
            y
        };
        let mut dx = poisoned(x.len());
        Relu.grad_backward(&mut dx, &x, &dy);
        let finite_difference = dot_of_difference(&dy, &relu(&xp), &relu(&xm));
        let analytic = dot_of_difference(&dx, &xp, &xm);
        // the size of the terms: sum |dy| |relu(x+) - relu(x-)|
        let scale = abs_dot_of_difference(&dy, &relu(&xp), &relu(&xm));
        assert_directional("relu", finite_difference, analytic, scale, F64_ROUNDING);
    }

    /// Max pooling is linear between ties: the inputs are distinct multiples of TIE_GAP and the
    /// step is TIE_GAP / 4, so no window changes its winner. Outputs are exact copies.
    #[test]
    fn max_pool_grad_backward_agrees_with_finite_differences(
        (case, (dy, v)) in and(
            pool_case_with(|len| {
                Just((0..len).collect::<Vec<usize>>())
                    .prop_shuffle()
                    .prop_map(move |order| {
                        order.iter().map(|&k| (k as f32 - len as f32 / 2.0) * TIE_GAP).collect()
                    })
                    .boxed()
            }),
            |c| gradient_and_direction(c.out_len(), c.x.len()),
        )
    ) {
        let step = TIE_GAP / 4.0;
        let (xp, xm) = (moved(&case.x, &v, step), moved(&case.x, &v, -step));
        let forward = |x: &[f32]| {
            let mut y = poisoned(case.out_len());
            case.max().forward(&mut y, x, case.n);
            y
        };
        let mut dx = poisoned(case.x.len());
        case.max().grad_backward(&mut dx, &case.x, &dy, case.n);
        let finite_difference = dot_of_difference(&dy, &forward(&xp), &forward(&xm));
        let analytic = dot_of_difference(&dx, &xp, &xm);
        // dx adds up in f32 the signals of all the windows an input wins (up to K*K = 25):
        // the size of the terms is sum |dy| |y(x+) - y(x-)|
        let scale = abs_dot_of_difference(&dy, &forward(&xp), &forward(&xm));
        assert_directional("max pool", finite_difference, analytic, scale, SUM_ROUNDING as f64);
    }
}

// ---------------------------------------------------------------------------------------------
// 5 (cont.). Smooth layers: an f64 reference forward from the spec's equations, per-coordinate
// central differences in f64, and the f32 forward against the reference.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct SoftmaxCase {
    softmax: Softmax,
    /// x: (outer, channels, inner), logits in [-4, 4]
    x: Vec<f32>,
}

fn softmax_case() -> impl Strategy<Value = SoftmaxCase> {
    (1usize..=3, 1usize..=6, 1usize..=3)
        .prop_flat_map(|(outer, channels, inner)| {
            (
                Just(Softmax::over_axis(&[outer, channels, inner], 1)),
                vec_of(-4.0f32..4.0, outer * channels * inner),
            )
        })
        .prop_map(|(softmax, x)| SoftmaxCase { softmax, x })
}

impl SoftmaxCase {
    fn forward(&self) -> Vec<f32> {
        let mut y = poisoned(self.x.len());
        self.softmax.forward(&mut y, &self.x);
        y
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Elementwise relative to y itself (every term of the softmax is positive).
    #[test]
    fn softmax_forward_agrees_with_the_f64_reference(case in softmax_case()) {
        let x64: Vec<f64> = case.x.iter().map(|&v| v as f64).collect();
        let want: Vec<f32> = softmax_reference(&case.softmax, &x64).iter().map(|&v| v as f32).collect();
        assert_within_bound("softmax forward", &case.forward(), &want, &want, SOFTMAX_F32);
    }

    /// d/dx_i of <dy, softmax(x)> by central differences of the f64 reference, against the f32
    /// gradient; bound per element: y_i (|dy_i| + sum_c |dy_c| y_c), the size of its terms.
    #[test]
    fn softmax_grad_backward_agrees_with_finite_differences(
        (case, dy) in and(softmax_case(), |c| vec_of(signed(), c.x.len()))
    ) {
        let y = case.forward();
        let mut dx = poisoned(case.x.len());
        case.softmax.grad_backward(&mut dx, &y, &dy);

        let x64: Vec<f64> = case.x.iter().map(|&v| v as f64).collect();
        let loss = |x: &[f64]| -> f64 {
            softmax_reference(&case.softmax, x).iter().zip(&dy).map(|(&y, &d)| y * d as f64).sum()
        };
        let mut finite_difference = vec![0.0f32; x64.len()];
        for (i, fd) in finite_difference.iter_mut().enumerate() {
            let (mut plus, mut minus) = (x64.clone(), x64.clone());
            plus[i] += SOFTMAX_STEP;
            minus[i] -= SOFTMAX_STEP;
            *fd = ((loss(&plus) - loss(&minus)) / (2.0 * SOFTMAX_STEP)) as f32;
        }

        let y64 = softmax_reference(&case.softmax, &x64);
        let (c_n, inner) = (case.softmax.channels, case.softmax.inner);
        let mut bound = vec![0.0f32; x64.len()];
        for o in 0..case.softmax.outer {
            for k in 0..inner {
                let at = |c: usize| (o * c_n + c) * inner + k;
                let s: f64 = (0..c_n).map(|c| (dy[at(c)] as f64).abs() * y64[at(c)]).sum();
                for c in 0..c_n {
                    bound[at(c)] = (y64[at(c)] * ((dy[at(c)] as f64).abs() + s)) as f32;
                }
            }
        }
        assert_within_bound("softmax grad", &dx, &finite_difference, &bound, SOFTMAX_F32);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: LSTM_CASES, ..ProptestConfig::default() })]

    /// The f32 forward (gates, c, h) against the f64 forward of ORIGINAL.md section 2.
    #[test]
    fn lstm_forward_agrees_with_the_f64_reference(case in lstm_case()) {
        let act = case.forward(&case.x);
        let x64: Vec<f64> = case.x.iter().map(|&v| v as f64).collect();
        let r = lstm_reference(&case, &x64);
        let f32s = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        // one scale for the whole case: the largest pre-activation's terms, or the largest cell
        let size = r.a_size.iter().chain(&r.c).fold(0.0f64, |m, &v| m.max(v.abs())) as f32;
        let bound = |len: usize| vec![size; len];
        assert_within_bound("lstm gates", &act.gates, &f32s(&r.gates), &bound(r.gates.len()), LSTM_FORWARD);
        assert_within_bound("lstm c", &act.c, &f32s(&r.c), &bound(r.c.len()), LSTM_FORWARD);
        assert_within_bound("lstm h", &act.h, &f32s(&r.h), &bound(r.h.len()), LSTM_FORWARD);
    }

    /// d/dx of <dh, h(x)> by central differences of the f64 reference, per coordinate, against
    /// the f32 gradient (LSTM-5, LSTM-8). Cases with an a_g within LSTM_KINK_MARGIN of relu's
    /// kink are skipped; c = 0 only where g = 0 and f c_{t-1} = 0, which a small step keeps
    /// (c >= 0 never crosses 0 otherwise).
    #[test]
    fn lstm_grad_backward_agrees_with_finite_differences(
        (case, dh) in and(lstm_case(), |c| vec_of(signed(), c.h_len()))
    ) {
        let x64: Vec<f64> = case.x.iter().map(|&v| v as f64).collect();
        let r = lstm_reference(&case, &x64);
        let h_n = case.lstm.hidden;
        let closest_to_kink = r
            .a
            .chunks_exact(4 * h_n)
            .flat_map(|a| a[3 * h_n..].iter().map(|v| v.abs()))
            .fold(f64::INFINITY, f64::min);
        prop_assume!(closest_to_kink > LSTM_KINK_MARGIN);

        let act = case.forward(&case.x);
        let dx = case.grad(&act, &dh);
        let loss = |x: &[f64]| -> f64 {
            lstm_reference(&case, x).h.iter().zip(&dh).map(|(&h, &d)| h * d as f64).sum()
        };
        let mut finite_difference = vec![0.0f32; x64.len()];
        for (i, fd) in finite_difference.iter_mut().enumerate() {
            let (mut plus, mut minus) = (x64.clone(), x64.clone());
            plus[i] += LSTM_STEP;
            minus[i] -= LSTM_STEP;
            *fd = ((loss(&plus) - loss(&minus)) / (2.0 * LSTM_STEP)) as f32;
        }
        let size = lstm_gradient_size(&case, &r, &dh);
        assert_within_bound("lstm grad", &dx, &finite_difference, &vec![size; dx.len()], LSTM_GRAD);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. The EB identity (TorchRay's statement): eb(x, p) = x * grad_backward_{W+}(p / Z), Z the
//    forward with W+ and no bias, p / Z = 0 where Z == 0 (Caffe's rule; TorchRay adds 1e-20).
//    Also for signed x (the first convolution), where Z may be negative.
// ---------------------------------------------------------------------------------------------

/// p / z, and 0 where z == 0.
fn ratio_or_zero(p: &[f32], z: &[f32]) -> Vec<f32> {
    p.iter()
        .zip(z)
        .map(|(&p, &z)| if z == 0.0 { 0.0 } else { p / z })
        .collect()
}

fn times(x: &[f32], v: &[f32]) -> Vec<f32> {
    x.iter().zip(v).map(|(&a, &b)| a * b).collect()
}

fn either_inputs() -> impl Strategy<Value = Inputs> {
    prop_oneof![Just(Inputs::PostRelu), Just(Inputs::Signed)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn conv_eb_is_x_times_the_gradient_with_w_plus_of_p_over_z(
        (case, p_top) in and(either_inputs().prop_flat_map(conv_case), |c| vec_of(signed(), c.out_len()))
    ) {
        let plus = case.excitatory();
        let mut z = poisoned(case.out_len());
        plus.forward(&mut z, &case.x, case.n);
        let ratio = ratio_or_zero(&p_top, &z);
        let mut g = poisoned(case.x.len());
        plus.grad_backward(&mut g, &ratio, case.n);
        let want = times(&case.x, &g);
        // the size of the terms: |x| * W+^T |p / Z|
        plus.grad_backward(&mut g, &abs(&ratio), case.n);
        let bound = times(&abs(&case.x), &g);
        assert_within_bound("conv eb identity", &case.eb(&p_top), &want, &bound, SUM_ROUNDING);
    }

    #[test]
    fn fc_eb_is_x_times_the_gradient_with_w_plus_of_p_over_z(
        (case, p_top) in and(either_inputs().prop_flat_map(fc_case), |c| vec_of(signed(), c.out_len()))
    ) {
        let plus = case.excitatory();
        let mut z = poisoned(case.out_len());
        plus.forward(&mut z, &case.x, case.rows);
        let ratio = ratio_or_zero(&p_top, &z);
        let mut g = poisoned(case.x.len());
        plus.grad_backward(&mut g, &ratio, case.rows);
        let want = times(&case.x, &g);
        plus.grad_backward(&mut g, &abs(&ratio), case.rows);
        let bound = times(&abs(&case.x), &g);
        assert_within_bound("fc eb identity", &case.eb(&p_top), &want, &bound, SUM_ROUNDING);
    }
}

// ---------------------------------------------------------------------------------------------
// 7. The ReLU-LSTM: LSTM-P2, P3, P5 (P1 and P4 are above, with the other layers).
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// LSTM-6/7: what reaches x is the input transform's EB of the unit's gate signal, computed
    /// here from the activations by the formula of ORIGINAL.md section 2 (nothing via W_hc).
    /// This is what lets LSTM-P2 below be checked on the gate signal the test computes.
    #[test]
    fn lstm_eb_is_the_input_transform_eb_of_the_unit_gate_signal(
        (case, p_h) in and(lstm_case(), |c| vec_of(non_negative(), c.h_len()))
    ) {
        let act = case.forward(&case.x);
        let p_a = naive_eb_gate_signal(&case, &act, &p_h);
        let mut want = poisoned(case.x.len());
        case.lstm.input_transform.eb_backward(&mut want, &case.x, &p_a, case.steps * case.streams);
        // non-negative terms: the result is its own bound
        assert_within_bound("lstm eb via input transform", &case.eb(&act, &p_h), &want, &want, SUM_ROUNDING);
    }

    /// LSTM-P2: the EB step through W_xc conserves: sum(p_x) = sum of the gate signal over the
    /// (step, stream, gate unit) entries with Z = x_t W_xc+^T > 0 (no bias, no recurrent term).
    #[test]
    fn lstm_eb_through_w_xc_conserves_the_gate_signal_of_units_with_positive_normalizer_lstm_p2(
        (case, p_h) in and(lstm_case(), |c| vec_of(non_negative(), c.h_len()))
    ) {
        let act = case.forward(&case.x);
        let p_a = naive_eb_gate_signal(&case, &act, &p_h);
        let rows = case.steps * case.streams;
        let w_xc = &case.lstm.input_transform;
        let plus = Fc::new(w_xc.inputs, w_xc.outputs, w_xc.w_plus.clone().expect("a small layer keeps its W+"), None);
        let mut z = poisoned(rows * w_xc.outputs);
        plus.forward(&mut z, &case.x, rows);
        assert_conserved("lstm w_xc", sum64(&case.eb(&act, &p_h)), sum_where_positive(&p_a, &z));
    }

    /// LSTM-P5: a signal on h_1..h_t reaches only x_1..x_t, in EB and in gradient mode.
    #[test]
    fn lstm_signal_on_h_t_reaches_only_x_1_to_x_t_lstm_p5(
        (case, (p_h, last)) in and(lstm_case(), |c| (vec_of(signed(), c.h_len()), 0..c.steps))
    ) {
        let per_step_h = case.streams * case.lstm.hidden;
        let mut p_h = p_h;
        p_h[(last + 1) * per_step_h..].fill(0.0);
        let act = case.forward(&case.x);
        let per_step_x = case.streams * case.lstm.inputs;
        for (mode, p_x) in [("eb", case.eb(&act, &p_h)), ("grad", case.grad(&act, &p_h))] {
            if let Some((index, v)) = p_x[(last + 1) * per_step_x..].iter().enumerate().find(|(_, &v)| v != 0.0) {
                panic!("lstm {mode}: signal up to step {last} reaches x at step {} (value {v})",
                    last + 1 + index / per_step_x);
            }
        }
    }

    /// LSTM-P5: with cont_r = 0 for stream s, a signal at steps >= r gives exactly 0 at the
    /// steps < r of stream s, in EB (f = 0) and in gradient mode (f = 0 and cont_r h_{r-1}).
    #[test]
    fn lstm_sequence_start_stops_the_signal_lstm_p5(
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
        let act = case.forward(&case.x);
        for (mode, p_x) in [("eb", case.eb(&act, &p_h)), ("grad", case.grad(&act, &p_h))] {
            for t in 0..r {
                let x_ts = &p_x[(t * n_n + s) * d_n..(t * n_n + s + 1) * d_n];
                assert!(
                    x_ts.iter().all(|&v| v == 0.0),
                    "lstm {mode}: cont = 0 at step {r} of stream {s}, yet step {t} receives {x_ts:?}"
                );
            }
        }
    }

    /// LSTM-P5: streams are independent: a signal on stream s reaches only stream s (EB and
    /// gradient), and changing stream s's input changes no other stream's output.
    #[test]
    fn lstm_streams_are_independent_lstm_p5(
        (case, (p_h, s, other_x)) in and(
            lstm_case().prop_filter("needs two streams", |c| c.streams >= 2),
            |c| (vec_of(signed(), c.h_len()), 0..c.streams, inputs(Inputs::PostRelu, c.x.len())),
        )
    ) {
        let (t_n, n_n, h_n, d_n) = (case.steps, case.streams, case.lstm.hidden, case.lstm.inputs);
        let mut p_h = p_h;
        for t in 0..t_n {
            for other in (0..n_n).filter(|&o| o != s) {
                p_h[(t * n_n + other) * h_n..(t * n_n + other + 1) * h_n].fill(0.0);
            }
        }
        let act = case.forward(&case.x);
        for (mode, p_x) in [("eb", case.eb(&act, &p_h)), ("grad", case.grad(&act, &p_h))] {
            for t in 0..t_n {
                for other in (0..n_n).filter(|&o| o != s) {
                    let x_to = &p_x[(t * n_n + other) * d_n..(t * n_n + other + 1) * d_n];
                    assert!(
                        x_to.iter().all(|&v| v == 0.0),
                        "lstm {mode}: a signal on stream {s} reaches stream {other} at step {t}: {x_to:?}"
                    );
                }
            }
        }
        // forward: replace stream s's input everywhere; the other streams' h and c stay as they were
        let mut x2 = case.x.clone();
        for t in 0..t_n {
            let at = (t * n_n + s) * d_n..(t * n_n + s + 1) * d_n;
            x2[at.clone()].copy_from_slice(&other_x[at]);
        }
        let act2 = case.forward(&x2);
        for t in 0..t_n {
            for other in (0..n_n).filter(|&o| o != s) {
                let at = (t * n_n + other) * h_n..(t * n_n + other + 1) * h_n;
                assert_eq!(&act.h[at.clone()], &act2.h[at.clone()], "h of stream {other}, step {t}");
                assert_eq!(&act.c[at.clone()], &act2.c[at], "c of stream {other}, step {t}");
            }
        }
    }
}

/// LSTM-P3: the unit's backward does not conserve the sum of the signal (ORIGINAL.md section 2,
/// "Consequence"). On fixtures/caffe/lstm_basic with signal_last, both the authors' Caffe output
/// and ebr's differ from sum(signal_last) by far more than rounding.
#[test]
fn lstm_eb_does_not_conserve_the_sum_of_the_signal_lstm_p3() {
    let case = "lstm_basic";
    let x = load(case, "x"); // (T, N, D)
    let cont = load(case, "cont"); // (T, N)
    let w_xc = load(case, "W_xc"); // (4H, D)
    let signal = load(case, "signal_last"); // (T, N, H)
    let caffe_eb = load(case, "eb_x_last"); // (T, N, D)
    let (t_n, n_n, d) = (x.shape[0], x.shape[1], x.shape[2]);
    let h_n = w_xc.shape[0] / 4;
    let lstm = Lstm::new(
        d,
        h_n,
        w_xc.data,
        load(case, "b_c").data,
        load(case, "W_hc").data,
    );
    let mut act = LstmActivations::zeros(t_n, n_n, h_n);
    lstm.forward(&mut act, &x.data, &cont.data);
    let mut p_x = poisoned(x.len());
    lstm.eb_backward(&mut p_x, &x.data, &cont.data, &act, &signal.data);

    let sum_signal = sum64(&signal.data);
    for (who, eb) in [("caffe", &caffe_eb.data), ("ebr", &p_x)] {
        let sum_eb = sum64(eb);
        let change = (sum_eb - sum_signal).abs() / sum_signal;
        println!(
            "{case} {who}: sum(signal_last) = {sum_signal:.6}, sum(eb_x_last) = {sum_eb:.6}, relative change {change:.3e}"
        );
        assert!(
            change > NOT_CONSERVED,
            "{case} {who}: the LSTM's EB changed the sum by only {change:e} (LSTM-P3 says it does not conserve)"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Pooling geometry: every window of an accepted geometry reads at least one input.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// With pad = 0 Caffe's ceil can add a last window that starts at or past the edge (stride >
    /// kernel): it reads nothing, max pooling has no argmax (Caffe reads out of bounds) and
    /// average pooling divides by a pool size of 0. PoolGeometry::new must refuse it.
    #[test]
    fn pool_geometry_accepts_no_empty_window(
        (c, h, w, kernel, stride, pad) in pool_parameters()
    ) {
        if let Ok(g) = PoolGeometry::new(c, h, w, kernel, stride, pad) {
            assert!(windows_are_non_empty(&g), "{g:?} has an output window that reads no input");
        }
    }
}

/// Shrunk by proptest from every max- and average-pool property before the fix: a 1x2 input
/// with kernel 1, stride 2, pad 0 had a second output column reading column 2 of 2 (MaxPool
/// indexed past the plane, AvgPool gave 0 / 0 = NaN); the same along the rows for 3x1 with
/// stride 3. PoolGeometry::new now refuses both.
#[test]
fn regression_pool_geometry_refuses_an_empty_last_window() {
    // (channels, height, width, kernel, stride, pad)
    for (c, h, w, kernel, stride, pad) in [(1, 1, 2, 1, 2, 0), (1, 3, 1, 1, 3, 0)] {
        let g = PoolGeometry::new(c, h, w, kernel, stride, pad);
        assert!(
            g.is_err(),
            "{c}x{h}x{w}, kernel {kernel}, stride {stride}, pad {pad}: accepted as {g:?}"
        );
    }
}
