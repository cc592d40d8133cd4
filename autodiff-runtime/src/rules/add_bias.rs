//! `y = add_bias(z, b)`: the column `b` added to every column of `z`
//! ([`crate::rules::loss::add_bias`]). Linear: `z̄ = ȳ`, `b̄ = Σ_columns ȳ`;
//! the forward rule broadcasts `db` over the output's columns.

use nalgebra::allocator::Allocator;
use nalgebra::storage::Storage;
use nalgebra::{DefaultAllocator, Dim, Vector, U1};

use crate::field::{Field, Mat};

/// The primal value.
#[inline]
pub fn value<T: Field, R: Dim, C: Dim, S: Storage<T, R>>(z: &Mat<T, R, C>, b: &Vector<T, R, S>) -> Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    super::loss::add_bias(z, b)
}

/// Forward rule for `z`: `dz`.
pub fn jvp_a<T: Field, R: Dim, C: Dim>(dz: &Mat<T, R, C>) -> Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    dz.clone()
}

/// Forward rule for `b`: `db` in every column of the output's shape.
pub fn jvp_b<T: Field, R: Dim, C: Dim>(db: &Mat<T, R, U1>, y: &Mat<T, R, C>) -> Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    let (r, c) = y.shape_generic();
    super::loss::add_bias(&Mat::zeros_generic(r, c), db)
}

/// Reverse rule for `z`: `ȳ`.
pub fn vjp_a<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, C>) -> Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    ct.clone()
}

/// [`vjp_a`], added into an adjoint.
pub fn vjp_a_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, ct: &Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C>,
{
    *acc += ct;
}

/// Reverse rule for `b`: the sum of `ȳ`'s columns.
pub fn vjp_b<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, C>) -> Mat<T, R, U1>
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    ct.column_sum()
}

/// [`vjp_b`], added into an adjoint.
pub fn vjp_b_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, U1>, ct: &Mat<T, R, C>)
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    for column in ct.column_iter() {
        *acc += column;
    }
}
