//! What the training examples share: a seeded random generator (so that
//! they need no `rand` dependency) and the Adam optimiser over parameter
//! slices.

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
