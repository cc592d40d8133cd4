//! What the training examples share: a seeded random generator (so that
//! they need no `rand` dependency), the parameters of their two-tanh-layer
//! network, and the Adam optimiser over parameter slices.

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;

/// A seeded xorshift generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal sample (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The weights and biases of a network of two tanh layers and a linear
/// output layer, samples as columns.
pub struct Params {
    pub w1: DMatrix<f64>,
    pub b1: DVector<f64>,
    pub w2: DMatrix<f64>,
    pub b2: DVector<f64>,
    pub w3: DMatrix<f64>,
    pub b3: DVector<f64>,
}

impl Params {
    /// Weights drawn with variance `1 / fan-in`, biases zero.
    pub fn new(inputs: usize, hidden: usize, outputs: usize, rng: &mut Rng) -> Params {
        let mut init = |rows: usize, cols: usize| {
            let scale = (1.0 / cols as f64).sqrt();
            DMatrix::from_fn(rows, cols, |_, _| scale * rng.normal())
        };
        Params {
            w1: init(hidden, inputs),
            b1: DVector::zeros(hidden),
            w2: init(hidden, hidden),
            b2: DVector::zeros(hidden),
            w3: init(outputs, hidden),
            b3: DVector::zeros(outputs),
        }
    }

    /// The six parameters as slices, in the order `Adam::update` takes them.
    pub fn slices_mut(&mut self) -> [&mut [f64]; 6] {
        [
            self.w1.as_mut_slice(),
            self.b1.as_mut_slice(),
            self.w2.as_mut_slice(),
            self.b2.as_mut_slice(),
            self.w3.as_mut_slice(),
            self.b3.as_mut_slice(),
        ]
    }

    /// One output per row, one sample per column.
    pub fn logits(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let h1 = add_bias(&(&self.w1 * x), &self.b1).tanh();
        let h2 = add_bias(&(&self.w2 * &h1), &self.b2).tanh();
        add_bias(&(&self.w3 * &h2), &self.b3)
    }

    /// The class of largest logit, per sample (the first on a tie).
    pub fn predict(&self, x: &DMatrix<f64>) -> Vec<usize> {
        self.logits(x).column_iter().map(|c| c.argmax().0).collect()
    }
}

/// The fraction of predictions equal to their label.
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
}

/// Adam: per-coordinate moment estimates, bias-corrected.
pub struct Adam {
    rate: f64,
    step: i32,
    first: Vec<Vec<f64>>,
    second: Vec<Vec<f64>>,
}

impl Adam {
    /// For parameters of the given sizes.
    pub fn new(rate: f64, sizes: &[usize]) -> Adam {
        Adam {
            rate,
            step: 0,
            first: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            second: sizes.iter().map(|&n| vec![0.0; n]).collect(),
        }
    }

    /// One step of every parameter slice along its gradient.
    pub fn update<const N: usize>(&mut self, params: [&mut [f64]; N], grads: [&[f64]; N]) {
        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
        self.step += 1;
        let (c1, c2) = (1.0 - beta1.powi(self.step), 1.0 - beta2.powi(self.step));
        for (k, (p, g)) in params.into_iter().zip(grads).enumerate() {
            let (m, v) = (&mut self.first[k], &mut self.second[k]);
            for i in 0..p.len() {
                m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
                v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
                p[i] -= self.rate * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
            }
        }
    }
}
