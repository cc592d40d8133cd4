//! Functions of whole matrices, called as functions: the bias broadcast
//! [`add_bias`], [`softmax`], [`log_softmax`], [`logsumexp`] and the losses
//! [`mse`] and [`softmax_cross_entropy`].
//!
//! Each follows the convention of generated code: `f` with its value, and
//! `f_vjp` returning the value and a pullback to an `FGrad` struct that maps
//! to `f`'s parameters by position. A differentiable body calls `f(..)` and
//! the macro uses `f_vjp`, as for any differentiable function. Forward mode
//! likewise uses `f_jvp` (value and tangent), through `f_jvp_positional`,
//! which takes one tangent per parameter as callers pass them.

// The companions' signatures spell out the pullback's type, as generated ones do.
#![allow(clippy::type_complexity)]

use nalgebra::allocator::Allocator;
use nalgebra::storage::Storage;
use nalgebra::{DefaultAllocator, Dim, Vector, U1};

use crate::field::{add_scaled, Field, Mat};
use crate::tangent::{ArgTangents, IntoTangent, NoTangent, NoTangentArg, Pullback2};
use crate::Real;

/// Declares a gradient struct and its positional view.
macro_rules! grad_struct {
    ($(#[doc = $doc:literal])* $name:ident<$($g:ident),*> { $($field:ident: $ty:ty),* } => ($($tuple:ty),*) = |$s:ident| ($($value:expr),*)) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name<$($g),*> {
            $(pub $field: $ty,)*
        }

        impl<$($g),*> ArgTangents for $name<$($g),*> {
            type Tuple = ($($tuple,)*);
            fn into_arg_tangents(self) -> Self::Tuple {
                let $s = self;
                ($($value,)*)
            }
        }
    };
}

/// `z + b`, with the column vector `b` added to every column of `z`: the bias
/// of a layer applied to a batch of samples stored as columns.
///
/// nalgebra has no broadcasting `+`; this is the one name for it.
///
/// # Example
///
/// ```
/// use autodiff_runtime::nalgebra::{DMatrix, DVector};
/// use autodiff_runtime::rules::loss::add_bias;
///
/// let z = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
/// let b = DVector::from_vec(vec![10.0, 20.0]);
/// assert_eq!(add_bias(&z, &b), DMatrix::from_row_slice(2, 2, &[11.0, 12.0, 23.0, 24.0]));
/// ```
pub fn add_bias<T: Field, R: Dim, C: Dim, S: Storage<T, R>>(z: &Mat<T, R, C>, b: &Vector<T, R, S>) -> Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    let mut out = z.clone();
    add_bias_in_place(&mut out, b);
    out
}

/// `b` added to every column of `out`, in place: [`add_bias`] and its
/// forward rule for `b` share it.
pub(crate) fn add_bias_in_place<T: Field, R: Dim, C: Dim, S: Storage<T, R>>(out: &mut Mat<T, R, C>, b: &Vector<T, R, S>)
where
    DefaultAllocator: Allocator<R, C>,
{
    for mut column in out.column_iter_mut() {
        column += b;
    }
}

grad_struct! {
    /// The gradient of [`add_bias`].
    AddBiasGrad<M, V> { z: M, b: V } => (M, V) = |g| (g.z, g.b)
}

/// [`add_bias`] and its pullback: `z̄ = ȳ`, `b̄ = Σ_columns ȳ`.
pub fn add_bias_vjp<T: Field, R: Dim, C: Dim, S: Storage<T, R>>(
    z: &Mat<T, R, C>,
    b: &Vector<T, R, S>,
) -> (
    Mat<T, R, C>,
    impl FnOnce(Mat<T, R, C>) -> AddBiasGrad<Mat<T, R, C>, Mat<T, R, U1>>,
)
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    (add_bias(z, b), move |ct: Mat<T, R, C>| {
        let b = ct.column_sum();
        AddBiasGrad { z: ct, b }
    })
}

/// [`add_bias`] and its tangent along `(dz, db)`: `add_bias(dz, db)` (it is linear).
pub fn add_bias_jvp<T: Field, R: Dim, C: Dim, S: Storage<T, R>>(
    z: &Mat<T, R, C>,
    b: &Vector<T, R, S>,
    dz: Mat<T, R, C>,
    db: Mat<T, R, U1>,
) -> (Mat<T, R, C>, Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    (add_bias(z, b), add_bias(&dz, &db))
}

