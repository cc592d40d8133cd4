//! The vocabulary generated code uses besides the rules: zero and unit
//! cotangents, accumulation into an adjoint, branch tapes, and positional
//! access to a gradient struct.

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim};

use crate::field::{axpy_elements, Field, Mat};

/// A value whose derivative has the same type and a known zero.
///
/// `x.zero_like()` is the additive identity shaped like `x` (for a matrix, a
/// matrix of zeros of its shape); generated code reaches it through
/// `zero_grad` to start an adjoint that a branch may or may not add to.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a differentiable type",
    label = "this value is differentiated, but `{Self}` has no tangent type",
    note = "differentiated values are `f32`, `f64`, a generic `T: autodiff::Real`, or nalgebra matrices and vectors of `f32`/`f64`"
)]
pub trait Tangent: Sized {
    /// The zero shaped like `self`.
    fn zero_like(&self) -> Self;
    /// The unit cotangent `1`, seeding the reverse pass of a scalar output.
    fn one_like(&self) -> Self;
    /// What stands in a gradient's field that the caller said it does not
    /// read (`f_vjp2_want`'s mask): the zero, or an empty matrix where the
    /// shape is dynamic, which costs no allocation and no writes.
    fn placeholder(&self) -> Self {
        self.zero_like()
    }
}

/// The unit cotangent of a scalar output.
#[inline(always)]
pub fn one_like<T: Tangent>(x: &T) -> T {
    x.one_like()
}

/// What the forward pass of an `if` records for its reverse pass: which arm
/// ran, with the values of that arm that the reverse pass reads.
#[derive(Debug, Clone, Copy)]
pub enum Branch<A, B> {
    Then(A),
    Else(B),
}

/// The cotangent of a parameter that is not differentiated (an integer, a
/// `bool`, a parameter left out of `wrt(...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoTangent;

/// A gradient struct seen by parameter position: one tuple element per
/// parameter of the function, [`NoTangent`] where it is not differentiated.
///
/// `#[differentiable]` implements it for every `FGrad` it generates; a caller
/// uses it to route `g`'s gradient to `g`'s arguments without knowing the
/// names of `g`'s parameters.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not map to the parameters of a differentiable function",
    note = "a hand-written rule declares its gradient struct with `#[differentiable(custom)]`"
)]
pub trait ArgTangents {
    /// One element per parameter.
    type Tuple;
    /// The gradient's fields, in parameter order.
    fn into_arg_tangents(self) -> Self::Tuple;
}

/// Adds a cotangent into an adjoint; a differentiated argument must receive a
/// real cotangent, not [`NoTangent`].
#[diagnostic::on_unimplemented(
    message = "this argument is differentiated here, but the callee does not differentiate its parameter",
    label = "the callee's gradient has no field for this parameter",
    note = "add the parameter to the callee's `wrt(...)`, or pass a value that does not depend on the differentiated inputs"
)]
pub trait Accumulate<C> {
    /// `self += c`.
    fn accumulate(&mut self, c: C);
}

/// A cotangent that starts an adjoint; like [`Accumulate`], it refuses
/// [`NoTangent`] with the same explanation.
#[diagnostic::on_unimplemented(
    message = "this argument is differentiated here, but the callee does not differentiate its parameter",
    label = "the callee's gradient has no field for this parameter",
    note = "add the parameter to the callee's `wrt(...)`, or pass a value that does not depend on the differentiated inputs"
)]
pub trait Cotangent {
    /// The adjoint it starts (`Self` for every differentiable type).
    type Adjoint;
    fn into_adjoint(self) -> Self::Adjoint;
}

/// Starts an adjoint from a callee's cotangent.
#[inline(always)]
pub fn cotangent<T: Cotangent>(t: T) -> T::Adjoint {
    t.into_adjoint()
}

/// The tangent vocabulary of a real scalar: its own type, zero and one.
macro_rules! real_tangent {
    ($($t:ty),*) => {$(
        impl Tangent for $t {
            #[inline(always)]
            fn zero_like(&self) -> Self {
                0.0
            }
            #[inline(always)]
            fn one_like(&self) -> Self {
                1.0
            }
        }

        impl Accumulate<$t> for $t {
            #[inline(always)]
            fn accumulate(&mut self, c: $t) {
                *self += c;
            }
        }

        impl Cotangent for $t {
            type Adjoint = $t;
            #[inline(always)]
            fn into_adjoint(self) -> $t {
                self
            }
        }
    )*};
}

