//! Stencil loops: sums over `i` of terms reading `x[i - 1]`, `x[i]`,
//! `x[i + 1]`, ... Their gradients are computed inside the forward sweep,
//! with each element's adjoint kept in registers until no later iteration
//! adds to it (`Window`). Checked against central differences, through
//! `f_grad` (unit seed) and `f_vjp` with another seed.

#![allow(clippy::needless_range_loop)]

use autodiff::nalgebra::DVector;
use autodiff::prelude::*;

fn point(n: usize) -> Vec<f64> {
    (0..n).map(|k| 0.8 * (0.7 * k as f64 + 0.3).sin() + 0.1).collect()
}

/// Checks `grad` (the gradient) and `vjp` (a pullback, with seed 2.5) of `f`.
fn check(
    f: impl Fn(&[f64]) -> f64,
    grad: impl Fn(&[f64]) -> Vec<f64>,
    vjp: impl Fn(&[f64], f64) -> Vec<f64>,
    n: usize,
) {
    let x = point(n);
    check_grad(&f, &grad, &x).unwrap();
    let scaled = |p: &[f64]| 2.5 * f(p);
    check_grad(scaled, |p| vjp(p, 2.5), &x).unwrap();
}

/// Offsets -1, 0 and 1: a window of three; only it writes x̄ in the loop.
#[differentiable]
fn laplacian_energy(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 1..x.len() - 1 {
        let d = x[i - 1] - 2.0 * x[i] + x[i + 1];
        s += d * d;
    }
    s
}

#[test]
fn a_three_point_stencil() {
    for n in [3, 4, 9] {
        check(
            laplacian_energy,
            |p| laplacian_energy_grad(p).1.x,
            |p, c| laplacian_energy_vjp(p).1(c).x,
            n,
        );
    }
}

/// Offsets 0 and 2 (a gap), over an inclusive range, and `x` read after the
/// loop, so that the loop's part is added to an adjoint already started.
#[differentiable]
fn gapped(x: &[f64]) -> f64 {
    let n = x.len();
    let mut s = 0.0;
    for i in 0..=n - 3 {
        s += x[i] * x[i + 2].sin();
    }
    s + x[0] * x[n - 1]
}

#[test]
fn a_stencil_with_a_gap_and_a_read_after_the_loop() {
    for n in [3, 8] {
        check(gapped, |p| gapped_grad(p).1.x, |p, c| gapped_vjp(p).1(c).x, n);
    }
}

/// Reads inside a branch add into x̄ directly, next to the window; a
/// `DVector` weight has a window of its own.
#[differentiable]
fn branchy(x: &[f64], w: &DVector<f64>) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let b = if x[i] > 0.3 { x[i + 1] * x[i] } else { 0.0 };
        s += w[i] * x[i + 1].sin() - x[i] * w[i + 1] + b;
    }
    s
}

#[test]
fn a_stencil_next_to_reads_in_a_branch() {
    for n in [2, 7] {
        let w = DVector::from_vec(point(n + 1)[1..].to_vec());
        check(
            |p| branchy(p, &w),
            |p| branchy_grad(p, &w).1.x,
            |p, c| branchy_vjp(p, &w).1(c).x,
            n,
        );
        let x = point(n);
        let fw = |q: &[f64]| branchy(&x, &DVector::from_column_slice(q));
        let gw = |q: &[f64]| branchy_grad(&x, &DVector::from_column_slice(q)).1.w.as_slice().to_vec();
        check_grad(fw, gw, w.as_slice()).unwrap();
    }
}

/// A loop that does not run (n = 1), a reversed range and a stride: no
/// window for the last two (their indices are not consecutive ascending).
#[differentiable]
fn strided(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        s += x[i] * x[i + 1];
    }
    for i in (0..x.len() - 1).rev() {
        s += (x[i] - x[i + 1]).cos();
    }
    for i in (0..x.len() - 1).step_by(2) {
        s += x[i + 1].exp() * x[i];
    }
    s + x[0]
}

#[test]
fn stencils_over_empty_reversed_and_strided_ranges() {
    for n in [1, 2, 6] {
        check(strided, |p| strided_grad(p).1.x, |p, c| strided_vjp(p).1(c).x, n);
    }
}
