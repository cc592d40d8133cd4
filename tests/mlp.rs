//! The reference networks W2 (mlp-small, tanh, MSE) and W3 (mlp-big, relu,
//! softmax cross-entropy) from WORKLOADS.md, written as plain nalgebra code
//! under `#[differentiable]`, checked against the published reference values,
//! against finite differences, and against a hand-written adjoint.

mod common;

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;

/// WORKLOADS.md data: element k (row-major) of tensor t is 0.3 sin(0.7 k + 1.3 t).
fn tensor(t: usize, rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |i, j| {
        0.3 * (0.7 * (i * cols + j) as f64 + 1.3 * t as f64).sin()
    })
}

fn vector(t: usize, rows: usize) -> DVector<f64> {
    tensor(t, rows, 1).column(0).into_owned()
}

struct Net {
    w1: DMatrix<f64>,
    b1: DVector<f64>,
    w2: DMatrix<f64>,
    b2: DVector<f64>,
    w3: DMatrix<f64>,
    b3: DVector<f64>,
}

fn w2_data() -> (Net, DMatrix<f64>, DMatrix<f64>) {
    let net = Net {
        w1: tensor(0, 64, 16),
        b1: vector(1, 64),
        w2: tensor(2, 64, 64),
        b2: vector(3, 64),
        w3: tensor(4, 1, 64),
        b3: vector(5, 1),
    };
    (net, tensor(6, 16, 32), tensor(7, 1, 32))
}

#[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
#[allow(clippy::too_many_arguments)]
fn mlp_small(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
) -> f64 {
    let h1 = add_bias(&(w1 * x), b1).tanh();
    let h2 = add_bias(&(w2 * &h1), b2).tanh();
    let o = add_bias(&(w3 * &h2), b3);
    mse(&o, y)
}

/// The same gradient by hand, as one writes it with nalgebra.
fn mlp_small_hand(n: &Net, x: &DMatrix<f64>, y: &DMatrix<f64>) -> (f64, [DMatrix<f64>; 6]) {
    let mut h1 = &n.w1 * x;
    h1.column_iter_mut().for_each(|mut c| c += &n.b1);
    h1.apply(|v| *v = v.tanh());
    let mut h2 = &n.w2 * &h1;
    h2.column_iter_mut().for_each(|mut c| c += &n.b2);
    h2.apply(|v| *v = v.tanh());
    let mut o = &n.w3 * &h2;
    o.column_iter_mut().for_each(|mut c| c += &n.b3);
    let d = &o - y;
    let count = d.len() as f64;
    let loss = d.norm_squared() / count;
    let go = d * (2.0 / count);
    let gw3 = &go * h2.transpose();
    let gb3 = go.column_sum();
    let mut g2 = n.w3.transpose() * &go;
    g2.zip_apply(&h2, |g, h| *g *= 1.0 - h * h);
    let gw2 = &g2 * h1.transpose();
    let gb2 = g2.column_sum();
    let mut g1 = n.w2.transpose() * &g2;
    g1.zip_apply(&h1, |g, h| *g *= 1.0 - h * h);
    let gw1 = &g1 * x.transpose();
    let gb1 = g1.column_sum();
    (
        loss,
        [
            gw1,
            DMatrix::from_column_slice(gb1.len(), 1, gb1.as_slice()),
            gw2,
            DMatrix::from_column_slice(gb2.len(), 1, gb2.as_slice()),
            gw3,
            DMatrix::from_column_slice(gb3.len(), 1, gb3.as_slice()),
        ],
    )
}

fn sums(tensors: &[&[f64]]) -> (f64, f64) {
    tensors
        .iter()
        .flat_map(|t| t.iter())
        .fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()))
}

#[test]
fn w2_matches_the_reference_values() {
    let (n, x, y) = w2_data();
    let (value, g) = mlp_small_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
    assert_eq!(value, mlp_small(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y));
    let (sum, abs) = sums(&[
        g.w1.as_slice(),
        g.b1.as_slice(),
        g.w2.as_slice(),
        g.b2.as_slice(),
        g.w3.as_slice(),
        g.b3.as_slice(),
    ]);
    // WORKLOADS.md: 0.07780726165, -0.1112694913, 53.9584343
    assert!((value - 0.07780726165).abs() < 1e-10, "{value}");
    assert!((sum - -0.1112694913).abs() < 1e-9, "{sum}");
    assert!((abs - 53.9584343).abs() < 1e-6, "{abs}");
}

#[test]
fn w2_matches_the_hand_written_adjoint() {
    let (n, x, y) = w2_data();
    let (value, g) = mlp_small_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
    let (hand_value, hand) = mlp_small_hand(&n, &x, &y);
    assert!((value - hand_value).abs() < 1e-14);
    let generated = [
        g.w1.as_slice(),
        g.b1.as_slice(),
        g.w2.as_slice(),
        g.b2.as_slice(),
        g.w3.as_slice(),
        g.b3.as_slice(),
    ];
    for (a, b) in generated.iter().zip(&hand) {
        for (u, v) in a.iter().zip(b.iter()) {
            assert!((u - v).abs() <= 1e-13 * v.abs().max(1e-3), "{u} vs {v}");
        }
    }
}

