//! `for` loops over index ranges, with carried locals, indexing, branches
//! and nested loops, checked against finite differences (gradients, and
//! tangents of `f_jvp` along a direction); W1 (extended Rosenbrock) against
//! WORKLOADS.md's reference values.

// Index loops are what these tests exercise.
#![allow(
    clippy::needless_range_loop,
    clippy::reversed_empty_ranges,
    clippy::assign_op_pattern
)]

mod common;
#[path = "workloads/rosenbrock.rs"]
mod w1;

use autodiff::nalgebra::{DMatrix, DVector};
use autodiff::prelude::*;
use w1::{rosenbrock, rosenbrock_grad, rosenbrock_jvp, rosenbrock_vjp};

/// A direction for tangent checks: irregular, no zero entry.
fn direction(n: usize) -> Vec<f64> {
    (0..n).map(|k| 0.9 * (1.3 * k as f64 + 0.4).cos() + 0.05).collect()
}

/// Checks a tangent against the central difference of `f` along a direction.
fn check_tangent(f: impl Fn(&[f64]) -> f64, jvp: impl Fn(&[f64], &[f64]) -> f64, x: &[f64]) {
    check_jvp(|p| vec![f(p)], |p, v| vec![jvp(p, v)], x, &direction(x.len())).unwrap();
}

/// Checks a Hessian-vector product against the central difference of the
/// gradient along a direction (for the `order = 2` loops below).
fn check_hessian(grad: impl Fn(&[f64]) -> Vec<f64>, hvp: impl Fn(&[f64], &[f64]) -> Vec<f64>, x: &[f64]) {
    autodiff::runtime::check_hvp(grad, hvp, x, &direction(x.len())).unwrap();
}

#[test]
fn w1_matches_the_reference_values_and_finite_differences() {
    let x = w1::point(1000);
    let (value, g) = rosenbrock_grad(&x);
    assert_eq!(value, rosenbrock(&x));
    let (sum, abs) = g.x.iter().fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()));
    // WORKLOADS.md: 9063.649812, 31197.76509, 79200.59029
    assert!((value - 9063.649812).abs() < 1e-5, "{value}");
    assert!((sum - 31197.76509).abs() < 1e-4, "{sum}");
    assert!((abs - 79200.59029).abs() < 1e-4, "{abs}");
    let small = &x[..12];
    check_grad(rosenbrock, |p: &[f64]| rosenbrock_grad(p).1.x, small).unwrap();
    check_tangent(rosenbrock, |p, v| rosenbrock_jvp(p, v.to_vec()).1, small);
    // The tangent along v is the gradient's inner product with v.
    let v = direction(x.len());
    let tangent = rosenbrock_jvp(&x, v.clone()).1;
    let inner: f64 = g.x.iter().zip(&v).map(|(a, b)| a * b).sum();
    assert!((tangent - inner).abs() < 1e-9 * inner.abs().max(1.0));
    // The pullback owns the loop's tape.
    let (v, pullback) = rosenbrock_vjp(&x);
    assert_eq!(v, value);
    let scaled = pullback(2.0).x;
    assert!(scaled
        .iter()
        .zip(&g.x)
        .all(|(a, b)| (a - 2.0 * b).abs() <= 1e-12 * b.abs().max(1.0)));
}

#[differentiable(order = 2, wrt(x, w))]
fn carried_and_branches(x: &[f64], w: f64, n: usize) -> f64 {
    let mut acc = w;
    let mut pair = (0.0, 1.0);
    for i in 0..n {
        let v = x[i % x.len()];
        if v > 0.0 {
            acc = acc * v + w;
        } else {
            acc -= v.exp();
        }
        pair = (pair.0 + acc.sin(), pair.1 * 0.9);
    }
    acc + pair.0 * pair.1
}

