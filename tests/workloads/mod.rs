//! The reference workloads W2 (mlp-small) and W3 (mlp-big) of WORKLOADS.md,
//! shared by `tests/mlp.rs` and `benches/mlp.rs`: the data, the networks
//! under `#[differentiable]`, and hand-written adjoints tuned with in-place
//! nalgebra calls and the same `gemm` kernels (the bar to meet).

// Each includer uses a different part; the workloads index like their
// reference implementations.
#![allow(
    dead_code,
    unused_macros,
    unused_imports,
    clippy::needless_range_loop,
    clippy::too_many_arguments
)]

pub mod gmm;
pub mod lstm;
pub mod penalties;
pub mod rosenbrock;

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;
use autodiff::runtime::{gemm_nt, gemm_tn, kernel};

/// Tensor number `t` of WORKLOADS.md: element `k` (row-major) is `0.3 sin(0.7 k + 1.3 t)`.
pub fn tensor(t: usize, rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |i, j| {
        0.3 * (0.7 * (i * cols + j) as f64 + 1.3 * t as f64).sin()
    })
}

pub fn vector(t: usize, rows: usize) -> DVector<f64> {
    DVector::from_column_slice(tensor(t, rows, 1).as_slice())
}

pub struct Net {
    pub w1: DMatrix<f64>,
    pub b1: DVector<f64>,
    pub w2: DMatrix<f64>,
    pub b2: DVector<f64>,
    pub w3: DMatrix<f64>,
    pub b3: DVector<f64>,
}

impl Net {
    pub fn new(sizes: [usize; 4]) -> Net {
        let [i, h1, h2, o] = sizes;
        Net {
            w1: tensor(0, h1, i),
            b1: vector(1, h1),
            w2: tensor(2, h2, h1),
            b2: vector(3, h2),
            w3: tensor(4, o, h2),
            b3: vector(5, o),
        }
    }

    /// `[inputs, hidden, hidden, outputs]`, as `new` takes them.
    pub fn sizes(&self) -> [usize; 4] {
        [self.w1.ncols(), self.w1.nrows(), self.w2.nrows(), self.w3.nrows()]
    }

    /// The six tensors' entries in field order, each column-major: a point
    /// for the finite-difference checks.
    pub fn flatten(&self) -> Vec<f64> {
        [
            self.w1.as_slice(),
            self.b1.as_slice(),
            self.w2.as_slice(),
            self.b2.as_slice(),
            self.w3.as_slice(),
            self.b3.as_slice(),
        ]
        .concat()
    }

    /// The inverse of `flatten` for a network of the given layer sizes.
    pub fn unflatten(p: &[f64], sizes: [usize; 4]) -> Net {
        let [i, h1, h2, o] = sizes;
        let mut offset = 0;
        let mut take = |len: usize| {
            offset += len;
            &p[offset - len..offset]
        };
        Net {
            w1: DMatrix::from_column_slice(h1, i, take(h1 * i)),
            b1: DVector::from_column_slice(take(h1)),
            w2: DMatrix::from_column_slice(h2, h1, take(h2 * h1)),
            b2: DVector::from_column_slice(take(h2)),
            w3: DMatrix::from_column_slice(o, h2, take(o * h2)),
            b3: DVector::from_column_slice(take(o)),
        }
    }
}

pub type Grads = [DMatrix<f64>; 6];

#[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
#[allow(clippy::too_many_arguments)]
pub fn w2_loss(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
) -> f64 {
    let h1 = add_bias(&(w1 * x), b1).tanh();
    let h2 = add_bias(&(w2 * &h1), b2).tanh();
    let o = add_bias(&(w3 * &h2), b3);
    mse(&o, y)
}

#[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
#[allow(clippy::too_many_arguments)]
pub fn w3_loss(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
    labels: &[usize],
) -> f64 {
    let h1 = add_bias(&(w1 * x), b1).relu();
    let h2 = add_bias(&(w2 * &h1), b2).relu();
    let z = add_bias(&(w3 * &h2), b3);
    softmax_cross_entropy(&z, labels)
}

