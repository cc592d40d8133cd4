//! Methods of nalgebra matrices and vectors: `transpose`, `dot`, `tr_mul`,
//! `component_mul`, `component_div`, `column`, `row`.
//!
//! Reverse rules take the output cotangent `ct` and the operands they read,
//! by reference; the `_acc` forms add into an existing adjoint in place.

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim};

use crate::field::{add_scaled, gemm_nt, Field, Mat};

/// `y = xᵀ`: `x̄ += ȳᵀ`.
pub mod transpose {
    use super::*;

    /// Forward rule: `dxᵀ` (the same map as the reverse rule, on other shapes).
    pub use self::vjp as jvp;

    /// `x̄ = ȳᵀ`.
    pub fn vjp<T: Field, R: Dim, C: Dim>(ct: &Mat<T, C, R>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<C, R>,
    {
        ct.transpose()
    }

    /// `x̄ += ȳᵀ`, without a temporary.
    pub fn vjp_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, ct: &Mat<T, C, R>)
    where
        DefaultAllocator: Allocator<R, C> + Allocator<C, R>,
    {
        for (j, mut column) in acc.column_iter_mut().enumerate() {
            for (i, a) in column.iter_mut().enumerate() {
                *a += ct[(j, i)];
            }
        }
    }
}

/// `y = a · b` (a real): `ā += ȳ b`, `b̄ += ȳ a`.
pub mod dot {
    use super::*;

    pub fn vjp_a<T: Field, R: Dim, C: Dim>(ct: &T, b: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        b * *ct
    }

    pub fn vjp_a_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, ct: &T, b: &Mat<T, R, C>)
    where
        DefaultAllocator: Allocator<R, C>,
    {
        add_scaled(acc, *ct, b);
    }

    /// Forward rule for `a`: `da · b` (and for `b`: `db · a`).
    pub fn jvp_a<T: Field, R: Dim, C: Dim>(da: &Mat<T, R, C>, b: &Mat<T, R, C>) -> T
    where
        DefaultAllocator: Allocator<R, C>,
    {
        da.dot(b)
    }

    pub use self::{jvp_a as jvp_b, vjp_a as vjp_b, vjp_a_acc as vjp_b_acc};
}

/// `y = aᵀ b`: `ā += b ȳᵀ`, `b̄ += a ȳ`.
pub mod tr_mul {
    use super::*;

    /// Forward rule for `a`: `daᵀ b`.
    pub fn jvp_a<T: Field, K: Dim, R: Dim, C: Dim>(
        da: &Mat<T, K, R>,
        _a: &Mat<T, K, R>,
        b: &Mat<T, K, C>,
    ) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<K, R> + Allocator<K, C> + Allocator<R, C>,
    {
        da.tr_mul(b)
    }

    /// Forward rule for `b`: `aᵀ db`.
    pub fn jvp_b<T: Field, K: Dim, R: Dim, C: Dim>(
        db: &Mat<T, K, C>,
        a: &Mat<T, K, R>,
        _b: &Mat<T, K, C>,
    ) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<K, R> + Allocator<K, C> + Allocator<R, C>,
    {
        a.tr_mul(db)
    }

    pub fn vjp_a<T: Field, K: Dim, R: Dim, C: Dim>(
        ct: &Mat<T, R, C>,
        a: &Mat<T, K, R>,
        b: &Mat<T, K, C>,
    ) -> Mat<T, K, R>
    where
        DefaultAllocator: Allocator<K, R> + Allocator<K, C> + Allocator<R, C> + Allocator<C, R>,
    {
        let mut g = Mat::zeros_generic(a.shape_generic().0, a.shape_generic().1);
        vjp_a_acc(&mut g, ct, a, b);
        g
    }

