//! Penalties on derivatives, written as plain Rust over `order = 2`
//! functions: W4 (`R = L + 0.1 ‖dL/dX‖²` on `w4_*_loss_grad`) and W5 (the
//! exact Jacobian Frobenius penalty on `w5_*_net_pullback`), tanh and relu;
//! gradients against WORKLOADS.md's reference values and against central
//! differences along random directions.

mod workloads;

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;
use workloads::*;

/// Checks a penalised objective's gradient against the reference values and
/// against central differences of the objective along two random directions.
fn check(
    net: &Net,
    objective: impl Fn(&Net) -> f64,
    gradient: impl Fn(&Net) -> (f64, Vec<f64>),
    [value_ref, sum_ref, abs_ref]: [f64; 3],
) {
    let (value, g) = gradient(net);
    assert_eq!(value, objective(net));
    let (sum, abs) = g.iter().fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()));
    assert!(
        (value - value_ref).abs() < 1e-9 * value_ref.abs(),
        "value {value} vs {value_ref}"
    );
    assert!(
        (sum - sum_ref).abs() < 1e-8 * abs_ref,
        "gradient sum {sum} vs {sum_ref}"
    );
    assert!(
        (abs - abs_ref).abs() < 1e-8 * abs_ref,
        "gradient abs sum {abs} vs {abs_ref}"
    );

    let point = net.flatten();
    for seed in [0.37, 1.91] {
        let v: Vec<f64> = (0..point.len()).map(|k| (seed * k as f64 + 0.2).sin()).collect();
        let f = |p: &[f64]| vec![objective(&Net::unflatten(p, net.sizes()))];
        let along = |p: &[f64], v: &[f64]| {
            let g = gradient(&Net::unflatten(p, net.sizes())).1;
            vec![g.iter().zip(v).map(|(a, b)| a * b).sum()]
        };
        if let Err(report) = GradCheck::new().check_jvp(f, along, &point, &v) {
            panic!("{report}");
        }
    }
}

#[test]
fn w4_tanh_matches_the_reference_values_and_finite_differences() {
    let (n, x, y) = w2_data();
    check(
        &n,
        |n| w4_tanh(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y),
        |n| {
            let (v, g) = w4_tanh_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
            (v, grad_slices!(g).concat())
        },
        // WORKLOADS.md
        [0.0778809525, -0.1103594402, 54.00236367],
    );
}

#[test]
fn w4_relu_matches_the_reference_values_and_finite_differences() {
    let (n, x, y) = w2_data();
    check(
        &n,
        |n| w4_relu(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y),
        |n| {
            let (v, g) = w4_relu_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
            (v, grad_slices!(g).concat())
        },
        [0.1983392739, 25.62987737, 67.09164852],
    );
}

#[test]
fn w5_tanh_matches_the_reference_values_and_finite_differences() {
    let (n, x, seeds) = w5_data();
    check(
        &n,
        |n| w5_tanh(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &seeds),
        |n| {
            let (v, g) = w5_tanh_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &seeds);
            (v, grad_slices!(g).concat())
        },
        [13.40842536, 192.0182931, 15966.51832],
    );
}

#[test]
fn w5_relu_matches_the_reference_values_and_finite_differences() {
    let (n, x, seeds) = w5_data();
    check(
        &n,
        |n| w5_relu(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &seeds),
        |n| {
            let (v, g) = w5_relu_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &seeds);
            (v, grad_slices!(g).concat())
        },
        [752.364911, -2494.248767, 123056.0399],
    );
}

/// The penalty is the squared Frobenius norm of the Jacobian, column by
/// column: against the Jacobian built by forward mode, one input direction
/// at a time.
#[test]
fn w5_penalty_is_the_jacobian_norm() {
    let (n, x, seeds) = w5_data();
    let p = w5_tanh(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &seeds);
    let mut total = 0.0;
    for j in 0..16 {
        let e = DMatrix::from_fn(16, 32, |r, _| if r == j { 1.0 } else { 0.0 });
        let zero = |m: &DMatrix<f64>| DMatrix::zeros(m.nrows(), m.ncols());
        let zv = |v: &DVector<f64>| DVector::zeros(v.len());
        let (_, t) = w5_tanh_net_jvp(
            &n.w1,
            &n.b1,
            &n.w2,
            &n.b2,
            &n.w3,
            &n.b3,
            &x,
            zero(&n.w1),
            zv(&n.b1),
            zero(&n.w2),
            zv(&n.b2),
            zero(&n.w3),
            zv(&n.b3),
            e,
        );
        total += t.norm_squared();
    }
    assert!((p - total).abs() < 1e-10 * p, "{p} vs {total}");
}

