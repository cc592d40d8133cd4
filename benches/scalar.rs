//! Scalar reverse mode: generated gradients against hand-written adjoints.
//!
//! `cargo bench --bench scalar`; then `python3 benches/ratios.py` prints the
//! ratios of the medians.
//!
//! - `rosenbrock10`: the extended Rosenbrock function of 10 variables written
//!   out (81 operations).
//! - `mixed10`: 10 variables through `exp`, `sin`, `tanh`, `sqrt`, `ln_1p`,
//!   divisions and a branch (about 60 operations).

use autodiff::prelude::*;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

#[differentiable]
#[rustfmt::skip]
#[allow(clippy::too_many_arguments)]
fn rosenbrock10(x0: f64, x1: f64, x2: f64, x3: f64, x4: f64, x5: f64, x6: f64, x7: f64, x8: f64, x9: f64) -> f64 {
    let t0 = x1 - x0 * x0; let u0 = 1.0 - x0;
    let t1 = x2 - x1 * x1; let u1 = 1.0 - x1;
    let t2 = x3 - x2 * x2; let u2 = 1.0 - x2;
    let t3 = x4 - x3 * x3; let u3 = 1.0 - x3;
    let t4 = x5 - x4 * x4; let u4 = 1.0 - x4;
    let t5 = x6 - x5 * x5; let u5 = 1.0 - x5;
    let t6 = x7 - x6 * x6; let u6 = 1.0 - x6;
    let t7 = x8 - x7 * x7; let u7 = 1.0 - x7;
    let t8 = x9 - x8 * x8; let u8 = 1.0 - x8;
    100.0 * (t0 * t0) + u0 * u0 + 100.0 * (t1 * t1) + u1 * u1 + 100.0 * (t2 * t2) + u2 * u2
        + 100.0 * (t3 * t3) + u3 * u3 + 100.0 * (t4 * t4) + u4 * u4 + 100.0 * (t5 * t5) + u5 * u5
        + 100.0 * (t6 * t6) + u6 * u6 + 100.0 * (t7 * t7) + u7 * u7 + 100.0 * (t8 * t8) + u8 * u8
}

/// The gradient of `rosenbrock10` as one would write it by hand.
fn rosenbrock10_hand(x: &[f64; 10]) -> (f64, [f64; 10]) {
    let mut value = 0.0;
    let mut g = [0.0; 10];
    for i in 0..9 {
        let t = x[i + 1] - x[i] * x[i];
        let u = 1.0 - x[i];
        value += 100.0 * t * t + u * u;
        g[i] += -400.0 * t * x[i] - 2.0 * u;
        g[i + 1] += 200.0 * t;
    }
    (value, g)
}

#[differentiable]
#[allow(clippy::too_many_arguments)]
fn mixed10(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, g: f64, h: f64, i: f64, j: f64) -> f64 {
    let p = (a * b).exp() + c.sin() * d;
    let q = (e * e + f * f + 1.0).sqrt();
    let r = (g - h).tanh() / q;
    let s = (i * j).ln_1p() + p * r;
    let mut t = s * a - b / (c * c + 1.0);
    if t > 0.0 {
        t = t * d + e.sin();
    } else {
        t -= f * g.cos();
    }
    let u = (t * h).tanh() + (i - j).exp() * 0.5;
    u * q + p / (1.0 + r * r) + t
}

