//! W7: the ADBench "D-LSTM" objective of WORKLOADS.md, written with nalgebra
//! vectors inside a `for` loop over time. The parameters are passed as the
//! blocks ADBench slices them into (`main_params` row `2i` is the weights of
//! layer `i`, row `2i + 1` its biases, each in forget | ingate | outgate |
//! change blocks; `extra_params` rows are the input scale, output scale and
//! output bias), so that the gradient of each block is a field.

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;

use super::tensor;

/// One layer's four gates: weights then biases, `[f, i, o, c]`.
pub struct Layer {
    pub w: [DVector<f64>; 4],
    pub b: [DVector<f64>; 4],
}

/// The objective over the whole sequence; the state is carried, not
/// differentiated.
#[differentiable(wrt(
    wf0, wi0, wo0, wc0, bf0, bi0, bo0, bc0, wf1, wi1, wo1, wc1, bf1, bi1, bo1, bc1, e0, e1, e2
))]
pub fn lstm(
    wf0: &DVector<f64>,
    wi0: &DVector<f64>,
    wo0: &DVector<f64>,
    wc0: &DVector<f64>,
    bf0: &DVector<f64>,
    bi0: &DVector<f64>,
    bo0: &DVector<f64>,
    bc0: &DVector<f64>,
    wf1: &DVector<f64>,
    wi1: &DVector<f64>,
    wo1: &DVector<f64>,
    wc1: &DVector<f64>,
    bf1: &DVector<f64>,
    bi1: &DVector<f64>,
    bo1: &DVector<f64>,
    bc1: &DVector<f64>,
    e0: &DVector<f64>,
    e1: &DVector<f64>,
    e2: &DVector<f64>,
    state: &DMatrix<f64>,
    sequence: &DMatrix<f64>,
) -> f64 {
    let mut h0 = state.row(0).transpose();
    let mut c0 = state.row(1).transpose();
    let mut h1 = state.row(2).transpose();
    let mut c1 = state.row(3).transpose();
    let mut total = 0.0;
    let steps = sequence.nrows() - 1;
    for t in 0..steps {
        let x = e0.component_mul(&sequence.row(t).transpose());
        // layer 0
        let f = (x.component_mul(wf0) + bf0).sigmoid();
        let gi = (h0.component_mul(wi0) + bi0).sigmoid();
        let go = (x.component_mul(wo0) + bo0).sigmoid();
        let ch = (h0.component_mul(wc0) + bc0).tanh();
        c0 = c0.component_mul(&f) + gi.component_mul(&ch);
        h0 = go.component_mul(&c0.tanh());
        // layer 1, on layer 0's output
        let f = (h0.component_mul(wf1) + bf1).sigmoid();
        let gi = (h1.component_mul(wi1) + bi1).sigmoid();
        let go = (h0.component_mul(wo1) + bo1).sigmoid();
        let ch = (h1.component_mul(wc1) + bc1).tanh();
        c1 = c1.component_mul(&f) + gi.component_mul(&ch);
        h1 = go.component_mul(&c1.tanh());
        let ypred = h1.component_mul(e1) + e2;
        let next = sequence.row(t + 1).transpose();
        let lse = (ypred.map(f64::exp).sum() + 2.0).ln();
        total += next.dot(&ypred) - next.sum() * lse;
    }
    -total / (steps * sequence.ncols()) as f64
}

/// WORKLOADS.md data: `(layers, extra, state, sequence)` with `c` time steps.
pub fn data(c: usize) -> (Vec<Layer>, [DVector<f64>; 3], DMatrix<f64>, DMatrix<f64>) {
    let (l, b) = (2, 14);
    let main = tensor(0, 2 * l, 4 * b);
    let extra = tensor(1, 3, b);
    let block = |row: usize, k: usize| DVector::from_fn(b, |j, _| main[(row, k * b + j)]);
    let layers = (0..l)
        .map(|i| Layer {
            w: std::array::from_fn(|k| block(2 * i, k)),
            b: std::array::from_fn(|k| block(2 * i + 1, k)),
        })
        .collect();
    let extra = std::array::from_fn(|r| DVector::from_fn(b, |j, _| extra[(r, j)]));
    (layers, extra, tensor(2, 2 * l, b), tensor(3, c, b))
}

/// The objective and its gradient, with the gradient as the ADBench
/// `(main_params, extra_params)` matrices.
pub fn value_and_grad(
    layers: &[Layer],
    e: &[DVector<f64>; 3],
    state: &DMatrix<f64>,
    seq: &DMatrix<f64>,
) -> (f64, DMatrix<f64>, DMatrix<f64>) {
    let (l0, l1) = (&layers[0], &layers[1]);
    let (v, g) = lstm_grad(
        &l0.w[0], &l0.w[1], &l0.w[2], &l0.w[3], &l0.b[0], &l0.b[1], &l0.b[2], &l0.b[3], &l1.w[0], &l1.w[1], &l1.w[2],
        &l1.w[3], &l1.b[0], &l1.b[1], &l1.b[2], &l1.b[3], &e[0], &e[1], &e[2], state, seq,
    );
    let b = e[0].len();
    let rows = [
        [&g.wf0, &g.wi0, &g.wo0, &g.wc0],
        [&g.bf0, &g.bi0, &g.bo0, &g.bc0],
        [&g.wf1, &g.wi1, &g.wo1, &g.wc1],
        [&g.bf1, &g.bi1, &g.bo1, &g.bc1],
    ];
    let main = DMatrix::from_fn(4, 4 * b, |r, col| rows[r][col / b][col % b]);
    let extra_rows = [&g.e0, &g.e1, &g.e2];
    let extra = DMatrix::from_fn(3, b, |r, j| extra_rows[r][j]);
    (v, main, extra)
}

/// The objective alone.
pub fn value(layers: &[Layer], e: &[DVector<f64>; 3], state: &DMatrix<f64>, seq: &DMatrix<f64>) -> f64 {
    let (l0, l1) = (&layers[0], &layers[1]);
    lstm(
        &l0.w[0], &l0.w[1], &l0.w[2], &l0.w[3], &l0.b[0], &l0.b[1], &l0.b[2], &l0.b[3], &l1.w[0], &l1.w[1], &l1.w[2],
        &l1.w[3], &l1.b[0], &l1.b[1], &l1.b[2], &l1.b[3], &e[0], &e[1], &e[2], state, seq,
    )
}