/// The hand-written forward-over-reverse the benchmarks compare with
/// computes the same gradients.
#[test]
fn hand_written_penalties_agree() {
    use workloads::penalties::{w4_hand, w5_first_order, w5_hand, Act};
    let close = |a: &[f64], b: &[f64]| {
        let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        a.iter().zip(b).all(|(a, b)| (a - b).abs() <= 1e-12 * scale)
    };
    let (n, x, y) = w2_data();
    for act in [Act::Tanh, Act::Relu] {
        let (v, g) = w4_hand(&n, &x, &y, act);
        let (vg, gg) = match act {
            Act::Tanh => {
                let (v, g) = w4_tanh_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
                (v, grad_slices!(g).concat())
            }
            Act::Relu => {
                let (v, g) = w4_relu_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
                (v, grad_slices!(g).concat())
            }
        };
        assert!((v - vg).abs() < 1e-14, "{act:?}: {v} vs {vg}");
        assert!(close(&g.concat_slices(), &gg), "{act:?}");
    }
    let (n, x, seeds) = w5_data();
    for act in [Act::Tanh, Act::Relu] {
        let (v, g) = w5_hand(&n, &x, act);
        let (vg, gg) = match act {
            Act::Tanh => {
                let (v, g) = w5_tanh_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &seeds);
                (v, grad_slices!(g).concat())
            }
            Act::Relu => {
                let (v, g) = w5_relu_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &seeds);
                (v, grad_slices!(g).concat())
            }
        };
        assert!((v - vg).abs() < 1e-12 * vg.abs(), "{act:?}: {v} vs {vg}");
        assert!(close(&g.concat_slices(), &gg), "{act:?}");
        // The benchmark's first-order reference computes the same value.
        let first_order = w5_first_order(&n, &x, act);
        assert!(
            (first_order - vg).abs() < 1e-12 * vg.abs(),
            "{act:?}: {first_order} vs {vg}"
        );
    }
}

trait ConcatSlices {
    fn concat_slices(&self) -> Vec<f64>;
}

impl ConcatSlices for [DMatrix<f64>; 6] {
    fn concat_slices(&self) -> Vec<f64> {
        self.iter().flat_map(|m| m.iter().copied()).collect()
    }
}

/// The random-projection estimator (Hoffman et al. 2019) through the same
/// plain-Rust penalty: close to the exact value with enough projections,
/// and its gradient is the gradient of the estimate.
#[test]
fn w5_random_projections_estimate_the_penalty() {
    use autodiff::runtime::jacobian::random_projections;
    let (n, x, exact_seeds) = w5_data();
    let exact = w5_tanh(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &exact_seeds);
    let seeds = random_projections(10, 32, 60, 11);
    let (estimate, g) = w5_tanh_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &seeds);
    assert!((estimate - exact).abs() < 0.1 * exact, "{estimate} vs {exact}");
    let v = DMatrix::from_fn(64, 64, |i, j| ((i + 3 * j) as f64).sin());
    let h = 1e-6;
    let at = |t: f64| w5_tanh(&n.w1, &n.b1, &(&n.w2 + &v * t), &n.b2, &n.w3, &n.b3, &x, &seeds);
    let numeric = (at(h) - at(-h)) / (2.0 * h);
    let analytic = g.w2.dot(&v);
    assert!(
        (numeric - analytic).abs() < 1e-5 * analytic.abs().max(1.0),
        "{numeric} vs {analytic}"
    );
}

#[differentiable(order = 2, wrt(w, x))]
fn small_net(w: &DMatrix<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    (w * x).tanh()
}

/// Pullbacks in loops: over seeds with `w` and `x` unchanged (the forward
/// sweep of `small_net` runs once and each call clones it), over inputs that
/// change per iteration (run per call), and in a loop inside a branch
/// reading another field of the gradient.
#[differentiable(wrt(w))]
fn rows_penalty(w: &DMatrix<f64>, x: &DMatrix<f64>, seeds: &[DMatrix<f64>], xs: &[DMatrix<f64>]) -> f64 {
    let mut p = 0.0;
    for seed in seeds.iter() {
        let g = small_net_pullback(w, x, seed);
        p += g.x.norm_squared();
    }
    for (seed, xk) in seeds.iter().zip(xs.iter()) {
        let g = small_net_pullback(w, xk, seed);
        p += g.w.norm_squared() * 0.5;
    }
    if p > 0.0 {
        for seed in seeds.iter() {
            let g = small_net_pullback(w, x, seed);
            p += g.w.sum();
        }
    }
    p
}

/// The other way round: differentiated in `x`, reading `w̄`.
#[differentiable(wrt(x))]
fn weight_penalty(w: &DMatrix<f64>, x: &DMatrix<f64>, seeds: &[DMatrix<f64>]) -> f64 {
    let mut p = 0.0;
    for seed in seeds.iter() {
        let g = small_net_pullback(w, x, seed);
        p += g.w.norm_squared();
    }
    p
}

/// One row, outside a loop: only `x̄` of stage 2 is computed.
#[differentiable(wrt(w))]
fn one_row_penalty(w: &DMatrix<f64>, x: &DMatrix<f64>, seed: &DMatrix<f64>) -> f64 {
    small_net_pullback(w, x, seed).x.norm_squared()
}

