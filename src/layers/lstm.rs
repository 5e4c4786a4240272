//! The ReLU-LSTM of the original code (Caffe's unrolled LSTM with tanh replaced by ReLU) over
//! T steps with clip markers: forward, excitation backward and gradient backward.
//! spec/layers/lstm.md
//!
//! Gate order along the 4J axis: i, f, o, g.
//!
#![doc = include_str!("../../spec/layers/lstm.md")]

use super::excitation::usable_normalizer;
use super::fc::Fc;
use crate::gemm::{gemm, Op};

/// Which rule the excitation backward applies inside the LSTM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LstmEbRule {
    /// The original code's: the unit's gradient formula, back in time only through c
    /// (LSTM-5..LSTM-7). Does not conserve the signal.
    #[default]
    Original,
    /// ebr's own option: signal-take-all through the products and proportional shares at the
    /// cell's sum, so that the signal is conserved but for what zero normalizers drop
    /// (spec/layers/lstm.md, LSTM-9..LSTM-12, LSTM-P6..LSTM-P9).
    Conserving,
}

impl LstmEbRule {
    /// The name used on the command line (`--lstm-rule`) and in summary.json and eval.json.
    pub fn name(self) -> &'static str {
        match self {
            LstmEbRule::Original => "original",
            LstmEbRule::Conserving => "conserving",
        }
    }
}

/// An LSTM layer: W_xc (4J, D), b_c (4J), W_hc (4J, J).
#[derive(Clone, Debug, PartialEq)]
pub struct Lstm {
    /// D: input values per step and stream.
    pub inputs: usize,
    /// J: hidden units.
    pub hidden: usize,
    /// The input transform x_t -> W_xc x_t + b_c, an inner product with its own W_xc+.
    pub input_transform: Fc,
    /// w_hc: (4J, J)
    pub w_hc: Vec<f32>,
}

/// What the forward pass computed and the backward passes need, for T steps and N streams.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmActivations {
    pub steps: usize,
    pub streams: usize,
    pub hidden: usize,
    /// gates: (T, N, 4J), after their nonlinearity: i, f, o = sigmoid (f = 0 where cont = 0),
    /// g = relu.
    pub gates: Vec<f32>,
    /// c: (T, N, J), the cell state after each step.
    pub c: Vec<f32>,
    /// h: (T, N, J), the output after each step.
    pub h: Vec<f32>,
}

impl LstmActivations {
    /// Buffers for T steps of N streams of J units, filled with zeros.
    pub fn zeros(steps: usize, streams: usize, hidden: usize) -> LstmActivations {
        LstmActivations {
            steps,
            streams,
            hidden,
            gates: vec![0.0; steps * streams * 4 * hidden],
            c: vec![0.0; steps * streams * hidden],
            h: vec![0.0; steps * streams * hidden],
        }
    }
}

fn sigmoid(a: f32) -> f32 {
    1.0 / (1.0 + (-a).exp())
}

impl Lstm {
    /// Panics if the buffers do not fit D and J (the loader checks user files first).
    pub fn new(
        inputs: usize,
        hidden: usize,
        w_xc: Vec<f32>,
        b_c: Vec<f32>,
        w_hc: Vec<f32>,
    ) -> Lstm {
        assert_eq!(
            w_hc.len(),
            4 * hidden * hidden,
            "Lstm::new: w_hc is (4H, H)"
        );
        Lstm {
            inputs,
            hidden,
            input_transform: Fc::new(inputs, 4 * hidden, w_xc, Some(b_c)),
            w_hc,
        }
    }

