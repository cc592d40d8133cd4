//! Scalar rules: one module per primitive, each with its value, forward rule
//! (`jvp`) and reverse rule (`vjp_*`) side by side.
//!
//! Generated code calls these through `::autodiff::__private::rules::NAME`; the
//! macro's rule table (`autodiff-macros/src/rules.rs`) names which module a
//! method maps to and which operands each reverse rule reads, which must match
//! the signatures declared here. Every rule is checked against central finite
//! differences by the tests at the bottom of this file.
//!
//! Unary rules state their derivative `d` as a function of one *saved*
//! operand, the input `x` or the output `y`, whichever is cheaper to keep
//! (`exp` keeps `y`, `sin` keeps `x`), and `dd`, the derivative of `d` with
//! respect to that operand, which second-order code needs.

use super::pointwise::unary_rules;
pub use super::pointwise::UnaryEntry;
use crate::Real;

/// A binary rule as data, for the rule checker.
#[doc(hidden)]
pub struct BinaryEntry {
    pub name: &'static str,
    pub value: fn(f64, f64) -> f64,
    /// `(∂y/∂a, ∂y/∂b)` by the reverse rules with cotangent 1.
    pub partials_at: fn(f64, f64) -> (f64, f64),
    /// The forward rule's tangent for tangents `(da, db)`.
    pub jvp_at: fn(f64, f64, f64, f64) -> f64,
    pub range_a: (f64, f64),
    pub range_b: (f64, f64),
}

/// Declares binary rules.
///
/// `mul(a, b) -> y = a * b; d_a(b) = b, d_b(a) = a;` declares the value and
/// each partial derivative as a function of the operands it reads (any of `a`,
/// `b`, `y`): `vjp_a(ct, b) = ct · b` is the reverse rule for `a`.
macro_rules! binary_rules {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident($a:ident, $b:ident) -> $y:ident = $value:expr;
            d_a($($ra:ident),*) = $da:expr, d_b($($rb:ident),*) = $db:expr;
            on ($alo:expr, $ahi:expr), ($blo:expr, $bhi:expr);
            $(=> { $($second:item)* })?
    )*) => {
        $(
            $(#[doc = $doc])*
            pub mod $name {
                #[allow(unused_imports)]
                use super::*;

                $($($second)*)?

                /// The primal value.
                #[inline(always)]
                pub fn value<T: Real>($a: T, $b: T) -> T {
                    $value
                }

                /// `∂y/∂a` as a function of the operands it reads.
                #[inline(always)]
                pub fn partial_a<T: Real>($($ra: T),*) -> T {
                    $da
                }

                /// `∂y/∂b` as a function of the operands it reads.
                #[inline(always)]
                pub fn partial_b<T: Real>($($rb: T),*) -> T {
                    $db
                }

                /// Forward rule for `a`: its share `∂y/∂a · da` of the output's tangent.
                #[inline(always)]
                pub fn jvp_a<T: Real>(da: &T $(, $ra: &T)*) -> T {
                    *da * partial_a($(*$ra),*)
                }

                /// Forward rule for `b`: its share `∂y/∂b · db` of the output's tangent.
                #[inline(always)]
                pub fn jvp_b<T: Real>(db: &T $(, $rb: &T)*) -> T {
                    *db * partial_b($(*$rb),*)
                }

                /// Reverse rule for `a`: `ct · ∂y/∂a`.
                #[inline(always)]
                pub fn vjp_a<T: Real>(ct: &T $(, $ra: &T)*) -> T {
                    *ct * partial_a($(*$ra),*)
                }

                /// Reverse rule for `b`: `ct · ∂y/∂b`.
                #[inline(always)]
                pub fn vjp_b<T: Real>(ct: &T $(, $rb: &T)*) -> T {
                    *ct * partial_b($(*$rb),*)
                }

                /// [`vjp_a`], added into an adjoint.
                #[inline(always)]
                pub fn vjp_a_acc<T: Real>(acc: &mut T, ct: &T $(, $ra: &T)*) {
                    *acc += vjp_a(ct $(, $ra)*);
                }

                /// [`vjp_b`], added into an adjoint.
                #[inline(always)]
                pub fn vjp_b_acc<T: Real>(acc: &mut T, ct: &T $(, $rb: &T)*) {
                    *acc += vjp_b(ct $(, $rb)*);
                }
            }
        )*

        /// Every binary rule, for the checker.
        #[doc(hidden)]
        pub fn binary_table() -> Vec<BinaryEntry> {
            vec![$(BinaryEntry {
                name: stringify!($name),
                value: $name::value::<f64>,
                partials_at: |$a: f64, $b: f64| {
                    #[allow(unused_variables)]
                    let $y = $name::value($a, $b);
                    ($name::vjp_a(&1.0 $(, &$ra)*), $name::vjp_b(&1.0 $(, &$rb)*))
                },
                jvp_at: |$a: f64, $b: f64, da: f64, db: f64| {
                    #[allow(unused_variables)]
                    let $y = $name::value($a, $b);
                    $name::jvp_a(&da $(, &$ra)*) + $name::jvp_b(&db $(, &$rb)*)
                },
                range_a: ($alo, $ahi),
                range_b: ($blo, $bhi),
            }),*]
        }
    };
}