#[doc(hidden)]
pub fn add_bias_jvp_positional<T: Field, R: Dim, C: Dim, S: Storage<T, R>>(
    z: &Mat<T, R, C>,
    b: &Vector<T, R, S>,
    dz: impl IntoTangent<Mat<T, R, C>>,
    db: impl IntoTangent<Mat<T, R, U1>>,
) -> (Mat<T, R, C>, Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    let dz = dz.into_tangent(|| z.map(|_| T::ZERO));
    let db = db.into_tangent(|| b.map(|_| T::ZERO));
    add_bias_jvp(z, b, dz, db)
}

/// `ln Σ eᵛ` over `values`, shifted by their maximum so that no term overflows.
fn lse<T: Field>(values: &[T]) -> T {
    let m = values.iter().fold(T::NEG_INFINITY, |m, v| if *v > m { *v } else { m });
    if !Real::is_finite_value(m) {
        return m;
    }
    m + Real::ln(values.iter().fold(T::ZERO, |s, v| s + Real::exp(*v - m)))
}

/// The columns of an owned (column-major, contiguous) matrix as slices.
fn columns_mut<T: Field, R: Dim, C: Dim>(m: &mut Mat<T, R, C>) -> impl Iterator<Item = &mut [T]>
where
    DefaultAllocator: Allocator<R, C>,
{
    let rows = m.nrows().max(1);
    m.as_mut_slice().chunks_mut(rows)
}

/// `ln Σ eˣ` over all elements, shifted by the maximum for stability.
pub fn logsumexp<T: Field, R: Dim, C: Dim>(x: &Mat<T, R, C>) -> T
where
    DefaultAllocator: Allocator<R, C>,
{
    lse(x.as_slice())
}

grad_struct! {
    /// The gradient of [`logsumexp`].
    LogsumexpGrad<M> { x: M } => (M) = |g| (g.x)
}

/// [`logsumexp`] and its pullback: `x̄ = ȳ softmax(x)`.
pub fn logsumexp_vjp<T: Field, R: Dim, C: Dim>(x: &Mat<T, R, C>) -> (T, impl FnOnce(T) -> LogsumexpGrad<Mat<T, R, C>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let y = logsumexp(x);
    let mut weights = x.map(|v| Real::exp(v - y));
    (y, move |ct: T| {
        weights *= ct;
        LogsumexpGrad { x: weights }
    })
}

/// [`logsumexp`] and its tangent along `dx`: `Σ softmax(x) ⊙ dx`.
pub fn logsumexp_jvp<T: Field, R: Dim, C: Dim>(x: &Mat<T, R, C>, dx: Mat<T, R, C>) -> (T, T)
where
    DefaultAllocator: Allocator<R, C>,
{
    let y = logsumexp(x);
    let tangent = x.zip_fold(&dx, T::ZERO, |s, v, d| s + Real::exp(v - y) * d);
    (y, tangent)
}

#[doc(hidden)]
pub fn logsumexp_jvp_positional<T: Field, R: Dim, C: Dim>(
    x: &Mat<T, R, C>,
    dx: impl IntoTangent<Mat<T, R, C>>,
) -> (T, T)
where
    DefaultAllocator: Allocator<R, C>,
{
    let dx = dx.into_tangent(|| x.map(|_| T::ZERO));
    logsumexp_jvp(x, dx)
}

/// [`logsumexp`] with its second-order pullback. With `s = softmax(x)` over
/// all elements: `x̄ = ȳ s`, `ẏ = ⟨s, ẋ⟩`, and the tangent of `x̄` is
/// `ẏ̄ s + ȳ s ⊙ (ẋ - ẏ)`.
pub fn logsumexp_vjp2<T: Field, R: Dim, C: Dim>(x: &Mat<T, R, C>) -> (T, impl Pullback2<T, LogsumexpGrad<Mat<T, R, C>>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let y = logsumexp(x);
    let s = x.map(|v| Real::exp(v - y));
    (y, move |ct: T| {
        (LogsumexpGrad { x: &s * ct }, move |t: LogsumexpGrad<Mat<T, R, C>>| {
            let dx = t.x;
            let dy = s.dot(&dx);
            (dy, move |ct_dot: Option<T>| {
                // ȳ s ⊙ (ẋ - ẏ), in ẋ's storage.
                let mut g = dx;
                g.zip_apply(&s, |d, s| *d = ct * s * (*d - dy));
                if let Some(c) = ct_dot {
                    add_scaled(&mut g, c, &s);
                }
                LogsumexpGrad { x: g }
            })
        })
    })
}

