//! Activations, element-wise on reals and matrices: `relu`, `leaky_relu`,
//! `elu`, `sigmoid`, `tanh` (in `scalar.rs`), `softplus`, `gelu`, `silu`.
//!
//! Each has its value, first derivative `d` and second derivative `dd` side
//! by side; `relu` and `leaky_relu` are locally linear (`dd = 0` almost
//! everywhere), which second-order code uses to drop terms. Call them as
//! methods of the [`Activation`] trait: `z.relu()`, `(w * x).sigmoid()`.

use super::pointwise::{unary_rules, Pointwise, UnaryEntry};
use crate::{kernel, Real};

#[inline(always)]
fn c<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

/// The logistic function, `1 / (1 + e⁻ˣ)`, by the vectorisable kernel.
#[inline(always)]
fn logistic<T: Real>(x: T) -> T {
    T::from_f64(kernel::sigmoid(x.to_f64()))
}

/// `tanh x` by the vectorisable kernel (within 3 ulp of `std`).
#[inline(always)]
fn fast_tanh<T: Real>(x: T) -> T {
    T::from_f64(kernel::tanh(x.to_f64()))
}

/// `√(2/π)` and the cubic coefficient of the tanh approximation of GELU.
const GELU_K: f64 = 0.797_884_560_802_865_4;
const GELU_C: f64 = 0.044_715;

/// `(tanh(u), du/dx, d²u/dx²)` for GELU's `u = k (x + c x³)`.
#[inline(always)]
fn gelu_parts<T: Real>(x: T) -> (T, T, T) {
    let (k, cc) = (c::<T>(GELU_K), c::<T>(GELU_C));
    let t = fast_tanh(k * (x + cc * x * x * x));
    (t, k * (T::ONE + c::<T>(3.0) * cc * x * x), k * c::<T>(6.0) * cc * x)
}

unary_rules! {
    /// `y = max(x, 0)`: `dy/dx = 1` for `x > 0`, else 0. Locally linear.
    /// Read from the output (`y > 0` exactly where `x > 0`), which the
    /// next layer keeps anyway, so that nothing keeps `x`.
    relu(x) -> y = if x > T::ZERO { x } else { T::ZERO };
        d(y) = if y > T::ZERO { T::ONE } else { T::ZERO }, dd = T::ZERO; on (-3.0, 3.0), locally_linear;
    /// `y = 1 / (1 + e⁻ˣ)`: `dy/dx = y (1 - y)`.
    sigmoid(x) -> y = logistic(x); d(y) = y * (T::ONE - y), dd = T::ONE - c::<T>(2.0) * y; on (-6.0, 6.0);
    /// `y = ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^-|x|)`: `dy/dx = sigmoid(x)`.
    softplus(x) -> y = x.max(T::ZERO) + T::from_f64(kernel::exp(-x.abs().to_f64())).ln_1p();
        d(x) = logistic(x), dd = logistic(x) * (T::ONE - logistic(x)); on (-6.0, 6.0);
    /// `y = x · sigmoid(x)` (swish): `dy/dx = s + x s (1 - s)`.
    silu(x) -> y = x * logistic(x);
        d(x) = logistic(x) * (T::ONE + x * (T::ONE - logistic(x))),
        dd = logistic(x) * (T::ONE - logistic(x)) * (c::<T>(2.0) + x * (T::ONE - c::<T>(2.0) * logistic(x)));
        on (-6.0, 6.0);
    /// `y = x/2 (1 + tanh(√(2/π) (x + 0.044715 x³)))`, the tanh form of GELU.
    gelu(x) -> y = c::<T>(0.5) * x * (T::ONE + gelu_parts(x).0);
        d(x) = {
            let (t, du, _) = gelu_parts(x);
            c::<T>(0.5) * (T::ONE + t) + c::<T>(0.5) * x * (T::ONE - t * t) * du
        },
        dd = {
            let (t, du, ddu) = gelu_parts(x);
            let s = T::ONE - t * t;
            s * du + c::<T>(0.5) * x * s * (ddu - c::<T>(2.0) * t * du * du)
        };
        on (-4.0, 4.0);
}

