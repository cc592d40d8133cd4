//! Local buffers written in place: `vec![0.0; n]`, `DVector::zeros(n)`,
//! `DMatrix::zeros(r, c)` updated by `v[i] = e`, `v[i] += e` and
//! `m[(i, j)] = e`, in straight-line code, loops, branches and nested loops.
//! Each gradient is checked against central differences, each `f_jvp`
//! tangent against the difference along a direction, and each Hessian-vector
//! product against the difference of gradients.

// Index loops are what these tests exercise.
#![allow(clippy::needless_range_loop, clippy::manual_memcpy, clippy::useless_vec)]

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;

/// A direction for tangent checks: irregular, no zero entry.
fn direction(n: usize) -> Vec<f64> {
    (0..n).map(|k| 0.9 * (1.3 * k as f64 + 0.4).cos() + 0.05).collect()
}

/// A point with entries of both signs.
fn point(n: usize) -> Vec<f64> {
    (0..n).map(|k| 0.8 * (0.7 * k as f64 + 0.3).sin()).collect()
}

/// Checks a function of a slice three ways: gradient, tangent, Hessian-vector product.
fn check_all(
    f: impl Fn(&[f64]) -> f64,
    grad: impl Fn(&[f64]) -> Vec<f64>,
    jvp: impl Fn(&[f64], &[f64]) -> f64,
    hvp: impl Fn(&[f64], &[f64]) -> Vec<f64>,
    x: &[f64],
) {
    check_grad(&f, &grad, x).unwrap();
    let v = direction(x.len());
    check_jvp(|p| vec![f(p)], |p, d| vec![jvp(p, d)], x, &v).unwrap();
    autodiff::runtime::check_hvp(grad, hvp, x, &v).unwrap();
}

/// Writes, a compound update, a read after a write, and an overwrite whose
/// old value must no longer receive a gradient.
#[differentiable(order = 2)]
fn straight_line(x: &[f64]) -> f64 {
    let mut v = vec![0.0; 3];
    v[0] = x[0] * x[1];
    v[1] = v[0].sin() + x[2];
    v[2] = v[0] * v[1];
    v[1] += x[0];
    v[0] = 1.5;
    v[0] * v[1] + v[2] * v[2]
}

#[test]
fn straight_line_writes() {
    let x = [0.4, -0.7, 0.9];
    check_all(
        straight_line,
        |p| straight_line_grad(p).1.x,
        |p, d| straight_line_jvp(p, d.to_vec()).1,
        |p, d| straight_line_hvp(p, &StraightLineGrad { x: d.to_vec() }).2.x,
        &x,
    );
    // The overwritten `v[0] = x0 x1` reaches the output only through `v[1]`
    // and `v[2]`: with `x1 = 0` the chain through `v[0]` is `x0`-free.
    let (value, g) = straight_line_grad(&x);
    assert_eq!(value, straight_line(&x));
    assert!(g.x.iter().all(|d| d.is_finite() && *d != 0.0));
}

/// A recurrence through a buffer: each element is computed from the one before.
#[differentiable(order = 2)]
fn recurrence(x: &[f64]) -> f64 {
    let n = x.len();
    let mut h = vec![0.0; n + 1];
    for i in 0..n {
        h[i + 1] = (h[i] * 0.9 + x[i]).tanh();
    }
    let mut s = 0.0;
    for i in 0..n + 1 {
        s += h[i] * h[i];
    }
    s
}

#[test]
fn a_buffer_filled_by_a_recurrence() {
    for n in [1, 2, 7] {
        let x = point(n);
        check_all(
            recurrence,
            |p| recurrence_grad(p).1.x,
            |p, d| recurrence_jvp(p, d.to_vec()).1,
            |p, d| recurrence_hvp(p, &RecurrenceGrad { x: d.to_vec() }).2.x,
            &x,
        );
    }
}

/// `y = A x` accumulated element by element into `DVector::zeros`.
#[differentiable(order = 2)]
fn matvec(a: &DMatrix<f64>, x: &DVector<f64>) -> f64 {
    let mut y = DVector::<f64>::zeros(a.nrows());
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            y[i] += a[(i, j)] * x[j];
        }
    }
    y.norm_squared() + y[0] * x[1]
}

