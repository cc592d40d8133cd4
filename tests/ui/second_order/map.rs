use autodiff::differentiable;
use autodiff::nalgebra::DMatrix;

#[differentiable(order = 2)]
fn f(m: &DMatrix<f64>) -> f64 {
    m.map(|v| v * v.sin()).sum()
}

fn main() {}
