use autodiff::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    let s = loop {
        break x * 2.0;
    };
    s
}

fn main() {}
