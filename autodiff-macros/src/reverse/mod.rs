//! The reverse transform: from the IR and its activity, the forward sweep
//! (the primal, keeping what the reverse sweep reads) and the reverse sweep
//! (adjoints, walking the IR backwards and asking the rule table per op).
//!
//! Adjoints are Rust locals `__ad_d{N}`, created by the first contribution
//! (`let mut __ad_d3 = ..;`) and accumulated in place after; a value that
//! receives no contribution has no adjoint and propagates nothing (a static
//! zero). An `if` records which arm ran, with the values of that arm that the
//! reverse sweep reads, in a `Branch` tape: `Branch::Then((v5, v6))`.
//!
//! Before/after, for `x * x.sin()`:
//!
//! ```text
//! forward:  let __ad_v1 = x.sin();  let __ad_v2 = x * __ad_v1;
//! reverse:  let mut __ad_d2 = __ad_ct;
//!           let mut __ad_d0 = rules::mul::vjp_a(__ad_d2, __ad_v1);
//!           let mut __ad_d1 = rules::mul::vjp_b(__ad_d2, x);
//!           __ad_d0 += rules::sin::vjp(__ad_d1, x);
//! ```

mod calls;
mod fused;
mod loops;
mod map;
mod moves;
mod saved;
pub mod second;
mod signs;

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::Ident;

use crate::activity::{differentiable_arg, Activity};
use crate::ir::{Func, Inst, Op, Region, Value};
use crate::rules::{Operand, Partial, Reuse, Spelling};
pub(crate) use moves::uses;
pub use saved::calls_nothing;
use saved::{collect_consts, collect_recomputable, collect_written};

/// The two sweeps, ready to be placed in `f_grad` or `f_vjp`.
pub struct Sweeps {
    /// The primal computation, binding the output and everything the reverse sweep reads.
    pub forward: TokenStream,
    /// Reads the output cotangent `__ad_ct`; leaves each parameter's adjoint in `grads`.
    pub reverse: TokenStream,
    /// The output's name in the forward sweep.
    pub output: Ident,
    /// Whether the reverse sweep reads the output (so `f_vjp` returns a copy).
    pub output_read: bool,
    /// One expression per differentiated parameter, in order: its gradient.
    pub grads: Vec<(Ident, TokenStream)>,
}

/// Builds both sweeps.
pub fn transform(func: &Func, act: &Activity, krate: &syn::Path) -> Sweeps {
    let mut cx = Reverse::new(func, act, krate);
    let (forward, reverse) = cx.sweeps();
    let grads = func
        .params
        .iter()
        .filter(|p| p.differentiated)
        .map(|p| (p.ident.clone(), cx.adjoint_or_zero(p.value)))
        .collect();
    Sweeps {
        forward,
        reverse,
        output: func.ident(func.output).clone(),
        output_read: cx.needed.contains(&Saved::Value(func.output)),
        grads,
    }
}

/// Something the forward sweep keeps for the reverse sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Saved {
    /// A primal value.
    Value(Value),
    /// The pullback of the call that defines this value.
    Pullback(Value),
    /// The tape of the `if` whose first result is this value.
    Tape(Value),
}

fn adj_ident(v: Value) -> Ident {
    format_ident!("__ad_d{}", v.0)
}

struct Reverse<'a> {
    /// The facade's path, for the sweeps of nested scalar functions.
    krate: TokenStream,
    func: &'a Func,
    act: &'a Activity,
    private: TokenStream,
    /// Constants, written again where the reverse sweep reads them rather than saved.
    consts: HashMap<Value, TokenStream>,
    /// Instructions whose values may be recomputed in the reverse sweep.
    recomputable: HashMap<Value, Inst>,
    /// The values the reverse sweep recomputes (inside arms and loop bodies).
    recompute: HashSet<Value>,
    /// Loop indices the reverse sweep gets by running the range backwards.
    replayed: HashSet<Value>,
    /// What the reverse sweep reads.
    needed: HashSet<Saved>,
    /// The element reads `(result, argument)` whose reverse rule starts the
    /// container's adjoint, and so reads the container for its shape.
    starts: HashSet<(Value, usize)>,
    /// Range loops nested in another loop whose tape is declared once at the
    /// start of the forward sweep, rather than once per run of the loop and
    /// saved in the enclosing iteration's entry: the reverse sweep runs the
    /// runs backwards, so each pops exactly its own entries, last first.
    /// (A `while` loop keeps a tape per run: its length is the trip count.)
    hoisted: Vec<Value>,
    /// Nesting depth of the loop `mark_needed` is in.
    loop_depth: usize,
    /// Reduction loops (by first result) reversed inside their forward
    /// sweep, with the carried value they sum (see `fused.rs`); their
    /// in-iteration reverse; and the values their bodies define (which the
    /// forward sweep never moves: that reverse reads them after).
    fused: HashMap<Value, usize>,
    fused_code: HashMap<Value, TokenStream>,
    fused_values: HashSet<Value>,
    /// Per recorded loop (its first result), the carried values `k` whose
    /// value at the end of an iteration, which the reverse sweep reads, is
    /// not recorded: it is the next iteration's value at the start, recorded
    /// already (the loop's result for the last iteration). And those
    /// end-of-iteration values (see `loops.rs`).
    relayed: HashMap<Value, Vec<usize>>,
    relayed_values: HashSet<Value>,
    /// In `f_vjp2_want`'s stage 2, the differentiated parameters by field
    /// number: a product that only adds into a parameter's adjoint runs if
    /// the caller's `__ad_want` has its bit (a Jacobian penalty reads `x̄`
    /// only, not `w̄`).
    want: HashMap<Value, usize>,
    /// Calls of `f_pullback` in a loop whose arguments other than the
    /// cotangent do not change in it, and the name of the forward sweep of
    /// `f` they share (see `loops.rs`).
    shared: HashMap<Value, Ident>,
    /// Per fused loop, its stencils of element reads (see `fused.rs`); per
    /// windowed read, its window and the offset's place in it.
    stencils: HashMap<Value, Vec<fused::Stencil>>,
    windowed: HashMap<Value, (Ident, usize)>,
    /// Outer values whose adjoints are started at zero before an `if` or a
    /// loop (its first result), and loop results whose adjoints start at
    /// zero, found by the first pass of the reverse sweep.
    zeroed: HashSet<(Value, Value)>,
    /// Operands that instructions may take by move (see [`moves::last_uses`]).
    last_uses: HashSet<(Value, Value)>,
    /// Values whose adjoint is declared and in scope at this point of the reverse sweep.
    declared: HashSet<Value>,
    /// Values whose adjoint local holds the adjoint's negation (see `signs.rs`).
    negated: HashSet<Value>,
    /// Second-order sweeps: calls go through `g_vjp2` and keep its continuation.
    second_order: bool,
    /// Per `if` (its first result) and arm (`true`: then), what the arm's
    /// reverse sweep hands to the tangent sweeps; per loop, what each
    /// iteration's does (`false`).
    arm_states: HashMap<(Value, bool), second::ArmState>,
}

