//! Every single-layer case of fixtures/caffe (outputs of the authors' Caffe code; how they were
//! made: fixtures/caffe/README.md and each case's manifest.json): forward, EB backward and
//! gradient backward, each compared with the tolerance stated beside it.
//!
//! Run `cargo test --test caffe_layers -- --nocapture` to see every comparison's error.

mod common;

use common::{assert_close, caffe_case, load, poisoned, ONE_LAYER};
use ebr::layers::fc::rows_and_inputs;
use ebr::layers::{
    AvgPool, Conv, ConvGeometry, Fc, Lstm, LstmActivations, MaxPool, MeanPool, PoolGeometry, Relu,
    Softmax,
};

/// (case, stride, pad): the kernel and channel counts come from the weight's shape.
const CONV_CASES: [(&str, usize, usize); 5] = [
    ("conv_k1s1p0_nobias", 1, 0),
    ("conv_k3s1p1", 1, 1),
    ("conv_k3s1p1_signed", 1, 1),
    ("conv_k3s2p0_odd", 2, 0),
    ("conv_k5s2p2", 2, 2),
];

#[test]
fn convolution_cases_match_caffe() {
    for (case, stride, pad) in CONV_CASES {
        let x = load(case, "input");
        let w = load(case, "weight");
        let b = caffe_case(case)
            .join("bias.npy")
            .exists()
            .then(|| load(case, "bias").data);
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let (o, kernel) = (w.shape[0], w.shape[2]);
        assert_eq!(w.shape, [o, c, kernel, kernel], "{case}: weight shape");
        let g = ConvGeometry::new(c, h, wd, o, kernel, stride, pad).unwrap();
        let conv = Conv::new(g, w.data, b);

        let want_y = load(case, "output");
        assert_eq!(
            want_y.shape,
            [n, o, g.out_height(), g.out_width()],
            "{case}: output shape (CONV-1)"
        );
        let mut y = poisoned(want_y.len());
        conv.forward(&mut y, &x.data, n);
        assert_close(&format!("{case} forward"), &y, &want_y.data, ONE_LAYER);

        let p_top = load(case, "top_signal");
        let mut p_bottom = poisoned(x.len());
        conv.eb_backward(&mut p_bottom, &x.data, &p_top.data, n);
        assert_close(
            &format!("{case} eb"),
            &p_bottom,
            &load(case, "eb_bottom").data,
            ONE_LAYER,
        );

        let mut dx = poisoned(x.len());
        conv.grad_backward(&mut dx, &p_top.data, n);
        assert_close(
            &format!("{case} grad"),
            &dx,
            &load(case, "grad_bottom").data,
            ONE_LAYER,
        );
    }
}

/// (case, Caffe's InnerProduct axis)
const FC_CASES: [(&str, usize); 4] = [
    ("fc_2d", 1),
    ("fc_2d_signed", 1),
    ("fc_4d_flatten", 1),
    ("fc_axis2", 2),
];

#[test]
fn inner_product_cases_match_caffe() {
    for (case, axis) in FC_CASES {
        let x = load(case, "input");
        let w = load(case, "weight");
        let b = load(case, "bias");
        let (rows, d) = rows_and_inputs(&x.shape, axis);
        let o = w.shape[0];
        assert_eq!(w.shape, [o, d], "{case}: weight shape (FC-1)");
        let fc = Fc::new(d, o, w.data, Some(b.data));

        let want_y = load(case, "output");
        assert_eq!(want_y.len(), rows * o, "{case}: output size (FC-1)");
        let mut y = poisoned(want_y.len());
        fc.forward(&mut y, &x.data, rows);
        assert_close(&format!("{case} forward"), &y, &want_y.data, ONE_LAYER);

        let p_top = load(case, "top_signal");
        let mut p_bottom = poisoned(x.len());
        fc.eb_backward(&mut p_bottom, &x.data, &p_top.data, rows);
        assert_close(
            &format!("{case} eb"),
            &p_bottom,
            &load(case, "eb_bottom").data,
            ONE_LAYER,
        );

        let mut dx = poisoned(x.len());
        fc.grad_backward(&mut dx, &p_top.data, rows);
        assert_close(
            &format!("{case} grad"),
            &dx,
            &load(case, "grad_bottom").data,
            ONE_LAYER,
        );
    }
}

/// (case, kernel, stride, pad)
const MAX_POOL_CASES: [(&str, usize, usize, usize); 4] = [
    ("maxpool_k2s2", 2, 2, 0),
    ("maxpool_k2s2_signed", 2, 2, 0),
    ("maxpool_k3s2_ceil", 3, 2, 0),
    ("maxpool_k3s2p1", 3, 2, 1),
];