#[test]
fn carried_locals_tuples_and_branches_in_loops() {
    let x = [0.3, -0.4, 0.8, -0.1];
    for n in [0, 1, 5, 9] {
        let f = |p: &[f64]| carried_and_branches(&p[..4], p[4], n);
        let g = |p: &[f64]| {
            let g = carried_and_branches_grad(&p[..4], p[4], n).1;
            [g.x, vec![g.w]].concat()
        };
        check_grad(f, g, &[x.as_slice(), &[0.7]].concat()).unwrap();
        let jvp = |p: &[f64], v: &[f64]| carried_and_branches_jvp(&p[..4], p[4], n, v[..4].to_vec(), v[4]).1;
        check_tangent(f, jvp, &[x.as_slice(), &[0.7]].concat());
        let hvp = |p: &[f64], v: &[f64]| {
            let d = CarriedAndBranchesGrad {
                x: v[..4].to_vec(),
                w: v[4],
            };
            let h = carried_and_branches_hvp(&p[..4], p[4], n, &d).2;
            [h.x, vec![h.w]].concat()
        };
        check_hessian(g, hvp, &[x.as_slice(), &[0.7]].concat());
    }
}

#[differentiable(order = 2)]
fn nested(m: &DMatrix<f64>, v: &[f64]) -> f64 {
    let mut total = 0.0;
    for i in 0..m.nrows() {
        let mut row = 0.0;
        for j in 0..m.ncols() {
            row += m[(i, j)] * v[j];
        }
        total += row.tanh();
    }
    total
}

#[test]
fn nested_loops_over_a_matrix() {
    let m = DMatrix::from_fn(3, 4, |i, j| 0.3 * ((i * 4 + j) as f64).sin());
    let v = [0.5, -0.2, 0.9, 0.1];
    let f = |p: &[f64]| nested(&DMatrix::from_column_slice(3, 4, &p[..12]), &p[12..]);
    let g = |p: &[f64]| {
        let g = nested_grad(&DMatrix::from_column_slice(3, 4, &p[..12]), &p[12..]).1;
        [g.m.as_slice(), &g.v].concat()
    };
    check_grad(f, g, &[m.as_slice(), &v].concat()).unwrap();
    let jvp = |p: &[f64], d: &[f64]| {
        let m = DMatrix::from_column_slice(3, 4, &p[..12]);
        nested_jvp(
            &m,
            &p[12..],
            DMatrix::from_column_slice(3, 4, &d[..12]),
            d[12..].to_vec(),
        )
        .1
    };
    check_tangent(f, jvp, &[m.as_slice(), &v].concat());
    let hvp = |p: &[f64], d: &[f64]| {
        let m = DMatrix::from_column_slice(3, 4, &p[..12]);
        let dv = NestedGrad {
            m: DMatrix::from_column_slice(3, 4, &d[..12]),
            v: d[12..].to_vec(),
        };
        let h = nested_hvp(&m, &p[12..], &dv).2;
        [h.m.as_slice(), &h.v].concat()
    };
    check_hessian(g, hvp, &[m.as_slice(), &v].concat());
}

#[differentiable(order = 2)]
fn ranges(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in (0..x.len()).rev() {
        s = s * 0.5 + x[i];
    }
    for i in (0..x.len()).step_by(2) {
        s += x[i] * x[i];
    }
    for i in 1..=2 {
        s = s.sin() + x[i];
    }
    for _ in 0..0 {
        s = s * 100.0;
    }
    s
}

#[test]
fn reversed_stepped_inclusive_and_empty_ranges() {
    let x = [0.3, -0.4, 0.8, -0.1, 0.6];
    check_grad(ranges, |p: &[f64]| ranges_grad(p).1.x, &x).unwrap();
    check_tangent(ranges, |p, v| ranges_jvp(p, v.to_vec()).1, &x);
    let hvp = |p: &[f64], v: &[f64]| ranges_hvp(p, &RangesGrad { x: v.to_vec() }).2.x;
    check_hessian(|p| ranges_grad(p).1.x, hvp, &x);
}

