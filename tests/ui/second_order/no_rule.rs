use autodiff::differentiable;

#[differentiable(order = 2)]
fn f(x: f64, y: f64) -> f64 {
    x.powf(y) + x * y
}

fn main() {}
