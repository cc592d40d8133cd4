use autodiff::nalgebra::DMatrix;
use autodiff::prelude::*;

// `exp` of a square matrix is nalgebra's matrix exponential: no rule, so no
// (wrong) element-wise gradient.
#[differentiable]
fn f(m: &DMatrix<f64>) -> f64 {
    m.exp().sum()
}

fn main() {}