/// Newton's iteration for √a, stopped by a tolerance: a `while` loop whose
/// trip count depends on the input.
#[differentiable(order = 2)]
fn newton_sqrt(a: f64) -> f64 {
    let mut x = a.max(1.0);
    let mut steps = 0;
    while (x * x - a).abs() > 1e-12 * a && steps < 100 {
        x = 0.5 * (x + a / x);
        steps += 1;
    }
    x
}

#[differentiable(order = 2)]
fn while_with_tuple(x: f64, y: f64) -> f64 {
    let mut state = (x, y);
    while state.0 < 10.0 {
        state = (state.0 * 1.5 + state.1.sin(), state.1 * 0.9);
    }
    state.0 * state.1
}

#[test]
fn while_loops() {
    for a in [0.3, 2.0, 50.0] {
        let (value, g) = newton_sqrt_grad(a);
        assert!((value - a.sqrt()).abs() < 1e-10);
        // d√a/da = 1 / (2√a), up to the last Newton step's residual.
        assert!((g.a - 0.5 / a.sqrt()).abs() < 1e-6, "{} vs {}", g.a, 0.5 / a.sqrt());
        check_grad(
            |p: &[f64]| newton_sqrt(p[0]),
            |p: &[f64]| vec![newton_sqrt_grad(p[0]).1.a],
            &[a],
        )
        .unwrap();
        check_tangent(|p| newton_sqrt(p[0]), |p, v| newton_sqrt_jvp(p[0], v[0]).1, &[a]);
        // d²√a/da² = -1 / (4 a^{3/2}).
        let h = newton_sqrt_hvp(a, &NewtonSqrtGrad { a: 1.0 }).2.a;
        assert!(
            (h + 0.25 / (a * a.sqrt())).abs() < 1e-5 * (0.25 / (a * a.sqrt())),
            "{h}"
        );
    }
    for point in [[0.5, 0.3], [2.0, -1.0], [12.0, 0.4]] {
        let f = |p: &[f64]| while_with_tuple(p[0], p[1]);
        let g = |p: &[f64]| {
            let g = while_with_tuple_grad(p[0], p[1]).1;
            vec![g.x, g.y]
        };
        check_grad(f, g, &point).unwrap();
        check_tangent(f, |p, v| while_with_tuple_jvp(p[0], p[1], v[0], v[1]).1, &point);
        let hvp = |p: &[f64], v: &[f64]| {
            let h = while_with_tuple_hvp(p[0], p[1], &WhileWithTupleGrad { x: v[0], y: v[1] }).2;
            vec![h.x, h.y]
        };
        check_hessian(g, hvp, &point);
    }
}

/// A matrix carried through a loop: a few steps of power iteration.
#[differentiable(order = 2, wrt(a, v0))]
fn power_iteration(a: &DMatrix<f64>, v0: &autodiff::nalgebra::DVector<f64>, steps: usize) -> f64 {
    let mut v = v0.clone();
    for _ in 0..steps {
        let w = a * &v;
        v = &w / w.norm();
    }
    v.dot(&(a * &v))
}

/// Loops inside branches inside loops, and a loop inside a `map` closure.
#[differentiable(order = 2)]
fn nesting(x: &[f64], m: &DMatrix<f64>) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        if x[i] > 0.0 {
            let mut p = 1.0;
            for _ in 0..3 {
                p = p * x[i] + 0.5;
            }
            s += p;
        } else {
            s -= x[i].exp();
        }
    }
    let q = m.map(|v| {
        let mut t = v;
        for _ in 0..2 {
            t = t.sin() + v;
        }
        t
    });
    s + q.sum()
}

