use autodiff::differentiable;

#[differentiable]
fn loss(w: f64, x: f64) -> f64 {
    (w * x).tanh()
}

#[differentiable(wrt(w))]
fn penalised(w: f64, x: f64) -> f64 {
    let (l, g) = loss_grad(w, x);
    l + g.x * g.x
}

fn main() {}
