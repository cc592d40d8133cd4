//! Tapes and loops: what an `if` arm or a loop iteration records for the
//! reverse sweep, and the forward and reverse code of a loop.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::Ident;

use super::{adj_ident, Reverse, Saved};
use crate::ir::{Inst, Region, Value};

impl Reverse<'_> {
    /// The tape entry of a region's saved items; one also yielded is copied.
    pub(super) fn tape_entry(&self, region: &Region) -> TokenStream {
        let saved = self.recorded_in(region).into_iter().map(|s| {
            let ident = self.saved_ident(s);
            match s {
                Saved::Value(v) if region.yields.contains(&v) => quote!(::core::clone::Clone::clone(&#ident)),
                _ => ident.to_token_stream(),
            }
        });
        quote!((#(#saved,)*))
    }

    /// The pattern that binds a region's saved items from its tape entry.
    pub(super) fn tape_pattern(&self, region: &Region) -> TokenStream {
        let saved = self.recorded_in(region).into_iter().map(|s| self.saved_ident(s));
        quote!((#(#saved,)*))
    }

    /// What a region's tape entry holds: its saved items but the relayed
    /// end-of-iteration values.
    fn recorded_in(&self, region: &Region) -> Vec<Saved> {
        let mut saved = self.saved_in(region);
        saved.retain(|s| !matches!(s, Saved::Value(v) if self.relayed_values.contains(v)));
        saved
    }

    /// Finds the carried values of a recorded loop whose end-of-iteration
    /// value need not be recorded: the reverse sweep reads it and the next
    /// iteration's start value, which is the same value, recorded already
    /// (W7's hidden states: 2 of 21 vectors per step, each a copy). The
    /// reverse sweep hands each iteration's start value to the iteration
    /// before, and the last iteration gets the loop's result, which is kept
    /// for it. First-order sweeps only.
    pub(super) fn relay_yields(&mut self, inst: &Inst, body: &Region) {
        if self.second_order {
            return;
        }
        let mut relayed = Vec::new();
        for (k, &y) in body.yields.iter().enumerate() {
            let p = body.params[1 + k];
            let defined_here = body.insts.iter().any(|i| i.results.contains(&y));
            if y != p
                && defined_here
                && self.needed.contains(&Saved::Value(y))
                && self.needed.contains(&Saved::Value(p))
                && self.relayed_values.insert(y)
            {
                relayed.push(k);
                self.need(inst.results[k]);
            }
        }
        if !relayed.is_empty() {
            self.relayed.insert(inst.results[0], relayed);
        }
    }

    /// The relayed values of a loop's reverse sweep: before the iterations,
    /// the locals that carry each start value back (the loop's results
    /// first); per iteration, the bindings of its end values from them and
    /// the hand-over of its start values (see [`relay_yields`](Self::relay_yields)).
    fn relays(&self, inst: &Inst, body: &Region) -> (TokenStream, TokenStream, TokenStream) {
        let (mut before, mut bind, mut hand) = (TokenStream::new(), TokenStream::new(), TokenStream::new());
        for &k in self.relayed.get(&inst.results[0]).into_iter().flatten() {
            let next = format_ident!("__ad_next{}_{}", inst.results[0].0, k);
            let result = self.borrow(inst.results[k]);
            let (y, p) = (self.func.ident(body.yields[k]), self.func.ident(body.params[1 + k]));
            before.extend(quote!(let mut #next = ::core::clone::Clone::clone(#result);));
            bind.extend(quote!(let #y = #next;));
            hand.extend(quote!(#next = #p;));
        }
        (before, bind, hand)
    }

    /// The carried state of a loop, one local per carried value.
    pub(super) fn loop_state(inst: &Inst, prefix: &str) -> Vec<Ident> {
        (0..inst.results.len())
            .map(|k| format_ident!("__ad_{}{}_{}", prefix, inst.results[0].0, k))
            .collect()
    }

    /// `for i in iter { body }`, recording per iteration what the
    /// reverse sweep of the body reads:
    ///
    /// ```text
    /// let mut __ad_c5_0 = init;  let mut __ad_tape5 = Vec::with_capacity(iter.len());
    /// for i in iter { let p = __ad_c5_0; <body>; __ad_tape5.push((saved..)); __ad_c5_0 = y; }
    /// let r = __ad_c5_0;
    /// ```
    pub(super) fn forward_loop(
        &self,
        inst: &Inst,
        args: &[Value],
        body: &Region,
        cond: Option<&Region>,
    ) -> TokenStream {
        let f = self.func;
        let state = Self::loop_state(inst, "c");
        // Second-order sweeps read the initial values again (a zero tangent's shape).
        let inits = args[1..].iter().map(|v| self.moved_or_copied(inst.results[0], *v));
        let iter = f.ident(args[0]);
        let i = f.ident(body.params[0]);
        let params = body.params[1..].iter().map(|v| f.ident(*v));
        let yields = body.yields.iter().map(|v| f.ident(*v));
        let results = inst.results.iter().map(|v| f.ident(*v));
        let code = self.forward(body);
        let record = self.needed.contains(&Saved::Tape(inst.results[0])).then(|| {
            let tape = self.saved_ident(Saved::Tape(inst.results[0]));
            let entry = self.tape_entry(body);
            // One entry per iteration. A range loop's tape gets room for the
            // range before the loop (a hoisted one, declared at the start,
            // per run) and records without reallocating (see `record`); a
            // `while` loop's grows as it goes.
            let private = &self.private;
            let room = quote!(::core::iter::Iterator::size_hint(&#iter).1.unwrap_or(0));
            let declare = if self.hoisted.contains(&inst.results[0]) {
                quote!(#tape.reserve(#room);)
            } else {
                quote!(let mut #tape = ::std::vec::Vec::with_capacity(#room);)
            };
            let push = match cond {
                None => quote!(#private::record(&mut #tape, #entry);),
                Some(_) => quote!(#tape.push(#entry);),
            };
            (declare, push)
        });
        let (declare, push) = record.unzip();
        // A `while` condition reads copies of the carried values.
        let stop = cond.map(|cond| {
            let params = cond.params.iter().map(|v| f.ident(*v));
            let carried = std::iter::once(i.to_token_stream())
                .chain(state.iter().map(|s| quote!(::core::clone::Clone::clone(&#s))));
            let code = self.forward(cond);
            let go = f.ident(cond.yields[0]);
            quote! {
                #(let #params = #carried;)*
                #code
                if !#go {
                    break;
                }
            }
        });
        let state2 = state.clone();
        let state3 = state.clone();
        // A reduction loop runs each iteration's reverse after its forward.
        let reversed = self.fused_code.get(&inst.results[0]).map(|code| quote!({ #code }));
        let mut run = quote! {
            for #i in ::core::clone::Clone::clone(&#iter) {
                #stop
                #(let #params = #state2;)*
                #code
                #push
                #reversed
                #(#state3 = #yields;)*
            }
        };
        if reversed.is_some() {
            run = self.fused_forward(inst, run);
        }
        let shares = self.shares_before(body);
        quote! {
            #shares
            #(let mut #state = #inits;)*
            #declare
            #run
            #(let #results = #state;)*
        }
    }

    /// The reverse of a loop: its iterations backwards, from the tape, with
    /// the adjoints of the carried values passed from one to the previous.
    pub(super) fn reverse_loop(
        &mut self,
        inst: &Inst,
        args: &[Value],
        body: &Region,
        cond: Option<&Region>,
        out: &mut TokenStream,
    ) {
        let private = self.private.clone();
        self.start_outer_targets(inst, out);
        let state = Self::loop_state(inst, "a");
        let active: Vec<usize> = (0..inst.results.len())
            .filter(|&k| self.carries_adjoint(inst, k))
            .collect();
        for &k in &active {
            let (a, r) = (&state[k], inst.results[k]);
            if !self.declared.contains(&r) {
                self.zeroed.insert((inst.results[0], r));
            }
            let start = self.adjoint_or_zero(r);
            out.extend(quote!(let mut #a = #start;));
        }
        // One iteration's reverse, with the adjoints of its yields seeded.
        let outer = self.declared.clone();
        let mut iteration = self.recomputed_in(body);
        for &k in &active {
            let y = body.yields[k];
            if self.act.active(y) {
                let a = &state[k];
                self.contribute(y, quote!(#a), &mut iteration);
            }
        }
        self.reverse(body, &mut iteration);
        // In second-order sweeps each iteration hands its state on, the last first.
        let states = self.second_order.then(|| {
            let (state, names) = self.region_state(body);
            let vec = super::second::arm_state_ident(inst.results[0], 2);
            iteration.extend(quote!(#vec.push((#(#names,)*));));
            self.arm_states.insert((inst.results[0], false), state);
            quote!(let mut #vec = ::std::vec::Vec::new();)
        });
        out.extend(states);
        // The adjoints of the carried values at the start of the iteration
        // become those at the end of the previous one.
        let mut zeros = TokenStream::new();
        for &k in &active {
            let (a, p) = (&state[k], body.params[1 + k]);
            if self.declared.contains(&p) {
                let adj = adj_ident(p);
                iteration.extend(quote!(#a = #adj;));
            } else {
                let zero = format_ident!("__ad_zero{}", k);
                zeros.extend(quote!(let #zero = #private::zero_grad(&#a);));
                iteration.extend(quote!(#a = #zero;));
            }
        }
        self.declared = outer;
        let (relay, bind, hand) = self.relays(inst, body);
        iteration.extend(hand);
        let index = body.params[0];
        let tape = self.saved_ident(Saved::Tape(inst.results[0]));
        let pattern = self.tape_pattern(body);
        let taped = self.needed.contains(&Saved::Tape(inst.results[0]));
        if cond.is_none() {
            // The range backwards, popping this run's entries (a hoisted
            // tape's last ones) if it has a tape. The tape holds one entry
            // per iteration; `break` rather than a panic where it would not
            // keeps the loop free of an unwinding exit (W6: 5% faster).
            // A hoisted tape is popped where it was declared; one saved in an
            // enclosing entry is taken out of it first.
            let hoisted = self.hoisted.contains(&inst.results[0]);
            let entries = match hoisted {
                true => tape.to_token_stream(),
                false => quote!(__ad_entries),
            };
            let take = (taped && !hoisted).then(|| quote!(let mut __ad_entries = #tape;));
            let pop = taped.then(|| {
                quote! {
                    let ::core::option::Option::Some(#pattern) = #entries.pop() else {
                        break;
                    };
                }
            });
            let iter = self.borrow(args[0]);
            let i = match self.replayed.contains(&index) {
                true => self.func.ident(index).to_token_stream(),
                false => quote!(_),
            };
            out.extend(quote! {
                {
                    #take
                    #relay
                    for #i in ::core::iter::Iterator::rev(::core::clone::Clone::clone(#iter)) {
                        #pop
                        #bind
                        #zeros
                        #iteration
                    }
                }
            });
            self.contribute_inits(inst, args, &state, out);
            return;
        }
        // A `while` loop: as many iterations as entries, last first.
        out.extend(quote! {
            {
                let mut __ad_entries = #tape;
                #relay
                while let ::core::option::Option::Some(#pattern) = __ad_entries.pop() {
                    #bind
                    #zeros
                    #iteration
                }
            }
        });
        self.contribute_inits(inst, args, &state, out);
    }

    /// The carried adjoints after the first iteration's reverse go to the
    /// initial values.
    fn contribute_inits(&mut self, inst: &Inst, args: &[Value], state: &[Ident], out: &mut TokenStream) {
        for k in 0..inst.results.len() {
            let init = args[1 + k];
            if self.carries_adjoint(inst, k) && self.act.active(init) {
                let a = &state[k];
                self.contribute(init, quote!(#a), out);
            }
        }
    }
}
