use autodiff::differentiable;

/// Loops and branches on data only: the body is straight-line in what it differentiates.
#[differentiable(order = 2, wrt(x))]
fn f(x: f64, n: usize) -> f64 {
    let mut k = 0.0;
    for i in 0..n {
        if i % 2 == 0 {
            k += 1.0;
        }
    }
    x * x * k
}

fn main() {
    let v = FGrad { x: 1.0 };
    let (_, g, h) = f_hvp(3.0, 4, &v);
    assert_eq!((g.x, h.x), (12.0, 4.0));
}
