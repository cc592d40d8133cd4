//! Second order: forward mode applied to the reverse sweep
//! (forward-over-reverse), for `order = 2`.
//!
//! The sweeps of `f_vjp2` run in four stages, each a closure over what the
//! earlier ones computed, so that a caller pays for each only when it needs it:
//!
//! 1. the primal forward sweep (as in `f_vjp`);
//! 2. the primal reverse sweep, from the output's cotangent `ct`;
//! 3. the tangent forward sweep, from the inputs' tangents `__ad_dot{N}`:
//!    each value's tangent, by the forward rules (as in `f_jvp`);
//! 4. the tangent reverse sweep, from the tangent of `ct`: each adjoint's
//!    tangent `__ad_dd{N}`. A reverse rule `x̄ += vjp(ȳ, reads..)` has the
//!    tangent `ẋ̄ += vjp(ẏ̄, reads..) + Σ_r ∂vjp/∂r · ṙ`, the second sum
//!    given per operand by the rule table's curvature terms.
//!
//! Zero terms are not computed. Statically: a locally linear rule (relu,
//! abs, max) and a linear one have no curvature terms, and a value without
//! tangent or adjoint contributes nothing. At run time: the tangent of `ct`
//! is an `Option` (none for a constant cotangent), and so is an adjoint
//! tangent that only it, or an input tangent found zero on entry to stage 3,
//! reaches; the chains they would start are skipped.
//!
//! An `if` runs the arm taken in every stage: stage 2's `match` on the tape
//! evaluates to a `Branch` with the arm's values and the adjoints its
//! curvature terms read (`ArmState`), stage 3 matches it and adds the arm's
//! tangents, stage 4 matches that; the outer adjoint tangents an arm reaches
//! are declared before, as `None`. A loop likewise: stage 2 pushes each
//! iteration's state (the last first), stage 3 runs the iterations in order
//! over them, carrying tangents, and pushes its own, stage 4 pops those,
//! carrying the adjoint tangents as `Option`s. Nested `if`s and loops, and
//! callees' continuations, travel inside their parent's state. A `map`
//! runs its closure's own second-order sweeps per element (a `zip_map` one
//! operand's tangent at a time).

use std::collections::{HashMap, HashSet};

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::Ident;

use super::{adj_ident, collect_idents, companion, respan, wants, Reverse};
use crate::activity::Activity;
use crate::diagnostics::{self as msg, Errors};
use crate::forward::{dot_ident, movable_tangents, prim_tangent};
use crate::ir::{Func, Op, Value};
use crate::rules::{Operand, Partial, Reuse, Term};

/// The continuation a call's pullback returns in second-order sweeps.
pub fn continuation(v: Value) -> Ident {
    format_ident!("__ad_so{}", v.0)
}

/// The tangent reverse sweep of a call, which its tangent forward sweep returns.
fn tangent_continuation(v: Value) -> Ident {
    format_ident!("__ad_st{}", v.0)
}

/// The tangent of `v`'s adjoint.
fn dd_ident(v: Value) -> Ident {
    format_ident!("__ad_dd{}", v.0)
}

/// Whether the tangent of the input `v` is nonzero, tested once on entry to
/// the tangent sweep: a caller often passes zeros for some inputs (the
/// penalty of W4 has a direction on `x` only), whose terms are then skipped.
fn nonzero_ident(v: Value) -> Ident {
    format_ident!("__ad_nz{}", v.0)
}

/// What an `if` arm's reverse sweep hands to the tangent sweeps: its values
/// and the adjoints its curvature terms read (in this order in the `Branch`
/// payload), and the adjoints declared in it.
pub struct ArmState {
    pub values: Vec<Value>,
    pub adjoints: Vec<Value>,
    /// The `if`s and loops nested in the arm, whose own state travels in this one.
    pub nested: Vec<Value>,
    /// The calls in the arm, whose continuations travel in this state.
    pub calls: Vec<Value>,
    pub declared: HashSet<Value>,
}

/// The `Branch` an `if` hands from stage `stage` to the next.
pub fn arm_state_ident(v: Value, stage: u8) -> Ident {
    format_ident!("__ad_arm{}_{}", v.0, stage)
}

/// Rejects, at its span, a rule without a second-order form (every rule of
/// the table has one today; a new rule may not).
pub fn check(func: &Func, act: &Activity, errors: &mut Errors) {
    check_region(&func.body, act, errors);
}

fn check_region(region: &crate::ir::Region, act: &Activity, errors: &mut Errors) {
    for inst in &region.insts {
        if !inst.results.iter().any(|r| act.active(*r)) {
            continue;
        }
        match &inst.op {
            Op::If {
                then_region,
                else_region,
                ..
            } => {
                check_region(then_region, act, errors);
                check_region(else_region, act, errors);
            }
            Op::For { body, .. } => check_region(body, act, errors),
            Op::Prim { rule, args, .. } => {
                let missing = rule
                    .partials
                    .iter()
                    .zip(args)
                    .any(|(p, a)| act.active(*a) && matches!(p, Partial::Vjp { curvature: None, .. }));
                if missing {
                    errors.push_at(inst.span, msg::second_order_rule(rule.name));
                }
            }
            _ => {}
        }
    }
}

/// The four stages' code.
pub struct SecondSweeps {
    /// Stage 1: binds the output and what later stages read.
    pub forward: TokenStream,
    /// Stage 2: reads `__ad_ct`.
    pub reverse: TokenStream,
    pub output: Ident,
    /// Per differentiated parameter: its gradient after stage 2.
    pub grads: Vec<(Ident, TokenStream)>,
    /// Stage 3: reads each differentiated parameter's tangent `__ad_dot{N}`.
    pub tangent_forward: TokenStream,
    /// The output's tangent after stage 3.
    pub output_tangent: TokenStream,
    /// Stage 4: reads the tangent of the output's cotangent, `__ad_ctdot`,
    /// an `Option` (`None`: a constant cotangent).
    pub tangent_reverse: TokenStream,
    /// Per differentiated parameter: its cotangent's tangent after stage 4.
    pub tangent_grads: Vec<(Ident, TokenStream)>,
}

