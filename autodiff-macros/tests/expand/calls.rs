#[differentiable(wrt(x))]
fn g(x: f64, n: usize) -> f64 {
    let k = n as f64;
    let (a, b) = (x * k, f64::max(x, 0.5));
    square(a) + inner::cube(b).powi(2)
}
