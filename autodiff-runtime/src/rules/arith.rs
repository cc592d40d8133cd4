//! The arithmetic operators `+ - * /` and unary `-`, for reals and for
//! nalgebra matrices (`*` is the matrix product, or scaling by a real).
//!
//! Each operator is a trait implemented per operand types, so rustc picks the
//! rule; the modules (`add`, `mul`, ...) are what generated code calls, by
//! reference. Reverse rules come in two forms: `vjp_a` returns a new
//! cotangent, `vjp_a_acc` adds it into an existing adjoint in place (for the
//! matrix product, a `gemm` into the adjoint buffer, with transposed operands
//! read through strided views rather than copied).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim};

use crate::field::{add_scaled, gemm_nt, gemm_tn, Field, Mat};
use crate::Real;

/// Declares a value-only operator trait: the arithmetic a body computes,
/// differentiated or not (reals, matrices, and integers such as `n * 2`).
/// The reverse rules are separate traits that only differentiable types have.
macro_rules! operator {
    ($(#[doc = $doc:literal])* $name:ident, $method:ident, $op:tt) => {
        $(#[doc = $doc])*
        #[diagnostic::on_unimplemented(message = "no arithmetic rule for `{Self}` with `{B}`", label = "operands of these types")]
        pub trait $name<B = Self> {
            type Output;
            fn $method(a: &Self, b: &B) -> Self::Output;
        }

        impl<T: Real> $name for T {
            type Output = T;
            #[inline(always)]
            fn $method(a: &T, b: &T) -> T {
                *a $op *b
            }
        }

        operator!(@ints $name, $method, $op; i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
    };
    (@ints $name:ident, $method:ident, $op:tt; $($t:ty),*) => {$(
        impl $name for $t {
            type Output = $t;
            #[inline(always)]
            fn $method(a: &$t, b: &$t) -> $t {
                *a $op *b
            }
        }
    )*};
}

operator!(
    /// `a + b`.
    Add, add, +
);
operator!(
    /// `a - b`.
    Sub, sub, -
);
operator!(
    /// `a * b`.
    Mul, mul, *
);
operator!(
    /// `a / b`.
    Div, div, /
);

/// `-a`.
#[diagnostic::on_unimplemented(message = "no rule for `-{Self}`")]
pub trait Neg {
    fn neg(a: &Self) -> Self;

    /// `-a`, in `a`'s storage where it has any.
    #[inline(always)]
    fn neg_owned(a: Self) -> Self
    where
        Self: Sized,
    {
        Self::neg(&a)
    }
}

impl<T: Real> Neg for T {
    #[inline(always)]
    fn neg(a: &T) -> T {
        -*a
    }
}

macro_rules! signed_neg {
    ($($t:ty),*) => {$(
        impl Neg for $t {
            #[inline(always)]
            fn neg(a: &$t) -> $t {
                -*a
            }
        }
    )*};
}

signed_neg!(i8, i16, i32, i64, i128, isize);

impl<T: Field, R: Dim, C: Dim> Add for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Output = Self;
    fn add(a: &Self, b: &Self) -> Self {
        a + b
    }
}

impl<T: Field, R: Dim, C: Dim> Sub for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Output = Self;
    fn sub(a: &Self, b: &Self) -> Self {
        a - b
    }
}

impl<T: Field, R: Dim, C: Dim> Neg for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    fn neg(a: &Self) -> Self {
        -a
    }
    fn neg_owned(a: Self) -> Self {
        -a
    }
}

/// The matrix product, `(R x K) (K x C)`.
impl<T: Field, R: Dim, K: Dim, C: Dim> Mul<Mat<T, K, C>> for Mat<T, R, K>
where
    DefaultAllocator: Allocator<R, K> + Allocator<K, C> + Allocator<R, C>,
{
    type Output = Mat<T, R, C>;
    fn mul(a: &Self, b: &Mat<T, K, C>) -> Mat<T, R, C> {
        a * b
    }
}

