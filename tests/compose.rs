//! Calls between differentiable functions, hand-written rules, `wrt`
//! subsets, pullbacks, `f32`, generics, visibility and the `crate` option.

mod common;

use autodiff::prelude::*;

#[differentiable]
fn square(x: f64) -> f64 {
    x * x
}

mod geometry {
    use autodiff::prelude::*;

    /// Distance from the origin.
    #[differentiable]
    pub fn norm2(x: f64, y: f64) -> f64 {
        (x * x + y * y).sqrt()
    }

    pub mod deeper {
        use autodiff::prelude::*;

        #[differentiable(wrt(x))]
        pub fn scaled(x: f64, n: usize) -> f64 {
            x * n as f64
        }
    }
}

#[differentiable]
fn composed(x: f64, y: f64) -> f64 {
    let r = geometry::norm2(x, y);
    let s = square(r.sin()) + geometry::deeper::scaled(y, 3);
    let t = square(2.0) * x;
    composed_inner(s, t) + square(square(x))
}

#[differentiable]
fn composed_inner(a: f64, b: f64) -> f64 {
    if a > b {
        a * b
    } else {
        a - b.exp()
    }
}

#[test]
fn nested_calls_by_name_and_by_path() {
    for point in [[0.3, -1.2], [1.5, 0.2], [-0.9, 0.4]] {
        check!(composed, composed_grad, composed_jvp, (x, y) at point);
    }
}

/// `softplus(x) = ln(1 + eˣ)` with a branch for large `x`; its rule is hand-written.
#[differentiable(custom)]
fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// The custom rules: the derivative of softplus is the logistic sigmoid.
fn softplus_vjp(x: f64) -> (f64, impl FnOnce(f64) -> SoftplusGrad) {
    (softplus(x), move |ct| SoftplusGrad {
        x: ct / (1.0 + (-x).exp()),
    })
}

fn softplus_jvp(x: f64, dx: f64) -> (f64, f64) {
    (softplus(x), dx / (1.0 + (-x).exp()))
}

/// A custom rule for code the macro cannot read (a loop), with a parameter
/// that is not differentiated.
#[differentiable(custom, wrt(x))]
fn power_sum(x: f64, terms: usize) -> f64 {
    let mut s = 0.0;
    for k in 1..=terms {
        s += x.powi(k as i32);
    }
    s
}

fn power_sum_vjp(x: f64, terms: usize) -> (f64, impl FnOnce(f64) -> PowerSumGrad) {
    let d: f64 = (1..=terms).map(|k| k as f64 * x.powi(k as i32 - 1)).sum();
    (power_sum(x, terms), move |ct| PowerSumGrad { x: ct * d })
}

fn power_sum_jvp(x: f64, terms: usize, dx: f64) -> (f64, f64) {
    let (y, pullback) = power_sum_vjp(x, terms);
    (y, pullback(dx).x)
}

#[differentiable]
fn uses_custom_rules(w: f64, x: f64) -> f64 {
    softplus(w * x - 1.0) + power_sum(w, 4) * x
}

#[test]
fn hand_written_rules_get_a_gradient() {
    // `softplus_grad` is built on the hand-written `softplus_vjp`.
    for x in [-2.0, 0.5, 31.0] {
        let (value, g) = softplus_grad(x);
        assert_eq!(value, softplus(x));
        check_grad(
            |p: &[f64]| softplus(p[0]),
            |p: &[f64]| vec![softplus_grad(p[0]).1.x],
            &[x],
        )
        .unwrap();
        assert!((g.x - 1.0 / (1.0 + (-x).exp())).abs() < 1e-15);
    }
    let (_, g) = power_sum_grad(0.7, 3);
    assert!((g.x - (1.0 + 2.0 * 0.7 + 3.0 * 0.49)).abs() < 1e-12);
}

#[test]
fn hand_written_rules_are_used() {
    check!(uses_custom_rules, uses_custom_rules_grad, uses_custom_rules_jvp, (w, x) at [0.3, -1.2]);
    check!(uses_custom_rules, uses_custom_rules_grad, uses_custom_rules_jvp, (w, x) at [1.1, 0.8]);
}

