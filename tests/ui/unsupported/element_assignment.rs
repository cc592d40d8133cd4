use autodiff::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let mut v = [0.0; 2];
    v[0] = x;
    x * 2.0
}

fn main() {}
