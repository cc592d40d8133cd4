//! `order = 2`: Hessian-vector products against finite differences of the
//! gradient, symmetric Hessians, and double backpropagation (a penalty on
//! `f_grad` inside another differentiable function) against finite
//! differences of the penalised objective.

use autodiff::prelude::*;
use autodiff::runtime::check_hvp;
use w1::{rosenbrock, rosenbrock_grad, rosenbrock_hvp, RosenbrockGrad};

#[path = "workloads/rosenbrock.rs"]
mod w1;

#[differentiable(order = 2)]
fn mixed(x: f64, y: f64, z: f64) -> f64 {
    let a = x * x * y + (x * y).sin() + y.exp() / x;
    let b = (z * 0.5).tanh() * x.ln() + z.powi(3) * y.sqrt();
    let c = x.powf(y * 0.5) + y.atan2(z) * x.hypot(z);
    a - b + (x / z).cos() * z.sigmoid() + (y * z).softplus() - x.atan() * z.abs() + c
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

/// Loops with carried values, a branch inside, and a `while`.
#[differentiable(order = 2)]
fn loopy(x: f64, y: f64) -> f64 {
    let mut s = x;
    let mut t = y * 0.5;
    for i in 0..4 {
        let k = i as f64 * 0.3;
        if s > t {
            s = s * t.cos() + k;
        } else {
            s = (s + y).sin() * x;
        }
        t = t * 0.9 + s * y;
    }
    let mut u = s * t;
    let mut n = 0;
    while n < 3 {
        u = u.tanh() + x * 0.1;
        n += 1;
    }
    u + s
}

fn loopy_grad_vec(p: &[f64]) -> Vec<f64> {
    let g = loopy_grad(p[0], p[1]).1;
    vec![g.x, g.y]
}

fn loopy_hvp_vec(p: &[f64], v: &[f64]) -> Vec<f64> {
    let (value, g, h) = loopy_hvp(p[0], p[1], &LoopyGrad { x: v[0], y: v[1] });
    assert_eq!(value, loopy(p[0], p[1]));
    assert_eq!(g, loopy_grad(p[0], p[1]).1);
    vec![h.x, h.y]
}

#[test]
fn hvp_through_loops() {
    for point in [[0.9, 1.1], [0.4, 0.2], [-0.3, 0.6]] {
        for v in [[1.0, 0.0], [0.0, 1.0], [0.7, -0.4]] {
            if let Err(report) = check_hvp(loopy_grad_vec, loopy_hvp_vec, &point, &v) {
                panic!("at {point:?} along {v:?}: {report}");
            }
        }
    }
}

/// W1 twice: the Hessian of the extended Rosenbrock function, a loop over
/// indexed reads.
#[test]
fn rosenbrock_hessian() {
    let x = w1::point(8);
    let v: Vec<f64> = (0..8).map(|k| (1.3 * k as f64).cos()).collect();
    let grad = |p: &[f64]| rosenbrock_grad(p).1.x;
    let hvp = |p: &[f64], v: &[f64]| {
        let (value, _, h) = rosenbrock_hvp(p, &RosenbrockGrad { x: v.to_vec() });
        assert_eq!(value, rosenbrock(p));
        h.x
    };
    check_hvp(grad, hvp, &x, &v).unwrap();
    // The Hessian is tridiagonal: row k along e_k has 100(12 x_k² - 4 x_{k+1}) + 2 (+ 200 from the previous term).
    let e0: Vec<f64> = (0..8).map(|k| if k == 0 { 1.0 } else { 0.0 }).collect();
    let h0 = hvp(&x, &e0);
    assert!((h0[0] - (1200.0 * x[0] * x[0] - 400.0 * x[1] + 2.0)).abs() < 1e-9 * h0[0].abs());
    assert!((h0[1] + 400.0 * x[0]).abs() < 1e-9 * h0[1].abs());
    assert!(h0[2..].iter().all(|h| *h == 0.0));
}

/// A matrix carried through a loop.
#[differentiable(order = 2, wrt(a, v0))]
fn power_steps(a: &autodiff::nalgebra::DMatrix<f64>, v0: &autodiff::nalgebra::DVector<f64>, steps: usize) -> f64 {
    let mut v = v0.clone();
    for _ in 0..steps {
        let w = a * &v;
        v = (&w / w.norm()).tanh();
    }
    v.dot(&(a * &v))
}

#[test]
fn hvp_with_matrices_carried() {
    use autodiff::nalgebra::{DMatrix, DVector};
    let a = DMatrix::from_fn(3, 3, |i, j| {
        0.2 + 0.1 * ((i * 3 + j) as f64).sin() + if i == j { 1.0 } else { 0.0 }
    });
    let v0 = DVector::from_vec(vec![0.4, -0.3, 0.8]);
    let split = |p: &[f64]| {
        (
            DMatrix::from_column_slice(3, 3, &p[..9]),
            DVector::from_column_slice(&p[9..]),
        )
    };
    let grad = |p: &[f64]| {
        let (a, v0) = split(p);
        let g = power_steps_grad(&a, &v0, 3).1;
        [g.a.as_slice(), g.v0.as_slice()].concat()
    };
    let hvp = |p: &[f64], d: &[f64]| {
        let ((a, v0), (da, dv0)) = (split(p), split(d));
        let (value, _, h) = power_steps_hvp(&a, &v0, 3, &PowerStepsGrad { a: da, v0: dv0 });
        assert_eq!(value, power_steps(&a, &v0, 3));
        [h.a.as_slice(), h.v0.as_slice()].concat()
    };
    let point = [a.as_slice(), v0.as_slice()].concat();
    let direction: Vec<f64> = (0..12).map(|k| (0.8 * k as f64 + 0.1).sin()).collect();
    check_hvp(grad, hvp, &point, &direction).unwrap();
}

#[differentiable(order = 2)]
fn bump(x: f64, y: f64) -> f64 {
    (x * y).sin() + x * x
}

/// Calls of another `order = 2` function inside a loop and a branch.
#[differentiable(order = 2)]
fn calls_inside(x: f64, y: f64) -> f64 {
    let mut s = x;
    for _ in 0..3 {
        s = bump(s, y) * 0.5 + y;
    }
    if s > x {
        bump(s, x)
    } else {
        bump(x, s) * s
    }
}

#[test]
fn hvp_through_calls_in_loops_and_branches() {
    let grad = |p: &[f64]| {
        let g = calls_inside_grad(p[0], p[1]).1;
        vec![g.x, g.y]
    };
    let hvp = |p: &[f64], v: &[f64]| {
        let (value, _, h) = calls_inside_hvp(p[0], p[1], &CallsInsideGrad { x: v[0], y: v[1] });
        assert_eq!(value, calls_inside(p[0], p[1]));
        vec![h.x, h.y]
    };
    for point in [[0.9, 1.1], [0.4, -0.2], [-0.6, 0.3]] {
        for v in [[1.0, 0.0], [0.0, 1.0], [0.7, -0.4]] {
            if let Err(report) = check_hvp(grad, hvp, &point, &v) {
                panic!("at {point:?} along {v:?}: {report}");
            }
        }
    }
    assert!(bump(0.3, 0.2).is_finite());
}

/// Nested loops, a branch in the inner one, indexed reads.
#[differentiable(order = 2)]
fn nested_loops(m: &autodiff::nalgebra::DMatrix<f64>, v: &[f64]) -> f64 {
    let mut total = 0.0;
    for i in 0..m.nrows() {
        let mut row = 0.0;
        for j in 0..m.ncols() {
            let t = m[(i, j)] * v[j];
            if t > 0.0 {
                row += t * t;
            } else {
                row += t.sin();
            }
        }
        total += row.tanh() * v[i];
    }
    total
}

#[test]
fn hvp_through_nested_loops() {
    use autodiff::nalgebra::DMatrix;
    // Away from the kink t = 0 of the inner branch.
    let m = DMatrix::from_fn(3, 4, |i, j| 0.4 * ((i * 4 + j) as f64 + 0.5).sin());
    let v = [0.5, -0.2, 0.9, 0.1];
    let split = |p: &[f64]| (DMatrix::from_column_slice(3, 4, &p[..12]), p[12..].to_vec());
    let grad = |p: &[f64]| {
        let (m, v) = split(p);
        let g = nested_loops_grad(&m, &v).1;
        [g.m.as_slice(), &g.v].concat()
    };
    let hvp = |p: &[f64], d: &[f64]| {
        let ((m, v), (dm, dv)) = (split(p), split(d));
        let (value, _, h) = nested_loops_hvp(&m, &v, &NestedLoopsGrad { m: dm, v: dv });
        assert_eq!(value, nested_loops(&m, &v));
        [h.m.as_slice(), &h.v].concat()
    };
    let point = [m.as_slice(), &v].concat();
    let direction: Vec<f64> = (0..16).map(|k| (0.7 * k as f64 + 0.3).cos()).collect();
    check_hvp(grad, hvp, &point, &direction).unwrap();
}

/// `ln(1 + eˣ)` behind a hand-written rule of second order: with
/// `#[differentiable(custom, order = 2)]` the user writes `softplus_vjp2`
/// (and `_vjp`, `_jvp`) and `order = 2` bodies call it.
#[differentiable(custom, order = 2)]
fn softplus(x: f64) -> f64 {
    x.exp().ln_1p()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softplus_vjp(x: f64) -> (f64, impl FnOnce(f64) -> SoftplusGrad) {
    (softplus(x), move |ct| SoftplusGrad { x: ct * sigmoid(x) })
}

fn softplus_jvp(x: f64, dx: f64) -> (f64, f64) {
    (softplus(x), dx * sigmoid(x))
}

/// `x̄ = ȳ σ`; along `ẋ`: `ẏ = σ ẋ` and `ẋ̄ = ȳ σ (1 - σ) ẋ + ẏ̄ σ`.
fn softplus_vjp2(x: f64) -> (f64, impl autodiff::runtime::Pullback2<f64, SoftplusGrad>) {
    let s = sigmoid(x);
    (softplus(x), move |ct: f64| {
        (SoftplusGrad { x: ct * s }, move |t: SoftplusGrad| {
            (s * t.x, move |ct_dot: Option<f64>| SoftplusGrad {
                x: ct * s * (1.0 - s) * t.x + ct_dot.unwrap_or(0.0) * s,
            })
        })
    })
}

#[differentiable(order = 2)]
fn uses_custom_second_order(w: f64, x: f64) -> f64 {
    softplus(w * x - 0.5) * w + softplus(x * x).sin()
}

/// A hand-written rule's gradient in a first-order body, in a loop: built
/// on `softplus_vjp2`, whose tangent sweep returns its terms, which are
/// then added into the running sum.
#[differentiable]
fn custom_gradient_in_a_loop(w: f64, n: usize) -> f64 {
    let mut p = 0.0;
    for k in 0..n {
        let (l, g) = softplus_grad(w);
        p += l * (k as f64 + 1.0) + g.x * g.x;
    }
    p
}

#[test]
fn custom_rules_of_second_order_get_every_companion() {
    // `softplus_grad` from `softplus_vjp`, `softplus_hvp` from `softplus_vjp2`.
    let grad = |p: &[f64]| vec![softplus_grad(p[0]).1.x];
    let hvp = |p: &[f64], v: &[f64]| vec![softplus_hvp(p[0], &SoftplusGrad { x: v[0] }).2.x];
    for x in [-1.3, 0.4, 2.2] {
        check_grad(|p: &[f64]| softplus(p[0]), grad, &[x]).unwrap();
        check_hvp(grad, hvp, &[x], &[0.7]).unwrap();
        assert_eq!(softplus_pullback(x, &2.0).x, 2.0 * softplus_grad(x).1.x);
    }
    // Double backpropagation through it, in a loop.
    for n in [1, 3] {
        let grad = |p: &[f64]| vec![custom_gradient_in_a_loop_grad(p[0], n).1.w];
        check_grad(|p: &[f64]| custom_gradient_in_a_loop(p[0], n), grad, &[0.4]).unwrap();
    }
}

#[test]
fn custom_rules_of_second_order_are_used() {
    let grad = |p: &[f64]| {
        let g = uses_custom_second_order_grad(p[0], p[1]).1;
        vec![g.w, g.x]
    };
    let hvp = |p: &[f64], v: &[f64]| {
        let h = uses_custom_second_order_hvp(p[0], p[1], &UsesCustomSecondOrderGrad { w: v[0], x: v[1] }).2;
        vec![h.w, h.x]
    };
    for point in [[0.3, -1.2], [1.1, 0.8]] {
        check_grad(|p: &[f64]| uses_custom_second_order(p[0], p[1]), grad, &point).unwrap();
        check_hvp(grad, hvp, &point, &[0.7, -0.4]).unwrap();
    }
}