    /// Overwrites `act` with the forward pass over `x` (T, N, D) with clip markers `cont`
    /// (T, N): 0 starts a new sequence, 1 continues it; h_0 = c_0 = 0.
    /// spec/layers/lstm.md (LSTM-1..LSTM-4)
    pub fn forward(&self, act: &mut LstmActivations, x: &[f32], cont: &[f32]) {
        let (t_n, n_n, h_n) = (act.steps, act.streams, self.hidden);
        assert_eq!(
            act.hidden, h_n,
            "Lstm::forward: activations have H={}, the layer {h_n}",
            act.hidden
        );
        assert_eq!(
            x.len(),
            t_n * n_n * self.inputs,
            "Lstm::forward: x is (T, N, D)"
        );
        assert_eq!(cont.len(), t_n * n_n, "Lstm::forward: cont is (T, N)");
        // LSTM-1: xg (T*N, 4J) = x W_xc^T + b_c, one inner product over all steps
        let mut a = vec![0.0f32; t_n * n_n * 4 * h_n];
        self.input_transform.forward(&mut a, x, t_n * n_n);
        let mut h_conted = vec![0.0f32; n_n * h_n]; // (N, J)
        for t in 0..t_n {
            let a_t = &mut a[t * n_n * 4 * h_n..(t + 1) * n_n * 4 * h_n]; // (N, 4J)
            if t > 0 {
                // LSTM-2: a_t += (cont_t * h_{t-1}) W_hc^T; no term at t = 0 (h before it is 0)
                let h_prev = &act.h[(t - 1) * n_n * h_n..t * n_n * h_n];
                for s in 0..n_n {
                    let cont_ts = cont[t * n_n + s];
                    for j in 0..h_n {
                        h_conted[s * h_n + j] = cont_ts * h_prev[s * h_n + j];
                    }
                }
                // a_t (N, 4J) += h_conted (N, J) * w_hc^T (J, 4J)
                gemm(
                    n_n,
                    h_n,
                    4 * h_n,
                    &h_conted,
                    Op::AsStored,
                    &self.w_hc,
                    Op::Transposed,
                    1.0,
                    a_t,
                );
            }
            for s in 0..n_n {
                let cont_ts = cont[t * n_n + s];
                let a_ts = &a_t[s * 4 * h_n..(s + 1) * 4 * h_n];
                let row = (t * n_n + s) * h_n;
                for j in 0..h_n {
                    // LSTM-3: the gates; f is 0 where the sequence restarts
                    let i = sigmoid(a_ts[j]);
                    let f = if cont_ts == 0.0 {
                        0.0
                    } else {
                        cont_ts * sigmoid(a_ts[h_n + j])
                    };
                    let o = sigmoid(a_ts[2 * h_n + j]);
                    let g = a_ts[3 * h_n + j].max(0.0);
                    // LSTM-4: c_t = f c_{t-1} + i g; h_t = o relu(c_t); c_0 = 0
                    let c_prev = if t > 0 {
                        act.c[row - n_n * h_n + j]
                    } else {
                        0.0
                    };
                    let c = f * c_prev + i * g;
                    act.c[row + j] = c;
                    act.h[row + j] = o * c.max(0.0);
                    let gates =
                        &mut act.gates[(t * n_n + s) * 4 * h_n..(t * n_n + s + 1) * 4 * h_n];
                    gates[j] = i;
                    gates[h_n + j] = f;
                    gates[2 * h_n + j] = o;
                    gates[3 * h_n + j] = g;
                }
            }
        }
    }

    /// Overwrites `p_x` (T, N, D) with the excitation backward of `p_h` (T, N, J), the signal
    /// on every step's output. As in the original: the unit's backward formula (LSTM-5), the
    /// whole gate signal to the input transform and none to W_hc h_{t-1} (LSTM-6: back in time
    /// only through c), then the EB rule of the inner product W_xc (LSTM-7).
    /// spec/layers/lstm.md (LSTM-5..LSTM-7)
    pub fn eb_backward(
        &self,
        p_x: &mut [f32],
        x: &[f32],
        cont: &[f32],
        act: &LstmActivations,
        p_h: &[f32],
    ) {
        let rows = act.steps * act.streams;
        // LSTM-5, LSTM-6: the unit's backward; no recurrent path (back in time only through c)
        let mut p_a = vec![0.0f32; rows * 4 * self.hidden]; // (T, N, 4J)
        self.backward_through_time(&mut p_a, cont, act, p_h, false);
        // LSTM-7: FC-3 through W_xc on the T*N rows; z from x and W_xc+ only (no b_c)
        self.input_transform.eb_backward(p_x, x, &p_a, rows);
    }

