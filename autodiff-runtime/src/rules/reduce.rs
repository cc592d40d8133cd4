//! Reductions of nalgebra matrices to a real: `sum`, `mean`, `norm`,
//! `norm_squared`. Their reverse rules read the input for its shape (and,
//! for the norms, its values).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim};

use crate::field::{add_scaled, Field, Mat};

macro_rules! reduction {
    ($(#[doc = $doc:literal])* $name:ident, |$ct:ident, $x:ident $(, $y:ident)?| $scale:expr) => {
        $(#[doc = $doc])*
        pub mod $name {
            use super::*;

            /// `x̄ = ȳ · ∂y/∂x`.
            pub fn vjp<T: Field, R: Dim, C: Dim>($ct: &T, $x: &Mat<T, R, C> $(, $y: &T)?) -> Mat<T, R, C>
            where
                DefaultAllocator: Allocator<R, C>,
            {
                let (r, c) = $x.shape_generic();
                let mut g = Mat::zeros_generic(r, c);
                vjp_acc(&mut g, $ct, $x $(, $y)?);
                g
            }

            /// `x̄ += ȳ · ∂y/∂x`, in place.
            #[allow(unused_variables)]
            pub fn vjp_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, $ct: &T, $x: &Mat<T, R, C> $(, $y: &T)?)
            where
                DefaultAllocator: Allocator<R, C>,
            {
                $scale(acc)
            }
        }
    };
}

reduction!(
    /// `y = Σ xᵢ`: `x̄ᵢ += ȳ`.
    sum, |ct, x| |acc: &mut Mat<T, R, C>| acc.add_scalar_mut(*ct)
);
reduction!(
    /// `y = Σ xᵢ / n`: `x̄ᵢ += ȳ / n`.
    mean, |ct, x| |acc: &mut Mat<T, R, C>| acc.add_scalar_mut(*ct / <T as crate::Real>::from_f64(x.len() as f64))
);
reduction!(
    /// `y = ‖x‖`: `x̄ += ȳ x / y` (0 at `x = 0`, a subgradient).
    norm, |ct, x, y| |acc: &mut Mat<T, R, C>| if *y > T::ZERO { add_scaled(acc, *ct / *y, x) }
);
reduction!(
    /// `y = ‖x‖²`: `x̄ += 2 ȳ x`.
    norm_squared, |ct, x| |acc: &mut Mat<T, R, C>| add_scaled(acc, *ct * <T as crate::Real>::from_f64(2.0), x)
);

/// `y = M::from_element(.., x)`, every element `x`: `x̄ += Σ ȳ`.
pub mod from_element {
    use super::*;

    pub fn vjp<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, C>) -> T
    where
        DefaultAllocator: Allocator<R, C>,
    {
        ct.sum()
    }

    pub fn vjp_acc<T: Field, R: Dim, C: Dim>(acc: &mut T, ct: &Mat<T, R, C>)
    where
        DefaultAllocator: Allocator<R, C>,
    {
        *acc += ct.sum();
    }
}

/// `y = DVector::from_column_slice(x)` (or `DMatrix::from_column_slice(r, c, x)`,
/// `DVector::from_vec(x)`): the elements of `x` in column-major order, so
/// `x̄ += ȳ`'s elements in that order.
pub mod from_column_slice {
    use super::*;

    pub fn vjp<T: Field, R: Dim, C: Dim>(ct: &Mat<T, R, C>) -> Vec<T>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        ct.as_slice().to_vec()
    }

    pub fn vjp_acc<T: Field, R: Dim, C: Dim>(acc: &mut [T], ct: &Mat<T, R, C>)
    where
        DefaultAllocator: Allocator<R, C>,
    {
        acc.iter_mut().zip(ct.iter()).for_each(|(a, c)| *a += *c);
    }
}

/// `DVector::from_vec(x)`: as [`from_column_slice`].
pub mod from_vec {
    pub use super::from_column_slice::{vjp, vjp_acc};
}
