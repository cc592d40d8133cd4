//! Double backpropagation doing real good: the same MLP trained three ways on
//! a generated classification problem (two interleaved moons in 2 of 24
//! input dimensions, the other 22 noise), then attacked with FGSM.
//!
//! - **plain**: cross-entropy only;
//! - **input gradient**: cross-entropy plus `λ ‖∂L/∂X‖²`, the penalty written
//!   as plain Rust on `loss_grad` (double backpropagation);
//! - **Jacobian**: cross-entropy plus `μ Σ_b ‖J_f(x_b)‖²_F` of the logits,
//!   one vector-Jacobian product per class through `logits_pullback`.
//!
//! The table reports clean accuracy, the mean norm of the per-sample input
//! gradient, and accuracy under the fast gradient sign attack
//! `x + ε sign(∂ℓ/∂x)` at several `ε`; the plot (accuracy against `ε`) is
//! written as an SVG to the path printed at the end. Seeded and reproducible.
//!
//! Run with `cargo run --release --example double_backprop`.

use std::fmt::Write as _;

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;

#[path = "support/mod.rs"]
mod support;

use support::{accuracy, Adam, Params, Rng};

const INPUTS: usize = 24;
const HIDDEN: usize = 32;
const CLASSES: usize = 2;

/// Two moons in the first two coordinates, Gaussian noise in the others:
/// samples as columns, and their labels.
fn moons(n: usize, rng: &mut Rng) -> (DMatrix<f64>, Vec<usize>) {
    let mut x = DMatrix::zeros(INPUTS, n);
    let mut labels = Vec::with_capacity(n);
    for b in 0..n {
        let class = b % CLASSES;
        let t = std::f64::consts::PI * rng.uniform();
        let (u, v) = if class == 0 {
            (t.cos(), t.sin())
        } else {
            (1.0 - t.cos(), 0.5 - t.sin())
        };
        x[(0, b)] = u + 0.1 * rng.normal();
        x[(1, b)] = v + 0.1 * rng.normal();
        for i in 2..INPUTS {
            x[(i, b)] = 0.5 * rng.normal();
        }
        labels.push(class);
    }
    (x, labels)
}

/// The network: two tanh layers, one logit per class (a column per sample).
#[differentiable(order = 2, wrt(w1, b1, w2, b2, w3, b3, x))]
fn logits(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
) -> DMatrix<f64> {
    let h1 = add_bias(&(w1 * x), b1).tanh();
    let h2 = add_bias(&(w2 * &h1), b2).tanh();
    add_bias(&(w3 * &h2), b3)
}

/// The mean cross-entropy, twice differentiable, also in the input.
#[differentiable(order = 2, wrt(w1, b1, w2, b2, w3, b3, x))]
#[allow(clippy::too_many_arguments)]
fn loss(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
    labels: &[usize],
) -> f64 {
    let z = logits(w1, b1, w2, b2, w3, b3, x);
    softmax_cross_entropy(&z, labels)
}

/// The loss plus `λ ‖∂L/∂X‖²`: double backpropagation, in plain Rust.
#[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
#[allow(clippy::too_many_arguments)]
fn input_gradient_penalised(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
    labels: &[usize],
    lambda: f64,
) -> f64 {
    let (l, g) = loss_grad(w1, b1, w2, b2, w3, b3, x, labels);
    l + lambda * g.x.norm_squared()
}

/// The loss plus `μ / n Σ_b ‖J_f(x_b)‖²_F`, from one vector-Jacobian product
/// per class (`seeds[i]` is one on row `i`): fewer than one Jacobian-vector
/// product per input.
#[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
#[allow(clippy::too_many_arguments)]
fn jacobian_penalised(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
    labels: &[usize],
    seeds: &[DMatrix<f64>],
    mu: f64,
) -> f64 {
    let mut penalty = 0.0;
    for seed in seeds.iter() {
        let rows = logits_pullback(w1, b1, w2, b2, w3, b3, x, seed);
        penalty += rows.x.norm_squared();
    }
    loss(w1, b1, w2, b2, w3, b3, x, labels) + mu * penalty / x.ncols() as f64
}

