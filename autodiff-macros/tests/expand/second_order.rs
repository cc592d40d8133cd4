#[differentiable(order = 2, wrt(w, x))]
fn layer(w: &DMatrix<f64>, b: &DVector<f64>, x: &DMatrix<f64>) -> f64 {
    let h = add_bias(&(w * x), b).tanh();
    h.norm_squared()
}

#[differentiable(wrt(w))]
fn penalised(w: &DMatrix<f64>, b: &DVector<f64>, x: &DMatrix<f64>) -> f64 {
    let (l, g) = layer_grad(w, b, x);
    l + 0.1 * g.x.norm_squared()
}
