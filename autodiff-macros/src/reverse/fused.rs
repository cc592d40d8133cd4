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
//! ... reverse sweep: x̄ += s̄ · __ad_u12_0 (or x̄ = s̄ · __ad_u12_0 in place)
//! ```
//!
//! Element reads at consecutive offsets (`x[i]`, `x[i + 1]`: a stencil)
//! add into a window of registers rather than into `x̄` (see [`Stencil`]).
//!
//! Loops inside the body record as usual, onto tapes the iteration's reverse
//! empties again: one iteration's tape stays in cache and its storage is
//! reused by the next (W6, whose sum over points holds the loops over
//! components and coordinates: 6.15 → 5.47 ms, the hand-written gradient's
//! shape: each point's adjoint right after its forward).
//!
//! First-order sweeps only. Reversed as usual: a loop in an `if` arm or in
//! another loop (see `collect_fused`), a body that assigns elements of a
//! buffer (its reverse may read a buffer an update has moved), a sum started
//! at anything but a number.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::{adj_ident, moves, Reverse};
use crate::ir::{Inst, Op, Region, Value};
use crate::rules::{ADD, INDEX, SUB};

/// Element reads `x[i + c]` of an outer container in a fused loop over
/// `i in a..b`, at offsets `c` spanning `len` consecutive integers: their
/// adjoints add into a window of registers (the runtime's `Window`) that
/// writes each element of `x̄` once, when no later iteration reaches it,
/// rather than once per read (scalar replacement, as for a stencil).
pub(super) struct Stencil {
    window: Ident,
    target: Value,
    len: usize,
    /// Only the window writes `x̄` in the loop, which starts it at zero:
    /// elements are stored rather than added.
    store: bool,
    /// The index of the smallest offset, the element each iteration writes.
    first: Value,
}