/// Scaling, `s M`.
impl<T: Field, R: Dim, C: Dim> Mul<Mat<T, R, C>> for T
where
    DefaultAllocator: Allocator<R, C>,
{
    type Output = Mat<T, R, C>;
    fn mul(a: &T, b: &Mat<T, R, C>) -> Mat<T, R, C> {
        b * *a
    }
}

/// Scaling, `M s`.
impl<T: Field, R: Dim, C: Dim> Mul<T> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Output = Self;
    fn mul(a: &Self, b: &T) -> Self {
        a * *b
    }
}

/// Scaling, `M / s`.
impl<T: Field, R: Dim, C: Dim> Div<T> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Output = Self;
    fn div(a: &Self, b: &T) -> Self {
        a / *b
    }
}

/// The vector-space operations of a differentiable value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no rule for `+`, `-` or unary `-`",
    note = "both operands must have the same type: two reals, or two nalgebra matrices of the same shape type"
)]
pub trait Linear: Clone + Neg {
    fn add_assign(acc: &mut Self, x: &Self);
    fn sub_assign(acc: &mut Self, x: &Self);
}

impl<T: Real> Linear for T {
    #[inline(always)]
    fn add_assign(acc: &mut T, x: &T) {
        *acc += *x;
    }
    #[inline(always)]
    fn sub_assign(acc: &mut T, x: &T) {
        *acc -= *x;
    }
}

impl<T: Field, R: Dim, C: Dim> Linear for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    fn add_assign(acc: &mut Self, x: &Self) {
        *acc += x;
    }
    fn sub_assign(acc: &mut Self, x: &Self) {
        *acc -= x;
    }
}

/// `y = a + b`: `ā += ȳ`, `b̄ += ȳ`.
pub mod add {
    use super::Linear;

    #[inline(always)]
    pub fn value<A: super::Add<B>, B>(a: &A, b: &B) -> A::Output {
        A::add(a, b)
    }
    /// Forward rule for either operand: its tangent.
    #[inline(always)]
    pub fn jvp_a<T: Linear>(da: &T) -> T {
        da.clone()
    }
    #[inline(always)]
    pub fn vjp_a<T: Linear>(ct: &T) -> T {
        ct.clone()
    }
    #[inline(always)]
    pub fn vjp_a_acc<T: Linear>(acc: &mut T, ct: &T) {
        T::add_assign(acc, ct)
    }
    pub use self::{jvp_a as jvp_b, vjp_a as vjp_b, vjp_a_acc as vjp_b_acc};
}

/// `y = a - b`: `ā += ȳ`, `b̄ -= ȳ`.
pub mod sub {
    use super::Linear;

    #[inline(always)]
    pub fn value<A: super::Sub<B>, B>(a: &A, b: &B) -> A::Output {
        A::sub(a, b)
    }
    pub use super::add::{jvp_a, vjp_a, vjp_a_acc};
    /// Forward rule for `b`: `-db`.
    #[inline(always)]
    pub fn jvp_b<T: Linear>(db: &T) -> T {
        <T as super::Neg>::neg(db)
    }
    #[inline(always)]
    pub fn vjp_b<T: Linear>(ct: &T) -> T {
        <T as super::Neg>::neg(ct)
    }
    #[inline(always)]
    pub fn vjp_b_acc<T: Linear>(acc: &mut T, ct: &T) {
        T::sub_assign(acc, ct)
    }
    /// [`vjp_b`] in the cotangent's storage.
    #[inline(always)]
    pub fn vjp_b_owned<T: Linear>(ct: T) -> T {
        <T as super::Neg>::neg_owned(ct)
    }
}

/// `y = -x`: `x̄ -= ȳ`.
pub mod neg {
    #[inline(always)]
    pub fn value<T: super::Neg>(x: &T) -> T {
        T::neg(x)
    }
    pub use super::sub::{jvp_b as jvp, vjp_b as vjp, vjp_b_acc as vjp_acc};
}