#[doc(hidden)]
pub fn logsumexp_tangents_positional<T: Field, R: Dim, C: Dim>(
    x: &&Mat<T, R, C>,
    dx: impl IntoTangent<Mat<T, R, C>>,
) -> LogsumexpGrad<Mat<T, R, C>>
where
    DefaultAllocator: Allocator<R, C>,
{
    LogsumexpGrad {
        x: dx.into_tangent(|| x.map(|_| T::ZERO)),
    }
}

/// Column-wise softmax: each column of `z` mapped to probabilities.
pub fn softmax<T: Field, R: Dim, C: Dim>(z: &Mat<T, R, C>) -> Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    let mut s = z.clone();
    for column in columns_mut(&mut s) {
        let lse = lse(column);
        column.iter_mut().for_each(|v| *v = Real::exp(*v - lse));
    }
    s
}

grad_struct! {
    /// The gradient of [`softmax`].
    SoftmaxGrad<M> { z: M } => (M) = |g| (g.z)
}

/// [`softmax`] and its pullback: per column, `z̄ = s ⊙ (ȳ - ⟨ȳ, s⟩)`.
pub fn softmax_vjp<T: Field, R: Dim, C: Dim>(
    z: &Mat<T, R, C>,
) -> (Mat<T, R, C>, impl FnOnce(Mat<T, R, C>) -> SoftmaxGrad<Mat<T, R, C>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let s = softmax(z);
    (s.clone(), move |ct: Mat<T, R, C>| SoftmaxGrad {
        z: softmax_jacobian_product(&s, ct),
    })
}

/// [`softmax`] and its tangent along `dz`: per column, `s ⊙ (dz - ⟨s, dz⟩)`.
pub fn softmax_jvp<T: Field, R: Dim, C: Dim>(z: &Mat<T, R, C>, dz: Mat<T, R, C>) -> (Mat<T, R, C>, Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let s = softmax(z);
    let ds = softmax_jacobian_product(&s, dz);
    (s, ds)
}

#[doc(hidden)]
pub fn softmax_jvp_positional<T: Field, R: Dim, C: Dim>(
    z: &Mat<T, R, C>,
    dz: impl IntoTangent<Mat<T, R, C>>,
) -> (Mat<T, R, C>, Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let dz = dz.into_tangent(|| z.map(|_| T::ZERO));
    softmax_jvp(z, dz)
}

/// [`softmax`] with its second-order pullback. Per column, with `s` the
/// softmax and `a = ⟨ȳ, s⟩`: `z̄ = s ⊙ (ȳ - a)`, `ṡ = s ⊙ (ż - ⟨s, ż⟩)`, and
/// the tangent of `z̄` is `ṡ ⊙ (ȳ - a) + s ⊙ (ẏ̄ - ȧ)` with
/// `ȧ = ⟨ẏ̄, s⟩ + ⟨ȳ, ṡ⟩`.
pub fn softmax_vjp2<T: Field, R: Dim, C: Dim>(
    z: &Mat<T, R, C>,
) -> (Mat<T, R, C>, impl Pullback2<Mat<T, R, C>, SoftmaxGrad<Mat<T, R, C>>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let s = softmax(z);
    (s.clone(), move |ct: Mat<T, R, C>| {
        let g = softmax_jacobian_product(&s, ct.clone());
        (SoftmaxGrad { z: g }, move |t: SoftmaxGrad<Mat<T, R, C>>| {
            let ds = softmax_jacobian_product(&s, t.z);
            (ds.clone(), move |ct_dot: Option<Mat<T, R, C>>| {
                let mut g = ds;
                let columns = ct.ncols();
                for j in 0..columns {
                    let (y, sj) = (ct.column(j), s.column(j));
                    let a = y.dot(&sj);
                    let mut da = y.dot(&g.column(j));
                    if let Some(yd) = &ct_dot {
                        da += yd.column(j).dot(&sj);
                    }
                    let mut gj = g.column_mut(j);
                    for i in 0..gj.len() {
                        let yd = ct_dot.as_ref().map_or(T::ZERO, |yd| yd[(i, j)]);
                        gj[i] = gj[i] * (y[i] - a) + sj[i] * (yd - da);
                    }
                }
                SoftmaxGrad { z: g }
            })
        })
    })
}

