//! W4 (input-gradient penalty) and W5 (Jacobian penalty) of WORKLOADS.md,
//! tanh and relu: the penalised objective, its generated gradient
//! (`order = 2`, double backpropagation in plain Rust), the hand-written
//! forward-over-reverse, and the plain first-order gradient of the network's
//! loss, in the same run.
//!
//! `cargo bench --bench penalties && python3 benches/ratios.py`. The candle
//! peer runs separately (`peers/candle`, with `CANDLE_GRAD_DO_NOT_DETACH=1`).

#[path = "../tests/workloads/mod.rs"]
mod workloads;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use workloads::penalties::{w4_hand, w5_first_order, w5_hand, Act};
use workloads::*;

fn bench(c: &mut Criterion) {
    let (n, x, y) = w2_data();
    macro_rules! w4 {
        ($name:literal, $act:expr, $objective:ident, $grad:ident, $loss_grad:ident) => {{
            let mut group = c.benchmark_group($name);
            group.sample_size(40);
            group.bench_function("objective", |b| {
                b.iter(|| $objective(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &y))
            });
            group.bench_function("generated", |b| {
                b.iter(|| $grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &y))
            });
            group.bench_function("hand", |b| b.iter(|| w4_hand(&n, black_box(&x), &y, $act)));
            group.bench_function("first_order", |b| {
                b.iter(|| $loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &y))
            });
            group.finish();
        }};
    }
    w4!("w4_tanh", Act::Tanh, w4_tanh, w4_tanh_grad, w4_tanh_loss_grad);
    w4!("w4_relu", Act::Relu, w4_relu, w4_relu_grad, w4_relu_loss_grad);

    let (n, x, seeds) = w5_data();
    macro_rules! w5 {
        ($name:literal, $act:expr, $objective:ident, $grad:ident) => {{
            let mut group = c.benchmark_group($name);
            group.sample_size(20);
            group.bench_function("objective", |b| {
                b.iter(|| $objective(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &seeds))
            });
            group.bench_function("generated", |b| {
                b.iter(|| $grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, black_box(&x), &seeds))
            });
            group.bench_function("hand", |b| b.iter(|| w5_hand(&n, black_box(&x), $act)));
            group.bench_function("first_order", |b| b.iter(|| w5_first_order(&n, black_box(&x), $act)));
            group.finish();
        }};
    }
    w5!("w5_tanh", Act::Tanh, w5_tanh, w5_tanh_grad);
    w5!("w5_relu", Act::Relu, w5_relu, w5_relu_grad);
}

criterion_group!(benches, bench);
criterion_main!(benches);