#[differentiable(wrt(y))]
fn only_y(x: f64, y: f64, z: f64) -> f64 {
    x * y * z + y.sin()
}

#[differentiable(wrt(x, z))]
fn x_and_z(x: f64, y: f64, z: f64) -> f64 {
    x * y * z + y.sin() * x.exp()
}

#[test]
fn wrt_subsets() {
    let (x, y, z) = (0.3, -1.2, 0.7);
    let g: OnlyYGrad = only_y_grad(x, y, z).1;
    check_grad(
        |p: &[f64]| only_y(x, p[0], z),
        |p: &[f64]| vec![only_y_grad(x, p[0], z).1.y],
        &[y],
    )
    .unwrap();
    assert_eq!(g, OnlyYGrad { y: x * z + y.cos() });
    check_grad(
        |p: &[f64]| x_and_z(p[0], y, p[1]),
        |p: &[f64]| {
            let g = x_and_z_grad(p[0], y, p[1]).1;
            vec![g.x, g.z]
        },
        &[x, z],
    )
    .unwrap();
}

#[test]
fn pullback_scales_with_the_cotangent() {
    let (x, y) = (0.3, -1.2);
    let (value, grad) = composed_grad(x, y);
    let (v, pullback) = composed_vjp(x, y);
    assert_eq!(v, value);
    let g = pullback(2.5);
    assert!((g.x - 2.5 * grad.x).abs() <= 1e-12 * grad.x.abs().max(1.0));
    assert!((g.y - 2.5 * grad.y).abs() <= 1e-12 * grad.y.abs().max(1.0));
}

#[differentiable]
fn single_precision(x: f32, y: f32) -> f32 {
    let mut s = (x * y).sin();
    if s > 0.0 {
        s += x.exp() / y;
    }
    s * x.tanh()
}

#[differentiable]
fn double_precision(x: f64, y: f64) -> f64 {
    let mut s = (x * y).sin();
    if s > 0.0 {
        s += x.exp() / y;
    }
    s * x.tanh()
}

#[test]
fn f32_gradients() {
    for [x, y] in [[0.3f32, 1.2], [-0.8, 0.6]] {
        check!(single_precision, single_precision_grad, single_precision_jvp, (x, y) at [x, y], within 1e-2);
        let g32 = single_precision_grad(x, y).1;
        let (v64, g64) = double_precision_grad(x as f64, y as f64);
        assert_eq!(v64, double_precision(x as f64, y as f64));
        for (a, b) in [(g32.x, g64.x), (g32.y, g64.y)] {
            assert!((a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}

#[differentiable]
fn generic<T: Real>(x: T, y: T) -> T {
    let two = T::from_f64(2.0);
    let s = x * y.sin() + two;
    if s > T::ONE {
        s.ln() * x
    } else {
        s * s
    }
}

#[test]
fn generic_reals() {
    check!(generic::<f64>, generic_grad::<f64>, generic_jvp::<f64>, (x, y) at [0.3, -1.2]);
    check!(generic::<f64>, generic_grad::<f64>, generic_jvp::<f64>, (x, y) at [1.3, 1.2]);
    check!(generic::<f32>, generic_grad::<f32>, generic_jvp::<f32>, (x, y) at [1.3f32, 1.2], within 1e-2);
    let g: GenericGrad<f32> = generic_grad(0.5f32, 0.5).1;
    assert!(g.x.is_finite());
}

mod renamed {
    extern crate autodiff as ad;

    #[ad::differentiable(crate = "ad")]
    pub fn cube(x: f64) -> f64 {
        x * x * x
    }
}

#[test]
fn crate_path_option() {
    assert_eq!(
        renamed::cube_grad(2.0),
        (renamed::cube(2.0), renamed::CubeGrad { x: 12.0 })
    );
}

#[test]
fn generated_items_have_the_functions_visibility() {
    let (v, g): (f64, geometry::Norm2Grad) = geometry::norm2_grad(3.0, 4.0);
    assert_eq!(v, 5.0);
    assert!((g.x - 0.6).abs() < 1e-15 && (g.y - 0.8).abs() < 1e-15, "{g:?}");
}
