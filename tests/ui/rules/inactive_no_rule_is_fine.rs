use autodiff::differentiable;

fn plain(n: usize) -> f64 {
    n as f64 * 3.0
}

// No differentiated value flows through `to_degrees`, `plain` or the indexing:
// they are data, and compile.
#[differentiable(wrt(x))]
fn f(x: f64, y: f64, n: usize, data: &[f64]) -> f64 {
    let unused = x.to_degrees();
    let k = y.to_degrees() + plain(n) + data[n];
    x * k
}

fn main() {
    let (_, g) = f_grad(1.0, 2.0, 1, &[0.0, 1.0]);
    assert_eq!(g.x, 2.0f64.to_degrees() + 3.0 + 1.0);
}