/// The column-wise softmax's Jacobian at `s` times `v`, in `v`'s storage:
/// per column `s ⊙ (v - ⟨s, v⟩)`. The Jacobian is symmetric, so this is both
/// the tangent `ṡ` along `v` and the cotangent `z̄` for `ȳ = v`.
fn softmax_jacobian_product<T: Field, R: Dim, C: Dim>(s: &Mat<T, R, C>, mut v: Mat<T, R, C>) -> Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    for (mut v, s) in v.column_iter_mut().zip(s.column_iter()) {
        let inner = v.dot(&s);
        v.zip_apply(&s, |v, s| *v = s * (*v - inner));
    }
    v
}

#[doc(hidden)]
pub fn softmax_tangents_positional<T: Field, R: Dim, C: Dim>(
    z: &&Mat<T, R, C>,
    dz: impl IntoTangent<Mat<T, R, C>>,
) -> SoftmaxGrad<Mat<T, R, C>>
where
    DefaultAllocator: Allocator<R, C>,
{
    SoftmaxGrad {
        z: dz.into_tangent(|| z.map(|_| T::ZERO)),
    }
}

/// Column-wise log-softmax: `z - logsumexp(column)`, computed stably.
pub fn log_softmax<T: Field, R: Dim, C: Dim>(z: &Mat<T, R, C>) -> Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    let mut out = z.clone();
    for column in columns_mut(&mut out) {
        let lse = lse(column);
        column.iter_mut().for_each(|v| *v -= lse);
    }
    out
}

grad_struct! {
    /// The gradient of [`log_softmax`].
    LogSoftmaxGrad<M> { z: M } => (M) = |g| (g.z)
}

/// [`log_softmax`] and its pullback: per column, `z̄ = ȳ - softmax(z) Σ ȳ`.
pub fn log_softmax_vjp<T: Field, R: Dim, C: Dim>(
    z: &Mat<T, R, C>,
) -> (Mat<T, R, C>, impl FnOnce(Mat<T, R, C>) -> LogSoftmaxGrad<Mat<T, R, C>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let y = log_softmax(z);
    (y.clone(), move |mut ct: Mat<T, R, C>| {
        for (mut c, y) in ct.column_iter_mut().zip(y.column_iter()) {
            let total = c.sum();
            c.zip_apply(&y, |c, y| *c -= Real::exp(y) * total);
        }
        LogSoftmaxGrad { z: ct }
    })
}

/// [`log_softmax`] and its tangent along `dz`: per column, `dz - ⟨softmax(z), dz⟩`.
pub fn log_softmax_jvp<T: Field, R: Dim, C: Dim>(z: &Mat<T, R, C>, mut dz: Mat<T, R, C>) -> (Mat<T, R, C>, Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let y = log_softmax(z);
    for (mut d, y) in dz.column_iter_mut().zip(y.column_iter()) {
        let inner = d.zip_fold(&y, T::ZERO, |s, d, y| s + Real::exp(y) * d);
        d.add_scalar_mut(-inner);
    }
    (y, dz)
}

#[doc(hidden)]
pub fn log_softmax_jvp_positional<T: Field, R: Dim, C: Dim>(
    z: &Mat<T, R, C>,
    dz: impl IntoTangent<Mat<T, R, C>>,
) -> (Mat<T, R, C>, Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let dz = dz.into_tangent(|| z.map(|_| T::ZERO));
    log_softmax_jvp(z, dz)
}

