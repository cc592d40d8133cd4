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
//!   parameters' gradients, its stage 4 the other tangents;
//! - the pullback of such a call, in a loop, adds the tangents of its
//!   arguments' adjoints into the caller's running sums in place
//!   (`running_sums`), rather than returning them to be added.
//!
//! All are recognised by the callee's name (`_pullback`, `_grad`) and by
//! the result being read only through fields: only generated functions
//! return a gradient struct.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};

use super::{companion, Reverse, Saved};
use crate::ir::{Inst, Op, Region, Value};

/// The companion a first-order body calls for a call of another
/// differentiable function.
enum CallKind {
    /// `f_pullback(.., ct)` over the forward sweep shared before its loop
    /// (`f_pullback_vjp_from`).
    Shared,
    /// `let (l, g) = f_grad(..)` (a pair is what only `f_grad` returns),
    /// with `g`'s values, read through fields (`f_grad_vjp_want`).
    Grad(Vec<Value>),
    /// `f_pullback(.., ct)` read through fields (`f_pullback_vjp_want`).
    Pullback,
    /// Any other call (`g_vjp`).
    Plain,
}

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
            body.defined(&mut inside);
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
    pub(super) fn is_pullback(&self, inst: &Inst) -> bool {
        let Op::Call { path, args, .. } = &inst.op else {
            return false;
        };
        let named = path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().ends_with("_pullback"));
        named && !args.is_empty() && self.field_reads(&[inst.results[0]]).is_some()
    }

    /// The fields the body reads of `values` and the values it reads them
    /// into, if those reads are all the uses of `values` (and there is one).
    fn field_reads(&self, values: &[Value]) -> Option<Vec<(syn::Member, Value)>> {
        let mut reads = Vec::new();
        self.func.body.walk(&mut |inst| {
            if let Op::Field { base, member } = &inst.op {
                if values.contains(base) {
                    reads.push((member.clone(), inst.results[0]));
                }
            }
        });
        let uses: usize = values.iter().map(|v| super::moves::uses(&self.func.body, *v)).sum();
        (!reads.is_empty() && reads.len() == uses).then_some(reads)
    }

    /// A call's arguments as written: `&x` where it borrows.
    pub(super) fn call_args(&self, args: &[Value], by_ref: &[bool]) -> Vec<TokenStream> {
        args.iter()
            .zip(by_ref)
            .map(|(a, r)| {
                let a = self.func.ident(*a);
                if *r {
                    quote!(&#a)
                } else {
                    quote!(#a)
                }
            })
            .collect()
    }

    /// The call of the companion that gives a call's value and pullback, its
    /// arguments `a` as written: over the forward sweep shared before the
    /// loop (`f_pullback_vjp_from`), asking for the fields and tangents the
    /// body reads (`f_grad_vjp_want`, `f_pullback_vjp_want`), or plain
    /// (`g_vjp`, `g_vjp2` in second-order sweeps).
    pub(super) fn call_vjp(&self, inst: &Inst, path: &syn::Path, args: &[Value], a: &[TokenStream]) -> TokenStream {
        let (result, span) = (inst.results[0], inst.span);
        if self.second_order {
            let vjp2 = companion(path, "vjp2");
            return quote_spanned!(span=> #vjp2(#(#a),*));
        }
        let want = match self.call_kind(inst) {
            CallKind::Shared => {
                let (vjp_from, shared) = (companion(path, "vjp_from"), &self.shared[&result]);
                let ct = a.last().expect("`f_pullback` takes a cotangent");
                return quote_spanned!(span=> #vjp_from(&#shared, #ct));
            }
            CallKind::Grad(gradients) => self.want_mask(path, "_grad", &gradients, args),
            CallKind::Pullback => self.want_mask(path, "_pullback", &[result], &args[..args.len() - 1]),
            CallKind::Plain => {
                let vjp = companion(path, "vjp");
                return quote_spanned!(span=> #vjp(#(#a),*));
            }
        };
        let vjp_want = companion(path, "vjp_want");
        quote_spanned!(span=> #vjp_want(#(#a,)* #want))
    }

    /// Which companion a first-order body calls for the call `inst`, which
    /// `call_vjp` and `running_sums` must agree on.
    fn call_kind(&self, inst: &Inst) -> CallKind {
        let result = inst.results[0];
        if self.shared.contains_key(&result) {
            CallKind::Shared
        } else if let Some(gradients) = self.grad_tuple(result) {
            CallKind::Grad(gradients)
        } else if self.is_pullback(inst) {
            CallKind::Pullback
        } else {
            CallKind::Plain
        }
    }

    /// For a call whose pullback is `f_pullback_vjp_from`'s,
    /// `f_pullback_vjp_want`'s or `f_grad_vjp_want`'s, which take the
    /// caller's running sums (`TangentPullback::pull_tangent_into`): the
    /// argument that passes them, and how many leading arguments' adjoints it
    /// passes, which the pullback then returns with its terms added in place
    /// (a loop over seeds adds into the same adjoints). Nothing is passed
    /// (`None`, 0) unless every such argument with a derivative here already
    /// has an adjoint. `None` for any other call.
    pub(super) fn running_sums(&self, inst: &Inst) -> Option<(TokenStream, usize)> {
        let Op::Call { path, args, by_ref, .. } = &inst.op else {
            return None;
        };
        if self.second_order {
            return None;
        }
        let (suffix, params) = match self.call_kind(inst) {
            CallKind::Shared | CallKind::Pullback => ("_pullback", args.len() - 1),
            CallKind::Grad(_) => ("_grad", args.len()),
            CallKind::Plain => return None,
        };
        let nothing = Some((quote!(::core::option::Option::None), 0));
        let active: Vec<Value> = args[..params].iter().copied().filter(|a| self.act.active(*a)).collect();
        let distinct = active.iter().collect::<HashSet<_>>().len() == active.len();
        // The callee's positional adapter reads the arguments, for the shapes
        // of zeros: the caller's parameters are in scope in any sweep.
        let in_scope = args[..params].iter().all(|a| self.func.is_param(*a));
        let name = path.segments.last()?.ident.to_string();
        let (Some(stem), true, true, true) = (
            name.strip_suffix(suffix),
            distinct,
            in_scope,
            active.iter().all(|a| self.declared.contains(a)),
        ) else {
            return nothing;
        };
        let mut positional = path.clone();
        positional.segments.last_mut()?.ident = format_ident!("{}_tangents_positional", stem);
        let private = &self.private;
        let values = self.call_args(&args[..params], &by_ref[..params]);
        let sums = args[..params].iter().map(|a| match self.act.active(*a) {
            true => {
                let adj = super::adj_ident(*a);
                quote!(#private::Given(#adj))
            }
            false => quote!(#private::ZeroTangent),
        });
        let sums = quote!(::core::option::Option::Some(#positional(#(&#values,)* #(#sums),*)));
        Some((sums, params))
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
        let read = match self.field_reads(gradients) {
            Some(reads) => {
                let mut fields: Vec<syn::Member> = Vec::new();
                for (member, _) in reads {
                    if !fields.contains(&member) {
                        fields.push(member);
                    }
                }
                let wants = fields.iter().map(|member| {
                    let want = companion(format!("{}_want_{}", base, member.to_token_stream()));
                    quote!(#want())
                });
                quote!(#(#wants)|*)
            }
            None => quote!(u64::MAX),
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
            let share = companion(path, "share");
            let leading = self.call_args(&args[..args.len() - 1], by_ref);
            let want = self.want_mask(path, "_pullback", &[inst.results[0]], &args[..args.len() - 1]);
            out.extend(quote_spanned!(inst.span=> let #shared = #share(#(#leading,)* #want);));
        }
        out
    }

    /// If `v` is used only as a pair, `v.0` and `v.1`, the values `v.1`
    /// (the gradient of an `f_grad` call).
    pub(super) fn grad_tuple(&self, v: Value) -> Option<Vec<Value>> {
        let reads = self.field_reads(&[v])?;
        let index = |m: &syn::Member| match m {
            syn::Member::Unnamed(i) => Some(i.index),
            syn::Member::Named(_) => None,
        };
        if !reads.iter().all(|(m, _)| matches!(index(m), Some(0 | 1))) {
            return None;
        }
        let seconds: Vec<Value> = reads.iter().filter(|(m, _)| index(m) == Some(1)).map(|r| r.1).collect();
        (!seconds.is_empty()).then_some(seconds)
    }
}
