//! Element-wise unary rules: the scalar functions (`exp`, `sin`, ...) and the
//! activations, applied to a real or to every element of a matrix.
//!
//! A rule states its derivative `d` once, as a scalar function of the
//! operand it reads; [`Pointwise`] applies it to reals and matrices alike, so
//! rustc picks the element-wise loop or the scalar expression by type.

use nalgebra::allocator::Allocator;
use nalgebra::{DefaultAllocator, Dim};

use crate::field::{Field, Mat};
use crate::Real;

/// A real or a matrix of reals, seen element by element.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no element-wise rules",
    note = "element-wise functions apply to `f32`, `f64` and nalgebra matrices of them"
)]
pub trait Pointwise: Sized {
    type Elem: Real;
    /// `f` applied to every element.
    fn map_elems(&self, f: impl FnMut(Self::Elem) -> Self::Elem) -> Self;
    /// `f` applied to pairs of elements of `self` and `other` (same shape).
    fn zip_map_elems(&self, other: &Self, f: impl FnMut(Self::Elem, Self::Elem) -> Self::Elem) -> Self;
    /// `f` applied to every element, in place.
    fn apply_elems(&mut self, f: impl FnMut(&mut Self::Elem));
    /// `f(self_i, a_i)` for every element, in place.
    fn zip_apply_elems(&mut self, a: &Self, f: impl FnMut(&mut Self::Elem, Self::Elem));
    /// `f(self_i, a_i, b_i)` for every element, in place.
    fn zip_zip_apply_elems(&mut self, a: &Self, b: &Self, f: impl FnMut(&mut Self::Elem, Self::Elem, Self::Elem));
}

impl<T: Real> Pointwise for T {
    type Elem = T;
    #[inline(always)]
    fn map_elems(&self, mut f: impl FnMut(T) -> T) -> T {
        f(*self)
    }
    #[inline(always)]
    fn zip_map_elems(&self, other: &T, mut f: impl FnMut(T, T) -> T) -> T {
        f(*self, *other)
    }
    #[inline(always)]
    fn apply_elems(&mut self, mut f: impl FnMut(&mut T)) {
        f(self)
    }
    #[inline(always)]
    fn zip_apply_elems(&mut self, a: &T, mut f: impl FnMut(&mut T, T)) {
        f(self, *a)
    }
    #[inline(always)]
    fn zip_zip_apply_elems(&mut self, a: &T, b: &T, mut f: impl FnMut(&mut T, T, T)) {
        f(self, *a, *b)
    }
}

impl<T: Field, R: Dim, C: Dim> Pointwise for Mat<T, R, C>
where
    DefaultAllocator: Allocator<R, C>,
{
    type Elem = T;
    #[inline]
    fn map_elems(&self, f: impl FnMut(T) -> T) -> Self {
        self.map(f)
    }
    #[inline]
    fn zip_map_elems(&self, other: &Self, f: impl FnMut(T, T) -> T) -> Self {
        self.zip_map(other, f)
    }
    #[inline]
    fn apply_elems(&mut self, f: impl FnMut(&mut T)) {
        self.apply(f)
    }
    #[inline]
    fn zip_apply_elems(&mut self, a: &Self, f: impl FnMut(&mut T, T)) {
        self.zip_apply(a, f)
    }
    #[inline]
    fn zip_zip_apply_elems(&mut self, a: &Self, b: &Self, f: impl FnMut(&mut T, T, T)) {
        self.zip_zip_apply(a, b, f)
    }
}

/// A unary rule as data, for the rule checker.
#[doc(hidden)]
pub struct UnaryEntry {
    pub name: &'static str,
    pub value: fn(f64) -> f64,
    /// `dy/dx` at `x`, computed by the reverse rule with cotangent 1.
    pub deriv_at: fn(f64) -> f64,
    /// The same from the in-place reverse rule, on a vector (`vjp_owned`).
    pub deriv_owned_at: fn(f64) -> f64,
    /// `d²y/dx²` at `x`, computed from the rule's `deriv2`.
    pub deriv2_at: fn(f64) -> f64,
    /// The value and the forward rule's tangent for tangent 1 at `x`, in `f32`.
    pub jvp_f32: fn(f32) -> (f32, f32),
    /// Sample range, inside the domain and away from kinks.
    pub range: (f64, f64),
    /// Whether the second derivative is zero almost everywhere (locally linear).
    pub locally_linear: bool,
}