/// W4 for an activation: `$loss` is W2's loss, twice differentiable and
/// with respect to the input too (its gradient is `$loss_grad`);
/// `$penalised` adds `0.1 ‖dL/dX‖²`: double backpropagation in plain Rust.
macro_rules! w4 {
    ($loss:ident, $loss_grad:ident, $penalised:ident, $act:ident) => {
        #[differentiable(order = 2, wrt(w1, b1, w2, b2, w3, b3, x))]
        #[allow(clippy::too_many_arguments)]
        pub fn $loss(
            w1: &DMatrix<f64>,
            b1: &DVector<f64>,
            w2: &DMatrix<f64>,
            b2: &DVector<f64>,
            w3: &DMatrix<f64>,
            b3: &DVector<f64>,
            x: &DMatrix<f64>,
            y: &DMatrix<f64>,
        ) -> f64 {
            let h1 = add_bias(&(w1 * x), b1).$act();
            let h2 = add_bias(&(w2 * &h1), b2).$act();
            let o = add_bias(&(w3 * &h2), b3);
            mse(&o, y)
        }

        #[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
        #[allow(clippy::too_many_arguments)]
        pub fn $penalised(
            w1: &DMatrix<f64>,
            b1: &DVector<f64>,
            w2: &DMatrix<f64>,
            b2: &DVector<f64>,
            w3: &DMatrix<f64>,
            b3: &DVector<f64>,
            x: &DMatrix<f64>,
            y: &DMatrix<f64>,
        ) -> f64 {
            let (l, g) = $loss_grad(w1, b1, w2, b2, w3, b3, x, y);
            l + 0.1 * g.x.norm_squared()
        }
    };
}

w4!(w4_tanh_loss, w4_tanh_loss_grad, w4_tanh, tanh);
w4!(w4_relu_loss, w4_relu_loss_grad, w4_relu, relu);

/// W5 for an activation: `$net` is `f: R¹⁶ → R¹⁰` on a batch of columns,
/// twice differentiable; `$penalised` is `Σ_b ‖J_f(x_b)‖²_F`, the sum over
/// the output rows `i` of `‖J_bᵀ e_i‖²` for every column `b` at once: one
/// vector-Jacobian product (`$pullback`) per output row (10 of them, fewer
/// than the 16 inputs a forward-mode evaluation would need). `seeds[i]` is
/// one on row `i`, zero elsewhere.
macro_rules! w5 {
    ($net:ident, $pullback:ident, $penalised:ident, $act:ident) => {
        #[differentiable(order = 2, wrt(w1, b1, w2, b2, w3, b3, x))]
        pub fn $net(
            w1: &DMatrix<f64>,
            b1: &DVector<f64>,
            w2: &DMatrix<f64>,
            b2: &DVector<f64>,
            w3: &DMatrix<f64>,
            b3: &DVector<f64>,
            x: &DMatrix<f64>,
        ) -> DMatrix<f64> {
            let h1 = add_bias(&(w1 * x), b1).$act();
            let h2 = add_bias(&(w2 * &h1), b2).$act();
            add_bias(&(w3 * &h2), b3)
        }

        #[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
        #[allow(clippy::too_many_arguments)]
        pub fn $penalised(
            w1: &DMatrix<f64>,
            b1: &DVector<f64>,
            w2: &DMatrix<f64>,
            b2: &DVector<f64>,
            w3: &DMatrix<f64>,
            b3: &DVector<f64>,
            x: &DMatrix<f64>,
            seeds: &[DMatrix<f64>],
        ) -> f64 {
            let mut p = 0.0;
            for seed in seeds.iter() {
                let g = $pullback(w1, b1, w2, b2, w3, b3, x, seed);
                p += g.x.norm_squared();
            }
            p
        }
    };
}

w5!(w5_tanh_net, w5_tanh_net_pullback, w5_tanh, tanh);
w5!(w5_relu_net, w5_relu_net_pullback, w5_relu, relu);

/// W5's data: the network, the inputs and the one-hot row seeds.
pub fn w5_data() -> (Net, DMatrix<f64>, Vec<DMatrix<f64>>) {
    let seeds = autodiff::runtime::jacobian::one_hot_rows(10, 32);
    (Net::new([16, 64, 64, 10]), tensor(6, 16, 32), seeds)
}

/// `act(w x + b)` into a new matrix, in place after the product.
fn layer(w: &DMatrix<f64>, x: &DMatrix<f64>, b: &DVector<f64>, act: impl Fn(f64) -> f64) -> DMatrix<f64> {
    let mut h = DMatrix::zeros(w.nrows(), x.ncols());
    h.gemm(1.0, w, x, 0.0);
    for mut column in h.column_iter_mut() {
        column += b;
    }
    h.apply(|v| *v = act(*v));
    h
}

/// The adjoint of `w x + b` for the cotangent `g` of its output: `(w̄, b̄, x̄)`.
fn layer_adjoint(
    w: &DMatrix<f64>,
    x: &DMatrix<f64>,
    g: &DMatrix<f64>,
    with_input: bool,
) -> (DMatrix<f64>, DMatrix<f64>, Option<DMatrix<f64>>) {
    let mut gw = DMatrix::zeros(w.nrows(), w.ncols());
    gemm_nt(&mut gw, g, x, 0.0);
    let gb = g.column_sum();
    let gx = with_input.then(|| {
        let mut gx = DMatrix::zeros(x.nrows(), x.ncols());
        gemm_tn(&mut gx, w, g, 0.0);
        gx
    });
    (gw, DMatrix::from_column_slice(gb.len(), 1, gb.as_slice()), gx)
}