    /// Overwrites `p_x` (T, N, D) with ebr's conserving excitation backward of `p_h` (T, N, J),
    /// the signal on every step's output (`--lstm-rule conserving`; not in the original).
    /// Per stream and unit, from the last step to the first: all of h_t's signal to c_t (LSTM-9),
    /// c_t's signal split between f*c_{t-1} and i*g in proportion to their values, or dropped
    /// where c_t is 0 or not usable (LSTM-10), f*c_{t-1}'s share carried to c_{t-1}, i*g's
    /// share all to g and through its ReLU to a_g, none to the gates i, f, o (LSTM-11); nothing
    /// through W_hc. Then the EB rule of the inner product W_xc (LSTM-12 = LSTM-7).
    /// With x >= 0 and p_h >= 0: sum(p_x) = sum(p_h) minus what LSTM-10 and W_xc's unusable
    /// normalizers drop (LSTM-P6). `cont` is only checked for its shape: f, stored in `act`,
    /// is already 0 where cont == 0. spec/layers/lstm.md (LSTM-9..LSTM-12)
    pub fn eb_backward_conserving(
        &self,
        p_x: &mut [f32],
        x: &[f32],
        cont: &[f32],
        act: &LstmActivations,
        p_h: &[f32],
    ) {
        let (t_n, n_n, h_n) = (act.steps, act.streams, self.hidden);
        let rows = t_n * n_n;
        assert_eq!(
            act.hidden, h_n,
            "Lstm::eb_backward_conserving: activations have H={}, the layer {h_n}",
            act.hidden
        );
        assert_eq!(
            cont.len(),
            rows,
            "Lstm::eb_backward_conserving: cont is (T, N)"
        );
        assert_eq!(
            p_h.len(),
            rows * h_n,
            "Lstm::eb_backward_conserving: p_h is (T, N, H)"
        );
        let mut p_a = vec![0.0f32; rows * 4 * h_n]; // (T, N, 4J): 0 on the i, f, o rows
        let mut r_c_next = vec![0.0f32; n_n * h_n]; // (N, J): signal on c_t from step t+1
        for t in (0..t_n).rev() {
            for s in 0..n_n {
                let row = (t * n_n + s) * h_n;
                let gates = &act.gates[(t * n_n + s) * 4 * h_n..(t * n_n + s + 1) * 4 * h_n];
                let p_a_ts = &mut p_a[(t * n_n + s) * 4 * h_n..(t * n_n + s + 1) * 4 * h_n];
                for j in 0..h_n {
                    let (i, f, g) = (gates[j], gates[h_n + j], gates[3 * h_n + j]);
                    let c = act.c[row + j];
                    let c_prev = if t > 0 {
                        act.c[row - n_n * h_n + j]
                    } else {
                        0.0
                    };
                    // LSTM-9: all of h_t = o * relu(c_t) to c_t, plus c_t's signal from t+1
                    let r_c = p_h[row + j] + r_c_next[s * h_n + j];
                    // LSTM-10: c_t = f * c_{t-1} + i * g, split in proportion to the two terms;
                    // dropped where c_t is not a usable normalizer (c_t == 0: then h_t == 0)
                    let (r_fc, r_ig) = if usable_normalizer(c) {
                        (r_c * (f * c_prev / c), r_c * (i * g / c))
                    } else {
                        (0.0, 0.0)
                    };
                    // the signal on c_{t-1} (0 where f == 0: nothing crosses a sequence start)
                    r_c_next[s * h_n + j] = r_fc;
                    // LSTM-11: i * g gives all to g, and g = relu(a_g) passes it to a_g (where
                    // g == 0 the share i * g / c_t is already 0); i, f, o get nothing
                    p_a_ts[3 * h_n + j] = r_ig;
                }
            }
        }
        // LSTM-12 (= LSTM-7): FC-3 through W_xc on the T*N rows; z from x and W_xc+ only
        self.input_transform.eb_backward(p_x, x, &p_a, rows);
    }