    pub fn vjp_a_acc<T: Field, K: Dim, R: Dim, C: Dim>(
        acc: &mut Mat<T, K, R>,
        ct: &Mat<T, R, C>,
        _a: &Mat<T, K, R>,
        b: &Mat<T, K, C>,
    ) where
        DefaultAllocator: Allocator<K, R> + Allocator<K, C> + Allocator<R, C> + Allocator<C, R>,
    {
        gemm_nt(acc, b, ct, T::ONE);
    }

    pub fn vjp_b<T: Field, K: Dim, R: Dim, C: Dim>(
        ct: &Mat<T, R, C>,
        a: &Mat<T, K, R>,
        b: &Mat<T, K, C>,
    ) -> Mat<T, K, C>
    where
        DefaultAllocator: Allocator<K, R> + Allocator<K, C> + Allocator<R, C> + Allocator<C, R>,
    {
        let mut g = Mat::zeros_generic(b.shape_generic().0, b.shape_generic().1);
        vjp_b_acc(&mut g, ct, a, b);
        g
    }

    pub fn vjp_b_acc<T: Field, K: Dim, R: Dim, C: Dim>(
        acc: &mut Mat<T, K, C>,
        ct: &Mat<T, R, C>,
        a: &Mat<T, K, R>,
        _b: &Mat<T, K, C>,
    ) where
        DefaultAllocator: Allocator<K, R> + Allocator<K, C> + Allocator<R, C> + Allocator<C, R>,
    {
        acc.gemm(T::ONE, a, ct, T::ONE);
    }
}

/// `y = a ⊙ b`: `ā += ȳ ⊙ b`, `b̄ += ȳ ⊙ a`.
pub mod component_mul {
    use super::*;

    pub fn vjp_a<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, C>, b: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        ct.component_mul(b)
    }

    pub fn vjp_a_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, ct: &Mat<T, R, C>, b: &Mat<T, R, C>)
    where
        DefaultAllocator: Allocator<R, C>,
    {
        acc.zip_zip_apply(ct, b, |a, c, b| *a += c * b);
    }

    /// The reverse rule in the cotangent's storage, where nothing reads it after.
    pub fn vjp_a_owned<T: Field, R: Dim, C: Dim>(mut ct: Mat<T, R, C>, b: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        ct.component_mul_assign(b);
        ct
    }

    /// Forward rules: `da ⊙ b` and `db ⊙ a`, the reverse rules on tangents
    /// (the Jacobian of each operand is diagonal).
    pub use self::{
        vjp_a as jvp_a, vjp_a as jvp_b, vjp_a as vjp_b, vjp_a_acc as vjp_b_acc, vjp_a_owned as vjp_b_owned,
    };
}

/// `y = a ⊘ b`: `ā += ȳ ⊘ b`, `b̄ -= ȳ ⊙ a ⊘ b²`.
pub mod component_div {
    use super::*;

    /// Forward rules: `da ⊘ b` and `-a ⊙ db ⊘ b²`, the reverse rules on
    /// tangents (the Jacobian of each operand is diagonal).
    pub use self::{vjp_a as jvp_a, vjp_b as jvp_b};

