//! Every matrix rule and construct, differentiated through the macro and
//! checked against central finite differences of the primal: products (both
//! gemm paths: small matrices and the strided large ones), scaling,
//! transposes, reductions, element-wise products, activations, `map` and
//! `zip_map` with closures and paths, the functions of whole matrices, static
//! shapes, branches on matrices, matrix outputs through `f_vjp`, and `f32`.

use autodiff::nalgebra::{DMatrix, DVector, RowDVector, SMatrix, SVector};
use autodiff::prelude::*;
use matrices::{data, flat, split};

#[path = "common/matrices.rs"]
mod matrices;

/// Checks the gradient of `f` with respect to its matrix inputs, flattened.
fn check(
    f: impl Fn(&[DMatrix<f64>]) -> f64,
    grad: impl Fn(&[DMatrix<f64>]) -> Vec<DMatrix<f64>>,
    inputs: &[DMatrix<f64>],
    tolerance: f64,
) {
    let shapes: Vec<(usize, usize)> = inputs.iter().map(|m| m.shape()).collect();
    let split = |p: &[f64]| split(&shapes, p);
    let point = flat(inputs);
    let value = |p: &[f64]| f(&split(p));
    let gradient = |p: &[f64]| {
        let g = grad(&split(p));
        for (g, (r, c)) in g.iter().zip(&shapes) {
            assert_eq!(g.shape(), (*r, *c), "gradient shape");
        }
        flat(&g)
    };
    if let Err(report) = GradCheck::new().tolerance(tolerance).check(value, gradient, &point) {
        panic!("{report}");
    }
}

/// Checks the tangent of `f` along `directions` at `inputs`, flattened.
fn check_tangent(
    f: impl Fn(&[DMatrix<f64>]) -> f64,
    jvp: impl Fn(&[DMatrix<f64>], &[DMatrix<f64>]) -> f64,
    inputs: &[DMatrix<f64>],
    directions: &[DMatrix<f64>],
    tolerance: f64,
) {
    let shapes: Vec<(usize, usize)> = inputs.iter().map(|m| m.shape()).collect();
    let split = |p: &[f64]| split(&shapes, p);
    let report = GradCheck::new().tolerance(tolerance).check_jvp(
        |p| vec![f(&split(p))],
        |p, v| vec![jvp(&split(p), &split(v))],
        &flat(inputs),
        &flat(directions),
    );
    if let Err(report) = report {
        panic!("{report}");
    }
}

/// One module per case: `f(a, b, ..)` of `DMatrix<f64>` inputs of the given
/// shapes, and a finite-difference test of `f_grad`.
macro_rules! cases {
    ($($name:ident($($arg:ident: ($r:expr, $c:expr)),+) = $body:expr;)*) => {$(
        mod $name {
            use super::*;

            #[differentiable]
            pub fn f($($arg: &DMatrix<f64>),+) -> f64 {
                $body
            }

            #[test]
            fn gradient_matches_finite_differences() {
                let inputs = {
                    let mut t = 0;
                    vec![$({ t += 1; let _ = stringify!($arg); data(t, $r, $c) }),+]
                };
                let value = |m: &[DMatrix<f64>]| {
                    let [$($arg),+] = m else { unreachable!() };
                    f($($arg),+)
                };
                let grad = |m: &[DMatrix<f64>]| {
                    let [$($arg),+] = m else { unreachable!() };
                    let (v, g) = f_grad($($arg),+);
                    assert_eq!(v, f($($arg),+));
                    vec![$(g.$arg),+]
                };
                check(value, grad, &inputs, 1e-6);
            }

            #[test]
            fn tangent_matches_finite_differences() {
                let (inputs, directions) = {
                    let mut t = 0;
                    let inputs = vec![$({ t += 1; let _ = stringify!($arg); data(t, $r, $c) }),+];
                    let directions = vec![$({ t += 1; let _ = stringify!($arg); data(t + 20, $r, $c) }),+];
                    (inputs, directions)
                };
                let value = |m: &[DMatrix<f64>]| {
                    let [$($arg),+] = m else { unreachable!() };
                    f($($arg),+)
                };
                let jvp = |m: &[DMatrix<f64>], d: &[DMatrix<f64>]| {
                    let [$($arg),+] = m else { unreachable!() };
                    let mut k = 0;
                    let (v, t) = f_jvp($($arg,)+ $({ let _ = stringify!($arg); k += 1; d[k - 1].clone() }),+);
                    assert_eq!(v, f($($arg),+));
                    t
                };
                check_tangent(value, jvp, &inputs, &directions, 1e-6);
            }
        }
    )*};
}