/// [`log_softmax`] with its second-order pullback. Per column, with `s` the
/// softmax: `z̄ = ȳ - s Σȳ`, `ẏ = ż - ⟨s, ż⟩`, `ṡ = s ⊙ ẏ`, and the tangent
/// of `z̄` is `ẏ̄ - ṡ Σȳ - s Σẏ̄`.
pub fn log_softmax_vjp2<T: Field, R: Dim, C: Dim>(
    z: &Mat<T, R, C>,
) -> (Mat<T, R, C>, impl Pullback2<Mat<T, R, C>, LogSoftmaxGrad<Mat<T, R, C>>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let y = log_softmax(z);
    let s = y.map(Real::exp);
    (y, move |ct: Mat<T, R, C>| {
        let totals: Vec<T> = ct.column_iter().map(|c| c.sum()).collect();
        let mut g = ct;
        for ((mut c, s), &total) in g.column_iter_mut().zip(s.column_iter()).zip(&totals) {
            c.zip_apply(&s, |c, s| *c -= s * total);
        }
        (LogSoftmaxGrad { z: g }, move |t: LogSoftmaxGrad<Mat<T, R, C>>| {
            let mut dy = t.z;
            for (mut d, s) in dy.column_iter_mut().zip(s.column_iter()) {
                let inner = d.dot(&s);
                d.add_scalar_mut(-inner);
            }
            (dy.clone(), move |ct_dot: Option<Mat<T, R, C>>| {
                // -ṡ Σȳ = -s ⊙ ẏ Σȳ, in ẏ's storage.
                let mut g = dy;
                for ((mut d, s), &total) in g.column_iter_mut().zip(s.column_iter()).zip(&totals) {
                    d.zip_apply(&s, |d, s| *d = -s * *d * total);
                }
                if let Some(yd) = ct_dot {
                    for ((mut d, s), yd) in g.column_iter_mut().zip(s.column_iter()).zip(yd.column_iter()) {
                        let total = yd.sum();
                        d.zip_zip_apply(&yd, &s, |d, yd, s| *d += yd - s * total);
                    }
                }
                LogSoftmaxGrad { z: g }
            })
        })
    })
}

#[doc(hidden)]
pub fn log_softmax_tangents_positional<T: Field, R: Dim, C: Dim>(
    z: &&Mat<T, R, C>,
    dz: impl IntoTangent<Mat<T, R, C>>,
) -> LogSoftmaxGrad<Mat<T, R, C>>
where
    DefaultAllocator: Allocator<R, C>,
{
    LogSoftmaxGrad {
        z: dz.into_tangent(|| z.map(|_| T::ZERO)),
    }
}

/// Mean squared error, `Σ (pred - target)² / n` over all `n` elements.
pub fn mse<T: Field, R: Dim, C: Dim>(pred: &Mat<T, R, C>, target: &Mat<T, R, C>) -> T
where
    DefaultAllocator: Allocator<R, C>,
{
    (pred - target).norm_squared() / <T as Real>::from_f64(pred.len() as f64)
}

grad_struct! {
    /// The gradient of [`mse`].
    MseGrad<M> { pred: M, target: M } => (M, M) = |g| (g.pred, g.target)
}

/// [`mse`] and its pullback: `pred̄ = 2 ȳ (pred - target) / n = -target̄`.
pub fn mse_vjp<T: Field, R: Dim, C: Dim>(
    pred: &Mat<T, R, C>,
    target: &Mat<T, R, C>,
) -> (T, impl FnOnce(T) -> MseGrad<Mat<T, R, C>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let n = <T as Real>::from_f64(pred.len() as f64);
    let diff = pred - target;
    let value = diff.norm_squared() / n;
    (value, move |ct: T| {
        let g = diff * (<T as Real>::from_f64(2.0) * ct / n);
        MseGrad { target: -&g, pred: g }
    })
}

/// [`mse`] and its tangent: `2 ⟨pred - target, dpred - dtarget⟩ / n`.
pub fn mse_jvp<T: Field, R: Dim, C: Dim>(
    pred: &Mat<T, R, C>,
    target: &Mat<T, R, C>,
    dpred: Mat<T, R, C>,
    dtarget: Mat<T, R, C>,
) -> (T, T)
where
    DefaultAllocator: Allocator<R, C>,
{
    let n = <T as Real>::from_f64(pred.len() as f64);
    let diff = pred - target;
    let tangent = <T as Real>::from_f64(2.0) * diff.dot(&(dpred - dtarget)) / n;
    (diff.norm_squared() / n, tangent)
}

