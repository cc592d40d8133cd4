//! Every scalar operator and method with a rule, differentiated through the
//! macro and checked against finite differences (relative error < 1e-6).

mod common;

use autodiff::prelude::*;

/// One module per case: a differentiable function of `x` (and `y`) and its test.
macro_rules! cases {
    ($($name:ident($($arg:ident),+) = $body:expr; at $($point:expr),+;)*) => {$(
        mod $name {
            use super::*;

            #[differentiable]
            pub fn f($($arg: f64),+) -> f64 {
                $body
            }

            fn check_at(point: &[f64]) {
                check!(f, f_grad, f_jvp, ($($arg),+) at point);
            }

            #[test]
            fn gradient_matches_finite_differences() {
                $(check_at(&$point);)+
            }
        }
    )*};
}

cases! {
    add(x, y) = x + y * 2.0; at [0.3, -1.2];
    sub(x, y) = x - y * 3.0 - 1.0; at [0.3, -1.2];
    mul(x, y) = x * y * x; at [0.3, -1.2], [2.0, 0.5];
    div(x, y) = x / y + 1.0 / x; at [0.7, -1.2], [2.0, 0.5];
    neg(x, y) = -(x * y) + -x; at [0.3, -1.2];
    exp(x) = (x * 0.7).exp() * x; at [0.3], [-1.5];
    exp2(x) = x.exp2() * x; at [0.3], [-1.5];
    exp_m1(x) = (x * x).exp_m1(); at [0.3], [1e-3];
    ln(x) = (x * x + 1.0).ln() * x; at [0.3], [-1.5];
    log2(x) = (x + 2.0).log2(); at [0.3], [1.5];
    log10(x) = (x + 2.0).log10() * x; at [0.3], [1.5];
    ln_1p(x) = (x * x).ln_1p(); at [0.3], [1e-3];
    sqrt(x) = (x * x + 0.5).sqrt(); at [0.3], [-1.5];
    cbrt(x) = (x + 3.0).cbrt() * x; at [0.3], [-1.5];
    powi(x) = x.powi(3) + x.powi(-2) + x.powi(0); at [0.3], [-1.5];
    powf(x, y) = x.powf(y) + 2.0_f64.powf(x); at [0.7, 1.3], [1.5, -0.5];
    sin(x) = x.sin() * x; at [0.3], [-1.5];
    cos(x) = (x * 2.0).cos() + x; at [0.3], [-1.5];
    tan(x) = x.tan(); at [0.3], [-1.2];
    asin(x) = (x * 0.5).asin(); at [0.3], [-1.5];
    acos(x) = (x * 0.5).acos() * x; at [0.3], [-1.5];
    atan(x) = (x * 3.0).atan(); at [0.3], [-1.5];
    atan2(x, y) = x.atan2(y) + y.atan2(x * 2.0); at [0.3, -1.2], [1.0, 0.5];
    sinh(x) = x.sinh(); at [0.3], [-1.5];
    cosh(x) = x.cosh() * x; at [0.3], [-1.5];
    tanh(x) = (x * 2.0).tanh(); at [0.3], [-1.5];
    abs(x, y) = (x - y).abs() * x; at [0.3, -1.2], [-2.0, 0.5];
    signum(x) = x.signum() * x * x; at [0.3], [-1.5];
    max(x, y) = x.max(y) * 2.0 + x.max(0.1); at [0.3, -1.2], [-0.7, 0.5];
    min(x, y) = x.min(y) * 2.0 + y.min(0.1); at [0.3, -1.2], [-0.7, 0.5];
    hypot(x, y) = x.hypot(y); at [0.3, -1.2], [-0.7, 0.5];
    recip(x) = (x * x + 1.0).recip(); at [0.3], [-1.5];
    mul_add(x, y) = x.mul_add(y, x * x); at [0.3, -1.2], [-0.7, 0.5];
    floor(x) = x.floor() * x + x.ceil() + x.round() + x.trunc(); at [0.3], [-1.4];
    path_form(x, y) = f64::sin(x) * f64::max(x, y) + f64::powi(y, 2) + f64::hypot(x, y); at [0.3, -1.2], [-0.7, 0.5];
    constants(x) = x * std::f64::consts::PI + f64::EPSILON + core::f64::consts::E.ln() * x; at [0.3];
    long_chain(x, y) = ((x * y).sin() + (x / y).cos()).exp() * (x * x + y * y).sqrt().ln_1p(); at [0.3, -1.2], [-0.7, 0.5];
}
