//! Trains a small MLP on two interleaved spirals, with gradients from
//! `#[differentiable]` and an Adam step written with nalgebra, then draws the
//! learned decision boundary as an SVG.
//!
//! Run with `cargo run --release --example mlp`.

use std::fmt::Write as _;

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;

#[path = "support/mod.rs"]
mod support;

use support::{accuracy, Adam, Params, Rng};

/// Two spirals, one per class: points as columns of a 2 x n matrix.
fn spirals(n_per_class: usize, rng: &mut Rng) -> (DMatrix<f64>, Vec<usize>) {
    let mut x = DMatrix::zeros(2, 2 * n_per_class);
    let mut labels = Vec::with_capacity(2 * n_per_class);
    for class in 0..2 {
        for i in 0..n_per_class {
            let t = 0.25 + 2.75 * std::f64::consts::PI * i as f64 / n_per_class as f64;
            let r = t / (3.0 * std::f64::consts::PI);
            let sign = if class == 0 { 1.0 } else { -1.0 };
            let column = class * n_per_class + i;
            x[(0, column)] = sign * r * t.cos() + 0.02 * rng.normal();
            x[(1, column)] = sign * r * t.sin() + 0.02 * rng.normal();
            labels.push(class);
        }
    }
    (x, labels)
}

/// The network's loss: two tanh layers and a softmax cross-entropy.
#[differentiable(wrt(w1, b1, w2, b2, w3, b3))]
#[allow(clippy::too_many_arguments)]
fn loss(
    w1: &DMatrix<f64>,
    b1: &DVector<f64>,
    w2: &DMatrix<f64>,
    b2: &DVector<f64>,
    w3: &DMatrix<f64>,
    b3: &DVector<f64>,
    x: &DMatrix<f64>,
    labels: &[usize],
) -> f64 {
    let h1 = add_bias(&(w1 * x), b1).tanh();
    let h2 = add_bias(&(w2 * &h1), b2).tanh();
    let logits = add_bias(&(w3 * &h2), b3);
    softmax_cross_entropy(&logits, labels)
}

/// The decision boundary on a grid, the training points on top, as SVG.
fn svg(params: &Params, x: &DMatrix<f64>, labels: &[usize]) -> String {
    let (size, cells, extent) = (480.0, 120, 1.1);
    let to_px = |v: f64| (v + extent) / (2.0 * extent) * size;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">"#
    );
    let grid = DMatrix::from_fn(2, cells * cells, |r, k| {
        let (i, j) = (k % cells, k / cells);
        let t = if r == 0 { i } else { j } as f64 + 0.5;
        -extent + 2.0 * extent * t / cells as f64
    });
    let cell = size / cells as f64;
    for (k, class) in params.predict(&grid).into_iter().enumerate() {
        let (i, j) = (k % cells, k / cells);
        let fill = if class == 0 { "#cfe3f5" } else { "#f8d9c4" };
        let _ = writeln!(
            out,
            r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{fill}"/>"#,
            i as f64 * cell,
            size - (j + 1) as f64 * cell,
            cell + 0.3,
            cell + 0.3
        );
    }
    for (column, &label) in x.column_iter().zip(labels) {
        let fill = if label == 0 { "#1f5fa8" } else { "#c4521b" };
        let _ = writeln!(
            out,
            r#"<circle cx="{:.2}" cy="{:.2}" r="2.6" fill="{fill}"/>"#,
            to_px(column[0]),
            size - to_px(column[1])
        );
    }
    out.push_str("</svg>\n");
    out
}

fn main() -> std::io::Result<()> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (x, labels) = spirals(200, &mut rng);
    let mut params = Params::new(2, 32, 2, &mut rng);
    let sizes: Vec<usize> = params.slices_mut().iter().map(|s| s.len()).collect();
    let mut adam = Adam::new(0.01, &sizes);

    let epochs = 1500;
    for epoch in 0..=epochs {
        let p = &params;
        let (value, g) = loss_grad(&p.w1, &p.b1, &p.w2, &p.b2, &p.w3, &p.b3, &x, &labels);
        if epoch % 150 == 0 {
            let acc = accuracy(&params.predict(&x), &labels);
            println!("epoch {epoch:5}  loss {value:.5}  accuracy {:.1}%", 100.0 * acc);
        }
        if epoch < epochs {
            let grads = [
                g.w1.as_slice(),
                g.b1.as_slice(),
                g.w2.as_slice(),
                g.b2.as_slice(),
                g.w3.as_slice(),
                g.b3.as_slice(),
            ];
            adam.update(params.slices_mut(), grads);
        }
    }

    let (test_x, test_labels) = spirals(200, &mut rng);
    let train = accuracy(&params.predict(&x), &labels);
    let test = accuracy(&params.predict(&test_x), &test_labels);
    let p = &params;
    let final_loss = loss(&p.w1, &p.b1, &p.w2, &p.b2, &p.w3, &p.b3, &x, &labels);
    println!(
        "final loss {final_loss:.5}, accuracy: train {:.1}%, fresh sample {:.1}%",
        100.0 * train,
        100.0 * test
    );

    let path = std::env::temp_dir().join("autodiff_mlp_boundary.svg");
    std::fs::write(&path, svg(&params, &x, &labels))?;
    println!("decision boundary written to {}", path.display());
    Ok(())
}
