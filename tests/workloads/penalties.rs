//! W4 and W5 by hand: the gradient of a penalty on derivatives by
//! forward-over-reverse written out, with `gemm`s into buffers and the same
//! kernels as generated code: the bar that `order = 2` code is measured
//! against. Like a person would, they skip the weights' tangents (the
//! direction is on the input only), the input's second-order adjoint (not
//! needed), every term of a zero second derivative (relu), and, in W5, they
//! run the forward pass once for all the seeds.

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::runtime::{gemm_nt, gemm_tn, kernel};

use super::{Grads, Net};

/// The activation of the hidden layers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Act {
    Tanh,
    Relu,
}

impl Act {
    fn apply(self, z: &mut DMatrix<f64>) {
        match self {
            Act::Tanh => z.apply(|v| *v = kernel::tanh(*v)),
            Act::Relu => z.apply(|v| *v = v.max(0.0)),
        }
    }

    /// `σ'(z)` from the activation's output `h`.
    fn deriv(self, h: &DMatrix<f64>) -> DMatrix<f64> {
        match self {
            Act::Tanh => h.map(|h| 1.0 - h * h),
            Act::Relu => h.map(|h| if h > 0.0 { 1.0 } else { 0.0 }),
        }
    }
}

/// `w x + b`.
fn affine(w: &DMatrix<f64>, x: &DMatrix<f64>, b: &DVector<f64>) -> DMatrix<f64> {
    let mut z = product(w, x);
    for mut column in z.column_iter_mut() {
        column += b;
    }
    z
}

/// `a b`.
fn product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let mut out = DMatrix::zeros(a.nrows(), b.ncols());
    out.gemm(1.0, a, b, 0.0);
    out
}

/// `aᵀ b`.
fn product_tn(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let mut out = DMatrix::zeros(a.ncols(), b.ncols());
    gemm_tn(&mut out, a, b, 0.0);
    out
}

/// `a bᵀ`.
fn product_nt(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let mut out = DMatrix::zeros(a.nrows(), b.nrows());
    gemm_nt(&mut out, a, b, 0.0);
    out
}

fn column(v: DVector<f64>) -> DMatrix<f64> {
    DMatrix::from_column_slice(v.len(), 1, v.as_slice())
}

/// The hidden layers: `(h1, h2, σ'(z1), σ'(z2))`.
fn hidden(n: &Net, x: &DMatrix<f64>, act: Act) -> [DMatrix<f64>; 4] {
    let mut h1 = affine(&n.w1, x, &n.b1);
    act.apply(&mut h1);
    let mut h2 = affine(&n.w2, &h1, &n.b2);
    act.apply(&mut h2);
    let (d1, d2) = (act.deriv(&h1), act.deriv(&h2));
    [h1, h2, d1, d2]
}

/// The tangent of `z̄ = h̄ ⊙ σ'(z)`: `h̄̇ ⊙ σ'(z)` (if `h̄̇` is not zero) plus,
/// for tanh, `h̄ ⊙ (-2 h) ⊙ ḣ`; relu has no second term.
fn adjoint_tangent(
    act: Act,
    hb_dot: Option<&DMatrix<f64>>,
    d: &DMatrix<f64>,
    hb: &DMatrix<f64>,
    h: &DMatrix<f64>,
    h_dot: &DMatrix<f64>,
) -> Option<DMatrix<f64>> {
    let mut out = hb_dot.map(|t| t.component_mul(d));
    if act == Act::Tanh {
        let mut curvature = h.zip_map(h_dot, |h, t| -2.0 * h * t);
        curvature.component_mul_assign(hb);
        match &mut out {
            Some(out) => *out += curvature,
            None => out = Some(curvature),
        }
    }
    out
}

/// W4 by hand: `R = L + λ ‖dL/dX‖²` for the W2 network (`λ = 0.1`).
pub fn w4_hand(n: &Net, x: &DMatrix<f64>, y: &DMatrix<f64>, act: Act) -> (f64, Grads) {
    let lambda = 0.1;
    let [h1, h2, d1, d2] = hidden(n, x, act);
    let mut ob = affine(&n.w3, &h2, &n.b3);
    ob -= y;
    let count = ob.len() as f64;
    let loss = ob.norm_squared() / count;
    ob *= 2.0 / count;
    // The gradient, and the input's G = x̄.
    let mut w3 = product_nt(&ob, &h2);
    let mut b3 = ob.column_sum();
    let z2b = product_tn(&n.w3, &ob).component_mul(&d2);
    let mut w2 = product_nt(&z2b, &h1);
    let mut b2 = z2b.column_sum();
    let h1b = product_tn(&n.w2, &z2b);
    let z1b = h1b.component_mul(&d1);
    let mut w1 = product_nt(&z1b, x);
    let mut b1 = z1b.column_sum();
    let g = product_tn(&n.w1, &z1b);
    let value = loss + lambda * g.norm_squared();
    // Tangents along v = 2 λ G on the input.
    let v = &g * (2.0 * lambda);
    let h1t = product(&n.w1, &v).component_mul(&d1);
    let h2t = product(&n.w2, &h1t).component_mul(&d2);
    let obt = product(&n.w3, &h2t) * (2.0 / count);
    // Their adjoints, added into the gradient.
    gemm_nt(&mut w3, &obt, &h2, 1.0);
    gemm_nt(&mut w3, &ob, &h2t, 1.0);
    b3 += obt.column_sum();
    let h2b = product_tn(&n.w3, &ob);
    let h2bt = product_tn(&n.w3, &obt);
    let z2bt = adjoint_tangent(act, Some(&h2bt), &d2, &h2b, &h2, &h2t).expect("a term");
    gemm_nt(&mut w2, &z2bt, &h1, 1.0);
    gemm_nt(&mut w2, &z2b, &h1t, 1.0);
    b2 += z2bt.column_sum();
    let h1bt = product_tn(&n.w2, &z2bt);
    let z1bt = adjoint_tangent(act, Some(&h1bt), &d1, &h1b, &h1, &h1t).expect("a term");
    gemm_nt(&mut w1, &z1bt, x, 1.0);
    gemm_nt(&mut w1, &z1b, &v, 1.0);
    b1 += z1bt.column_sum();
    (value, [w1, column(b1), w2, column(b2), w3, column(b3)])
}