#[doc(hidden)]
pub fn mse_jvp_positional<T: Field, R: Dim, C: Dim>(
    pred: &Mat<T, R, C>,
    target: &Mat<T, R, C>,
    dpred: impl IntoTangent<Mat<T, R, C>>,
    dtarget: impl IntoTangent<Mat<T, R, C>>,
) -> (T, T)
where
    DefaultAllocator: Allocator<R, C>,
{
    let dpred = dpred.into_tangent(|| pred.map(|_| T::ZERO));
    let dtarget = dtarget.into_tangent(|| target.map(|_| T::ZERO));
    mse_jvp(pred, target, dpred, dtarget)
}

/// [`mse`] with its second-order pullback: with `d = pred - target`,
/// `pred̄ = 2 ȳ d / n = -target̄`, whose tangent is `2 (ẏ̄ d + ȳ ḋ) / n`.
pub fn mse_vjp2<T: Field, R: Dim, C: Dim>(
    pred: &Mat<T, R, C>,
    target: &Mat<T, R, C>,
) -> (T, impl Pullback2<T, MseGrad<Mat<T, R, C>>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let n = <T as Real>::from_f64(pred.len() as f64);
    let two = <T as Real>::from_f64(2.0);
    let diff = pred - target;
    let value = diff.norm_squared() / n;
    (value, move |ct: T| {
        let g = &diff * (two * ct / n);
        (MseGrad { target: -&g, pred: g }, move |t: MseGrad<Mat<T, R, C>>| {
            let d_diff = t.pred - t.target;
            let tangent = two * diff.dot(&d_diff) / n;
            (tangent, move |ct_dot: Option<T>| {
                let mut g = d_diff * (two * ct / n);
                if let Some(c) = ct_dot {
                    g += &diff * (two * c / n);
                }
                MseGrad { target: -&g, pred: g }
            })
        })
    })
}

#[doc(hidden)]
pub fn mse_tangents_positional<T: Field, R: Dim, C: Dim>(
    pred: &&Mat<T, R, C>,
    target: &&Mat<T, R, C>,
    dpred: impl IntoTangent<Mat<T, R, C>>,
    dtarget: impl IntoTangent<Mat<T, R, C>>,
) -> MseGrad<Mat<T, R, C>>
where
    DefaultAllocator: Allocator<R, C>,
{
    MseGrad {
        pred: dpred.into_tangent(|| pred.map(|_| T::ZERO)),
        target: dtarget.into_tangent(|| target.map(|_| T::ZERO)),
    }
}

/// Softmax cross-entropy of `logits` (one column per sample) against integer
/// `labels` (one per column), averaged over the columns:
/// `mean_b (logsumexp(z_b) - z_b[label_b])`. Stable for large logits.
///
/// Panics if `labels.len()` differs from the number of columns or a label is
/// not a row index.
pub fn softmax_cross_entropy<T: Field, R: Dim, C: Dim>(logits: &Mat<T, R, C>, labels: &[usize]) -> T
where
    DefaultAllocator: Allocator<R, C>,
{
    softmax_cross_entropy_parts(logits, labels).0
}