#[test]
fn pullbacks_in_loops_share_the_forward_sweep() {
    let data = |seed: f64, r: usize, c: usize| DMatrix::from_fn(r, c, |i, j| (seed * (i * c + j) as f64 + 0.3).sin());
    let (w, x) = (data(0.7, 3, 2), data(1.3, 2, 4));
    let seeds = [data(0.4, 3, 4), data(2.1, 3, 4)];
    let xs = [data(0.9, 2, 4), data(-1.7, 2, 4)];
    let f = |p: &[f64]| rows_penalty(&DMatrix::from_column_slice(3, 2, p), &x, &seeds, &xs);
    let grad = |p: &[f64]| {
        let w = DMatrix::from_column_slice(3, 2, p);
        rows_penalty_grad(&w, &x, &seeds, &xs).1.w.as_slice().to_vec()
    };
    check_grad(f, grad, w.as_slice()).unwrap();
    // The building block: ⟨seed, small_net⟩'s gradient.
    let row = |p: &[f64]| small_net(&DMatrix::from_column_slice(3, 2, p), &x).dot(&seeds[0]);
    let row_grad = |p: &[f64]| {
        let w = DMatrix::from_column_slice(3, 2, p);
        small_net_pullback(&w, &x, &seeds[0]).w.as_slice().to_vec()
    };
    check_grad(row, row_grad, w.as_slice()).unwrap();
    let fx = |p: &[f64]| weight_penalty(&w, &DMatrix::from_column_slice(2, 4, p), &seeds);
    let gx = |p: &[f64]| {
        let x = DMatrix::from_column_slice(2, 4, p);
        weight_penalty_grad(&w, &x, &seeds).1.x.as_slice().to_vec()
    };
    check_grad(fx, gx, x.as_slice()).unwrap();
    let f1 = |p: &[f64]| one_row_penalty(&DMatrix::from_column_slice(3, 2, p), &x, &seeds[1]);
    let g1 = |p: &[f64]| {
        let w = DMatrix::from_column_slice(3, 2, p);
        one_row_penalty_grad(&w, &x, &seeds[1]).1.w.as_slice().to_vec()
    };
    check_grad(f1, g1, w.as_slice()).unwrap();
    // A zero seed: every tangent stage 3 reads is zero, and the fields the
    // caller does not read are placeholders, which it must not read.
    let with_zero = [seeds[0].clone(), DMatrix::zeros(3, 4)];
    let fz = |p: &[f64]| rows_penalty(&DMatrix::from_column_slice(3, 2, p), &x, &with_zero, &xs);
    let gz = |p: &[f64]| {
        let w = DMatrix::from_column_slice(3, 2, p);
        rows_penalty_grad(&w, &x, &with_zero, &xs).1.w.as_slice().to_vec()
    };
    check_grad(fz, gz, w.as_slice()).unwrap();
    let fxz = |p: &[f64]| weight_penalty(&w, &DMatrix::from_column_slice(2, 4, p), &with_zero);
    let gxz = |p: &[f64]| {
        let x = DMatrix::from_column_slice(2, 4, p);
        weight_penalty_grad(&w, &x, &with_zero).1.x.as_slice().to_vec()
    };
    check_grad(fxz, gxz, x.as_slice()).unwrap();
    let (value, pullback) = rows_penalty_vjp(&w, &x, &seeds, &xs);
    assert_eq!(value, f(w.as_slice()));
    let scaled = pullback(2.5).w;
    let unit = rows_penalty_grad(&w, &x, &seeds, &xs).1.w;
    assert!((scaled - unit * 2.5).norm() < 1e-12);
}

#[differentiable(order = 2, wrt(w, x))]
fn batch_loss(w: &DMatrix<f64>, x: &DMatrix<f64>) -> f64 {
    (w * x).tanh().norm_squared()
}

/// `f_grad` in a loop whose arguments are the caller's parameters: each
/// iteration's pullback adds into the running sum of `w̄` in place
/// (`TangentPullback::pull_tangent_into`), with a seed of `l` that changes.
#[differentiable(wrt(w))]
fn repeated_penalty(w: &DMatrix<f64>, x: &DMatrix<f64>, n: usize) -> f64 {
    let mut p = 0.0;
    for k in 0..n {
        let (l, g) = batch_loss_grad(w, x);
        p += l * (k as f64 + 1.0) + g.x.norm_squared();
    }
    p
}

#[test]
fn gradients_in_loops_add_into_the_running_sums() {
    let data = |seed: f64, r: usize, c: usize| DMatrix::from_fn(r, c, |i, j| (seed * (i * c + j) as f64 + 0.3).sin());
    let (w, x) = (data(0.7, 3, 2), data(1.3, 2, 4));
    assert_eq!(batch_loss_grad(&w, &x).0, batch_loss(&w, &x));
    for n in [0, 1, 3] {
        let f = |p: &[f64]| repeated_penalty(&DMatrix::from_column_slice(3, 2, p), &x, n);
        let grad = |p: &[f64]| {
            let w = DMatrix::from_column_slice(3, 2, p);
            repeated_penalty_grad(&w, &x, n).1.w.as_slice().to_vec()
        };
        check_grad(f, grad, w.as_slice()).unwrap();
    }
}
