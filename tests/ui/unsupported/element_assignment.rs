use autodiff::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let mut rows = [[0.0; 2]; 2];
    rows[0][1] = x;
    x * 2.0
}

fn main() {}
