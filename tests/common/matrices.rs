//! Matrix inputs for the finite-difference checks of `tests/tensor_ops.rs`
//! and `tests/second_order_tensors.rs`: deterministic data, and the
//! flattening the checks differentiate through.

use autodiff::nalgebra::DMatrix;

/// WORKLOADS.md-style data: a deterministic, irregular matrix.
pub fn data(t: usize, rows: usize, cols: usize) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |i, j| {
        0.3 * (0.7 * (i * cols + j) as f64 + 1.3 * t as f64).sin() + 0.05
    })
}

/// Matrices of the given shapes from consecutive column-major runs of `p`.
pub fn split(shapes: &[(usize, usize)], p: &[f64]) -> Vec<DMatrix<f64>> {
    let mut offset = 0;
    shapes
        .iter()
        .map(|&(r, c)| {
            let m = DMatrix::from_column_slice(r, c, &p[offset..offset + r * c]);
            offset += r * c;
            m
        })
        .collect()
}

/// The inverse of [`split`].
pub fn flat(ms: &[DMatrix<f64>]) -> Vec<f64> {
    ms.iter().flat_map(|m| m.iter().copied()).collect()
}