impl Params {
    /// The per-sample input gradients `∂ℓ_b/∂x_b`, as columns.
    fn input_gradients(&self, x: &DMatrix<f64>, labels: &[usize]) -> DMatrix<f64> {
        let g = loss_grad(&self.w1, &self.b1, &self.w2, &self.b2, &self.w3, &self.b3, x, labels).1;
        // The loss is a mean over the columns: undo the 1/n.
        g.x * x.ncols() as f64
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Plain,
    InputGradient,
    Jacobian,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Plain => "plain",
            Method::InputGradient => "input gradient",
            Method::Jacobian => "Jacobian",
        }
    }
}

/// The six gradient fields as `Vec`s.
macro_rules! grads {
    ($g:expr) => {{
        let g = $g;
        [
            g.w1.as_slice().to_vec(),
            g.b1.as_slice().to_vec(),
            g.w2.as_slice().to_vec(),
            g.b2.as_slice().to_vec(),
            g.w3.as_slice().to_vec(),
            g.b3.as_slice().to_vec(),
        ]
    }};
}

/// The penalties' weights for `n` samples. `λ` multiplies `‖∂L/∂X‖²` of the
/// mean loss, whose columns are the per-sample gradients divided by `n`:
/// `λ = 5 n` weighs the mean squared per-sample gradient by 5.
fn weights(n: usize) -> (f64, f64) {
    (5.0 * n as f64, 0.5)
}

/// The method's objective at `p`.
fn objective(method: Method, p: &Params, x: &DMatrix<f64>, labels: &[usize], seeds: &[DMatrix<f64>]) -> f64 {
    let (w1, b1, w2, b2, w3, b3) = (&p.w1, &p.b1, &p.w2, &p.b2, &p.w3, &p.b3);
    let (lambda, mu) = weights(x.ncols());
    match method {
        Method::Plain => loss(w1, b1, w2, b2, w3, b3, x, labels),
        Method::InputGradient => input_gradient_penalised(w1, b1, w2, b2, w3, b3, x, labels, lambda),
        Method::Jacobian => jacobian_penalised(w1, b1, w2, b2, w3, b3, x, labels, seeds, mu),
    }
}

/// One-hot row seeds: `seeds[i]` is one on row `i` of a `CLASSES x n` matrix
/// (the exact penalty; `jacobian::random_projections` would estimate it).
fn seeds(n: usize) -> Vec<DMatrix<f64>> {
    autodiff::runtime::jacobian::one_hot_rows(CLASSES, n)
}

/// Full-batch Adam on the method's objective.
fn train(method: Method, x: &DMatrix<f64>, labels: &[usize], epochs: usize) -> Params {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut p = Params::new(INPUTS, HIDDEN, CLASSES, &mut rng);
    let sizes: Vec<usize> = p.slices_mut().iter().map(|s| s.len()).collect();
    let mut adam = Adam::new(0.01, &sizes);
    let seeds = seeds(x.ncols());
    let (lambda, mu) = weights(x.ncols());
    for _ in 0..epochs {
        let (w1, b1, w2, b2, w3, b3) = (&p.w1, &p.b1, &p.w2, &p.b2, &p.w3, &p.b3);
        let g = match method {
            Method::Plain => {
                let g = loss_grad(w1, b1, w2, b2, w3, b3, x, labels).1;
                grads!(g)
            }
            Method::InputGradient => {
                let g = input_gradient_penalised_grad(w1, b1, w2, b2, w3, b3, x, labels, lambda).1;
                grads!(g)
            }
            Method::Jacobian => {
                let g = jacobian_penalised_grad(w1, b1, w2, b2, w3, b3, x, labels, &seeds, mu).1;
                grads!(g)
            }
        };
        adam.update(p.slices_mut(), [&g[0], &g[1], &g[2], &g[3], &g[4], &g[5]]);
    }
    p
}

/// Accuracy under the fast gradient sign attack of size `epsilon` (L∞).
fn fgsm_accuracy(p: &Params, x: &DMatrix<f64>, labels: &[usize], epsilon: f64) -> f64 {
    let g = p.input_gradients(x, labels);
    let attacked = x + g.map(|v| epsilon * v.signum());
    accuracy(&p.predict(&attacked), labels)
}

