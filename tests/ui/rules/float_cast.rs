use autodiff::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let y = (x as f32) * 2.0;
    y as f64
}

fn main() {}