/// The gradient of `mixed10` by hand: one forward sweep keeping the values
/// the adjoints need, then the adjoints in reverse order.
fn mixed10_hand(x: &[f64; 10]) -> (f64, [f64; 10]) {
    let [a, b, c, d, e, f, g, h, i, j] = *x;
    let ab = (a * b).exp();
    let (sc, cc) = c.sin_cos();
    let p = ab + sc * d;
    let q = (e * e + f * f + 1.0).sqrt();
    let th = (g - h).tanh();
    let r = th / q;
    let ij = i * j;
    let s = ij.ln_1p() + p * r;
    let c2 = c * c + 1.0;
    let t0 = s * a - b / c2;
    let taken = t0 > 0.0;
    let (se, cg) = (e.sin(), g.cos());
    let t = if taken { t0 * d + se } else { t0 - f * cg };
    let tu = (t * h).tanh();
    let ex = (i - j).exp();
    let u = tu + ex * 0.5;
    let rr = 1.0 + r * r;
    let value = u * q + p / rr + t;

    let mut gr = [0.0; 10];
    let du = q;
    let mut dq = u;
    let mut dp = 1.0 / rr;
    let mut dr = -p * 2.0 * r / (rr * rr);
    let mut dt = 1.0;
    // u = tanh(t h) + 0.5 exp(i - j)
    let dth = du * (1.0 - tu * tu);
    dt += dth * h;
    gr[7] += dth * t;
    gr[8] += du * 0.5 * ex;
    gr[9] -= du * 0.5 * ex;
    // the branch
    let dt0 = if taken {
        gr[3] += dt * t0;
        gr[4] += dt * e.cos();
        dt * d
    } else {
        gr[5] -= dt * cg;
        gr[6] += dt * f * g.sin();
        dt
    };
    // t0 = s a - b / c2
    let ds = dt0 * a;
    gr[0] += dt0 * s;
    gr[1] -= dt0 / c2;
    gr[2] += dt0 * b * 2.0 * c / (c2 * c2);
    // s = ln(1 + i j) + p r
    let dij = ds / (1.0 + ij);
    gr[8] += dij * j;
    gr[9] += dij * i;
    dp += ds * r;
    dr += ds * p;
    // r = th / q
    let dth2 = dr / q;
    dq -= dr * r / q;
    let dgh = dth2 * (1.0 - th * th);
    gr[6] += dgh;
    gr[7] -= dgh;
    // q = sqrt(e² + f² + 1)
    gr[4] += dq * e / q;
    gr[5] += dq * f / q;
    // p = exp(a b) + sin(c) d
    gr[0] += dp * ab * b;
    gr[1] += dp * ab * a;
    gr[2] += dp * cc * d;
    gr[3] += dp * sc;
    (value, gr)
}

/// Calls a ten-argument function on the elements of `x`, hidden from the
/// optimizer.
macro_rules! call {
    ($f:ident, $x:expr) => {{
        let x = black_box($x);
        $f(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9])
    }};
}

fn fields(g: &Rosenbrock10Grad) -> [f64; 10] {
    [g.x0, g.x1, g.x2, g.x3, g.x4, g.x5, g.x6, g.x7, g.x8, g.x9]
}

/// One benchmark group: the objective alone, its generated gradient, and the
/// hand-written gradient.
fn group<G, H>(
    c: &mut Criterion,
    name: &str,
    objective: impl Fn() -> f64,
    generated: impl Fn() -> G,
    hand: impl Fn() -> H,
) {
    let mut group = c.benchmark_group(name);
    group.bench_function("objective", |b| b.iter(&objective));
    group.bench_function("generated", |b| b.iter(&generated));
    group.bench_function("hand", |b| b.iter(&hand));
    group.finish();
}

fn bench(c: &mut Criterion) {
    let x: [f64; 10] = core::array::from_fn(|k| 0.3 * (0.7 * k as f64).sin() + 1.0);
    // The hand-written gradients are themselves checked before they are timed.
    let (v, g) = rosenbrock10_hand(&x);
    let (gv, gg) = call!(rosenbrock10_grad, &x);
    assert!((v - gv).abs() < 1e-12 && fields(&gg).iter().zip(g).all(|(a, b)| (a - b).abs() < 1e-9));
    let (v, g) = mixed10_hand(&x);
    let (gv, gg) = call!(mixed10_grad, &x);
    let gg = [gg.a, gg.b, gg.c, gg.d, gg.e, gg.f, gg.g, gg.h, gg.i, gg.j];
    assert!(
        (v - gv).abs() < 1e-12 && gg.iter().zip(g).all(|(a, b)| (a - b).abs() < 1e-9),
        "{gg:?} {g:?}"
    );

    group(
        c,
        "rosenbrock10",
        || call!(rosenbrock10, &x),
        || call!(rosenbrock10_grad, &x),
        || rosenbrock10_hand(black_box(&x)),
    );
    group(
        c,
        "mixed10",
        || call!(mixed10, &x),
        || call!(mixed10_grad, &x),
        || mixed10_hand(black_box(&x)),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(60).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