/// Widest stencil kept in registers.
const MAX_STENCIL: usize = 4;

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
                    body.defined(&mut self.fused_values);
                }
            }
        }
    }

    /// The carried value a loop sums, if it is a reduction loop.
    fn reduction(&self, inst: &Inst, args: &[Value], body: &Region, has_cond: bool) -> Option<usize> {
        if self.second_order || has_cond || writes_elements(body) {
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
            let stencils = self.find_stencils(inst, args[0], body);
            let outer = std::mem::take(&mut self.declared);
            self.declared.extend(self.outer_targets(inst));
            let (y, seed) = (body.yields[k], self.borrow(args[1 + k]));
            let (private, adj) = (self.private.clone(), adj_ident(y));
            let mut code = quote!(let mut #adj = #private::one_like(#seed););
            self.declared.insert(y);
            self.reverse(body, &mut code);
            for st in &stencils {
                let (window, adj, first) = (&st.window, adj_ident(st.target), self.func.ident(st.first));
                code.extend(quote!(#window.advance(&mut #adj, #first);));
            }
            self.stencils.insert(inst.results[0], stencils);
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
        let stencils = &self.stencils[&inst.results[0]];
        let windows: Vec<&Ident> = stencils.iter().map(|st| &st.window).collect();
        let lens = stencils.iter().map(|st| st.len);
        let modes = stencils.iter().map(|st| match st.store {
            true => quote!(storing),
            false => quote!(adding),
        });
        let window_targets = stencils.iter().map(|st| adj_ident(st.target));
        let private = &self.private;
        quote! {
            let (#(#kept,)*) = {
                #(let mut #adjoints = #zeros;)*
                #(let mut #windows = #private::rules::indexing::Window::<_, #lens>::#modes();)*
                #run
                #(#windows.finish(&mut #window_targets);)*
                (#(#adjoints,)*)
            };
        }
    }

    /// The stencils of a fused loop: per outer container, the element reads
    /// at the top level of the body indexed `i`, `i + k` or `i - k` (`k` a
    /// literal), for a loop over `a..b` or `a..=b` (consecutive, ascending
    /// indices). Reads of other forms, or inside an `if`, add into `x̄`
    /// directly, which is as right: the loop only adds into `x̄`.
    fn find_stencils(&mut self, inst: &Inst, iter: Value, body: &Region) -> Vec<Stencil> {
        let ascending = self.func.body.insts.iter().any(|d| {
            d.results.first() == Some(&iter)
                && matches!(&d.op, Op::Passive { expr, .. }
                    if matches!(unparenthesized(expr), Some(syn::Expr::Range(r)) if r.start.is_some() && r.end.is_some()))
        });
        let (Some(&i), true) = (body.params.first(), ascending) else {
            return Vec::new();
        };
        let offset = |v: Value| -> Option<i64> {
            if v == i {
                return Some(0);
            }
            let def = body.insts.iter().find(|d| d.results.first() == Some(&v))?;
            match &def.op {
                Op::Passive { expr, args } if args[..] == [i] => literal_offset(expr),
                _ => None,
            }
        };
        let mut stencils = Vec::new();
        for target in self.outer_targets(inst) {
            let reads: Vec<(Value, Value, i64)> = body
                .insts
                .iter()
                .filter_map(|d| match &d.op {
                    Op::Prim { rule, args, .. } if std::ptr::eq(*rule, &INDEX) && args[0] == target => {
                        Some((d.results[0], args[1], offset(args[1])?))
                    }
                    _ => None,
                })
                .collect();
            let (Some(lo), Some(hi)) = (reads.iter().map(|r| r.2).min(), reads.iter().map(|r| r.2).max()) else {
                continue;
            };
            let len = (hi - lo + 1) as usize;
            if !(2..=MAX_STENCIL).contains(&len) {
                continue;
            }
            let window = format_ident!("__ad_w{}_{}", inst.results[0].0, target.0);
            for &(read, _, c) in &reads {
                self.windowed.insert(read, (window.clone(), (c - lo) as usize));
            }
            let first = reads.iter().find(|r| r.2 == lo).expect("the smallest offset is read").1;
            // Every use of `x` with a derivative is a windowed read.
            let mut others = 0;
            body.walk(&mut |d| {
                if d.op.args().contains(&target) && !matches!(d.op, Op::Passive { .. }) {
                    others += 1;
                }
            });
            stencils.push(Stencil {
                window,
                target,
                len,
                store: others == reads.len(),
                first,
            });
        }
        stencils
    }

    /// A fused loop's place in the reverse sweep: `v̄ += s̄ · u_v` per target,
    /// or `v̄ = s̄ · u_v` in `u_v`'s storage where `v̄` starts here (for
    /// `f_grad`, whose `s̄` is the constant 1, the compiler drops the scaling).
    pub(super) fn reverse_fused(&mut self, inst: &Inst, out: &mut TokenStream) {
        let result = inst.results[0];
        if !self.declared.contains(&result) {
            return;
        }
        let (private, scale) = (self.private.clone(), adj_ident(result));
        for v in self.outer_targets(inst) {
            let (adj, u) = (adj_ident(v), Self::accumulator(inst, v));
            if self.declared.insert(v) {
                out.extend(quote!(let mut #adj = #u; #private::Axpy::scale(&mut #adj, #scale);));
            } else {
                out.extend(quote!(#private::Axpy::axpy(&mut #adj, #scale, &#u);));
            }
        }
    }
}

/// `k` in an index `i + k`, `k + i` or `i - k`, with `i` the only local
/// and `k` an integer literal.
fn literal_offset(expr: &TokenStream) -> Option<i64> {
    use syn::{BinOp, Expr, Lit};
    let literal = |e: &Expr| match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Int(k) => k.base10_parse::<i64>().ok(),
            _ => None,
        },
        _ => None,
    };
    let Expr::Binary(b) = unparenthesized(expr)? else {
        return None;
    };
    let local = |e: &Expr| matches!(e, Expr::Path(_));
    match b.op {
        BinOp::Add(_) if local(&b.left) => literal(&b.right),
        BinOp::Add(_) if local(&b.right) => literal(&b.left),
        BinOp::Sub(_) if local(&b.left) => literal(&b.right).map(|k| -k),
        _ => None,
    }
}

/// Passive code as an expression, without enclosing parentheses.
fn unparenthesized(expr: &TokenStream) -> Option<syn::Expr> {
    let mut e = syn::parse2::<syn::Expr>(expr.clone()).ok()?;
    while let syn::Expr::Paren(p) = e {
        e = *p.expr;
    }
    Some(e)
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

/// Whether a region assigns an element of a buffer (at any depth).
fn writes_elements(region: &Region) -> bool {
    let mut written = HashSet::new();
    super::saved::collect_written(region, &mut written);
    !written.is_empty()
}
