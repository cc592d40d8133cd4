//! W1 (extended Rosenbrock, n = 1000), W6 (ADBench GMM, n = 1000, K = 25,
//! d = 10) and W7 (ADBench LSTM, 2 layers, b = 14, c = 1024) written with
//! loops: the objective and the generated gradient (and, for W1 and W6, a
//! hand-written gradient; for W1 also one that writes each element once),
//! in the same run.
//!
//! `cargo bench --bench loops && python3 benches/ratios.py`

#[path = "../tests/workloads/mod.rs"]
mod workloads;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use workloads::rosenbrock::{point, rosenbrock, rosenbrock_grad};
use workloads::{gmm, lstm};

/// The gradient by hand, in one pass.
fn rosenbrock_hand(x: &[f64]) -> (f64, Vec<f64>) {
    let mut value = 0.0;
    let mut g = vec![0.0; x.len()];
    for i in 0..x.len() - 1 {
        let t = x[i + 1] - x[i] * x[i];
        let u = 1.0 - x[i];
        value += 100.0 * t * t + u * u;
        g[i] += -400.0 * t * x[i] - 2.0 * u;
        g[i + 1] += 200.0 * t;
    }
    (value, g)
}

/// The gradient by hand, each element written once: `x̄[i + 1]`'s share
/// from term `i` is carried in a register to the next iteration.
fn rosenbrock_hand_carried(x: &[f64]) -> (f64, Vec<f64>) {
    let mut value = 0.0;
    let mut g = vec![0.0; x.len()];
    let mut carried = 0.0;
    for i in 0..x.len() - 1 {
        let t = x[i + 1] - x[i] * x[i];
        let u = 1.0 - x[i];
        value += 100.0 * t * t + u * u;
        g[i] = carried - 400.0 * t * x[i] - 2.0 * u;
        carried = 200.0 * t;
    }
    let last = x.len() - 1;
    g[last] = carried;
    (value, g)
}

fn bench(c: &mut Criterion) {
    let x = point(1000);
    let (v, g) = rosenbrock_grad(&x);
    for (hv, hg) in [rosenbrock_hand(&x), rosenbrock_hand_carried(&x)] {
        assert!((v - hv).abs() < 1e-9 && g.x.iter().zip(&hg).all(|(a, b)| (a - b).abs() < 1e-9));
    }
    let mut group = c.benchmark_group("w1_rosenbrock");
    group.bench_function("objective", |b| b.iter(|| rosenbrock(black_box(&x))));
    group.bench_function("generated", |b| b.iter(|| rosenbrock_grad(black_box(&x))));
    group.bench_function("hand", |b| b.iter(|| rosenbrock_hand(black_box(&x))));
    group.bench_function("hand_carry", |b| b.iter(|| rosenbrock_hand_carried(black_box(&x))));
    group.finish();

    let (alphas, means, icf, x) = gmm::data(1000);
    let mut group = c.benchmark_group("w6_gmm");
    group.sample_size(10);
    group.bench_function("objective", |b| {
        b.iter(|| gmm::gmm(&alphas, &means, &icf, black_box(&x), 1.0, 0))
    });
    group.bench_function("generated", |b| {
        b.iter(|| gmm::gmm_grad(&alphas, &means, &icf, black_box(&x), 1.0, 0))
    });
    group.bench_function("hand", |b| {
        b.iter(|| gmm::gmm_hand(&alphas, &means, &icf, black_box(&x), 1.0, 0))
    });
    group.finish();

    let (layers, extra, state, sequence) = lstm::data(1024);
    let mut group = c.benchmark_group("w7_lstm");
    group.sample_size(10);
    group.bench_function("objective", |b| {
        b.iter(|| lstm::value(&layers, &extra, &state, black_box(&sequence)))
    });
    group.bench_function("generated", |b| {
        b.iter(|| lstm::value_and_grad(&layers, &extra, &state, black_box(&sequence)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(60)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