/// Declares an activation with a real parameter `alpha` that is not
/// differentiated: its rule has a reverse function for `x` only.
macro_rules! parametric {
    ($(#[doc = $doc:literal])* $name:ident($x:ident, $alpha:ident) = $value:expr; d = $d:expr, dd = $dd:expr;) => {
        $(#[doc = $doc])*
        pub mod $name {
            use super::*;

            /// The primal value.
            #[inline(always)]
            pub fn value<T: Real>($x: T, $alpha: T) -> T {
                $value
            }

            /// `dy/dx`.
            #[inline(always)]
            pub fn deriv<T: Real>($x: T, $alpha: T) -> T {
                $d
            }

            /// `d²y/dx²`.
            #[inline(always)]
            #[allow(unused_variables)]
            pub fn deriv2<T: Real>($x: T, $alpha: T) -> T {
                $dd
            }

            /// Forward rule for `x`, element-wise: `deriv · dx`.
            #[inline(always)]
            pub fn jvp_a<P: Pointwise>(dx: &P, x: &P, alpha: &P::Elem) -> P {
                vjp_a(dx, x, alpha)
            }

            /// Reverse rule for `x`, element-wise.
            #[inline(always)]
            pub fn vjp_a<P: Pointwise>(ct: &P, x: &P, alpha: &P::Elem) -> P {
                ct.zip_map_elems(x, |c, x| c * deriv(x, *alpha))
            }

            /// [`vjp_a`], added into an adjoint in place.
            #[inline(always)]
            pub fn vjp_a_acc<P: Pointwise>(acc: &mut P, ct: &P, x: &P, alpha: &P::Elem) {
                acc.zip_zip_apply_elems(ct, x, |a, c, x| *a += c * deriv(x, *alpha))
            }

            /// Second-order rule: `ct · deriv2 · dx`, element-wise.
            #[inline(always)]
            pub fn vjp_a_dot<P: Pointwise>(ct: &P, x: &P, alpha: &P::Elem, dx: &P) -> P {
                let mut out = x.zip_map_elems(dx, |x, d| deriv2(x, *alpha) * d);
                out.zip_apply_elems(ct, |o, c| *o *= c);
                out
            }
        }
    };
}

parametric! {
    /// `y = x` for `x > 0`, else `alpha x`. Locally linear.
    leaky_relu(x, alpha) = if x > T::ZERO { x } else { alpha * x };
        d = if x > T::ZERO { T::ONE } else { alpha }, dd = T::ZERO;
}

parametric! {
    /// `y = x` for `x > 0`, else `alpha (eˣ - 1)`.
    elu(x, alpha) = if x > T::ZERO { x } else { alpha * x.exp_m1() };
        d = if x > T::ZERO { T::ONE } else { alpha * x.exp() },
        dd = if x > T::ZERO { T::ZERO } else { alpha * x.exp() };
}

/// The activations as methods of reals and matrices (element-wise):
/// `z.relu()`, `z.leaky_relu(0.01)`, `z.tanh()` on a matrix.
///
/// # Example
///
/// ```
/// use autodiff_runtime::nalgebra::DVector;
/// use autodiff_runtime::Activation;
///
/// let z = DVector::from_vec(vec![-1.0, 0.5]);
/// assert_eq!(z.relu(), DVector::from_vec(vec![0.0, 0.5]));
/// assert_eq!(Activation::relu(&-2.0), 0.0);
/// ```
pub trait Activation: Pointwise {
    /// `max(x, 0)`.
    fn relu(&self) -> Self {
        self.map_elems(relu::value)
    }
    /// `x` for `x > 0`, else `alpha x`.
    fn leaky_relu(&self, alpha: Self::Elem) -> Self {
        self.map_elems(|x| leaky_relu::value(x, alpha))
    }
    /// `x` for `x > 0`, else `alpha (eˣ - 1)`.
    fn elu(&self, alpha: Self::Elem) -> Self {
        self.map_elems(|x| elu::value(x, alpha))
    }
    /// `1 / (1 + e⁻ˣ)`.
    fn sigmoid(&self) -> Self {
        self.map_elems(sigmoid::value)
    }
    /// `tanh x`, element-wise, by a vectorisable kernel within 3 ulp of
    /// `f64::tanh` (a real's own `x.tanh()` is `std`'s).
    fn tanh(&self) -> Self {
        self.map_elems(fast_tanh)
    }
    /// `ln(1 + eˣ)`.
    fn softplus(&self) -> Self {
        self.map_elems(softplus::value)
    }
    /// The tanh form of GELU.
    fn gelu(&self) -> Self {
        self.map_elems(gelu::value)
    }
    /// `x · sigmoid(x)`.
    fn silu(&self) -> Self {
        self.map_elems(silu::value)
    }
}

impl<P: Pointwise> Activation for P {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::scalar::tests::{close, diff};

    #[test]
    fn activations_first_and_second_derivatives_match_finite_differences() {
        let table = unary_table();
        assert_eq!(table.len(), 5);
        for rule in table {
            for k in 0..9 {
                let (lo, hi) = rule.range;
                let x = lo + (hi - lo) * (0.05 + 0.9 * (k as f64 + 0.37) / 9.0);
                let (d, fd) = ((rule.deriv_at)(x), diff(rule.value, x));
                assert!(close(d, fd, 1e-7), "{}'({x}) = {d}, fd {fd}", rule.name);
                assert_eq!((rule.deriv_owned_at)(x), d, "{} in place", rule.name);
                let (d2, fd2) = ((rule.deriv2_at)(x), diff(rule.deriv_at, x));
                assert!(close(d2, fd2, 1e-6), "{}''({x}) = {d2}, fd {fd2}", rule.name);
                if rule.locally_linear {
                    assert_eq!(d2, 0.0);
                }
            }
        }
    }

    #[test]
    fn parametric_activations_match_finite_differences() {
        for alpha in [0.01, 0.3, 1.0] {
            for x in [-2.3, -0.7, 0.4, 1.9] {
                for (value, deriv, deriv2) in [
                    (
                        leaky_relu::value::<f64> as fn(f64, f64) -> f64,
                        leaky_relu::deriv::<f64> as fn(f64, f64) -> f64,
                        leaky_relu::deriv2::<f64> as fn(f64, f64) -> f64,
                    ),
                    (elu::value, elu::deriv, elu::deriv2),
                ] {
                    assert!(close(deriv(x, alpha), diff(|x| value(x, alpha), x), 1e-7));
                    assert!(close(deriv2(x, alpha), diff(|x| deriv(x, alpha), x), 1e-6));
                    assert!(close(
                        leaky_relu::vjp_a(&2.0, &x, &alpha),
                        2.0 * leaky_relu::deriv(x, alpha),
                        1e-15
                    ));
                }
            }
        }
    }

    #[test]
    fn saturated_inputs_stay_finite() {
        for x in [-800.0f64, -40.0, 40.0, 800.0] {
            for y in [sigmoid::value(x), softplus::value(x), silu::value(x), gelu::value(x)] {
                assert!(y.is_finite(), "{x}");
            }
        }
        assert_eq!(softplus::value(800.0), 800.0);
    }
}

/// The activations as scalar functions, for `z.map(relu)` and scalar code.
pub mod functions {
    use super::Activation;
    use crate::Real;

    macro_rules! scalar_functions {
        ($($(#[doc = $doc:literal])* $name:ident;)*) => {$(
            $(#[doc = $doc])*
            #[inline(always)]
            pub fn $name<T: Real>(x: T) -> T {
                Activation::$name(&x)
            }
        )*};
    }

    scalar_functions! {
        /// `max(x, 0)`.
        relu;
        /// `1 / (1 + e⁻ˣ)`.
        sigmoid;
        /// `ln(1 + eˣ)`.
        softplus;
        /// The tanh form of GELU.
        gelu;
        /// `x · sigmoid(x)`.
        silu;
    }
}