/// The primal code of single instructions, which forward mode shares with
/// the forward sweep (nothing is recorded: no tapes, no pullbacks).
pub struct Primal<'a>(Reverse<'a>);

impl<'a> Primal<'a> {
    pub fn new(func: &'a Func, act: &'a Activity, krate: &syn::Path) -> Self {
        Primal(Reverse::new(func, act, krate))
    }

    /// The statement computing an instruction's results.
    pub fn inst(&self, inst: &Inst) -> TokenStream {
        self.0.forward_inst(inst)
    }

    /// A value as a rule reads it, by reference (see [`Reverse::borrow`]).
    pub fn borrow(&self, v: Value) -> TokenStream {
        self.0.borrow(v)
    }
}

impl<'a> Reverse<'a> {
    fn new(func: &'a Func, act: &'a Activity, krate: &syn::Path) -> Self {
        let mut consts = HashMap::new();
        collect_consts(&func.body, &mut consts);
        let mut written = HashSet::new();
        collect_written(&func.body, &mut written);
        let mut recomputable = HashMap::new();
        collect_recomputable(&func.body, act, &written, &mut recomputable, &mut HashMap::new());
        Reverse {
            krate: krate.to_token_stream(),
            func,
            act,
            private: quote!(#krate::__private),
            consts,
            recomputable,
            recompute: HashSet::new(),
            replayed: HashSet::new(),
            needed: HashSet::new(),
            starts: HashSet::new(),
            zeroed: HashSet::new(),
            hoisted: Vec::new(),
            loop_depth: 0,
            fused: HashMap::new(),
            fused_code: HashMap::new(),
            fused_values: HashSet::new(),
            relayed: HashMap::new(),
            relayed_values: HashSet::new(),
            want: HashMap::new(),
            shared: HashMap::new(),
            stencils: HashMap::new(),
            windowed: HashMap::new(),
            last_uses: moves::last_uses(func),
            declared: HashSet::new(),
            negated: HashSet::new(),
            second_order: false,
            arm_states: HashMap::new(),
        }
    }
}

impl Reverse<'_> {
    /// The forward sweep, and the reverse sweep from the output's cotangent
    /// `__ad_ct`.
    fn sweeps(&mut self) -> (TokenStream, TokenStream) {
        let func = self.func;
        if !self.second_order {
            self.collect_shared(&func.body);
            self.collect_fused(&func.body);
            // A first pass of the reverse sweep finds which element reads
            // start their container's adjoint (and read its shape).
            self.reverse_sweep(&mut TokenStream::new());
            self.declared.clear();
        }
        self.mark_needed(&func.body);
        self.build_fused(&func.body);
        let tapes = self.hoisted.iter().map(|v| self.saved_ident(Saved::Tape(*v)));
        let mut forward = quote!(#(let mut #tapes = ::std::vec::Vec::new();)*);
        forward.extend(self.forward(&func.body));
        let mut reverse = TokenStream::new();
        self.reverse_sweep(&mut reverse);
        (forward, reverse)
    }

    /// The reverse sweep of the body from the output's cotangent.
    fn reverse_sweep(&mut self, out: &mut TokenStream) {
        let func = self.func;
        if self.act.active(func.output) {
            let adj = adj_ident(func.output);
            out.extend(quote!(let mut #adj = __ad_ct;));
            self.declared.insert(func.output);
        }
        self.reverse(&func.body, out);
    }

    /// `v`'s adjoint after the reverse sweep, or a zero shaped like `v`.
    fn adjoint_or_zero(&self, v: Value) -> TokenStream {
        if self.declared.contains(&v) {
            adj_ident(v).to_token_stream()
        } else {
            self.zero_like(v)
        }
    }

    /// A zero of `v`'s gradient type, shaped like `v`.
    fn zero_like(&self, v: Value) -> TokenStream {
        let (private, value) = (&self.private, self.borrow(v));
        quote!(#private::zero_grad(#value))
    }

    /// What stands in the gradient for a parameter `v` the caller does not
    /// read (see `Tangent::placeholder`).
    fn placeholder(&self, v: Value) -> TokenStream {
        let (private, value) = (&self.private, self.borrow(v));
        quote!(#private::placeholder(#value))
    }

    fn saved_ident(&self, s: Saved) -> Ident {
        match s {
            Saved::Value(v) => self.func.ident(v).clone(),
            Saved::Pullback(v) => format_ident!("__ad_pb{}", v.0),
            Saved::Tape(v) => format_ident!("__ad_tape{}", v.0),
        }
    }

    /// A primal value as a rule reads it, by reference: `&v`, or `v` for a
    /// reference parameter; a constant is written again rather than saved.
    fn borrow(&self, v: Value) -> TokenStream {
        if let Some(tokens) = self.consts.get(&v) {
            return quote!(&#tokens);
        }
        let ident = self.func.ident(v);
        if self.func.info(v).is_ref {
            quote!(#ident)
        } else {
            quote!(&#ident)
        }
    }

    /// Whether the reverse sweep has work for this instruction.
    fn reversed(&self, inst: &Inst) -> bool {
        inst.results.iter().any(|r| self.act.active(*r))
    }

    // ---- what to save ----

    fn mark_needed(&mut self, region: &Region) {
        for inst in &region.insts {
            if !self.reversed(inst) {
                continue;
            }
            match &inst.op {
                Op::Prim { rule, args, .. } => {
                    for (i, &arg) in args.iter().enumerate() {
                        if let Partial::Vjp { reads, shape, .. } = rule.partials[i] {
                            if self.act.active(arg) {
                                // The shape only where the rule starts the adjoint.
                                let shaped = self.second_order || self.starts.contains(&(inst.results[0], i));
                                for r in reads.iter().chain(shape.as_ref().filter(|_| shaped)) {
                                    let v = match r {
                                        Operand::Arg(j) => args[*j],
                                        Operand::Out => inst.results[0],
                                    };
                                    self.need(v);
                                }
                            }
                        }
                    }
                }
                Op::Call { .. } => {
                    self.needed.insert(Saved::Pullback(inst.results[0]));
                }
                Op::If {
                    then_region,
                    else_region,
                    ..
                } => {
                    self.needed.insert(Saved::Tape(inst.results[0]));
                    // An adjoint the arms add to may be started at zero before them.
                    for v in self.outer_targets(inst) {
                        if self.second_order || self.zeroed.contains(&(inst.results[0], v)) {
                            self.need(v);
                        }
                    }
                    self.mark_needed(then_region);
                    self.mark_needed(else_region);
                    // The tangent sweeps of an arm read its values too: the
                    // operands and results of its rules, and what it yields.
                    if self.second_order {
                        for arm in [then_region, else_region] {
                            let read: Vec<Value> = arm
                                .insts
                                .iter()
                                .filter(|i| self.reversed(i))
                                .flat_map(|i| i.op.args().iter().chain(&i.results).copied())
                                .collect();
                            for v in read {
                                self.need(v);
                            }
                            for (k, &y) in arm.yields.iter().enumerate() {
                                if self.act.active(inst.results[k]) {
                                    self.need(y);
                                }
                            }
                        }
                    }
                }
                // A loop records, per iteration, what its body's reverse reads (the
                // tape also counts the iterations); its carried values start their
                // adjoints from zero when unread after it.
                // A reduction loop records nothing: its reverse runs in its
                // forward sweep, where its body's values are at hand.
                Op::For { body, .. } if self.fused.contains_key(&inst.results[0]) => {
                    self.loop_depth += 1;
                    self.mark_needed(body);
                    self.loop_depth -= 1;
                }
                Op::For { args, body, cond } => {
                    self.needed.insert(Saved::Tape(inst.results[0]));
                    // A result or outer value whose adjoint starts at zero
                    // there, shaped like it.
                    for v in inst.results.iter().copied().chain(self.outer_targets(inst)) {
                        if self.second_order || self.zeroed.contains(&(inst.results[0], v)) {
                            self.need(v);
                        }
                    }
                    self.loop_depth += 1;
                    self.mark_needed(body);
                    self.loop_depth -= 1;
                    // The tangent sweeps of an iteration read its values too.
                    if self.second_order {
                        let read: Vec<Value> = body
                            .insts
                            .iter()
                            .filter(|i| self.reversed(i))
                            .flat_map(|i| i.op.args().iter().chain(&i.results).copied())
                            .chain(body.yields.iter().copied())
                            .collect();
                        for v in read {
                            self.need(v);
                        }
                    }
                    self.relay_yields(inst, body);
                    // The reverse sweep of a range loop runs the range
                    // backwards: the index is replayed, not recorded; a loop
                    // that records nothing needs no tape (the compiler then
                    // sees a plain counted loop); one nested in a loop shares
                    // one tape for all its runs (see `hoisted`).
                    if cond.is_none() {
                        self.need(args[0]);
                        let index = body.params[0];
                        if self.needed.remove(&Saved::Value(index)) {
                            self.replayed.insert(index);
                        }
                        if self.saved_in(body).is_empty() {
                            self.needed.remove(&Saved::Tape(inst.results[0]));
                        } else if self.loop_depth > 0 {
                            self.hoisted.push(inst.results[0]);
                        }
                    }
                }
                // The adjoint of the whole is started at zero, shaped like it.
                Op::Field { base, .. } => {
                    if self.act.active(*base) {
                        self.need(*base);
                    }
                }
                // The reverse rule runs the scalar function again per element.
                Op::Map { args, captures, .. } => {
                    for &v in args.iter().chain(captures) {
                        self.need(v);
                    }
                }
                Op::Const(_) | Op::Passive { .. } | Op::Opaque { .. } => {}
            }
        }
    }

    /// Makes `v` available to the reverse sweep: written again if a constant,
    /// recomputed if cheap (with its operands made available in turn), saved
    /// otherwise.
    fn need(&mut self, v: Value) {
        if self.consts.contains_key(&v) || self.recompute.contains(&v) {
            return;
        }
        match self.recomputable.get(&v).map(|inst| inst.op.args().to_vec()) {
            Some(operands) => {
                self.recompute.insert(v);
                for o in operands {
                    self.need(o);
                }
            }
            None => {
                self.needed.insert(Saved::Value(v));
            }
        }
    }

    /// The forward code of the values of `region` that its reverse recomputes.
    fn recomputed_in(&self, region: &Region) -> TokenStream {
        region
            .insts
            .iter()
            .filter(|i| i.results.first().is_some_and(|r| self.recompute.contains(r)))
            .map(|i| self.forward_inst(i))
            .collect()
    }

    /// Whether result `k` of an `if` or a loop has an adjoint to pass: an
    /// active result, or, for a loop, a carried value the next iteration
    /// differentiates even when nothing reads it after the loop.
    fn carries_adjoint(&self, inst: &Inst, k: usize) -> bool {
        self.act.active(inst.results[k])
            || matches!(&inst.op, Op::For { body, .. } if self.act.active(body.params[1 + k]))
    }

    /// Values defined outside an `if` whose adjoints its arms add to.
    fn outer_targets(&self, inst: &Inst) -> Vec<Value> {
        let regions: Vec<&Region> = match &inst.op {
            Op::If {
                then_region,
                else_region,
                ..
            } => vec![then_region, else_region],
            Op::For { body, .. } => vec![body],
            _ => return Vec::new(),
        };
        let mut targets = Vec::new();
        let mut inner = HashSet::new();
        for arm in regions {
            inner.extend(arm.params.iter().copied());
            for k in 0..inst.results.len() {
                if self.carries_adjoint(inst, k) {
                    targets.push(arm.yields[k]);
                }
            }
            self.targets(arm, &mut targets, &mut inner);
        }
        let mut seen = HashSet::new();
        targets.retain(|v| self.act.active(*v) && !inner.contains(v) && seen.insert(*v));
        targets
    }

    /// Values the reverse sweep of `region` adds to, and the values it defines.
    fn targets(&self, region: &Region, targets: &mut Vec<Value>, defined: &mut HashSet<Value>) {
        for inst in &region.insts {
            defined.extend(inst.results.iter().copied());
            if !self.reversed(inst) {
                continue;
            }
            if let Op::If {
                then_region,
                else_region,
                ..
            } = &inst.op
            {
                for arm in [then_region, else_region] {
                    for (k, r) in inst.results.iter().enumerate() {
                        if self.act.active(*r) {
                            targets.push(arm.yields[k]);
                        }
                    }
                    self.targets(arm, targets, defined);
                }
            } else if let Op::For { args, body, .. } = &inst.op {
                defined.extend(body.params.iter().copied());
                for k in 0..inst.results.len() {
                    if self.carries_adjoint(inst, k) {
                        targets.push(body.yields[k]);
                        targets.push(args[1 + k]);
                    }
                }
                self.targets(body, targets, defined);
            } else {
                let op = &inst.op;
                targets.extend(
                    op.args()
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| differentiable_arg(op, *i))
                        .map(|(_, v)| *v),
                );
            }
        }
    }

    /// The saved items defined at the top level of `region`, in order.
    fn saved_in(&self, region: &Region) -> Vec<Saved> {
        let mut saved: Vec<Saved> = region
            .params
            .iter()
            .map(|p| Saved::Value(*p))
            .filter(|s| self.needed.contains(s))
            .collect();
        for inst in &region.insts {
            for &r in &inst.results {
                if self.needed.contains(&Saved::Value(r)) {
                    saved.push(Saved::Value(r));
                }
            }
            if let Some(&first) = inst.results.first() {
                for s in [Saved::Pullback(first), Saved::Tape(first)] {
                    if self.needed.contains(&s) && !(s == Saved::Tape(first) && self.hoisted.contains(&first)) {
                        saved.push(s);
                    }
                }
            }
        }
        saved
    }

    // ---- forward sweep ----

    /// `v` as an instruction (named by its first result) takes it by value:
    /// moved where that is its last use and the reverse sweep does not read
    /// it, copied otherwise. (Second-order sweeps read every value again, in
    /// stages that `needed` does not list.)
    pub(super) fn moved_or_copied(&self, at: Value, v: Value) -> TokenStream {
        let ident = self.func.ident(v);
        let moved = self.last_uses.contains(&(at, v))
            && !self.second_order
            && !self.fused_values.contains(&v)
            && !self.needed.contains(&Saved::Value(v))
            && !self.recompute.contains(&v);
        if moved {
            quote!(#ident)
        } else {
            quote!(::core::clone::Clone::clone(&#ident))
        }
    }

    fn forward(&self, region: &Region) -> TokenStream {
        let mut out = TokenStream::new();
        for inst in region
            .insts
            .iter()
            .filter(|i| i.results.iter().any(|r| self.act.live(*r)))
        {
            out.extend(self.forward_inst(inst));
        }
        out
    }

    fn forward_inst(&self, inst: &Inst) -> TokenStream {
        let span = inst.span;
        let f = self.func;
        let idents = |vs: &[Value]| -> Vec<Ident> { vs.iter().map(|v| f.ident(*v).clone()).collect() };
        let result = inst.results.first().map(|r| {
            let name = f.ident(*r);
            match &f.info(*r).ty {
                Some(ty) => quote!(#name: #ty),
                None => quote!(#name),
            }
        });
        match &inst.op {
            Op::Const(tokens) => quote_spanned!(span=> let #result = #tokens;),
            Op::Field { base, member } => {
                let base = f.ident(*base);
                quote_spanned!(span=> let #result = ::core::clone::Clone::clone(&#base.#member);)
            }
            Op::Passive { expr, .. } | Op::Opaque { expr, .. } => quote_spanned!(span=> let #result = #expr;),
            Op::Prim {
                rule,
                args,
                by_ref,
                qualifier,
            } => {
                let name = Ident::new(rule.name, span);
                let module = Ident::new(rule.module(), span);
                let value = match rule.spelling {
                    Spelling::Rule => {
                        let private = respan(&self.private, span);
                        let operands = args.iter().map(|a| self.borrow(*a));
                        quote_spanned!(span=> #private::rules::#module::value(#(#operands),*))
                    }
                    // The buffer moves in where this is its last use and the
                    // reverse sweep does not read it; it is copied otherwise.
                    Spelling::Update => {
                        let x = args[0];
                        let buffer = self.moved_or_copied(inst.results[0], x);
                        // As the user wrote it, so that the element type is
                        // inferred as in their code (`DVector::zeros(n)`).
                        let (index, element) = (f.ident(args[1]), self.borrow(args[2]));
                        quote_spanned!(span=> {
                            let mut __ad_buffer = #buffer;
                            __ad_buffer[#index] = ::core::clone::Clone::clone(#element);
                            __ad_buffer
                        })
                    }
                    Spelling::Method => {
                        let a: Vec<TokenStream> = args
                            .iter()
                            .zip(by_ref)
                            .map(|(a, r)| {
                                let a = f.ident(*a);
                                if *r {
                                    quote!(&#a)
                                } else {
                                    quote!(#a)
                                }
                            })
                            .collect();
                        match qualifier {
                            Some(q) => quote_spanned!(span=> #q::#name(#(#a),*)),
                            None => {
                                let (recv, rest) = a.split_first().expect("a receiver");
                                quote_spanned!(span=> #recv.#name(#(#rest),*))
                            }
                        }
                    }
                };
                quote_spanned!(span=> let #result = #value;)
            }
            Op::Call { path, args, by_ref, .. } => {
                let a = self.call_args(args, by_ref);
                if self.needed.contains(&Saved::Pullback(inst.results[0])) {
                    let pb = self.saved_ident(Saved::Pullback(inst.results[0]));
                    let vjp = self.call_vjp(inst, path, args, &a);
                    quote_spanned!(span=> let (#result, #pb) = #vjp;)
                } else {
                    quote_spanned!(span=> let #result = #path(#(#a),*);)
                }
            }
            Op::For { args, body, cond } => self.forward_loop(inst, args, body, cond.as_ref()),
            Op::Map { scalar, args, .. } => {
                let sweeps = self.scalar_sweeps(scalar);
                let (forward, output) = (&sweeps.forward, &sweeps.output);
                let params = scalar.params.iter().map(|p| &p.ident);
                let recv = f.ident(args[0]);
                let call = match args.get(1) {
                    None => quote_spanned!(span=> #recv.map(|#(#params),*| { #forward #output })),
                    Some(&b) => {
                        let b = self.borrow(b);
                        quote_spanned!(span=> #recv.zip_map(#b, |#(#params),*| { #forward #output }))
                    }
                };
                quote_spanned!(span=> let #result = #call;)
            }
            Op::If {
                cond,
                then_region,
                else_region,
            } => {
                let results = idents(&inst.results);
                let cond = f.ident(*cond);
                let tape = Saved::Tape(inst.results[0]);
                let recorded = self.needed.contains(&tape);
                let private = &self.private;
                let arm = |region: &Region, variant: TokenStream| {
                    let body = self.forward(region);
                    let yields = region.yields.iter().map(|&y| {
                        if region.insts.iter().any(|i| i.results.contains(&y)) {
                            f.ident(y).to_token_stream()
                        } else {
                            self.moved_or_copied(inst.results[0], y)
                        }
                    });
                    let tape = recorded.then(|| {
                        let entry = self.tape_entry(region);
                        quote!(#private::Branch::#variant(#entry),)
                    });
                    // The tape first: it copies what the yields then move.
                    quote!({ #body (#tape #(#yields,)*) })
                };
                let then_arm = arm(then_region, quote!(Then));
                let else_arm = arm(else_region, quote!(Else));
                let tape = recorded.then(|| {
                    let tape = self.saved_ident(tape);
                    quote!(#tape,)
                });
                quote_spanned!(span=> let (#tape #(#results,)*) = if #cond #then_arm else #else_arm;)
            }
        }
    }

    // ---- reverse sweep ----

    /// Adds `contribution` to the adjoint of `v`, starting it if needed.
    fn contribute(&mut self, v: Value, contribution: TokenStream, out: &mut TokenStream) {
        let adj = adj_ident(v);
        if self.declared.insert(v) {
            out.extend(quote!(let mut #adj = #contribution;));
        } else {
            let private = &self.private;
            out.extend(quote!(#private::Accumulate::accumulate(&mut #adj, #contribution);));
        }
    }

    fn reverse(&mut self, region: &Region, out: &mut TokenStream) {
        self.clear_signs(region);
        for inst in region.insts.iter().rev() {
            if !self.reversed(inst) {
                continue;
            }
            let result = inst.results[0];
            let span = inst.span;
            let private = self.private.clone();
            match &inst.op {
                Op::Prim { rule, args, .. } => {
                    if !self.declared.contains(&result) {
                        continue; // a zero adjoint propagates nothing
                    }
                    let ct = adj_ident(result);
                    let module = Ident::new(rule.module(), span);
                    // The result's adjoint is read by no one after this
                    // instruction, except by second-order terms of its rule.
                    let dead_after = !self.second_order || !has_curvature(rule);
                    let mut order = partial_order(rule, args, |a| self.act.active(a));
                    // The partial that may take `ȳ` goes last: the last that
                    // starts its argument's adjoint (one that adds into an
                    // existing adjoint only reads `ȳ`), so that `z = a + b`
                    // moves `z̄` into `ā` where `b̄` exists already.
                    let takes = |i: usize| {
                        !self.declared.contains(&args[i])
                            && matches!(rule.partials[i], Partial::Vjp { reuse, .. } if reuse != Reuse::Never)
                    };
                    if let Some(at) = order.iter().rposition(|&i| takes(i)) {
                        let i = order.remove(at);
                        order.push(i);
                    }
                    let last = order.last().copied();
                    // `ȳ` may be held negated (see `signs.rs`).
                    let mut ct_negated = self.negated.contains(&result);
                    if ct_negated && self.must_negate(rule, args, &order, result, region) {
                        out.extend(quote_spanned!(span=> let mut #ct = #private::rules::sub::vjp_b_owned(#ct);));
                        ct_negated = false;
                    }
                    for i in order {
                        let arg = args[i];
                        let Partial::Vjp {
                            func,
                            reads,
                            shape,
                            reuse,
                            ..
                        } = rule.partials[i]
                        else {
                            continue;
                        };
                        if signs::negates(rule, i) {
                            let take = dead_after && Some(i) == last && !self.declared.contains(&arg);
                            let ct = ct.to_token_stream();
                            if let Some(code) = self.negating_partial(ct_negated, arg, region, take, &ct) {
                                out.extend(code);
                                continue;
                            }
                        }
                        // A negated `ȳ` starts a negated `x̄`, or adds into one.
                        let windowed = i == 0 && self.windowed.contains_key(&result);
                        let mark = ct_negated && !windowed && !self.declared.contains(&arg);
                        // `ȳ` becomes `x̄` where nothing reads it after.
                        let take =
                            reuse != Reuse::Never && dead_after && Some(i) == last && !self.declared.contains(&arg);
                        if mark {
                            self.negated.insert(arg);
                        }
                        if take && reuse == Reuse::Identity {
                            self.declared.insert(arg);
                            let adj = adj_ident(arg);
                            out.extend(quote_spanned!(span=> let mut #adj = #ct;));
                            continue;
                        }
                        let operand = |r: &Operand| match r {
                            Operand::Arg(j) => self.borrow(args[*j]),
                            Operand::Out => self.borrow(result),
                        };
                        // An element of a parameter: the add is checked against the
                        // parameter, as the read was (see the runtime's `ElementAdjointOf`).
                        let of_param = i == 0 && crate::rules::is_index(rule) && self.func.is_param(arg);
                        let reads: Vec<TokenStream> = reads.iter().map(operand).collect();
                        let shape: Option<TokenStream> = shape.as_ref().map(operand);
                        // The first contribution starts the adjoint; later ones add in place.
                        let adj = adj_ident(arg);
                        // Spanned at the user's expression, so that a missing rule
                        // for these types is reported there.
                        let private = respan(&private, span);
                        let rule = quote_spanned!(span=> #private::rules::#module);
                        // A parameter's adjoint the caller does not read is zero;
                        // where this is its only contribution, a placeholder
                        // (stage 3 reads that field only under its mask bit).
                        let wanted = self.want.get(&arg).map(|k| wants(*k));
                        let zero = wanted.as_ref().map(|_| match moves::uses(&self.func.body, arg) {
                            1 => self.placeholder(arg),
                            _ => self.zero_like(arg),
                        });
                        let start = |value: TokenStream| match (&wanted, &zero) {
                            (Some(wanted), Some(zero)) => quote!(if #wanted { #value } else { #zero }),
                            _ => value,
                        };
                        if let Some((window, j)) = self.windowed.get(&result).filter(|_| i == 0) {
                            self.declared.insert(arg);
                            let add = match ct_negated {
                                true => quote!(sub),
                                false => quote!(add),
                            };
                            out.extend(quote_spanned!(span=> #window.#add(#j, &#ct);));
                        } else if !self.declared.insert(arg) {
                            let func_acc = format_ident!("{}_acc", func, span = span);
                            // Into a negated `x̄` from a plain `ȳ`: `x̄ += vjp(-ȳ)`,
                            // whose negation the compiler folds into the sum.
                            let ct = match !ct_negated && self.negated.contains(&arg) {
                                true => quote_spanned!(span=> &#private::rules::sub::vjp_b(&#ct)),
                                false => quote!(&#ct),
                            };
                            let add = if of_param {
                                let x = self.borrow(arg);
                                quote_spanned!(span=> #rule::vjp_acc_of(&mut #adj, #ct #(, #reads)*, #x);)
                            } else {
                                quote_spanned!(span=> #rule::#func_acc(&mut #adj, #ct #(, #reads)*);)
                            };
                            out.extend(match &wanted {
                                Some(wanted) => quote!(if #wanted { #add }),
                                None => add,
                            });
                        } else if take {
                            let owned = format_ident!("{}_owned", func, span = span);
                            let value = start(quote_spanned!(span=> #rule::#owned(#ct #(, #reads)*)));
                            out.extend(quote_spanned!(span=> let mut #adj = #value;));
                        } else {
                            if shape.is_some() {
                                self.starts.insert((result, i));
                            }

                            let starting = shape.into_iter().chain(reads);
                            let func = Ident::new(func, span);
                            let value = start(quote_spanned!(span=> #rule::#func(&#ct #(, #starting)*)));
                            out.extend(quote_spanned!(span=> let mut #adj = #value;));
                        }
                    }
                }
                Op::Call { args, spans, .. } => {
                    // In second-order sweeps the pullback also gives the
                    // continuation the tangent sweeps need, so it always runs.
                    let ct = if self.declared.contains(&result) {
                        adj_ident(result).to_token_stream()
                    } else if self.second_order {
                        let value = self.borrow(result);
                        quote!(#private::zero_grad(#value))
                    } else {
                        continue;
                    };
                    let pb = self.saved_ident(Saved::Pullback(result));
                    let tangents: Vec<Option<Ident>> = args
                        .iter()
                        .enumerate()
                        .map(|(i, a)| {
                            let span = spans[i];
                            self.act
                                .active(*a)
                                .then(|| format_ident!("__ad_t{}_{}", result.0, i, span = span))
                        })
                        .collect();
                    let pattern = tangents.iter().map(|t| match t {
                        Some(t) => t.to_token_stream(),
                        None => quote!(_),
                    });
                    let sums = self.running_sums(inst);
                    let summed = sums.as_ref().map_or(0, |s| s.1);
                    if self.second_order {
                        let so = second::continuation(result);
                        out.extend(quote_spanned!(span=>
                            let (__ad_g, #so) = #private::Pullback2::pull(#pb, #ct);
                            let (#(#pattern,)*) = #private::ArgTangents::into_arg_tangents(__ad_g);
                        ));
                    } else {
                        let call = match sums {
                            Some((sums, _)) => quote!(#pb(#ct, #sums)),
                            None => quote!(#pb(#ct)),
                        };
                        out.extend(quote_spanned!(span=>
                            let (#(#pattern,)*) = #private::ArgTangents::into_arg_tangents(#call);
                        ));
                    }
                    // The pullback added into the running sums it took.
                    for (arg, t) in args[..summed].iter().zip(&tangents) {
                        let (Some(t), adj) = (t, adj_ident(*arg)) else { continue };
                        out.extend(quote_spanned!(span=> #adj = #t;));
                    }
                    // Spanned at the argument, so that a cotangent the callee
                    // does not provide is reported there.
                    for ((arg, t), &span) in args.iter().zip(tangents).zip(spans).skip(summed) {
                        let Some(t) = t else { continue };
                        let adj = adj_ident(*arg);
                        let private = respan(&private, span);
                        if self.declared.insert(*arg) {
                            out.extend(quote_spanned!(span=> let mut #adj = #private::cotangent(#t);));
                        } else {
                            out.extend(quote_spanned!(span=> #private::Accumulate::accumulate(&mut #adj, #t);));
                        }
                    }
                }
                Op::If {
                    then_region,
                    else_region,
                    ..
                } if self.second_order => {
                    self.start_outer_targets(inst, out);
                    let tape = self.saved_ident(Saved::Tape(result));
                    let mut reached = HashSet::new();
                    let then_arm = self.reverse_arm(inst, then_region, quote!(Then), &[], &mut reached);
                    let else_arm = self.reverse_arm(inst, else_region, quote!(Else), &[], &mut reached);
                    // The arm that ran hands its state to the tangent sweeps.
                    let state = second::arm_state_ident(result, 2);
                    out.extend(quote!(let #state = match #tape { #then_arm #else_arm };));
                }
                Op::If {
                    then_region,
                    else_region,
                    ..
                } => self.reverse_if(inst, then_region, else_region, out),
                Op::Map { scalar, args, .. } => {
                    if !self.declared.contains(&result) {
                        continue;
                    }
                    self.reverse_map(scalar, args, result, span, out);
                }
                Op::Field { base, member } => {
                    if !self.declared.contains(&result) || !self.act.active(*base) {
                        continue;
                    }
                    let (ct, adj) = (adj_ident(result), adj_ident(*base));
                    if self.declared.insert(*base) {
                        let value = self.borrow(*base);
                        out.extend(quote_spanned!(span=> let mut #adj = #private::zero_grad(#value);));
                    }
                    out.extend(quote_spanned!(span=> #private::Accumulate::accumulate(&mut #adj.#member, #ct);));
                }
                Op::For { .. } if self.fused.contains_key(&result) => self.reverse_fused(inst, out),
                Op::For { args, body, cond } => {
                    if inst.results.iter().any(|r| self.declared.contains(r)) {
                        self.reverse_loop(inst, args, body, cond.as_ref(), out);
                    }
                }
                Op::Const(_) | Op::Passive { .. } | Op::Opaque { .. } => {}
            }
        }
    }

    /// Starts at zero, before an `if` or a loop, the adjoints of the outer
    /// values its regions add to, so that they exist whichever way it went.
    fn start_outer_targets(&mut self, inst: &Inst, out: &mut TokenStream) {
        for v in self.outer_targets(inst) {
            if !self.declared.contains(&v) {
                self.start_at_zero(inst.results[0], v, out);
            }
        }
    }

    /// Starts `v`'s adjoint at zero before the `if` or loop named by its
    /// first result `at` (which reads `v` for its shape: see `zeroed`).
    fn start_at_zero(&mut self, at: Value, v: Value, out: &mut TokenStream) {
        self.zeroed.insert((at, v));
        self.declared.insert(v);
        let (adj, zero) = (adj_ident(v), self.zero_like(v));
        out.extend(quote!(let mut #adj = #zero;));
    }

    /// An arm's reverse as a `match` arm; it evaluates to the adjoints of
    /// `yielded` (outer values it starts), and `reached` collects the adjoints
    /// declared at its end.
    fn reverse_arm(
        &mut self,
        inst: &Inst,
        region: &Region,
        variant: TokenStream,
        yielded: &[Value],
        reached: &mut HashSet<Value>,
    ) -> TokenStream {
        let outer = self.declared.clone();
        let mut body = self.recomputed_in(region);
        for (k, r) in inst.results.iter().enumerate() {
            let y = region.yields[k];
            if self.declared.contains(r) && self.act.active(y) {
                let ct = adj_ident(*r);
                self.contribute(y, quote!(#ct), &mut body);
            }
        }
        self.reverse(region, &mut body);
        let private = self.private.clone();
        if self.second_order {
            // The arm's values and adjoints, for the tangent sweeps.
            let (state, names) = self.region_state(region);
            body.extend(quote!(#private::Branch::#variant((#(#names,)*))));
            self.arm_states
                .insert((inst.results[0], variant.to_string() == "Then"), state);
        }
        if !yielded.is_empty() {
            let adjoints = yielded.iter().map(|v| adj_ident(*v));
            body.extend(quote!((#(#adjoints,)*)));
        }
        *reached = std::mem::replace(&mut self.declared, outer);
        let pattern = self.tape_pattern(region);
        quote!(#private::Branch::#variant(#pattern) => { #body })
    }

    /// The reverse of a first-order `if`. The adjoint of an outer value that
    /// both arms reach is started inside each and yielded by the `match`
    /// (so an arm that assigns an element of a buffer takes the buffer's
    /// adjoint in place); one that an arm does not reach is started at zero
    /// before, which reads the value for its shape.
    fn reverse_if(&mut self, inst: &Inst, then_region: &Region, else_region: &Region, out: &mut TokenStream) {
        let result = inst.results[0];
        let fresh: Vec<Value> = self
            .outer_targets(inst)
            .into_iter()
            .filter(|v| !self.declared.contains(v))
            .collect();
        // Both arms yielding every fresh adjoint is the common case: then the
        // first emission stands; otherwise the arms are emitted again with
        // the adjoints one of them does not reach started at zero before.
        let starts = self.starts.clone();
        let (mut in_then, mut in_else) = (HashSet::new(), HashSet::new());
        let mut then_arm = self.reverse_arm(inst, then_region, quote!(Then), &fresh, &mut in_then);
        let mut else_arm = self.reverse_arm(inst, else_region, quote!(Else), &fresh, &mut in_else);
        let (yielded, zeroed): (Vec<Value>, Vec<Value>) = fresh
            .into_iter()
            .partition(|v| in_then.contains(v) && in_else.contains(v));
        if !zeroed.is_empty() {
            self.starts = starts;
            for &v in &zeroed {
                self.start_at_zero(result, v, out);
            }
            then_arm = self.reverse_arm(inst, then_region, quote!(Then), &yielded, &mut in_then);
            else_arm = self.reverse_arm(inst, else_region, quote!(Else), &yielded, &mut in_else);
        }
        let tape = self.saved_ident(Saved::Tape(result));
        if yielded.is_empty() {
            out.extend(quote!(match #tape { #then_arm #else_arm }));
        } else {
            self.declared.extend(yielded.iter().copied());
            let adjoints = yielded.iter().map(|v| adj_ident(*v));
            out.extend(quote!(let (#(mut #adjoints,)*) = match #tape { #then_arm #else_arm };));
        }
    }
}

impl Reverse<'_> {
    /// In second-order sweeps, what the reverse of an `if` arm or a loop
    /// iteration hands to the tangent sweeps, and the names of its parts in
    /// order: the values it read (a replayed loop index among them), the
    /// adjoints that curvature terms read (never moved away), the states of
    /// the `if`s and loops nested in it, and its calls' continuations.
    fn region_state(&self, region: &Region) -> (second::ArmState, Vec<Ident>) {
        let defined = region
            .params
            .iter()
            .copied()
            .chain(region.insts.iter().flat_map(|i| i.results.iter().copied()));
        let values: Vec<Value> = defined
            .filter(|v| {
                self.needed.contains(&Saved::Value(*v)) || self.recompute.contains(v) || self.replayed.contains(v)
            })
            .collect();
        let adjoints: Vec<Value> = region
            .insts
            .iter()
            .filter(|i| matches!(&i.op, Op::Prim { rule, .. } if has_curvature(rule)))
            .map(|i| i.results[0])
            .filter(|v| self.declared.contains(v))
            .collect();
        let nested: Vec<Value> = region
            .insts
            .iter()
            .filter(|i| matches!(i.op, Op::If { .. } | Op::For { .. }) && self.reversed(i))
            .map(|i| i.results[0])
            .collect();
        let calls = self.reversed_calls(region);
        let names = values
            .iter()
            .map(|v| self.func.ident(*v).clone())
            .chain(adjoints.iter().map(|v| adj_ident(*v)))
            .chain(nested.iter().map(|v| second::arm_state_ident(*v, 2)))
            .chain(calls.iter().map(|v| second::continuation(*v)))
            .collect();
        let state = second::ArmState {
            values,
            adjoints,
            nested,
            calls,
            declared: self.declared.clone(),
        };
        (state, names)
    }

    /// The calls of a region with a reverse sweep (a continuation each, in
    /// second-order sweeps).
    fn reversed_calls(&self, region: &Region) -> Vec<Value> {
        region
            .insts
            .iter()
            .filter(|i| matches!(i.op, Op::Call { .. }) && self.reversed(i))
            .map(|i| i.results[0])
            .collect()
    }
}

/// Whether a rule has any second-order term (then its result's adjoint is
/// read again by the tangent reverse sweep).
fn has_curvature(rule: &crate::rules::Rule) -> bool {
    rule.partials
        .iter()
        .any(|p| matches!(p, Partial::Vjp { curvature, .. } if curvature.is_none_or(|c| !c.is_empty())))
}

/// The order in which a primitive's differentiated arguments receive their
/// cotangents: those that may reuse the result's adjoint last, so that the
/// last of them may take it.
fn partial_order(rule: &crate::rules::Rule, args: &[Value], active: impl Fn(Value) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..args.len())
        .filter(|&i| active(args[i]) && matches!(rule.partials[i], Partial::Vjp { .. }))
        .collect();
    order.sort_by_key(|&i| {
        !matches!(
            rule.partials[i],
            Partial::Vjp {
                reuse: Reuse::Never,
                ..
            }
        )
    });
    order
}

/// Whether bit `bit` of the caller's mask `__ad_want` is set (see
/// `f_vjp2_want`: bits 0–30 ask for fields of the gradient, 32–62 for their
/// tangents, 63 for the output's tangent).
fn wants(bit: usize) -> TokenStream {
    quote!((__ad_want >> #bit) & 1 != 0)
}

/// The identifiers `tokens` name, inside groups (`[T]`, `(a, b)`) too.
pub fn collect_idents(tokens: &TokenStream, out: &mut HashSet<String>) {
    for t in tokens.clone() {
        match t {
            proc_macro2::TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            proc_macro2::TokenTree::Group(g) => collect_idents(&g.stream(), out),
            _ => {}
        }
    }
}

/// `tokens` with every span set to `span`, so that rustc reports an error
/// about them at the user's tokens.
pub fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect()
}

/// The companion of a function path: `a::g` → `a::g_vjp`, with the callee's span.
pub fn companion(path: &syn::Path, suffix: &str) -> syn::Path {
    let mut path = path.clone();
    if let Some(last) = path.segments.last_mut() {
        let span: Span = last.ident.span();
        last.ident = format_ident!("{}_{}", last.ident, suffix, span = span);
    }
    path
}