cases! {
    matmul_small(a: (3, 4), b: (4, 2)) = (a * b).sum();
    matmul_strided(a: (7, 8), b: (8, 9)) = (a * b).component_mul(&(a * b)).sum();
    matmul_chain(a: (6, 7), b: (7, 6), c: (6, 3)) = (a * b * c).norm_squared();
    add_sub_neg(a: (3, 4), b: (3, 4)) = (a + b - &(-a * 2.0)).norm();
    // `a * b`'s adjoint is carried negated, then negated once, in place, for `ā`, `b̄`.
    sub_product(a: (3, 4), b: (4, 2), c: (3, 2)) = (c - a * b).norm_squared() + (c * 0.5 - &(-(a * b))).sum();
    scale(a: (3, 4), s: (1, 1)) = (a * s.sum() + &(a / s.mean()) * 2.0 - s.norm() * a).norm_squared();
    transpose(a: (3, 4), b: (3, 4)) = (a.transpose() * b).sum() + (a * b.transpose()).mean();
    dot(a: (5, 1), b: (5, 1)) = a.dot(b) * a.dot(a);
    tr_mul(a: (4, 3), b: (4, 5)) = a.tr_mul(b).norm_squared();
    tr_mul_strided(a: (9, 7), b: (9, 8)) = a.tr_mul(b).norm_squared();
    component(a: (3, 4), b: (3, 4)) = a.component_mul(b).sum() + a.component_div(&(b.component_mul(b) + b * 0.0 + DMatrix::from_element(3, 4, 1.0))).sum();
    reductions(a: (3, 4)) = a.sum() * a.mean() + a.norm() + a.norm_squared();
    column_row(a: (3, 4)) = a.column(1).norm_squared() + a.row(2).sum() * a.column(3).sum();
    relu(a: (4, 5)) = a.relu().norm_squared() + a.leaky_relu(0.1).sum() + a.elu(0.7).sum();
    smooth_activations(a: (4, 5)) = (a * 3.0).sigmoid().sum() + a.tanh().norm_squared() + a.softplus().sum() + a.gelu().sum() + a.silu().mean();
    map_closure(a: (4, 5)) = a.map(|v| v.max(0.05) * v.sin() + 1.0 / (1.0 + (-v).exp())).sum();
    map_path(a: (4, 5)) = a.map(f64::exp).sum() + a.map(relu).norm_squared() + a.map(f64::tanh).sum();
    map_branch(a: (4, 5)) = a.map(|v| if v > 0.1 { v * v } else { -v }).sum();
    zip_map(a: (4, 5), b: (4, 5)) = a.zip_map(b, |x, y| x * y.exp() + x.sin()).sum() + a.zip_map(&(b * 2.0), |x, y| x.max(y)).sum();
    bias_and_softmax(z: (4, 6), b: (4, 1)) = {
        let bias = b.column(0);
        let s = softmax(&add_bias(z, &bias));
        let l = log_softmax(z);
        s.component_mul(&s).sum() + l.sum() * 0.1 + logsumexp(z)
    };
    losses(p: (3, 5), t: (3, 5)) = mse(p, t) + softmax_cross_entropy(p, &[0, 1, 2, 1, 0]) * 0.5;
    owned_and_scaled(a: (3, 4), s: (1, 1)) = {
        let c = a.clone();
        let t = s.sum();
        (c.scale(t) + a.add_scalar(t * 0.5)).norm_squared() + a.clone().into_owned().sum()
    };
    row_and_column_sums(a: (3, 4), b: (3, 4)) = a.column_sum().norm_squared() + a.row_sum().dot(&b.row_sum());
    constructors(a: (3, 4), s: (1, 1)) = {
        let x = s.sum();
        let filled = DMatrix::from_element(3, 4, x * 2.0) + DMatrix::zeros(3, 4) + DMatrix::identity(3, 4);
        a.component_mul(&filled).sum() + DVector::from_element(3, x).norm_squared()
    };
    branch_on_matrix(a: (3, 4), b: (3, 4)) = {
        let s = a.sum();
        let m = if s > 0.0 { a.component_mul(b) } else { a - b };
        m.norm_squared() + s
    };
}

