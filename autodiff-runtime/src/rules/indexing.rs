//! Indexing: `x[i]` of a slice, `Vec` or vector, `m[(i, j)]` of a matrix.
//!
//! The value is the element, for any indexable type (differentiated or
//! not). The reverse rule adds the element's cotangent into that element of
//! the adjoint: `x̄[i] += ȳ`, in place once the adjoint exists.

use core::ops::{AddAssign, Index, IndexMut};

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim};

use crate::field::{Field, Mat};
use crate::tangent::Accumulate;

/// The adjoint of an indexed read, per container and index types.
#[diagnostic::on_unimplemented(
    message = "no rule for indexing `{Self}` with `{I}`",
    note = "indexing is differentiated for slices, arrays, `Vec`s and nalgebra matrices of `f32`/`f64`, by `usize` (and `(usize, usize)` for matrices)"
)]
pub trait IndexRule<I> {
    /// The element type.
    type Elem;
    /// The adjoint of the container (`Vec<T>` for a slice).
    type Grad;
    /// The adjoint with the element's cotangent at `i` and zeros elsewhere.
    fn vjp(ct: &Self::Elem, x: &Self, i: &I) -> Self::Grad;
}

impl<T: Field> IndexRule<usize> for [T] {
    type Elem = T;
    type Grad = Vec<T>;
    fn vjp(ct: &T, x: &[T], i: &usize) -> Vec<T> {
        let mut g = vec![T::ZERO; x.len()];
        g[*i] = *ct;
        g
    }
}

impl<T: Field> IndexRule<usize> for Vec<T> {
    type Elem = T;
    type Grad = Vec<T>;
    fn vjp(ct: &T, x: &Vec<T>, i: &usize) -> Vec<T> {
        <[T]>::vjp(ct, x, i)
    }
}

impl<T: Field, const N: usize> IndexRule<usize> for [T; N] {
    type Elem = T;
    type Grad = [T; N];
    fn vjp(ct: &T, _: &[T; N], i: &usize) -> [T; N] {
        let mut g = [T::ZERO; N];
        g[*i] = *ct;
        g
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
}

/// Adds into one element of an adjoint. The reverse sweep replays indices
/// the forward sweep has read with (and checked), into an adjoint shaped like
/// the container, so an index is in range unless a caller passed a cotangent
/// of the wrong shape: it is checked in debug builds only (release builds
/// check only that the storage is not overrun: a matrix element is found
/// by its linear index, one comparison rather than two). Without a panic
/// exit in a loop's reverse sweep the compiler keeps an element that
/// consecutive iterations add to in a register (W1's gradient: 3.5 µs →
/// 2.0 µs, the hand-written one's time); the single comparison made W6's
/// 7% faster. The adjoint of a parameter is added into through
/// [`ElementAdjointOf`], without a comparison of its own.
pub trait ElementAdjoint<I> {
    type Elem: Field;
    /// The element at `i`; `None`, after a debug assertion, out of range.
    fn element(&mut self, i: &I) -> Option<&mut Self::Elem>;

    /// `self[i] += ct`.
    #[inline(always)]
    fn add_at(&mut self, i: &I, ct: &Self::Elem) {
        if let Some(e) = self.element(i) {
            *e += *ct;
        }
    }

    /// `self[i] = ct`.
    #[inline(always)]
    fn set_at(&mut self, i: &I, ct: &Self::Elem) {
        if let Some(e) = self.element(i) {
            *e = *ct;
        }
    }
}

impl<T: Field> ElementAdjoint<usize> for [T] {
    type Elem = T;
    #[inline(always)]
    fn element(&mut self, i: &usize) -> Option<&mut T> {
        debug_assert!(*i < self.len(), "adjoint index {i} out of range {}", self.len());
        self.get_mut(*i)
    }
}

impl<T: Field> ElementAdjoint<usize> for Vec<T> {
    type Elem = T;
    #[inline(always)]
    fn element(&mut self, i: &usize) -> Option<&mut T> {
        self.as_mut_slice().element(i)
    }
}

impl<T: Field, const N: usize> ElementAdjoint<usize> for [T; N] {
    type Elem = T;
    #[inline(always)]
    fn element(&mut self, i: &usize) -> Option<&mut T> {
        self.as_mut_slice().element(i)
    }
}

impl<T: Field, R: Dim, C: Dim> ElementAdjoint<usize> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Elem = T;
    #[inline(always)]
    fn element(&mut self, i: &usize) -> Option<&mut T> {
        self.as_mut_slice().element(i)
    }
}