/// A product `a * b` and its reverse rules, per operand types.
#[diagnostic::on_unimplemented(
    message = "no rule for the product `{Self} * {B}`",
    note = "supported: real * real, matrix * matrix (matrix-vector included), real * matrix, matrix * real"
)]
pub trait MulRule<B>: Mul<B> {
    /// `ā` from `ȳ`.
    fn vjp_a(ct: &Self::Output, a: &Self, b: &B) -> Self;
    /// `b̄` from `ȳ`.
    fn vjp_b(ct: &Self::Output, a: &Self, b: &B) -> B;
    /// `ā += ..` in place.
    fn vjp_a_acc(acc: &mut Self, ct: &Self::Output, a: &Self, b: &B);
    /// `b̄ += ..` in place.
    fn vjp_b_acc(acc: &mut B, ct: &Self::Output, a: &Self, b: &B);
}

/// `y = a b`: `ā += ȳ bᵀ`, `b̄ += aᵀ ȳ` (for reals, `ȳ b` and `a ȳ`).
pub mod mul {
    use super::MulRule;

    #[inline(always)]
    pub fn value<A: super::Mul<B>, B>(a: &A, b: &B) -> A::Output {
        A::mul(a, b)
    }
    /// Forward rule for `a`: `da b` (the product is bilinear).
    #[inline(always)]
    pub fn jvp_a<A: super::Mul<B>, B>(da: &A, _a: &A, b: &B) -> A::Output {
        A::mul(da, b)
    }
    /// Forward rule for `b`: `a db`.
    #[inline(always)]
    pub fn jvp_b<A: super::Mul<B>, B>(db: &B, a: &A, _b: &B) -> A::Output {
        A::mul(a, db)
    }
    #[inline(always)]
    pub fn vjp_a<A: MulRule<B>, B>(ct: &A::Output, a: &A, b: &B) -> A {
        A::vjp_a(ct, a, b)
    }
    #[inline(always)]
    pub fn vjp_b<A: MulRule<B>, B>(ct: &A::Output, a: &A, b: &B) -> B {
        A::vjp_b(ct, a, b)
    }
    #[inline(always)]
    pub fn vjp_a_acc<A: MulRule<B>, B>(acc: &mut A, ct: &A::Output, a: &A, b: &B) {
        A::vjp_a_acc(acc, ct, a, b)
    }
    #[inline(always)]
    pub fn vjp_b_acc<A: MulRule<B>, B>(acc: &mut B, ct: &A::Output, a: &A, b: &B) {
        A::vjp_b_acc(acc, ct, a, b)
    }
}

impl<T: Real> MulRule<T> for T {
    #[inline(always)]
    fn vjp_a(ct: &T, _: &T, b: &T) -> T {
        *ct * *b
    }
    #[inline(always)]
    fn vjp_b(ct: &T, a: &T, _: &T) -> T {
        *ct * *a
    }
    #[inline(always)]
    fn vjp_a_acc(acc: &mut T, ct: &T, _: &T, b: &T) {
        *acc += *ct * *b
    }
    #[inline(always)]
    fn vjp_b_acc(acc: &mut T, ct: &T, a: &T, _: &T) {
        *acc += *ct * *a
    }
}

/// The matrix product, `(R x K) (K x C)`.
impl<T: Field, R: Dim, K: Dim, C: Dim> MulRule<Mat<T, K, C>> for Mat<T, R, K>
where
    DefaultAllocator: Allocator<R, K> + Allocator<K, C> + Allocator<R, C> + Allocator<C, K> + Allocator<K, R>,
{
    fn vjp_a(ct: &Mat<T, R, C>, a: &Self, b: &Mat<T, K, C>) -> Self {
        let (r, k) = a.shape_generic();
        let mut g = Mat::zeros_generic(r, k);
        gemm_nt(&mut g, ct, b, T::ZERO);
        g
    }
    fn vjp_b(ct: &Mat<T, R, C>, a: &Self, b: &Mat<T, K, C>) -> Mat<T, K, C> {
        let (k, c) = b.shape_generic();
        let mut g = Mat::zeros_generic(k, c);
        gemm_tn(&mut g, a, ct, T::ZERO);
        g
    }
    fn vjp_a_acc(acc: &mut Self, ct: &Mat<T, R, C>, _: &Self, b: &Mat<T, K, C>) {
        gemm_nt(acc, ct, b, T::ONE);
    }
    fn vjp_b_acc(acc: &mut Mat<T, K, C>, ct: &Mat<T, R, C>, a: &Self, _: &Mat<T, K, C>) {
        gemm_tn(acc, a, ct, T::ONE);
    }
}