#[test]
fn matrices_carried_and_nested_control_flow() {
    use autodiff::nalgebra::DVector;
    let a = DMatrix::from_fn(3, 3, |i, j| {
        0.2 + 0.1 * ((i * 3 + j) as f64).sin() + if i == j { 1.0 } else { 0.0 }
    });
    let v0 = DVector::from_vec(vec![0.4, -0.3, 0.8]);
    let f = |p: &[f64]| {
        power_iteration(
            &DMatrix::from_column_slice(3, 3, &p[..9]),
            &DVector::from_column_slice(&p[9..]),
            4,
        )
    };
    let g = |p: &[f64]| {
        let g = power_iteration_grad(
            &DMatrix::from_column_slice(3, 3, &p[..9]),
            &DVector::from_column_slice(&p[9..]),
            4,
        )
        .1;
        [g.a.as_slice(), g.v0.as_slice()].concat()
    };
    check_grad(f, g, &[a.as_slice(), v0.as_slice()].concat()).unwrap();
    let jvp = |p: &[f64], d: &[f64]| {
        let (a, v0) = (
            DMatrix::from_column_slice(3, 3, &p[..9]),
            DVector::from_column_slice(&p[9..]),
        );
        let (da, dv0) = (
            DMatrix::from_column_slice(3, 3, &d[..9]),
            DVector::from_column_slice(&d[9..]),
        );
        power_iteration_jvp(&a, &v0, 4, da, dv0).1
    };
    check_tangent(f, jvp, &[a.as_slice(), v0.as_slice()].concat());
    let hvp = |p: &[f64], d: &[f64]| {
        let (a, v0) = (
            DMatrix::from_column_slice(3, 3, &p[..9]),
            DVector::from_column_slice(&p[9..]),
        );
        let v = PowerIterationGrad {
            a: DMatrix::from_column_slice(3, 3, &d[..9]),
            v0: DVector::from_column_slice(&d[9..]),
        };
        let h = power_iteration_hvp(&a, &v0, 4, &v).2;
        [h.a.as_slice(), h.v0.as_slice()].concat()
    };
    check_hessian(g, hvp, &[a.as_slice(), v0.as_slice()].concat());

    let x = [0.3, -0.4, 0.8, -0.1];
    let m = DMatrix::from_fn(2, 2, |i, j| 0.3 * ((i + 2 * j) as f64).cos());
    let f = |p: &[f64]| nesting(&p[..4], &DMatrix::from_column_slice(2, 2, &p[4..]));
    let g = |p: &[f64]| {
        let g = nesting_grad(&p[..4], &DMatrix::from_column_slice(2, 2, &p[4..])).1;
        [g.x, g.m.as_slice().to_vec()].concat()
    };
    check_grad(f, g, &[x.as_slice(), m.as_slice()].concat()).unwrap();
    let jvp = |p: &[f64], d: &[f64]| {
        let m = DMatrix::from_column_slice(2, 2, &p[4..]);
        nesting_jvp(&p[..4], &m, d[..4].to_vec(), DMatrix::from_column_slice(2, 2, &d[4..])).1
    };
    check_tangent(f, jvp, &[x.as_slice(), m.as_slice()].concat());
    let hvp = |p: &[f64], d: &[f64]| {
        let m = DMatrix::from_column_slice(2, 2, &p[4..]);
        let v = NestingGrad {
            x: d[..4].to_vec(),
            m: DMatrix::from_column_slice(2, 2, &d[4..]),
        };
        let h = nesting_hvp(&p[..4], &m, &v).2;
        [h.x, h.m.as_slice().to_vec()].concat()
    };
    check_hessian(g, hvp, &[x.as_slice(), m.as_slice()].concat());
}

/// `c` is carried and differentiated through later iterations, although
/// nothing reads it after the loop.
#[differentiable(order = 2, wrt(w))]
fn carried_but_unread_after(
    w: &autodiff::nalgebra::DVector<f64>,
    h: &autodiff::nalgebra::DVector<f64>,
    n: usize,
) -> f64 {
    let mut c = h.clone();
    let mut t = 0.0;
    for _ in 0..n {
        c = c.component_mul(w) + h;
        t += c.sum();
    }
    t
}

