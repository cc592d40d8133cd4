//! Locals, reassignment, blocks, tuples and branches, checked against finite
//! differences; branches are checked on both sides.

// The bodies spell things the ways users do, not the ways clippy prefers.
#![allow(clippy::assign_op_pattern, clippy::needless_return)]

mod common;

use autodiff::prelude::*;

#[differentiable]
fn reassigned(x: f64, y: f64) -> f64 {
    let mut s = x;
    s = s * x;
    s += y;
    s -= x * 0.5;
    s *= y;
    s /= x + 2.0;
    let t: f64 = s.sin();
    let mut u = t;
    u = u + s;
    u
}

#[test]
fn reassigned_locals() {
    check!(reassigned, reassigned_grad, reassigned_jvp, (x, y) at [0.3, -1.2]);
    check!(reassigned, reassigned_grad, reassigned_jvp, (x, y) at [1.7, 0.4]);
}

#[differentiable]
fn blocks_and_return(x: f64, y: f64) -> f64 {
    let a = {
        let b = x * y;
        let c = b.exp();
        c + b
    };
    let d = { a * 2.0 };
    return d - { x };
}

#[test]
fn blocks_and_final_return() {
    check!(blocks_and_return, blocks_and_return_grad, blocks_and_return_jvp, (x, y) at [0.3, -1.2]);
}

#[differentiable]
fn shadowing(x: f64, y: f64) -> f64 {
    let x = x * y;
    let y = x + y;
    let x = {
        let x = x * 2.0;
        x + y
    };
    x * y
}

#[test]
fn shadowed_names() {
    check!(shadowing, shadowing_grad, shadowing_jvp, (x, y) at [0.3, -1.2]);
}

#[differentiable]
fn tuples(x: f64, y: f64) -> f64 {
    let (a, b) = (x * y, x + y);
    let mut t = (a, (b, 2.0));
    t.0 = t.0 * b;
    let ((p, q), mut r) = ((t.0, t.1 .0), t.1 .1);
    let (mut m, n): (f64, f64) = (p, q);
    m += n;
    (m, r) = (m * r, r + 1.0);
    m * r + q
}

#[test]
fn tuples_of_reals() {
    check!(tuples, tuples_grad, tuples_jvp, (x, y) at [0.3, -1.2]);
}

#[differentiable(order = 2)]
fn if_expression(x: f64, y: f64) -> f64 {
    let z = if x > y { x * x } else { y.sin() * x };
    z + 1.0
}

#[differentiable(order = 2)]
fn if_statement(x: f64, y: f64) -> f64 {
    let mut s = y;
    let mut t = 0.0;
    if x * y > 0.5 {
        s = s * x;
        t = x.exp();
    } else {
        s = s.cos();
    }
    s + t
}

#[differentiable]
fn if_without_else(x: f64) -> f64 {
    let mut s = x * 2.0;
    if x < 0.0 {
        s = -s * x;
    }
    s
}

#[differentiable(order = 2)]
fn else_if_chain(x: f64, y: f64) -> f64 {
    if x < -1.0 {
        x * y
    } else if x < 0.0 {
        x.powi(2) + y
    } else if x < 1.0 && y > 0.0 {
        x.sqrt() * y
    } else {
        y.exp() - x
    }
}

#[differentiable(order = 2)]
fn nested(x: f64, y: f64) -> f64 {
    let mut acc = x;
    let w = x * y;
    if x > 0.0 {
        let k = w.sin();
        if y > 0.0 {
            acc = acc * k + w;
        } else {
            acc = k / acc;
        }
        acc += k;
    } else {
        let k = w.cos();
        acc = if y > 0.0 { acc + k * y } else { acc * k };
    }
    acc * w
}

#[differentiable(order = 2)]
fn branch_on_tuple(x: f64, y: f64) -> f64 {
    let (a, b) = if x > 0.0 { (x * y, y) } else { (y, x * 3.0) };
    a * b
}

#[differentiable]
fn branch_yields_constant(x: f64) -> f64 {
    let scale = if x > 0.0 { 2.0 } else { x };
    scale * x
}

/// The Hessian of an `order = 2` function of `(x, y)` along three
/// directions, against central differences of its gradient.
macro_rules! check_second_order {
    ($grad:ident, $hvp:ident, $Grad:ident, $point:expr) => {{
        let grad = |p: &[f64]| {
            let g = $grad(p[0], p[1]).1;
            vec![g.x, g.y]
        };
        let hvp = |p: &[f64], v: &[f64]| {
            let h = $hvp(p[0], p[1], &$Grad { x: v[0], y: v[1] }).2;
            vec![h.x, h.y]
        };
        for v in [[1.0, 0.0], [0.0, 1.0], [0.6, -0.8]] {
            if let Err(report) = autodiff::runtime::check_hvp(grad, hvp, &$point, &v) {
                panic!("{} at {:?} along {v:?}: {report}", stringify!($hvp), $point);
            }
        }
    }};
}

