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

/// `acc = beta · acc + a bᵀ`, with `bᵀ` read in place where it can be. An
/// operand with few nonzero rows takes a sparse path, in which its zero rows
/// contribute nothing, even against an infinity or NaN in the other operand.
pub fn gemm_nt<T: Field, R: Dim, K: Dim, C: Dim>(acc: &mut Mat<T, R, K>, a: &Mat<T, R, C>, b: &Mat<T, K, C>, beta: T)
where
    DefaultAllocator: Allocator<R, K> + Allocator<R, C> + Allocator<K, C> + Allocator<C, K>,
{
    if sparse_gemm_nt(acc, a, b, beta) {
        return;
    }
    let (r, k) = acc.shape_generic();
    if strided_gemm_ok(r, k, a.shape_generic().1) {
        acc.gemm(T::ONE, a, &transposed(b), beta);
    } else {
        acc.gemm(T::ONE, a, &b.transpose(), beta);
    }
}

/// `acc = beta · acc + aᵀ b`, with `aᵀ` read in place where it can be. An
/// operand with few nonzero rows takes a sparse path, in which its zero rows
/// contribute nothing, even against an infinity or NaN in the other operand.
pub fn gemm_tn<T: Field, R: Dim, K: Dim, C: Dim>(acc: &mut Mat<T, K, C>, a: &Mat<T, R, K>, b: &Mat<T, R, C>, beta: T)
where
    DefaultAllocator: Allocator<K, C> + Allocator<R, K> + Allocator<R, C> + Allocator<K, R>,
{
    if sparse_gemm_tn(acc, a, b, beta) {
        return;
    }
    let (k, c) = acc.shape_generic();
    if strided_gemm_ok(k, c, a.shape_generic().0) {
        acc.gemm(T::ONE, &transposed(a), b, beta);
    } else {
        acc.gemm(T::ONE, &a.transpose(), b, beta);
    }
}

/// The sparse path of [`gemm_nt`] and [`gemm_tn`]. A cotangent with few
/// nonzero rows, such as a one-hot seed `e_i` on every column (the rows of a
/// Jacobian), makes `ȳ bᵀ` and `aᵀ ȳ` a few rank-one updates, which a dense
/// product would spend its work on zeros for. A dense operand costs a scan
/// of a few elements: the scan stops at the first rows it finds nonzero.
///
/// Products smaller than this many multiply-adds always take the dense path.
const SPARSE_MIN_WORK: usize = 4096;

/// At most this many nonzero rows, and at most a quarter of the rows, make an
/// operand sparse.
const SPARSE_ROWS: usize = 8;

/// The nonzero rows of a sparse operand, in order.
struct NonzeroRows {
    len: usize,
    rows: [usize; SPARSE_ROWS],
}

impl NonzeroRows {
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.rows[..self.len].iter().copied()
    }
}

/// The nonzero rows of the column-major `data` with `nrows` rows, if they are
/// few enough to make it sparse. Up to 64 rows, a mask of the rows seen
/// nonzero is built column by column, in storage order; a dense operand
/// stops after its first column.
fn sparse_rows<T: Field>(data: &[T], nrows: usize) -> Option<NonzeroRows> {
    let limit = (nrows / 4).min(SPARSE_ROWS);
    let mut found = NonzeroRows {
        len: 0,
        rows: [0; SPARSE_ROWS],
    };
    if nrows <= 64 {
        let mut seen = 0u64;
        for column in data.chunks_exact(nrows.max(1)) {
            for (r, v) in column.iter().enumerate() {
                seen |= u64::from(*v != T::ZERO) << r;
            }
            if seen.count_ones() as usize > limit {
                return None;
            }
        }
        while seen != 0 {
            found.rows[found.len] = seen.trailing_zeros() as usize;
            found.len += 1;
            seen &= seen - 1;
        }
        return Some(found);
    }
    for r in 0..nrows {
        if data[r..].iter().step_by(nrows).any(|v| *v != T::ZERO) {
            if found.len == limit {
                return None;
            }
            found.rows[found.len] = r;
            found.len += 1;
        }
    }
    Some(found)
}

/// `acc = beta · acc`, where `beta = 0` overwrites, as `gemm` does.
fn scale<T: Field>(acc: &mut [T], beta: T) {
    if beta == T::ZERO {
        acc.fill(T::ZERO);
    } else if beta != T::ONE {
        acc.iter_mut().for_each(|v| *v *= beta);
    }
}