#[test]
fn max_pooling_cases_match_caffe() {
    for (case, kernel, stride, pad) in MAX_POOL_CASES {
        let x = load(case, "input");
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let g = PoolGeometry::new(c, h, w, kernel, stride, pad).unwrap();
        let pool = MaxPool { geometry: g };

        let want_y = load(case, "output");
        assert_eq!(
            want_y.shape,
            [n, c, g.out_height(), g.out_width()],
            "{case}: output shape (POOL-1)"
        );
        let mut y = poisoned(want_y.len());
        pool.forward(&mut y, &x.data, n);
        // Max pooling copies values: exact.
        assert_close(&format!("{case} forward"), &y, &want_y.data, 0.0);

        let p_top = load(case, "top_signal");
        let mut p_bottom = poisoned(x.len());
        pool.eb_backward(&mut p_bottom, &x.data, &p_top.data, n);
        // Routing adds at most a few signals per input: rounding only.
        assert_close(
            &format!("{case} eb"),
            &p_bottom,
            &load(case, "eb_bottom").data,
            ONE_LAYER,
        );

        let mut dx = poisoned(x.len());
        pool.grad_backward(&mut dx, &x.data, &p_top.data, n);
        assert_close(
            &format!("{case} grad"),
            &dx,
            &load(case, "grad_bottom").data,
            ONE_LAYER,
        );
    }
}

/// (case, kernel, stride, pad)
const AVG_POOL_CASES: [(&str, usize, usize, usize); 4] = [
    ("avgpool_k2s2", 2, 2, 0),
    ("avgpool_k3s2_ceil", 3, 2, 0),
    ("avgpool_k3s2p1", 3, 2, 1),
    ("avgpool_k3s2p1_signed", 3, 2, 1),
];

#[test]
fn average_pooling_cases_match_caffe() {
    for (case, kernel, stride, pad) in AVG_POOL_CASES {
        let x = load(case, "input");
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        let g = PoolGeometry::new(c, h, w, kernel, stride, pad).unwrap();
        let pool = AvgPool { geometry: g };

        let want_y = load(case, "output");
        assert_eq!(
            want_y.shape,
            [n, c, g.out_height(), g.out_width()],
            "{case}: output shape (POOL-1)"
        );
        let mut y = poisoned(want_y.len());
        pool.forward(&mut y, &x.data, n);
        assert_close(&format!("{case} forward"), &y, &want_y.data, ONE_LAYER);

        // The EB rule divides by the forward output: use Caffe's, as the original does.
        let p_top = load(case, "top_signal");
        let mut p_bottom = poisoned(x.len());
        pool.eb_backward(&mut p_bottom, &x.data, &want_y.data, &p_top.data, n);
        assert_close(
            &format!("{case} eb"),
            &p_bottom,
            &load(case, "eb_bottom").data,
            ONE_LAYER,
        );
        // And with our own forward output: the same within rounding.
        pool.eb_backward(&mut p_bottom, &x.data, &y, &p_top.data, n);
        assert_close(
            &format!("{case} eb (own y)"),
            &p_bottom,
            &load(case, "eb_bottom").data,
            ONE_LAYER,
        );

        let mut dx = poisoned(x.len());
        pool.grad_backward(&mut dx, &p_top.data, n);
        assert_close(
            &format!("{case} grad"),
            &dx,
            &load(case, "grad_bottom").data,
            ONE_LAYER,
        );
    }
}

#[test]
fn relu_cases_match_caffe() {
    for case in ["relu", "relu_signed"] {
        let x = load(case, "input");
        let mut y = poisoned(x.len());
        Relu.forward(&mut y, &x.data);
        assert_close(
            &format!("{case} forward"),
            &y,
            &load(case, "output").data,
            0.0,
        );

        let p_top = load(case, "top_signal");
        let mut p_bottom = poisoned(x.len());
        Relu.eb_backward(&mut p_bottom, &x.data, &p_top.data);
        // A mask: exact.
        assert_close(
            &format!("{case} eb"),
            &p_bottom,
            &load(case, "eb_bottom").data,
            0.0,
        );
        let mut dx = poisoned(x.len());
        Relu.grad_backward(&mut dx, &x.data, &p_top.data);
        assert_close(
            &format!("{case} grad"),
            &dx,
            &load(case, "grad_bottom").data,
            0.0,
        );
        // In-place ReLU sees its own output: the same mask (RELU-2).
        Relu.eb_backward(&mut p_bottom, &y, &p_top.data);
        assert_close(
            &format!("{case} eb (in place)"),
            &p_bottom,
            &load(case, "eb_bottom").data,
            0.0,
        );
    }
}

