//! W7: the ADBench D-LSTM objective (WORKLOADS.md, `tests/workloads/lstm.rs`):
//! vector operations inside a loop over time, differentiated by the macro;
//! checked against the reference values and against finite differences on a
//! short sequence.

mod workloads;

use autodiff::prelude::*;
use workloads::lstm::*;

#[test]
fn w7_matches_the_reference_values() {
    let (layers, extra, state, sequence) = data(1024);
    let (v, main, ex) = value_and_grad(&layers, &extra, &state, &sequence);
    assert_eq!(v, value(&layers, &extra, &state, &sequence));
    let all: Vec<f64> = main.iter().chain(ex.iter()).copied().collect();
    let (sum, abs) = all.iter().fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()));
    // WORKLOADS.md: 4.581423619e-05, -4.115738747e-06, 0.0002154250827
    assert!((v - 4.581423619e-05).abs() < 1e-13, "{v}");
    assert!((sum - -4.115738747e-06).abs() < 1e-14, "{sum}");
    assert!((abs - 0.0002154250827).abs() < 1e-13, "{abs}");
}

#[test]
fn w7_matches_finite_differences_on_a_short_sequence() {
    let (mut layers, mut extra, state, sequence) = data(6);
    let b = 14;
    // Flatten the 19 blocks into one point.
    let mut point = Vec::new();
    for layer in &layers {
        for v in layer.w.iter().chain(&layer.b) {
            point.extend(v.iter());
        }
    }
    for v in &extra {
        point.extend(v.iter());
    }
    let load = |p: &[f64], layers: &mut Vec<Layer>, extra: &mut [autodiff::nalgebra::DVector<f64>; 3]| {
        let mut blocks = p.chunks(b);
        for layer in layers.iter_mut() {
            for v in layer.w.iter_mut().chain(layer.b.iter_mut()) {
                v.copy_from_slice(blocks.next().expect("19 blocks"));
            }
        }
        for v in extra.iter_mut() {
            v.copy_from_slice(blocks.next().expect("19 blocks"));
        }
    };
    let f = |p: &[f64]| {
        let (mut l, mut e) = (data(6).0, data(6).1);
        load(p, &mut l, &mut e);
        value(&l, &e, &state, &sequence)
    };
    let grad = |p: &[f64]| {
        let (mut l, mut e) = (data(6).0, data(6).1);
        load(p, &mut l, &mut e);
        let (_, main, ex) = value_and_grad(&l, &e, &state, &sequence);
        // Back to block order: per layer, the w row's 4 blocks then the b row's.
        let mut g = Vec::new();
        for r in 0..4 {
            for k in 0..4 {
                g.extend((0..b).map(|j| main[(r, k * b + j)]));
            }
        }
        g.extend(ex.transpose().iter());
        g
    };
    load(&point, &mut layers, &mut extra);
    if let Err(report) = GradCheck::new().tolerance(1e-6).check(f, grad, &point) {
        panic!("{report}");
    }
}