#[inline(always)]
fn c<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

/// `1` for positive, `-1` for negative, `0` at zero: the derivative of `abs`,
/// with the subgradient 0 at the kink (as JAX).
#[inline(always)]
fn sign0<T: Real>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        T::ZERO
    }
}

unary_rules! {
    /// `y = eˣ`, `dy/dx = y`.
    exp(x) -> y = x.exp(); d(y) = y, dd = T::ONE; on (-3.0, 3.0);
    /// `y = 2ˣ`, `dy/dx = y ln 2`.
    exp2(x) -> y = x.exp2(); d(y) = y * T::LN_2, dd = T::LN_2; on (-3.0, 3.0);
    /// `y = eˣ - 1` (accurate near 0), `dy/dx = y + 1`.
    exp_m1(x) -> y = x.exp_m1(); d(y) = y + T::ONE, dd = T::ONE; on (-3.0, 3.0);
    /// `y = ln x`, `dy/dx = 1/x`.
    ln(x) -> y = x.ln(); d(x) = x.recip(), dd = -(x * x).recip(); on (0.1, 5.0);
    /// `y = log₂ x`, `dy/dx = 1/(x ln 2)`.
    log2(x) -> y = x.log2(); d(x) = (x * T::LN_2).recip(), dd = -(x * x * T::LN_2).recip(); on (0.1, 5.0);
    /// `y = log₁₀ x`, `dy/dx = 1/(x ln 10)`.
    log10(x) -> y = x.log10(); d(x) = (x * T::LN_10).recip(), dd = -(x * x * T::LN_10).recip(); on (0.1, 5.0);
    /// `y = ln(1 + x)` (accurate near 0), `dy/dx = 1/(1 + x)`.
    ln_1p(x) -> y = x.ln_1p(); d(x) = (T::ONE + x).recip(), dd = -((T::ONE + x) * (T::ONE + x)).recip(); on (-0.9, 5.0);
    /// `y = √x`, `dy/dx = 1/(2y)`.
    sqrt(x) -> y = x.sqrt(); d(y) = c::<T>(0.5) / y, dd = c::<T>(-0.5) / (y * y); on (0.1, 5.0);
    /// `y = ∛x`, `dy/dx = 1/(3y²)`.
    cbrt(x) -> y = x.cbrt(); d(y) = (c::<T>(3.0) * y * y).recip(), dd = c::<T>(-2.0 / 3.0) / (y * y * y); on (0.1, 5.0);
    /// `y = 1/x`, `dy/dx = -y²`.
    recip(x) -> y = x.recip(); d(y) = -(y * y), dd = c::<T>(-2.0) * y; on (0.2, 5.0);
    /// `y = sin x`, `dy/dx = cos x`.
    sin(x) -> y = x.sin(); d(x) = x.cos(), dd = -x.sin(); on (-3.0, 3.0);
    /// `y = cos x`, `dy/dx = -sin x`.
    cos(x) -> y = x.cos(); d(x) = -x.sin(), dd = -x.cos(); on (-3.0, 3.0);
    /// `y = tan x`, `dy/dx = 1 + y²`.
    tan(x) -> y = x.tan(); d(y) = T::ONE + y * y, dd = c::<T>(2.0) * y; on (-1.4, 1.4);
    /// `y = asin x`, `dy/dx = 1/√(1 - x²)`.
    asin(x) -> y = x.asin(); d(x) = (T::ONE - x * x).sqrt().recip(),
        dd = x / ((T::ONE - x * x) * (T::ONE - x * x).sqrt()); on (-0.9, 0.9);
    /// `y = acos x`, `dy/dx = -1/√(1 - x²)`.
    acos(x) -> y = x.acos(); d(x) = -(T::ONE - x * x).sqrt().recip(),
        dd = -x / ((T::ONE - x * x) * (T::ONE - x * x).sqrt()); on (-0.9, 0.9);
    /// `y = atan x`, `dy/dx = 1/(1 + x²)`.
    atan(x) -> y = x.atan(); d(x) = (T::ONE + x * x).recip(),
        dd = c::<T>(-2.0) * x / ((T::ONE + x * x) * (T::ONE + x * x)); on (-3.0, 3.0);
    /// `y = sinh x`, `dy/dx = cosh x`.
    sinh(x) -> y = x.sinh(); d(x) = x.cosh(), dd = x.sinh(); on (-3.0, 3.0);
    /// `y = cosh x`, `dy/dx = sinh x`.
    cosh(x) -> y = x.cosh(); d(x) = x.sinh(), dd = x.cosh(); on (-3.0, 3.0);
    /// `y = tanh x`, `dy/dx = 1 - y²`.
    tanh(x) -> y = x.tanh(); d(y) = T::ONE - y * y, dd = c::<T>(-2.0) * y; on (-3.0, 3.0);
    /// `y = |x|`, `dy/dx = sign x` (0 at 0). Locally linear: `d²y/dx² = 0` almost everywhere.
    abs(x) -> y = x.abs(); d(x) = sign0(x), dd = T::ZERO; on (-3.0, 3.0), locally_linear;
}

