//! W2 (mlp-small) and W3 (mlp-big) of WORKLOADS.md: the objective, the
//! generated gradient, and a hand-written adjoint tuned with in-place
//! nalgebra calls (the bar to meet), in the same run.
//!
//! `cargo bench --bench mlp && python3 benches/ratios.py`. The candle peer
//! runs separately: `cargo run --release --manifest-path peers/candle/Cargo.toml`.

#[path = "../tests/workloads/mod.rs"]
mod workloads;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use workloads::*;

/// One benchmark group: the objective, the generated gradient and the
/// hand-written one, after checking that the two gradients agree.
fn group<G>(
    c: &mut Criterion,
    name: &str,
    samples: usize,
    objective: impl Fn() -> f64,
    generated: impl Fn() -> (f64, G),
    hand: impl Fn() -> (f64, Grads),
    slices: impl Fn(&G) -> [&[f64]; 6],
) {
    let ((v, g), (hv, hg)) = (generated(), hand());
    assert!((v - hv).abs() < 1e-12);
    assert_matches_hand(slices(&g), &hg, 1e-12);
    let mut group = c.benchmark_group(name);
    group.sample_size(samples);
    group.bench_function("objective", |b| b.iter(&objective));
    group.bench_function("generated", |b| b.iter(&generated));
    group.bench_function("hand", |b| b.iter(&hand));
    group.finish();
}

/// The adjoint kernel of a product, `aᵀ b` for a 256x256 `a` and a 256x64 `b`:
/// `gemm` on a zero-copy transposed view (what the rules use) against
/// nalgebra's `tr_mul`.
fn transposed_products(c: &mut Criterion) {
    use autodiff::nalgebra::DMatrix;
    use autodiff::runtime::gemm_tn;
    let (a, b) = (tensor(0, 256, 256), tensor(1, 256, 64));
    let mut group = c.benchmark_group("kernel_at_b");
    group.sample_size(20);
    group.bench_function("gemm_tn_view", |bench| {
        bench.iter(|| {
            let mut out = DMatrix::zeros(256, 64);
            gemm_tn(&mut out, black_box(&a), &b, 0.0);
            out
        })
    });
    group.bench_function("tr_mul", |bench| bench.iter(|| black_box(&a).tr_mul(&b)));
    group.finish();

    // tanh over a 64x64 matrix: the runtime's vectorisable kernel against std.
    let m = tensor(2, 64, 64);
    let mut group = c.benchmark_group("kernel_tanh_4096");
    group.bench_function("kernel", |bench| {
        bench.iter(|| black_box(&m).map(autodiff::runtime::kernel::tanh))
    });
    group.bench_function("std", |bench| bench.iter(|| black_box(&m).map(f64::tanh)));
    group.finish();
}

fn bench(c: &mut Criterion) {
    transposed_products(c);
    let (n, x, y) = w2_data();
    group(
        c,
        "w2_mlp_small",
        40,
        || w2_loss(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &y),
        || w2_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &y),
        || w2_hand(&n, black_box(&x), &y),
        |g| grad_slices!(g),
    );
    let (n, x, labels) = w3_data();
    group(
        c,
        "w3_mlp_big",
        20,
        || w3_loss(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &labels),
        || w3_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &labels),
        || w3_hand(&n, black_box(&x), &labels),
        |g| grad_slices!(g),
    );
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