#[test]
fn carried_values_unread_after_the_loop() {
    use autodiff::nalgebra::DVector;
    let h = DVector::from_vec(vec![0.2, 0.4, -0.6]);
    for n in [1, 3, 6] {
        let f = |p: &[f64]| carried_but_unread_after(&DVector::from_column_slice(p), &h, n);
        let g = |p: &[f64]| {
            carried_but_unread_after_grad(&DVector::from_column_slice(p), &h, n)
                .1
                .w
                .as_slice()
                .to_vec()
        };
        check_grad(f, g, &[0.3, -0.5, 0.8]).unwrap();
        let jvp = |p: &[f64], d: &[f64]| {
            carried_but_unread_after_jvp(&DVector::from_column_slice(p), &h, n, DVector::from_column_slice(d)).1
        };
        check_tangent(f, jvp, &[0.3, -0.5, 0.8]);
        let hvp = |p: &[f64], d: &[f64]| {
            let v = CarriedButUnreadAfterGrad {
                w: DVector::from_column_slice(d),
            };
            carried_but_unread_after_hvp(&DVector::from_column_slice(p), &h, n, &v)
                .2
                .w
                .as_slice()
                .to_vec()
        };
        check_hessian(g, hvp, &[0.3, -0.5, 0.8]);
    }
}

/// Zipped containers of different lengths and kinds (slices, a vector, an
/// owned `Vec`), by `.iter()`, by reference and by `&`, enumerated, with
/// patterns by reference, by copy and `_`.
#[differentiable(order = 2)]
fn zipped(xs: &[f64], ws: &DVector<f64>, ys: &[f64], zs: Vec<f64>) -> f64 {
    let mut s = 0.0;
    for (x, w) in xs.iter().zip(ws.iter()) {
        s += x * w.sin();
    }
    for (i, (&x, y)) in xs.iter().zip(ys).enumerate() {
        s += (x - y) * (x - y) * (i as f64 + 1.0);
    }
    for ((x, _), &y) in xs.iter().zip(ws).zip(&zs) {
        s = s * 0.9 + x * y.exp();
    }
    s
}

#[test]
fn loops_over_zipped_elements() {
    // xs has 4 elements, ws 3, ys 5 and zs 2: each loop runs over the shortest.
    let split = |p: &[f64]| {
        let (xs, ws) = (p[..4].to_vec(), DVector::from_column_slice(&p[4..7]));
        (xs, ws, p[7..12].to_vec(), p[12..].to_vec())
    };
    let f = |p: &[f64]| {
        let (xs, ws, ys, zs) = split(p);
        zipped(&xs, &ws, &ys, zs)
    };
    let g = |p: &[f64]| {
        let (xs, ws, ys, zs) = split(p);
        let g = zipped_grad(&xs, &ws, &ys, zs).1;
        [g.xs, g.ws.as_slice().to_vec(), g.ys, g.zs].concat()
    };
    let p: Vec<f64> = (0..14).map(|k| 0.6 * (0.9 * k as f64 + 0.2).sin()).collect();
    check_grad(f, g, &p).unwrap();
    let jvp = |p: &[f64], v: &[f64]| {
        let ((xs, ws, ys, zs), (dxs, dws, dys, dzs)) = (split(p), split(v));
        zipped_jvp(&xs, &ws, &ys, zs, dxs, dws, dys, dzs).1
    };
    check_tangent(f, jvp, &p);
    let hvp = |p: &[f64], v: &[f64]| {
        let ((xs, ws, ys, zs), (dxs, dws, dys, dzs)) = (split(p), split(v));
        let direction = ZippedGrad {
            xs: dxs,
            ws: dws,
            ys: dys,
            zs: dzs,
        };
        let h = zipped_hvp(&xs, &ws, &ys, zs, &direction).2;
        [h.xs, h.ws.as_slice().to_vec(), h.ys, h.zs].concat()
    };
    check_hessian(g, hvp, &p);
}

