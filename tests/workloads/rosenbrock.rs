//! W1 of WORKLOADS.md, the extended Rosenbrock function in loop-and-index
//! Rust, shared by `tests/loops.rs`, `tests/second_order.rs` and
//! `benches/loops.rs`. Declared `order = 2` for the Hessian tests; the
//! first-order functions it generates are the same as without.

use autodiff::prelude::*;

/// The reference point of WORKLOADS.md: `x_k = 0.3 sin(0.7 k) + 1`.
pub fn point(n: usize) -> Vec<f64> {
    (0..n).map(|k| 0.3 * (0.7 * k as f64).sin() + 1.0).collect()
}

/// `Σ_i 100 (x_{i+1} - x_i²)² + (1 - x_i)²`.
#[differentiable(order = 2)]
pub fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let t = x[i + 1] - x[i] * x[i];
        let u = 1.0 - x[i];
        s += 100.0 * t * t + u * u;
    }
    s
}