#[test]
fn nested_loops_accumulate_into_a_vector() {
    let (r, c) = (3, 4);
    let split = |p: &[f64]| {
        (
            DMatrix::from_column_slice(r, c, &p[..r * c]),
            DVector::from_column_slice(&p[r * c..]),
        )
    };
    let f = |p: &[f64]| {
        let (a, x) = split(p);
        matvec(&a, &x)
    };
    let grad = |p: &[f64]| {
        let (a, x) = split(p);
        let g = matvec_grad(&a, &x).1;
        [g.a.as_slice(), g.x.as_slice()].concat()
    };
    let jvp = |p: &[f64], d: &[f64]| {
        let ((a, x), (da, dx)) = (split(p), split(d));
        matvec_jvp(&a, &x, da, dx).1
    };
    let hvp = |p: &[f64], d: &[f64]| {
        let ((a, x), (da, dx)) = (split(p), split(d));
        let h = matvec_hvp(&a, &x, &MatvecGrad { a: da, x: dx }).2;
        [h.a.as_slice(), h.x.as_slice()].concat()
    };
    check_all(f, grad, jvp, hvp, &point(r * c + c));
    // Against the whole-matrix formulation.
    let (a, x) = split(&point(r * c + c));
    let y = &a * &x;
    assert!((matvec(&a, &x) - (y.norm_squared() + y[0] * x[1])).abs() < 1e-12);
}

/// Elements written in one branch or the other, and read back in a later
/// iteration; a matrix built element-wise and then multiplied.
#[differentiable(order = 2)]
fn branches_and_matrices(x: &[f64]) -> f64 {
    let n = x.len();
    let mut v = vec![0.0; n];
    for i in 0..n {
        if x[i] > 0.0 {
            v[i] = x[i] * x[i];
        } else {
            v[i] = -x[i].sin();
        }
        if i > 0 {
            v[i] += 0.5 * v[i - 1];
        }
    }
    let mut m = DMatrix::<f64>::zeros(2, 2);
    m[(0, 0)] = v[0];
    m[(0, 1)] = v[n - 1];
    m[(1, 0)] = x[1] * v[1];
    m[(1, 1)] = 1.0;
    let p = &m * &m;
    p.sum() + v[n / 2]
}

#[test]
fn writes_in_branches_and_matrix_elements() {
    let x = point(6);
    assert!(x.iter().any(|v| *v > 0.0) && x.iter().any(|v| *v < 0.0));
    check_all(
        branches_and_matrices,
        |p| branches_and_matrices_grad(p).1.x,
        |p, d| branches_and_matrices_jvp(p, d.to_vec()).1,
        |p, d| {
            branches_and_matrices_hvp(p, &BranchesAndMatricesGrad { x: d.to_vec() })
                .2
                .x
        },
        &x,
    );
}

/// A copy taken before an element is overwritten keeps the old element (the
/// update copies the buffer rather than moving it).
#[differentiable]
fn copy_before_write(x: &[f64]) -> f64 {
    let mut v = vec![0.0; 2];
    v[0] = x[0].exp();
    v[1] = x[1];
    let old = v.clone();
    v[0] = x[1] * 3.0;
    old[0] * v[0] + old[1] * v[1]
}

#[test]
fn a_copy_keeps_the_old_element() {
    let x = [0.3, -0.6];
    let expected = x[0].exp() * x[1] * 3.0 + x[1] * x[1];
    assert!((copy_before_write(&x) - expected).abs() < 1e-15);
    check_grad(copy_before_write, |p: &[f64]| copy_before_write_grad(p).1.x, &x).unwrap();
}

/// Explicit heat equation with a fresh buffer per time step, written as a
/// numerical analyst would: the state is swapped for the new one.
#[differentiable(wrt(u0, k))]
fn heat(u0: &[f64], k: f64, steps: usize) -> f64 {
    let n = u0.len();
    let mut u = vec![0.0; n];
    for i in 0..n {
        u[i] = u0[i];
    }
    for _ in 0..steps {
        let mut next = vec![0.0; n];
        next[0] = u[0];
        next[n - 1] = u[n - 1];
        for i in 1..n - 1 {
            next[i] = u[i] + k * (u[i - 1] - 2.0 * u[i] + u[i + 1]);
        }
        u = next;
    }
    let mut energy = 0.0;
    for i in 0..n {
        energy += u[i] * u[i] * (1.0 + i as f64);
    }
    energy
}