    /// Overwrites `dx` (T, N, D) with the gradient at the input given `dh` (T, N, J): the
    /// unit's backward formula (LSTM-5), the recurrent path through W_hc (LSTM-8), then the
    /// gradient of the inner product W_xc. spec/layers/lstm.md (LSTM-5), (LSTM-8)
    pub fn grad_backward(&self, dx: &mut [f32], cont: &[f32], act: &LstmActivations, dh: &[f32]) {
        let rows = act.steps * act.streams;
        // LSTM-5 with the recurrent path LSTM-8
        let mut da = vec![0.0f32; rows * 4 * self.hidden]; // (T, N, 4J)
        self.backward_through_time(&mut da, cont, act, dh, true);
        // FC-4 through W_xc on the T*N rows
        self.input_transform.grad_backward(dx, &da, rows);
    }

    /// Overwrites `da` (T, N, 4J), the signal on every step's gate pre-activations, given the
    /// signal `dh_top` (T, N, J) on the outputs. With `recurrent`, step t also sends
    /// `cont_t * W_hc^T da_t` to h_{t-1} (the gradient); without, nothing (the original's EB).
    /// spec/layers/lstm.md (LSTM-5), (LSTM-6), (LSTM-8)
    fn backward_through_time(
        &self,
        da: &mut [f32],
        cont: &[f32],
        act: &LstmActivations,
        dh_top: &[f32],
        recurrent: bool,
    ) {
        let (t_n, n_n, h_n) = (act.steps, act.streams, self.hidden);
        assert_eq!(cont.len(), t_n * n_n, "Lstm backward: cont is (T, N)");
        assert_eq!(
            dh_top.len(),
            t_n * n_n * h_n,
            "Lstm backward: the top signal is (T, N, H)"
        );
        assert_eq!(
            da.len(),
            t_n * n_n * 4 * h_n,
            "Lstm backward: da is (T, N, 4H)"
        );
        let mut dc_next = vec![0.0f32; n_n * h_n]; // (N, J): signal on c_t from step t+1
        let mut dh_next = vec![0.0f32; n_n * h_n]; // (N, J): signal on h_t from step t+1 (W_hc)
        for t in (0..t_n).rev() {
            for s in 0..n_n {
                let row = (t * n_n + s) * h_n;
                let gates = &act.gates[(t * n_n + s) * 4 * h_n..(t * n_n + s + 1) * 4 * h_n];
                let da_ts = &mut da[(t * n_n + s) * 4 * h_n..(t * n_n + s + 1) * 4 * h_n];
                for j in 0..h_n {
                    let (i, f, o, g) = (
                        gates[j],
                        gates[h_n + j],
                        gates[2 * h_n + j],
                        gates[3 * h_n + j],
                    );
                    let c = act.c[row + j];
                    let c_prev = if t > 0 {
                        act.c[row - n_n * h_n + j]
                    } else {
                        0.0
                    };
                    let dh = dh_top[row + j] + dh_next[s * h_n + j];
                    // LSTM-5: the unit's backward (the same formula in EB and gradient mode)
                    let relu_c = c.max(0.0);
                    let dc = dc_next[s * h_n + j] + dh * o * if c > 0.0 { 1.0 } else { 0.0 };
                    dc_next[s * h_n + j] = dc * f;
                    da_ts[j] = dc * g * i * (1.0 - i);
                    da_ts[h_n + j] = dc * c_prev * f * (1.0 - f);
                    da_ts[2 * h_n + j] = dh * relu_c * o * (1.0 - o);
                    da_ts[3 * h_n + j] = if g > 0.0 { dc * i } else { 0.0 };
                }
            }
            if recurrent && t > 0 {
                // LSTM-8: dh_{t-1} (N, J) = cont_t * (da_t (N, 4J) * w_hc (4J, J))
                let da_t = &da[t * n_n * 4 * h_n..(t + 1) * n_n * 4 * h_n];
                gemm(
                    n_n,
                    4 * h_n,
                    h_n,
                    da_t,
                    Op::AsStored,
                    &self.w_hc,
                    Op::AsStored,
                    0.0,
                    &mut dh_next,
                );
                for s in 0..n_n {
                    let cont_ts = cont[t * n_n + s];
                    dh_next[s * h_n..(s + 1) * h_n]
                        .iter_mut()
                        .for_each(|v| *v *= cont_ts);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layer of spec/layers/lstm.md's worked example: D = J = 1, gates i, f, o with
    /// pre-activation 0 for x = 2 (so that they are exactly 0.5), g = x + 0.5 * h_{t-1}.
    fn example_lstm() -> Lstm {
        Lstm::new(
            1,
            1,
            vec![1.0, 1.0, 1.0, 1.0],
            vec![-2.0, -2.0, -2.0, 0.0],
            vec![0.0, 0.0, 0.0, 0.5],
        )
    }

    fn forward(lstm: &Lstm, x: &[f32], cont: &[f32]) -> LstmActivations {
        let mut act = LstmActivations::zeros(2, 1, 1);
        act.gates.fill(f32::NAN);
        act.c.fill(f32::NAN);
        act.h.fill(f32::NAN);
        lstm.forward(&mut act, x, cont);
        act
    }

    /// The worked example of spec/layers/lstm.md: every value is exact in f32.
    #[test]
    fn worked_example() {
        let lstm = example_lstm();
        let (x, cont) = ([2.0, 2.0], [0.0, 1.0]);
        let act = forward(&lstm, &x, &cont); // LSTM-1..LSTM-4
        assert_eq!(act.gates, [0.5, 0.0, 0.5, 2.0, 0.5, 0.5, 0.5, 2.25]);
        assert_eq!(act.c, [1.0, 1.625]);
        assert_eq!(act.h, [0.5, 0.8125]);

        // LSTM-5..LSTM-7: p_a = [0.125, 0, 0, 0.125 | 0.28125, 0.125, 0.40625, 0.25], z = 2.
        let p_h = [0.0, 1.0];
        let mut p_x = [f32::NAN; 2];
        lstm.eb_backward(&mut p_x, &x, &cont, &act, &p_h);
        assert_eq!(p_x, [0.25, 1.0625]);
        assert_eq!(p_x.iter().sum::<f32>(), 1.3125); // 1 on h: the unit does not conserve

        // LSTM-5, LSTM-8: the recurrent path adds dh = 0.125 at step 0.
        let mut dx = [f32::NAN; 2];
        lstm.grad_backward(&mut dx, &cont, &act, &p_h);
        assert_eq!(dx, [0.34375, 1.0625]);
    }

    /// spec/layers/lstm.md (LSTM-P5): with cont = 0 at step 1, a signal on h at step 1 does
    /// not reach step 0, in EB or gradient mode.
    #[test]
    fn clip_marker_cuts_the_past() {
        let lstm = example_lstm();
        let (x, cont) = ([2.0, 2.0], [0.0, 0.0]);
        let act = forward(&lstm, &x, &cont);
        assert_eq!(act.gates, [0.5, 0.0, 0.5, 2.0, 0.5, 0.0, 0.5, 2.0]);
        assert_eq!(act.c, [1.0, 1.0]);
        assert_eq!(act.h, [0.5, 0.5]);

        // Step 1: p_a = [0.25, 0, 0.25, 0.25], z = 2: p_x[1] = 0.75.
        let p_h = [0.0, 1.0];
        let mut p_x = [f32::NAN; 2];
        lstm.eb_backward(&mut p_x, &x, &cont, &act, &p_h);
        assert_eq!(p_x, [0.0, 0.75]);
        let mut dx = [f32::NAN; 2];
        lstm.grad_backward(&mut dx, &cont, &act, &p_h);
        assert_eq!(dx, [0.0, 0.75]);
    }
}
