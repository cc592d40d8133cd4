//! `order = 2`: Hessian-vector products against finite differences of the
//! gradient, symmetric Hessians, and double backpropagation (a penalty on
//! `f_grad` inside another differentiable function) against finite
//! differences of the penalised objective.

use autodiff::prelude::*;
use autodiff::runtime::check_hvp;

#[differentiable(order = 2)]
fn mixed(x: f64, y: f64, z: f64) -> f64 {
    let a = x * x * y + (x * y).sin() + y.exp() / x;
    let b = (z * 0.5).tanh() * x.ln() + z.powi(3) * y.sqrt();
    a - b + (x / z).cos() * z.sigmoid() + (y * z).softplus() - x.atan() * z.abs()
}

fn mixed_grad_vec(p: &[f64]) -> Vec<f64> {
    let g = mixed_grad(p[0], p[1], p[2]).1;
    vec![g.x, g.y, g.z]
}

fn mixed_hvp_vec(p: &[f64], v: &[f64]) -> Vec<f64> {
    let v = MixedGrad {
        x: v[0],
        y: v[1],
        z: v[2],
    };
    let (value, g, h) = mixed_hvp(p[0], p[1], p[2], &v);
    assert_eq!(value, mixed(p[0], p[1], p[2]));
    assert_eq!(g, mixed_grad(p[0], p[1], p[2]).1);
    vec![h.x, h.y, h.z]
}

#[test]
fn hvp_matches_finite_differences_of_the_gradient() {
    for point in [[0.7, 1.3, -0.4], [1.9, 0.2, 1.1]] {
        for v in [[1.0, 0.0, 0.0], [0.3, -1.2, 0.8]] {
            if let Err(report) = check_hvp(mixed_grad_vec, mixed_hvp_vec, &point, &v) {
                panic!("at {point:?} along {v:?}: {report}");
            }
        }
    }
}

/// Inputs whose tangent is zero at run time have their terms skipped; the
/// result must not change (and is zero for a zero direction).
#[test]
fn zero_directions_give_zero_products() {
    let point = [0.7, 1.3, -0.4];
    assert_eq!(mixed_hvp_vec(&point, &[0.0, 0.0, 0.0]), vec![0.0, 0.0, 0.0]);
}

#[test]
fn hessians_are_symmetric() {
    let point = [0.7, 1.3, -0.4];
    let unit = |i: usize| {
        let mut e = [0.0; 3];
        e[i] = 1.0;
        e
    };
    let columns: Vec<Vec<f64>> = (0..3).map(|i| mixed_hvp_vec(&point, &unit(i))).collect();
    for (i, column) in columns.iter().enumerate() {
        for (j, &a) in column.iter().enumerate() {
            let b = columns[j][i];
            assert!(
                (a - b).abs() <= 1e-12 * a.abs().max(1.0),
                "H[{i}][{j}] = {a}, H[{j}][{i}] = {b}"
            );
        }
    }
}

#[differentiable(order = 2)]
fn fit(w: f64, b: f64, x: f64) -> f64 {
    let p = (w * x + b).tanh();
    (p - 0.3) * (p - 0.3)
}

/// A penalty on the input gradient, written as plain Rust.
#[differentiable(wrt(w, b))]
fn fit_regularized(w: f64, b: f64, x: f64) -> f64 {
    let (l, g) = fit_grad(w, b, x);
    l + 0.5 * g.x * g.x
}

#[test]
fn double_backprop_matches_finite_differences() {
    for (w, b, x) in [(0.8, -0.1, 0.6), (-1.3, 0.4, 1.2)] {
        let (value, g) = fit_regularized_grad(w, b, x);
        assert_eq!(value, fit_regularized(w, b, x));
        assert_eq!(fit_grad(w, b, x).0, fit(w, b, x));
        check_grad(
            |p: &[f64]| fit_regularized(p[0], p[1], x),
            |p: &[f64]| {
                let g = fit_regularized_grad(p[0], p[1], x).1;
                vec![g.w, g.b]
            },
            &[w, b],
        )
        .unwrap();
        assert!(g.w.is_finite());
    }
}

#[differentiable(order = 2)]
fn generic<T: Real>(x: T, y: T) -> T {
    x * x * y + x.sin()
}

/// Generic reals: `f = x² y + sin x` has `H = [[2y - sin x, 2x], [2x, 0]]`.
#[test]
fn generic_reals_twice() {
    let (x, y) = (0.5f64, 2.0);
    let (value, g, h) = generic_hvp(x, y, &GenericGrad { x: 1.0, y: 0.0 });
    assert_eq!(value, generic(x, y));
    assert!((g.x - (2.0 * x * y + x.cos())).abs() < 1e-12);
    assert!((h.x - (2.0 * y - x.sin())).abs() < 1e-12);
    assert!((h.y - 2.0 * x).abs() < 1e-12);
    let h32 = generic_hvp(0.5f32, 2.0, &GenericGrad { x: 0.0, y: 1.0 }).2;
    assert!((h32.x - 1.0).abs() < 1e-6 && h32.y == 0.0);
}

/// A branch on differentiated values: each side's Hessian.
#[differentiable(order = 2)]
fn branchy(x: f64, y: f64) -> f64 {
    let s = x * y;
    let t = if s > 0.5 {
        let u = s.sin() * x;
        u * u + y
    } else if x > y {
        x.exp() * y.tanh()
    } else {
        s
    };
    t * x + y.ln_1p()
}

fn branchy_grad_vec(p: &[f64]) -> Vec<f64> {
    let g = branchy_grad(p[0], p[1]).1;
    vec![g.x, g.y]
}

fn branchy_hvp_vec(p: &[f64], v: &[f64]) -> Vec<f64> {
    let (value, g, h) = branchy_hvp(p[0], p[1], &BranchyGrad { x: v[0], y: v[1] });
    assert_eq!(value, branchy(p[0], p[1]));
    assert_eq!(g, branchy_grad(p[0], p[1]).1);
    vec![h.x, h.y]
}

#[test]
fn hvp_through_branches() {
    // One point per arm: s > 0.5; x > y; neither.
    for point in [[0.9, 1.1], [0.4, 0.2], [0.2, 0.6]] {
        for v in [[1.0, 0.0], [0.0, 1.0], [0.7, -0.4]] {
            if let Err(report) = check_hvp(branchy_grad_vec, branchy_hvp_vec, &point, &v) {
                panic!("at {point:?} along {v:?}: {report}");
            }
        }
    }
}

/// Double backpropagation through a branch: the penalty of a loss that
/// switches form with its input.
#[differentiable(wrt(x, y))]
fn branchy_penalised(x: f64, y: f64) -> f64 {
    let (l, g) = branchy_grad(x, y);
    l + 0.3 * g.x * g.x + 0.1 * g.y * g.y
}

#[test]
fn double_backprop_through_branches() {
    for point in [[0.9, 1.1], [0.4, 0.2], [0.2, 0.6]] {
        let (value, _) = branchy_penalised_grad(point[0], point[1]);
        assert_eq!(value, branchy_penalised(point[0], point[1]));
        check_grad(
            |p: &[f64]| branchy_penalised(p[0], p[1]),
            |p: &[f64]| {
                let g = branchy_penalised_grad(p[0], p[1]).1;
                vec![g.x, g.y]
            },
            &point,
        )
        .unwrap();
    }
}