#[test]
fn softmax_cases_match_caffe() {
    for (case, axis) in [("softmax_axis1", 1), ("softmax_axis2", 2)] {
        let x = load(case, "input");
        let softmax = Softmax::over_axis(&x.shape, axis);
        let mut y = poisoned(x.len());
        softmax.forward(&mut y, &x.data);
        assert_close(
            &format!("{case} forward"),
            &y,
            &load(case, "output").data,
            ONE_LAYER,
        );

        let mut dx = poisoned(x.len());
        softmax.grad_backward(&mut dx, &y, &load(case, "top_signal").data);
        assert_close(
            &format!("{case} grad"),
            &dx,
            &load(case, "grad_bottom").data,
            ONE_LAYER,
        );
    }
}

#[test]
fn lstm_cases_match_caffe() {
    for case in ["lstm_basic", "lstm_reset"] {
        let x = load(case, "x"); // (T, N, D)
        let cont = load(case, "cont"); // (T, N)
        let w_xc = load(case, "W_xc"); // (4H, D)
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
        act.h.fill(f32::NAN);
        act.c.fill(f32::NAN);
        lstm.forward(&mut act, &x.data, &cont.data);
        assert_close(
            &format!("{case} forward h"),
            &act.h,
            &load(case, "h").data,
            ONE_LAYER,
        );
        let c_last = &act.c[(t_n - 1) * n_n * h_n..];
        assert_close(
            &format!("{case} forward c_T"),
            c_last,
            &load(case, "c_T").data,
            ONE_LAYER,
        );

        for signal in ["last", "all"] {
            let p_h = load(case, &format!("signal_{signal}"));
            let mut p_x = poisoned(x.len());
            lstm.eb_backward(&mut p_x, &x.data, &cont.data, &act, &p_h.data);
            let want = load(case, &format!("eb_x_{signal}"));
            // Through up to T = 6 steps of the unit: still rounding of one layer's size.
            assert_close(
                &format!("{case} eb ({signal})"),
                &p_x,
                &want.data,
                ONE_LAYER,
            );

            let mut dx = poisoned(x.len());
            lstm.grad_backward(&mut dx, &cont.data, &act, &p_h.data);
            let want = load(case, &format!("grad_x_{signal}"));
            assert_close(
                &format!("{case} grad ({signal})"),
                &dx,
                &want.data,
                ONE_LAYER,
            );
        }
    }
}

#[test]
fn temporal_mean_pool_case_matches_caffe() {
    let case = "meanpool_time";
    let feat = load(case, "feat"); // (T, D)
    let (t_n, d) = (feat.shape[0], feat.shape[1]);
    let pool = MeanPool {
        steps: t_n,
        width: d,
    };
    let mut mean = poisoned(d);
    pool.forward(&mut mean, &feat.data);
    let want_mean = load(case, "meanpool");
    assert_close("meanpool_time forward", &mean, &want_mean.data, ONE_LAYER);

    let w = load(case, "fc8_w");
    let classes = w.shape[0];
    let fc8 = Fc::new(d, classes, w.data, Some(load(case, "fc8_b").data));
    let mut logits = poisoned(classes);
    fc8.forward(&mut logits, &mean, 1);
    assert_close(
        "meanpool_time fc8",
        &logits,
        &load(case, "fc8").data,
        ONE_LAYER,
    );

    // One-hot on fc8[1], EB through fc8, then the mean-pool (paper Eq. 8).
    let mut prior = vec![0.0; classes];
    prior[1] = 1.0;
    let mut p_mean = poisoned(d);
    fc8.eb_backward(&mut p_mean, &mean, &prior, 1);
    let mut p_feat = poisoned(feat.len());
    pool.eb_backward(&mut p_feat, &feat.data, &mean, &p_mean);
    // Two layers in sequence: still within one layer's rounding (fixtures README).
    assert_close(
        "meanpool_time eb",
        &p_feat,
        &load(case, "eb_feat").data,
        ONE_LAYER,
    );

    let mut d_mean = poisoned(d);
    fc8.grad_backward(&mut d_mean, &prior, 1);
    let mut d_feat = poisoned(feat.len());
    pool.grad_backward(&mut d_feat, &d_mean);
    assert_close(
        "meanpool_time grad",
        &d_feat,
        &load(case, "grad_feat").data,
        ONE_LAYER,
    );
}
