use autodiff::differentiable;

#[differentiable(order = 2)]
fn f(x: f64, n: usize) -> f64 {
    let mut s = x;
    for _ in 0..n {
        for _ in 0..n {
            s = s * x + 1.0;
        }
    }
    s
}

fn main() {}
