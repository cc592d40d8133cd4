//! The reference networks W2 (mlp-small, tanh, MSE) and W3 (mlp-big, relu,
//! softmax cross-entropy) from WORKLOADS.md, written as plain nalgebra code
//! under `#[differentiable]` (in `tests/workloads`), checked against the
//! published reference values, against finite differences, and against the
//! hand-written adjoints the benchmarks compare with.

mod workloads;

use autodiff::nalgebra::DVector;
use autodiff::prelude::*;
use workloads::*;

#[test]
fn w2_matches_the_reference_values() {
    let (n, x, y) = w2_data();
    let (value, g) = w2_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
    assert_eq!(value, w2_loss(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y));
    let (sum, abs) = sums(&grad_slices!(g));
    // WORKLOADS.md: 0.07780726165, -0.1112694913, 53.9584343
    assert!((value - 0.07780726165).abs() < 1e-10, "{value}");
    assert!((sum - -0.1112694913).abs() < 1e-9, "{sum}");
    assert!((abs - 53.9584343).abs() < 1e-6, "{abs}");
}

#[test]
fn w2_matches_the_hand_written_adjoint() {
    let (n, x, y) = w2_data();
    let (value, g) = w2_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &y);
    let (hand_value, hand) = w2_hand(&n, &x, &y);
    assert!((value - hand_value).abs() < 1e-14);
    assert_matches_hand(grad_slices!(g), &hand, 1e-13);
}

#[test]
fn w2_matches_finite_differences() {
    let (n, x, y) = w2_data();
    // Differentiate with respect to every parameter at once, flattened.
    let sizes = n.sizes();
    let f = |p: &[f64]| {
        let t = Net::unflatten(p, sizes);
        w2_loss(&t.w1, &t.b1, &t.w2, &t.b2, &t.w3, &t.b3, &x, &y)
    };
    let grad = |p: &[f64]| {
        let t = Net::unflatten(p, sizes);
        let g = w2_loss_grad(&t.w1, &t.b1, &t.w2, &t.b2, &t.w3, &t.b3, &x, &y).1;
        grad_slices!(g).concat()
    };
    let point = n.flatten();
    check_grad(f, grad, &point).unwrap();

    // Forward mode along a direction: the tangent against finite differences
    // and against the gradient's inner product with the direction.
    let jvp = |p: &[f64], d: &[f64]| {
        let (t, dt) = (Net::unflatten(p, sizes), Net::unflatten(d, sizes));
        let (w1, b1, w2, b2, w3, b3) = (&t.w1, &t.b1, &t.w2, &t.b2, &t.w3, &t.b3);
        vec![w2_loss_jvp(w1, b1, w2, b2, w3, b3, &x, &y, dt.w1, dt.b1, dt.w2, dt.b2, dt.w3, dt.b3).1]
    };
    let v: Vec<f64> = (0..point.len()).map(|k| (0.61 * k as f64).cos()).collect();
    check_jvp(|p| vec![f(p)], jvp, &point, &v).unwrap();
    let inner: f64 = grad(&point).iter().zip(&v).map(|(a, b)| a * b).sum();
    let tangent = jvp(&point, &v)[0];
    assert!(
        (tangent - inner).abs() < 1e-12 * inner.abs().max(1.0),
        "{tangent} vs {inner}"
    );
}

#[test]
fn w3_matches_the_reference_values_the_hand_written_adjoint_and_finite_differences() {
    let (n, x, labels) = w3_data();
    let (value, g) = w3_loss_grad(&n.w1, &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &labels);
    let generated = grad_slices!(g);
    let (sum, abs) = sums(&generated);
    // WORKLOADS.md: 3.547093165, 25.54499457, 1689.67684
    assert!((value - 3.547093165).abs() < 1e-8, "{value}");
    assert!((sum - 25.54499457).abs() < 1e-6, "{sum}");
    assert!((abs - 1689.67684).abs() < 1e-4, "{abs}");
    let (hand_value, hand) = w3_hand(&n, &x, &labels);
    assert!((value - hand_value).abs() < 1e-12);
    assert_matches_hand(generated, &hand, 1e-12);
    // Finite differences on the output bias and on 12 weights spread over each
    // layer (the first layer alone has 200k weights). The tolerance is 1e-5:
    // the loss sums 64 samples through relu kinks, and its central differences
    // carry ~1e-10 of noise against gradient entries as small as 1e-5.
    let check = GradCheck::new().tolerance(1e-5);
    let f = |p: &[f64]| {
        w3_loss(
            &n.w1,
            &n.b1,
            &n.w2,
            &n.b2,
            &n.w3,
            &DVector::from_column_slice(p),
            &x,
            &labels,
        )
    };
    let grad = |p: &[f64]| {
        w3_loss_grad(
            &n.w1,
            &n.b1,
            &n.w2,
            &n.b2,
            &n.w3,
            &DVector::from_column_slice(p),
            &x,
            &labels,
        )
        .1
        .b3
        .as_slice()
        .to_vec()
    };
    check.check(f, grad, n.b3.as_slice()).unwrap();
    let picks: Vec<usize> = (0..12).map(|k| k * 7919 % (256 * 784)).collect();
    let with = |p: &[f64]| {
        let mut w1 = n.w1.clone();
        for (&i, &v) in picks.iter().zip(p) {
            w1.as_mut_slice()[i] = v;
        }
        w1
    };
    let f = |p: &[f64]| w3_loss(&with(p), &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &labels);
    let grad = |p: &[f64]| {
        let g = w3_loss_grad(&with(p), &n.b1, &n.w2, &n.b2, &n.w3, &n.b3, &x, &labels)
            .1
            .w1;
        picks.iter().map(|&i| g.as_slice()[i]).collect()
    };
    let point: Vec<f64> = picks.iter().map(|&i| n.w1.as_slice()[i]).collect();
    check.check(f, grad, &point).unwrap();
}
