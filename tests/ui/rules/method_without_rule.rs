use autodiff::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let y = x.to_degrees();
    y * 2.0
}

fn main() {}
