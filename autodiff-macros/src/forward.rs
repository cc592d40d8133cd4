//! The forward (tangent) transform: the body of `f_jvp`, which computes each
//! value with its tangent, in one sweep in program order.
//!
//! Tangents are Rust locals `__ad_dot{N}`, one per active value that some
//! contribution reaches; a value without one has a static zero tangent and
//! contributes nothing. A primitive's tangent is the sum of its arguments'
//! shares, each given by the forward rule the table names next to the
//! reverse rule (`jvp_a(da, reads..)` beside `vjp_a(ct, reads..)`). Branches
//! yield tangents with their values; loops carry them with their values; no
//! tape is needed.
//!
//! Before/after, for `x * x.sin()`:
//!
//! ```text
//! let __ad_v1 = x.sin();       let __ad_dot1 = rules::sin::jvp(&__ad_dot0, &x);
//! let __ad_v2 = x * __ad_v1;   let mut __ad_dot2 = rules::mul::jvp_a(&__ad_dot0, &x, &__ad_v1);
//!                              Accumulate::accumulate(&mut __ad_dot2, rules::mul::jvp_b(&__ad_dot1, &x, &__ad_v1));
//! ```

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::Ident;

use crate::activity::Activity;
use crate::ir::{Func, Inst, Op, Region, Value};
use crate::reverse::{companion, respan, Primal, Sweeps};
use crate::rules::Operand;

/// The body of `f_jvp`: it binds the output and its tangent.
pub struct Tangents {
    pub body: TokenStream,
    /// `(output, its tangent)` as expressions.
    pub output: TokenStream,
}

/// The name of a value's tangent.
pub fn dot_ident(v: Value) -> Ident {
    format_ident!("__ad_dot{}", v.0)
}

