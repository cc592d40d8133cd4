//! [`Real`]: the scalar types that rules are generic over (`f32`, `f64`).
//!
//! Every scalar rule is written once against this trait; rustc picks the
//! `f32` or `f64` instance, so generated code never names a float type.

use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::tangent::{Accumulate, Axpy, Cotangent, NonZero, Tangent};

/// Declares `Real` with the inherent float methods named once, then implements
/// it for `f32` and `f64` by forwarding to those methods.
macro_rules! real_trait {
    ($($name:ident($($arg:ident),*)),* $(,)?) => {
        /// A real scalar: `f32` or `f64`.
        #[diagnostic::on_unimplemented(
            message = "`{Self}` is not a real scalar",
            note = "this rule applies to `f32` and `f64` only; for a function applied to every element of a matrix, write `m.map(f64::exp)` (`m.exp()` of a square matrix is nalgebra's matrix exponential, which has no rule)"
        )]
        ///
        /// The methods mirror the inherent float methods of `std`, so a rule
        /// written as `x.sin()` reads the same for both widths and for generic
        /// user code bounded by `T: Real`.
        pub trait Real:
            Copy + Debug + Display + Default + PartialEq + PartialOrd
            + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self>
            + Div<Output = Self> + Neg<Output = Self>
            + AddAssign + SubAssign + MulAssign + DivAssign
            + Send + Sync + 'static
            + Tangent + Cotangent<Adjoint = Self> + Accumulate<Self> + NonZero + Axpy<Self>
        {
            const ZERO: Self;
            const ONE: Self;
            /// Machine epsilon of the type.
            const EPSILON: Self;
            const LN_2: Self;
            const LN_10: Self;
            const NEG_INFINITY: Self;

            /// The nearest value of this type (an `as` conversion).
            fn from_f64(x: f64) -> Self;
            /// Widening (or identity) conversion to `f64`.
            fn to_f64(self) -> f64;
            /// `x^n` for an integer `n`.
            fn powi(self, n: i32) -> Self;
            /// Neither infinite nor NaN.
            fn is_finite_value(self) -> bool;
            $(fn $name(self $(, $arg: Self)*) -> Self;)*
        }

        real_trait!(@impl f32; $($name($($arg),*)),*);
        real_trait!(@impl f64; $($name($($arg),*)),*);
    };
    (@impl $t:ident; $($name:ident($($arg:ident),*)),*) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = $t::EPSILON;
            const LN_2: Self = core::$t::consts::LN_2;
            const LN_10: Self = core::$t::consts::LN_10;
            const NEG_INFINITY: Self = $t::NEG_INFINITY;

            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                $t::powi(self, n)
            }
            #[inline(always)]
            fn is_finite_value(self) -> bool {
                $t::is_finite(self)
            }
            $(
                #[inline(always)]
                fn $name(self $(, $arg: Self)*) -> Self {
                    $t::$name(self $(, $arg)*)
                }
            )*
        }
    };
}

real_trait!(
    exp(),
    exp2(),
    ln(),
    log2(),
    log10(),
    ln_1p(),
    exp_m1(),
    sqrt(),
    cbrt(),
    powf(p),
    sin(),
    cos(),
    tan(),
    asin(),
    acos(),
    atan(),
    atan2(other),
    sinh(),
    cosh(),
    tanh(),
    abs(),
    signum(),
    max(other),
    min(other),
    hypot(other),
    recip(),
    mul_add(a, b),
    floor(),
    ceil(),
    round(),
    trunc(),
);
