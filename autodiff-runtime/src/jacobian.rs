//! Seeds for penalties on Jacobians, `Σ_b ‖J_f(x_b)‖²_F` over the columns
//! `x_b` of a batch, written as plain Rust over a generated `f_pullback`:
//!
//! ```text
//! let mut penalty = 0.0;
//! for seed in seeds.iter() {
//!     penalty += f_pullback(w, x, seed).x.norm_squared();
//! }
//! ```
//!
//! Each seed is a cotangent of `f`'s output (one column per sample), and
//! `f_pullback(.., seed).x` holds `J_bᵀ seed_b` in column `b`.
//!
//! - [`one_hot_rows`]: the exact penalty, one reverse pass per output row.
//!   Reverse mode costs one pass per *output*; forward mode (`f_jvp` with
//!   one-hot input tangents) one per *input*: the exact penalty is cheaper by
//!   the reverse form when outputs are fewer than inputs (W5: 10 outputs, 16
//!   inputs), and its gradient (through `f_pullback_vjp`) is generated.
//!   Differentiating the forward form (`f_jvp` inside a differentiable body)
//!   is not generated yet.
//! - [`random_projections`]: the estimator of Hoffman, Roberts and Yaida
//!   (2019): for `v` uniform on the unit sphere of the output space,
//!   `E ‖vᵀ J‖² = ‖J‖²_F / n_out`, so `k` seeds with columns
//!   `√(n_out / k) v` give an unbiased estimate from `k` passes, whatever
//!   `n_out` is.

use nalgebra::DMatrix;

/// `rows` seeds of shape `rows x cols`, seed `i` one on row `i`: with them
/// the penalty loop computes `Σ_b ‖J_b‖²_F` exactly.
pub fn one_hot_rows(rows: usize, cols: usize) -> Vec<DMatrix<f64>> {
    (0..rows)
        .map(|i| DMatrix::from_fn(rows, cols, |r, _| if r == i { 1.0 } else { 0.0 }))
        .collect()
}

/// `count` seeds of shape `rows x cols` whose columns are independent random
/// unit vectors scaled by `√(rows / count)`: with them the penalty loop is
/// an unbiased estimate of `Σ_b ‖J_b‖²_F` (Hoffman, Roberts and Yaida 2019).
/// Deterministic for a given `seed`.
pub fn random_projections(rows: usize, cols: usize, count: usize, seed: u64) -> Vec<DMatrix<f64>> {
    let mut state = seed | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut normal = move || {
        let (u, v) = (uniform().max(1e-300), uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let scale = (rows as f64 / count as f64).sqrt();
    (0..count)
        .map(|_| {
            let mut m = DMatrix::from_fn(rows, cols, |_, _| normal());
            for mut column in m.column_iter_mut() {
                let norm = column.norm();
                column *= scale / norm;
            }
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For a linear map `f(x) = A x`, `J = A` at every column: the exact
    /// seeds give `cols ‖A‖²_F`, the random ones approach it.
    #[test]
    fn seeds_give_the_jacobian_norm() {
        let a = DMatrix::from_fn(5, 7, |i, j| ((i * 7 + j) as f64 * 0.37).sin());
        let cols = 3;
        let penalty =
            |seeds: &[DMatrix<f64>]| -> f64 { seeds.iter().map(|s| (a.transpose() * s).norm_squared()).sum() };
        let exact = cols as f64 * a.norm_squared();
        assert!((penalty(&one_hot_rows(5, cols)) - exact).abs() < 1e-12 * exact);
        let estimate = penalty(&random_projections(5, cols, 4000, 7));
        assert!((estimate - exact).abs() < 0.03 * exact, "{estimate} vs {exact}");
        // One seed already has the right expectation: average over many draws.
        let mean: f64 = (0..2000)
            .map(|s| penalty(&random_projections(5, cols, 1, s)))
            .sum::<f64>()
            / 2000.0;
        assert!((mean - exact).abs() < 0.05 * exact, "{mean} vs {exact}");
    }
}
