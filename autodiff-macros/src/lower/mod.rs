//! Lowering: a `syn::ItemFn` to the SSA IR of `ir.rs`.
//!
//! Locals are tracked in an environment of [`Binding`]s: each assignment
//! rebinds a name to a new value, a tuple is a binding of bindings (so tuples
//! cost nothing and need no rules), and an `if` that assigns locals yields
//! their new values from both arms. Every unsupported construct is reported
//! at its span; lowering goes on after an error to report the others.
//!
//! Before/after: `let mut s = x; if x > 0.0 { s = s * x; } s.sin()` becomes
//!
//! ```text
//! v1 = passive `x > 0.0` v0
//! v3 = if v1 {
//!   v2 = mul v0, v0
//!   yield v2
//! } else {
//!   yield v0
//! }
//! v4 = sin v3
//! ```

mod expr;
mod loops;
mod map;
mod signature;

use std::collections::{HashMap, HashSet};

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Pat, Stmt, Type};

use crate::args::Args;
use crate::diagnostics::{self as msg, Errors};
use crate::ir::{Func, Inst, Op, Param, Region, Value, ValueInfo};
use crate::rules;
use expr::compound_op;
pub use signature::{is_differentiable_type, is_real_type, type_params};

/// What a name is bound to.
#[derive(Debug, Clone, PartialEq)]
enum Binding {
    Value(Value),
    /// A tuple; the empty tuple is `()`.
    Tuple(Vec<Binding>),
}

impl Binding {
    fn unit() -> Binding {
        Binding::Tuple(Vec::new())
    }

    /// The values of the leaves, depth first.
    fn leaves(&self, out: &mut Vec<Value>) {
        match self {
            Binding::Value(v) => out.push(*v),
            Binding::Tuple(items) => items.iter().for_each(|b| b.leaves(out)),
        }
    }

    /// The same shape, with leaves taken in order from `values`.
    fn rebuild(&self, values: &mut impl Iterator<Item = Value>) -> Binding {
        match self {
            Binding::Value(_) => Binding::Value(values.next().expect("as many values as leaves")),
            Binding::Tuple(items) => Binding::Tuple(items.iter().map(|b| b.rebuild(values)).collect()),
        }
    }

    fn same_shape(&self, other: &Binding) -> bool {
        match (self, other) {
            (Binding::Value(_), Binding::Value(_)) => true,
            (Binding::Tuple(a), Binding::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_shape(y))
            }
            _ => false,
        }
    }
}

/// Lowers `item`'s signature and body. Errors are pushed to `errors`; the IR
/// is returned only when there were none.
pub fn lower(item: &ItemFn, args: &Args, errors: &mut Errors) -> Option<Func> {
    let mut cx = Lowerer::new(item, errors);
    let params = cx.params(item, args);
    let output = cx.body(item);
    let insts = cx.regions.pop().unwrap_or_default();
    let (items, values) = (cx.items, cx.values);
    if !errors.is_empty() {
        return None;
    }
    let body = Region {
        params: Vec::new(),
        insts,
        yields: Vec::new(),
    };
    Some(Func {
        params,
        body,
        output: output?,
        values,
        items,
    })
}

/// The parameters alone, for `#[differentiable(custom)]`, whose body is not read.
pub fn signature_params(item: &ItemFn, args: &Args) -> syn::Result<Vec<Param>> {
    let mut errors = Errors::default();
    let params = Lowerer::new(item, &mut errors).params(item, args);
    errors.finish().map(|()| params)
}

struct Lowerer<'a> {
    values: Vec<ValueInfo>,
    /// Instructions of the open regions; the last is the current one.
    regions: Vec<Vec<Inst>>,
    /// Names in scope, innermost last.
    scopes: Vec<HashMap<String, Binding>>,
    items: Vec<syn::Item>,
    generics: HashSet<String>,
    errors: &'a mut Errors,
    /// Prefix of value names: `__ad_` for a function, `__ad_m{N}_` inside a
    /// `map` closure, so that a closure's values never shadow captured ones.
    prefix: String,
    /// How many `map` closures were lowered, to name the next one.
    closures: usize,
}

impl<'a> Lowerer<'a> {
    fn new(item: &ItemFn, errors: &'a mut Errors) -> Self {
        Lowerer {
            values: Vec::new(),
            regions: vec![Vec::new()],
            scopes: vec![HashMap::new()],
            items: Vec::new(),
            generics: type_params(item),
            errors,
            prefix: "__ad_".into(),
            closures: 0,
        }
    }
}

