//! `x.map(f)` and `a.zip_map(&b, f)` for a scalar function `f`: a closure
//! whose body is scalar code (`|v| v.max(0.0)`), a method with a rule
//! (`relu`, `f64::exp`), or a differentiable function of reals.
//!
//! The body is lowered as a function of its own (values named `__ad_m{N}_v{K}`
//! so that they never shadow the outer ones it reads); the reverse pass runs
//! its forward and reverse sweeps per element.
//!
//! Before/after: `z.map(|v| v.max(0.0) * s)` with `s` not differentiated
//! becomes `v3 = map v2 with fn(v1: v (wrt)) { v0 = const s .. }`.

use std::collections::HashMap;

use proc_macro2::Span;
use quote::format_ident;
use syn::spanned::Spanned;
use syn::{Expr, ExprMethodCall, Ident, Pat};

use super::{Binding, Lowerer};
use crate::diagnostics as msg;
use crate::ir::{Func, Op, Param, Region, Value};
use crate::rules;

/// `x.map(f)` or `a.zip_map(b, f)`.
pub(super) fn is_map(m: &ExprMethodCall) -> bool {
    (m.method == "map" && m.args.len() == 1) || (m.method == "zip_map" && m.args.len() == 2)
}

impl Lowerer<'_> {
    pub(super) fn map(&mut self, m: &ExprMethodCall) -> Option<Value> {
        let span = m.span();
        let mut args = vec![self.expr_value(&m.receiver)];
        if m.args.len() == 2 {
            args.push(self.expr_value(&m.args[0]));
        }
        let args: Vec<Value> = args.into_iter().collect::<Option<_>>()?;
        let f = m.args.last().expect("checked by is_map");
        let (params, body) = self.scalar_function(f, args.len())?;

        // The body, lowered with every outer name bound to a constant that
        // stands for it, and the closure's parameters on top.
        self.closures += 1;
        let prefix = format!("{}m{}_", self.prefix, self.closures);
        // By name within a scope, so that the IR does not depend on the
        // hash map's order.
        let mut outer: Vec<(String, Binding)> = Vec::new();
        for scope in &self.scopes {
            let mut names: Vec<(&String, &Binding)> = scope.iter().collect();
            names.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (name, binding) in names {
                outer.retain(|(n, _)| n != name);
                outer.push((name.clone(), binding.clone()));
            }
        }
        let generics = self.generics.clone();
        let tokens: Vec<_> = outer.iter().map(|(_, b)| self.binding_tokens(b)).collect();
        let mut inner = Lowerer {
            values: Vec::new(),
            regions: vec![Vec::new()],
            scopes: vec![HashMap::new(), HashMap::new()],
            items: Vec::new(),
            generics,
            errors: &mut *self.errors,
            prefix,
            closures: 0,
        };
        let mut stands_for: HashMap<Value, Vec<Value>> = HashMap::new();
        for ((name, binding), tokens) in outer.into_iter().zip(tokens) {
            let v = inner.emit1(Op::Const(tokens), span);
            let mut leaves = Vec::new();
            binding.leaves(&mut leaves);
            stands_for.insert(v, leaves);
            inner.scopes[0].insert(name, Binding::Value(v));
        }
        let mut inner_params = Vec::new();
        for ident in params {
            let value = inner.new_value(ident.span());
            inner.values[value.index()].ident = ident.clone();
            inner.scopes[1].insert(ident.to_string(), Binding::Value(value));
            inner_params.push(Param {
                ident,
                ty: syn::parse_quote!(_),
                value,
                differentiated: true,
            });
        }
        let output = inner.expr(&body).and_then(|b| inner.value(b, &body));
        let insts = inner.regions.pop().unwrap_or_default();
        let values = inner.values;
        let output = output?;

        let mut captures = Vec::new();
        let mut used = Vec::new();
        uses(&insts, &mut used);
        used.push(output);
        for v in used {
            for &o in stands_for.get(&v).into_iter().flatten() {
                if !captures.contains(&o) {
                    captures.push(o);
                }
            }
        }
        let scalar = Func {
            params: inner_params,
            body: Region {
                params: Vec::new(),
                insts,
                yields: Vec::new(),
            },
            output,
            values,
            items: Vec::new(),
        };
        Some(self.emit1(
            Op::Map {
                scalar: Box::new(scalar),
                args,
                captures,
            },
            span,
        ))
    }

    /// The parameters and body of the scalar function `f` of a `map`.
    fn scalar_function(&mut self, f: &Expr, arity: usize) -> Option<(Vec<Ident>, Expr)> {
        match f {
            Expr::Closure(c) => {
                let params: Option<Vec<Ident>> = c
                    .inputs
                    .iter()
                    .map(|p| match p {
                        Pat::Ident(i) => Some(i.ident.clone()),
                        Pat::Type(t) => match &*t.pat {
                            Pat::Ident(i) => Some(i.ident.clone()),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
                match params {
                    Some(params) if params.len() == arity => Some((params, (*c.body).clone())),
                    _ => {
                        self.errors.push(&c.inputs, msg::map_closure(arity));
                        None
                    }
                }
            }
            Expr::Path(p) => {
                let params: Vec<Ident> = (0..arity)
                    .map(|k| format_ident!("__ad_x{}", k, span = Span::call_site()))
                    .collect();
                let body: Expr = match p.path.get_ident() {
                    // `z.map(relu)`: the method with that rule.
                    Some(name) if rules::method_rule(&name.to_string()).is_some() => {
                        let (x, rest) = params.split_first().expect("arity >= 1");
                        syn::parse_quote!(#x.#name(#(#rest),*))
                    }
                    _ => syn::parse_quote!(#p(#(#params),*)),
                };
                Some((params, body))
            }
            other => {
                self.errors.push(other, msg::map_closure(arity));
                None
            }
        }
    }
}

/// Every value the instructions read, nested regions included.
fn uses(insts: &[crate::ir::Inst], out: &mut Vec<Value>) {
    for inst in insts {
        out.extend(inst.op.args().iter().copied());
        match &inst.op {
            Op::If {
                then_region,
                else_region,
                ..
            } => {
                for arm in [then_region, else_region] {
                    uses(&arm.insts, out);
                    out.extend(arm.yields.iter().copied());
                }
            }
            Op::Map { captures, .. } => out.extend(captures.iter().copied()),
            _ => {}
        }
    }
}
