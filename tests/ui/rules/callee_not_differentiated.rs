use autodiff::differentiable;

#[differentiable(wrt(a))]
fn scale(a: f64, b: f64) -> f64 {
    a * b
}

#[differentiable]
fn f(x: f64, y: f64) -> f64 {
    scale(x, y)
}

fn main() {}
