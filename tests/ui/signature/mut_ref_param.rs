use autodiff::differentiable;

#[differentiable]
fn f(x: f64, out: &mut f64) -> f64 {
    x * *out
}

fn main() {}
