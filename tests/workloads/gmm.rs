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

/// W6's gradient by hand, as ADBench's hand-written C++ does it: one pass
/// over the points, each component's forward (`Q (x - μ)`) followed at once
/// by its adjoint weighted by the component's posterior, so nothing is
/// recorded; then the terms that do not depend on the points. The bar that
/// the generated gradient is measured against (`benches/loops.rs`) and a
/// second implementation it is checked against (`tests/gmm.rs`).
pub fn gmm_hand(
    alphas: &[f64],
    means: &DMatrix<f64>,
    icf: &DMatrix<f64>,
    x: &DMatrix<f64>,
    gamma: f64,
    m: usize,
) -> (f64, Vec<f64>, DMatrix<f64>, DMatrix<f64>) {
    let (n, d, components) = (x.nrows(), x.ncols(), alphas.len());
    let entry = |r: usize, c: usize| d + c * (2 * d - c - 1) / 2 + (r - c - 1);
    let mut g_alphas = vec![0.0; components];
    let mut g_means = DMatrix::zeros(components, d);
    let mut g_icf = DMatrix::zeros(components, icf.ncols());
    // Per component: Σ_j q_kj and exp(q_k), shared by every point.
    let sum_q: Vec<f64> = (0..components).map(|k| (0..d).map(|j| icf[(k, j)]).sum()).collect();
    let diag = DMatrix::from_fn(components, d, |k, j| icf[(k, j)].exp());
    let (mut xc, mut qy, mut v) = (vec![0.0; d], vec![0.0; components * d], vec![0.0; components]);
    let mut total = 0.0;
    for i in 0..n {
        for k in 0..components {
            let qy = &mut qy[k * d..(k + 1) * d];
            for r in 0..d {
                xc[r] = x[(i, r)] - means[(k, r)];
            }
            let mut squared = 0.0;
            for r in 0..d {
                let mut s = diag[(k, r)] * xc[r];
                for c in 0..r {
                    s += icf[(k, entry(r, c))] * xc[c];
                }
                qy[r] = s;
                squared += s * s;
            }
            v[k] = alphas[k] + sum_q[k] - 0.5 * squared;
        }
        let max = v.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let scaled: f64 = v.iter().map(|vk| (vk - max).exp()).sum();
        total += max + scaled.ln();
        // v̄_k is the posterior weight of component k.
        for k in 0..components {
            let w = (v[k] - max).exp() / scaled;
            g_alphas[k] += w;
            let qy = &qy[k * d..(k + 1) * d];
            for r in 0..d {
                xc[r] = x[(i, r)] - means[(k, r)];
            }
            // v = α + Σq - ½‖Q xc‖²: q̄y = -w qy, back through
            // qy_r = e^(q_kr) xc_r + Σ_(c<r) L_rc xc_c, and xc = x - μ.
            for r in 0..d {
                let qyb = -w * qy[r];
                g_icf[(k, r)] += w + qyb * diag[(k, r)] * xc[r];
                g_means[(k, r)] -= qyb * diag[(k, r)];
                for c in 0..r {
                    g_icf[(k, entry(r, c))] += qyb * xc[c];
                    g_means[(k, c)] -= qyb * icf[(k, entry(r, c))];
                }
            }
        }
    }
    // -n logsumexp(α).
    let max = alphas.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let scaled: f64 = alphas.iter().map(|a| (a - max).exp()).sum();
    for k in 0..components {
        g_alphas[k] -= n as f64 * (alphas[k] - max).exp() / scaled;
    }
    // ½ γ² (‖exp(q_k)‖² + ‖L_k‖²) - m Σq.
    let mut prior = 0.0;
    for k in 0..components {
        for j in 0..d {
            let e2 = (2.0 * icf[(k, j)]).exp();
            prior += e2;
            g_icf[(k, j)] += gamma * gamma * e2 - m as f64;
        }
        for j in d..icf.ncols() {
            prior += icf[(k, j)] * icf[(k, j)];
            g_icf[(k, j)] += gamma * gamma * icf[(k, j)];
        }
    }
    let n_w = (d + m + 1) as f64;
    let constant = -0.5 * (n * d) as f64 * (2.0 * std::f64::consts::PI).ln()
        - components as f64 * (n_w * d as f64 * (gamma / 2f64.sqrt()).ln() - ln_gamma_d(d, 0.5 * n_w));
    let total_sum_q: f64 = sum_q.iter().sum();
    let value =
        constant + total - n as f64 * (max + scaled.ln()) + 0.5 * gamma * gamma * prior - m as f64 * total_sum_q;
    (value, g_alphas, g_means, g_icf)
}