/// Declares unary rules.
///
/// `exp(x) -> y = x.exp(); d(y) = y, dd = 1;` declares the value, the
/// derivative `d` as a function of the operands it reads (`x`, `y` or none:
/// the reverse pass saves exactly those), and `dd`, the derivative of `d`
/// with respect to its operand, used by second-order code.
macro_rules! unary_rules {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident($x:ident) -> $y:ident = $value:expr;
            d($($s:ident)?) = $d:expr, dd = $dd:expr;
            on ($lo:expr, $hi:expr) $(, $linear:ident)?;
    )*) => {
        $(
            $(#[doc = $doc])*
            pub mod $name {
                #[allow(unused_imports)]
                use super::*;

                /// The primal value.
                #[inline(always)]
                pub fn value<T: Real>($x: T) -> T {
                    $value
                }

                /// The derivative, as a function of the operand the rule reads.
                #[inline(always)]
                pub fn deriv<T: Real>($($s: T)?) -> T {
                    $d
                }

                /// The derivative of [`deriv`] with respect to its operand.
                #[inline(always)]
                #[allow(unused_variables)]
                pub fn deriv2<T: Real>($($s: T)?) -> T {
                    $dd
                }

                /// Forward rule: the output's tangent `deriv · dx`, element-wise.
                #[inline(always)]
                pub fn jvp<P: $crate::rules::pointwise::Pointwise>(dx: &P $(, $s: &P)?) -> P {
                    unary_rules!(@vjp dx $(, $s)?)
                }

                /// Reverse rule: the input's cotangent `ct · deriv`, element-wise
                /// (the Jacobian is diagonal: the forward rule transposed is itself).
                #[inline(always)]
                pub fn vjp<P: $crate::rules::pointwise::Pointwise>(ct: &P $(, $s: &P)?) -> P {
                    unary_rules!(@vjp ct $(, $s)?)
                }

                /// Reverse rule, added into an adjoint in place.
                #[inline(always)]
                pub fn vjp_acc<P: $crate::rules::pointwise::Pointwise>(acc: &mut P, ct: &P $(, $s: &P)?) {
                    unary_rules!(@vjp_acc acc, ct $(, $s)?)
                }

                /// Reverse rule in the cotangent's storage, where nothing reads
                /// it after (no allocation for a matrix).
                #[inline(always)]
                pub fn vjp_owned<P: $crate::rules::pointwise::Pointwise>(mut ct: P $(, $s: &P)?) -> P {
                    unary_rules!(@vjp_owned ct $(, $s)?);
                    ct
                }

                $(
                /// Second-order rule: the reverse rule's derivative along the
                /// read operand's tangent, `ct · deriv2 · ds`, element-wise.
                #[inline(always)]
                pub fn vjp_dot<P: $crate::rules::pointwise::Pointwise>(ct: &P, $s: &P, ds: &P) -> P {
                    let mut out = $s.zip_map_elems(ds, |s, d| deriv2(s) * d);
                    out.zip_apply_elems(ct, |o, c| *o *= c);
                    out
                }
                )?
            }
        )*

        /// Every rule of this file, for the checker.
        #[doc(hidden)]
        pub fn unary_table() -> Vec<UnaryEntry> {
            vec![$(UnaryEntry {
                name: stringify!($name),
                value: $name::value::<f64>,
                deriv_at: |$x: f64| {
                    #[allow(unused_variables)]
                    let $y = $name::value($x);
                    $name::vjp(&1.0 $(, &$s)?)
                },
                deriv_owned_at: |$x: f64| {
                    #[allow(unused_variables)]
                    let $y = $name::value($x);
                    $(let $s = nalgebra::DVector::from_element(2, $s);)?
                    $name::vjp_owned(nalgebra::DVector::from_element(2, 1.0) $(, &$s)?)[1]
                },
                deriv2_at: |$x: f64| {
                    #[allow(unused_variables)]
                    let $y = $name::value($x);
                    // Chain rule through the read operand s: d/dx deriv(s(x)) = deriv2(s) · ds/dx.
                    $name::deriv2::<f64>($($s)?) * unary_rules!(@ds_dx $name $($s)?)
                },
                jvp_f32: |$x: f32| {
                    #[allow(unused_variables)]
                    let $y = $name::value($x);
                    ($y, $name::jvp(&1.0 $(, &$s)?))
                },
                range: ($lo, $hi),
                locally_linear: unary_rules!(@linear $($linear)?),
            }),*]
        }
    };
    (@vjp $ct:ident, $s:ident) => { $ct.zip_map_elems($s, |c, s| c * deriv(s)) };
    (@vjp $ct:ident) => { $ct.map_elems(|c| c * deriv()) };
    (@vjp_acc $acc:ident, $ct:ident, $s:ident) => { $acc.zip_zip_apply_elems($ct, $s, |a, c, s| *a += c * deriv(s)) };
    (@vjp_acc $acc:ident, $ct:ident) => { $acc.zip_apply_elems($ct, |a, c| *a += c * deriv()) };
    (@vjp_owned $ct:ident, $s:ident) => { $ct.zip_apply_elems($s, |c, s| *c *= deriv(s)) };
    (@vjp_owned $ct:ident) => { $ct.apply_elems(|c| *c *= deriv()) };
    (@ds_dx $name:ident x) => { 1.0 };
    (@ds_dx $name:ident $y:ident) => { $name::deriv($y) };
    (@ds_dx $name:ident) => { 0.0 };
    (@linear) => { false };
    (@linear locally_linear) => { true };
}

pub(crate) use unary_rules;