#[test]
fn heat_equation_with_swapped_buffers() {
    let u0 = point(8);
    let f = |p: &[f64]| heat(&p[..8], p[8], 5);
    let grad = |p: &[f64]| {
        let g = heat_grad(&p[..8], p[8], 5).1;
        [g.u0, vec![g.k]].concat()
    };
    let x = [u0.as_slice(), &[0.2]].concat();
    check_grad(f, grad, &x).unwrap();
    let jvp = |p: &[f64], d: &[f64]| heat_jvp(&p[..8], p[8], 5, d[..8].to_vec(), d[8]).1;
    check_jvp(|p| vec![f(p)], |p, d| vec![jvp(p, d)], &x, &direction(9)).unwrap();
}

/// A fixed-size array as the buffer, as clippy suggests for small ones.
#[differentiable(order = 2)]
fn array_buffer(x: &[f64]) -> f64 {
    let mut v = [0.0; 3];
    for i in 0..3 {
        v[i] = x[i] * x[(i + 1) % 3];
    }
    v[1] += v[0].sin();
    v[0] * v[1] + v[2]
}

#[test]
fn arrays_as_buffers() {
    let x = [0.5, -0.3, 0.8];
    check_all(
        array_buffer,
        |p| array_buffer_grad(p).1.x,
        |p, d| array_buffer_jvp(p, d.to_vec()).1,
        |p, d| array_buffer_hvp(p, &ArrayBufferGrad { x: d.to_vec() }).2.x,
        &x,
    );
}

/// Every compound assignment on an element, and a buffer that is an owned
/// parameter (`mut v: Vec<f64>`, copied before its first update).
#[differentiable(wrt(x, v))]
fn compound_on_elements(x: &[f64], mut v: Vec<f64>) -> f64 {
    v[0] -= x[0] * x[1];
    v[1] *= x[1].exp();
    v[2] /= 1.0 + x[0] * x[0];
    v[0] += v[2];
    v[0] * v[1] + v[2]
}

#[test]
fn compound_assignments_and_an_owned_buffer_parameter() {
    let p = [0.4, -0.3, 0.9, 1.2, -0.7];
    let f = |p: &[f64]| compound_on_elements(&p[..2], p[2..].to_vec());
    let grad = |p: &[f64]| {
        let g = compound_on_elements_grad(&p[..2], p[2..].to_vec()).1;
        [g.x, g.v].concat()
    };
    check_grad(f, grad, &p).unwrap();
    let jvp =
        |p: &[f64], d: &[f64]| compound_on_elements_jvp(&p[..2], p[2..].to_vec(), d[..2].to_vec(), d[2..].to_vec()).1;
    check_jvp(|p| vec![f(p)], |p, d| vec![jvp(p, d)], &p, &direction(5)).unwrap();
}

/// Arrays as parameters, by reference and by value (their gradients are
/// arrays), read by index and by `iter()`, and mutated as a local buffer.
#[differentiable(order = 2)]
fn array_params(x: &[f64; 3], mut y: [f64; 2]) -> f64 {
    y[1] += x[2] * y[0];
    let mut s = 0.0;
    for (i, xi) in x.iter().enumerate() {
        s += xi.sin() * y[i % 2];
    }
    s * y[1]
}

#[test]
fn arrays_as_parameters() {
    let split = |p: &[f64]| ([p[0], p[1], p[2]], [p[3], p[4]]);
    let f = |p: &[f64]| {
        let (x, y) = split(p);
        array_params(&x, y)
    };
    let grad = |p: &[f64]| {
        let (x, y) = split(p);
        let g = array_params_grad(&x, y).1;
        [&g.x[..], &g.y[..]].concat()
    };
    let jvp = |p: &[f64], d: &[f64]| {
        let ((x, y), (dx, dy)) = (split(p), split(d));
        array_params_jvp(&x, y, dx, dy).1
    };
    let hvp = |p: &[f64], d: &[f64]| {
        let ((x, y), (dx, dy)) = (split(p), split(d));
        let h = array_params_hvp(&x, y, &ArrayParamsGrad { x: dx, y: dy }).2;
        [&h.x[..], &h.y[..]].concat()
    };
    check_all(f, grad, jvp, hvp, &[0.4, -0.3, 0.9, 1.2, -0.7]);
}
