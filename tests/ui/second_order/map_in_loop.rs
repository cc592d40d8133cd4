use autodiff::differentiable;

// Nested loops are differentiated twice; `map` inside one is not.
#[differentiable(order = 2)]
fn f(m: &autodiff::nalgebra::DMatrix<f64>, n: usize) -> f64 {
    let mut s = 0.0;
    for _ in 0..n {
        s += m.map(|v| v * v).sum();
    }
    s
}

fn main() {}