/// Captured values are data: `s` is not differentiated here.
#[differentiable(wrt(a))]
fn map_capture(a: &DMatrix<f64>, s: f64) -> f64 {
    let scale = s * 2.0;
    a.map(|v| v * scale + v.sin()).sum()
}

#[test]
fn map_reads_values_that_are_not_differentiated() {
    let a = data(1, 3, 3);
    check(
        |m| map_capture(&m[0], 0.7),
        |m| vec![map_capture_grad(&m[0], 0.7).1.a],
        &[a],
        1e-6,
    );
}

#[differentiable]
fn vectors(w: &DMatrix<f64>, x: &DVector<f64>, r: &RowDVector<f64>) -> f64 {
    let y = w * x;
    (r * &y).sum() * 0.5 + r.dot(&y.transpose()) + y.norm()
}

#[test]
fn vectors_and_row_vectors() {
    let w = data(1, 4, 3);
    let x = DVector::from_column_slice(data(2, 3, 1).as_slice());
    let r = RowDVector::from_row_slice(data(3, 1, 4).as_slice());
    let (v, g) = vectors_grad(&w, &x, &r);
    assert_eq!(v, vectors(&w, &x, &r));
    assert_eq!((g.x.len(), g.r.len()), (3, 4));
    check(
        |m| {
            vectors(
                &m[0],
                &DVector::from_column_slice(m[1].as_slice()),
                &RowDVector::from_row_slice(m[2].as_slice()),
            )
        },
        |m| {
            let g = vectors_grad(
                &m[0],
                &DVector::from_column_slice(m[1].as_slice()),
                &RowDVector::from_row_slice(m[2].as_slice()),
            )
            .1;
            vec![
                g.w,
                DMatrix::from_column_slice(3, 1, g.x.as_slice()),
                DMatrix::from_row_slice(1, 4, g.r.as_slice()),
            ]
        },
        &[w, data(2, 3, 1), data(3, 1, 4)],
        1e-6,
    );
}

#[differentiable]
fn static_shapes(w: &SMatrix<f64, 3, 4>, x: SVector<f64, 4>) -> f64 {
    let y = w * x;
    (y.component_mul(&y)).sum() + w.transpose().norm() + y.relu().sum()
}

#[test]
fn static_matrices_by_reference_and_by_value() {
    let w = SMatrix::<f64, 3, 4>::from_fn(|i, j| 0.3 * ((i * 4 + j) as f64 * 0.7).sin() + 0.1);
    let x = SVector::<f64, 4>::from_fn(|i, _| 0.2 * (i as f64 + 0.5).cos());
    let to = |m: &DMatrix<f64>| SMatrix::<f64, 3, 4>::from_column_slice(m.as_slice());
    let tv = |m: &DMatrix<f64>| SVector::<f64, 4>::from_column_slice(m.as_slice());
    check(
        |m| static_shapes(&to(&m[0]), tv(&m[1])),
        |m| {
            let g = static_shapes_grad(&to(&m[0]), tv(&m[1])).1;
            vec![
                DMatrix::from_column_slice(3, 4, g.w.as_slice()),
                DMatrix::from_column_slice(4, 1, g.x.as_slice()),
            ]
        },
        &[
            DMatrix::from_column_slice(3, 4, w.as_slice()),
            DMatrix::from_column_slice(4, 1, x.as_slice()),
        ],
        1e-6,
    );
}