impl<T: Field, R: Dim, C: Dim> ElementAdjoint<(usize, usize)> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Elem = T;
    #[inline(always)]
    fn element(&mut self, &(r, c): &(usize, usize)) -> Option<&mut T> {
        let (rows, cols) = self.shape();
        debug_assert!(
            r < rows && c < cols,
            "adjoint index ({r}, {c}) out of range ({rows}, {cols})"
        );
        self.as_mut_slice().get_mut(r + c * rows)
    }
}

/// `x̄[i] += ct` where `x̄` is the adjoint of a parameter `x`, which the
/// reverse sweep can always read: the index is checked against `x`'s shape,
/// the check the element read made (the compiler drops it as a repeat where
/// the reverse sweep reads the element again), and `x̄`'s shape against
/// `x`'s, which does not change in a loop (the compiler hoists it). An
/// adjoint shaped unlike `x` takes [`ElementAdjoint::add_at`]. For W6, whose
/// reverse sweep adds into `μ̄` and `Q̄` in its innermost loop, the
/// comparisons of the plain add cost 12% (paired gradient/objective ratio
/// 2.45 → 2.17).
pub trait ElementAdjointOf<I, X: ?Sized>: ElementAdjoint<I> {
    fn add_at_of(&mut self, i: &I, ct: &Self::Elem, x: &X);
}

impl<T: Field, X: AsRef<[T]> + ?Sized> ElementAdjointOf<usize, X> for Vec<T> {
    #[inline(always)]
    fn add_at_of(&mut self, i: &usize, ct: &T, x: &X) {
        let x = x.as_ref();
        if *i < x.len() && self.len() == x.len() {
            self[*i] += *ct;
        } else {
            self.add_at(i, ct);
        }
    }
}

impl<T: Field, const N: usize> ElementAdjointOf<usize, [T; N]> for [T; N] {
    #[inline(always)]
    fn add_at_of(&mut self, i: &usize, ct: &T, _: &[T; N]) {
        self.add_at(i, ct);
    }
}

impl<T: Field, R: Dim, C: Dim, S> ElementAdjointOf<usize, nalgebra::Matrix<T, R, C, S>> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
    S: nalgebra::RawStorage<T, R, C>,
{
    #[inline(always)]
    fn add_at_of(&mut self, i: &usize, ct: &T, x: &nalgebra::Matrix<T, R, C, S>) {
        if *i < x.len() && self.shape() == x.shape() {
            #[allow(unsafe_code)]
            // SAFETY: an owned matrix stores its nrows · ncols elements, and
            // `i` is less than that, `x`'s, which has the same shape.
            unsafe {
                *self.get_unchecked_mut(*i) += *ct;
            }
        } else {
            self.add_at(i, ct);
        }
    }
}

impl<T: Field, R: Dim, C: Dim, S> ElementAdjointOf<(usize, usize), nalgebra::Matrix<T, R, C, S>> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
    S: nalgebra::RawStorage<T, R, C>,
{
    #[inline(always)]
    fn add_at_of(&mut self, &(r, c): &(usize, usize), ct: &T, x: &nalgebra::Matrix<T, R, C, S>) {
        let (rows, cols) = x.shape();
        if r < rows && c < cols && self.shape() == (rows, cols) {
            #[allow(unsafe_code)]
            // SAFETY: an owned matrix stores its nrows · ncols elements,
            // and (r, c) is within its shape.
            unsafe {
                *self.get_unchecked_mut((r, c)) += *ct;
            }
        } else {
            self.add_at(&(r, c), ct);
        }
    }
}

/// The adjoints a loop over `i` in `a..b` adds into elements `i + c` of one
/// adjoint, for offsets `c` spanning at most `N` consecutive integers
/// (a stencil: `x[i]` and `x[i + 1]`), kept in registers until no later
/// iteration adds to them.
///
/// `pending[j]` is the sum so far for element `base + j`. Each iteration
/// adds its contributions with [`add`](Self::add), then
/// [`advance`](Self::advance) writes element `base`, which later iterations
/// do not reach, and shifts the window by one. Each element is written
/// once, as a hand-written stencil adjoint does, rather than once per read:
/// two adds into neighbouring elements per iteration make the compiler pair
/// them into one 16-byte load and store that the next iteration's load
/// overlaps, a store-forwarding stall that made W1's gradient 3.4 times
/// slower.
pub struct Window<T, const N: usize> {
    pending: [T; N],
    base: Option<usize>,
    /// The adjoint was zero and only this window writes it: elements are
    /// stored, not added (no load per iteration).
    store: bool,
}