real_tangent!(f32, f64);

impl<T: Field, R: Dim, C: Dim> Tangent for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    fn zero_like(&self) -> Self {
        let (r, c) = self.shape_generic();
        Mat::zeros_generic(r, c)
    }

    /// A matrix output has no unit cotangent; its `_grad` does not exist.
    fn one_like(&self) -> Self {
        let (r, c) = self.shape_generic();
        Mat::from_element_generic(r, c, T::ONE)
    }

    /// Zero rows or columns in each dynamic dimension.
    fn placeholder(&self) -> Self {
        let r = R::from_usize(R::try_to_usize().unwrap_or(0));
        let c = C::from_usize(C::try_to_usize().unwrap_or(0));
        Mat::zeros_generic(r, c)
    }
}

impl<T: Field, R: Dim, C: Dim> Accumulate<Mat<T, R, C>> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    fn accumulate(&mut self, c: Mat<T, R, C>) {
        *self += c;
    }
}

impl<T: Field, R: Dim, C: Dim> Cotangent for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Adjoint = Self;
    #[inline(always)]
    fn into_adjoint(self) -> Self {
        self
    }
}

/// A slice or `Vec` of reals: its gradient is a `Vec`.
impl<T: Field> Tangent for Vec<T> {
    fn zero_like(&self) -> Self {
        vec![T::ZERO; self.len()]
    }
    fn one_like(&self) -> Self {
        vec![T::ONE; self.len()]
    }
    fn placeholder(&self) -> Self {
        Vec::new()
    }
}

impl<T: Field> Accumulate<Vec<T>> for Vec<T> {
    fn accumulate(&mut self, c: Vec<T>) {
        assert_eq!(self.len(), c.len(), "accumulate: gradients of different lengths");
        self.iter_mut().zip(c).for_each(|(a, c)| *a += c);
    }
}

impl<T: Field> Cotangent for Vec<T> {
    type Adjoint = Self;
    fn into_adjoint(self) -> Self {
        self
    }
}

/// A local array used as a buffer (`let mut v = [0.0; 3]`): its gradient
/// is an array of the same length.
impl<T: Field, const N: usize> Tangent for [T; N] {
    fn zero_like(&self) -> Self {
        [T::ZERO; N]
    }
    fn one_like(&self) -> Self {
        [T::ONE; N]
    }
}

impl<T: Field, const N: usize> Accumulate<[T; N]> for [T; N] {
    fn accumulate(&mut self, c: [T; N]) {
        self.iter_mut().zip(c).for_each(|(a, c)| *a += c);
    }
}

impl<T: Field, const N: usize> Cotangent for [T; N] {
    type Adjoint = Self;
    fn into_adjoint(self) -> Self {
        self
    }
}

/// The zero gradient of a parameter, in its owned type: a real or a matrix
/// for itself, a `Vec` for a slice.
pub trait ZeroGrad {
    type Grad;
    fn zero_grad(&self) -> Self::Grad;
    /// See [`Tangent::placeholder`].
    fn placeholder(&self) -> Self::Grad;
}

impl<T: Tangent> ZeroGrad for T {
    type Grad = T;
    fn zero_grad(&self) -> T {
        self.zero_like()
    }
    fn placeholder(&self) -> T {
        Tangent::placeholder(self)
    }
}

impl<T: Field> ZeroGrad for [T] {
    type Grad = Vec<T>;
    fn zero_grad(&self) -> Vec<T> {
        vec![T::ZERO; self.len()]
    }
    fn placeholder(&self) -> Vec<T> {
        Vec::new()
    }
}

/// The gradient's placeholder for a parameter the caller does not read
/// (see [`Tangent::placeholder`]).
#[inline(always)]
pub fn placeholder<P: ZeroGrad + ?Sized>(p: &P) -> P::Grad {
    p.placeholder()
}

