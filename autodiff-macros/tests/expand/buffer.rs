#[differentiable]
fn recurrence(x: &[f64]) -> f64 {
    let n = x.len();
    let mut h = vec![0.0; n + 1];
    for i in 0..n {
        h[i + 1] = (h[i] * 0.9 + x[i]).tanh();
    }
    let mut s = 0.0;
    for i in 0..n + 1 {
        s += h[i] * h[i];
    }
    s
}

#[differentiable]
fn straight_line(x: &[f64]) -> f64 {
    let mut v = vec![0.0; 3];
    v[0] = x[0] * x[1];
    v[1] = v[0].sin() + x[2];
    v[2] = v[0] * v[1];
    v[1] += x[0];
    v[0] = 1.5;
    v[0] * v[1] + v[2] * v[2]
}

#[differentiable]
fn branches(x: &[f64]) -> f64 {
    let n = x.len();
    let mut v = vec![0.0; n];
    for i in 0..n {
        if x[i] > 0.0 {
            v[i] = x[i] * x[i];
        } else {
            v[i] = -x[i].sin();
        }
    }
    v[n - 1]
}

#[differentiable]
fn read_back(x: &[f64]) -> f64 {
    let n = x.len();
    let mut v = vec![0.0; n];
    for i in 0..n {
        v[i] = x[i];
        if i > 0 {
            v[i] += 0.5 * v[i - 1];
        }
    }
    v[n - 1]
}

#[differentiable]
fn matvec(a: &DMatrix<f64>, x: &DVector<f64>) -> f64 {
    let mut y = DVector::<f64>::zeros(a.nrows());
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            y[i] += a[(i, j)] * x[j];
        }
    }
    y.norm_squared()
}
