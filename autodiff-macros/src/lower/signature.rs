//! Parameters: which are differentiated, and the types the macro recognises.

use std::collections::HashSet;

use quote::ToTokens;
use syn::{FnArg, ItemFn, Pat, Type};

use super::{Binding, Lowerer};
use crate::args::Args;
use crate::diagnostics as msg;
use crate::ir::Param;

/// Whether a parameter type is a real scalar: `f32`, `f64` or a generic type parameter.
pub fn is_real_type(ty: &Type, generics: &HashSet<String>) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => match p.path.get_ident() {
            Some(ident) => ident == "f32" || ident == "f64" || generics.contains(&ident.to_string()),
            None => false,
        },
        Type::Paren(p) => is_real_type(&p.elem, generics),
        Type::Group(g) => is_real_type(&g.elem, generics),
        _ => false,
    }
}

/// Whether a type is an nalgebra matrix or vector of reals: `DMatrix<f64>`,
/// `SVector<f32, 3>`, `Matrix3<f64>`, ...
pub fn is_matrix_type(ty: &Type, generics: &HashSet<String>) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let name = last.ident.to_string();
    let known = matches!(
        name.as_str(),
        "DMatrix" | "DVector" | "RowDVector" | "SMatrix" | "SVector" | "OMatrix" | "OVector"
    ) || ["Matrix", "Vector", "RowVector"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|dims| !dims.is_empty() && dims.chars().all(|c| c.is_ascii_digit() || c == 'x'))
    });
    known
        && matches!(&last.arguments, syn::PathArguments::AngleBracketed(a) if a.args.iter().any(|arg| matches!(arg, syn::GenericArgument::Type(t) if is_real_type(t, generics))))
}

/// Whether a parameter of this type can be differentiated: a real, a matrix
/// of reals, a slice, array or `Vec` of reals, by value or by reference.
pub fn is_differentiable_type(ty: &Type, generics: &HashSet<String>) -> bool {
    match ty {
        Type::Reference(r) if r.mutability.is_none() => match &*r.elem {
            Type::Slice(s) => is_real_type(&s.elem, generics),
            elem => is_differentiable_type(elem, generics),
        },
        Type::Array(a) => is_real_type(&a.elem, generics),
        _ => is_real_type(ty, generics) || is_matrix_type(ty, generics) || is_real_vec(ty, generics),
    }
}

/// `Vec<f64>` and the like.
fn is_real_vec(ty: &Type, generics: &HashSet<String>) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|last| last.ident == "Vec"
        && matches!(&last.arguments, syn::PathArguments::AngleBracketed(a) if a.args.iter().any(|arg| matches!(arg, syn::GenericArgument::Type(t) if is_real_type(t, generics))))))
}

/// Whether a parameter type holds reals and so is differentiated by default:
/// a differentiable type, or a slice, array or `Vec` of reals (which are not
/// supported yet, and say so).
fn holds_reals(ty: &Type, generics: &HashSet<String>) -> bool {
    if is_differentiable_type(ty, generics) {
        return true;
    }
    match ty {
        Type::Reference(r) => holds_reals(&r.elem, generics),
        Type::Slice(s) => holds_reals(&s.elem, generics),
        Type::Array(a) => holds_reals(&a.elem, generics),
        Type::Path(p) => p.path.segments.last().is_some_and(|last| {
            last.ident == "Vec"
                && matches!(&last.arguments, syn::PathArguments::AngleBracketed(a) if a.args.iter().any(|arg| matches!(arg, syn::GenericArgument::Type(t) if holds_reals(t, generics))))
        }),
        _ => false,
    }
}

pub(super) fn is_integer_type(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.get_ident().is_some_and(|i| matches!(
        i.to_string().as_str(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "bool" | "char"
    )))
}

/// The type parameters of the function, by name.
pub fn type_params(item: &ItemFn) -> HashSet<String> {
    item.sig.generics.type_params().map(|t| t.ident.to_string()).collect()
}

impl Lowerer<'_> {
    pub(super) fn params(&mut self, item: &ItemFn, args: &Args) -> Vec<Param> {
        if let Some(token) = &item.sig.asyncness {
            self.errors.push(token, msg::async_());
        }
        let mut params = Vec::new();
        for input in &item.sig.inputs {
            let typed = match input {
                FnArg::Receiver(r) => {
                    self.errors.push(r, msg::self_param());
                    continue;
                }
                FnArg::Typed(t) => t,
            };
            let ident = match &*typed.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
                pat => {
                    self.errors.push(pat, msg::param_pattern());
                    continue;
                }
            };
            if let Type::Reference(r) = &*typed.ty {
                if r.mutability.is_some() {
                    self.errors.push(&typed.ty, msg::mut_ref_param());
                    continue;
                }
            }
            let ty = (*typed.ty).clone();
            let differentiated = match &args.wrt {
                Some(wrt) => wrt.contains(&ident),
                None => holds_reals(&ty, &self.generics),
            };
            if differentiated && !is_differentiable_type(&ty, &self.generics) {
                let ty_tokens = ty.to_token_stream();
                match &args.wrt {
                    Some(wrt) if !holds_reals(&ty, &self.generics) => {
                        let named = wrt.iter().find(|w| **w == ident).expect("named in wrt");
                        self.errors
                            .push(named, msg::wrt_not_real(&ident.to_string(), &ty_tokens));
                    }
                    _ => self.errors.push(&typed.ty, msg::param_type(&ty_tokens)),
                }
            }
            let value = self.new_value(ident.span());
            self.values[value.index()].ident = ident.clone();
            self.values[value.index()].is_ref = matches!(ty, Type::Reference(_));
            self.bind(ident.to_string(), Binding::Value(value));
            params.push(Param {
                ident,
                ty,
                value,
                differentiated,
            });
        }
        for name in args.wrt.iter().flatten() {
            if !params.iter().any(|p| p.ident == *name) {
                self.errors.push(name, msg::wrt_unknown(&name.to_string()));
            }
        }
        params
    }
}