/// Records one iteration's entry on a range loop's tape, which was given
/// room for the whole range before the loop (`Vec::with_capacity`, or
/// `reserve` for a tape shared by several runs). With the room checked here,
/// the push cannot reallocate, so the loop holds no call that returns: a
/// `push` that may grow makes LLVM keep values live across it (W6's inner
/// accumulator) on the stack.
#[inline(always)]
pub fn record<T>(tape: &mut Vec<T>, entry: T) {
    if tape.len() < tape.capacity() {
        tape.push(entry);
    } else {
        tape_full()
    }
}

#[cold]
#[inline(never)]
fn tape_full() -> ! {
    panic!("autodiff: a loop ran more iterations than its range's size_hint announced")
}

/// The zero gradient of a parameter.
#[inline(always)]
pub fn zero_grad<P: ZeroGrad + ?Sized>(p: &P) -> P::Grad {
    p.zero_grad()
}

/// A caller's tangent for one argument of a differentiable function, as
/// forward-mode code passes it by position: the callee's `f_jvp` takes
/// tangents of its differentiated parameters only, which the caller does not
/// know, so `f_jvp_positional` takes one of these per parameter and builds
/// what `f_jvp` needs.
#[derive(Debug, Clone, Copy)]
pub struct Given<T>(pub T);

/// The tangent of an argument that does not depend on the caller's
/// differentiated inputs: zero, or none for a non-real argument.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroTangent;

/// A caller's tangent as the callee's differentiated parameter needs it.
#[diagnostic::on_unimplemented(
    message = "the tangent `{Self}` does not fit a parameter whose tangent is `{G}`",
    note = "a differentiated argument must have the type of the callee's parameter"
)]
pub trait IntoTangent<G> {
    /// The tangent, or `zero()` where the caller has none.
    fn into_tangent(self, zero: impl FnOnce() -> G) -> G;
}

impl<G> IntoTangent<G> for Given<G> {
    #[inline(always)]
    fn into_tangent(self, _zero: impl FnOnce() -> G) -> G {
        self.0
    }
}

impl<G> IntoTangent<G> for ZeroTangent {
    #[inline(always)]
    fn into_tangent(self, zero: impl FnOnce() -> G) -> G {
        zero()
    }
}

/// The tangent of an argument the callee does not differentiate: only a zero fits.
#[diagnostic::on_unimplemented(
    message = "this argument is differentiated here, but the callee does not differentiate its parameter",
    label = "the callee's `_jvp` takes no tangent for this parameter",
    note = "add the parameter to the callee's `wrt(...)`, or pass a value that does not depend on the differentiated inputs"
)]
pub trait NoTangentArg {}

impl NoTangentArg for ZeroTangent {}

/// Tuples of differentiable values (a call returning `(value, gradient)`)
/// are differentiable, element by element.
macro_rules! tuple_tangent {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<$($t: Tangent),+> Tangent for ($($t,)+) {
            fn zero_like(&self) -> Self {
                ($(self.$i.zero_like(),)+)
            }
            fn one_like(&self) -> Self {
                ($(self.$i.one_like(),)+)
            }
        }

        impl<$($t: Accumulate<$t>),+> Accumulate<($($t,)+)> for ($($t,)+) {
            fn accumulate(&mut self, c: ($($t,)+)) {
                $(self.$i.accumulate(c.$i);)+
            }
        }

        impl<$($t: Cotangent<Adjoint = $t>),+> Cotangent for ($($t,)+) {
            type Adjoint = Self;
            fn into_adjoint(self) -> Self {
                self
            }
        }

        impl<S: Copy, $($t: Axpy<S>),+> Axpy<S> for ($($t,)+) {
            fn axpy(&mut self, a: S, x: &Self) {
                $(self.$i.axpy(a, &x.$i);)+
            }
            fn scale(&mut self, a: S) {
                $(self.$i.scale(a);)+
            }
        }
    )*};
}

/// `self += a · x` and `self *= a` for a differentiable value and a real
/// `a`: how a gradient struct is scaled and added in second-order code and
/// by the reverse sweep of a reduction loop.
pub trait Axpy<T> {
    fn axpy(&mut self, a: T, x: &Self);
    fn scale(&mut self, a: T);
}