/// The second-order sweeps of `func`. With `sums`, stage 4 starts the
/// parameters' adjoint tangents from the caller's running sums, `__ad_acc`
/// (see `Accumulating`); a `map`'s scalar function, inlined per element,
/// has none.
pub fn transform(func: &Func, act: &Activity, krate: &syn::Path, sums: bool) -> SecondSweeps {
    let mut cx = Reverse::new(func, act, krate);
    cx.second_order = true;
    let wanted = func.params.iter().filter(|p| p.differentiated).enumerate();
    cx.want = wanted.filter(|(k, _)| *k < 31).map(|(k, p)| (p.value, k)).collect();
    let (forward, reverse) = cx.sweeps();
    let differentiated: Vec<_> = func.params.iter().filter(|p| p.differentiated).collect();
    let grads = differentiated
        .iter()
        .map(|p| (p.ident.clone(), cx.adjoint_or_zero(p.value)))
        .collect();

    let mut tangents = Tangents {
        cx: &cx,
        krate,
        has: differentiated.iter().map(|p| p.value).collect(),
        dd: HashSet::new(),
        guarded: differentiated.iter().map(|p| p.value).collect(),
        maybe: HashSet::new(),
        arm_dots: HashMap::new(),
        declared: cx.declared.clone(),
        sums,
        // At the top level only: an arm or a loop body hands all its
        // tangents to stage 4.
        movable: movable_tangents(func)
            .into_iter()
            .filter(|v| func.body.insts.iter().any(|i| i.results.contains(v)))
            .collect(),
    };
    let (tests, chunks) = tangents.forward();
    let mut output_tangent = tangents.tangent_or_zero(func.output);
    let tangent_reverse = tangents.reverse();
    let mut live: HashSet<String> = HashSet::new();
    collect_idents(&tangent_reverse, &mut live);
    // Stage 3 returns the output's tangent; stage 4 may read it too (the
    // curvature term of a `tanh` that makes the output), and then gets a copy.
    if live.contains(&dot_ident(func.output).to_string()) {
        output_tangent = quote!(::core::clone::Clone::clone(&#output_tangent));
    }
    // Tangents that stage 4 does not read, directly or through others, are
    // only the output's: computed when the caller asks for it (bit 63 of
    // `__ad_want`; `f_hvp`, `f_grad_vjp` and `f_pullback_vjp` do not).
    let mut is_live = vec![true; chunks.len()];
    for (k, (single, chunk)) in chunks.iter().enumerate().rev() {
        is_live[k] = single.is_none_or(|v| live.contains(&dot_ident(v).to_string()));
        if is_live[k] {
            collect_idents(chunk, &mut live);
        }
    }
    let mut tangent_forward = tests;
    let mut output_only = TokenStream::new();
    for ((_, chunk), live) in chunks.into_iter().zip(is_live) {
        match live {
            true => tangent_forward.extend(chunk),
            false => output_only.extend(chunk),
        }
    }
    if !output_only.is_empty() {
        let zero = cx.zero_like(func.output);
        let asked = wants(63);
        output_tangent = quote!(if #asked { #output_only #output_tangent } else { #zero });
    }
    let tangent_grads = differentiated
        .iter()
        .map(|p| {
            // The caller drops the tangent of an adjoint it did not ask for.
            let zero = match cx.want.get(&p.value).map(|k| 32 + k) {
                Some(bit) => {
                    let (asked, zero, placeholder) = (wants(bit), cx.zero_like(p.value), cx.placeholder(p.value));
                    quote!(if #asked { #zero } else { #placeholder })
                }
                None => cx.zero_like(p.value),
            };
            let dd = dd_ident(p.value);
            let grad = match (tangents.dd.contains(&p.value), tangents.maybe.contains(&p.value)) {
                (false, _) => zero,
                (true, false) => dd.to_token_stream(),
                (true, true) => quote!(#dd.unwrap_or_else(|| #zero)),
            };
            (p.ident.clone(), grad)
        })
        .collect();
    SecondSweeps {
        forward,
        reverse,
        output: func.ident(func.output).clone(),
        grads,
        tangent_forward,
        output_tangent,
        tangent_reverse,
        tangent_grads,
    }
}

/// An argument of a primitive with its reverse rule: the argument, the
/// rule's function, what it reads, its curvature terms, whether it is the
/// identity, and what its starting form reads for the shape.
type DifferentiatedArg = (
    Value,
    &'static str,
    &'static [Operand],
    &'static [(Operand, Term)],
    bool,
    Option<Operand>,
);

/// What [`Tangents`] has in scope outside an arm or loop body.
struct OuterScope {
    dd: HashSet<Value>,
    maybe: HashSet<Value>,
    has: HashSet<Value>,
    declared: HashSet<Value>,
}

/// Stages 3 and 4, over the primal sweeps' state.
struct Tangents<'r, 'a> {
    cx: &'r Reverse<'a>,
    /// The facade's path, for the sweeps of `map`'s scalar functions.
    krate: &'r syn::Path,
    /// Values with a tangent.
    has: HashSet<Value>,
    /// Values whose adjoint has a tangent, in scope.
    dd: HashSet<Value>,
    /// Inputs whose tangent may be zero at run time (see [`nonzero_ident`]).
    guarded: HashSet<Value>,
    /// Adjoint tangents held as `Option`s: reached only under a guard so far.
    maybe: HashSet<Value>,
    /// Per `if` arm, the tangents stage 3 computed in it, for stage 4.
    arm_dots: HashMap<(Value, bool), Vec<Value>>,
    /// The primal adjoints in scope (the arm's, inside an `if` arm).
    declared: HashSet<Value>,
    /// Whether stage 4 starts from the caller's running sums (`transform`).
    sums: bool,
    /// Tangents that their only reader may take (see [`movable_tangents`]).
    movable: HashSet<Value>,
}

impl Tangents<'_, '_> {
    fn guard(&self, v: Value) -> Option<Ident> {
        self.guarded.contains(&v).then(|| nonzero_ident(v))
    }

    /// Stage 3: the zero tests of the inputs' tangents, then per top-level
    /// instruction its tangent code, with the value it gives a tangent to
    /// where that is all it does (not an `if`, a loop or a call).
    fn forward(&mut self) -> (TokenStream, Vec<(Option<Value>, TokenStream)>) {
        let cx = self.cx;
        let f = cx.func;
        let mut tests = TokenStream::new();
        let private = &cx.private;
        let mut guarded: Vec<&Value> = self.guarded.iter().collect();
        guarded.sort();
        for v in guarded {
            let (nz, dot) = (nonzero_ident(*v), dot_ident(*v));
            // The tangent of a field the caller does not read is its
            // cotangent of that field: zero, without looking.
            let read = cx.want.get(v).map(|k| {
                let asked = wants(*k);
                quote!(#asked &&)
            });
            tests.extend(quote!(let #nz = #read #private::is_nonzero(&#dot);));
        }
        let chunks = f
            .body
            .insts
            .iter()
            .map(|inst| {
                // A call's also hands stage 4 its continuation.
                let single = !matches!(inst.op, Op::If { .. } | Op::For { .. } | Op::Call { .. });
                (single.then_some(inst.results[0]), self.forward_inst(inst))
            })
            .collect();
        (tests, chunks)
    }

    /// Stage 3 of one instruction: its result's tangent.
    fn forward_inst(&mut self, inst: &crate::ir::Inst) -> TokenStream {
        let cx = self.cx;
        let (f, act) = (cx.func, cx.act);
        let mut out = TokenStream::new();
        let result = inst.results[0];
        if !inst.results.iter().any(|r| act.active(*r)) {
            return out;
        }
        let span = inst.span;
        let private = respan(&cx.private, span);
        match &inst.op {
            Op::If {
                then_region,
                else_region,
                ..
            } => out.extend(self.forward_if(inst, then_region, else_region)),
            Op::For { args, body, .. } => out.extend(self.forward_loop(inst, args, body)),
            Op::Map { scalar, args, .. } => {
                // `ẏ = Σ_k ∂f/∂x_k ⊙ ẋ_k`, element-wise, by the scalar function's gradient.
                let dot = dot_ident(result);
                let params: Vec<&Ident> = scalar.params.iter().map(|p| &p.ident).collect();
                let d = format_ident!("__ad_d");
                for (k, &x) in args.iter().enumerate() {
                    if !self.has.contains(&x) {
                        continue;
                    }
                    let p0 = params[0];
                    let gradient = self.scalar_gradient(scalar, k, quote!(#private::one_like(&#p0)));
                    let dx = dot_ident(x);
                    let share = self.zip_args(args, quote!(&#dx), quote!(|#(#params,)* #d| #gradient * #d), span);
                    if self.has.insert(result) {
                        out.extend(quote!(let mut #dot = #share;));
                    } else {
                        out.extend(quote!(#dot += #share;));
                    }
                }
            }
            Op::Prim { .. } => {
                let guarded = &self.guarded;
                let guard = |v: Value| guarded.contains(&v).then(|| nonzero_ident(v));
                // A masked parameter's tangent may be a placeholder: a share
                // computed while its flag is false reads a zero instead.
                let zero = |v: Value| cx.want.contains_key(&v).then(|| cx.zero_like(v));
                out.extend(prim_tangent(
                    inst,
                    &cx.private,
                    &mut self.has,
                    &self.movable,
                    |v| cx.borrow(v),
                    guard,
                    zero,
                ))
            }
            Op::Field { base, member } if self.has.contains(base) => {
                let (dot, base) = (dot_ident(result), dot_ident(*base));
                out.extend(quote_spanned!(span=> let #dot = ::core::clone::Clone::clone(&#base.#member);));
                self.has.insert(result);
            }
            Op::Call { path, args, by_ref, .. } => {
                let values = args.iter().zip(by_ref).map(|(a, r)| {
                    let a = f.ident(*a);
                    if *r {
                        quote!(&&#a)
                    } else {
                        quote!(&#a)
                    }
                });
                let tangents = args.iter().map(|a| {
                    if self.has.contains(a) {
                        let t = dot_ident(*a);
                        quote!(#private::Given(::core::clone::Clone::clone(&#t)))
                    } else {
                        quote!(#private::ZeroTangent)
                    }
                });
                let positional = companion(path, "tangents_positional");
                let (so, st, dot) = (continuation(result), tangent_continuation(result), dot_ident(result));
                out.extend(quote_spanned!(span=>
                    let __ad_tin = #positional(#(#values,)* #(#tangents),*);
                    let (#dot, #st) = #private::TangentSweep::push(#so, __ad_tin);
                ));
                self.has.insert(result);
            }
            _ => {}
        }
        out
    }

    /// The names of an arm's state as stage `stage` hands it on (without
    /// stage 3's tangents).
    fn arm_names(&self, inst: &crate::ir::Inst, then: bool, stage: u8) -> Vec<Ident> {
        let state = &self.cx.arm_states[&(inst.results[0], then)];
        state
            .values
            .iter()
            .map(|v| self.cx.func.ident(*v).clone())
            .chain(state.adjoints.iter().map(|v| adj_ident(*v)))
            .chain(state.nested.iter().map(|v| arm_state_ident(*v, stage)))
            .chain(state.calls.iter().map(|v| {
                if stage == 2 {
                    continuation(*v)
                } else {
                    tangent_continuation(*v)
                }
            }))
            .collect()
    }

    /// Stage 3 of an `if`: the arm that ran computes its tangents, yields the
    /// results' tangents, and hands its state with its tangents to stage 4.
    fn forward_if(
        &mut self,
        inst: &crate::ir::Inst,
        then_region: &crate::ir::Region,
        else_region: &crate::ir::Region,
    ) -> TokenStream {
        let cx = self.cx;
        let (act, private) = (cx.act, &cx.private);
        let result = inst.results[0];
        let active: Vec<usize> = (0..inst.results.len())
            .filter(|k| act.active(inst.results[*k]))
            .collect();
        let (from, to) = (arm_state_ident(result, 2), arm_state_ident(result, 3));
        let mut arms = TokenStream::new();
        for (region, then) in [(then_region, true), (else_region, false)] {
            let variant = Ident::new(if then { "Then" } else { "Else" }, proc_macro2::Span::call_site());
            let (names, next) = (self.arm_names(inst, then, 2), self.arm_names(inst, then, 3));
            let before = self.has.clone();
            let mut body = TokenStream::new();
            for i in &region.insts {
                body.extend(self.forward_inst(i));
            }
            let yields: Vec<TokenStream> = active
                .iter()
                .map(|k| {
                    let y = region.yields[*k];
                    if self.has.contains(&y) {
                        let dot = dot_ident(y);
                        quote!(::core::clone::Clone::clone(&#dot))
                    } else {
                        cx.zero_like(y)
                    }
                })
                .collect();
            let dots: Vec<Value> = region
                .insts
                .iter()
                .flat_map(|i| i.results.iter().copied())
                .filter(|v| self.has.contains(v) && !before.contains(v))
                .collect();
            let dot_names = dots.iter().map(|v| dot_ident(*v));
            self.arm_dots.insert((result, then), dots.clone());
            self.has = before;
            arms.extend(quote! {
                #private::Branch::#variant((#(#names,)*)) => {
                    #body
                    (#(#yields,)* #private::Branch::#variant((#(#next,)* #(#dot_names,)*)))
                }
            });
        }
        let results = active.iter().map(|k| dot_ident(inst.results[*k]));
        for k in &active {
            self.has.insert(inst.results[*k]);
        }
        quote!(let (#(#results,)* #to) = match #from { #arms };)
    }

    /// Stage 4 of an `if`: the arm that ran passes the results' adjoint
    /// tangents to its yields and runs its tangent reverse sweep; the outer
    /// adjoint tangents it reaches are declared before, as `None`.
    fn reverse_if(
        &mut self,
        inst: &crate::ir::Inst,
        then_region: &crate::ir::Region,
        else_region: &crate::ir::Region,
        out: &mut TokenStream,
    ) {
        let cx = self.cx;
        let (act, private) = (cx.act, cx.private.clone());
        let result = inst.results[0];
        for v in cx.outer_targets(inst) {
            self.declare_none(v, out);
        }
        let from = arm_state_ident(result, 3);
        let mut arms = TokenStream::new();
        for (region, then) in [(then_region, true), (else_region, false)] {
            let variant = Ident::new(if then { "Then" } else { "Else" }, proc_macro2::Span::call_site());
            let names = self.arm_names(inst, then, 3);
            let dot_names: Vec<Ident> = self.arm_dots[&(result, then)].iter().map(|v| dot_ident(*v)).collect();
            let outer = self.enter_arm(result, then);
            let mut body = TokenStream::new();
            for (k, r) in inst.results.iter().enumerate() {
                let y = region.yields[k];
                if !self.dd.contains(r) || !act.active(y) {
                    continue;
                }
                let (dd_r, part) = (dd_ident(*r), format_ident!("__ad_part"));
                let add = |place: TokenStream| quote!(#private::Accumulate::accumulate(#place, #part););
                if self.maybe.contains(r) {
                    self.declare_none(y, &mut body);
                    let mut inner = TokenStream::new();
                    self.add_term(y, quote!(#part), add, None, &mut inner);
                    body.extend(quote!(if let ::core::option::Option::Some(#part) = #dd_r { #inner }));
                } else {
                    body.extend(quote!(let #part = #dd_r;));
                    self.add_term(y, quote!(#part), add, None, &mut body);
                }
            }
            for i in region.insts.iter().rev() {
                self.reverse_inst(i, &mut body);
            }
            self.leave_arm(outer);
            arms.extend(quote!(#private::Branch::#variant((#(#names,)* #(#dot_names,)*)) => { #body }));
        }
        out.extend(quote!(match #from { #arms }));
    }

    /// A tangent, or a zero shaped like its value.
    fn tangent_or_zero(&self, v: Value) -> TokenStream {
        if self.has.contains(&v) {
            dot_ident(v).to_token_stream()
        } else {
            self.cx.zero_like(v)
        }
    }

    /// Stage 3 of a loop: its iterations in order over the states stage 2
    /// handed on (last first), carrying the tangents of the carried values,
    /// each handing its state with its tangents to stage 4.
    fn forward_loop(&mut self, inst: &crate::ir::Inst, args: &[Value], body: &crate::ir::Region) -> TokenStream {
        let cx = self.cx;
        let act = cx.act;
        let result = inst.results[0];
        let carried: Vec<usize> = (0..inst.results.len())
            .filter(|k| act.active(body.params[1 + k]) || act.active(inst.results[*k]))
            .collect();
        let state: Vec<Ident> = carried
            .iter()
            .map(|k| format_ident!("__ad_tc{}_{}", result.0, k))
            .collect();
        // Copied: an enclosing iteration's state may hand the tangent on too.
        let inits: Vec<TokenStream> = carried
            .iter()
            .map(|k| {
                let t = self.tangent_or_zero(args[1 + k]);
                quote!(::core::clone::Clone::clone(&#t))
            })
            .collect();
        let (from, to) = (arm_state_ident(result, 2), arm_state_ident(result, 3));
        let (names, next) = (self.arm_names(inst, false, 2), self.arm_names(inst, false, 3));
        let before = self.has.clone();
        let params: Vec<Ident> = carried.iter().map(|k| dot_ident(body.params[1 + k])).collect();
        for k in &carried {
            self.has.insert(body.params[1 + k]);
        }
        let mut code = TokenStream::new();
        for i in &body.insts {
            code.extend(self.forward_inst(i));
        }
        let yields: Vec<TokenStream> = carried
            .iter()
            .map(|k| {
                let t = self.tangent_or_zero(body.yields[*k]);
                quote!(::core::clone::Clone::clone(&#t))
            })
            .collect();
        let dots: Vec<Value> = body
            .params
            .iter()
            .copied()
            .chain(body.insts.iter().flat_map(|i| i.results.iter().copied()))
            .filter(|v| self.has.contains(v) && !before.contains(v))
            .collect();
        let dot_names = dots.iter().map(|v| dot_ident(*v));
        self.arm_dots.insert((result, false), dots.clone());
        self.has = before;
        let results: Vec<Ident> = carried.iter().map(|k| dot_ident(inst.results[*k])).collect();
        for k in &carried {
            self.has.insert(inst.results[*k]);
        }
        quote! {
            #(let mut #state = #inits;)*
            let mut #to = ::std::vec::Vec::with_capacity(#from.len());
            for (#(#names,)*) in #from.into_iter().rev() {
                #(let #params = #state;)*
                #code
                let __ad_next = (#(#yields,)*);
                #to.push((#(#next,)* #(#dot_names,)*));
                (#(#state,)*) = __ad_next;
            }
            #(let #results = #state;)*
        }
    }

    /// Stage 4 of a loop: its iterations backwards, carrying the tangents of
    /// the carried values' adjoints as `Option`s (none: zero so far).
    fn reverse_loop(
        &mut self,
        inst: &crate::ir::Inst,
        args: &[Value],
        body: &crate::ir::Region,
        out: &mut TokenStream,
    ) {
        let cx = self.cx;
        let (act, private) = (cx.act, cx.private.clone());
        let result = inst.results[0];
        for v in cx.outer_targets(inst) {
            self.declare_none(v, out);
        }
        let active: Vec<usize> = (0..inst.results.len())
            .filter(|&k| cx.carries_adjoint(inst, k))
            .collect();
        let state: Vec<Ident> = active
            .iter()
            .map(|k| format_ident!("__ad_tdd{}_{}", result.0, k))
            .collect();
        for (k, s) in active.iter().zip(&state) {
            let r = inst.results[*k];
            let start = self.as_option(r);
            out.extend(quote!(let mut #s = #start;));
        }
        let from = arm_state_ident(result, 3);
        let names = self.arm_names(inst, false, 3);
        let dot_names: Vec<Ident> = self.arm_dots[&(result, false)].iter().map(|v| dot_ident(*v)).collect();
        let outer = self.enter_arm(result, false);
        let mut iteration = TokenStream::new();
        let part = format_ident!("__ad_part");
        for (k, s) in active.iter().zip(&state) {
            let y = body.yields[*k];
            if !act.active(y) {
                continue;
            }
            self.declare_none(y, &mut iteration);
            let add = |place: TokenStream| quote!(#private::Accumulate::accumulate(#place, #part););
            let mut inner = TokenStream::new();
            self.add_term(y, quote!(#part), add, None, &mut inner);
            iteration.extend(quote!(if let ::core::option::Option::Some(#part) = #s.take() { #inner }));
        }
        for i in body.insts.iter().rev() {
            self.reverse_inst(i, &mut iteration);
        }
        for (k, s) in active.iter().zip(&state) {
            let p = body.params[1 + *k];
            let carried = self.as_option(p);
            iteration.extend(quote!(#s = #carried;));
        }
        self.leave_arm(outer);
        out.extend(quote! {
            {
                let mut __ad_entries = #from;
                while let ::core::option::Option::Some((#(#names,)* #(#dot_names,)*)) = __ad_entries.pop() {
                    #iteration
                }
            }
        });
        for (k, s) in active.iter().zip(&state) {
            let init = args[1 + *k];
            if !act.active(init) {
                continue;
            }
            self.declare_none(init, out);
            let add = |place: TokenStream| quote!(#private::Accumulate::accumulate(#place, #part););
            let mut inner = TokenStream::new();
            self.add_term(init, quote!(#part), add, None, &mut inner);
            out.extend(quote!(if let ::core::option::Option::Some(#part) = #s { #inner }));
        }
    }

    /// Component `k` of the gradient of a `map`'s scalar function at its
    /// parameters, for the cotangent `seed`, as an expression.
    fn scalar_gradient(&self, scalar: &Func, k: usize, seed: TokenStream) -> TokenStream {
        let act = crate::activity::analyse(scalar, &mut Errors::default());
        let sweeps = super::transform(scalar, &act, self.krate);
        let (forward, reverse, grad) = (&sweeps.forward, &sweeps.reverse, &sweeps.grads[k].1);
        let ct = format_ident!("__ad_ct");
        quote!({ #forward let #ct = #seed; #reverse #grad })
    }

    /// `a.zip_map(extra, f)` for a `map`, `a.zip_zip_map(b, extra, f)` for a
    /// `zip_map`: the operands element by element with one more matrix.
    fn zip_args(
        &self,
        args: &[Value],
        extra: TokenStream,
        closure: TokenStream,
        span: proc_macro2::Span,
    ) -> TokenStream {
        let recv = self.cx.func.ident(args[0]);
        match args.get(1) {
            None => quote_spanned!(span=> #recv.zip_map(#extra, #closure)),
            Some(&b) => {
                let b = self.cx.borrow(b);
                quote_spanned!(span=> #recv.zip_zip_map(#b, #extra, #closure))
            }
        }
    }

    /// Stage 4 of `y = x.map(f)` (or `a.zip_map(&b, f)`): per operand `k`,
    /// `ẋ̄_k += ∂f/∂x_k ⊙ ẏ̄ + Σ_j ∂²f/∂x_k∂x_j ⊙ ȳ ⊙ ẋ_j`, the second terms
    /// by the scalar function's own second-order sweeps, run per element on
    /// `w_j = ȳ ⊙ ẋ_j` (they are linear in it), one operand `j` at a time.
    fn reverse_map(&mut self, inst: &crate::ir::Inst, scalar: &Func, args: &[Value], out: &mut TokenStream) {
        let cx = self.cx;
        let (span, result) = (inst.span, inst.results[0]);
        let private = respan(&cx.private, span);
        let params: Vec<&Ident> = scalar.params.iter().map(|p| &p.ident).collect();
        let accumulate = |value: TokenStream| {
            let private = private.clone();
            move |place: TokenStream| quote!(#private::Accumulate::accumulate(#place, #value);)
        };
        let active: Vec<usize> = (0..args.len()).filter(|k| cx.act.active(args[*k])).collect();
        // The cotangent's tangent through the first-order rule.
        if self.dd.contains(&result) {
            let (ct, maybe) = self.adjoint_tangent_read(result);
            let seed = format_ident!("__ad_seed");
            let mut block = TokenStream::new();
            for &k in &active {
                if maybe {
                    self.declare_none(args[k], out);
                }
                let gradient = self.scalar_gradient(scalar, k, quote!(#seed));
                let operands = args.iter().map(|a| cx.borrow(*a));
                let value = match args.len() {
                    1 => quote_spanned!(span=> (#ct).zip_map(#(#operands),*, |#seed, #(#params),*| #gradient)),
                    _ => quote_spanned!(span=> (#ct).zip_zip_map(#(#operands),*, |#seed, #(#params),*| #gradient)),
                };
                self.add_term(args[k], value.clone(), accumulate(value), None, &mut block);
            }
            out.extend(Self::where_reached(result, maybe, block));
        }
        // The rule's derivatives along the operands' tangents, for `ȳ`.
        if !self.declared.contains(&result) {
            return;
        }
        let act = crate::activity::analyse(scalar, &mut Errors::default());
        let second = transform(scalar, &act, self.krate, false);
        let SecondSweeps {
            forward,
            reverse,
            tangent_forward,
            tangent_reverse,
            tangent_grads,
            ..
        } = &second;
        let ct = adj_ident(result);
        let p0 = params[0];
        let (w, one) = (format_ident!("__ad_w"), format_ident!("__ad_one"));
        let (seed, seed_dot) = (format_ident!("__ad_ct"), format_ident!("__ad_ctdot"));
        for (j, &xj) in args.iter().enumerate() {
            if !self.has.contains(&xj) {
                continue;
            }
            let weight = format_ident!("__ad_w{}_{}", result.0, j);
            let dx = dot_ident(xj);
            out.extend(quote_spanned!(span=> let #weight = #ct.component_mul(&#dx);));
            // The scalar function's tangents: `w` on operand `j`, zero on the others.
            let dots = scalar.params.iter().enumerate().map(|(i, p)| {
                let (dot, name) = (dot_ident(p.value), &p.ident);
                if i == j {
                    quote!(let #dot = #w;)
                } else {
                    quote!(let #dot = #private::zero_grad(&#name);)
                }
            });
            let dots: Vec<TokenStream> = dots.collect();
            for &k in &active {
                let hessian = &tangent_grads[k].1;
                // Names bound with the call site's hygiene, as the scalar sweeps read them.
                let body = quote!({
                    #forward
                    let #one = #private::one_like(&#p0);
                    let #seed = #one;
                    #reverse
                    #(#dots)*
                    #tangent_forward
                    let #seed_dot = if false { ::core::option::Option::Some(#one) } else { ::core::option::Option::None };
                    #tangent_reverse
                    #hessian
                });
                let value = self.zip_args(args, quote!(&#weight), quote!(|#(#params,)* #w| #body), span);
                let guard = self.guard(xj).map(|g| g.to_token_stream());
                self.add_term(args[k], value.clone(), accumulate(value), guard, out);
            }
        }
    }

    /// Enters arm `then` of the `if` (or a loop's body, `false`) whose first
    /// result is `result`: its tangents and primal adjoints come into scope.
    /// Returns the scope outside, for [`Self::leave_arm`].
    fn enter_arm(&mut self, result: Value, then: bool) -> OuterScope {
        let outer = OuterScope {
            dd: self.dd.clone(),
            maybe: self.maybe.clone(),
            has: self.has.clone(),
            declared: self.declared.clone(),
        };
        self.has.extend(self.arm_dots[&(result, then)].iter().copied());
        self.declared = self.cx.arm_states[&(result, then)].declared.clone();
        outer
    }

    /// Back to the scope outside the arm.
    fn leave_arm(&mut self, outer: OuterScope) {
        self.dd = outer.dd;
        self.maybe = outer.maybe;
        self.has = outer.has;
        self.declared = outer.declared;
    }

    /// `v`'s adjoint tangent as an `Option` expression: `None` when not in
    /// scope (zero), itself when already held as one, else wrapped in `Some`.
    fn as_option(&self, v: Value) -> TokenStream {
        let dd = dd_ident(v);
        match (self.dd.contains(&v), self.maybe.contains(&v)) {
            (false, _) => quote!(::core::option::Option::None),
            (true, true) => quote!(#dd),
            (true, false) => quote!(::core::option::Option::Some(#dd)),
        }
    }

    /// How rules read the tangent of `result`'s adjoint, and whether it is
    /// an `Option` (then read inside [`Self::where_reached`]'s block).
    fn adjoint_tangent_read(&self, result: Value) -> (TokenStream, bool) {
        if self.maybe.contains(&result) {
            (quote!(__ad_in), true)
        } else {
            let dd = dd_ident(result);
            (quote!(&#dd), false)
        }
    }

    /// `block`, run only where `result`'s adjoint tangent has been reached
    /// when it is an `Option`, binding it for [`Self::adjoint_tangent_read`].
    fn where_reached(result: Value, maybe: bool, block: TokenStream) -> TokenStream {
        if maybe {
            let dd = dd_ident(result);
            quote!(if let ::core::option::Option::Some(__ad_in) = &#dd { #block })
        } else {
            block
        }
    }

    /// Declares `v`'s adjoint tangent as `None` if it is not in scope yet:
    /// before a block (an `if let`, an arm, a loop) that may add to it.
    fn declare_none(&mut self, v: Value, out: &mut TokenStream) {
        if self.dd.insert(v) {
            self.maybe.insert(v);
            let dd = dd_ident(v);
            out.extend(quote!(let mut #dd = ::core::option::Option::None;));
        }
    }

    /// Adds a term to the tangent of `target`'s adjoint. `value` is the term
    /// as an expression; `add(place)` adds it into `place` (a `&mut`
    /// expression), in place where the rule can. With a guard, the term is
    /// added only where the guard holds; an adjoint tangent first reached
    /// under a guard is an `Option`, `None` while no term has reached it, so
    /// that the chain it would start is skipped at run time.
    fn add_term(
        &mut self,
        target: Value,
        value: TokenStream,
        add: impl Fn(TokenStream) -> TokenStream,
        guard: Option<TokenStream>,
        out: &mut TokenStream,
    ) {
        // A parameter's adjoint tangent the caller does not read stays zero.
        let guard = match (self.cx.want.get(&target).map(|k| wants(32 + k)), guard) {
            (Some(asked), None) => Some(asked),
            (Some(asked), Some(g)) => Some(quote!(#g && #asked)),
            (None, g) => g,
        };
        let dd = dd_ident(target);
        let slot = format_ident!("__ad_slot");
        let code = if !self.dd.contains(&target) {
            self.dd.insert(target);
            match guard {
                None => return out.extend(quote!(let mut #dd = #value;)),
                Some(g) => {
                    self.maybe.insert(target);
                    return out.extend(quote!(let mut #dd = if #g { ::core::option::Option::Some(#value) } else { ::core::option::Option::None };));
                }
            }
        } else if self.maybe.contains(&target) {
            let add = add(quote!(#slot));
            quote! {
                match &mut #dd {
                    ::core::option::Option::Some(#slot) => { #add }
                    ::core::option::Option::None => #dd = ::core::option::Option::Some(#value),
                }
            }
        } else {
            add(quote!(&mut #dd))
        };
        out.extend(match guard {
            None => code,
            Some(g) => quote!(if #g { #code }),
        });
    }

    fn reverse(&mut self) -> TokenStream {
        let cx = self.cx;
        let (f, act) = (cx.func, cx.act);
        let mut out = TokenStream::new();
        // The seed's tangent is an `Option`: none for a constant cotangent,
        // whose chain is then skipped at run time like any zero.
        if act.active(f.output) {
            let dd = dd_ident(f.output);
            out.extend(quote!(let mut #dd = __ad_ctdot;));
            self.dd.insert(f.output);
            self.maybe.insert(f.output);
        }
        // The parameters' adjoint tangents start from the caller's running
        // sums where it passes them (`__ad_acc`, see `Accumulating`): each
        // term is then added into them in place.
        // (A parameter that is the output also holds the seed's tangent.)
        let params: Vec<_> = f.params.iter().filter(|p| p.differentiated && self.sums).collect();
        let output_sum = format_ident!("__ad_acc_output");
        let dds: Vec<Ident> = params
            .iter()
            .map(|p| match p.value == f.output && self.dd.contains(&p.value) {
                true => output_sum.clone(),
                false => dd_ident(p.value),
            })
            .collect();
        let fields = params.iter().map(|p| &p.ident);
        let nones = params.iter().map(|_| quote!(::core::option::Option::None));
        out.extend((!params.is_empty()).then(|| {
            quote! {
                let (#(mut #dds,)*) = match __ad_acc {
                    ::core::option::Option::Some(__ad_acc) => (#(::core::option::Option::Some(__ad_acc.#fields),)*),
                    ::core::option::Option::None => (#(#nones,)*),
                };
            }
        }));
        if dds.contains(&output_sum) {
            let (dd, private) = (dd_ident(f.output), &cx.private);
            out.extend(quote! {
                let mut #dd = match (#dd, #output_sum) {
                    (::core::option::Option::Some(mut __ad_c), ::core::option::Option::Some(__ad_a)) => {
                        #private::Accumulate::accumulate(&mut __ad_c, __ad_a);
                        ::core::option::Option::Some(__ad_c)
                    }
                    (__ad_c, __ad_a) => __ad_c.or(__ad_a),
                };
            });
        }
        for p in &params {
            self.dd.insert(p.value);
            self.maybe.insert(p.value);
        }
        for inst in f.body.insts.iter().rev() {
            self.reverse_inst(inst, &mut out);
        }
        out
    }

    /// Stage 4 of one instruction: the adjoint tangents of its arguments.
    fn reverse_inst(&mut self, inst: &crate::ir::Inst, out: &mut TokenStream) {
        let cx = self.cx;
        let act = cx.act;
        let result = inst.results[0];
        if !cx.reversed(inst) {
            return;
        }
        let span = inst.span;
        let private = respan(&cx.private, span);
        match &inst.op {
            Op::Prim { rule, args, .. } => self.reverse_prim(inst, rule, args, out),
            Op::If {
                then_region,
                else_region,
                ..
            } => self.reverse_if(inst, then_region, else_region, out),
            Op::For { args, body, .. } => self.reverse_loop(inst, args, body, out),
            Op::Map { scalar, args, .. } => self.reverse_map(inst, scalar, args, out),
            Op::Field { base, member } => {
                if !self.dd.contains(&result) || !act.active(*base) {
                    return;
                }
                let dd_r = dd_ident(result);
                let zero = {
                    let value = cx.borrow(*base);
                    quote_spanned!(span=> #private::zero_grad(#value))
                };
                // The base's adjoint tangent, zero but for this field.
                let (part, whole) = (format_ident!("__ad_part"), format_ident!("__ad_whole"));
                let term = quote_spanned!(span=> {
                    let mut #whole = #zero;
                    #private::Accumulate::accumulate(&mut #whole.#member, #part);
                    #whole
                });
                let add = |place: TokenStream| quote_spanned!(span=> #private::Accumulate::accumulate(&mut (#place).#member, #part););
                if self.maybe.contains(&result) {
                    self.declare_none(*base, out);
                    let mut inner = TokenStream::new();
                    self.add_term(*base, term, add, None, &mut inner);
                    out.extend(quote!(if let ::core::option::Option::Some(#part) = #dd_r { #inner }));
                } else {
                    out.extend(quote!(let #part = #dd_r;));
                    self.add_term(*base, term, add, None, out);
                }
            }
            Op::Call { args, spans, .. } => {
                let st = tangent_continuation(result);
                // An `Option` adjoint tangent is the seed as it is.
                let seed = if self.maybe.contains(&result) {
                    dd_ident(result).to_token_stream()
                } else if self.dd.contains(&result) {
                    let dd = dd_ident(result);
                    quote!(::core::option::Option::Some(#dd))
                } else {
                    quote!(::core::option::Option::None)
                };
                let names: Vec<Option<Ident>> = args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        act.active(*a)
                            .then(|| format_ident!("__ad_tt{}_{}", result.0, i, span = spans[i]))
                    })
                    .collect();
                let pattern = names.iter().map(|t| match t {
                    Some(t) => t.to_token_stream(),
                    None => quote!(_),
                });
                out.extend(quote_spanned!(span=>
                    let (#(#pattern,)*) = #private::ArgTangents::into_arg_tangents(
                        #private::TangentPullback::pull_tangent(#st, #seed)
                    );
                ));
                for (arg, t) in args.iter().zip(names) {
                    let Some(t) = t else { continue };
                    let value = quote_spanned!(span=> #private::cotangent(#t));
                    let add = |place: TokenStream| quote_spanned!(span=> #private::Accumulate::accumulate(#place, #t););
                    self.add_term(*arg, value, add, None, out);
                }
            }
            _ => {}
        }
    }

    /// The tangent reverse sweep of a primitive: per differentiated
    /// argument, its rule applied to the result's adjoint tangent (inside an
    /// `if let` where that is an `Option`), and the rule's curvature terms
    /// along the tangents of what it reads.
    fn reverse_prim(
        &mut self,
        inst: &crate::ir::Inst,
        rule: &crate::rules::Rule,
        args: &[Value],
        out: &mut TokenStream,
    ) {
        let cx = self.cx;
        let act = cx.act;
        let (span, result) = (inst.span, inst.results[0]);
        let private = respan(&cx.private, span);
        let module = Ident::new(rule.module(), span);
        let rules = quote_spanned!(span=> #private::rules::#module);
        let operand = |r: &Operand| match r {
            Operand::Arg(j) => args[*j],
            Operand::Out => result,
        };
        // Identity rules last: the last may take the adjoint tangent by move.
        let partials: Vec<DifferentiatedArg> = super::partial_order(rule, args, |a| act.active(a))
            .into_iter()
            .filter_map(|i| match rule.partials[i] {
                Partial::Vjp {
                    func,
                    reads,
                    curvature,
                    reuse,
                    shape,
                    ..
                } => Some((
                    args[i],
                    func,
                    reads,
                    curvature.unwrap_or(&[]),
                    reuse == Reuse::Identity,
                    shape,
                )),
                _ => None,
            })
            .collect();

        // The cotangent's tangent through the same (linear) rules.
        if self.dd.contains(&result) {
            let (ct, maybe) = self.adjoint_tangent_read(result);
            let mut block = TokenStream::new();
            for (k, &(arg, func, reads, _, identity, shape)) in partials.iter().enumerate() {
                // `ẋ̄ = ẏ̄` as a move: nothing reads `ẏ̄` after.
                if identity && !maybe && k + 1 == partials.len() && !self.dd.contains(&arg) {
                    self.dd.insert(arg);
                    let (dd, dd_r) = (dd_ident(arg), dd_ident(result));
                    block.extend(quote!(let mut #dd = #dd_r;));
                    continue;
                }
                if maybe {
                    // Declared outside the `if let`, reached inside it.
                    self.declare_none(arg, out);
                }
                let reads: Vec<TokenStream> = reads.iter().map(|r| cx.borrow(operand(r))).collect();
                let starting = shape
                    .map(|r| cx.borrow(operand(&r)))
                    .into_iter()
                    .chain(reads.iter().cloned());
                let (func_ident, acc) = (Ident::new(func, span), format_ident!("{}_acc", func, span = span));
                let value = quote_spanned!(span=> #rules::#func_ident(#ct #(, #starting)*));
                let add = |place: TokenStream| quote_spanned!(span=> #rules::#acc(#place, #ct #(, #reads)*););
                self.add_term(arg, value, add, None, &mut block);
            }
            out.extend(Self::where_reached(result, maybe, block));
        }

        // The rules' derivatives along the tangents of what they read, for
        // the result's adjoint of the primal sweep.
        if !self.declared.contains(&result) {
            return;
        }
        let ct = adj_ident(result);
        for &(arg, func, reads, curvature, _, shape) in &partials {
            let shape: Option<TokenStream> = shape.map(|r| cx.borrow(operand(&r)));
            let read_tokens: Vec<TokenStream> = reads.iter().map(|r| cx.borrow(operand(r))).collect();
            for (r, term) in curvature {
                let v = operand(r);
                if !self.has.contains(&v) {
                    continue;
                }
                let dv = dot_ident(v);
                let (value, add): (TokenStream, Box<dyn Fn(TokenStream) -> TokenStream>) = match term {
                    // The same rule, in place once the tangent adjoint exists
                    // (a product's term is then a `gemm` into it).
                    Term::Same => {
                        let reads: Vec<TokenStream> = reads
                            .iter()
                            .zip(&read_tokens)
                            .map(|(q, t)| if q == r { quote!(&#dv) } else { t.clone() })
                            .collect();
                        let (func_ident, acc) = (Ident::new(func, span), format_ident!("{}_acc", func, span = span));
                        // Local names with the call site's hygiene (see `reverse_map`).
                        let slot = format_ident!("__ad_place");
                        let starting = shape.iter().chain(&reads);
                        let value = quote_spanned!(span=> #rules::#func_ident(&#ct #(, #starting)*));
                        let add = quote_spanned!(span=> #rules::#acc(#slot, &#ct #(, #reads)*););
                        (
                            value,
                            Box::new(move |place: TokenStream| quote!({ let #slot = #place; #add })),
                        )
                    }
                    Term::Rule(name) => {
                        let name = Ident::new(name, span);
                        let term = quote_spanned!(span=> #rules::#name(&#ct #(, #read_tokens)*, &#dv));
                        let private = private.clone();
                        let term2 = term.clone();
                        (
                            term,
                            Box::new(
                                move |place: TokenStream| quote_spanned!(span=> #private::Accumulate::accumulate(#place, #term2);),
                            ),
                        )
                    }
                };
                let guard = self.guard(v).map(|g| g.to_token_stream());
                self.add_term(arg, value, add, guard, out);
            }
        }
    }
}
