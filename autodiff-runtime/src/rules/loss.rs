//! Functions of whole matrices, called as functions: the bias broadcast
//! [`add_bias`], [`softmax`], [`log_softmax`], [`logsumexp`] and the losses
//! [`mse`] and [`softmax_cross_entropy`].
//!
//! Each follows the convention of generated code: `f` with its value, and
//! `f_vjp` returning the value and a pullback to an `FGrad` struct that maps
//! to `f`'s parameters by position. A differentiable body calls `f(..)` and
//! the macro uses `f_vjp`, as for any differentiable function.

// The companions' signatures spell out the pullback's type, as generated ones do.
#![allow(clippy::type_complexity)]

use nalgebra::allocator::Allocator;
use nalgebra::storage::Storage;
use nalgebra::{DefaultAllocator, Dim, Vector, U1};

use crate::field::{Field, Mat};
use crate::tangent::{ArgTangents, NoTangent};
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
    for mut column in out.column_iter_mut() {
        column += b;
    }
    out
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
    (s.clone(), move |mut ct: Mat<T, R, C>| {
        for (mut c, s) in ct.column_iter_mut().zip(s.column_iter()) {
            let inner = c.dot(&s);
            c.zip_apply(&s, |c, s| *c = s * (*c - inner));
        }
        SoftmaxGrad { z: ct }
    })
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
