//! Calls of other differentiable functions that the caller can make
//! cheaper, because it knows how it uses them:
//!
//! - `f_pullback(w.., x, seed)` in a loop where only the seed changes runs
//!   `f`'s forward sweep once, before the loop (`f_pullback_share`), and each
//!   call pulls its seed through a copy of it (`f_pullback_vjp_from`): a
//!   Jacobian penalty's loop over the rows (W5);
//! - a gradient read only through some fields (`g.x` of
//!   `let (l, g) = f_grad(..)`, or of `f_pullback(..)`) is asked for those
//!   alone, and the tangents of the adjoints of the arguments differentiated
//!   here alone (`f_vjp2_want`'s mask): the callee's stage 2 skips the other
//!   parameters' gradients, its stage 4 the other tangents.
//!
//! Both are recognised by the callee's name (`_pullback`, `_grad`) and by
//! the result being read only through fields: only generated functions
//! return a gradient struct.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};

use super::{Reverse, Saved};
use crate::ir::{Op, Region, Value};

impl Reverse<'_> {
    /// Finds, in the loops of a first-order body, the calls of a generated
    /// `f_pullback` (an `order = 2` function's) whose arguments before the
    /// cotangent are references from outside the loop: their forward sweep
    /// of `f` runs once, before the loop, and each call clones it (a
    /// Jacobian penalty's loop over seeds, W5). The name is the convention:
    /// only `order = 2` functions have an `f_pullback`.
    pub(super) fn collect_shared(&mut self, region: &Region) {
        let mut loops = Vec::new();
        region.walk(&mut |inst| {
            if let Op::For { body, .. } = &inst.op {
                loops.push(body);
            }
        });
        for body in loops {
            let mut inside = HashSet::new();
            super::fused::defined_in(body, &mut inside);
            for inst in &body.insts {
                let Op::Call { args, by_ref, .. } = &inst.op else {
                    continue;
                };
                let pullback = self.is_pullback(inst);
                let Some((_, leading)) = args.split_last() else {
                    continue;
                };
                let invariant = leading.iter().enumerate().all(|(k, a)| {
                    !inside.contains(a) && (by_ref[k] || self.func.info(*a).is_ref || self.consts.contains_key(a))
                });
                if pullback && !leading.is_empty() && invariant {
                    self.shared
                        .insert(inst.results[0], format_ident!("__ad_share{}", inst.results[0].0));
                }
            }
        }
    }

    /// Whether the call `inst` is of an `f_pullback`: named so, with a
    /// cotangent, and its result, a gradient struct, read only through
    /// fields (a function of the user's named so returns no struct).
    pub(super) fn is_pullback(&self, inst: &crate::ir::Inst) -> bool {
        let Op::Call { path, args, .. } = &inst.op else {
            return false;
        };
        let named = path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().ends_with("_pullback"));
        let v = inst.results[0];
        let mut fields = 0;
        self.func
            .body
            .walk(&mut |i| fields += usize::from(matches!(&i.op, Op::Field { base, .. } if *base == v)));
        named && !args.is_empty() && fields > 0 && fields == super::moves::uses(&self.func.body, v)
    }

    /// The mask of `f_vjp2_want` for a call of `f_pullback` or `f_grad`
    /// (`path`, whose name ends in `suffix`) whose gradient the body holds
    /// as `gradients`: the fields it reads of them (`f_want_x() | ..`, all
    /// unless every use is a field), and the tangents of the adjoints of
    /// the arguments that have a derivative here (`f_want_tangent(i)`).
    pub(super) fn want_mask(&self, path: &syn::Path, suffix: &str, gradients: &[Value], args: &[Value]) -> TokenStream {
        let base = path.segments.last().map(|s| s.ident.to_string());
        let Some(base) = base.as_deref().and_then(|n| n.strip_suffix(suffix)) else {
            return quote!(u64::MAX);
        };
        let companion = |name: String| {
            let mut path = path.clone();
            path.segments.last_mut().expect("a named function").ident = format_ident!("{}", name);
            path
        };
        let mut fields = Vec::new();
        let mut field_uses = 0;
        self.func.body.walk(&mut |inst| {
            if let Op::Field { base, member } = &inst.op {
                if gradients.contains(base) {
                    field_uses += 1;
                    if !fields.contains(member) {
                        fields.push(member.clone());
                    }
                }
            }
        });
        let uses: usize = gradients.iter().map(|g| super::moves::uses(&self.func.body, *g)).sum();
        let read = if field_uses > 0 && field_uses == uses {
            let wants = fields.iter().map(|member| {
                let want = companion(format!("{}_want_{}", base, member.to_token_stream()));
                quote!(#want())
            });
            quote!(#(#wants)|*)
        } else {
            quote!(u64::MAX)
        };
        let want_tangent = companion(format!("{base}_want_tangent"));
        let active = (0..args.len()).filter(|&i| self.act.active(args[i]));
        quote!(#read #(| #want_tangent(#active))*)
    }

    /// The shared forward sweeps of the calls in a loop's body, before it.
    pub(super) fn shares_before(&self, body: &Region) -> TokenStream {
        let mut out = TokenStream::new();
        for inst in &body.insts {
            let (Op::Call { path, args, by_ref, .. }, Some(shared)) = (&inst.op, self.shared.get(&inst.results[0]))
            else {
                continue;
            };
            if !self.needed.contains(&Saved::Pullback(inst.results[0])) {
                continue;
            }
            let share = super::companion(path, "share");
            let leading = args[..args.len() - 1].iter().zip(by_ref).map(|(a, r)| {
                let a = self.func.ident(*a);
                if *r {
                    quote!(&#a)
                } else {
                    quote!(#a)
                }
            });
            let want = self.want_mask(path, "_pullback", &[inst.results[0]], &args[..args.len() - 1]);
            out.extend(quote_spanned!(inst.span=> let #shared = #share(#(#leading,)* #want);));
        }
        out
    }

    /// If `v` is used only as a pair, `v.0` and `v.1`, the values `v.1`
    /// (the gradient of an `f_grad` call).
    pub(super) fn grad_tuple(&self, v: Value) -> Option<Vec<Value>> {
        let (mut seconds, mut field_uses, mut pair) = (Vec::new(), 0, true);
        self.func.body.walk(&mut |inst| {
            if let Op::Field { base, member } = &inst.op {
                if *base == v {
                    field_uses += 1;
                    match member {
                        syn::Member::Unnamed(i) if i.index == 1 => seconds.push(inst.results[0]),
                        syn::Member::Unnamed(i) if i.index == 0 => {}
                        _ => pair = false,
                    }
                }
            }
        });
        (pair && !seconds.is_empty() && field_uses == super::moves::uses(&self.func.body, v)).then_some(seconds)
    }
}