#[differentiable(order = 2)]
fn over_elements(xs: &[f64], w: f64) -> f64 {
    let mut s = 0.0;
    for x in xs.iter() {
        if *x > 0.0 {
            s += x * w;
        } else {
            s -= (x * w).exp();
        }
    }
    for (i, x) in xs.iter().enumerate() {
        s += x * x * (i as f64 + 1.0);
    }
    for &x in xs.iter() {
        s = s * 0.9 + x.sin();
    }
    s
}

#[test]
fn loops_over_elements_and_enumerated_elements() {
    let xs = [0.3, -0.4, 0.8, -0.1];
    let f = |p: &[f64]| over_elements(&p[..4], p[4]);
    let g = |p: &[f64]| {
        let g = over_elements_grad(&p[..4], p[4]).1;
        [g.xs, vec![g.w]].concat()
    };
    check_grad(f, g, &[xs.as_slice(), &[0.7]].concat()).unwrap();
    let jvp = |p: &[f64], v: &[f64]| over_elements_jvp(&p[..4], p[4], v[..4].to_vec(), v[4]).1;
    check_tangent(f, jvp, &[xs.as_slice(), &[0.7]].concat());
    let hvp = |p: &[f64], v: &[f64]| {
        let h = over_elements_hvp(
            &p[..4],
            p[4],
            &OverElementsGrad {
                xs: v[..4].to_vec(),
                w: v[4],
            },
        )
        .2;
        [h.xs, vec![h.w]].concat()
    };
    check_hessian(g, hvp, &[xs.as_slice(), &[0.7]].concat());
}

#[differentiable(order = 2)]
fn jumps(xs: &[f64], w: f64) -> f64 {
    let mut s = 0.0;
    for x in xs.iter() {
        if *x < -0.3 {
            continue;
        }
        s += x * w;
        if s > 1.0 {
            s = s * 0.5;
            break;
        }
        s = s.sin() + w;
    }
    let mut t = w;
    let mut n = 0;
    while t < 5.0 {
        n += 1;
        if n > 3 {
            break;
        }
        t = t * 1.7 + s;
    }
    s + t
}

#[test]
fn guard_continue_and_break() {
    let xs = [0.3, -0.4, 0.2, 0.9, -0.1, 0.8];
    for w in [0.2, 0.6, 1.4, 3.0] {
        // The rewritten jumps compute what the written ones do.
        assert_eq!(jumps_grad(&xs, w).0, jumps(&xs, w));
        let f = |p: &[f64]| jumps(&p[..6], p[6]);
        let g = |p: &[f64]| {
            let g = jumps_grad(&p[..6], p[6]).1;
            [g.xs, vec![g.w]].concat()
        };
        check_grad(f, g, &[xs.as_slice(), &[w]].concat()).unwrap();
        let jvp = |p: &[f64], v: &[f64]| jumps_jvp(&p[..6], p[6], v[..6].to_vec(), v[6]).1;
        check_tangent(f, jvp, &[xs.as_slice(), &[w]].concat());
        let hvp = |p: &[f64], v: &[f64]| {
            let h = jumps_hvp(
                &p[..6],
                p[6],
                &JumpsGrad {
                    xs: v[..6].to_vec(),
                    w: v[6],
                },
            )
            .2;
            [h.xs, vec![h.w]].concat()
        };
        check_hessian(g, hvp, &[xs.as_slice(), &[w]].concat());
    }
}

#[differentiable(order = 2)]
fn bisect_like(x: f64) -> f64 {
    let mut y = x;
    let mut steps = 0;
    loop {
        steps += 1;
        y = 0.5 * (y + x / y);
        if steps >= 6 {
            break;
        }
    }
    y
}

#[test]
fn loop_with_break() {
    for x in [0.5, 2.0, 9.0] {
        assert_eq!(bisect_like_grad(x).0, bisect_like(x));
        check_grad(
            |p: &[f64]| bisect_like(p[0]),
            |p: &[f64]| vec![bisect_like_grad(p[0]).1.x],
            &[x],
        )
        .unwrap();
        check_tangent(|p| bisect_like(p[0]), |p, v| bisect_like_jvp(p[0], v[0]).1, &[x]);
        let hvp = |p: &[f64], v: &[f64]| vec![bisect_like_hvp(p[0], &BisectLikeGrad { x: v[0] }).2.x];
        check_hessian(|p| vec![bisect_like_grad(p[0]).1.x], hvp, &[x]);
    }
}

