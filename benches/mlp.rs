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

fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (u, v) in a.iter().zip(b) {
        assert!((u - v).abs() <= 1e-12 * v.abs().max(1e-3), "{u} vs {v}");
    }
}

fn bench(c: &mut Criterion) {
    let (n, x, y) = w2_data();
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

    let (n, x, labels) = w3_data();
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