/// Builds the forward sweep; each differentiated parameter's tangent is
/// expected in scope as `__ad_dot{N}`.
pub fn transform(func: &Func, act: &Activity, krate: &syn::Path) -> Tangents {
    let mut cx = Forward {
        func,
        act,
        krate,
        private: quote!(#krate::__private),
        primal: Primal::new(func, act, krate),
        has: func
            .params
            .iter()
            .filter(|p| p.differentiated)
            .map(|p| p.value)
            .collect(),
        movable: movable_tangents(func),
    };
    let body = cx.region(&func.body);
    let y = func.ident(func.output);
    let tangent = cx.tangent_or_zero(func.output);
    Tangents {
        body,
        output: quote!((#y, #tangent)),
    }
}

/// The tangent of a primitive's result: the sum of the shares of its
/// arguments that have tangents (none: a static zero, and `has` is unchanged).
///
/// `guard(v)` names a flag that is false when `v`'s tangent is zero at run
/// time (an input's tangent that a caller passed as zeros): `v`'s share is
/// then skipped; where no flag holds, the first share is computed with
/// `zero(v)` for its tangent, if given (a placeholder's stand-in). A tangent
/// in `movable` (see [`movable_tangents`]) is moved into an identity share
/// rather than copied.
pub fn prim_tangent(
    inst: &Inst,
    private: &TokenStream,
    has: &mut HashSet<Value>,
    movable: &HashSet<Value>,
    borrow: impl Fn(Value) -> TokenStream,
    guard: impl Fn(Value) -> Option<Ident>,
    zero: impl Fn(Value) -> Option<TokenStream>,
) -> TokenStream {
    let Op::Prim { rule, args, .. } = &inst.op else {
        return TokenStream::new();
    };
    let (span, result) = (inst.span, inst.results[0]);
    let private = respan(private, span);
    let module = Ident::new(rule.module(), span);
    let target = dot_ident(result);
    let operand = |r: &Operand| match r {
        Operand::Arg(j) => borrow(args[*j]),
        Operand::Out => borrow(result),
    };
    let mut shares = Vec::new();
    for (i, &arg) in args.iter().enumerate() {
        let partial = &rule.partials[i];
        let Some((func, reads)) = partial.forward() else {
            continue;
        };
        if !has.contains(&arg) {
            continue;
        }
        let t = dot_ident(arg);
        let call = |t: TokenStream| {
            let func = Ident::new(&func, span);
            let reads = reads.iter().map(operand);
            quote_spanned!(span=> #private::rules::#module::#func(&#t #(, #reads)*))
        };
        let start = if movable.contains(&arg) && partial.is_identity() {
            t.to_token_stream()
        } else {
            call(t.to_token_stream())
        };
        let fallback = zero(arg).map(call);
        let add = partial.forward_acc().map(|(func, reads)| {
            let func = Ident::new(&func, span);
            let reads = reads.iter().map(operand);
            quote_spanned!(span=> #private::rules::#module::#func(&mut #target, &#t #(, #reads)*);)
        });
        shares.push(Share {
            start,
            add,
            guard: guard(arg),
            fallback,
        });
    }
    if shares.is_empty() {
        return TokenStream::new();
    }
    has.insert(result);
    sum_of_shares(&target, shares, &private)
}

/// One argument's share of a tangent: its value, the statement that adds it
/// into the tangent in place where the rule has one, the flag that is false
/// where it is zero, and its value computed from a zero tangent.
struct Share {
    start: TokenStream,
    add: Option<TokenStream>,
    guard: Option<Ident>,
    fallback: Option<TokenStream>,
}

/// `let mut target = Σ shares;`, each share added only where its guard
/// holds. Unguarded shares come first; if all are guarded, the first share
/// whose guard holds starts the sum (the first share's fallback, or the
/// first share, a zero, if none does), so that no zero of unknown shape is
/// needed.
fn sum_of_shares(target: &Ident, mut shares: Vec<Share>, private: &TokenStream) -> TokenStream {
    shares.sort_by_key(|s| s.guard.is_some());
    let add = |s: &Share| match &s.add {
        Some(add) => add.clone(),
        None => {
            let start = &s.start;
            quote!(#private::Accumulate::accumulate(&mut #target, #start);)
        }
    };
    let mut out = TokenStream::new();
    if let [Share {
        start,
        guard: Some(guard),
        fallback: Some(fallback),
        ..
    }] = &shares[..]
    {
        return quote!(let mut #target = if #guard { #start } else { #fallback };);
    }
    if shares.len() > 1 && shares.iter().all(|s| s.guard.is_some()) {
        let guards: Vec<&Ident> = shares.iter().filter_map(|s| s.guard.as_ref()).collect();
        let arms = shares.iter().enumerate().map(|(i, s)| {
            let start = &s.start;
            quote!(#i => #start,)
        });
        let none = shares.len();
        let fallback = shares[0].fallback.as_ref().unwrap_or(&shares[0].start);
        out.extend(quote! {
            let __ad_first: usize = [#(#guards),*].iter().position(|g| *g).unwrap_or(#none);
            let mut #target = match __ad_first { #(#arms)* _ => #fallback };
        });
        for (i, share) in shares.iter().enumerate() {
            let (guard, add) = (&share.guard, add(share));
            out.extend(quote!(if #guard && __ad_first != #i { #add }));
        }
        return out;
    }
    for (k, share) in shares.iter().enumerate() {
        let start = &share.start;
        out.extend(match (k, &share.guard) {
            (0, _) => quote!(let mut #target = #start;),
            (_, None) => add(share),
            (_, Some(g)) => {
                let add = add(share);
                quote!(if #g { #add })
            }
        });
    }
    out
}

/// Values whose tangent only one identity share reads, so that it may be
/// moved there: read once in all (see `moves::uses`), by a linear primitive
/// (`add`, `add_bias`, `clone`: no second-order code reads tangents of its
/// operands) in the region that defines them, for the operand whose rule is
/// the identity. `z`'s tangent in `add_bias(&z, b)`: a copy per layer saved.
pub fn movable_tangents(func: &Func) -> HashSet<Value> {
    fn region(func: &Func, r: &Region, out: &mut HashSet<Value>) {
        let mut here = HashSet::new();
        for inst in &r.insts {
            if let Op::Prim { rule, args, .. } = &inst.op {
                let linear = rule.partials.iter().all(|p| p.is_linear());
                for (i, &a) in args.iter().enumerate() {
                    let single = here.contains(&a) && a != func.output && crate::reverse::uses(&func.body, a) == 1;
                    if linear && single && rule.partials[i].is_identity() {
                        out.insert(a);
                    }
                }
            }
            here.extend(inst.results.iter().copied());
            match &inst.op {
                Op::If {
                    then_region,
                    else_region,
                    ..
                } => {
                    region(func, then_region, out);
                    region(func, else_region, out);
                }
                Op::For { body, cond, .. } => {
                    if let Some(cond) = cond {
                        region(func, cond, out);
                    }
                    region(func, body, out);
                }
                _ => {}
            }
        }
    }
    let mut out = HashSet::new();
    region(func, &func.body, &mut out);
    out
}

struct Forward<'a> {
    func: &'a Func,
    act: &'a Activity,
    krate: &'a syn::Path,
    private: TokenStream,
    primal: Primal<'a>,
    /// Values whose tangent is in scope (all others have a zero tangent).
    has: HashSet<Value>,
    /// Tangents that their only reader may take (see [`movable_tangents`]).
    movable: HashSet<Value>,
}

impl Forward<'_> {
    /// `v`'s tangent, or a zero shaped like `v` where it has none.
    fn tangent_or_zero(&self, v: Value) -> TokenStream {
        if self.has.contains(&v) {
            dot_ident(v).to_token_stream()
        } else {
            let (private, value) = (&self.private, self.primal.borrow(v));
            quote!(#private::zero_grad(#value))
        }
    }

    fn region(&mut self, region: &Region) -> TokenStream {
        let mut out = TokenStream::new();
        for inst in region
            .insts
            .iter()
            .filter(|i| i.results.iter().any(|r| self.act.live(*r)))
        {
            out.extend(self.inst(inst));
        }
        out
    }

    fn inst(&mut self, inst: &Inst) -> TokenStream {
        let span = inst.span;
        let private = respan(&self.private, span);
        let result = inst.results[0];
        match &inst.op {
            Op::Const(_) | Op::Passive { .. } | Op::Opaque { .. } => self.primal.inst(inst),
            Op::Field { base, member } => {
                let mut out = self.primal.inst(inst);
                if self.act.active(result) && self.has.contains(base) {
                    let (dot, base) = (dot_ident(result), dot_ident(*base));
                    out.extend(quote_spanned!(span=> let #dot = ::core::clone::Clone::clone(&#base.#member);));
                    self.has.insert(result);
                }
                out
            }
            Op::Prim { .. } => {
                let mut out = self.primal.inst(inst);
                if self.act.active(result) {
                    let primal = &self.primal;
                    out.extend(prim_tangent(
                        inst,
                        &self.private,
                        &mut self.has,
                        &self.movable,
                        |v| primal.borrow(v),
                        |_| None,
                        |_| None,
                    ));
                }
                out
            }
            Op::Call { path, args, by_ref, .. } => {
                if !self.act.active(result) || !args.iter().any(|a| self.has.contains(a)) {
                    return self.primal.inst(inst);
                }
                let y = self.func.ident(result);
                let dot = dot_ident(result);
                let jvp = companion(path, "jvp_positional");
                let values = args.iter().zip(by_ref).map(|(a, r)| {
                    let a = self.func.ident(*a);
                    if *r {
                        quote!(&#a)
                    } else {
                        quote!(#a)
                    }
                });
                // Tangents are passed by value; a copy leaves this one for later readers.
                let tangents: Vec<TokenStream> = args
                    .iter()
                    .map(|a| {
                        if self.has.contains(a) {
                            let t = dot_ident(*a);
                            quote!(#private::Given(::core::clone::Clone::clone(&#t)))
                        } else {
                            quote!(#private::ZeroTangent)
                        }
                    })
                    .collect();
                self.has.insert(result);
                quote_spanned!(span=> let (#y, #dot) = #jvp(#(#values,)* #(#tangents),*);)
            }
            Op::Map { scalar, args, .. } => {
                let mut out = self.primal.inst(inst);
                if self.act.active(result) {
                    out.extend(self.map(inst, scalar, args));
                }
                out
            }
            Op::If {
                cond,
                then_region,
                else_region,
            } => {
                let f = self.func;
                let results: Vec<&Ident> = inst.results.iter().map(|r| f.ident(*r)).collect();
                let with_tangent: Vec<usize> = (0..inst.results.len())
                    .filter(|k| self.act.active(inst.results[*k]))
                    .collect();
                let dots = with_tangent.iter().map(|k| dot_ident(inst.results[*k]));
                let mut arm = |region: &Region| {
                    let body = self.region(region);
                    let yields = region.yields.iter().map(|v| f.ident(*v));
                    let tangents: Vec<TokenStream> = with_tangent
                        .iter()
                        .map(|k| self.tangent_or_zero(region.yields[*k]))
                        .collect();
                    // Tangents first: a zero tangent borrows a value that the yield moves.
                    quote!({ #body (#(#tangents,)* #(#yields,)*) })
                };
                let then_arm = arm(then_region);
                let else_arm = arm(else_region);
                for k in &with_tangent {
                    self.has.insert(inst.results[*k]);
                }
                let cond = f.ident(*cond);
                quote_spanned!(span=> let (#(#dots,)* #(#results,)*) = if #cond #then_arm else #else_arm;)
            }
            Op::For { args, body, cond } => self.for_loop(inst, args, body, cond.as_ref()),
        }
    }

    /// `y = x.map(f)` or `a.zip_map(&b, f)`: per argument with a tangent,
    /// the element-wise derivative of `f` (its scalar gradient, by the
    /// scalar sweeps) times the tangent's element.
    fn map(&mut self, inst: &Inst, scalar: &Func, args: &[Value]) -> TokenStream {
        let span = inst.span;
        let private = respan(&self.private, span);
        let act = crate::activity::analyse(scalar, &mut crate::diagnostics::Errors::default());
        let Sweeps {
            forward,
            reverse,
            output,
            grads,
            ..
        } = crate::reverse::transform(scalar, &act, self.krate);
        let params: Vec<&Ident> = scalar.params.iter().map(|p| &p.ident).collect();
        let dot = dot_ident(inst.results[0]);
        let recv = self.func.ident(args[0]);
        let mut out = TokenStream::new();
        // Names interpolated with the call site's hygiene, as in `reverse_map`.
        let (seed, d) = (format_ident!("__ad_ct"), format_ident!("__ad_dx"));
        for (k, &arg) in args.iter().enumerate() {
            if !self.has.contains(&arg) {
                continue;
            }
            let grad = &grads[k].1;
            let body = quote!({ #forward let #seed = #private::one_like(&#output); #reverse #grad } * #d);
            let t = dot_ident(arg);
            let share = match args.get(1) {
                None => quote_spanned!(span=> #recv.zip_map(&#t, |#(#params,)* #d| #body)),
                Some(&b) => {
                    let b = self.primal.borrow(b);
                    quote_spanned!(span=> #recv.zip_zip_map(#b, &#t, |#(#params,)* #d| #body))
                }
            };
            if self.has.insert(inst.results[0]) {
                out.extend(quote_spanned!(span=> let mut #dot = #share;));
            } else {
                out.extend(quote_spanned!(span=> #dot += #share;));
            }
        }
        out
    }

    /// A loop carries each value's tangent with it:
    ///
    /// ```text
    /// let mut __ad_c5_0 = init;  let mut __ad_tc5_0 = dinit;
    /// for i in iter { let p = __ad_c5_0; let __ad_dotp = __ad_tc5_0; <body>; __ad_c5_0 = y; __ad_tc5_0 = dy; }
    /// let r = __ad_c5_0;  let __ad_dotr = __ad_tc5_0;
    /// ```
    fn for_loop(&mut self, inst: &Inst, args: &[Value], body: &Region, cond: Option<&Region>) -> TokenStream {
        let f = self.func;
        let n = inst.results.len();
        let state: Vec<Ident> = (0..n)
            .map(|k| format_ident!("__ad_c{}_{}", inst.results[0].0, k))
            .collect();
        let carried: Vec<usize> = (0..n)
            .filter(|k| self.act.active(body.params[1 + k]) || self.act.active(inst.results[*k]))
            .collect();
        let tstate: Vec<Ident> = carried
            .iter()
            .map(|k| format_ident!("__ad_tc{}_{}", inst.results[0].0, k))
            .collect();
        let inits = args[1..].iter().map(|v| f.ident(*v));
        let tinits: Vec<TokenStream> = carried.iter().map(|k| self.tangent_or_zero(args[1 + k])).collect();
        let iter = f.ident(args[0]);
        let i = f.ident(body.params[0]);
        let params = body.params[1..].iter().map(|v| f.ident(*v));
        let tparams: Vec<Ident> = carried.iter().map(|k| dot_ident(body.params[1 + k])).collect();
        for k in &carried {
            self.has.insert(body.params[1 + k]);
        }
        let stop = cond.map(|cond| {
            let params = cond.params.iter().map(|v| f.ident(*v));
            let values = std::iter::once(i.to_token_stream())
                .chain(state.iter().map(|s| quote!(::core::clone::Clone::clone(&#s))));
            let code = self.region(cond);
            let go = f.ident(cond.yields[0]);
            quote! {
                #(let #params = #values;)*
                #code
                if !#go {
                    break;
                }
            }
        });
        let code = self.region(body);
        let yields = body.yields.iter().map(|v| f.ident(*v));
        let tyields: Vec<TokenStream> = carried.iter().map(|k| self.tangent_or_zero(body.yields[*k])).collect();
        let results = inst.results.iter().map(|v| f.ident(*v));
        let tresults: Vec<Ident> = carried.iter().map(|k| dot_ident(inst.results[*k])).collect();
        for k in &carried {
            self.has.insert(inst.results[*k]);
        }
        let (state2, state3, tstate2, tstate3) = (&state, &state, &tstate, &tstate);
        // Tangents are set before values: a zero tangent borrows a value that
        // the assignment of the state moves.
        quote! {
            #(let mut #tstate = #tinits;)*
            #(let mut #state = #inits;)*
            for #i in ::core::clone::Clone::clone(&#iter) {
                #stop
                #(let #params = #state2;)*
                #(let #tparams = #tstate2;)*
                #code
                #(#tstate3 = #tyields;)*
                #(#state3 = #yields;)*
            }
            #(let #results = #state;)*
            #(let #tresults = #tstate;)*
        }
    }
}
