//! [`Field`]: the element types of matrices that rules support, and the
//! matrix types themselves ([`Mat`]).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim, Dyn, MatrixView, OMatrix, RealField};

use crate::Real;

/// A real that nalgebra can put in a matrix: `f32` or `f64`.
///
/// Rules written against it call scalar methods as `Real::exp(x)`, since
/// `Real` and `RealField` both name them.
pub trait Field: Real + RealField + Copy {}

impl Field for f32 {}
impl Field for f64 {}

/// An owned nalgebra matrix or vector of a [`Field`]: `DMatrix`, `DVector`,
/// `RowDVector`, `SMatrix`, `SVector` are all `Mat<T, R, C>`.
pub type Mat<T, R, C> = OMatrix<T, R, C>;

/// `acc += alpha · x`, element-wise, without a temporary.
#[inline]
pub fn add_scaled<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, alpha: T, x: &Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C>,
{
    acc.zip_apply(x, |a, b| *a += alpha * b);
}

/// `mᵀ` as a zero-copy view: the same data read with swapped strides.
fn transposed<T: Field, R: Dim, C: Dim>(m: &Mat<T, R, C>) -> MatrixView<'_, T, C, R, Dyn, Dyn>
where
    DefaultAllocator: Allocator<R, C>,
{
    let (r, c) = m.shape_generic();
    MatrixView::from_slice_with_strides_generic(m.as_slice(), c, r, Dyn(r.value()), Dyn(1))
}

/// Whether nalgebra's `gemm` hands a product with these dimensions to
/// `matrixmultiply`, which reads strided operands directly. It does for
/// dynamic matrices whose output and left operand exceed 5 x 5; its own
/// small-matrix loops mis-handle a strided operand (nalgebra 0.35 passes the
/// strided slice length as the vector length in `axcpy`), so smaller
/// products materialise the transpose instead.
fn strided_gemm_ok<R: Dim, K: Dim, C: Dim>(r: R, k: K, c: C) -> bool {
    let dynamic = R::try_to_usize().is_none() || K::try_to_usize().is_none() || C::try_to_usize().is_none();
    dynamic && r.value() > 5 && k.value() > 5 && c.value() > 5
}

/// `acc = beta · acc + a bᵀ`, with `bᵀ` read in place where it can be.
pub fn gemm_nt<T: Field, R: Dim, K: Dim, C: Dim>(acc: &mut Mat<T, R, K>, a: &Mat<T, R, C>, b: &Mat<T, K, C>, beta: T)
where
    DefaultAllocator: Allocator<R, K> + Allocator<R, C> + Allocator<K, C> + Allocator<C, K>,
{
    let (r, k) = acc.shape_generic();
    if strided_gemm_ok(r, k, a.shape_generic().1) {
        acc.gemm(T::ONE, a, &transposed(b), beta);
    } else {
        acc.gemm(T::ONE, a, &b.transpose(), beta);
    }
}

/// `acc = beta · acc + aᵀ b`, with `aᵀ` read in place where it can be.
pub fn gemm_tn<T: Field, R: Dim, K: Dim, C: Dim>(acc: &mut Mat<T, K, C>, a: &Mat<T, R, K>, b: &Mat<T, R, C>, beta: T)
where
    DefaultAllocator: Allocator<K, C> + Allocator<R, K> + Allocator<R, C> + Allocator<K, R>,
{
    let (k, c) = acc.shape_generic();
    if strided_gemm_ok(k, c, a.shape_generic().0) {
        acc.gemm(T::ONE, &transposed(a), b, beta);
    } else {
        acc.gemm(T::ONE, &a.transpose(), b, beta);
    }
}