binary_rules! {
    /// `y = aᵇ`, `∂y/∂a = b aᵇ⁻¹`, `∂y/∂b = y ln a`.
    powf(a, b) -> y = a.powf(b); d_a(a, b) = b * a.powf(b - T::ONE), d_b(a, y) = y * a.ln();
        on (0.2, 3.0), (-2.0, 2.0);
        => {
            /// Second-order rules: `vjp_a(ct, a, b) = ct b aᵇ⁻¹` along `da`, along `db`.
            pub fn vjp_a_da<T: Real>(ct: &T, a: &T, b: &T, da: &T) -> T {
                *ct * *b * (*b - T::ONE) * a.powf(*b - c::<T>(2.0)) * *da
            }
            pub fn vjp_a_db<T: Real>(ct: &T, a: &T, b: &T, db: &T) -> T {
                *ct * a.powf(*b - T::ONE) * (T::ONE + *b * a.ln()) * *db
            }
            /// `vjp_b(ct, a, y) = ct y ln a` along `da` (y held) and along `dy`.
            pub fn vjp_b_da<T: Real>(ct: &T, a: &T, y: &T, da: &T) -> T {
                *ct * *y / *a * *da
            }
            pub fn vjp_b_dy<T: Real>(ct: &T, a: &T, _y: &T, dy: &T) -> T {
                *ct * a.ln() * *dy
            }
        }
    /// `y = atan2(a, b)`, the angle of the point `(b, a)`: `∂y/∂a = b/(a² + b²)`, `∂y/∂b = -a/(a² + b²)`.
    atan2(a, b) -> y = a.atan2(b); d_a(a, b) = b / (a * a + b * b), d_b(a, b) = -a / (a * a + b * b);
        on (-3.0, 3.0), (0.3, 3.0);
        => {
            /// Second-order rules, with `r² = a² + b²`: `∂(b/r²)/∂a = -2ab/r⁴`,
            /// `∂(b/r²)/∂b = (a² - b²)/r⁴`, `∂(-a/r²)/∂a = (a² - b²)/r⁴`, `∂(-a/r²)/∂b = 2ab/r⁴`.
            pub fn vjp_a_da<T: Real>(ct: &T, a: &T, b: &T, da: &T) -> T {
                let r2 = *a * *a + *b * *b;
                *ct * c::<T>(-2.0) * *a * *b / (r2 * r2) * *da
            }
            pub fn vjp_a_db<T: Real>(ct: &T, a: &T, b: &T, db: &T) -> T {
                let r2 = *a * *a + *b * *b;
                *ct * (*a * *a - *b * *b) / (r2 * r2) * *db
            }
            pub fn vjp_b_da<T: Real>(ct: &T, a: &T, b: &T, da: &T) -> T {
                vjp_a_db(ct, a, b, da)
            }
            pub fn vjp_b_db<T: Real>(ct: &T, a: &T, b: &T, db: &T) -> T {
                let r2 = *a * *a + *b * *b;
                *ct * c::<T>(2.0) * *a * *b / (r2 * r2) * *db
            }
        }
    /// `y = √(a² + b²)`, `∂y/∂a = a/y`.
    hypot(a, b) -> y = a.hypot(b); d_a(a, y) = a / y, d_b(b, y) = b / y; on (0.3, 3.0), (-3.0, 3.0);
        => {
            /// Second-order rules: `ct a / y` along `da` (y held) and along `dy`.
            pub fn vjp_a_da<T: Real>(ct: &T, _a: &T, y: &T, da: &T) -> T {
                *ct / *y * *da
            }
            pub fn vjp_a_dy<T: Real>(ct: &T, a: &T, y: &T, dy: &T) -> T {
                -*ct * *a / (*y * *y) * *dy
            }
            pub use self::{vjp_a_da as vjp_b_db, vjp_a_dy as vjp_b_dy};
        }
    /// `y = max(a, b)`; the derivative goes to `a` on ties. Locally linear.
    max(a, b) -> y = a.max(b); d_a(a, b) = pick(a >= b), d_b(a, b) = pick(a < b);
        on (-3.0, 3.0), (-3.0, 3.0);
    /// `y = min(a, b)`; the derivative goes to `a` on ties. Locally linear.
    min(a, b) -> y = a.min(b); d_a(a, b) = pick(a <= b), d_b(a, b) = pick(a > b);
        on (-3.0, 3.0), (-3.0, 3.0);
}

