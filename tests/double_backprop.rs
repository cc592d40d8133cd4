//! W4 of WORKLOADS.md: the W2 network with an input-gradient penalty,
//! `R = L + 0.1 ‖dL/dX‖²`, written as plain Rust on `w4_*_loss_grad` (tanh and
//! relu); gradients against the reference values and against central
//! differences along random directions.

mod workloads;

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;
use workloads::*;

type Objective = fn(
    &DMatrix<f64>,
    &DVector<f64>,
    &DMatrix<f64>,
    &DVector<f64>,
    &DMatrix<f64>,
    &DVector<f64>,
    &DMatrix<f64>,
    &DMatrix<f64>,
) -> f64;

/// The parameters flattened, and back.
fn flatten(n: &Net) -> Vec<f64> {
    [
        n.w1.as_slice(),
        n.b1.as_slice(),
        n.w2.as_slice(),
        n.b2.as_slice(),
        n.w3.as_slice(),
        n.b3.as_slice(),
    ]
    .concat()
}

fn unflatten(p: &[f64]) -> Net {
    let mut offset = 0;
    let mut take = |r: usize, c: usize| {
        let m = DMatrix::from_column_slice(r, c, &p[offset..offset + r * c]);
        offset += r * c;
        m
    };
    let column = |m: DMatrix<f64>| DVector::from_column_slice(m.as_slice());
    Net {
        w1: take(64, 16),
        b1: column(take(64, 1)),
        w2: take(64, 64),
        b2: column(take(64, 1)),
        w3: take(1, 64),
        b3: column(take(1, 1)),
    }
}

fn check_w4(
    objective: Objective,
    gradient: impl Fn(&Net, &DMatrix<f64>, &DMatrix<f64>) -> (f64, Vec<f64>),
    reference: [f64; 3],
) {
    let (n, x, y) = w2_data();
    let (value, g) = gradient(&n, &x, &y);
    assert_eq!(value, objective(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y));
    let (sum, abs) = g.iter().fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()));
    let [rv, rs, ra] = reference;
    assert!((value - rv).abs() < 1e-9 * rv.abs(), "value {value} vs {rv}");
    assert!((sum - rs).abs() < 1e-8 * ra, "gradient sum {sum} vs {rs}");
    assert!((abs - ra).abs() < 1e-8 * ra, "gradient abs sum {abs} vs {ra}");

    // Central differences of the objective along random directions.
    let point = flatten(&n);
    let f = |p: &[f64]| {
        let n = unflatten(p);
        vec![objective(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y)]
    };
    for seed in [0.37, 1.91] {
        let v: Vec<f64> = (0..point.len()).map(|k| (seed * k as f64 + 0.2).sin()).collect();
        let along = |p: &[f64], v: &[f64]| {
            let g = gradient(&unflatten(p), &x, &y).1;
            vec![g.iter().zip(v).map(|(a, b)| a * b).sum()]
        };
        if let Err(report) = GradCheck::new().tolerance(1e-6).check_jvp(f, along, &point, &v) {
            panic!("{report}");
        }
    }
}

#[test]
fn w4_tanh_matches_the_reference_values_and_finite_differences() {
    // WORKLOADS.md: 0.0778809525, -0.1103594402, 54.00236367
    check_w4(
        w4_tanh,
        |n, x, y| {
            let (v, g) = w4_tanh_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, x, y);
            (v, grad_slices!(g).concat())
        },
        [0.0778809525, -0.1103594402, 54.00236367],
    );
}

#[test]
fn w4_relu_matches_the_reference_values_and_finite_differences() {
    // WORKLOADS.md: 0.1983392739, 25.62987737, 67.09164852
    check_w4(
        w4_relu,
        |n, x, y| {
            let (v, g) = w4_relu_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, x, y);
            (v, grad_slices!(g).concat())
        },
        [0.1983392739, 25.62987737, 67.09164852],
    );
}