/// `acc += a · x`, element by element: the sparse products' rank-one
/// updates, and `Axpy` for a `Vec` or an array.
pub(crate) fn axpy_elements<T: Field>(acc: &mut [T], a: T, x: &[T]) {
    acc.iter_mut().zip(x).for_each(|(acc, x)| *acc += a * *x);
}

/// [`gemm_nt`] where `a` or `b` has few nonzero rows: `acc`'s rows (of `a`)
/// or columns (of `b`) that only zeros reach are only scaled. Returns
/// whether it did the product.
fn sparse_gemm_nt<T: Field, R: Dim, K: Dim, C: Dim>(
    acc: &mut Mat<T, R, K>,
    a: &Mat<T, R, C>,
    b: &Mat<T, K, C>,
    beta: T,
) -> bool
where
    DefaultAllocator: Allocator<R, K> + Allocator<R, C> + Allocator<K, C>,
{
    let (rows, cols, inner) = (acc.nrows(), acc.ncols(), a.ncols());
    if rows * cols * inner < SPARSE_MIN_WORK {
        return false;
    }
    let (a, b) = (a.as_slice(), b.as_slice());
    if let Some(nonzero) = sparse_rows(a, rows) {
        let acc = acc.as_mut_slice();
        scale(acc, beta);
        // Row `r` of `a bᵀ` is `Σ_c a[r, c] b[:, c]ᵀ`: summed contiguously,
        // then written along the row.
        let mut sum = vec![T::ZERO; cols];
        for r in nonzero.iter() {
            sum.fill(T::ZERO);
            for (c, column) in b.chunks_exact(cols).enumerate() {
                let s = a[r + c * rows];
                if s != T::ZERO {
                    axpy_elements(&mut sum, s, column);
                }
            }
            for (j, v) in sum.iter().enumerate() {
                acc[r + j * rows] += *v;
            }
        }
        return true;
    }
    if let Some(nonzero) = sparse_rows(b, cols) {
        let acc = acc.as_mut_slice();
        scale(acc, beta);
        // Column `j` of `a bᵀ` is `Σ_c b[j, c] a[:, c]`.
        for j in nonzero.iter() {
            let out = &mut acc[j * rows..(j + 1) * rows];
            for (c, column) in a.chunks_exact(rows).enumerate() {
                let s = b[j + c * cols];
                if s != T::ZERO {
                    axpy_elements(out, s, column);
                }
            }
        }
        return true;
    }
    false
}

