use autodiff::prelude::*;

#[differentiable]
fn f(rows: &[Vec<f64>]) -> f64 {
    rows[0][0]
}

fn main() {}