/// Scaling, `s M`.
impl<T: Field, R: Dim, C: Dim> MulRule<Mat<T, R, C>> for T
where
    DefaultAllocator: Allocator<R, C>,
{
    fn vjp_a(ct: &Mat<T, R, C>, _: &T, b: &Mat<T, R, C>) -> T {
        ct.dot(b)
    }
    fn vjp_b(ct: &Mat<T, R, C>, a: &T, _: &Mat<T, R, C>) -> Mat<T, R, C> {
        ct * *a
    }
    fn vjp_a_acc(acc: &mut T, ct: &Mat<T, R, C>, _: &T, b: &Mat<T, R, C>) {
        *acc += ct.dot(b);
    }
    fn vjp_b_acc(acc: &mut Mat<T, R, C>, ct: &Mat<T, R, C>, a: &T, _: &Mat<T, R, C>) {
        add_scaled(acc, *a, ct);
    }
}

/// Scaling, `M s`.
impl<T: Field, R: Dim, C: Dim> MulRule<T> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    fn vjp_a(ct: &Self, _: &Self, b: &T) -> Self {
        ct * *b
    }
    fn vjp_b(ct: &Self, a: &Self, _: &T) -> T {
        ct.dot(a)
    }
    fn vjp_a_acc(acc: &mut Self, ct: &Self, _: &Self, b: &T) {
        add_scaled(acc, *b, ct);
    }
    fn vjp_b_acc(acc: &mut T, ct: &Self, a: &Self, _: &T) {
        *acc += ct.dot(a);
    }
}

/// A quotient `a / b` and its reverse rules, per operand types.
#[diagnostic::on_unimplemented(
    message = "no rule for the quotient `{Self} / {B}`",
    note = "supported: real / real, matrix / real"
)]
pub trait DivRule<B>: Div<B> {
    /// `b`'s share of the output's tangent, `-a db / b²`.
    fn jvp_b(db: &B, a: &Self, b: &B) -> Self::Output;
    /// `vjp_a`'s derivative along `db`: `-ct db / b²`.
    fn vjp_a_db(ct: &Self::Output, a: &Self, b: &B, db: &B) -> Self;
    /// `vjp_b`'s derivative along `db`: `2 ⟨ct, a⟩ db / b³`.
    fn vjp_b_db(ct: &Self::Output, a: &Self, b: &B, db: &B) -> B;
    fn vjp_a(ct: &Self::Output, a: &Self, b: &B) -> Self;
    fn vjp_b(ct: &Self::Output, a: &Self, b: &B) -> B;
    fn vjp_a_acc(acc: &mut Self, ct: &Self::Output, a: &Self, b: &B);
    fn vjp_b_acc(acc: &mut B, ct: &Self::Output, a: &Self, b: &B);
}

/// `y = a / b`: `ā += ȳ / b`, `b̄ -= ȳ · a / b²`.
pub mod div {
    use super::DivRule;

