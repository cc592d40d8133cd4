use autodiff::differentiable;

#[differentiable]
fn f(x: f64, steps: Option<usize>) -> f64 {
    let mut s = x;
    let mut left = steps;
    while let Some(n) = left {
        s = s * x;
        left = n.checked_sub(1);
    }
    s
}

fn main() {}
