//! Activity analysis: which values carry a derivative.
//!
//! A value is *varied* when it depends differentiably on a differentiated
//! parameter, *useful* when the output depends differentiably on it, and
//! *active* when both: only active values get an adjoint. A value is *live*
//! when the output needs it at all (as data, a condition or an operand), and
//! only live instructions are emitted.
//!
//! This is also where code without a rule is rejected: an opaque expression
//! is an error only when a varied value flows through it to the output.
//! Regions are structured and acyclic, so one forward and one backward walk
//! suffice.

use crate::diagnostics::{self as msg, Errors};
use crate::ir::{Func, Op, Opaque, Region, Value};
use crate::rules::Partial;

pub struct Activity {
    varied: Vec<bool>,
    useful: Vec<bool>,
    live: Vec<bool>,
}

impl Activity {
    /// Has an adjoint.
    pub fn active(&self, v: Value) -> bool {
        self.varied[v.index()] && self.useful[v.index()]
    }

    /// Depends on a differentiated parameter.
    pub fn varied(&self, v: Value) -> bool {
        self.varied[v.index()]
    }

    /// Needed to compute the output.
    pub fn live(&self, v: Value) -> bool {
        self.live[v.index()]
    }
}

/// Whether argument `i` of `op` carries a derivative to the result.
pub fn differentiable_arg(op: &Op, i: usize) -> bool {
    match op {
        Op::Prim { rule, .. } => matches!(rule.partials[i], Partial::Vjp { .. }),
        Op::Call { .. } | Op::Opaque { .. } | Op::Map { .. } | Op::Field { .. } => true,
        // The iterator of a loop carries no derivative; its initial values do.
        Op::For { .. } => i >= 1,
        Op::Const(_) | Op::Passive { .. } | Op::If { .. } => false,
    }
}

pub fn analyse(func: &Func, errors: &mut Errors) -> Activity {
    let n = func.values.len();
    let mut a = Activity {
        varied: vec![false; n],
        useful: vec![false; n],
        live: vec![false; n],
    };
    for p in &func.params {
        a.varied[p.value.index()] = p.differentiated;
    }
    vary(&mut a, &func.body);
    a.useful[func.output.index()] = true;
    a.live[func.output.index()] = true;
    backward(&mut a, &func.body);
    report_opaque(&a, &func.body, errors);
    a
}

fn vary(a: &mut Activity, region: &Region) {
    for inst in &region.insts {
        let varied = match &inst.op {
            Op::If {
                then_region,
                else_region,
                ..
            } => {
                vary(a, then_region);
                vary(a, else_region);
                for (k, r) in inst.results.iter().enumerate() {
                    a.varied[r.index()] = a.varied(then_region.yields[k]) || a.varied(else_region.yields[k]);
                }
                continue;
            }
            // A carried value varies if its initial value or the body's update
            // does: iterate to the fixpoint (it grows, so it ends).
            Op::For { args, body, cond } => {
                if let Some(cond) = cond {
                    vary(a, cond);
                }
                for (k, p) in body.params[1..].iter().enumerate() {
                    a.varied[p.index()] = a.varied(args[1 + k]);
                }
                loop {
                    vary(a, body);
                    let mut changed = false;
                    for (k, p) in body.params[1..].iter().enumerate() {
                        if a.varied(body.yields[k]) && !a.varied(*p) {
                            a.varied[p.index()] = true;
                            changed = true;
                        }
                    }
                    if !changed {
                        break;
                    }
                }
                for (k, r) in inst.results.iter().enumerate() {
                    a.varied[r.index()] = a.varied(body.params[1 + k]);
                }
                continue;
            }
            op => op
                .args()
                .iter()
                .enumerate()
                .any(|(i, &v)| a.varied(v) && differentiable_arg(op, i)),
        };
        for r in &inst.results {
            a.varied[r.index()] = varied;
        }
    }
}