impl Lowerer<'_> {
    // ---- values and instructions ----

    fn new_value(&mut self, span: Span) -> Value {
        let n = self.values.len();
        self.values.push(ValueInfo {
            ident: quote::format_ident!("{}v{}", self.prefix, n, span = span),
            ty: None,
            is_ref: false,
        });
        Value(n as u32)
    }

    fn emit(&mut self, op: Op, span: Span, results: usize) -> Vec<Value> {
        let results: Vec<Value> = (0..results).map(|_| self.new_value(span)).collect();
        let inst = Inst {
            results: results.clone(),
            op,
            span,
        };
        self.regions.last_mut().expect("a region is open").push(inst);
        results
    }

    fn emit1(&mut self, op: Op, span: Span) -> Value {
        self.emit(op, span, 1)[0]
    }

    // ---- names ----

    fn lookup(&self, name: &str) -> Option<&Binding> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    fn bind(&mut self, name: String, binding: Binding) {
        self.scopes.last_mut().expect("a scope is open").insert(name, binding);
    }

    /// Rebinds an existing name where it was declared (an assignment).
    fn rebind(&mut self, name: &str, binding: Binding) -> bool {
        match self.scopes.iter_mut().rev().find(|s| s.contains_key(name)) {
            Some(scope) => {
                scope.insert(name.to_string(), binding);
                true
            }
            None => false,
        }
    }

    // ---- body and statements ----

    fn body(&mut self, item: &ItemFn) -> Option<Value> {
        let stmts = &without_early_returns(&item.block.stmts);
        let (last, init) = match stmts.split_last() {
            Some(split) => split,
            None => {
                self.errors.push(&item.block, msg::missing_return_type());
                return None;
            }
        };
        for stmt in init {
            self.stmt(stmt);
        }
        let tail = match last {
            Stmt::Expr(Expr::Return(ret), _) => ret.expr.as_deref(),
            Stmt::Expr(e, None) => Some(e),
            other => {
                self.stmt(other);
                None
            }
        };
        // A missing or tuple return type is reported on the signature.
        let signature_ok = matches!(&item.sig.output, syn::ReturnType::Type(_, ty) if !matches!(**ty, Type::Tuple(_)));
        let Some(tail) = tail else {
            if signature_ok {
                self.errors.push(last, msg::missing_return_type());
            }
            return None;
        };
        match self.expr(tail)? {
            Binding::Value(v) => Some(v),
            Binding::Tuple(_) => {
                if signature_ok {
                    self.errors.push(tail, msg::tuple_output());
                }
                None
            }
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Local(local) => {
                let Some(init) = &local.init else {
                    self.errors.push(local, msg::uninitialized_let());
                    return;
                };
                if let Some((_, diverge)) = &init.diverge {
                    self.errors.push(diverge, msg::let_else());
                    return;
                }
                let first_new = self.values.len();
                if let Some(binding) = self.expr(&init.expr) {
                    self.pattern(&local.pat, binding, None, first_new);
                }
            }
            Stmt::Item(item) => self.items.push(item.clone()),
            Stmt::Macro(m) => {
                let name = m.mac.path.to_token_stream();
                self.errors.push(&m.mac, msg::macro_(&name));
            }
            Stmt::Expr(expr, _) => match expr {
                Expr::Assign(assign) => {
                    if let Some(value) = self.expr(&assign.right) {
                        self.assign(&assign.left, value);
                    }
                }
                Expr::Binary(b) if compound_op(&b.op).is_some() => {
                    let op = compound_op(&b.op).expect("checked");
                    let current = self.expr(&b.left).and_then(|l| self.value(l, &b.left));
                    let rhs = self.expr(&b.right).and_then(|r| self.value(r, &b.right));
                    if let (Some(l), Some(r)) = (current, rhs) {
                        let v = self.binary(&op, l, r, expr);
                        self.assign(&b.left, Binding::Value(v));
                    }
                }
                Expr::Call(_) | Expr::MethodCall(_) => self.errors.push(expr, msg::effect_statement()),
                _ => {
                    self.expr(expr);
                }
            },
        }
    }

    /// Binds the names of a `let` pattern; `first_new` is the first value the
    /// initialiser created, so that a written type annotates only new values.
    fn pattern(&mut self, pat: &Pat, binding: Binding, ty: Option<&Type>, first_new: usize) {
        match pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                if let (Some(ty), Binding::Value(v)) = (ty, &binding) {
                    if v.index() >= first_new {
                        self.values[v.index()].ty = Some(ty.clone());
                    }
                }
                self.bind(p.ident.to_string(), binding);
            }
            Pat::Type(p) => self.pattern(&p.pat, binding, Some(&p.ty), first_new),
            Pat::Wild(_) => {}
            Pat::Paren(p) => self.pattern(&p.pat, binding, ty, first_new),
            Pat::Tuple(t) => match binding {
                // A tuple computed as one value (`let (l, g) = loss_grad(..)`): its fields.
                Binding::Value(v) if !t.elems.is_empty() => {
                    let items = (0..t.elems.len())
                        .map(|i| {
                            let member = syn::Member::Unnamed(syn::Index {
                                index: i as u32,
                                span: pat.span(),
                            });
                            Binding::Value(self.emit1(Op::Field { base: v, member }, pat.span()))
                        })
                        .collect();
                    self.pattern(pat, Binding::Tuple(items), ty, first_new);
                }
                Binding::Tuple(items) if items.len() == t.elems.len() => {
                    let types: Vec<Option<&Type>> = match ty {
                        Some(Type::Tuple(tt)) if tt.elems.len() == items.len() => tt.elems.iter().map(Some).collect(),
                        _ => vec![None; items.len()],
                    };
                    for ((p, b), ty) in t.elems.iter().zip(items).zip(types) {
                        self.pattern(p, b, ty, first_new);
                    }
                }
                _ => self.errors.push(pat, msg::pattern()),
            },
            _ => self.errors.push(pat, msg::pattern()),
        }
    }

    /// `target = value` for a local, a tuple field `t.0`, or a tuple of those.
    fn assign(&mut self, target: &Expr, value: Binding) {
        match target {
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let name = p.path.get_ident().expect("checked").to_string();
                if !self.rebind(&name, value) {
                    self.errors.push(target, msg::assign_target());
                }
            }
            Expr::Field(f) => {
                let (Expr::Path(base), syn::Member::Unnamed(index)) = (&*f.base, &f.member) else {
                    self.errors.push(target, msg::assign_target());
                    return;
                };
                let name = base.path.get_ident().map(ToString::to_string).unwrap_or_default();
                match self.lookup(&name).cloned() {
                    Some(Binding::Tuple(mut items)) if (index.index as usize) < items.len() => {
                        items[index.index as usize] = value;
                        self.rebind(&name, Binding::Tuple(items));
                    }
                    _ => self.errors.push(target, msg::assign_target()),
                }
            }
            Expr::Tuple(t) => match value {
                Binding::Tuple(items) if items.len() == t.elems.len() => {
                    for (e, b) in t.elems.iter().zip(items) {
                        self.assign(e, b);
                    }
                }
                _ => self.errors.push(target, msg::pattern()),
            },
            Expr::Paren(p) => self.assign(&p.expr, value),
            // `v[i] = e`: `v` becomes `v` with that element replaced.
            Expr::Index(i) => {
                let name = match &*i.expr {
                    Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(ToString::to_string),
                    _ => None,
                };
                let Some((name, Binding::Value(buffer))) = name.and_then(|n| self.lookup(&n).cloned().map(|b| (n, b)))
                else {
                    self.errors.push(&i.expr, msg::element_assign_target());
                    return;
                };
                let Some(element) = self.value(value, target) else {
                    return;
                };
                let Some(index) = self.passive_expr(&i.index) else {
                    return;
                };
                let updated = self.emit1(
                    Op::Prim {
                        rule: &rules::ASSIGN_INDEX,
                        args: vec![buffer, index, element],
                        by_ref: vec![false; 3],
                        qualifier: None,
                    },
                    target.span(),
                );
                self.rebind(&name, Binding::Value(updated));
            }
            _ => self.errors.push(target, msg::assign_target()),
        }
    }

    /// A binding that must be one value.
    fn value(&mut self, binding: Binding, at: &Expr) -> Option<Value> {
        match binding {
            Binding::Value(v) => Some(v),
            Binding::Tuple(_) => {
                self.errors.push(at, msg::tuple_where_value("an operand"));
                None
            }
        }
    }

    fn expr_value(&mut self, e: &Expr) -> Option<Value> {
        let b = self.expr(e)?;
        self.value(b, e)
    }
}

