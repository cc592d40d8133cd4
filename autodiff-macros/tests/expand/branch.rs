#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    let mut s = x * y;
    if x > 0.0 {
        s += x.sin();
    } else {
        s = s * 2.0;
    }
    s.exp() / y
}