fn backward(a: &mut Activity, region: &Region) {
    for inst in region.insts.iter().rev() {
        match &inst.op {
            Op::If {
                cond,
                then_region,
                else_region,
            } => {
                for (k, r) in inst.results.iter().enumerate() {
                    for arm in [then_region, else_region] {
                        let y = arm.yields[k].index();
                        a.useful[y] |= a.useful[r.index()];
                        a.live[y] |= a.live[r.index()];
                    }
                }
                if inst.results.iter().any(|r| a.live(*r)) {
                    a.live[cond.index()] = true;
                    backward(a, then_region);
                    backward(a, else_region);
                }
            }
            // Needed at the end of an iteration if needed after the loop or at
            // the start of the next one: iterate to the fixpoint.
            Op::For { args, body, cond } => {
                if !inst.results.iter().any(|r| a.live(*r)) {
                    continue;
                }
                for (k, r) in inst.results.iter().enumerate() {
                    a.useful[body.yields[k].index()] |= a.useful[r.index()];
                    a.live[body.yields[k].index()] |= a.live(*r);
                }
                if let Some(cond) = cond {
                    a.live[cond.yields[0].index()] = true;
                }
                loop {
                    backward(a, body);
                    // The condition reads the carried values: they are live.
                    if let Some(cond) = cond {
                        backward(a, cond);
                        for (p, q) in body.params.iter().zip(&cond.params) {
                            a.live[p.index()] |= a.live(*q);
                        }
                    }
                    let mut changed = false;
                    for (k, p) in body.params[1..].iter().enumerate() {
                        let y = body.yields[k].index();
                        let (useful, live) = (a.useful[p.index()], a.live(*p));
                        if (useful && !a.useful[y]) || (live && !a.live[y]) {
                            a.useful[y] |= useful;
                            a.live[y] |= live;
                            changed = true;
                        }
                    }
                    if !changed {
                        break;
                    }
                }
                a.live[args[0].index()] = true;
                for (k, p) in body.params[1..].iter().enumerate() {
                    a.useful[args[1 + k].index()] |= a.useful[p.index()];
                    a.live[args[1 + k].index()] |= a.live(*p);
                }
            }
            op => {
                let (useful, live) = inst
                    .results
                    .iter()
                    .fold((false, false), |(u, l), r| (u || a.useful[r.index()], l || a.live(*r)));
                for (i, v) in op.args().iter().enumerate() {
                    a.useful[v.index()] |= useful && differentiable_arg(op, i);
                    a.live[v.index()] |= live;
                }
                if let Op::Map { captures, .. } = op {
                    for v in captures {
                        a.live[v.index()] |= live;
                    }
                }
            }
        }
    }
}

fn report_opaque(a: &Activity, region: &Region, errors: &mut Errors) {
    for inst in &region.insts {
        match &inst.op {
            Op::Opaque { what, origin, .. } if inst.results.iter().any(|r| a.active(*r)) => {
                let message = match what {
                    Opaque::Method(name) => msg::no_rule_method(name),
                    Opaque::FloatCast => msg::float_cast(),
                    Opaque::Expr => msg::no_rule_expr(),
                    Opaque::VecMacro => msg::vec_of_differentiated(),
                };
                errors.push(origin, message);
            }
            Op::If {
                then_region,
                else_region,
                ..
            } => {
                report_opaque(a, then_region, errors);
                report_opaque(a, else_region, errors);
            }
            Op::For { body, .. } => report_opaque(a, body, errors),
            // The scalar function's own errors, and outer values it may not read.
            Op::Map { scalar, captures, .. } if inst.results.iter().any(|r| a.live(*r)) => {
                analyse(scalar, errors);
                if captures.iter().any(|c| a.varied(*c)) && inst.results.iter().any(|r| a.active(*r)) {
                    errors.push_at(inst.span, msg::map_capture());
                }
            }
            _ => {}
        }
    }
}
