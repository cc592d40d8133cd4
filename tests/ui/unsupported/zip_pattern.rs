use autodiff::differentiable;

#[differentiable]
fn f(xs: &[f64], ys: &[f64]) -> f64 {
    let mut s = 0.0;
    for pair in xs.iter().zip(ys.iter()) {
        s += pair.0 * pair.1;
    }
    s
}

fn main() {}