/// `eˣ` of a real only. Generated code calls this for `x.exp()`: on a square
/// nalgebra matrix, `exp` is the matrix exponential, whose rule is not the
/// element-wise one, so a matrix is refused here at compile time.
pub mod exp_of_real {
    use crate::Real;

    /// Forward rule: `dx · y`.
    #[inline(always)]
    pub fn jvp<T: Real>(dx: &T, y: &T) -> T {
        super::exp::jvp(dx, y)
    }

    /// Reverse rule: `ct · y`.
    #[inline(always)]
    pub fn vjp<T: Real>(ct: &T, y: &T) -> T {
        super::exp::vjp(ct, y)
    }

    /// [`vjp`], added into an adjoint.
    #[inline(always)]
    pub fn vjp_acc<T: Real>(acc: &mut T, ct: &T, y: &T) {
        super::exp::vjp_acc(acc, ct, y)
    }

    /// [`vjp`], taking the cotangent.
    #[inline(always)]
    pub fn vjp_owned<T: Real>(ct: T, y: &T) -> T {
        super::exp::vjp_owned(ct, y)
    }

    /// Second-order rule: `ct · dy`.
    #[inline(always)]
    pub fn vjp_dot<T: Real>(ct: &T, y: &T, dy: &T) -> T {
        super::exp::vjp_dot(ct, y, dy)
    }
}

/// `1` where the condition holds, else `0`: the derivative of a selection.
#[inline(always)]
fn pick<T: Real>(taken: bool) -> T {
    if taken {
        T::ONE
    } else {
        T::ZERO
    }
}

/// `y = xⁿ` for an integer `n` (not differentiated): `dy/dx = n xⁿ⁻¹`.
pub mod powi {
    use crate::Real;

    /// The primal value.
    #[inline(always)]
    pub fn value<T: Real>(x: T, n: i32) -> T {
        x.powi(n)
    }

    /// `dy/dx = n xⁿ⁻¹`.
    #[inline(always)]
    pub fn deriv<T: Real>(x: T, n: i32) -> T {
        match n {
            0 => T::ZERO,
            _ => T::from_f64(f64::from(n)) * x.powi(n - 1),
        }
    }

