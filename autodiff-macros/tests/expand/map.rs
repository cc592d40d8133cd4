#[differentiable]
fn f(a: &DMatrix<f64>) -> f64 {
    a.map(f64::exp).sum() + a.map(relu).norm_squared() + a.map(f64::tanh).sum()
}
