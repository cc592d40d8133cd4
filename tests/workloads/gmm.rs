//! W6: the ADBench GMM objective of WORKLOADS.md in loop-and-index Rust, as
//! ADBench's C++ reference writes it.

use autodiff::nalgebra::DMatrix;
use autodiff::prelude::*;

use super::tensor;

/// `ln Γ(a)` by Lanczos (g = 7, 9 terms), for the constant of the prior.
fn ln_gamma(a: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let a = a - 1.0;
    let t = a + 7.5;
    let series: f64 = C[1..]
        .iter()
        .enumerate()
        .map(|(k, c)| c / (a + k as f64 + 1.0))
        .sum::<f64>()
        + C[0];
    0.5 * (2.0 * std::f64::consts::PI).ln() + (a + 0.5) * t.ln() - t + series.ln()
}

/// `ln Γ_d(a)`, the multivariate log-gamma function.
fn ln_gamma_d(d: usize, a: f64) -> f64 {
    let mut r = 0.25 * (d * (d - 1)) as f64 * std::f64::consts::PI.ln();
    for j in 1..=d {
        r += ln_gamma(a + 0.5 * (1.0 - j as f64));
    }
    r
}

/// The ADBench GMM objective. `icf[k, ..d]` are the log-diagonals of `Q_k`,
/// `icf[k, d..]` its strictly lower part, filled column by column.
#[differentiable(wrt(alphas, means, icf))]
pub fn gmm(alphas: &[f64], means: &DMatrix<f64>, icf: &DMatrix<f64>, x: &DMatrix<f64>, gamma: f64, m: usize) -> f64 {
    let (n, d, components) = (x.nrows(), x.ncols(), alphas.len());
    let mut total = 0.0;
    for i in 0..n {
        // A streaming log-sum-exp over the components: (max, Σ e^(v - max)).
        let mut max = f64::NEG_INFINITY;
        let mut scaled = 0.0;
        for k in 0..components {
            let mut sum_q = 0.0;
            for j in 0..d {
                sum_q += icf[(k, j)];
            }
            let mut squared = 0.0;
            for r in 0..d {
                let mut qy = icf[(k, r)].exp() * (x[(i, r)] - means[(k, r)]);
                for c in 0..r {
                    let entry = d + c * (2 * d - c - 1) / 2 + (r - c - 1);
                    qy += icf[(k, entry)] * (x[(i, c)] - means[(k, c)]);
                }
                squared += qy * qy;
            }
            let v = alphas[k] + sum_q - 0.5 * squared;
            if v > max {
                scaled = scaled * (max - v).exp() + 1.0;
                max = v;
            } else {
                scaled += (v - max).exp();
            }
        }
        total += max + scaled.ln();
    }
    let mut max = f64::NEG_INFINITY;
    let mut scaled = 0.0;
    for k in 0..components {
        if alphas[k] > max {
            scaled = scaled * (max - alphas[k]).exp() + 1.0;
            max = alphas[k];
        } else {
            scaled += (alphas[k] - max).exp();
        }
    }
    let mut prior = 0.0;
    let mut sum_q = 0.0;
    for k in 0..components {
        for j in 0..d {
            prior += (2.0 * icf[(k, j)]).exp();
            sum_q += icf[(k, j)];
        }
        for j in d..icf.ncols() {
            prior += icf[(k, j)] * icf[(k, j)];
        }
    }
    let n_w = (d + m + 1) as f64;
    let constant = -0.5 * (n * d) as f64 * (2.0 * std::f64::consts::PI).ln()
        - components as f64 * (n_w * d as f64 * (gamma / 2f64.sqrt()).ln() - ln_gamma_d(d, 0.5 * n_w));
    constant + total - n as f64 * (max + scaled.ln()) + 0.5 * gamma * gamma * prior - m as f64 * sum_q
}

/// WORKLOADS.md data with `n` points: `(alphas, means, icf, x)`.
pub fn data(n: usize) -> (Vec<f64>, DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    let (d, k) = (10, 25);
    let alphas = tensor(0, k, 1).as_slice().to_vec();
    (
        alphas,
        tensor(1, k, d),
        tensor(2, k, d + d * (d - 1) / 2),
        tensor(3, n, d),
    )
}