/// A matrix output: only `_vjp` exists; its pullback maps a matrix cotangent.
#[differentiable]
fn layer(w: &DMatrix<f64>, x: &DMatrix<f64>, b: &DVector<f64>) -> DMatrix<f64> {
    add_bias(&(w * x), b).tanh()
}

#[test]
fn matrix_output_pullback() {
    let (w, x) = (data(1, 4, 3), data(2, 3, 5));
    let b = DVector::from_column_slice(data(3, 4, 1).as_slice());
    let ct = data(4, 4, 5);
    let (y, pullback) = layer_vjp(&w, &x, &b);
    assert_eq!(y, layer(&w, &x, &b));
    let g = pullback(ct.clone());
    // ⟨ct, layer(w)⟩ as a scalar function of w, checked by finite differences.
    check(
        |m| layer(&m[0], &x, &b).dot(&ct),
        |m| vec![layer_vjp(&m[0], &x, &b).1(ct.clone()).w],
        std::slice::from_ref(&w),
        1e-6,
    );
    assert_eq!(g.b.len(), 4);
}

#[differentiable]
fn single(w: &DMatrix<f32>, x: &DMatrix<f32>) -> f32 {
    (w * x).tanh().sum() + w.norm_squared() * 0.5
}

#[test]
fn f32_matrices() {
    let w = data(1, 3, 4).map(|v| v as f32);
    let x = data(2, 4, 2).map(|v| v as f32);
    let f = |p: &[f32]| single(&DMatrix::from_column_slice(3, 4, p), &x);
    let g = |p: &[f32]| {
        single_grad(&DMatrix::from_column_slice(3, 4, p), &x)
            .1
            .w
            .as_slice()
            .to_vec()
    };
    GradCheck::new().tolerance(1e-2).check(f, g, w.as_slice()).unwrap();
}

#[test]
#[should_panic(expected = "dimensions mismatch")]
fn shape_mismatch_panics_with_nalgebras_message() {
    let _ = cases_matmul_small(&data(1, 3, 4), &data(2, 3, 2));
}

fn cases_matmul_small(a: &DMatrix<f64>, b: &DMatrix<f64>) -> (f64, matmul_small::FGrad) {
    matmul_small::f_grad(a, b)
}

/// Slices and `Vec`s of reals are parameters whose gradient is a `Vec`.
#[differentiable]
fn from_slices(x: &[f64], v: Vec<f64>, w: &DMatrix<f64>) -> f64 {
    let a = DVector::from_column_slice(x);
    let b = DMatrix::from_column_slice(2, 2, &v);
    (w * a).norm_squared() + b.sum() * b.norm()
}

#[differentiable(wrt(x))]
fn unused_slice(x: &[f64], y: f64) -> f64 {
    let _length = x.len();
    y * 2.0
}

#[test]
fn slices_and_vecs() {
    let (x, v, w) = (vec![0.3, -0.2, 0.5], vec![0.1, 0.7, -0.4, 0.2], data(1, 2, 3));
    assert_eq!(from_slices_grad(&x, v.clone(), &w).0, from_slices(&x, v.clone(), &w));
    let f = |p: &[f64]| from_slices(&p[..3], p[3..].to_vec(), &w);
    let grad = |p: &[f64]| {
        let g = from_slices_grad(&p[..3], p[3..].to_vec(), &w).1;
        [g.x, g.v].concat()
    };
    check_grad(f, grad, &[x.clone(), v.clone()].concat()).unwrap();
    assert_eq!(
        unused_slice_grad(&x, 1.0),
        (unused_slice(&x, 1.0), UnusedSliceGrad { x: vec![0.0; 3] })
    );
}
