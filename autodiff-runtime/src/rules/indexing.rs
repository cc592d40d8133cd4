//! Indexing: `x[i]` of a slice, `Vec` or vector, `m[(i, j)]` of a matrix.
//!
//! The value is the element, for any indexable type (differentiated or
//! not). The reverse rule adds the element's cotangent into that element of
//! the adjoint: `x̄[i] += ȳ`, in place once the adjoint exists.

use core::ops::Index;

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim};

use crate::field::{Field, Mat};

/// An indexed read and its reverse rule, per container and index types.
#[diagnostic::on_unimplemented(
    message = "no rule for indexing `{Self}` with `{I}`",
    note = "indexing is differentiated for slices, `Vec`s and nalgebra matrices of `f32`/`f64`, by `usize` (and `(usize, usize)` for matrices)"
)]
pub trait IndexRule<I> {
    /// The element type.
    type Elem;
    /// The adjoint of the container (`Vec<T>` for a slice).
    type Grad;
    /// The adjoint with the element's cotangent at `i` and zeros elsewhere.
    fn vjp(ct: &Self::Elem, x: &Self, i: &I) -> Self::Grad;
    /// `x̄[i] += ȳ`.
    fn vjp_acc(acc: &mut Self::Grad, ct: &Self::Elem, x: &Self, i: &I);
}

impl<T: Field> IndexRule<usize> for [T] {
    type Elem = T;
    type Grad = Vec<T>;
    fn vjp(ct: &T, x: &[T], i: &usize) -> Vec<T> {
        let mut g = vec![T::ZERO; x.len()];
        g[*i] = *ct;
        g
    }
    fn vjp_acc(acc: &mut Vec<T>, ct: &T, _: &[T], i: &usize) {
        acc[*i] += *ct;
    }
}

impl<T: Field> IndexRule<usize> for Vec<T> {
    type Elem = T;
    type Grad = Vec<T>;
    fn vjp(ct: &T, x: &Vec<T>, i: &usize) -> Vec<T> {
        <[T]>::vjp(ct, x, i)
    }
    fn vjp_acc(acc: &mut Vec<T>, ct: &T, x: &Vec<T>, i: &usize) {
        <[T]>::vjp_acc(acc, ct, x, i)
    }
}

impl<T: Field, R: Dim, C: Dim> IndexRule<usize> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Elem = T;
    type Grad = Self;
    fn vjp(ct: &T, x: &Self, i: &usize) -> Self {
        let mut g = Mat::zeros_generic(x.shape_generic().0, x.shape_generic().1);
        g[*i] = *ct;
        g
    }
    fn vjp_acc(acc: &mut Self, ct: &T, _: &Self, i: &usize) {
        acc[*i] += *ct;
    }
}

impl<T: Field, R: Dim, C: Dim> IndexRule<(usize, usize)> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Elem = T;
    type Grad = Self;
    fn vjp(ct: &T, x: &Self, i: &(usize, usize)) -> Self {
        let mut g = Mat::zeros_generic(x.shape_generic().0, x.shape_generic().1);
        g[*i] = *ct;
        g
    }
    fn vjp_acc(acc: &mut Self, ct: &T, _: &Self, i: &(usize, usize)) {
        acc[*i] += *ct;
    }
}

/// `y = x[i]`.
pub mod index {
    use super::*;

    /// The element, for any indexable type.
    #[inline(always)]
    pub fn value<X: Index<I> + ?Sized, I: Clone>(x: &X, i: &I) -> X::Output
    where
        X::Output: Clone,
    {
        x[i.clone()].clone()
    }

    /// Forward rule: the element of the tangent (a `Vec` for a slice).
    #[inline(always)]
    pub fn jvp<G: Index<I> + ?Sized, X: ?Sized, I: Clone>(dx: &G, _x: &X, i: &I) -> G::Output
    where
        G::Output: Clone,
    {
        value(dx, i)
    }

    /// `x̄` with `ȳ` at `i`.
    #[inline(always)]
    pub fn vjp<X: IndexRule<I> + ?Sized, I>(ct: &X::Elem, x: &X, i: &I) -> X::Grad {
        X::vjp(ct, x, i)
    }

    /// `x̄[i] += ȳ`.
    #[inline(always)]
    pub fn vjp_acc<X: IndexRule<I> + ?Sized, I>(acc: &mut X::Grad, ct: &X::Elem, x: &X, i: &I) {
        X::vjp_acc(acc, ct, x, i)
    }
}

/// `y = &x[i]`, the element by reference, as `x.iter()` yields it; its
/// reverse rule is [`index`]'s.
pub mod index_ref {
    use super::*;

    /// Forward rule: the element of the tangent, by value (tangents are owned).
    pub use super::index::{jvp, vjp, vjp_acc};

    /// A reference to the element.
    #[inline(always)]
    pub fn value<'x, X: Index<I> + ?Sized, I: Clone>(x: &'x X, i: &I) -> &'x X::Output {
        &x[i.clone()]
    }
}