    pub fn vjp_a<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, C>, b: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        ct.component_div(b)
    }

    pub fn vjp_a_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, ct: &Mat<T, R, C>, b: &Mat<T, R, C>)
    where
        DefaultAllocator: Allocator<R, C>,
    {
        acc.zip_zip_apply(ct, b, |a, c, b| *a += c / b);
    }

    pub fn vjp_b<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, C>, a: &Mat<T, R, C>, b: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        let mut g = ct.zip_map(a, |c, a| -c * a);
        g.zip_apply(b, |g, b| *g /= b * b);
        g
    }

    pub fn vjp_b_acc<T: Field, R: Dim, C: Dim>(
        acc: &mut Mat<T, R, C>,
        ct: &Mat<T, R, C>,
        a: &Mat<T, R, C>,
        b: &Mat<T, R, C>,
    ) where
        DefaultAllocator: Allocator<R, C>,
    {
        *acc += vjp_b(ct, a, b);
    }

    /// Second-order rule of `vjp_a` along `db`: `-ct ⊙ db ⊘ b²`.
    pub fn vjp_a_db<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, C>, b: &Mat<T, R, C>, db: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        let mut out = b.zip_map(db, |b, d| -d / (b * b));
        out.component_mul_assign(ct);
        out
    }

    /// Second-order rule of `vjp_b` along `db`: `2 ct ⊙ a ⊙ db ⊘ b³`.
    pub fn vjp_b_db<T: Field, R: Dim, C: Dim>(
        ct: &Mat<T, R, C>,
        a: &Mat<T, R, C>,
        b: &Mat<T, R, C>,
        db: &Mat<T, R, C>,
    ) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        let two = <T as crate::Real>::from_f64(2.0);
        let mut out = b.zip_map(db, |b, d| two * d / (b * b * b));
        out.zip_zip_apply(ct, a, |o, c, a| *o *= c * a);
        out
    }
}

/// `y = m.column(j)`, read as an owned vector: `m̄[:, j] += ȳ`.
pub mod column {
    use super::*;

    pub fn value<T: Field, R: Dim, C: Dim>(m: &Mat<T, R, C>, j: &usize) -> Mat<T, R, nalgebra::U1>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<R>,
    {
        m.column(*j).into_owned()
    }

    /// Forward rule: the column of the tangent.
    pub fn jvp<T: Field, R: Dim, C: Dim>(dm: &Mat<T, R, C>, _m: &Mat<T, R, C>, j: &usize) -> Mat<T, R, nalgebra::U1>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<R>,
    {
        value(dm, j)
    }

    pub fn vjp<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, nalgebra::U1>, m: &Mat<T, R, C>, j: &usize) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<R>,
    {
        let mut g = Mat::zeros_generic(m.shape_generic().0, m.shape_generic().1);
        vjp_acc(&mut g, ct, m, j);
        g
    }

    pub fn vjp_acc<T: Field, R: Dim, C: Dim>(
        acc: &mut Mat<T, R, C>,
        ct: &Mat<T, R, nalgebra::U1>,
        _m: &Mat<T, R, C>,
        j: &usize,
    ) where
        DefaultAllocator: Allocator<R, C> + Allocator<R>,
    {
        let mut column = acc.column_mut(*j);
        column += ct;
    }
}

/// `y = m.row(i)`, read as an owned row vector: `m̄[i, :] += ȳ`.
pub mod row {
    use super::*;

    pub fn value<T: Field, R: Dim, C: Dim>(m: &Mat<T, R, C>, i: &usize) -> Mat<T, nalgebra::U1, C>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<nalgebra::U1, C>,
    {
        m.row(*i).into_owned()
    }

    /// Forward rule: the row of the tangent.
    pub fn jvp<T: Field, R: Dim, C: Dim>(dm: &Mat<T, R, C>, _m: &Mat<T, R, C>, i: &usize) -> Mat<T, nalgebra::U1, C>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<nalgebra::U1, C>,
    {
        value(dm, i)
    }

    pub fn vjp<T: Field, R: Dim, C: Dim>(ct: &Mat<T, nalgebra::U1, C>, m: &Mat<T, R, C>, i: &usize) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<nalgebra::U1, C>,
    {
        let mut g = Mat::zeros_generic(m.shape_generic().0, m.shape_generic().1);
        vjp_acc(&mut g, ct, m, i);
        g
    }

    pub fn vjp_acc<T: Field, R: Dim, C: Dim>(
        acc: &mut Mat<T, R, C>,
        ct: &Mat<T, nalgebra::U1, C>,
        _m: &Mat<T, R, C>,
        i: &usize,
    ) where
        DefaultAllocator: Allocator<R, C> + Allocator<nalgebra::U1, C>,
    {
        let mut row = acc.row_mut(*i);
        row += ct;
    }
}

