use autodiff::differentiable;

#[differentiable]
fn f(x: f64, xs: &[f64]) -> f64 {
    let mut s = x;
    for pair in xs.windows(2) {
        s = s * pair[1];
    }
    s
}

fn main() {}
