//! Gradient over objective for W1, W6 and W7, measured in pairs: the
//! objective and the generated gradient alternate call by call in one
//! process, and the figure is the median of the per-pair ratios. On a shared
//! machine whose speed drifts between (and during) criterion's runs, this
//! ratio moves less than the ratio of two medians taken seconds apart.
//!
//! `cargo bench --bench paired`

#[path = "../tests/workloads/mod.rs"]
mod workloads;

use std::hint::black_box;
use std::time::Instant;

use workloads::{gmm, lstm, rosenbrock};

/// Seconds taken by `f`.
fn time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `objective` and `gradient` alternately, `pairs` times, each call
/// repeated `reps` times; prints the medians per call and of the ratios.
fn paired(name: &str, pairs: usize, reps: usize, mut objective: impl FnMut(), mut gradient: impl FnMut()) {
    let (mut objectives, mut gradients, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..pairs {
        let o = time(|| (0..reps).for_each(|_| objective()));
        let g = time(|| (0..reps).for_each(|_| gradient()));
        objectives.push(o / reps as f64);
        gradients.push(g / reps as f64);
        ratios.push(g / o);
    }
    println!(
        "{name:<14} objective {:>12.1} ns   gradient {:>12.1} ns   gradient / objective {:.3}",
        median(objectives) * 1e9,
        median(gradients) * 1e9,
        median(ratios)
    );
}

fn main() {
    let x = rosenbrock::point(1000);
    paired(
        "w1_rosenbrock",
        5000,
        20,
        || {
            black_box(rosenbrock::rosenbrock(black_box(&x)));
        },
        || {
            black_box(rosenbrock::rosenbrock_grad(black_box(&x)));
        },
    );
    let (alphas, means, icf, points) = gmm::data(1000);
    paired(
        "w6_gmm",
        200,
        1,
        || {
            black_box(gmm::gmm(&alphas, &means, &icf, black_box(&points), 1.0, 0));
        },
        || {
            black_box(gmm::gmm_grad(&alphas, &means, &icf, black_box(&points), 1.0, 0));
        },
    );
    let (layers, extra, state, sequence) = lstm::data(1024);
    paired(
        "w7_lstm",
        300,
        1,
        || {
            black_box(lstm::value(&layers, &extra, &state, black_box(&sequence)));
        },
        || {
            black_box(lstm::value_and_grad(&layers, &extra, &state, black_box(&sequence)));
        },
    );
}
