//! A network written the way a nalgebra user writes it, without the
//! project's idioms: references, a closure with a branch for the activation,
//! `map` for squares, integer casts, scalar-matrix products.

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;

#[differentiable(order = 2, wrt(w1, b1, w2))]
fn user_net(w1: &DMatrix<f64>, b1: &DVector<f64>, w2: &DMatrix<f64>, x: &DMatrix<f64>, y: &DMatrix<f64>) -> f64 {
    let z1 = w1 * x;
    let a1 = add_bias(&z1, b1).map(|v| if v > 0.0 { v } else { 0.01 * v });
    let z2 = w2 * &a1;
    let err = &z2 - y;
    let reg = 0.5 * (w1.norm_squared() + w2.norm_squared());
    let n = x.ncols() as f64;
    let data_loss = err.map(|e| e * e).sum() / n;
    data_loss + 1e-3 * reg + (2.0 * &a1).mean()
}

#[test]
fn user_network() {
    let w1 = DMatrix::from_fn(5, 3, |i, j| 0.2 * ((i * 3 + j) as f64).sin());
    let b1 = DVector::from_fn(5, |i, _| 0.1 * i as f64 - 0.2);
    let w2 = DMatrix::from_fn(2, 5, |i, j| 0.3 * ((i * 5 + j) as f64).cos());
    let x = DMatrix::from_fn(3, 4, |i, j| 0.5 * ((i + 2 * j) as f64).sin());
    let y = DMatrix::from_fn(2, 4, |i, j| 0.1 * (i + j) as f64);
    let (v, g) = user_net_grad(&w1, &b1, &w2, &x, &y);
    assert_eq!(v, user_net(&w1, &b1, &w2, &x, &y));
    let f = |p: &[f64]| user_net(&DMatrix::from_column_slice(5, 3, p), &b1, &w2, &x, &y);
    let gr = |p: &[f64]| {
        user_net_grad(&DMatrix::from_column_slice(5, 3, p), &b1, &w2, &x, &y)
            .1
            .w1
            .as_slice()
            .to_vec()
    };
    check_grad(f, gr, w1.as_slice()).unwrap();
    let _ = g;
}

/// Forward mode through the same code (the closure with a branch, `map`,
/// scalar-matrix products): the tangent against a central difference.
#[test]
fn user_network_tangent() {
    let w1 = DMatrix::from_fn(5, 3, |i, j| 0.2 * ((i * 3 + j) as f64).sin());
    let b1 = DVector::from_fn(5, |i, _| 0.1 * i as f64 - 0.2);
    let w2 = DMatrix::from_fn(2, 5, |i, j| 0.3 * ((i * 5 + j) as f64).cos());
    let x = DMatrix::from_fn(3, 4, |i, j| 0.5 * ((i + 2 * j) as f64).sin());
    let y = DMatrix::from_fn(2, 4, |i, j| 0.1 * (i + j) as f64);
    let split = |p: &[f64]| {
        (
            DMatrix::from_column_slice(5, 3, &p[..15]),
            DVector::from_column_slice(&p[15..20]),
            DMatrix::from_column_slice(2, 5, &p[20..]),
        )
    };
    let point = [w1.as_slice(), b1.as_slice(), w2.as_slice()].concat();
    let direction: Vec<f64> = (0..point.len()).map(|k| (0.9 * k as f64).cos()).collect();
    let f = |p: &[f64]| {
        let (w1, b1, w2) = split(p);
        vec![user_net(&w1, &b1, &w2, &x, &y)]
    };
    let jvp = |p: &[f64], v: &[f64]| {
        let ((w1, b1, w2), (d1, db, d2)) = (split(p), split(v));
        vec![user_net_jvp(&w1, &b1, &w2, &x, &y, d1, db, d2).1]
    };
    check_jvp(f, jvp, &point, &direction).unwrap();

    // And twice: its Hessian along the same direction.
    let grad = |p: &[f64]| {
        let (w1, b1, w2) = split(p);
        let g = user_net_grad(&w1, &b1, &w2, &x, &y).1;
        [g.w1.as_slice(), g.b1.as_slice(), g.w2.as_slice()].concat()
    };
    let hvp = |p: &[f64], v: &[f64]| {
        let ((w1, b1, w2), (d1, db, d2)) = (split(p), split(v));
        let h = user_net_hvp(&w1, &b1, &w2, &x, &y, &UserNetGrad { w1: d1, b1: db, w2: d2 }).2;
        [h.w1.as_slice(), h.b1.as_slice(), h.w2.as_slice()].concat()
    };
    autodiff::runtime::check_hvp(grad, hvp, &point, &direction).unwrap();
}

/// A matrix output: its tangent is a matrix, checked element by element.
#[differentiable]
fn activations(w: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    let z = w * x;
    z.map(|v| v.tanh() * v)
}

#[test]
fn matrix_output_tangent() {
    let w = DMatrix::from_fn(3, 2, |i, j| 0.4 * ((i * 2 + j) as f64).sin());
    let x = DMatrix::from_fn(2, 4, |i, j| 0.6 * ((i + 3 * j) as f64).cos());
    let dw = DMatrix::from_fn(3, 2, |i, j| ((i + j) as f64 * 0.7).cos());
    let f = |p: &[f64]| {
        activations(&DMatrix::from_column_slice(3, 2, p), &x)
            .as_slice()
            .to_vec()
    };
    let jvp = |p: &[f64], v: &[f64]| {
        let (w, dw) = (DMatrix::from_column_slice(3, 2, p), DMatrix::from_column_slice(3, 2, v));
        let (value, tangent) = activations_jvp(&w, &x, dw, DMatrix::zeros(2, 4));
        assert_eq!(value, activations(&w, &x));
        tangent.as_slice().to_vec()
    };
    check_jvp(f, jvp, w.as_slice(), dw.as_slice()).unwrap();
}
