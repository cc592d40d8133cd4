//! `for i in a..b { .. }` (also `a..=b`, `.rev()`, `.step_by(k)`; and loops
//! over `v.iter()` and zips of those, which run over indices and read the
//! elements): the body becomes a region whose parameters are the
//! induction variable and the locals the body assigns (carried values), and
//! whose yields are those locals at the end of an iteration.
//!
//! Before/after: `let mut s = 0.0; for i in 0..n { s += x[i] * x[i]; }` becomes
//!
//! ```text
//! v4 = for v5 in v3 carrying (v1) {
//!   params v6
//!   v7 = index v0, v5
//!   ..
//!   yield v9
//! }
//! ```

use std::collections::HashMap;

use proc_macro2::{Ident, Span};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, ExprForLoop, ExprWhile, Pat, Stmt};

use super::{Binding, Lowerer};
use crate::diagnostics as msg;
use crate::ir::{Op, Region, Value};
use crate::rules;

impl Lowerer<'_> {
    pub(super) fn for_loop(&mut self, f: &ExprForLoop) -> Option<Binding> {
        let span = f.span();
        if let Some(label) = &f.label {
            self.errors.push(label, msg::loop_label());
            return None;
        }
        // `for x in v.iter()`, `for (x, y) in v.iter().zip(w.iter())` and
        // their `.enumerate()` run over the indices of the containers (the
        // shortest's), reading each element in the body.
        if let Some((elements, enumerate)) = iterated(&f.expr) {
            let (index_pat, element_pat) = match (&*f.pat, enumerate) {
                (Pat::Tuple(t), true) if t.elems.len() == 2 => (Some(&t.elems[0]), &t.elems[1]),
                (pat, false) => (None, pat),
                (pat, true) => {
                    self.errors.push(pat, msg::pattern());
                    return None;
                }
            };
            let index = match index_pat {
                Some(Pat::Ident(p)) => Some(p.ident.to_string()),
                Some(Pat::Wild(_)) | None => None,
                Some(other) => {
                    self.errors.push(other, msg::pattern());
                    return None;
                }
            };
            let mut bound = Vec::new();
            if !bind_elements(&elements, element_pat, &mut bound) {
                let message = match elements {
                    Iterated::Zip(..) => msg::zip_pattern(),
                    Iterated::Elements(_) => msg::pattern(),
                };
                self.errors.push(element_pat, message);
                return None;
            }
            let containers: Vec<Value> = elements
                .leaves()
                .into_iter()
                .map(|c| self.expr_value(c))
                .collect::<Option<_>>()?;
            let names: Vec<Ident> = containers
                .iter()
                .map(|c| self.values[c.index()].ident.clone())
                .collect();
            let (first, rest) = names.split_first().expect("one container at least");
            let iter = self.emit1(
                Op::Passive {
                    expr: quote!(0..#first.len()#(.min(#rest.len()))*),
                    args: containers.clone(),
                },
                span,
            );
            let elements = bound
                .into_iter()
                .enumerate()
                .filter_map(|(leaf, name)| {
                    name.map(|(name, by_ref)| Element {
                        name,
                        container: containers[leaf],
                        by_ref,
                    })
                })
                .collect();
            return self.loop_(span, iter, index, None, &f.body, elements);
        }
        if !is_integer_range(&f.expr) {
            self.errors.push(&f.expr, msg::loop_range());
            return None;
        }
        let var = match &*f.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p.ident.to_string()),
            Pat::Wild(_) => None,
            other => {
                self.errors.push(other, msg::pattern());
                return None;
            }
        };
        let iter = self.passive_expr(&f.expr)?;
        self.loop_(span, iter, var, None, &f.body, Vec::new())
    }

    /// `while cond { .. }`: a loop over `0..` whose condition, evaluated on
    /// the carried values at the top of each iteration, ends it.
    pub(super) fn while_loop(&mut self, w: &ExprWhile) -> Option<Binding> {
        let span = w.span();
        if let Some(label) = &w.label {
            self.errors.push(label, msg::loop_label());
            return None;
        }
        if let Expr::Let(l) = &*w.cond {
            self.errors.push(l, msg::while_let());
            return None;
        }
        let iter = self.counter(span);
        self.loop_(span, iter, None, Some(&w.cond), &w.body, Vec::new())
    }

    /// `loop { .. }`: a `while true` loop, which a guard `break` ends.
    pub(super) fn loop_loop(&mut self, l: &syn::ExprLoop) -> Option<Binding> {
        let span = l.span();
        if let Some(label) = &l.label {
            self.errors.push(label, msg::loop_label());
            return None;
        }
        let iter = self.counter(span);
        // `break value` makes the loop an expression, which is not supported.
        struct BreakValue(Option<Expr>);
        impl<'a> Visit<'a> for BreakValue {
            fn visit_expr(&mut self, e: &'a Expr) {
                match e {
                    Expr::Break(b) if b.expr.is_some() && self.0.is_none() => self.0 = Some(e.clone()),
                    Expr::Closure(_) | Expr::Loop(_) | Expr::While(_) | Expr::ForLoop(_) => {}
                    _ => syn::visit::visit_expr(self, e),
                }
            }
        }
        let mut found = BreakValue(None);
        found.visit_block(&l.body);
        if let Some(e) = found.0 {
            self.errors.push(&e, msg::break_value());
            return None;
        }
        let always: Expr = syn::parse_quote!(true);
        self.loop_(span, iter, None, Some(&always), &l.body, Vec::new())
    }

    /// The loop over `iter` with body `block` (and, for `while`, `cond`; for
    /// `v.iter()`, the elements read at the top of each iteration).
    fn loop_(
        &mut self,
        span: Span,
        iter: Value,
        var: Option<String>,
        cond: Option<&Expr>,
        block: &syn::Block,
        elements: Vec<Element>,
    ) -> Option<Binding> {
        // `if c { ..; continue; }` and `if c { ..; break; }` guards become
        // branches; a `break` sets a flag that skips the remaining iterations.
        let (stmts, breaks) = without_jumps(&block.stmts, &self.next_flag());
        let flag = format_ident!("__ad_broken{}", self.closures);
        let (body, cond): (syn::Block, Option<Expr>) = if breaks {
            self.closures += 1;
            let no = self.emit1(Op::Const(quote!(false)), span);
            self.bind(flag.to_string(), Binding::Value(no));
            let body = syn::parse_quote!({ if !#flag { #(#stmts)* } });
            let cond = cond.map(|c| syn::parse_quote!((#c) && !#flag));
            (body, cond)
        } else {
            (
                syn::Block {
                    brace_token: block.brace_token,
                    stmts,
                },
                cond.cloned(),
            )
        };
        let (block, cond) = (&body, cond.as_ref());
        // The locals the body assigns that live outside it are carried.
        let mut assigned = Assigned(Vec::new());
        assigned.visit_block(block);
        let mut carried: Vec<(usize, String)> = Vec::new();
        for name in assigned.0 {
            let depth = self.scopes.iter().rposition(|s| s.contains_key(&name));
            if let Some(depth) = depth {
                if !carried.iter().any(|(_, n)| *n == name) {
                    carried.push((depth, name));
                }
            }
        }
        let before = self.scopes.clone();
        let mut inits = Vec::new();
        for (depth, name) in &carried {
            before[*depth][name].leaves(&mut inits);
        }

        // The condition, on its own parameters.
        let cond = match cond {
            Some(cond) => {
                self.regions.push(Vec::new());
                let params = self.carried_params(span, &carried, &before);
                let go = self.passive_expr(cond);
                let insts = self.regions.pop().expect("pushed above");
                self.scopes = before.clone();
                Some(Region {
                    params,
                    insts,
                    yields: vec![go?],
                })
            }
            None => None,
        };

        self.regions.push(Vec::new());
        let params = self.carried_params(span, &carried, &before);
        self.scopes.push(HashMap::new());
        if let Some(var) = var {
            self.bind(var, Binding::Value(params[0]));
        }
        for Element {
            name,
            container,
            by_ref,
        } in elements
        {
            let rule = if by_ref { &rules::INDEX_REF } else { &rules::INDEX };
            let args = vec![container, params[0]];
            let value = self.emit1(
                Op::Prim {
                    rule,
                    args,
                    by_ref: vec![false; 2],
                    qualifier: None,
                },
                span,
            );
            self.values[value.index()].is_ref = by_ref;
            self.bind(name, Binding::Value(value));
        }
        self.block_in_scope(block);
        self.scopes.pop();
        let mut yields = Vec::new();
        let mut shapes_agree = true;
        for (depth, name) in &carried {
            let now = &self.scopes[*depth][name];
            shapes_agree &= now.same_shape(&before[*depth][name]);
            now.leaves(&mut yields);
        }
        let insts = self.regions.pop().expect("pushed above");
        self.scopes = before;
        if !shapes_agree {
            self.errors.push_at(span, msg::shape_mismatch());
            return None;
        }
        let count = yields.len();
        let mut args = vec![iter];
        args.extend(inits);
        let body = Region { params, insts, yields };
        let results = self.emit(Op::For { args, body, cond }, span, count);
        let mut results = results.into_iter();
        for (depth, name) in carried {
            let rebuilt = self.scopes[depth][&name].rebuild(&mut results);
            self.scopes[depth].insert(name, rebuilt);
        }
        Some(Binding::unit())
    }

    /// Fresh parameters for a loop region (the iteration number, then one per
    /// carried leaf), with the carried names rebound to them.
    fn carried_params(
        &mut self,
        span: Span,
        carried: &[(usize, String)],
        before: &[HashMap<String, Binding>],
    ) -> Vec<Value> {
        let mut params = vec![self.new_value(span)];
        for (depth, name) in carried {
            let binding = before[*depth][name].clone();
            let mut leaves = Vec::new();
            binding.leaves(&mut leaves);
            let fresh: Vec<Value> = leaves.iter().map(|_| self.new_value(span)).collect();
            params.extend(fresh.iter().copied());
            self.scopes[*depth].insert(name.clone(), binding.rebuild(&mut fresh.into_iter()));
        }
        params
    }
}

impl Lowerer<'_> {
    /// `0usize..`, the iterator of a `while` or `loop`: it counts the
    /// iterations, and the tape records one entry each.
    fn counter(&mut self, span: Span) -> Value {
        let expr = quote!((0usize..));
        self.emit1(Op::Passive { expr, args: Vec::new() }, span)
    }

    /// The name of the flag the next loop with a `break` would use.
    fn next_flag(&self) -> syn::Ident {
        format_ident!("__ad_broken{}", self.closures)
    }
}

/// The statements of a loop body with guard jumps turned into branches:
/// `a; if c { b; continue; } d` becomes `a; if c { b } else { d }`, and
/// `if c { b; break; } d` becomes `if c { b; flag = true; } else { d }`.
/// Returns whether a `break` was rewritten. Other jumps stay, and are
/// reported where they stand.
fn without_jumps(stmts: &[Stmt], flag: &syn::Ident) -> (Vec<Stmt>, bool) {
    for (at, stmt) in stmts.iter().enumerate() {
        let Stmt::Expr(Expr::If(guard), _) = stmt else { continue };
        if guard.else_branch.is_some() {
            continue;
        }
        let Some((Stmt::Expr(last, _), before)) = guard.then_branch.stmts.split_last() else {
            continue;
        };
        let is_break = match last {
            Expr::Continue(c) if c.label.is_none() => false,
            Expr::Break(b) if b.label.is_none() && b.expr.is_none() => true,
            _ => continue,
        };
        let (rest, rest_breaks) = without_jumps(&stmts[at + 1..], flag);
        let cond = &guard.cond;
        let set = is_break.then(|| quote!(#flag = true;));
        let branch: Stmt = syn::parse_quote! {
            if #cond { #(#before)* #set } else { #(#rest)* }
        };
        let mut out = stmts[..at].to_vec();
        out.push(branch);
        return (out, is_break || rest_breaks);
    }
    (stmts.to_vec(), false)
}

/// The element a loop over `v.iter()` binds: its name, the container, and
/// whether it is a reference (`x`) or a copy (`&x`).
struct Element {
    name: String,
    container: Value,
    by_ref: bool,
}

/// What a loop over containers iterates: one container's elements, or two
/// iterators zipped (`a.iter().zip(b.iter())`, `.zip(&b)`, `.zip(b)` of a
/// slice or vector reference).
enum Iterated<'a> {
    Elements(&'a Expr),
    Zip(Box<Iterated<'a>>, Box<Iterated<'a>>),
}

impl<'a> Iterated<'a> {
    /// The containers, left to right.
    fn leaves(&self) -> Vec<&'a Expr> {
        match self {
            Iterated::Elements(c) => vec![c],
            Iterated::Zip(a, b) => [a.leaves(), b.leaves()].concat(),
        }
    }
}

/// `v.iter()`, zips of those, and either `.enumerate()`d: what is iterated,
/// and whether enumerated.
fn iterated(e: &Expr) -> Option<(Iterated<'_>, bool)> {
    match e {
        Expr::MethodCall(m) if m.method == "iter" && m.args.is_empty() => {
            Some((Iterated::Elements(&m.receiver), false))
        }
        Expr::MethodCall(m) if m.method == "zip" && m.args.len() == 1 => {
            let (a, false) = iterated(&m.receiver)? else {
                return None;
            };
            let b = match &m.args[0] {
                Expr::Reference(r) if r.mutability.is_none() => Iterated::Elements(&r.expr),
                Expr::Path(_) => Iterated::Elements(&m.args[0]),
                other => match iterated(other)? {
                    (b, false) => b,
                    (_, true) => return None,
                },
            };
            Some((Iterated::Zip(Box::new(a), Box::new(b)), false))
        }
        Expr::MethodCall(m) if m.method == "enumerate" && m.args.is_empty() => iterated(&m.receiver)
            .filter(|(_, enumerated)| !enumerated)
            .map(|(i, _)| (i, true)),
        Expr::Paren(p) => iterated(&p.expr),
        _ => None,
    }
}

/// Matches the element pattern against what is iterated (a zip's pair as a
/// tuple), pushing per container, left to right, the name bound and whether
/// by reference (`x`) or as a copy (`&x`), or none for `_`. False if the
/// pattern does not fit.
fn bind_elements(it: &Iterated, pat: &Pat, out: &mut Vec<Option<(String, bool)>>) -> bool {
    match (it, pat) {
        (Iterated::Zip(a, b), Pat::Tuple(t)) if t.elems.len() == 2 => {
            bind_elements(a, &t.elems[0], out) && bind_elements(b, &t.elems[1], out)
        }
        (Iterated::Elements(_), Pat::Ident(p)) if p.by_ref.is_none() && p.subpat.is_none() => {
            out.push(Some((p.ident.to_string(), true)));
            true
        }
        (Iterated::Elements(_), Pat::Reference(r)) => match &*r.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                out.push(Some((p.ident.to_string(), false)));
                true
            }
            _ => false,
        },
        (_, Pat::Wild(_)) => {
            out.extend(it.leaves().iter().map(|_| None));
            true
        }
        _ => false,
    }
}

/// `a..b`, `a..=b`, and those with `.rev()`, `.step_by(k)`, `.skip(k)`,
/// `.take(k)`: iterators over integers that the reverse sweep can replay
/// from its tape.
fn is_integer_range(e: &Expr) -> bool {
    match e {
        Expr::Range(r) => r.start.is_some() && r.end.is_some(),
        Expr::Paren(p) => is_integer_range(&p.expr),
        Expr::MethodCall(m) => {
            ["rev", "step_by", "skip", "take"].iter().any(|n| m.method == n) && is_integer_range(&m.receiver)
        }
        _ => false,
    }
}

/// The names a block assigns (`s = ..`, `s += ..`, `t.0 = ..`), closures excepted.
struct Assigned(Vec<String>);

impl<'a> Visit<'a> for Assigned {
    fn visit_expr(&mut self, e: &'a Expr) {
        let target = match e {
            Expr::Assign(a) => Some(&*a.left),
            Expr::Binary(b) if super::expr::compound_op(&b.op).is_some() => Some(&*b.left),
            _ => None,
        };
        if let Some(target) = target {
            collect_roots(target, &mut self.0);
        }
        if !matches!(e, Expr::Closure(_)) {
            syn::visit::visit_expr(self, e);
        }
    }
}

/// The local names an assignment target writes.
fn collect_roots(target: &Expr, out: &mut Vec<String>) {
    match target {
        Expr::Path(p) => {
            if let Some(ident) = p.path.get_ident() {
                out.push(ident.to_string());
            }
        }
        Expr::Field(f) => collect_roots(&f.base, out),
        Expr::Tuple(t) => t.elems.iter().for_each(|e| collect_roots(e, out)),
        Expr::Paren(p) => collect_roots(&p.expr, out),
        Expr::Index(i) => collect_roots(&i.expr, out),
        _ => {}
    }
}