    #[inline(always)]
    pub fn value<A: super::Div<B>, B>(a: &A, b: &B) -> A::Output {
        A::div(a, b)
    }
    /// Forward rule for `a`: `da / b`.
    #[inline(always)]
    pub fn jvp_a<A: super::Div<B>, B>(da: &A, _a: &A, b: &B) -> A::Output {
        A::div(da, b)
    }
    /// Forward rule for `b`: `-a db / b²`.
    #[inline(always)]
    pub fn jvp_b<A: DivRule<B>, B>(db: &B, a: &A, b: &B) -> A::Output {
        A::jvp_b(db, a, b)
    }
    #[inline(always)]
    pub fn vjp_a<A: DivRule<B>, B>(ct: &A::Output, a: &A, b: &B) -> A {
        A::vjp_a(ct, a, b)
    }
    #[inline(always)]
    pub fn vjp_b<A: DivRule<B>, B>(ct: &A::Output, a: &A, b: &B) -> B {
        A::vjp_b(ct, a, b)
    }
    /// Second-order rule of `vjp_a` along `db` (it is linear in `a`).
    #[inline(always)]
    pub fn vjp_a_db<A: DivRule<B>, B>(ct: &A::Output, a: &A, b: &B, db: &B) -> A {
        A::vjp_a_db(ct, a, b, db)
    }
    /// Second-order rule of `vjp_b` along `db`.
    #[inline(always)]
    pub fn vjp_b_db<A: DivRule<B>, B>(ct: &A::Output, a: &A, b: &B, db: &B) -> B {
        A::vjp_b_db(ct, a, b, db)
    }
    #[inline(always)]
    pub fn vjp_a_acc<A: DivRule<B>, B>(acc: &mut A, ct: &A::Output, a: &A, b: &B) {
        A::vjp_a_acc(acc, ct, a, b)
    }
    #[inline(always)]
    pub fn vjp_b_acc<A: DivRule<B>, B>(acc: &mut B, ct: &A::Output, a: &A, b: &B) {
        A::vjp_b_acc(acc, ct, a, b)
    }
}

impl<T: Real> DivRule<T> for T {
    #[inline(always)]
    fn jvp_b(db: &T, a: &T, b: &T) -> T {
        -*db * *a / (*b * *b)
    }
    #[inline(always)]
    fn vjp_a_db(ct: &T, _: &T, b: &T, db: &T) -> T {
        -*ct * *db / (*b * *b)
    }
    #[inline(always)]
    fn vjp_b_db(ct: &T, a: &T, b: &T, db: &T) -> T {
        T::from_f64(2.0) * *ct * *a * *db / (*b * *b * *b)
    }
    #[inline(always)]
    fn vjp_a(ct: &T, _: &T, b: &T) -> T {
        *ct / *b
    }
    #[inline(always)]
    fn vjp_b(ct: &T, a: &T, b: &T) -> T {
        -*ct * *a / (*b * *b)
    }
    #[inline(always)]
    fn vjp_a_acc(acc: &mut T, ct: &T, a: &T, b: &T) {
        *acc += <T as DivRule<T>>::vjp_a(ct, a, b)
    }
    #[inline(always)]
    fn vjp_b_acc(acc: &mut T, ct: &T, a: &T, b: &T) {
        *acc += <T as DivRule<T>>::vjp_b(ct, a, b)
    }
}

impl<T: Field, R: Dim, C: Dim> DivRule<T> for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    fn jvp_b(db: &T, a: &Self, b: &T) -> Self {
        a * (-*db / (*b * *b))
    }
    fn vjp_a_db(ct: &Self, _: &Self, b: &T, db: &T) -> Self {
        ct * (-*db / (*b * *b))
    }
    fn vjp_b_db(ct: &Self, a: &Self, b: &T, db: &T) -> T {
        <T as Real>::from_f64(2.0) * ct.dot(a) * *db / (*b * *b * *b)
    }
    fn vjp_a(ct: &Self, _: &Self, b: &T) -> Self {
        ct / *b
    }
    fn vjp_b(ct: &Self, a: &Self, b: &T) -> T {
        -ct.dot(a) / (*b * *b)
    }
    fn vjp_a_acc(acc: &mut Self, ct: &Self, _: &Self, b: &T) {
        add_scaled(acc, T::ONE / *b, ct);
    }
    fn vjp_b_acc(acc: &mut T, ct: &Self, a: &Self, b: &T) {
        *acc += <Self as DivRule<T>>::vjp_b(ct, a, b);
    }
}