/// Reduction loops, whose reverse runs inside their forward sweep: sums in
/// each spelling (`u = e + u`, `u2 -= e`, `b = b + e` with a branch inside),
/// scaled by a nonlinear use after the loop, reaching a parameter and a
/// value defined before the loop, with `for` and `while` loops inside (`s`,
/// whose inner loops record and replay their tapes within each iteration);
/// and sums reversed as usual, which must agree too: inside another loop
/// (`inner`, `q`), negated (`t`), inside an `if` (`v`).
#[differentiable(order = 2)]
fn reductions(x: &[f64], w: f64) -> f64 {
    let scale = w * w;
    let mut s = 0.0;
    for i in 0..x.len() {
        let mut running = x[i];
        for j in 0..i {
            running = running * 0.5 + x[j] * scale;
        }
        let mut inner = 0.0;
        for j in 0..x.len() {
            inner += x[j] * running;
        }
        let mut damped = running;
        let mut k = 0;
        while k < i {
            damped = damped * 0.5 + (x[k] * w).sin();
            k += 1;
        }
        let term = if x[i] > 0.0 {
            inner.tanh() * scale + damped
        } else {
            running.sin()
        };
        s = s + term;
    }
    let mut t = 1.0;
    for i in 0..x.len() {
        let mut q = 0.0;
        for j in 0..i {
            q += x[j] * w;
        }
        t = x[i] * q - t;
    }
    let mut u = 0.0;
    for i in (0..x.len()).rev() {
        u = (x[i] * x[i]).exp() + u;
    }
    let mut u2 = 0.5;
    for i in 0..x.len() {
        u2 -= scale * x[i];
    }
    let mut b = 0.0;
    for i in 0..x.len() {
        let term = if x[i] > 0.0 { x[i] * scale } else { (x[i] * w).sin() };
        b = b + term * term;
    }
    let mut v = 0.0;
    if w > 0.0 {
        for i in 0..x.len() {
            v += x[i].cos();
        }
    }
    s.ln_1p() * u + t * t + v * s + u2 * u2 + b.sqrt()
}

#[test]
fn reduction_loops_reversed_in_their_forward_sweep() {
    for (x, w) in [(vec![0.3, -0.4, 0.8, -0.1], 0.7), (vec![0.5, 0.2, -0.6], -0.9)] {
        let f = |p: &[f64]| reductions(&p[..x.len()], p[x.len()]);
        let g = |p: &[f64]| {
            let g = reductions_grad(&p[..x.len()], p[x.len()]).1;
            [g.x, vec![g.w]].concat()
        };
        let point = [x.as_slice(), &[w]].concat();
        check_grad(f, g, &point).unwrap();
        let jvp = |p: &[f64], v: &[f64]| reductions_jvp(&p[..x.len()], p[x.len()], v[..x.len()].to_vec(), v[x.len()]).1;
        check_tangent(f, jvp, &point);
        let hvp = |p: &[f64], v: &[f64]| {
            let d = ReductionsGrad {
                x: v[..x.len()].to_vec(),
                w: v[x.len()],
            };
            let h = reductions_hvp(&p[..x.len()], p[x.len()], &d).2;
            [h.x, vec![h.w]].concat()
        };
        check_hessian(g, hvp, &point);
        // The pullback scales the accumulated sums by its cotangent.
        let (value, pullback) = reductions_vjp(&x, w);
        assert_eq!(value, reductions(&x, w));
        let scaled = pullback(-2.5);
        let unit = reductions_grad(&x, w).1;
        assert!((scaled.w + 2.5 * unit.w).abs() < 1e-12 * unit.w.abs().max(1.0));
    }
}