/// `y = x.clone()` (or `x.into_owned()`): `x̄ += ȳ`.
pub mod clone {
    use crate::tangent::Accumulate;

    /// Forward rule: the tangent, copied.
    #[inline(always)]
    pub fn jvp<G: Clone>(dx: &G) -> G {
        dx.clone()
    }

    /// `x̄ = ȳ`, for any adjoint (a matrix, a real, a buffer's `Vec`).
    #[inline(always)]
    pub fn vjp<G: Clone>(ct: &G) -> G {
        ct.clone()
    }

    /// `x̄ += ȳ`.
    #[inline(always)]
    pub fn vjp_acc<G: Clone + Accumulate<G>>(acc: &mut G, ct: &G) {
        acc.accumulate(ct.clone());
    }
}

/// `y = x.into_owned()`: as [`clone`].
pub mod into_owned {
    pub use super::clone::{jvp, vjp, vjp_acc};
}

/// `y = m.scale(s) = m s`: the rules of the product [`crate::rules::mul`].
pub mod scale {
    pub use crate::rules::arith::mul::{jvp_a, jvp_b, vjp_a, vjp_a_acc, vjp_b, vjp_b_acc};
}

/// `y = m.add_scalar(s)`, `s` added to every element: `m̄ += ȳ`, `s̄ += Σ ȳ`.
pub mod add_scalar {
    pub use crate::rules::arith::add::{jvp_a, vjp_a, vjp_a_acc};
    /// `s` is spread over every element, as `from_element`'s `x` is.
    pub use crate::rules::reduce::from_element::{
        jvp as jvp_b, jvp_acc as jvp_b_acc, vjp as vjp_b, vjp_acc as vjp_b_acc,
    };
}

/// `y = m.column_sum()`, the sum of the columns (a column vector): `m̄[:, j] += ȳ` for every `j`.
pub mod column_sum {
    use super::*;

    /// Forward rule: the column sum of the tangent.
    pub fn jvp<T: Field, R: Dim, C: Dim>(dm: &Mat<T, R, C>, _m: &Mat<T, R, C>) -> Mat<T, R, nalgebra::U1>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<R>,
    {
        dm.column_sum()
    }

    pub fn vjp<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, nalgebra::U1>, m: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<R>,
    {
        let mut g = Mat::zeros_generic(m.shape_generic().0, m.shape_generic().1);
        vjp_acc(&mut g, ct, m);
        g
    }

    pub fn vjp_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, ct: &Mat<T, R, nalgebra::U1>, _m: &Mat<T, R, C>)
    where
        DefaultAllocator: Allocator<R, C> + Allocator<R>,
    {
        for mut column in acc.column_iter_mut() {
            column += ct;
        }
    }
}

/// `y = m.row_sum()`, the sum of the rows (a row vector): `m̄[i, :] += ȳ` for every `i`.
pub mod row_sum {
    use super::*;

    /// Forward rule: the row sum of the tangent.
    pub fn jvp<T: Field, R: Dim, C: Dim>(dm: &Mat<T, R, C>, _m: &Mat<T, R, C>) -> Mat<T, nalgebra::U1, C>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<nalgebra::U1, C>,
    {
        dm.row_sum()
    }

    pub fn vjp<T: Field, R: Dim, C: Dim>(ct: &Mat<T, nalgebra::U1, C>, m: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C> + Allocator<nalgebra::U1, C>,
    {
        let mut g = Mat::zeros_generic(m.shape_generic().0, m.shape_generic().1);
        vjp_acc(&mut g, ct, m);
        g
    }

    pub fn vjp_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, ct: &Mat<T, nalgebra::U1, C>, _m: &Mat<T, R, C>)
    where
        DefaultAllocator: Allocator<R, C> + Allocator<nalgebra::U1, C>,
    {
        for mut row in acc.row_iter_mut() {
            row += ct;
        }
    }
}
