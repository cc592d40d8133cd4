//! Negated adjoints: `b̄ = -ȳ` of `y = a - b` (or `y = -b`) is not computed
//! where it can be carried as a sign instead.
//!
//! Every reverse rule is linear in its cotangent, so where `b`'s adjoint
//! local would start as `-ȳ`, it can hold `ȳ` itself and be marked
//! negated: the reverse of `b`'s own instruction then passes the sign on to
//! its operands, and the sign is spent where a contribution meets an adjoint
//! of the other sign, as a subtraction (`x̄ -= ..`, `Window::sub`) rather
//! than a negation. For `t = x[i + 1] - x[i] * x[i]` (W1), `x̄[i] -= t̄ x[i]`
//! twice rather than `n = -t̄; x̄[i] += n x[i]` twice: the negation was kept
//! because its product has two uses (W1: 1.48 → 1.43 µs).
//!
//! A value is marked only where its adjoint is read by nothing but the
//! reverse of its own instruction: it is defined by an arithmetic or
//! element-read instruction of the region being reversed and read only by
//! instructions at that region's top level (not yielded, not read in an
//! arm or a loop, whose reverse reads adjoints as they are). Where a negated
//! cotangent would reach an adjoint that cannot take the sign (a parameter's,
//! one started unmarked), the reverse of that instruction starts with one
//! negation of it, the negation the subtraction would have made. First-order
//! sweeps only: second-order terms read adjoints as values.

use proc_macro2::TokenStream;
use quote::quote;

use super::moves::mentions;
use super::{adj_ident, Reverse};
use crate::ir::{Op, Region, Value};
use crate::rules::{is_arithmetic, is_index, Partial, Rule, NEG, SUB};

/// Whether argument `i`'s reverse rule is the negation of the cotangent.
pub(super) fn negates(rule: &Rule, i: usize) -> bool {
    (std::ptr::eq(rule, &SUB) && i == 1) || std::ptr::eq(rule, &NEG)
}

impl Reverse<'_> {
    /// Forgets the marks of a region's values, before its reverse derives them again.
    pub(super) fn clear_signs(&mut self, region: &Region) {
        for inst in &region.insts {
            for r in &inst.results {
                self.negated.remove(r);
            }
        }
    }

    /// Whether `v`'s adjoint may be kept negated in `region`'s reverse: `v`
    /// is an arithmetic result or an element of `region`, read only by its
    /// top-level rules.
    pub(super) fn negatable(&self, v: Value, region: &Region) -> bool {
        let defined = region.insts.iter().any(|inst| {
            inst.results.first() == Some(&v)
                && matches!(&inst.op, Op::Prim { rule, .. } if is_arithmetic(rule) || is_index(rule))
        });
        let read_by_rules_only = !region.yields.contains(&v)
            && region
                .insts
                .iter()
                .all(|inst| matches!(inst.op, Op::Prim { .. }) || !mentions(&inst.op, v));
        !self.second_order && defined && read_by_rules_only
    }

    /// Whether the reverse of an instruction whose cotangent `ȳ` is held
    /// negated must negate it first: some argument's contribution reaches an
    /// adjoint that cannot take the sign (`order`: its partials in order).
    pub(super) fn must_negate(
        &self,
        rule: &Rule,
        args: &[Value],
        order: &[usize],
        result: Value,
        region: &Region,
    ) -> bool {
        let mut started = std::collections::HashSet::new();
        order.iter().any(|&i| {
            let arg = args[i];
            let windowed = i == 0 && self.windowed.contains_key(&result);
            let plain = matches!(rule.partials[i], Partial::Vjp { .. }) && !negates(rule, i) && !windowed;
            let first = started.insert(arg);
            plain
                && first
                && match self.declared.contains(&arg) {
                    true => !self.negated.contains(&arg),
                    false => !self.negatable(arg, region),
                }
        })
    }

    /// The contribution of a negating partial (`b` of `a - b`, or `-b`) with
    /// the cotangent `ȳ` in `ct`, held negated if `ct_negated`, where a sign
    /// can replace the negation; `None` where the rule's own code does.
    pub(super) fn negating_partial(
        &mut self,
        ct_negated: bool,
        arg: Value,
        region: &Region,
        take: bool,
        ct: &TokenStream,
    ) -> Option<TokenStream> {
        let private = &self.private;
        let adj = adj_ident(arg);
        // The contribution is `-ȳ`: `ct` itself if it holds `-ȳ`.
        if self.declared.contains(&arg) {
            // `x̄ -= ȳ` is the rule's own; a negated `x̄` adds instead.
            let add = ct_negated != self.negated.contains(&arg);
            return match add {
                true => Some(quote!(#private::rules::add::vjp_a_acc(&mut #adj, &#ct);)),
                false if ct_negated => Some(quote!(#private::rules::sub::vjp_b_acc(&mut #adj, &#ct);)),
                false => None,
            };
        }
        if !ct_negated && !self.negatable(arg, region) {
            return None;
        }
        self.declared.insert(arg);
        if !ct_negated {
            self.negated.insert(arg);
        }
        Some(match take {
            true => quote!(let mut #adj = #ct;),
            false => quote!(let mut #adj = #private::rules::add::vjp_a(&#ct);),
        })
    }
}