#[test]
fn branches_on_both_sides_twice() {
    for point in [[0.3, -1.2], [-0.4, 0.8], [2.0, 0.5], [-2.0, -0.3], [0.5, 0.7]] {
        check_second_order!(if_expression_grad, if_expression_hvp, IfExpressionGrad, point);
        check_second_order!(if_statement_grad, if_statement_hvp, IfStatementGrad, point);
        check_second_order!(else_if_chain_grad, else_if_chain_hvp, ElseIfChainGrad, point);
        check_second_order!(nested_grad, nested_hvp, NestedGrad, point);
        check_second_order!(branch_on_tuple_grad, branch_on_tuple_hvp, BranchOnTupleGrad, point);
    }
    for point in [[2.0, 1.5], [0.3, -1.2], [0.5, 0.7]] {
        check_second_order!(early_returns_grad, early_returns_hvp, EarlyReturnsGrad, point);
    }
}

#[test]
fn branches_on_both_sides() {
    for point in [[0.3, -1.2], [-0.4, 0.8], [2.0, 0.5], [-2.0, -0.3], [0.5, 0.7]] {
        check!(if_expression, if_expression_grad, if_expression_jvp, (x, y) at point);
        check!(if_statement, if_statement_grad, if_statement_jvp, (x, y) at point);
        check!(else_if_chain, else_if_chain_grad, else_if_chain_jvp, (x, y) at point);
        check!(nested, nested_grad, nested_jvp, (x, y) at point);
        check!(branch_on_tuple, branch_on_tuple_grad, branch_on_tuple_jvp, (x, y) at point);
    }
    for x in [-1.3, 0.7] {
        check!(if_without_else, if_without_else_grad, if_without_else_jvp, (x) at [x]);
        check!(branch_yields_constant, branch_yields_constant_grad, branch_yields_constant_jvp, (x) at [x]);
    }
}

#[differentiable]
fn integer_data(x: f64, n: usize, flag: bool) -> f64 {
    let k = n as f64;
    let m = (n * 2 + 1) as f64;
    let mut s = x * k;
    if flag && n % 2 == 1 {
        s = s + m * x.sin();
    }
    let i = n as i32;
    s + x.powi(i)
}

#[test]
fn integers_and_bools_are_data() {
    for (n, flag) in [(3, true), (2, true), (3, false)] {
        let f = |p: &[f64]| integer_data(p[0], n, flag);
        let g = |p: &[f64]| vec![integer_data_grad(p[0], n, flag).1.x];
        check_grad(f, g, &[0.7]).unwrap();
    }
}

#[differentiable]
fn unused_and_inactive(x: f64, y: f64) -> f64 {
    let unused = y.ln();
    let c = 3.0;
    let d = c * c;
    x * d + unused * 0.0
}

#[test]
fn values_off_the_output_path() {
    check!(unused_and_inactive, unused_and_inactive_grad, unused_and_inactive_jvp, (x, y) at [0.3, 1.2]);
}

#[differentiable]
fn constant_output(x: f64) -> f64 {
    let _ignored = x * 2.0;
    4.0
}

#[test]
fn output_independent_of_inputs_has_zero_gradient() {
    assert_eq!(
        constant_output_grad(1.5),
        (constant_output(1.5), ConstantOutputGrad { x: 0.0 })
    );
}

#[differentiable]
fn identity(x: f64) -> f64 {
    x
}

#[test]
fn identity_gradient_is_one() {
    assert_eq!(identity_grad(1.5), (identity(1.5), IdentityGrad { x: 1.0 }));
}

#[differentiable(order = 2)]
fn early_returns(x: f64, y: f64) -> f64 {
    let a = x * y;
    if a > 2.0 {
        return a.sqrt();
    }
    let b = a.sin() + y;
    if b < 0.0 {
        let c = b * b;
        return c + x;
    }
    return b * x;
}

#[test]
fn guard_returns() {
    for point in [[2.0, 1.5], [0.3, -1.2], [0.5, 0.7]] {
        assert_eq!(
            early_returns_grad(point[0], point[1]).0,
            early_returns(point[0], point[1])
        );
        check!(early_returns, early_returns_grad, early_returns_jvp, (x, y) at point);
    }
}