/// The loss and the softmax probabilities it passes through.
fn softmax_cross_entropy_parts<T: Field, R: Dim, C: Dim>(logits: &Mat<T, R, C>, labels: &[usize]) -> (T, Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C>,
{
    assert_eq!(
        labels.len(),
        logits.ncols(),
        "softmax_cross_entropy: one label per column"
    );
    let mut probs = logits.clone();
    let mut total = T::ZERO;
    for (column, &label) in columns_mut(&mut probs).zip(labels) {
        let lse = lse(column);
        total += lse - column[label];
        column.iter_mut().for_each(|v| *v = Real::exp(*v - lse));
    }
    (total / <T as Real>::from_f64(labels.len() as f64), probs)
}

grad_struct! {
    /// The gradient of [`softmax_cross_entropy`]; the labels have none.
    SoftmaxCrossEntropyGrad<M> { logits: M } => (M, NoTangent) = |g| (g.logits, NoTangent)
}

/// [`softmax_cross_entropy`] and its pullback: `z̄ = ȳ (softmax(z) - onehot) / batch`.
pub fn softmax_cross_entropy_vjp<T: Field, R: Dim, C: Dim>(
    logits: &Mat<T, R, C>,
    labels: &[usize],
) -> (T, impl FnOnce(T) -> SoftmaxCrossEntropyGrad<Mat<T, R, C>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let (value, mut probs) = softmax_cross_entropy_parts(logits, labels);
    // The pullback owns what it reads, so that it outlives the caller's locals.
    let labels = labels.to_vec();
    (value, move |ct: T| {
        let scale = ct / <T as Real>::from_f64(labels.len() as f64);
        for (mut column, &label) in probs.column_iter_mut().zip(&labels) {
            column[label] -= T::ONE;
            column *= scale;
        }
        SoftmaxCrossEntropyGrad { logits: probs }
    })
}

/// [`softmax_cross_entropy`] and its tangent along `dlogits`:
/// `mean_b (⟨softmax(z_b), dz_b⟩ - dz_b[label_b])`.
pub fn softmax_cross_entropy_jvp<T: Field, R: Dim, C: Dim>(
    logits: &Mat<T, R, C>,
    labels: &[usize],
    dlogits: Mat<T, R, C>,
) -> (T, T)
where
    DefaultAllocator: Allocator<R, C>,
{
    let (value, probs) = softmax_cross_entropy_parts(logits, labels);
    let mut tangent = T::ZERO;
    for ((p, d), &label) in probs.column_iter().zip(dlogits.column_iter()).zip(labels) {
        tangent += p.dot(&d) - d[label];
    }
    (value, tangent / <T as Real>::from_f64(labels.len() as f64))
}

#[doc(hidden)]
pub fn softmax_cross_entropy_jvp_positional<T: Field, R: Dim, C: Dim>(
    logits: &Mat<T, R, C>,
    labels: &[usize],
    dlogits: impl IntoTangent<Mat<T, R, C>>,
    _dlabels: impl NoTangentArg,
) -> (T, T)
where
    DefaultAllocator: Allocator<R, C>,
{
    let dlogits = dlogits.into_tangent(|| logits.map(|_| T::ZERO));
    softmax_cross_entropy_jvp(logits, labels, dlogits)
}

/// [`softmax_cross_entropy`] with its second-order pullback. With `s` the
/// column-wise softmax: `z̄ = ȳ (s - onehot) / batch`, whose tangent along
/// `ż` is `(ẏ̄ (s - onehot) + ȳ s ⊙ (ż - ⟨s, ż⟩)) / batch`, per column.
pub fn softmax_cross_entropy_vjp2<T: Field, R: Dim, C: Dim>(
    logits: &Mat<T, R, C>,
    labels: &[usize],
) -> (T, impl Pullback2<T, SoftmaxCrossEntropyGrad<Mat<T, R, C>>>)
where
    DefaultAllocator: Allocator<R, C>,
{
    let (value, probs) = softmax_cross_entropy_parts(logits, labels);
    let labels = labels.to_vec();
    let batch = <T as Real>::from_f64(labels.len() as f64);
    (value, move |ct: T| {
        // `s - onehot`, kept for the tangent sweep.
        let mut residual = probs.clone();
        for (mut column, &label) in residual.column_iter_mut().zip(&labels) {
            column[label] -= T::ONE;
        }
        let gradient = &residual * (ct / batch);
        (
            SoftmaxCrossEntropyGrad { logits: gradient },
            move |t: SoftmaxCrossEntropyGrad<Mat<T, R, C>>| {
                let dz = t.logits;
                let tangent = residual.dot(&dz) / batch;
                (tangent, move |ct_dot: Option<T>| {
                    // ȳ s ⊙ (ż - ⟨s, ż⟩) / batch, per column.
                    let mut g = softmax_jacobian_product(&probs, dz);
                    g *= ct / batch;
                    if let Some(c) = ct_dot {
                        g += &residual * (c / batch);
                    }
                    SoftmaxCrossEntropyGrad { logits: g }
                })
            },
        )
    })
}

#[doc(hidden)]
pub fn softmax_cross_entropy_tangents_positional<T: Field, R: Dim, C: Dim, L: ?Sized>(
    logits: &&Mat<T, R, C>,
    _labels: &L,
    dlogits: impl IntoTangent<Mat<T, R, C>>,
    _dlabels: impl NoTangentArg,
) -> SoftmaxCrossEntropyGrad<Mat<T, R, C>>
where
    DefaultAllocator: Allocator<R, C>,
{
    SoftmaxCrossEntropyGrad {
        logits: dlogits.into_tangent(|| logits.map(|_| T::ZERO)),
    }
}
