use autodiff::nalgebra::DMatrix;
use autodiff::prelude::*;

#[differentiable]
fn f(m: &DMatrix<f64>) -> f64 {
    m.trace() * 2.0
}

fn main() {}
