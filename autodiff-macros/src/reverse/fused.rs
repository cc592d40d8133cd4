//! Reduction loops, reversed inside their forward sweep.
//!
//! A loop whose only differentiated carried value is a sum of reals started
//! at a literal, `s = s + e` (or `e + s`, `s - e`) with `s` read nowhere else,
//! passes the same adjoint `s̄` to every iteration: the result's. Its
//! reverse is linear in `s̄`, so each iteration's reverse can run right after
//! its forward with `s̄ = 1`, adding into accumulators for the values outside
//! the loop that it reaches; the reverse sweep then adds `s̄` times each
//! accumulator. Nothing is recorded per iteration, and the body's values are
//! read while they are in cache, as a hand-written adjoint does (W1's sum,
//! W6's sum over points):
//!
//! ```text
//! let (__ad_u12_0,) = {
//!     let mut __ad_d0 = zero_grad(x);               // x̄ for a unit s̄
//!     for i in range { <body>; { let mut __ad_d9 = 1; <body's reverse> } s = y; }
//!     (__ad_d0,)
//! };
//! ... reverse sweep: x̄ += s̄ · __ad_u12_0
//! ```
//!
//! First-order sweeps only. Reversed as usual: a loop in an `if` arm or in
//! another loop (see `collect_fused`), a body with a loop inside (see
//! `has_loop`), a body that assigns elements of a buffer (its reverse may
//! read a buffer an update has moved), a sum started at anything but a
//! number.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::{adj_ident, moves, Reverse};
use crate::ir::{Inst, Op, Region, Value};
use crate::rules::{ADD, SUB};

impl Reverse<'_> {
    /// Finds the reduction loops at the top level of the function body:
    /// there a loop's accumulators, declared in the forward sweep, are in
    /// scope where the reverse sweep reads them (in an `if` arm or the body
    /// of a recorded loop they would be gone by then).
    pub(super) fn collect_fused(&mut self, body: &Region) {
        for inst in &body.insts {
            if let Op::For { args, body, cond } = &inst.op {
                if let Some(k) = self.reduction(inst, args, body, cond.is_some()) {
                    self.fused.insert(inst.results[0], k);
                    defined_in(body, &mut self.fused_values);
                }
            }
        }
    }

    /// The carried value a loop sums, if it is a reduction loop.
    fn reduction(&self, inst: &Inst, args: &[Value], body: &Region, has_cond: bool) -> Option<usize> {
        if self.second_order || has_cond || writes_elements(body) || has_loop(body) {
            return None;
        }
        let active: Vec<usize> = (0..inst.results.len())
            .filter(|&k| self.carries_adjoint(inst, k))
            .collect();
        let [k] = active[..] else { return None };
        // Started at a number, so that the sum is a real and its adjoint a
        // scalar that scales the accumulators.
        if !self.consts.get(&args[1 + k]).is_some_and(is_number) {
            return None;
        }
        let (s, y) = (body.params[1 + k], body.yields[k]);
        let update = body.insts.iter().find(|i| i.results.first() == Some(&y))?;
        let Op::Prim {
            rule, args: operands, ..
        } = &update.op
        else {
            return None;
        };
        let sum = (std::ptr::eq(*rule, &ADD) && (operands[0] == s) != (operands[1] == s))
            || (std::ptr::eq(*rule, &SUB) && operands[0] == s && operands[1] != s);
        (sum && moves::uses(body, s) == 1 && moves::uses(body, y) == 1).then_some(k)
    }

    /// The accumulator of target `v` for the fused loop `inst`.
    fn accumulator(inst: &Inst, v: Value) -> Ident {
        format_ident!("__ad_u{}_{}", inst.results[0].0, v.0)
    }

    /// Builds, once `mark_needed` has run, each fused loop's in-iteration
    /// reverse (kept for `forward_loop`).
    pub(super) fn build_fused(&mut self, body: &Region) {
        for inst in &body.insts {
            let Op::For { args, body, .. } = &inst.op else { continue };
            let Some(&k) = self.fused.get(&inst.results[0]) else {
                continue;
            };
            let outer = std::mem::take(&mut self.declared);
            self.declared.extend(self.outer_targets(inst));
            let (y, seed) = (body.yields[k], self.borrow(args[1 + k]));
            let (private, adj) = (self.private.clone(), adj_ident(y));
            let mut code = quote!(let mut #adj = #private::one_like(#seed););
            self.declared.insert(y);
            self.reverse(body, &mut code);
            self.declared = outer;
            self.fused_code.insert(inst.results[0], code);
        }
    }

    /// A fused loop's forward sweep around the loop `run` (which ends its
    /// iterations with `fused_code`): the accumulators start at zero in a
    /// block of their own (named like the adjoints they stand for, they do
    /// not outlive it) and are kept for the reverse sweep.
    pub(super) fn fused_forward(&self, inst: &Inst, run: TokenStream) -> TokenStream {
        let targets = self.outer_targets(inst);
        let zeros = targets.iter().map(|v| self.zero_like(*v));
        let adjoints: Vec<Ident> = targets.iter().map(|v| adj_ident(*v)).collect();
        let kept = targets.iter().map(|v| Self::accumulator(inst, *v));
        quote! {
            let (#(#kept,)*) = {
                #(let mut #adjoints = #zeros;)*
                #run
                (#(#adjoints,)*)
            };
        }
    }

    /// A fused loop's place in the reverse sweep: `v̄ += s̄ · u_v` per target.
    pub(super) fn reverse_fused(&mut self, inst: &Inst, out: &mut TokenStream) {
        let result = inst.results[0];
        if !self.declared.contains(&result) {
            return;
        }
        let (private, scale) = (self.private.clone(), adj_ident(result));
        for v in self.outer_targets(inst) {
            let (adj, u) = (adj_ident(v), Self::accumulator(inst, v));
            if self.declared.insert(v) {
                out.extend(quote!(let mut #adj = #private::zero_grad(&#u);));
            }
            out.extend(quote!(#private::Axpy::axpy(&mut #adj, #scale, &#u);));
        }
    }
}

/// Whether a constant is a number (`0.0`, `-1`), not a path that could name
/// a matrix.
fn is_number(tokens: &TokenStream) -> bool {
    match syn::parse2::<syn::Expr>(tokens.clone()) {
        Ok(syn::Expr::Lit(_)) => true,
        Ok(syn::Expr::Unary(u)) => matches!(*u.expr, syn::Expr::Lit(_)),
        _ => false,
    }
}

/// Whether a region holds a loop (at any depth). A body with a loop inside
/// is reversed as usual: its own work dwarfs its tape, and its reverse
/// inside the forward sweep made W6's inner loops slower (2.5 → 2.7
/// objectives; W1's loop, without one inside, went from 2.7 to 2.45).
fn has_loop(region: &Region) -> bool {
    let mut found = false;
    region.walk(&mut |inst| found |= matches!(inst.op, Op::For { .. }));
    found
}

/// Whether a region assigns an element of a buffer (at any depth).
fn writes_elements(region: &Region) -> bool {
    let mut written = HashSet::new();
    super::saved::collect_written(region, &mut written);
    !written.is_empty()
}

/// The values a region defines (at any depth), its parameters included.
fn defined_in(region: &Region, out: &mut HashSet<Value>) {
    out.extend(region.params.iter().copied());
    region.walk(&mut |inst| {
        out.extend(inst.results.iter().copied());
        if let Op::For { body, cond, .. } = &inst.op {
            out.extend(body.params.iter().copied());
            out.extend(cond.iter().flat_map(|c| c.params.iter().copied()));
        }
    });
}
