use autodiff::differentiable;

#[differentiable]
fn f(x: f64, n: usize) -> f64 {
    let mut s = x;
    for _ in 0..n {
        if s > 10.0 {
            return s;
        }
        s = s * x;
    }
    s
}

fn main() {}
