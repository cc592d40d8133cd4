use autodiff::differentiable;

fn log_value(_: f64) {}

#[differentiable]
fn f(x: f64) -> f64 {
    log_value(x);
    x * 2.0
}

fn main() {}
