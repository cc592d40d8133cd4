//! What the reverse sweep reads without recording it: constants, written
//! again, and cheap values, recomputed.

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;

use crate::activity::Activity;
use crate::ir::{Inst, Op, Region, Value};

pub(super) fn collect_consts(region: &Region, consts: &mut HashMap<Value, TokenStream>) {
    for inst in &region.insts {
        match &inst.op {
            Op::Const(tokens) => {
                consts.insert(inst.results[0], tokens.clone());
            }
            Op::If {
                then_region,
                else_region,
                ..
            } => {
                collect_consts(then_region, consts);
                collect_consts(else_region, consts);
            }
            Op::For { body, .. } => collect_consts(body, consts),
            _ => {}
        }
    }
}

/// The buffers that element assignments update, in every version: an
/// element read of one is saved rather than recomputed, since recomputing it
/// would keep the whole buffer as it was then.
pub(super) fn collect_written(region: &Region, out: &mut HashSet<Value>) {
    region.walk(&mut |inst| {
        if let Op::Prim { rule, args, .. } = &inst.op {
            if std::ptr::eq(*rule, &crate::rules::ASSIGN_INDEX) {
                out.insert(args[0]);
                out.insert(inst.results[0]);
            }
        }
    });
}

/// The longest chain of differentiated scalar arithmetic that the reverse
/// sweep redoes rather than saves: a few flops cost less than a store per
/// iteration and a load back.
const MAX_RECOMPUTED_CHAIN: u32 = 3;

/// The instructions whose values the reverse sweep recomputes rather than
/// saves: element reads `x[i]` of buffers never `written`, arithmetic that
/// carries no derivative on values known to be scalars (literals, loop
/// indices, index arithmetic), and short chains of differentiated scalar
/// arithmetic on those (`x[i + 1] - x[i] * x[i]`). They cost less to redo
/// than to store per iteration, and read only values the reverse sweep has.
/// Values of unknown type (a product might be a matrix product) and longer
/// differentiated chains are saved.
///
/// `scalars` maps each value known to be a scalar to the number of
/// operations that recomputing it redoes (zero for what is read or saved).
pub(super) fn collect_recomputable(
    region: &Region,
    act: &Activity,
    written: &HashSet<Value>,
    out: &mut HashMap<Value, Inst>,
    scalars: &mut HashMap<Value, u32>,
) {
    use crate::rules::{is_arithmetic, is_index};
    for inst in &region.insts {
        match &inst.op {
            Op::Const(_) => {
                scalars.insert(inst.results[0], 0);
            }
            Op::Prim { rule, args, .. } if is_index(rule) => {
                scalars.insert(inst.results[0], 0);
                if !written.contains(&args[0]) {
                    out.insert(inst.results[0], inst.clone());
                }
            }
            Op::Prim { rule, args, .. } if is_arithmetic(rule) && args.iter().all(|a| scalars.contains_key(a)) => {
                // The operations redone to recompute it: its own, and those
                // of the differentiated operands that are recomputed too.
                let chain = 1 + args
                    .iter()
                    .filter(|a| out.contains_key(a))
                    .map(|a| scalars[a])
                    .sum::<u32>();
                if !act.varied(inst.results[0]) {
                    scalars.insert(inst.results[0], 0);
                    out.insert(inst.results[0], inst.clone());
                } else if chain <= MAX_RECOMPUTED_CHAIN && args.iter().all(|a| out.contains_key(a) || !act.varied(*a)) {
                    scalars.insert(inst.results[0], chain);
                    out.insert(inst.results[0], inst.clone());
                } else {
                    // Saved: reading it back costs no recomputation.
                    scalars.insert(inst.results[0], 0);
                }
            }
            // Index arithmetic and comparisons (integers and booleans):
            // redone when they call nothing.
            Op::Passive { expr, .. } => {
                scalars.insert(inst.results[0], 0);
                if calls_nothing(expr) {
                    out.insert(inst.results[0], inst.clone());
                }
            }
            Op::If {
                then_region,
                else_region,
                ..
            } => {
                collect_recomputable(then_region, act, written, out, scalars);
                collect_recomputable(else_region, act, written, out, scalars);
            }
            Op::For { body, cond, .. } => {
                scalars.insert(body.params[0], 0);
                collect_recomputable(body, act, written, out, scalars);
                if let Some(cond) = cond {
                    scalars.insert(cond.params[0], 0);
                }
            }
            _ => {}
        }
    }
}

/// Whether an expression emitted as written calls no function or method (so
/// that evaluating it again is cheap and cannot have effects).
pub fn calls_nothing(expr: &TokenStream) -> bool {
    struct Calls(bool);
    impl<'a> syn::visit::Visit<'a> for Calls {
        fn visit_expr(&mut self, e: &'a syn::Expr) {
            if matches!(e, syn::Expr::Call(_) | syn::Expr::MethodCall(_) | syn::Expr::Macro(_)) {
                self.0 = true;
            }
            syn::visit::visit_expr(self, e);
        }
    }
    match syn::parse2::<syn::Expr>(expr.clone()) {
        Ok(e) => {
            let mut calls = Calls(false);
            syn::visit::Visit::visit_expr(&mut calls, &e);
            !calls.0
        }
        Err(_) => false,
    }
}