/// W2 by hand: tanh layers (with the runtime's vectorisable tanh, as the
/// generated code uses), MSE.
pub fn w2_hand(n: &Net, x: &DMatrix<f64>, y: &DMatrix<f64>) -> (f64, Grads) {
    let h1 = layer(&n.w1, x, &n.b1, kernel::tanh);
    let h2 = layer(&n.w2, &h1, &n.b2, kernel::tanh);
    let mut g3 = layer(&n.w3, &h2, &n.b3, |v| v);
    g3 -= y;
    let count = g3.len() as f64;
    let loss = g3.norm_squared() / count;
    g3 *= 2.0 / count;
    let (gw3, gb3, g2) = layer_adjoint(&n.w3, &h2, &g3, true);
    let mut g2 = g2.expect("requested");
    g2.zip_apply(&h2, |g, h| *g *= 1.0 - h * h);
    let (gw2, gb2, g1) = layer_adjoint(&n.w2, &h1, &g2, true);
    let mut g1 = g1.expect("requested");
    g1.zip_apply(&h1, |g, h| *g *= 1.0 - h * h);
    let (gw1, gb1, _) = layer_adjoint(&n.w1, x, &g1, false);
    (loss, [gw1, gb1, gw2, gb2, gw3, gb3])
}

/// W3 by hand: relu layers, softmax cross-entropy.
pub fn w3_hand(n: &Net, x: &DMatrix<f64>, labels: &[usize]) -> (f64, Grads) {
    let relu = |v: f64| v.max(0.0);
    let h1 = layer(&n.w1, x, &n.b1, relu);
    let h2 = layer(&n.w2, &h1, &n.b2, relu);
    let mut g3 = layer(&n.w3, &h2, &n.b3, |v| v);
    let batch = labels.len() as f64;
    let mut loss = 0.0;
    for (mut z, &label) in g3.column_iter_mut().zip(labels) {
        let m = z.max();
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        loss += lse - z[label];
        z.apply(|v| *v = (*v - lse).exp() / batch);
        z[label] -= 1.0 / batch;
    }
    let (gw3, gb3, g2) = layer_adjoint(&n.w3, &h2, &g3, true);
    let mut g2 = g2.expect("requested");
    g2.zip_apply(&h2, |g, h| *g = if h > 0.0 { *g } else { 0.0 });
    let (gw2, gb2, g1) = layer_adjoint(&n.w2, &h1, &g2, true);
    let mut g1 = g1.expect("requested");
    g1.zip_apply(&h1, |g, h| *g = if h > 0.0 { *g } else { 0.0 });
    let (gw1, gb1, _) = layer_adjoint(&n.w1, x, &g1, false);
    (loss / batch, [gw1, gb1, gw2, gb2, gw3, gb3])
}

/// W2's network and data: `(net, x, y)`.
pub fn w2_data() -> (Net, DMatrix<f64>, DMatrix<f64>) {
    (Net::new([16, 64, 64, 1]), tensor(6, 16, 32), tensor(7, 1, 32))
}

/// W3's network and data: `(net, x, labels)`.
pub fn w3_data() -> (Net, DMatrix<f64>, Vec<usize>) {
    (
        Net::new([784, 256, 256, 10]),
        tensor(6, 784, 64),
        (0..64).map(|b| b % 10).collect(),
    )
}

/// The six gradient tensors of a generated W2/W3 gradient, as slices.
macro_rules! grad_slices {
    ($g:expr) => {{
        let g = &$g;
        [
            g.w1.as_slice(),
            g.b1.as_slice(),
            g.w2.as_slice(),
            g.b2.as_slice(),
            g.w3.as_slice(),
            g.b3.as_slice(),
        ]
    }};
}
pub(crate) use grad_slices;

/// Asserts that a generated gradient matches the hand-written one entry by
/// entry, relative to each entry (entries below 1e-3 are compared absolutely).
pub fn assert_matches_hand(generated: [&[f64]; 6], hand: &Grads, tolerance: f64) {
    for (a, b) in generated.iter().zip(hand) {
        assert_eq!(a.len(), b.len());
        for (u, v) in a.iter().zip(b.iter()) {
            assert!((u - v).abs() <= tolerance * v.abs().max(1e-3), "{u} vs {v}");
        }
    }
}

/// Sum and sum of absolute values of the entries: WORKLOADS.md's checksums.
pub fn sums(tensors: &[&[f64]]) -> (f64, f64) {
    tensors
        .iter()
        .flat_map(|t| t.iter())
        .fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()))
}