/// W5's value the way its gradients compute it, by hand: the forward pass
/// once, then one pullback per output row to the input. A gradient's time
/// less this is its second-order work (stages 3 and 4), which Etmann et al.
/// (2019) compare between locally linear and curved activations.
pub fn w5_first_order(n: &Net, x: &DMatrix<f64>, act: Act) -> f64 {
    let [_, h2, d1, d2] = hidden(n, x, act);
    let (rows, batch) = (n.w3.nrows(), x.ncols());
    let mut p = 0.0;
    for i in 0..rows {
        let row = n.w3.row(i).transpose();
        let z2b = DMatrix::from_fn(h2.nrows(), batch, |r, c| row[r] * d2[(r, c)]);
        let z1b = product_tn(&n.w2, &z2b).component_mul(&d1);
        p += product_tn(&n.w1, &z1b).norm_squared();
    }
    p
}

/// W5 by hand: `P = Σ_b ‖J_f(x_b)‖²_F`, one reverse pass per output row `i`
/// (seed `e_i` on every column), and its gradient by forward-over-reverse
/// along `2 x̄` per row, the forward pass shared by all rows.
pub fn w5_hand(n: &Net, x: &DMatrix<f64>, act: Act) -> (f64, Grads) {
    let [h1, h2, d1, d2] = hidden(n, x, act);
    let (rows, batch) = (n.w3.nrows(), x.ncols());
    let mut p = 0.0;
    let mut w1 = DMatrix::zeros(n.w1.nrows(), n.w1.ncols());
    let mut w2 = DMatrix::zeros(n.w2.nrows(), n.w2.ncols());
    let mut w3 = DMatrix::zeros(n.w3.nrows(), n.w3.ncols());
    let (mut b1, mut b2) = (DVector::zeros(n.b1.len()), DVector::zeros(n.b2.len()));
    for i in 0..rows {
        // h̄2 = W3ᵀ e_i: row i of W3 in every column.
        let row = n.w3.row(i).transpose();
        let z2b = DMatrix::from_fn(h2.nrows(), batch, |r, c| row[r] * d2[(r, c)]);
        let h1b = product_tn(&n.w2, &z2b);
        let z1b = h1b.component_mul(&d1);
        let xb = product_tn(&n.w1, &z1b);
        p += xb.norm_squared();
        // Tangents along v = 2 x̄.
        let v = xb * 2.0;
        let h1t = product(&n.w1, &v).component_mul(&d1);
        let h2t = product(&n.w2, &h1t).component_mul(&d2);
        // W̄3's tangent, e_i ḣ2ᵀ: row i gets the sum of ḣ2's columns.
        let mut w3_row = w3.row_mut(i);
        w3_row += h2t.column_sum().transpose();
        // h̄2 does not depend on anything with a tangent: only curvature below.
        let z2bt = adjoint_tangent(
            act,
            None,
            &d2,
            &DMatrix::from_fn(h2.nrows(), batch, |r, _| row[r]),
            &h2,
            &h2t,
        );
        gemm_nt(&mut w2, &z2b, &h1t, 1.0);
        let z1bt = z2bt.map(|z2bt| {
            gemm_nt(&mut w2, &z2bt, &h1, 1.0);
            b2 += z2bt.column_sum();
            let h1bt = product_tn(&n.w2, &z2bt);
            adjoint_tangent(act, Some(&h1bt), &d1, &h1b, &h1, &h1t).expect("a term")
        });
        gemm_nt(&mut w1, &z1b, &v, 1.0);
        if let Some(z1bt) = z1bt {
            gemm_nt(&mut w1, &z1bt, x, 1.0);
            b1 += z1bt.column_sum();
        }
    }
    let zero_b3 = DMatrix::zeros(n.b3.len(), 1);
    (p, [w1, column(b1), w2, column(b2), w3, zero_b3])
}