    /// Forward rule for `x`: `n xⁿ⁻¹ dx`.
    #[inline(always)]
    pub fn jvp_a<T: Real>(dx: &T, x: &T, n: &i32) -> T {
        *dx * deriv(*x, *n)
    }

    /// Reverse rule for `x`: `ct · n xⁿ⁻¹`.
    #[inline(always)]
    pub fn vjp_a<T: Real>(ct: &T, x: &T, n: &i32) -> T {
        *ct * deriv(*x, *n)
    }

    /// [`vjp_a`], added into an adjoint.
    #[inline(always)]
    pub fn vjp_a_acc<T: Real>(acc: &mut T, ct: &T, x: &T, n: &i32) {
        *acc += vjp_a(ct, x, n);
    }

    /// Second-order rule: `ct · n (n - 1) xⁿ⁻² · dx`.
    #[inline(always)]
    pub fn vjp_a_dot<T: Real>(ct: &T, x: &T, n: &i32, dx: &T) -> T {
        let n2 = match *n {
            0 | 1 => T::ZERO,
            n => T::from_f64(f64::from(n) * f64::from(n - 1)) * x.powi(n - 2),
        };
        *ct * n2 * *dx
    }
}

/// `y = a · b + c` with one rounding: `∂y/∂a = b`, `∂y/∂b = a`, `∂y/∂c = 1`.
pub mod mul_add {
    use crate::Real;

    /// The primal value.
    #[inline(always)]
    pub fn value<T: Real>(a: T, b: T, c: T) -> T {
        a.mul_add(b, c)
    }

    /// Forward rules: `b da`, `a db` and `dc`, the shares of the output's
    /// tangent (each is its reverse rule: the partials are scalars).
    pub use self::{vjp_a as jvp_a, vjp_b as jvp_b, vjp_c as jvp_c};

    /// Reverse rule for `a`: `ct · b`.
    #[inline(always)]
    pub fn vjp_a<T: Real>(ct: &T, b: &T) -> T {
        *ct * *b
    }

    /// Reverse rule for `b`: `ct · a`.
    #[inline(always)]
    pub fn vjp_b<T: Real>(ct: &T, a: &T) -> T {
        *ct * *a
    }

    /// Reverse rule for `c`: `ct`.
    #[inline(always)]
    pub fn vjp_c<T: Real>(ct: &T) -> T {
        *ct
    }

    /// [`vjp_a`], added into an adjoint.
    #[inline(always)]
    pub fn vjp_a_acc<T: Real>(acc: &mut T, ct: &T, b: &T) {
        *acc += *ct * *b;
    }

    /// [`vjp_b`], added into an adjoint.
    #[inline(always)]
    pub fn vjp_b_acc<T: Real>(acc: &mut T, ct: &T, a: &T) {
        *acc += *ct * *a;
    }

    /// [`vjp_c`], added into an adjoint.
    #[inline(always)]
    pub fn vjp_c_acc<T: Real>(acc: &mut T, ct: &T) {
        *acc += *ct;
    }
}

