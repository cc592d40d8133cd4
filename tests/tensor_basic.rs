mod common;

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;

#[differentiable]
fn quad(w: &DMatrix<f64>, x: &DMatrix<f64>, y: &DMatrix<f64>) -> f64 {
    let z = w * x;
    let d = z - y;
    let s = d.transpose() * 2.0;
    s.norm_squared() / 2.0 + w.sum() * x.mean() + (w.tr_mul(&d)).norm()
}

#[test]
fn quad_matches() {
    let w = DMatrix::from_fn(3, 4, |i, j| 0.3 * ((i * 4 + j) as f64 * 0.7).sin());
    let x = DMatrix::from_fn(4, 5, |i, j| 0.3 * ((i * 5 + j) as f64 * 0.7 + 1.3).sin());
    let y = DMatrix::from_fn(3, 5, |i, j| 0.3 * ((i * 5 + j) as f64 * 0.7 + 2.6).sin());
    let (v, g) = quad_grad(&w, &x, &y);
    assert!((v - quad(&w, &x, &y)).abs() < 1e-12);
    let f = |p: &[f64]| quad(&DMatrix::from_column_slice(3, 4, p), &x, &y);
    let gr = |p: &[f64]| {
        quad_grad(&DMatrix::from_column_slice(3, 4, p), &x, &y)
            .1
            .w
            .as_slice()
            .to_vec()
    };
    check_grad(f, gr, w.as_slice()).unwrap();
    let _ = DVector::<f64>::zeros(1);
    let _ = g;
}