macro_rules! real_axpy {
    ($($t:ty),*) => {$(
        impl Axpy<$t> for $t {
            #[inline(always)]
            fn axpy(&mut self, a: $t, x: &$t) {
                *self += a * *x;
            }
            #[inline(always)]
            fn scale(&mut self, a: $t) {
                *self *= a;
            }
        }
    )*};
}

real_axpy!(f32, f64);

impl<T: Field, R: Dim, C: Dim> Axpy<T> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    fn axpy(&mut self, a: T, x: &Self) {
        crate::field::add_scaled(self, a, x);
    }
    fn scale(&mut self, a: T) {
        self.apply(|e| *e *= a);
    }
}

impl<T: Field, const N: usize> Axpy<T> for [T; N] {
    fn axpy(&mut self, a: T, x: &Self) {
        axpy_elements(self, a, x);
    }
    fn scale(&mut self, a: T) {
        scale_elements(self, a);
    }
}

impl<T: Field> Axpy<T> for Vec<T> {
    fn axpy(&mut self, a: T, x: &Self) {
        axpy_elements(self, a, x);
    }
    fn scale(&mut self, a: T) {
        scale_elements(self, a);
    }
}

/// `s *= a`, element by element.
fn scale_elements<T: Field>(s: &mut [T], a: T) {
    s.iter_mut().for_each(|s| *s *= a);
}

tuple_tangent! {
    (A 0, B 1)
    (A 0, B 1, C 2)
}

/// The pullback of a second-order companion `g_vjp2`: maps the output's
/// cotangent to the inputs' cotangents, as `g_vjp`'s does, and to the
/// continuation that runs the tangent sweeps over what it computed.
///
/// (A trait rather than nested `impl FnOnce`: Rust does not accept
/// `impl Trait` in the return type of an `Fn` bound.)
///
/// `Clone`, so that a caller can run the forward sweep once and pull
/// several cotangents through copies of it (a loop over `f_pullback`'s
/// seeds does). A closure is `Clone` when what it captures is; the opaque
/// `impl Pullback2` a `g_vjp2` returns says so only through this bound.
pub trait Pullback2<Y, G>: Clone {
    type Tangents: TangentSweep<G, Y>;
    fn pull(self, ct: Y) -> (G, Self::Tangents);
}

impl<Y, G, N: TangentSweep<G, Y>, F: FnOnce(Y) -> (G, N) + Clone> Pullback2<Y, G> for F {
    type Tangents = N;
    #[inline(always)]
    fn pull(self, ct: Y) -> (G, N) {
        self(ct)
    }
}

/// The forward tangent sweep of a second-order companion: maps the inputs'
/// tangents to the output's tangent, and to the tangent of the reverse sweep.
pub trait TangentSweep<G, Y> {
    type Adjoint: TangentPullback<Y, G>;
    fn push(self, t: G) -> (Y, Self::Adjoint);
}

impl<G, Y, N: TangentPullback<Y, G>, F: FnOnce(G) -> (Y, N)> TangentSweep<G, Y> for F {
    type Adjoint = N;
    #[inline(always)]
    fn push(self, t: G) -> (Y, N) {
        self(t)
    }
}

/// The tangent of the reverse sweep: from the tangent of the output's
/// cotangent (`None`: a constant cotangent, whose tangent is statically
/// zero), the tangents of the inputs' cotangents; with a zero input tangent
/// and cotangent 1 this is a Hessian-vector product.
pub trait TangentPullback<Y, G> {
    fn pull_tangent(self, ct_tangent: Option<Y>) -> G;

    /// [`pull_tangent`](Self::pull_tangent) added into `acc`, a caller's
    /// running sums: a penalty's loop over Jacobian rows adds each row's
    /// tangents into the same gradient. Generated sweeps ([`Accumulating`])
    /// add each term into `acc` in place (a product's `gemm` with `beta = 1`);
    /// others return their tangents, which are then added.
    #[inline(always)]
    fn pull_tangent_into(self, ct_tangent: Option<Y>, mut acc: G) -> G
    where
        Self: Sized,
        G: Accumulate<G>,
    {
        acc.accumulate(self.pull_tangent(ct_tangent));
        acc
    }
}

