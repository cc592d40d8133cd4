//! W6: the ADBench GMM objective (WORKLOADS.md, `tests/workloads/gmm.rs`) in
//! loop-and-index Rust, differentiated by the macro; checked against the
//! reference values and against finite differences on a smaller data set.

mod workloads;

use autodiff::nalgebra::DMatrix;
use autodiff::prelude::*;
use workloads::gmm::*;

#[test]
fn w6_matches_the_reference_values() {
    let (alphas, means, icf, x) = data(1000);
    let (value, g) = gmm_grad(&alphas, &means, &icf, &x, 1.0, 0);
    assert_eq!(value, gmm(&alphas, &means, &icf, &x, 1.0, 0));
    let all: Vec<f64> = [g.alphas.as_slice(), g.means.as_slice(), g.icf.as_slice()].concat();
    let (sum, abs) = all.iter().fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()));
    // WORKLOADS.md: -7586.71033, 10320.01684, 13530.44613
    assert!((value - -7586.71033).abs() < 1e-4, "{value}");
    assert!((sum - 10320.01684).abs() < 1e-4, "{sum}");
    assert!((abs - 13530.44613).abs() < 1e-4, "{abs}");
}

#[test]
fn w6_matches_finite_differences_on_a_small_sample() {
    let (alphas, means, icf, x) = data(6);
    let (ka, km) = (alphas.len(), means.len());
    let split = |p: &[f64]| {
        (
            p[..ka].to_vec(),
            DMatrix::from_column_slice(25, 10, &p[ka..ka + km]),
            DMatrix::from_column_slice(25, 55, &p[ka + km..]),
        )
    };
    let f = |p: &[f64]| {
        let (a, mu, q) = split(p);
        gmm(&a, &mu, &q, &x, 1.0, 0)
    };
    let grad = |p: &[f64]| {
        let (a, mu, q) = split(p);
        let g = gmm_grad(&a, &mu, &q, &x, 1.0, 0).1;
        [g.alphas.as_slice(), g.means.as_slice(), g.icf.as_slice()].concat()
    };
    let point = [alphas.as_slice(), means.as_slice(), icf.as_slice()].concat();
    // The objective carries a constant of ~10⁴ (the Wishart normaliser), so
    // central differences need a larger step than ε^(1/3) to rise above its
    // rounding; the truncation error at 1e-4 is still far below 1e-6.
    if let Err(report) = GradCheck::new().step(1e-4).check(f, grad, &point) {
        panic!("{report}");
    }
}

#[test]
fn w6_tangent_matches_the_gradient_and_finite_differences() {
    let (alphas, means, icf, x) = data(6);
    let direction = |len: usize, t: f64| -> Vec<f64> { (0..len).map(|k| (0.37 * k as f64 + t).sin()).collect() };
    let (da, dmu, dq) = (
        direction(25, 0.1),
        DMatrix::from_column_slice(25, 10, &direction(250, 0.2)),
        DMatrix::from_column_slice(25, 55, &direction(25 * 55, 0.3)),
    );
    let (value, tangent) = gmm_jvp(&alphas, &means, &icf, &x, 1.0, 0, da.clone(), dmu.clone(), dq.clone());
    assert_eq!(value, gmm(&alphas, &means, &icf, &x, 1.0, 0));
    let g = gmm_grad(&alphas, &means, &icf, &x, 1.0, 0).1;
    let inner: f64 = [
        g.alphas.iter().zip(&da).map(|(a, b)| a * b).sum::<f64>(),
        g.means.dot(&dmu),
        g.icf.dot(&dq),
    ]
    .iter()
    .sum();
    assert!((tangent - inner).abs() < 1e-9 * inner.abs(), "{tangent} vs {inner}");
    let split = |p: &[f64]| {
        (
            p[..25].to_vec(),
            DMatrix::from_column_slice(25, 10, &p[25..275]),
            DMatrix::from_column_slice(25, 55, &p[275..]),
        )
    };
    let point = [alphas.as_slice(), means.as_slice(), icf.as_slice()].concat();
    let v = [da.as_slice(), dmu.as_slice(), dq.as_slice()].concat();
    let report = GradCheck::new().step(1e-4).check_jvp(
        |p| {
            let (a, mu, q) = split(p);
            vec![gmm(&a, &mu, &q, &x, 1.0, 0)]
        },
        |p, d| {
            let ((a, mu, q), (da, dmu, dq)) = (split(p), split(d));
            vec![gmm_jvp(&a, &mu, &q, &x, 1.0, 0, da, dmu, dq).1]
        },
        &point,
        &v,
    );
    if let Err(report) = report {
        panic!("{report}");
    }
}

/// The hand-written gradient (ADBench's one-pass form, the benchmark's bar)
/// is a second implementation: it agrees with the generated one.
#[test]
fn w6_matches_the_hand_written_gradient() {
    let (alphas, means, icf, x) = data(50);
    let (value, g) = gmm_grad(&alphas, &means, &icf, &x, 1.0, 2);
    let (hv, ha, hm, hi) = gmm_hand(&alphas, &means, &icf, &x, 1.0, 2);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
    assert!(close(value, hv), "{value} {hv}");
    assert!(
        g.alphas.iter().zip(&ha).all(|(a, b)| close(*a, *b)),
        "{:?} {:?}",
        g.alphas,
        ha
    );
    assert!(g.means.iter().zip(hm.iter()).all(|(a, b)| close(*a, *b)));
    assert!(g.icf.iter().zip(hi.iter()).all(|(a, b)| close(*a, *b)));
}
