//! Which operands the forward sweep may take by move.
//!
//! Three instructions take an operand by value: an element assignment
//! `v[i] = e` (the SSA instruction `v2 = assign_index(v1, i, e)`, which
//! updates `v1` in place rather than copying the buffer), a loop (its
//! initial values become the carried state) and an `if` arm that yields a
//! value defined before it (an arm that leaves a buffer unchanged). Moving
//! is sound where nothing reads the operand after: no later instruction of
//! its region or of an enclosing `if` arm, no yield. A value defined outside
//! a loop cannot move inside it (the next iteration reads it); the lowering
//! makes a buffer a loop assigns a carried value, which the body owns. The
//! caller also keeps values that the reverse sweep reads.

use std::collections::HashSet;

use crate::ir::{Func, Op, Region, Value};
use crate::rules::ASSIGN_INDEX;

/// The pairs `(first result of the instruction, operand)` where the
/// instruction is the operand's last use.
pub(super) fn last_uses(func: &Func) -> HashSet<(Value, Value)> {
    let mut out = HashSet::new();
    let params: HashSet<Value> = func.params.iter().map(|p| p.value).chain([func.output]).collect();
    walk(&func.body, &mut Vec::new(), &params, &mut out);
    out
}

/// An enclosing region and the position in it of the instruction being visited.
struct Frame<'a> {
    region: &'a Region,
    at: usize,
    /// A loop body or `while` condition: runs more than once.
    repeats: bool,
}

fn walk<'a>(region: &'a Region, stack: &mut Vec<Frame<'a>>, kept: &HashSet<Value>, out: &mut HashSet<(Value, Value)>) {
    for (at, inst) in region.insts.iter().enumerate() {
        let first = inst.results.first().copied();
        let mut take = |v: Value, stack: &[Frame]| {
            if let Some(first) = first.filter(|_| !kept.contains(&v) && is_last_use(v, region, at, stack)) {
                out.insert((first, v));
            }
        };
        match &inst.op {
            Op::Prim { rule, args, .. } if std::ptr::eq(*rule, &ASSIGN_INDEX) => take(args[0], stack),
            Op::If {
                then_region,
                else_region,
                ..
            } => {
                for arm in [then_region, else_region] {
                    // A value from before the arm, yielded once and not read after.
                    for &y in &arm.yields {
                        let defined = arm.insts.iter().any(|i| i.results.contains(&y));
                        if !defined && arm.yields.iter().filter(|&&z| z == y).count() == 1 {
                            take(y, stack);
                        }
                    }
                }
                for arm in [then_region, else_region] {
                    stack.push(Frame {
                        region,
                        at,
                        repeats: false,
                    });
                    walk(arm, stack, kept, out);
                    stack.pop();
                }
            }
            Op::For { args, body, cond } => {
                let nested = |v: Value| {
                    let in_region = |r: &Region| r.yields.contains(&v) || r.insts.iter().any(|i| mentions(&i.op, v));
                    in_region(body) || cond.as_ref().is_some_and(in_region)
                };
                for (k, &init) in args.iter().enumerate().skip(1) {
                    if !nested(init) && !args[k + 1..].contains(&init) && !args[1..k].contains(&init) {
                        take(init, stack);
                    }
                }
                for inner in std::iter::once(body).chain(cond) {
                    stack.push(Frame {
                        region,
                        at,
                        repeats: true,
                    });
                    walk(inner, stack, kept, out);
                    stack.pop();
                }
            }
            _ => {}
        }
    }
}

/// Whether nothing reads `v` after instruction `at` of `region`, up to the
/// region that defines `v`, crossing only `if` arms.
fn is_last_use(v: Value, region: &Region, at: usize, stack: &[Frame]) -> bool {
    let (mut region, mut at, mut depth) = (region, at, stack.len());
    loop {
        if region.yields.contains(&v) || region.insts[at + 1..].iter().any(|i| mentions(&i.op, v)) {
            return false;
        }
        let defined_here = region.params.contains(&v) || region.insts[..at].iter().any(|i| i.results.contains(&v));
        if defined_here {
            return true;
        }
        // Defined further out: the instruction holding this region is
        // reached once per visit only if it is an `if`.
        let Some(frame) = depth.checked_sub(1).map(|d| &stack[d]) else {
            return false;
        };
        if frame.repeats {
            return false;
        }
        (region, at, depth) = (frame.region, frame.at, depth - 1);
    }
}

/// Whether an operation reads `v`, directly or in a nested region.
pub(super) fn mentions(op: &Op, v: Value) -> bool {
    op_uses(op, v) > 0
}

/// How many times a region reads `v`: operands at any depth, and yields.
pub(crate) fn uses(region: &Region, v: Value) -> usize {
    let here = region.yields.iter().filter(|&&y| y == v).count();
    here + region.insts.iter().map(|inst| op_uses(&inst.op, v)).sum::<usize>()
}

/// How many times an operation reads `v`, directly or in a nested region.
fn op_uses(op: &Op, v: Value) -> usize {
    let direct = op.args().iter().filter(|&&a| a == v).count();
    let nested = match op {
        Op::If {
            then_region,
            else_region,
            ..
        } => uses(then_region, v) + uses(else_region, v),
        Op::For { body, cond, .. } => uses(body, v) + cond.as_ref().map_or(0, |c| uses(c, v)),
        Op::Map { captures, .. } => captures.iter().filter(|&&c| c == v).count(),
        _ => 0,
    };
    direct + nested
}
