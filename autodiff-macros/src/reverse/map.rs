//! `map` and `zip_map`: the scalar function's sweeps, run per element.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use super::{adj_ident, transform, Reverse, Sweeps};
use crate::ir::{Func, Value};

impl Reverse<'_> {
    /// The sweeps of a `map`'s scalar function, whose reverse reads `__ad_ct`.
    pub(super) fn scalar_sweeps(&self, scalar: &Func) -> Sweeps {
        let act = crate::activity::analyse(scalar, &mut crate::diagnostics::Errors::default());
        let krate: syn::Path = syn::parse2(self.krate.clone()).expect("a path");
        transform(scalar, &act, &krate)
    }

    /// The adjoints of a `map`'s operands: per element, the scalar function's
    /// forward and reverse sweeps seeded with that element's cotangent.
    ///
    /// `x̄ += ȳ.zip_map(&x, |ct, v| f'(v) ct)`, in place where nalgebra can.
    pub(super) fn reverse_map(
        &mut self,
        scalar: &Func,
        args: &[Value],
        result: Value,
        span: Span,
        out: &mut TokenStream,
    ) {
        let sweeps = self.scalar_sweeps(scalar);
        let Sweeps {
            forward,
            reverse,
            grads,
            ..
        } = &sweeps;
        let params: Vec<&Ident> = scalar.params.iter().map(|p| &p.ident).collect();
        let ct = adj_ident(result);
        let operands: Vec<TokenStream> = args.iter().map(|a| self.borrow(*a)).collect();
        for (k, &arg) in args.iter().enumerate() {
            if !self.act.active(arg) {
                continue;
            }
            let grad = &grads[k].1;
            let body = quote!({ #forward #reverse #grad });
            let adj = adj_ident(arg);
            let first = !self.declared.contains(&arg);
            self.declared.insert(arg);
            let x = &operands[0];
            // Local names are interpolated with the call site's hygiene, as the
            // scalar sweeps that read them are; a name written inside
            // `quote_spanned!` would take the user's span and, inside a
            // `macro_rules!` expansion, resolve to another binding.
            let (seed, acc) = (format_ident!("__ad_ct"), format_ident!("__ad_acc"));
            let code = match (operands.get(1), first) {
                (None, true) => quote_spanned!(span=> let mut #adj = #ct.zip_map(#x, |#seed, #(#params),*| #body);),
                (None, false) => quote_spanned!(span=>
                    #adj.zip_zip_apply(&#ct, #x, |#acc, #seed, #(#params),*| *#acc += #body);
                ),
                (Some(y), true) => {
                    quote_spanned!(span=> let mut #adj = #ct.zip_zip_map(#x, #y, |#seed, #(#params),*| #body);)
                }
                (Some(y), false) => {
                    quote_spanned!(span=> #adj += #ct.zip_zip_map(#x, #y, |#seed, #(#params),*| #body);)
                }
            };
            out.extend(code);
        }
    }
}