/// Accuracy against `ε` per method, as an SVG line chart.
fn plot(epsilons: &[f64], rows: &[(Method, Vec<f64>)]) -> String {
    let (w, h, left, bottom, top, right) = (560.0, 360.0, 56.0, 40.0, 20.0, 150.0);
    let max_eps = epsilons.iter().cloned().fold(0.0, f64::max);
    let px = |e: f64| left + (w - left - right) * e / max_eps;
    let py = |a: f64| top + (h - top - bottom) * (1.0 - a);
    let colors = ["#888888", "#1f5fa8", "#c4521b"];
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    for k in 0..=5 {
        let a = k as f64 / 5.0;
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="end">{a:.1}</text>"##,
            y = py(a),
            x2 = w - right,
            tx = left - 6.0,
            ty = py(a) + 4.0
        );
    }
    for &e in epsilons {
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle">{e}</text>"#,
            x = px(e),
            y = h - bottom + 16.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle">FGSM ε</text><text x="14" y="{ym:.1}" transform="rotate(-90 14 {ym:.1})" text-anchor="middle">accuracy</text>"#,
        x = (left + w - right) / 2.0,
        y = h - 6.0,
        ym = (top + h - bottom) / 2.0
    );
    for (k, (method, accuracies)) in rows.iter().enumerate() {
        let points: Vec<String> = epsilons
            .iter()
            .zip(accuracies)
            .map(|(&e, &a)| format!("{:.1},{:.1}", px(e), py(a)))
            .collect();
        let color = colors[k % colors.len()];
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            points.join(" ")
        );
        let ly = top + 20.0 * k as f64 + 10.0;
        let _ = writeln!(
            out,
            r#"<line x1="{x1:.1}" y1="{ly:.1}" x2="{x2:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/><text x="{tx:.1}" y="{ty:.1}">{}</text>"#,
            method.name(),
            x1 = w - right + 12.0,
            x2 = w - right + 36.0,
            tx = w - right + 42.0,
            ty = ly + 4.0
        );
    }
    out.push_str("</svg>\n");
    out
}

fn main() -> std::io::Result<()> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (x, labels) = moons(256, &mut rng);
    let (test_x, test_labels) = moons(1000, &mut rng);
    let epsilons = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3];
    let epochs = 600;

    println!(
        "{:<16}{:>11}{:>8}{:>14}   accuracy under FGSM at ε =",
        "method", "objective", "clean", "‖∂ℓ/∂x‖"
    );
    println!(
        "{:<16}{:>11}{:>8}{:>14}   {}",
        "",
        "(train)",
        "",
        "(mean)",
        epsilons[1..].iter().map(|e| format!("{e:>6}")).collect::<String>()
    );
    let mut rows = Vec::new();
    for method in [Method::Plain, Method::InputGradient, Method::Jacobian] {
        let p = train(method, &x, &labels, epochs);
        let final_objective = objective(method, &p, &x, &labels, &seeds(x.ncols()));
        let clean = accuracy(&p.predict(&test_x), &test_labels);
        let norms = p.input_gradients(&test_x, &test_labels);
        let mean_norm = norms.column_iter().map(|c| c.norm()).sum::<f64>() / norms.ncols() as f64;
        let attacked: Vec<f64> = epsilons
            .iter()
            .map(|&e| fgsm_accuracy(&p, &test_x, &test_labels, e))
            .collect();
        println!(
            "{:<16}{:>11.4}{:>8.3}{:>14.4}   {}",
            method.name(),
            final_objective,
            clean,
            mean_norm,
            attacked[1..].iter().map(|a| format!("{a:>6.3}")).collect::<String>()
        );
        rows.push((method, attacked));
    }
    let path = std::env::temp_dir().join("autodiff_double_backprop_fgsm.svg");
    std::fs::write(&path, plot(&epsilons, &rows))?;
    println!("accuracy against ε written to {}", path.display());
    Ok(())
}
