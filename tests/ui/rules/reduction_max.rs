use autodiff::nalgebra::DMatrix;
use autodiff::prelude::*;

// `m.max()` is the largest element, not the two-argument `a.max(b)`.
#[differentiable]
fn f(m: &DMatrix<f64>) -> f64 {
    m.max() * 2.0
}

fn main() {}