#[test]
fn w2_matches_finite_differences() {
    let (n, x, y) = w2_data();
    // Differentiate with respect to every parameter at once, flattened.
    let shapes = [(64, 16), (64, 1), (64, 64), (64, 1), (1, 64), (1, 1)];
    let unflatten = |p: &[f64]| {
        let mut offset = 0;
        let mut out = Vec::new();
        for (r, c) in shapes {
            out.push(DMatrix::from_column_slice(r, c, &p[offset..offset + r * c]));
            offset += r * c;
        }
        out
    };
    let column = |m: &DMatrix<f64>| DVector::from_column_slice(m.as_slice());
    let f = |p: &[f64]| {
        let t = unflatten(p);
        mlp_small(
            &t[0],
            &column(&t[1]),
            &t[2],
            &column(&t[3]),
            &t[4],
            &column(&t[5]),
            &x,
            &y,
        )
    };
    let grad = |p: &[f64]| {
        let t = unflatten(p);
        let g = mlp_small_grad(
            &t[0],
            &column(&t[1]),
            &t[2],
            &column(&t[3]),
            &t[4],
            &column(&t[5]),
            &x,
            &y,
        )
        .1;
        [
            g.w1.as_slice(),
            g.b1.as_slice(),
            g.w2.as_slice(),
            g.b2.as_slice(),
            g.w3.as_slice(),
            g.b3.as_slice(),
        ]
        .concat()
    };
    let point = [
        n.w1.as_slice(),
        n.b1.as_slice(),
        n.w2.as_slice(),
        n.b2.as_slice(),
        n.w3.as_slice(),
        n.b3.as_slice(),
    ]
    .concat();
    check_grad(f, grad, &point).unwrap();
}

fn w3_data() -> (Net, DMatrix<f64>, Vec<usize>) {
    let net = Net {
        w1: tensor(0, 256, 784),
        b1: vector(1, 256),
        w2: tensor(2, 256, 256),
        b2: vector(3, 256),
        w3: tensor(4, 10, 256),
        b3: vector(5, 10),
    };
    (net, tensor(6, 784, 64), (0..64).map(|b| b % 10).collect())
}

#[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
#[allow(clippy::too_many_arguments)]
fn mlp_big(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
    labels: &[usize],
) -> f64 {
    let h1 = add_bias(&(w1 * x), b1).relu();
    let h2 = add_bias(&(w2 * &h1), b2).relu();
    let z = add_bias(&(w3 * &h2), b3);
    softmax_cross_entropy(&z, labels)
}

#[test]
fn w3_matches_the_reference_values_and_finite_differences() {
    let (n, x, labels) = w3_data();
    let (value, g) = mlp_big_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &labels);
    let (sum, abs) = sums(&[
        g.w1.as_slice(),
        g.b1.as_slice(),
        g.w2.as_slice(),
        g.b2.as_slice(),
        g.w3.as_slice(),
        g.b3.as_slice(),
    ]);
    // WORKLOADS.md: 3.547093165, 25.54499457, 1689.67684
    assert!((value - 3.547093165).abs() < 1e-8, "{value}");
    assert!((sum - 25.54499457).abs() < 1e-6, "{sum}");
    assert!((abs - 1689.67684).abs() < 1e-4, "{abs}");
    // Finite differences on the output bias and on 12 weights spread over each
    // layer (the first layer alone has 200k weights). The tolerance is 1e-5:
    // the loss sums 64 samples through relu kinks, and its central differences
    // carry ~1e-10 of noise against gradient entries as small as 1e-5.
    let check = GradCheck::new().tolerance(1e-5);
    let f = |p: &[f64]| {
        mlp_big(
            &n.w1,
            &n.b1,
            &n.w2,
            &n.b2,
            &n.w3,
            &DVector::from_column_slice(p),
            &x,
            &labels,
        )
    };
    let grad = |p: &[f64]| {
        mlp_big_grad(
            &n.w1,
            &n.b1,
            &n.w2,
            &n.b2,
            &n.w3,
            &DVector::from_column_slice(p),
            &x,
            &labels,
        )
        .1
        .b3
        .as_slice()
        .to_vec()
    };
    check.check(f, grad, n.b3.as_slice()).unwrap();
    let picks: Vec<usize> = (0..12).map(|k| k * 7919 % (256 * 784)).collect();
    let with = |p: &[f64]| {
        let mut w1 = n.w1.clone();
        for (&i, &v) in picks.iter().zip(p) {
            w1.as_mut_slice()[i] = v;
        }
        w1
    };
    let f = |p: &[f64]| mlp_big(&with(p), &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &labels);
    let grad = |p: &[f64]| {
        let g = mlp_big_grad(&with(p), &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &labels)
            .1
            .w1;
        picks.iter().map(|&i| g.as_slice()[i]).collect()
    };
    let point: Vec<f64> = picks.iter().map(|&i| n.w1.as_slice()[i]).collect();
    check.check(f, grad, &point).unwrap();
}
