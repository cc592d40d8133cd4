use autodiff::differentiable;
use autodiff::nalgebra::DMatrix;

#[differentiable(order = 2)]
fn f(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    a.zip_map(b, |x, y| x * y.sin()).sum()
}

fn main() {}
