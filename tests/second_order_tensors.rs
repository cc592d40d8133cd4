//! `order = 2` on matrices: for every matrix rule with a second-order form,
//! the Hessian-vector product of a function using it against central
//! differences of its gradient along the same direction.

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;
use autodiff::runtime::check_hvp;
use matrices::{data, flat, split};

#[path = "common/matrices.rs"]
mod matrices;

macro_rules! cases {
    ($($name:ident($($arg:ident: ($r:expr, $c:expr)),+) = $body:expr;)*) => {$(
        mod $name {
            use super::*;

            #[differentiable(order = 2)]
            pub fn f($($arg: &DMatrix<f64>),+) -> f64 {
                $body
            }

            #[test]
            fn hvp_matches_finite_differences_of_the_gradient() {
                let shapes = [$(($r, $c)),+];
                let (point, direction) = {
                    let mut t = 0;
                    let point = vec![$({ t += 1; let _ = stringify!($arg); data(t, $r, $c) }),+];
                    let direction = vec![$({ t += 1; let _ = stringify!($arg); data(t + 20, $r, $c) }),+];
                    (flat(&point), flat(&direction))
                };
                let grad = |p: &[f64]| {
                    let m = split(&shapes, p);
                    let [$($arg),+] = &m[..] else { unreachable!() };
                    let g = f_grad($($arg),+).1;
                    flat(&[$(g.$arg),+])
                };
                let hvp = |p: &[f64], v: &[f64]| {
                    let (m, d) = (split(&shapes, p), split(&shapes, v));
                    let [$($arg),+] = &m[..] else { unreachable!() };
                    let v = {
                        let mut d = d.into_iter();
                        FGrad { $($arg: { let _ = stringify!($arg); d.next().unwrap() }),+ }
                    };
                    let (value, g, h) = f_hvp($($arg,)+ &v);
                    assert_eq!(value, f($($arg),+));
                    assert_eq!(g, f_grad($($arg),+).1);
                    flat(&[$(h.$arg),+])
                };
                if let Err(report) = check_hvp(grad, hvp, &point, &direction) {
                    panic!("{report}");
                }
            }
        }
    )*};
}

cases! {
    matmul_small(a: (3, 4), b: (4, 2)) = (a * b).norm_squared();
    matmul_strided(a: (7, 8), b: (8, 9)) = (a * b).component_mul(&(a * b)).sum();
    matmul_chain(a: (6, 7), b: (7, 6), c: (6, 3)) = (a * b * c).tanh().sum();
    add_sub_neg(a: (3, 4), b: (3, 4)) = (a + b - &(-a * 2.0)).norm();
    scale(a: (3, 4), s: (1, 1)) = (a * s.sum() + &(a / s.mean()) * 2.0 - s.norm() * a).norm_squared();
    transpose(a: (3, 4), b: (3, 4)) = (a.transpose() * b).norm_squared() + (a * b.transpose()).mean();
    dot(a: (5, 1), b: (5, 1)) = a.dot(b) * a.dot(a);
    tr_mul(a: (4, 3), b: (4, 5)) = a.tr_mul(b).norm_squared();
    component(a: (3, 4), b: (3, 4)) = a.component_mul(b).sum() * a.sum() + a.component_div(&(b.component_mul(b) + DMatrix::from_element(3, 4, 1.0))).norm_squared();
    column_row(a: (3, 4)) = a.column(1).norm_squared() + a.row(2).sum() * a.column(3).sum();
    relu(a: (4, 5), b: (4, 5)) = a.relu().component_mul(b).norm_squared() + a.leaky_relu(0.1).component_mul(&b.elu(0.7)).sum();
    smooth(a: (4, 5)) = (a * 3.0).sigmoid().norm_squared() + a.tanh().norm_squared() + a.softplus().component_mul(&a.gelu()).sum() + a.silu().mean();
    owned_and_scaled(a: (3, 4), s: (1, 1)) = {
        let c = a.clone();
        let t = s.sum();
        (c.scale(t) + a.add_scalar(t * 0.5)).norm_squared() + a.clone().into_owned().sum() * t
    };
    sums(a: (3, 4), b: (3, 4)) = a.column_sum().norm_squared() + a.row_sum().dot(&b.row_sum());
    branch_on_matrix(a: (3, 4), b: (3, 4)) = {
        let s = a.sum();
        let m = if s > 0.0 { a.component_mul(b).tanh() } else { (a - b) * s };
        m.norm_squared() + s * b.mean()
    };
    branch_other_arm(a: (3, 4), b: (3, 4)) = {
        let s = a.sum();
        let m = if s < 0.0 { a.component_mul(b).tanh() } else { (a - b) * s };
        m.norm_squared() + s * b.mean()
    };
    map_closure(a: (4, 5), b: (4, 5)) = a.map(|v| v.sin() * v + (v * 0.5).exp()).component_mul(b).sum() + (a * 2.0).map(|v| v * v * v).norm_squared();
    map_path(a: (4, 5)) = a.map(f64::tanh).norm_squared() + a.map(relu).sum() + a.map(f64::exp).mean();
    map_branch(a: (4, 5)) = a.map(|v| if v > 0.1 { v * v } else { -v.sin() }).norm_squared();
    zip_map(a: (4, 5), b: (4, 5)) = a.zip_map(b, |x, y| x * y.exp() + x.sin() * y * y).norm_squared() + a.zip_map(&(b * 2.0), |x, y| x.max(y) * x).sum();
    cross_entropy(w: (3, 4), x: (4, 5)) = softmax_cross_entropy(&(w * x), &[0, 1, 2, 1, 0]) + (w * x).norm_squared() * 0.1;
    bias_and_mse(w: (4, 3), x: (3, 6), b: (4, 1), y: (4, 6)) = {
        let bias = b.column(0);
        let h = add_bias(&(w * x), &bias).tanh();
        mse(&h, y) * 3.0 + mse(&(w * x), &h)
    };
}