impl<T: Field, const N: usize> Window<T, N> {
    /// A window that adds into the adjoint.
    #[inline(always)]
    pub fn adding() -> Self {
        // -0 is the identity of floating-point addition (0 is not: -0 + 0 = 0),
        // so the compiler drops the first add into a slot.
        Window {
            pending: [-T::ZERO; N],
            base: None,
            store: false,
        }
    }

    /// A window over an adjoint that is zero and that nothing else adds
    /// into while the window is open: elements are stored.
    #[inline(always)]
    pub fn storing() -> Self {
        Window {
            store: true,
            ..Self::adding()
        }
    }

    /// `x̄[i + c] += ct` for the current iteration, where `j` is `c` less
    /// the smallest offset (a constant).
    #[inline(always)]
    pub fn add(&mut self, j: usize, ct: &T) {
        self.pending[j] += *ct;
    }

    /// `x̄[i + c] -= ct`: a negated cotangent's share (see `add`).
    #[inline(always)]
    pub fn sub(&mut self, j: usize, ct: &T) {
        self.pending[j] -= *ct;
    }

    /// Ends an iteration: writes `pending[0]` into `x̄[at]`, where `at` is
    /// this iteration's element of the smallest offset, and shifts the window.
    #[inline(always)]
    pub fn advance<G: ElementAdjoint<usize, Elem = T> + ?Sized>(&mut self, acc: &mut G, at: usize) {
        self.write(acc, at, 0);
        for j in 1..N {
            self.pending[j - 1] = self.pending[j];
        }
        self.pending[N - 1] = -T::ZERO;
        self.base = Some(at + 1);
    }

    /// After the loop: writes what is pending into the elements after the
    /// last iteration's (nothing if the loop did not run).
    #[inline(always)]
    pub fn finish<G: ElementAdjoint<usize, Elem = T> + ?Sized>(mut self, acc: &mut G) {
        if let Some(base) = self.base {
            for j in 0..N - 1 {
                // A slot nothing reached holds -0: stored, it would show.
                self.pending[j] += T::ZERO;
                self.write(acc, base + j, j);
            }
        }
    }

    #[inline(always)]
    fn write<G: ElementAdjoint<usize, Elem = T> + ?Sized>(&self, acc: &mut G, at: usize, j: usize) {
        if self.store {
            acc.set_at(&at, &self.pending[j]);
        } else {
            acc.add_at(&at, &self.pending[j]);
        }
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
    pub fn jvp<G: Index<I> + ?Sized, I: Clone>(dx: &G, i: &I) -> G::Output
    where
        G::Output: Clone,
    {
        value(dx, i)
    }

    /// `x̄` with `ȳ` at `i`: `x` gives only the shape.
    #[inline(always)]
    pub fn vjp<X: IndexRule<I> + ?Sized, I>(ct: &X::Elem, x: &X, i: &I) -> X::Grad {
        X::vjp(ct, x, i)
    }

    /// `x̄[i] += ȳ`, which needs no shape.
    #[inline(always)]
    pub fn vjp_acc<G: ElementAdjoint<I> + ?Sized, I>(acc: &mut G, ct: &G::Elem, i: &I) {
        acc.add_at(i, ct);
    }

    /// `x̄[i] += ȳ` into the adjoint of a parameter `x` (see [`ElementAdjointOf`]).
    #[inline(always)]
    pub fn vjp_acc_of<G: ElementAdjointOf<I, X> + ?Sized, I, X: ?Sized>(acc: &mut G, ct: &G::Elem, i: &I, x: &X) {
        acc.add_at_of(i, ct, x);
    }
}

/// `y = &x[i]`, the element by reference, as `x.iter()` yields it; its
/// reverse rule is [`index`]'s.
pub mod index_ref {
    use super::*;

    /// Forward rule: the element of the tangent, by value (tangents are owned).
    pub use super::index::{jvp, vjp, vjp_acc, vjp_acc_of};

    /// A reference to the element.
    #[inline(always)]
    pub fn value<'x, X: Index<I> + ?Sized, I: Clone>(x: &'x X, i: &I) -> &'x X::Output {
        &x[i.clone()]
    }
}

