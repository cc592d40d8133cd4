use autodiff::differentiable;

#[differentiable]
fn f(x: f64, mode: u8) -> f64 {
    match mode {
        0 => x,
        _ => x * x,
    }
}

fn main() {}
