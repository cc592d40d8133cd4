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
    let mut out = Mat::zeros_generic(r, c);
    jvp_b_acc(&mut out, db);
    out
}

/// [`jvp_b`], added into the tangent in place: it needs no output to shape it.
pub fn jvp_b_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, db: &Mat<T, R, U1>)
where
    DefaultAllocator: Allocator<R, C> + Allocator<R>,
{
    super::loss::add_bias_in_place(acc, db);
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

#[cfg(test)]
mod tests {
    use nalgebra::{DMatrix, DVector};

    use super::{jvp_b, jvp_b_acc};
    use crate::rules::add_scalar;

    /// The in-place forward rules of the broadcasts add what the others
    /// return.
    #[test]
    fn broadcasts_add_in_place_what_they_return() {
        let acc = DMatrix::from_fn(3, 4, |r, c| (r * 4 + c) as f64 * 0.5);
        let db = DVector::from_vec(vec![1.0, -2.0, 0.25]);
        let mut sum = acc.clone();
        jvp_b_acc(&mut sum, &db);
        assert_eq!(sum, &acc + jvp_b(&db, &acc));
        let mut sum = acc.clone();
        add_scalar::jvp_b_acc(&mut sum, &1.5);
        assert_eq!(sum, &acc + add_scalar::jvp_b(&1.5, &acc));
    }
}