/// `y = x` with `y[i] = e`: the element assignment `x[i] = e`, in place.
///
/// Reverse: `ē = ȳ[i]` and `x̄ = ȳ` with element `i` zeroed (the old
/// element was overwritten, so it reaches nothing); neither reads `x` or
/// `e`. Forward: `ẏ = ẋ` with `ẏ[i] = ė`, as the shares of `x` and `e`.
pub mod assign_index {
    use super::*;
    use crate::tangent::ZeroGrad;

    /// `x` with element `i` replaced by `e`, in `x`'s storage. (Generated
    /// code writes the assignment itself, which infers the element type as
    /// the user's code does; this is the rule's value, for reference and
    /// tests.)
    #[inline(always)]
    pub fn value<X: IndexMut<I>, I: Clone>(mut x: X, i: &I, e: &X::Output) -> X
    where
        X::Output: Clone,
    {
        x[i.clone()] = e.clone();
        x
    }

    /// `x̄`: `ȳ` with element `i` zeroed, copied.
    #[inline(always)]
    pub fn vjp_x<G: IndexMut<I> + Clone, I: Clone>(ct: &G, i: &I) -> G
    where
        G::Output: Field,
    {
        vjp_x_owned(ct.clone(), i)
    }

    /// `x̄` in `ȳ`'s storage.
    #[inline(always)]
    pub fn vjp_x_owned<G: IndexMut<I>, I: Clone>(mut ct: G, i: &I) -> G
    where
        G::Output: Field,
    {
        ct[i.clone()] = <G::Output as crate::real::Real>::ZERO;
        ct
    }

    /// `x̄ += ȳ` but for element `i`.
    #[inline(always)]
    pub fn vjp_x_acc<G: IndexMut<I> + Clone + Accumulate<G>, I: Clone>(acc: &mut G, ct: &G, i: &I)
    where
        G::Output: Field,
    {
        acc.accumulate(vjp_x(ct, i));
    }

    /// `ē = ȳ[i]`: the element read of the cotangent.
    pub use super::index::value as vjp_e;

    /// `ē += ȳ[i]`.
    #[inline(always)]
    pub fn vjp_e_acc<G: Index<I>, I: Clone>(acc: &mut G::Output, ct: &G, i: &I)
    where
        G::Output: AddAssign + Clone,
    {
        *acc += vjp_e(ct, i);
    }

    /// Forward rule, `x`'s share: `ẋ` with element `i` zeroed.
    #[inline(always)]
    pub fn jvp_x<G: IndexMut<I> + Clone, I: Clone>(dx: &G, i: &I) -> G
    where
        G::Output: Field,
    {
        vjp_x(dx, i)
    }

