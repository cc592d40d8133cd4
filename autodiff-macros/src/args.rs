//! The attribute's options: `#[differentiable(wrt(a, b), order = 2, custom, crate = "path")]`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Ident, LitInt, LitStr, Path};

use crate::diagnostics as msg;

/// Parsed options.
pub struct Args {
    /// `wrt(a, b)`: the parameters to differentiate; `None` means every real one.
    pub wrt: Option<Vec<Ident>>,
    /// `custom`: the user writes `f_vjp` and `f_jvp`, and with `order = 2`
    /// also `f_vjp2`; the macro generates the gradient struct, adapters, and
    /// the companions built on those rules (`f_grad`; `f_hvp`, `f_pullback`).
    pub custom: bool,
    /// `crate = "path"`: where the facade crate is (default `::autodiff`).
    pub krate: Path,
    /// `order = 2`: also generate the second-order companions, with the
    /// span of the option for errors about the body.
    pub second_order: Option<proc_macro2::Span>,
}

impl Args {
    pub fn parse(tokens: TokenStream) -> syn::Result<Args> {
        let mut args = Args {
            wrt: None,
            custom: false,
            krate: syn::parse_quote!(::autodiff),
            second_order: None,
        };
        let parser = syn::meta::parser(|meta| args.option(meta));
        syn::parse::Parser::parse2(parser, tokens)?;
        Ok(args)
    }

    fn option(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        if meta.path.is_ident("wrt") {
            let mut names = Vec::new();
            meta.parse_nested_meta(|name| match name.path.get_ident() {
                Some(ident) => {
                    names.push(ident.clone());
                    Ok(())
                }
                None => Err(name.error("expected a parameter name")),
            })?;
            self.wrt = Some(names);
        } else if meta.path.is_ident("custom") {
            self.custom = true;
        } else if meta.path.is_ident("crate") {
            let path: LitStr = meta.value()?.parse()?;
            self.krate = path.parse()?;
        } else if meta.path.is_ident("order") {
            let order: LitInt = meta.value()?.parse()?;
            match order.base10_digits() {
                "1" => {}
                "2" => self.second_order = Some(order.span()),
                other => return Err(syn::Error::new(order.span(), msg::order(other))),
            }
        } else {
            return Err(meta.error(msg::unknown_option()));
        }
        Ok(())
    }
}