/// A call of another `order = 2` function, with a vector parameter.
#[differentiable(order = 2)]
fn layer(w: &DMatrix<f64>, b: &DVector<f64>, x: &DMatrix<f64>) -> f64 {
    add_bias(&(w * x), b).sigmoid().norm_squared()
}

#[differentiable(order = 2)]
fn calls_layer(w: &DMatrix<f64>, b: &DVector<f64>, x: &DMatrix<f64>) -> f64 {
    // (Arguments are parameters: a local passed by reference to a generated
    // function cannot be borrowed by its pullback; see the README.)
    let inner = layer(w, b, x);
    inner * inner + inner.sin() * w.norm_squared()
}

#[test]
fn hvp_through_nested_calls() {
    let shapes = [(3, 4), (3, 1), (4, 5)];
    let point = flat(&[data(1, 3, 4), data(2, 3, 1), data(3, 4, 5)]);
    let direction = flat(&[data(4, 3, 4), data(5, 3, 1), data(6, 4, 5)]);
    let column = |m: &DMatrix<f64>| DVector::from_column_slice(m.as_slice());
    let grad = |p: &[f64]| {
        let m = split(&shapes, p);
        let g = calls_layer_grad(&m[0], &column(&m[1]), &m[2]).1;
        flat(&[g.w, DMatrix::from_column_slice(3, 1, g.b.as_slice()), g.x])
    };
    let hvp = |p: &[f64], v: &[f64]| {
        let (m, d) = (split(&shapes, p), split(&shapes, v));
        let v = CallsLayerGrad {
            w: d[0].clone(),
            b: column(&d[1]),
            x: d[2].clone(),
        };
        let (value, _, h) = calls_layer_hvp(&m[0], &column(&m[1]), &m[2], &v);
        let inner = layer(&m[0], &column(&m[1]), &m[2]);
        assert_eq!(value, calls_layer(&m[0], &column(&m[1]), &m[2]));
        assert!(inner > 0.0);
        flat(&[h.w, DMatrix::from_column_slice(3, 1, h.b.as_slice()), h.x])
    };
    if let Err(report) = check_hvp(grad, hvp, &point, &direction) {
        panic!("{report}");
    }
}

cases! {
    softmax_second_order(w: (3, 4), x: (4, 5), y: (3, 5)) = softmax(&(w * x)).component_mul(y).norm_squared() + softmax(&(w * x)).sum() * 0.3;
    log_softmax_second_order(w: (3, 4), x: (4, 5), y: (3, 5)) = log_softmax(&(w * x)).component_mul(y).sum() + log_softmax(&(w * x)).norm_squared() * 0.1;
    logsumexp_second_order(w: (3, 4), x: (4, 5)) = logsumexp(&(w * x)) * logsumexp(&(w * x).tanh()) + logsumexp(w);
}
