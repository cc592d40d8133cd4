//! Runs the pipeline, stopping between stages on errors.
//!
//! On error the user's function is emitted unchanged next to the
//! `compile_error!`s, so that it stays usable and the IDE keeps working.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{ItemFn, ReturnType, Type};

use crate::args::Args;
use crate::diagnostics::{self as msg, Errors};
use crate::emit::{self, GradStruct};
use crate::{activity, forward, lower, reverse};

pub fn expand(attr: TokenStream, input: TokenStream) -> TokenStream {
    // A bug in the macro must not take down the user's build with a panic:
    // it becomes a compile error next to the unchanged function.
    let generated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| generate(attr, input.clone())));
    let generated = generated.unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            msg::ir_invariant(&detail),
        ))
    });
    match generated {
        Ok(generated) => quote!(#input #generated),
        Err(error) => {
            let errors = error.to_compile_error();
            quote!(#input #errors)
        }
    }
}

fn generate(attr: TokenStream, input: TokenStream) -> syn::Result<TokenStream> {
    let args = Args::parse(attr)?;
    let item: ItemFn = syn::parse2(input)?;
    let krate = &args.krate;
    let private = quote!(#krate::__private);

    if args.custom {
        let params = lower::signature_params(&item, &args)?;
        let grad = GradStruct::new(&item, &params);
        let mut out = grad.items(&item, &params, &private);
        out.extend(emit::jvp_positional(&item, &params, &private));
        if scalar_output(&item) {
            out.extend(emit::custom_grad(&item, &grad, &params, &private));
        }
        // With `order = 2` the user writes `f_vjp2` as well; the other
        // second-order companions (`f_hvp`, a differentiable `f_grad`,
        // `f_pullback`) are built on it as for a generated function.
        if args.second_order.is_some() {
            out.extend(grad.differentiable_impls(&params, &private));
            out.extend(emit::second_order(
                &item,
                &grad,
                &params,
                None,
                &[],
                &private,
                scalar_output(&item),
            ));
        }
        return Ok(out);
    }

    let mut errors = Errors::default();
    check_return_type(&item, &mut errors);
    let func = lower::lower(&item, &args, &mut errors);
    errors.finish()?;
    let func = func.expect("lowering succeeded without errors");
    if let Err(detail) = func.verify() {
        return Err(syn::Error::new_spanned(&item.sig.ident, msg::ir_invariant(&detail)));
    }

    let mut errors = Errors::default();
    let act = activity::analyse(&func, &mut errors);
    if args.second_order.is_some() {
        reverse::second::check(&func, &act, &mut errors);
    }
    errors.finish()?;

    let sweeps = reverse::transform(&func, &act, krate);
    let tangents = forward::transform(&func, &act, krate);
    let grad = GradStruct::new(&item, &func.params);
    let mut out = grad.items(&item, &func.params, &private);
    let scalar_output = scalar_output(&item);
    // `f_jvp` first: where a callee has no companions, rustc reports one
    // missing name per call, the last it resolves, which then is `g_vjp`.
    out.extend(emit::jvp(&item, &func.params, &tangents, &func.items));
    out.extend(emit::jvp_positional(&item, &func.params, &private));
    out.extend(emit::companions(
        &item,
        &grad,
        &sweeps,
        &func.items,
        &private,
        scalar_output,
    ));
    if args.second_order.is_none() {
        out.extend(emit::order_one_stubs(
            &item,
            &grad,
            &func.params,
            &private,
            scalar_output,
        ));
    }
    out.extend(grad.differentiable_impls(&func.params, &private));
    if args.second_order.is_some() {
        let second = reverse::second::transform(&func, &act, krate, true);
        out.extend(emit::second_order(
            &item,
            &grad,
            &func.params,
            Some(&second),
            &func.items,
            &private,
            scalar_output,
        ));
    }
    Ok(out)
}

/// Whether `f` returns a real: a gradient exists for a real output only; a
/// matrix output has a pullback.
fn scalar_output(item: &ItemFn) -> bool {
    matches!(&item.sig.output, ReturnType::Type(_, ty) if lower::is_real_type(ty, &lower::type_params(item)))
}

fn check_return_type(item: &ItemFn, errors: &mut Errors) {
    let generics = lower::type_params(item);
    match &item.sig.output {
        ReturnType::Default => errors.push(&item.sig, msg::missing_return_type()),
        ReturnType::Type(_, ty) if matches!(**ty, Type::Tuple(_)) => errors.push(ty, msg::tuple_output()),
        ReturnType::Type(_, ty)
            if !lower::is_differentiable_type(ty, &generics) || matches!(**ty, Type::Reference(_)) =>
        {
            errors.push(ty, msg::non_real_return(&ty.to_token_stream()))
        }
        ReturnType::Type(..) => {}
    }
}