/// Declares piecewise-constant functions: their derivative is zero wherever
/// it exists, so the macro emits no reverse code for them at all.
macro_rules! piecewise_constant {
    ($($(#[doc = $doc:literal])* $name:ident;)*) => {
        $(
            $(#[doc = $doc])*
            pub mod $name {
                use crate::Real;

                /// The primal value.
                #[inline(always)]
                pub fn value<T: Real>(x: T) -> T {
                    x.$name()
                }

                /// Forward rule: a zero tangent (the macro emits nothing for it).
                #[inline(always)]
                pub fn jvp<T: Real>(_dx: &T) -> T {
                    T::ZERO
                }
            }
        )*
    };
}

piecewise_constant! {
    /// `⌊x⌋`; derivative zero almost everywhere.
    floor;
    /// `⌈x⌉`; derivative zero almost everywhere.
    ceil;
    /// `x` rounded half away from zero; derivative zero almost everywhere.
    round;
    /// `x` rounded toward zero; derivative zero almost everywhere.
    trunc;
    /// `sign x` (`±1`, as `f64::signum`); derivative zero almost everywhere.
    signum;
}

#[cfg(test)]
pub(crate) mod tests {
    //! Every rule against central finite differences, at points spread over
    //! its sample range.

    use super::*;

    /// Central difference with a step balancing truncation and rounding.
    pub(crate) fn diff(f: impl Fn(f64) -> f64, x: f64) -> f64 {
        let h = f64::EPSILON.cbrt() * x.abs().max(1.0);
        (f(x + h) - f(x - h)) / (2.0 * h)
    }

    /// `a` and `b` agree to `tol`, relative to the larger (or to 1).
    pub(crate) fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
    }

    /// Points spread over a range; the phase keeps them off the kink at 0
    /// and, with different phases for `a` and `b`, off ties `a == b`.
    fn points_with_phase((lo, hi): (f64, f64), phase: f64) -> impl Iterator<Item = f64> {
        (0..7).map(move |k| lo + (hi - lo) * (0.05 + 0.9 * (k as f64 + phase) / 7.0))
    }

    fn points(range: (f64, f64)) -> impl Iterator<Item = f64> {
        points_with_phase(range, 0.37)
    }

    #[test]
    fn unary_first_and_second_derivatives_match_finite_differences() {
        let table = unary_table();
        assert!(table.len() >= 20);
        for rule in table {
            for x in points(rule.range) {
                let (d, fd) = ((rule.deriv_at)(x), diff(rule.value, x));
                assert!(close(d, fd, 1e-7), "{}'({x}) = {d}, finite difference {fd}", rule.name);
                assert_eq!((rule.deriv_owned_at)(x), d, "{} in place", rule.name);
                let (d2, fd2) = ((rule.deriv2_at)(x), diff(rule.deriv_at, x));
                assert!(
                    close(d2, fd2, 1e-6),
                    "{}''({x}) = {d2}, finite difference {fd2}",
                    rule.name
                );
                if rule.locally_linear {
                    assert_eq!(d2, 0.0, "{} is declared locally linear", rule.name);
                }
                let (y32, dy32) = (rule.jvp_f32)(x as f32);
                assert!(close(y32 as f64, (rule.value)(x), 1e-5), "{} value in f32", rule.name);
                assert!(close(dy32 as f64, d, 1e-4), "{} jvp in f32", rule.name);
            }
        }
    }

    #[test]
    fn binary_partials_match_finite_differences() {
        let table = binary_table();
        assert!(table.len() >= 5);
        for rule in table {
            for a in points(rule.range_a) {
                for b in points_with_phase(rule.range_b, 0.81) {
                    let (da, db) = (rule.partials_at)(a, b);
                    let fda = diff(|a| (rule.value)(a, b), a);
                    let fdb = diff(|b| (rule.value)(a, b), b);
                    assert!(close(da, fda, 1e-7), "∂{}/∂a at ({a}, {b}) = {da}, fd {fda}", rule.name);
                    assert!(close(db, fdb, 1e-7), "∂{}/∂b at ({a}, {b}) = {db}, fd {fdb}", rule.name);
                    let tangent = (rule.jvp_at)(a, b, 0.3, -0.7);
                    assert!(close(tangent, 0.3 * da - 0.7 * db, 1e-12), "{} jvp", rule.name);
                }
            }
        }
    }

    /// The second-order rules of `powf`, `atan2` and `hypot`: each is the
    /// derivative of a reverse rule with respect to one operand it reads,
    /// the others held.
    #[test]
    fn binary_second_order_rules_match_finite_differences() {
        let ct = 0.7;
        for (a, b) in [(0.8, 1.3), (1.7, -0.6)] {
            let y = powf::value(a, b);
            let d = 0.3;
            let fd = |f: &dyn Fn(f64) -> f64, x: f64| diff(f, x) * d;
            assert!(close(
                powf::vjp_a_da(&ct, &a, &b, &d),
                fd(&|a| powf::vjp_a(&ct, &a, &b), a),
                1e-7
            ));
            assert!(close(
                powf::vjp_a_db(&ct, &a, &b, &d),
                fd(&|b| powf::vjp_a(&ct, &a, &b), b),
                1e-7
            ));
            assert!(close(
                powf::vjp_b_da(&ct, &a, &y, &d),
                fd(&|a| powf::vjp_b(&ct, &a, &y), a),
                1e-7
            ));
            assert!(close(
                powf::vjp_b_dy(&ct, &a, &y, &d),
                fd(&|y| powf::vjp_b(&ct, &a, &y), y),
                1e-7
            ));
            assert!(close(
                atan2::vjp_a_da(&ct, &a, &b, &d),
                fd(&|a| atan2::vjp_a(&ct, &a, &b), a),
                1e-7
            ));
            assert!(close(
                atan2::vjp_a_db(&ct, &a, &b, &d),
                fd(&|b| atan2::vjp_a(&ct, &a, &b), b),
                1e-7
            ));
            assert!(close(
                atan2::vjp_b_da(&ct, &a, &b, &d),
                fd(&|a| atan2::vjp_b(&ct, &a, &b), a),
                1e-7
            ));
            assert!(close(
                atan2::vjp_b_db(&ct, &a, &b, &d),
                fd(&|b| atan2::vjp_b(&ct, &a, &b), b),
                1e-7
            ));
            let h = hypot::value(a, b);
            assert!(close(
                hypot::vjp_a_da(&ct, &a, &h, &d),
                fd(&|a| hypot::vjp_a(&ct, &a, &h), a),
                1e-7
            ));
            assert!(close(
                hypot::vjp_a_dy(&ct, &a, &h, &d),
                fd(&|y| hypot::vjp_a(&ct, &a, &y), h),
                1e-7
            ));
            assert!(close(
                hypot::vjp_b_db(&ct, &b, &h, &d),
                fd(&|b| hypot::vjp_b(&ct, &b, &h), b),
                1e-7
            ));
            assert!(close(
                hypot::vjp_b_dy(&ct, &b, &h, &d),
                fd(&|y| hypot::vjp_b(&ct, &b, &y), h),
                1e-7
            ));
        }
    }

    #[test]
    fn powi_matches_finite_differences() {
        for n in [-3, -1, 0, 1, 2, 5] {
            for x in points((0.3, 2.5)) {
                let d = powi::vjp_a(&1.0, &x, &n);
                let fd = diff(|x| powi::value(x, n), x);
                assert!(close(d, fd, 1e-7), "powi({x}, {n})' = {d}, fd {fd}");
                assert_eq!(powi::jvp_a(&2.0, &x, &n), 2.0 * d);
            }
        }
    }

    #[test]
    fn mul_add_matches_finite_differences() {
        let (a, b, c) = (0.7, -1.3, 2.1);
        let f = |a: f64, b: f64, c: f64| mul_add::value(a, b, c);
        assert!(close(mul_add::vjp_a(&1.0, &b), diff(|a| f(a, b, c), a), 1e-8));
        assert!(close(mul_add::vjp_b(&1.0, &a), diff(|b| f(a, b, c), b), 1e-8));
        assert!(close(mul_add::vjp_c(&1.0), diff(|c| f(a, b, c), c), 1e-8));
        let t = mul_add::jvp_a(&1.0, &b) + mul_add::jvp_b(&2.0, &a) + mul_add::jvp_c(&3.0);
        assert!(close(t, b + 2.0 * a + 3.0, 1e-12));
    }

    #[test]
    fn piecewise_constant_rules_have_zero_tangents() {
        for x in points((-2.7, 2.7)) {
            for (value, jvp) in [
                (
                    floor::value::<f64> as fn(f64) -> f64,
                    floor::jvp::<f64> as fn(&f64) -> f64,
                ),
                (ceil::value, ceil::jvp),
                (round::value, round::jvp),
                (trunc::value, trunc::jvp),
                (signum::value, signum::jvp),
            ] {
                assert_eq!(jvp(&1.0), 0.0);
                assert_eq!(diff(value, x), 0.0);
            }
        }
    }

    #[test]
    fn kinks_take_the_documented_subgradient() {
        assert_eq!(abs::vjp(&1.0, &0.0), 0.0);
        assert_eq!(max::vjp_a(&1.0, &1.0, &1.0), 1.0);
        assert_eq!(max::vjp_b(&1.0, &1.0, &1.0), 0.0);
        assert_eq!(min::vjp_a(&1.0, &1.0, &1.0), 1.0);
        assert_eq!(min::vjp_b(&1.0, &1.0, &1.0), 0.0);
    }
}
