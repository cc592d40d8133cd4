use autodiff::differentiable;

fn plain(a: f64) -> f64 {
    a * 3.0
}

#[differentiable]
fn f(x: f64) -> f64 {
    plain(x) + x
}

fn main() {}
