//! Inverse kinematics of a planar three-link arm by gradient descent.
//!
//! `reach_loss` is plain Rust: forward kinematics, the squared distance of the
//! hand to a target, and a penalty when the elbow bends past its limit (a
//! branch). `#[differentiable]` writes `reach_loss_grad` next to it; the
//! example checks that gradient against finite differences, then follows it
//! until the hand reaches the target.
//!
//! Run with `cargo run --release --example inverse_kinematics`.

use autodiff::prelude::*;

/// Link lengths of the arm.
const L1: f64 = 1.0;
const L2: f64 = 0.8;
const L3: f64 = 0.5;
/// How far the elbow may bend, in radians, before the penalty starts.
const ELBOW_LIMIT: f64 = 2.2;

/// Squared distance from the hand to `(tx, ty)` for joint angles `(a, b, c)`,
/// plus a quadratic penalty past the elbow limit.
#[differentiable(wrt(a, b, c))]
fn reach_loss(a: f64, b: f64, c: f64, tx: f64, ty: f64) -> f64 {
    let ab = a + b;
    let abc = ab + c;
    let x = L1 * a.cos() + L2 * ab.cos() + L3 * abc.cos();
    let y = L1 * a.sin() + L2 * ab.sin() + L3 * abc.sin();
    let (dx, dy) = (x - tx, y - ty);
    let mut loss = dx * dx + dy * dy;
    let bend = b.abs();
    if bend > ELBOW_LIMIT {
        let excess = bend - ELBOW_LIMIT;
        loss += 10.0 * excess * excess;
    }
    loss
}

fn main() {
    let (tx, ty) = (0.9, 1.3);
    let mut q = [0.1, 0.2, 0.3];

    let (loss, grad) = reach_loss_grad(q[0], q[1], q[2], tx, ty);
    println!("target ({tx}, {ty}), start angles {q:?}");
    println!("loss {loss:.6}");
    println!(
        "gradient  d/da = {:+.9}  d/db = {:+.9}  d/dc = {:+.9}",
        grad.a, grad.b, grad.c
    );

    let report = check_grad(
        |p: &[f64]| reach_loss(p[0], p[1], p[2], tx, ty),
        |p: &[f64]| {
            let g = reach_loss_grad(p[0], p[1], p[2], tx, ty).1;
            vec![g.a, g.b, g.c]
        },
        &q,
    );
    match &report {
        Ok(r) => println!("finite differences {:?}: agree, {r}", r.numeric),
        Err(r) => println!("finite differences disagree: {r}"),
    }

    // Gradient descent with a backtracking step.
    let mut step = 0.5;
    for iteration in 0..200 {
        let (loss, g) = reach_loss_grad(q[0], q[1], q[2], tx, ty);
        if loss < 1e-12 {
            println!("reached after {iteration} steps");
            break;
        }
        loop {
            let trial = [q[0] - step * g.a, q[1] - step * g.b, q[2] - step * g.c];
            if reach_loss(trial[0], trial[1], trial[2], tx, ty) < loss {
                q = trial;
                step *= 1.2;
                break;
            }
            step *= 0.5;
        }
        if iteration % 10 == 0 {
            println!("step {iteration:3}: loss {loss:.3e}");
        }
    }
    let hand = (
        L1 * q[0].cos() + L2 * (q[0] + q[1]).cos() + L3 * (q[0] + q[1] + q[2]).cos(),
        L1 * q[0].sin() + L2 * (q[0] + q[1]).sin() + L3 * (q[0] + q[1] + q[2]).sin(),
    );
    println!(
        "final angles [{:.6}, {:.6}, {:.6}], hand at ({:.6}, {:.6})",
        q[0], q[1], q[2], hand.0, hand.1
    );
    if report.is_err() {
        std::process::exit(1);
    }
}
