//! The `#[differentiable]` attribute of [`autodiff`](https://docs.rs/autodiff).
//!
//! Pipeline, one module per stage: `args` (options) → `lower` (syn → IR) →
//! `activity` → `forward` (tangents, for `f_jvp`) and `reverse` (forward and
//! reverse sweeps, for `f_grad` and `f_vjp`) → `emit` (items).
//! The rule table (`rules`) is the only module that knows about primitives.
//! Use this crate through the `autodiff` facade, whose documentation
//! describes the generated items.

mod activity;
mod args;
mod diagnostics;
mod emit;
mod expand;
mod forward;
mod ir;
mod lower;
mod reverse;
mod rules;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Generates the derivatives of a function next to it: `f_grad`, `f_vjp`,
/// `f_jvp` and the gradient struct `FGrad`. See the `autodiff` crate for the contract.
#[proc_macro_attribute]
pub fn differentiable(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}