/// [`gemm_tn`] where `a` or `b` has few nonzero rows: `aᵀ b` is the sum of
/// `a[r, :]ᵀ b[r, :]` over the rows `r` where both can be nonzero. Returns
/// whether it did the product.
fn sparse_gemm_tn<T: Field, R: Dim, K: Dim, C: Dim>(
    acc: &mut Mat<T, K, C>,
    a: &Mat<T, R, K>,
    b: &Mat<T, R, C>,
    beta: T,
) -> bool
where
    DefaultAllocator: Allocator<K, C> + Allocator<R, K> + Allocator<R, C>,
{
    let (rows, cols, inner) = (acc.nrows(), acc.ncols(), a.nrows());
    if rows * cols * inner < SPARSE_MIN_WORK {
        return false;
    }
    let (a, b) = (a.as_slice(), b.as_slice());
    let Some(nonzero) = sparse_rows(b, inner).or_else(|| sparse_rows(a, inner)) else {
        return false;
    };
    let acc = acc.as_mut_slice();
    scale(acc, beta);
    let mut row = vec![T::ZERO; rows];
    for r in nonzero.iter() {
        // `a[r, :]ᵀ`, contiguous, added into each column `c` times `b[r, c]`.
        for (k, v) in row.iter_mut().enumerate() {
            *v = a[r + k * inner];
        }
        for (c, out) in acc.chunks_exact_mut(rows).enumerate() {
            let s = b[r + c * inner];
            if s != T::ZERO {
                axpy_elements(out, s, &row);
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use nalgebra::DMatrix;

    use super::{gemm_nt, gemm_tn, sparse_gemm_nt, sparse_gemm_tn};

    /// [`gemm_nt`], checking that it takes the sparse path exactly if `sparse`.
    fn nt(acc: &mut DMatrix<f64>, a: &DMatrix<f64>, b: &DMatrix<f64>, beta: f64, sparse: bool) {
        let took = sparse_gemm_nt(acc, a, b, beta);
        assert_eq!(took, sparse, "the sparse path");
        if !took {
            gemm_nt(acc, a, b, beta);
        }
    }

    /// [`gemm_tn`], checking that it takes the sparse path exactly if `sparse`.
    fn tn(acc: &mut DMatrix<f64>, a: &DMatrix<f64>, b: &DMatrix<f64>, beta: f64, sparse: bool) {
        let took = sparse_gemm_tn(acc, a, b, beta);
        assert_eq!(took, sparse, "the sparse path");
        if !took {
            gemm_tn(acc, a, b, beta);
        }
    }

    /// A matrix of distinct values with only `rows` nonzero, or all rows.
    fn matrix(nrows: usize, ncols: usize, rows: Option<&[usize]>, salt: f64) -> DMatrix<f64> {
        DMatrix::from_fn(nrows, ncols, |r, c| {
            let kept = rows.is_none_or(|rows| rows.contains(&r));
            if kept {
                ((r * 7 + c * 3) as f64 * 0.37 + salt).sin()
            } else {
                0.0
            }
        })
    }

    /// An operand of more than 64 rows, scanned row by row.
    #[test]
    fn tall_sparse_operands_match_dense() {
        let (dense, seed) = (matrix(20, 8, None, 0.5), matrix(100, 8, Some(&[3, 70]), 1.0));
        let mut acc = matrix(100, 20, None, 2.0);
        nt(&mut acc, &seed, &dense, 1.0, true);
        let expected = &seed * dense.transpose() + matrix(100, 20, None, 2.0);
        assert!((acc - expected).abs().max() < 1e-12);
        let dense = matrix(100, 30, None, 0.5);
        let mut acc = DMatrix::zeros(30, 8);
        tn(&mut acc, &dense, &seed, 0.0, true);
        assert!((acc - dense.transpose() * &seed).abs().max() < 1e-12);
        let mut acc = DMatrix::zeros(30, 8);
        tn(&mut acc, &dense, &matrix(100, 8, None, 1.0), 0.0, false);
    }

    /// Each sparse case against nalgebra's dense product, for `beta` 0, 1
    /// and 0.5 on an accumulator that holds values; `NaN` in the accumulator
    /// must not leak through `beta = 0`.
    #[test]
    fn sparse_products_match_dense() {
        let patterns: [Option<&[usize]>; 4] = [None, Some(&[3]), Some(&[0, 9]), Some(&[])];
        for sparse in patterns {
            for beta in [0.0, 1.0, 0.5] {
                let start = |r, c| {
                    let m = matrix(r, c, None, 2.0);
                    if beta == 0.0 {
                        m.map(|_| f64::NAN)
                    } else {
                        m
                    }
                };
                let initial = |r, c| matrix(r, c, None, 2.0) * beta;
                // a bᵀ with a (10 x 32) sparse, then b (10 x 32) sparse.
                let (dense, seed) = (matrix(64, 32, None, 0.5), matrix(10, 32, sparse, 1.0));
                let mut acc = start(10, 64);
                nt(&mut acc, &seed, &dense, beta, sparse.is_some());
                let expected = &seed * dense.transpose() + initial(10, 64);
                assert!((acc - expected).abs().max() < 1e-12, "a bᵀ, a sparse {sparse:?}");
                let mut acc = start(64, 10);
                nt(&mut acc, &dense, &seed, beta, sparse.is_some());
                let expected = &dense * seed.transpose() + initial(64, 10);
                assert!((acc - expected).abs().max() < 1e-12, "a bᵀ, b sparse {sparse:?}");
                // aᵀ b with b (10 x 32) sparse, then a.
                let (dense, seed) = (matrix(10, 64, None, 0.5), matrix(10, 32, sparse, 1.0));
                let mut acc = start(64, 32);
                tn(&mut acc, &dense, &seed, beta, sparse.is_some());
                let expected = dense.transpose() * &seed + initial(64, 32);
                assert!((acc - expected).abs().max() < 1e-12, "aᵀ b, b sparse {sparse:?}");
                let mut acc = start(32, 64);
                tn(&mut acc, &seed, &dense, beta, sparse.is_some());
                let expected = seed.transpose() * &dense + initial(32, 64);
                assert!((acc - expected).abs().max() < 1e-12, "aᵀ b, a sparse {sparse:?}");
            }
        }
    }
}