/// The statements of a function body with guard returns turned into
/// branches: `a; if c { b; return e; } d` becomes `a; if c { b; e } else { d }`,
/// and a final `return e;` becomes `e`. A `return` elsewhere (inside a loop,
/// or not last in its `if`) stays, and is reported where it stands.
fn without_early_returns(stmts: &[Stmt]) -> Vec<Stmt> {
    for (at, stmt) in stmts.iter().enumerate() {
        let Stmt::Expr(Expr::If(guard), _) = stmt else { continue };
        if guard.else_branch.is_some() {
            continue;
        }
        let Some((Stmt::Expr(Expr::Return(ret), _), before)) = guard.then_branch.stmts.split_last() else {
            continue;
        };
        let Some(value) = &ret.expr else { continue };
        let rest = without_early_returns(&stmts[at + 1..]);
        let cond = &guard.cond;
        let branch: Expr = syn::parse_quote! {
            if #cond { #(#before)* #value } else { #(#rest)* }
        };
        let mut out = stmts[..at].to_vec();
        out.push(Stmt::Expr(branch, None));
        return out;
    }
    let mut out = stmts.to_vec();
    if let Some(Stmt::Expr(Expr::Return(ret), _)) = out.last() {
        if let Some(value) = &ret.expr {
            let value = (**value).clone();
            *out.last_mut().expect("checked") = Stmt::Expr(value, None);
        }
    }
    out
}
