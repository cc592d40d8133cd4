//! W2 (mlp-small) and W3 (mlp-big) of WORKLOADS.md: the objective, the
//! generated gradient, and a hand-written adjoint tuned with in-place
//! nalgebra calls (the bar to meet), in the same run.
//!
//! `cargo bench --bench mlp && python3 benches/ratios.py`. The candle peer
//! runs separately: `cargo run --release --manifest-path peers/candle/Cargo.toml`.

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;
use autodiff::runtime::{gemm_nt, gemm_tn, kernel};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn tensor(t: usize, rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |i, j| {
        0.3 * (0.7 * (i * cols + j) as f64 + 1.3 * t as f64).sin()
    })
}

fn vector(t: usize, rows: usize) -> DVector<f64> {
    DVector::from_column_slice(tensor(t, rows, 1).as_slice())
}

struct Net {
    w1: DMatrix<f64>,
    b1: DVector<f64>,
    w2: DMatrix<f64>,
    b2: DVector<f64>,
    w3: DMatrix<f64>,
    b3: DVector<f64>,
}

impl Net {
    fn new(sizes: [usize; 4]) -> Net {
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
}

type Grads = [DMatrix<f64>; 6];

#[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
#[allow(clippy::too_many_arguments)]
fn w2_loss(
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
fn w3_loss(
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
fn w2_hand(n: &Net, x: &DMatrix<f64>, y: &DMatrix<f64>) -> (f64, Grads) {
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
fn w3_hand(n: &Net, x: &DMatrix<f64>, labels: &[usize]) -> (f64, Grads) {
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

fn flat(g: [&[f64]; 6]) -> Vec<f64> {
    g.concat()
}

fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (u, v) in a.iter().zip(b) {
        assert!((u - v).abs() <= 1e-12 * v.abs().max(1e-3), "{u} vs {v}");
    }
}

fn bench(c: &mut Criterion) {
    let n = Net::new([16, 64, 64, 1]);
    let (x, y) = (tensor(6, 16, 32), tensor(7, 1, 32));
    // The hand-written adjoint is checked against the generated one first.
    let (v, g) = w2_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
    let (hv, hg) = w2_hand(&n, &x, &y);
    assert!((v - hv).abs() < 1e-14);
    assert_close(
        &flat([
            g.w1.as_slice(),
            g.b1.as_slice(),
            g.w2.as_slice(),
            g.b2.as_slice(),
            g.w3.as_slice(),
            g.b3.as_slice(),
        ]),
        &flat(hg.each_ref().map(|m| m.as_slice())),
    );
    let mut group = c.benchmark_group("w2_mlp_small");
    group.bench_function("objective", |b| {
        b.iter(|| w2_loss(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &y))
    });
    group.bench_function("generated", |b| {
        b.iter(|| w2_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &y))
    });
    group.bench_function("hand", |b| b.iter(|| w2_hand(&n, black_box(&x), &y)));
    group.finish();

    let n = Net::new([784, 256, 256, 10]);
    let x = tensor(6, 784, 64);
    let labels: Vec<usize> = (0..64).map(|b| b % 10).collect();
    let (v, g) = w3_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &labels);
    let (hv, hg) = w3_hand(&n, &x, &labels);
    assert!((v - hv).abs() < 1e-12);
    assert_close(
        &flat([
            g.w1.as_slice(),
            g.b1.as_slice(),
            g.w2.as_slice(),
            g.b2.as_slice(),
            g.w3.as_slice(),
            g.b3.as_slice(),
        ]),
        &flat(hg.each_ref().map(|m| m.as_slice())),
    );
    let mut group = c.benchmark_group("w3_mlp_big");
    group.sample_size(20);
    group.bench_function("objective", |b| {
        b.iter(|| w3_loss(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &labels))
    });
    group.bench_function("generated", |b| {
        b.iter(|| w3_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &labels))
    });
    group.bench_function("hand", |b| b.iter(|| w3_hand(&n, black_box(&x), &labels)));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(40)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
