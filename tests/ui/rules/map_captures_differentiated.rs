use autodiff::nalgebra::DMatrix;
use autodiff::prelude::*;

#[differentiable]
fn f(a: &DMatrix<f64>, s: f64) -> f64 {
    a.map(|v| v * s).sum()
}

fn main() {}
