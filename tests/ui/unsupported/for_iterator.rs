use autodiff::differentiable;

#[differentiable]
fn f(x: f64, xs: &[f64]) -> f64 {
    let mut s = x;
    for v in xs.iter() {
        s = s * v;
    }
    s
}

fn main() {}