impl<Y, G, F: FnOnce(Option<Y>) -> G> TangentPullback<Y, G> for F {
    #[inline(always)]
    fn pull_tangent(self, ct_tangent: Option<Y>) -> G {
        self(ct_tangent)
    }
}

/// [`TangentPullback::pull_tangent_into`] where the caller passes running
/// sums, else [`TangentPullback::pull_tangent`].
#[inline(always)]
pub fn pull_tangent_with<Y, G: Accumulate<G>>(
    sweep: impl TangentPullback<Y, G>,
    ct_tangent: Option<Y>,
    sums: Option<G>,
) -> G {
    match sums {
        Some(sums) => sweep.pull_tangent_into(ct_tangent, sums),
        None => sweep.pull_tangent(ct_tangent),
    }
}

/// A generated stage 4: its closure takes the caller's running sums, if
/// any, and starts the tangents of the parameters' adjoints from them.
pub struct Accumulating<F>(pub F);

impl<Y, G, F: FnOnce(Option<Y>, Option<G>) -> G> TangentPullback<Y, G> for Accumulating<F> {
    #[inline(always)]
    fn pull_tangent(self, ct_tangent: Option<Y>) -> G {
        (self.0)(ct_tangent, None)
    }

    #[inline(always)]
    fn pull_tangent_into(self, ct_tangent: Option<Y>, acc: G) -> G
    where
        G: Accumulate<G>,
    {
        (self.0)(ct_tangent, Some(acc))
    }
}

/// Whether a tangent has a nonzero element: second-order code tests each
/// input's tangent once and skips the terms of those that are zero (a caller
/// that differentiates a penalty on one input's gradient passes zeros for
/// the others). Stops at the first nonzero element.
pub trait NonZero {
    fn is_nonzero(&self) -> bool;
}

macro_rules! real_nonzero {
    ($($t:ty),*) => {$(
        impl NonZero for $t {
            #[inline(always)]
            fn is_nonzero(&self) -> bool {
                *self != 0.0
            }
        }
    )*};
}

real_nonzero!(f32, f64);

impl<T: Field, R: Dim, C: Dim> NonZero for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    fn is_nonzero(&self) -> bool {
        any_nonzero(self.as_slice())
    }
}

impl<T: Field, const N: usize> NonZero for [T; N] {
    fn is_nonzero(&self) -> bool {
        any_nonzero(self)
    }
}

impl<T: Field> NonZero for Vec<T> {
    fn is_nonzero(&self) -> bool {
        any_nonzero(self)
    }
}

/// Whether a slice has a nonzero element: by blocks of 16 without early
/// exit inside a block (so that the comparison vectorises), stopping at the
/// first block with one.
fn any_nonzero<T: Field>(values: &[T]) -> bool {
    let blocks = values.chunks_exact(16);
    let rest = blocks.remainder();
    blocks
        .into_iter()
        .any(|b| b.iter().fold(false, |found, x| found | (*x != T::ZERO)))
        || rest.iter().any(|x| *x != T::ZERO)
}

/// Whether `t` has a nonzero element.
#[inline(always)]
pub fn is_nonzero<T: NonZero>(t: &T) -> bool {
    t.is_nonzero()
}

/// Implemented by nothing: the bound of the second-order companions that a
/// function without `order = 2` gets (`f_grad_vjp`, `f_vjp2`, ...), so that
/// differentiating its gradient, or calling it from an `order = 2` body,
/// fails at the call with this explanation.
#[diagnostic::on_unimplemented(
    message = "`{Self}` belongs to a function without `order = 2`, which is differentiated only once",
    label = "this needs the second derivatives of a function that is not `#[differentiable(order = 2)]`",
    note = "add `order = 2` to the `#[differentiable]` attribute of the function called here (directly, or through its `_grad`)"
)]
pub trait SecondOrder<'a> {}

#[cfg(test)]
mod tests {
    use super::record;

    #[test]
    fn a_tape_records_into_the_room_it_was_given() {
        let mut tape = Vec::with_capacity(2);
        record(&mut tape, 1.0);
        record(&mut tape, 2.0);
        assert_eq!(tape, [1.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "more iterations than its range")]
    fn a_tape_without_room_panics_rather_than_grows() {
        record(&mut Vec::new(), 1.0);
    }
}