/// `b̄ = -ȳ` of `a - b` carried as a sign rather than computed (the reverse
/// sweep's `signs.rs`): a negated adjoint that later gets a plain
/// contribution (`p`, read by `p * w` after `a - p` marks it), negations
/// meeting a negated adjoint (`w - p`), a negated cotangent passed through
/// a difference (`x[i] - w`) and a product (`(x[i] - w) * x[i]`), into a
/// parameter's adjoint (`w`), into an outer value's accumulator (`e`), and
/// into a window of element adjoints (`x[i]`).
#[differentiable]
fn signs(x: &[f64], w: f64) -> f64 {
    let p = x[0] * x[1];
    let s = p * w;
    let a = s.sin() - p;
    let b = w - p;
    let d = x[2] - a;
    let q = -(d * w);
    let e = b * 0.3 - q;
    let mut sum = 0.0;
    for i in 0..x.len() - 1 {
        let t = x[i + 1] - (x[i] - w) * x[i];
        sum += t * t - (x[i] - e);
    }
    e * d - sum
}

#[test]
fn negated_adjoints_keep_their_signs() {
    let point = [0.7, -0.4, 1.3, 0.2, -0.9, 0.6];
    let n = point.len() - 1;
    let f = |p: &[f64]| signs(&p[..n], p[n]);
    let g = |p: &[f64]| {
        let g = signs_grad(&p[..n], p[n]).1;
        [g.x, vec![g.w]].concat()
    };
    check_grad(f, g, &point).unwrap();
    let (value, pullback) = signs_vjp(&point[..n], point[n]);
    assert_eq!(value, f(&point));
    let scaled = pullback(-1.5);
    let unit = g(&point);
    for (s, u) in [scaled.x, vec![scaled.w]].concat().iter().zip(&unit) {
        assert!((s + 1.5 * u).abs() < 1e-12 * u.abs().max(1.0), "{s} {u}");
    }
}

/// Carried values whose end-of-iteration value the reverse sweep reads
/// (`tanh` and `sqrt` read their output) as well as their start value (a
/// product reads its operands): the end value is not recorded but handed
/// back from the next iteration's start, the loop's result for the last.
/// In a range loop run 0, 1 or 3 times, a `while` loop, a loop nested in a
/// recorded loop (one result per run), and a loop left by `break`.
#[differentiable]
fn relayed(x: &[f64], w: f64, n: usize) -> f64 {
    let mut s = w;
    for i in 0..n {
        s = (s * w + x[i]).tanh();
    }
    let mut t = s;
    let mut k = 0;
    while k < n {
        t = (t * x[k] - w).tanh();
        k += 1;
    }
    let mut total = 0.0;
    for i in 0..x.len() {
        let mut u = x[i];
        for j in 0..i {
            u = (u * w + x[j]).tanh();
        }
        total = total * u + u;
    }
    let mut v = w;
    for i in 0..x.len() {
        if v > 1.2 {
            break;
        }
        v = (v * v + x[i] * x[i]).sqrt();
    }
    s + t * total + v
}

#[test]
fn loops_hand_their_start_values_back_to_the_iteration_before() {
    let x = [0.3, -0.5, 0.8, 0.4];
    for (n, w) in [(0, 0.7), (1, -0.4), (3, 0.9), (4, 0.5)] {
        let f = |p: &[f64]| relayed(&p[..4], p[4], n);
        let g = |p: &[f64]| {
            let g = relayed_grad(&p[..4], p[4], n).1;
            [g.x, vec![g.w]].concat()
        };
        let point = [x.as_slice(), &[w]].concat();
        check_grad(f, g, &point).unwrap();
        let (value, pullback) = relayed_vjp(&x, w, n);
        assert_eq!(value, relayed(&x, w, n));
        let (scaled, unit) = (pullback(0.5), relayed_grad(&x, w, n).1);
        assert!((scaled.w - 0.5 * unit.w).abs() < 1e-12 * unit.w.abs().max(1.0));
    }
}
