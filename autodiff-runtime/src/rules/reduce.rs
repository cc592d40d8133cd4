//! Reductions of nalgebra matrices to a real: `sum`, `mean`, `norm`,
//! `norm_squared`. Their reverse rules read the input for its shape (and,
//! for the norms, its values).

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim};

use crate::field::{add_scaled, Field, Mat};

macro_rules! reduction {
    ($(#[doc = $doc:literal])* $name:ident, |$ct:ident, $x:ident $(, $y:ident)?| $scale:expr, |$dx:ident| $tangent:expr $(; $($extra:item)*)?) => {
        $(#[doc = $doc])*
        pub mod $name {
            use super::*;
            $($($extra)*)?

            /// Forward rule: `ẏ = ∂y/∂x · dx`.
            #[allow(unused_variables)]
            pub fn jvp<T: Field, R: Dim, C: Dim>($dx: &Mat<T, R, C>, $x: &Mat<T, R, C> $(, $y: &T)?) -> T
            where
                DefaultAllocator: Allocator<R, C>,
            {
                $tangent
            }

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
    sum, |ct, x| |acc: &mut Mat<T, R, C>| acc.add_scalar_mut(*ct),
    |dx| dx.sum()
);
reduction!(
    /// `y = Σ xᵢ / n`: `x̄ᵢ += ȳ / n`.
    mean, |ct, x| |acc: &mut Mat<T, R, C>| acc.add_scalar_mut(*ct / <T as crate::Real>::from_f64(x.len() as f64)),
    |dx| dx.mean()
);
reduction!(
    /// `y = ‖x‖`: `x̄ += ȳ x / y` (0 at `x = 0`, a subgradient).
    norm, |ct, x, y| |acc: &mut Mat<T, R, C>| if *y > T::ZERO { add_scaled(acc, *ct / *y, x) },
    |dx| if *y > T::ZERO { x.dot(dx) / *y } else { T::ZERO };
    /// Second-order rule of `vjp` along the output's tangent: `-ct x dy / y²`
    /// (it is linear in `x`, whose term is `vjp` itself).
    pub fn vjp_dy<T: Field, R: Dim, C: Dim>(ct: &T, x: &Mat<T, R, C>, y: &T, dy: &T) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        if *y > T::ZERO {
            x * (-*ct * *dy / (*y * *y))
        } else {
            x * T::ZERO
        }
    }
);
reduction!(
    /// `y = ‖x‖²`: `x̄ += 2 ȳ x`.
    norm_squared, |ct, x| |acc: &mut Mat<T, R, C>| add_scaled(acc, *ct * <T as crate::Real>::from_f64(2.0), x),
    |dx| <T as crate::Real>::from_f64(2.0) * x.dot(dx)
);

/// `y = M::from_element(.., x)`, every element `x`: `x̄ += Σ ȳ`.
pub mod from_element {
    use super::*;

    /// Forward rule: `dx` in every element, shaped like the output `y`.
    pub fn jvp<T: Field, R: Dim, C: Dim>(dx: &T, y: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        y.map(|_| *dx)
    }

    /// [`jvp`], added into the tangent in place: it needs no output to shape it.
    pub fn jvp_acc<T: Field, R: Dim, C: Dim>(acc: &mut Mat<T, R, C>, dx: &T)
    where
        DefaultAllocator: Allocator<R, C>,
    {
        acc.add_scalar_mut(*dx);
    }

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

    /// Forward rule: the tangent's elements in the output's shape.
    pub fn jvp<T: Field, R: Dim, C: Dim>(dx: &[T], y: &Mat<T, R, C>) -> Mat<T, R, C>
    where
        DefaultAllocator: Allocator<R, C>,
    {
        let (r, c) = y.shape_generic();
        Mat::from_iterator_generic(r, c, dx.iter().copied())
    }

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
    pub use super::from_column_slice::{jvp, vjp, vjp_acc};
}