    /// Forward rule, `e`'s share: `ė` at element `i` of a zero shaped like `y`.
    #[inline(always)]
    pub fn jvp_e<Y: ZeroGrad, I: Clone>(de: &<Y::Grad as Index<I>>::Output, i: &I, y: &Y) -> Y::Grad
    where
        Y::Grad: IndexMut<I>,
        <Y::Grad as Index<I>>::Output: Clone,
    {
        let mut t = y.zero_grad();
        t[i.clone()] = de.clone();
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    #[test]
    fn element_adjoints_add_in_place() {
        let mut v = vec![1.0, 2.0, 3.0];
        index::vjp_acc(&mut v, &0.5, &1);
        assert_eq!(v, [1.0, 2.5, 3.0]);
        let mut m = DMatrix::<f64>::zeros(2, 3);
        index::vjp_acc(&mut m, &4.0, &(1, 2));
        index::vjp_acc(&mut m, &1.0, &3);
        assert_eq!((m[(1, 2)], m[(1, 1)]), (4.0, 1.0));
        let mut a = [0.0; 2];
        index::vjp_acc(&mut a, &-1.0, &0);
        assert_eq!(a, [-1.0, 0.0]);
    }

    #[test]
    fn element_adjoints_of_parameters_add_where_the_plain_add_does() {
        // Same shape as the parameter: the add checked against it.
        let x = DMatrix::<f64>::from_fn(3, 2, |r, c| (r + 3 * c) as f64);
        let mut m = DMatrix::<f64>::zeros(3, 2);
        let mut plain = m.clone();
        for (i, ct) in [((2, 1), 1.5), ((0, 0), -2.0), ((2, 1), 0.25)] {
            index::vjp_acc_of(&mut m, &ct, &i, &x);
            index::vjp_acc(&mut plain, &ct, &i);
        }
        assert_eq!(m, plain);
        assert_eq!((m[(2, 1)], m[(0, 0)]), (1.75, -2.0));
        // A linear index into a vector, an element of a slice and of an array.
        let v = nalgebra::DVector::<f64>::zeros(4);
        let mut dv = v.clone();
        index::vjp_acc_of(&mut dv, &3.0, &2, &v);
        assert_eq!(dv[2], 3.0);
        let mut g = vec![0.0; 3];
        index::vjp_acc_of(&mut g, &1.0, &1, &[5.0, 6.0, 7.0][..]);
        assert_eq!(g, [0.0, 1.0, 0.0]);
        let mut a = [0.0; 2];
        index::vjp_acc_of(&mut a, &2.0, &1, &[0.0; 2]);
        assert_eq!(a, [0.0, 2.0]);
        // An adjoint shaped unlike the parameter takes the plain add.
        let mut wide = DMatrix::<f64>::zeros(4, 2);
        let mut wide_plain = wide.clone();
        index::vjp_acc_of(&mut wide, &1.0, &(1, 1), &x);
        index::vjp_acc(&mut wide_plain, &1.0, &(1, 1));
        assert_eq!(wide, wide_plain);
    }

    #[test]
    fn a_window_adds_each_element_once_in_the_right_place() {
        // Contributions of a loop over i in 1..4 to x̄[i - 1], x̄[i] and x̄[i + 1].
        let mut windowed = vec![0.0; 6];
        let mut direct = vec![0.0; 6];
        let mut stored = vec![0.0; 6];
        let mut w = Window::<f64, 3>::adding();
        let mut v = Window::<f64, 3>::storing();
        for i in 1..4 {
            let (a, b, c) = (i as f64, 10.0 * i as f64, 100.0 * i as f64);
            w.add(0, &a);
            w.add(1, &b);
            w.add(2, &c);
            w.advance(windowed.as_mut_slice(), i - 1);
            v.add(0, &a);
            v.add(1, &b);
            v.add(2, &c);
            v.advance(stored.as_mut_slice(), i - 1);
            direct[i - 1] += a;
            direct[i] += b;
            direct[i + 1] += c;
        }
        w.finish(windowed.as_mut_slice());
        v.finish(stored.as_mut_slice());
        assert_eq!(windowed, direct);
        assert_eq!(stored, direct);
        // A loop that did not run writes nothing, not even out of range.
        Window::<f64, 2>::adding().finish(&mut [0.0f64; 0][..]);
        Window::<f64, 2>::storing().finish(&mut [0.0f64; 0][..]);
        // Offsets 0 and 2 over one iteration: element 1 gets nothing, a plain zero.
        let mut gap = [0.0; 3];
        let mut w = Window::<f64, 3>::storing();
        w.add(0, &1.0);
        w.add(2, &3.0);
        w.advance(&mut gap[..], 0);
        w.finish(&mut gap[..]);
        assert_eq!(gap, [1.0, 0.0, 3.0]);
        assert!(gap[1].is_sign_positive());
    }

    #[test]
    fn assignment_rules_route_the_cotangent() {
        let y = assign_index::value(vec![1.0, 2.0, 3.0], &1, &9.0);
        assert_eq!(y, [1.0, 9.0, 3.0]);
        let ct = vec![0.5, 0.25, 2.0];
        assert_eq!(assign_index::vjp_e(&ct, &1), 0.25);
        assert_eq!(assign_index::vjp_x(&ct, &1), [0.5, 0.0, 2.0]);
        let mut acc = vec![1.0; 3];
        assign_index::vjp_x_acc(&mut acc, &ct, &2);
        assert_eq!(acc, [1.5, 1.25, 1.0]);
        let mut e = 1.0;
        assign_index::vjp_e_acc(&mut e, &ct, &0);
        assert_eq!(e, 1.5);
        assert_eq!(assign_index::jvp_e(&4.0, &2, &y), [0.0, 0.0, 4.0]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "out of range")]
    fn an_index_out_of_range_panics_in_debug_builds() {
        index::vjp_acc(&mut vec![0.0; 2], &1.0, &2);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "out of range")]
    fn a_row_out_of_range_panics_in_debug_builds() {
        // (2, 0) of a 2 x 2 matrix has linear index 2, inside the storage.
        index::vjp_acc(&mut DMatrix::<f64>::zeros(2, 2), &1.0, &(2, 0));
    }
}
