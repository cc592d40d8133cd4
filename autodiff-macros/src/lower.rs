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

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, FnArg, Ident, ItemFn, Pat, Stmt, Type, UnOp};

use crate::args::Args;
use crate::diagnostics::{self as msg, Errors};
use crate::ir::{Func, Inst, Op, Opaque, Param, Region, Value, ValueInfo};
use crate::rules::{self, Rule};

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

/// Whether a parameter type holds reals and so is differentiated by default:
/// a real, or a reference, slice, array, `Vec` or nalgebra matrix of reals.
fn holds_reals(ty: &Type, generics: &HashSet<String>) -> bool {
    if is_real_type(ty, generics) {
        return true;
    }
    match ty {
        Type::Reference(r) => holds_reals(&r.elem, generics),
        Type::Slice(s) => holds_reals(&s.elem, generics),
        Type::Array(a) => holds_reals(&a.elem, generics),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last().expect("a path has a segment");
            const CONTAINERS: &[&str] = &[
                "Vec",
                "DMatrix",
                "DVector",
                "RowDVector",
                "SMatrix",
                "SVector",
                "Matrix",
                "OMatrix",
                "Vector",
                "RowVector",
                "MatrixView",
                "VectorView",
            ];
            CONTAINERS.iter().any(|c| last.ident == c)
                && match &last.arguments {
                    syn::PathArguments::AngleBracketed(a) => a.args.iter().any(|arg| match arg {
                        syn::GenericArgument::Type(t) => holds_reals(t, generics),
                        _ => false,
                    }),
                    _ => false,
                }
        }
        _ => false,
    }
}

fn is_integer_type(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.get_ident().is_some_and(|i| matches!(
        i.to_string().as_str(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "bool" | "char"
    )))
}

/// The type parameters of the function, by name.
pub fn type_params(item: &ItemFn) -> HashSet<String> {
    item.sig.generics.type_params().map(|t| t.ident.to_string()).collect()
}

/// Lowers `item`'s signature and body. Errors are pushed to `errors`; the IR
/// is returned only when there were none.
pub fn lower(item: &ItemFn, args: &Args, errors: &mut Errors) -> Option<Func> {
    let mut cx = Lowerer {
        values: Vec::new(),
        regions: vec![Vec::new()],
        scopes: vec![HashMap::new()],
        items: Vec::new(),
        generics: type_params(item),
        errors,
    };
    let params = cx.params(item, args);
    let output = cx.body(item);
    let body = Region {
        insts: cx.regions.pop().unwrap_or_default(),
        yields: Vec::new(),
    };
    let (items, values) = (cx.items, cx.values);
    let failed = std::mem::take(errors).finish();
    match (failed, output) {
        (Ok(()), Some(output)) => Some(Func {
            params,
            body,
            output,
            values,
            items,
        }),
        (Err(e), _) => {
            errors.add(e);
            None
        }
        (Ok(()), None) => None,
    }
}

/// The parameters alone, for `#[differentiable(custom)]`, whose body is not read.
pub fn signature_params(item: &ItemFn, args: &Args) -> syn::Result<Vec<Param>> {
    let mut errors = Errors::default();
    let mut cx = Lowerer {
        values: Vec::new(),
        regions: vec![Vec::new()],
        scopes: vec![HashMap::new()],
        items: Vec::new(),
        generics: type_params(item),
        errors: &mut errors,
    };
    let params = cx.params(item, args);
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
}

impl Lowerer<'_> {
    // ---- values and instructions ----

    fn new_value(&mut self, span: Span) -> Value {
        let n = self.values.len();
        self.values.push(ValueInfo {
            ident: Func::value_ident(n, span),
            ty: None,
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

    // ---- signature ----

    fn params(&mut self, item: &ItemFn, args: &Args) -> Vec<Param> {
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
            if differentiated && !is_real_type(&ty, &self.generics) {
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

    // ---- body and statements ----

    fn body(&mut self, item: &ItemFn) -> Option<Value> {
        let stmts = &item.block.stmts;
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

    // ---- expressions ----

    fn expr(&mut self, e: &Expr) -> Option<Binding> {
        let span = e.span();
        let value = match e {
            Expr::Lit(lit) => self.emit1(Op::Const(lit.to_token_stream()), span),
            Expr::Path(p) => {
                if let Some(ident) = p.path.get_ident().filter(|_| p.qself.is_none()) {
                    if let Some(b) = self.lookup(&ident.to_string()) {
                        return Some(b.clone());
                    }
                }
                // Not a local: a constant (`PI`, `f64::EPSILON`, a `const` item).
                self.emit1(Op::Const(p.to_token_stream()), span)
            }
            Expr::Paren(p) => return self.expr(&p.expr),
            Expr::Group(g) => return self.expr(&g.expr),
            Expr::Block(b) if b.label.is_none() => return self.block(&b.block),
            Expr::Tuple(t) => {
                let items: Option<Vec<Binding>> = t.elems.iter().map(|e| self.expr(e)).collect();
                return items.map(Binding::Tuple);
            }
            Expr::Field(f) => {
                if let syn::Member::Unnamed(index) = &f.member {
                    if let Some(Binding::Tuple(items)) = self.expr(&f.base) {
                        return match items.get(index.index as usize) {
                            Some(b) => Some(b.clone()),
                            None => {
                                self.errors.push(e, msg::unsupported_expr("this tuple field"));
                                None
                            }
                        };
                    }
                }
                self.opaque_expr(e, Opaque::Expr)?
            }
            Expr::Binary(b) => match arith_op(&b.op) {
                Some(_) => {
                    let l = self.expr_value(&b.left);
                    let r = self.expr_value(&b.right);
                    self.binary(&b.op, l?, r?, e)
                }
                None if compound_op(&b.op).is_some() => {
                    self.errors
                        .push(e, msg::unsupported_expr("a compound assignment used as a value"));
                    return None;
                }
                // Comparisons and boolean or bit operations carry no derivative.
                None => self.passive_expr(e)?,
            },
            Expr::Unary(u) => match u.op {
                UnOp::Neg(_) => {
                    let x = self.expr_value(&u.expr)?;
                    self.emit1(
                        Op::Prim {
                            rule: &rules::NEG,
                            args: vec![x],
                            qualifier: None,
                        },
                        span,
                    )
                }
                UnOp::Not(_) => self.passive_expr(e)?,
                _ => self.opaque_expr(e, Opaque::Expr)?,
            },
            Expr::Cast(c) => {
                let x = self.expr_value(&c.expr)?;
                let ty = &c.ty;
                let tokens = {
                    let x = &self.values[x.index()].ident;
                    quote_spanned!(span=> #x as #ty)
                };
                if is_integer_type(ty) {
                    self.emit1(
                        Op::Passive {
                            expr: tokens,
                            args: vec![x],
                        },
                        span,
                    )
                } else {
                    let origin = e.to_token_stream();
                    self.emit1(
                        Op::Opaque {
                            expr: tokens,
                            args: vec![x],
                            what: Opaque::FloatCast,
                            origin,
                        },
                        span,
                    )
                }
            }
            Expr::MethodCall(m) => {
                let mut args = vec![self.expr_value(&m.receiver)];
                args.extend(m.args.iter().map(|a| self.expr_value(a)));
                let args: Vec<Value> = args.into_iter().collect::<Option<_>>()?;
                self.method(&m.method, args, None, e)?
            }
            Expr::Call(call) => return self.call(call),
            Expr::If(i) => return self.if_(i),
            Expr::Index(_)
            | Expr::Array(_)
            | Expr::Repeat(_)
            | Expr::Reference(_)
            | Expr::Struct(_)
            | Expr::Range(_) => self.opaque_expr(e, Opaque::Expr)?,
            other => {
                self.unsupported(other);
                return None;
            }
        };
        Some(Binding::Value(value))
    }

    /// Reports a construct the macro does not accept.
    fn unsupported(&mut self, e: &Expr) {
        let message = match e {
            Expr::Unsafe(_) => msg::unsafe_block(),
            Expr::Closure(_) => msg::closure(),
            Expr::ForLoop(_) => msg::loop_("for"),
            Expr::While(_) => msg::loop_("while"),
            Expr::Loop(_) => msg::loop_("loop"),
            Expr::Match(_) => msg::match_(),
            Expr::Macro(m) => msg::macro_(&m.mac.path.to_token_stream()),
            Expr::Async(_) | Expr::Await(_) => msg::async_(),
            Expr::Return(_) => msg::early_return(),
            Expr::Let(_) => msg::if_let(),
            Expr::Break(_) | Expr::Continue(_) => msg::loop_("loop"),
            Expr::Try(_) => msg::unsupported_expr("the `?` operator"),
            Expr::Assign(_) => msg::unsupported_expr("an assignment used as a value"),
            Expr::Block(_) => msg::unsupported_expr("a labeled block"),
            _ => msg::unsupported_expr("this expression"),
        };
        self.errors.push(e, message);
    }

    fn block(&mut self, block: &syn::Block) -> Option<Binding> {
        self.scopes.push(HashMap::new());
        let result = self.block_in_scope(block);
        self.scopes.pop();
        result
    }

    fn block_in_scope(&mut self, block: &syn::Block) -> Option<Binding> {
        match block.stmts.split_last() {
            Some((Stmt::Expr(tail, None), init)) => {
                init.iter().for_each(|s| self.stmt(s));
                self.expr(tail)
            }
            _ => {
                block.stmts.iter().for_each(|s| self.stmt(s));
                Some(Binding::unit())
            }
        }
    }

    /// `l op r`; `origin` is the user's expression, for errors.
    fn binary(&mut self, op: &BinOp, l: Value, r: Value, origin: &Expr) -> Value {
        let span = origin.span();
        match arith_op(op) {
            Some(rule) => self.emit1(
                Op::Prim {
                    rule,
                    args: vec![l, r],
                    qualifier: None,
                },
                span,
            ),
            None => {
                // `%` and bit operations: emitted as written.
                let (a, b) = (
                    self.values[l.index()].ident.clone(),
                    self.values[r.index()].ident.clone(),
                );
                let expr = quote_spanned!(span=> #a #op #b);
                self.emit1(
                    Op::Opaque {
                        expr,
                        args: vec![l, r],
                        what: Opaque::Expr,
                        origin: origin.to_token_stream(),
                    },
                    span,
                )
            }
        }
    }

    /// A method call on values: a rule, a passive method, or opaque.
    fn method(
        &mut self,
        name: &Ident,
        args: Vec<Value>,
        qualifier: Option<TokenStream>,
        origin: &Expr,
    ) -> Option<Value> {
        let method = name.to_string();
        let span = origin.span();
        if let Some(rule) = rules::method_rule(&method) {
            if rule.arity() != args.len() {
                self.errors.push(origin, msg::arity(&method, rule.arity(), args.len()));
                return None;
            }
            return Some(self.emit1(Op::Prim { rule, args, qualifier }, span));
        }
        let idents: Vec<Ident> = args.iter().map(|a| self.values[a.index()].ident.clone()).collect();
        let expr = match &qualifier {
            Some(q) => quote_spanned!(span=> #q::#name(#(#idents),*)),
            None => {
                let (recv, rest) = idents.split_first().expect("a receiver");
                quote_spanned!(span=> #recv.#name(#(#rest),*))
            }
        };
        if rules::is_passive_method(&method) {
            Some(self.emit1(Op::Passive { expr, args }, span))
        } else {
            let origin = origin.to_token_stream();
            Some(self.emit1(
                Op::Opaque {
                    expr,
                    args,
                    what: Opaque::Method(method),
                    origin,
                },
                span,
            ))
        }
    }

    fn call(&mut self, call: &syn::ExprCall) -> Option<Binding> {
        let span = call.span();
        let Expr::Path(callee) = &*call.func else {
            return self
                .opaque_expr(&Expr::Call(call.clone()), Opaque::Expr)
                .map(Binding::Value);
        };
        let path = &callee.path;
        // `f64::sin(x)`, `T::max(a, b)`: a method of a real type in path form.
        if path.segments.len() == 2 && callee.qself.is_none() {
            let ty = &path.segments[0].ident;
            if ty == "f32" || ty == "f64" || self.generics.contains(&ty.to_string()) {
                let args: Vec<Value> = call
                    .args
                    .iter()
                    .map(|a| self.expr_value(a))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .collect::<Option<_>>()?;
                let method = path.segments[1].ident.clone();
                let origin = Expr::Call(call.clone());
                return self
                    .method(&method, args, Some(ty.to_token_stream()), &origin)
                    .map(Binding::Value);
            }
        }
        let mut args = Vec::new();
        let mut by_ref = Vec::new();
        let mut spans = Vec::new();
        for a in &call.args {
            let (inner, r) = match a {
                Expr::Reference(r) if r.mutability.is_none() => (&*r.expr, true),
                other => (other, false),
            };
            args.push(self.expr_value(inner));
            by_ref.push(r);
            spans.push(a.span());
        }
        let args: Vec<Value> = args.into_iter().collect::<Option<_>>()?;
        Some(Binding::Value(self.emit1(
            Op::Call {
                path: path.clone(),
                args,
                by_ref,
                spans,
            },
            span,
        )))
    }

    fn if_(&mut self, e: &syn::ExprIf) -> Option<Binding> {
        let span = e.span();
        if let Expr::Let(l) = &*e.cond {
            self.errors.push(l, msg::if_let());
            return None;
        }
        let cond = self.passive_expr(&e.cond);
        let before = self.scopes.clone();

        let (then_region, then_value, then_scopes) = self.arm(|cx| cx.block(&e.then_branch));
        self.scopes = before.clone();
        let (else_region, else_value, else_scopes) = self.arm(|cx| match &e.else_branch {
            Some((_, else_expr)) => cx.expr(else_expr),
            None => Some(Binding::unit()),
        });
        self.scopes = before;
        let (cond, then_value, else_value) = (cond?, then_value?, else_value?);

        if !then_value.same_shape(&else_value) {
            self.errors.push(e, msg::shape_mismatch());
            return None;
        }
        // Locals assigned in either arm get a new value after the `if`.
        let mut assigned: Vec<(usize, String)> = Vec::new();
        for (depth, scope) in self.scopes.iter().enumerate() {
            let mut names: Vec<&String> = scope.keys().collect();
            names.sort();
            for name in names {
                let old = &scope[name];
                let (t, f) = (&then_scopes[depth][name], &else_scopes[depth][name]);
                if t != old || f != old {
                    assigned.push((depth, name.clone()));
                }
            }
        }
        let mut then_yields = Vec::new();
        let mut else_yields = Vec::new();
        then_value.leaves(&mut then_yields);
        else_value.leaves(&mut else_yields);
        for (depth, name) in &assigned {
            then_scopes[*depth][name].leaves(&mut then_yields);
            else_scopes[*depth][name].leaves(&mut else_yields);
        }
        let count = then_yields.len();
        let results = self.emit(
            Op::If {
                cond,
                then_region: Region {
                    insts: then_region,
                    yields: then_yields,
                },
                else_region: Region {
                    insts: else_region,
                    yields: else_yields,
                },
            },
            span,
            count,
        );
        let mut results = results.into_iter();
        let value = then_value.rebuild(&mut results);
        for (depth, name) in assigned {
            let shape = self.scopes[depth][&name].clone();
            let rebuilt = shape.rebuild(&mut results);
            self.scopes[depth].insert(name, rebuilt);
        }
        Some(value)
    }

    /// Lowers one arm of an `if` into its own region.
    fn arm(
        &mut self,
        lower: impl FnOnce(&mut Self) -> Option<Binding>,
    ) -> (Vec<Inst>, Option<Binding>, Vec<HashMap<String, Binding>>) {
        self.regions.push(Vec::new());
        let value = lower(self);
        let insts = self.regions.pop().expect("pushed above");
        (insts, value, self.scopes.clone())
    }

    // ---- expressions emitted as written ----

    /// An expression without derivative (a condition, a comparison), emitted
    /// as written with its locals renamed.
    fn passive_expr(&mut self, e: &Expr) -> Option<Value> {
        let (expr, args) = self.rename(e)?;
        Some(self.emit1(Op::Passive { expr, args }, e.span()))
    }

    /// An expression without rule, emitted as written with its locals renamed.
    fn opaque_expr(&mut self, e: &Expr, what: Opaque) -> Option<Value> {
        let (expr, args) = self.rename(e)?;
        let origin = e.to_token_stream();
        Some(self.emit1(
            Op::Opaque {
                expr,
                args,
                what,
                origin,
            },
            e.span(),
        ))
    }

    /// `e` with each local replaced by its current value's name, and those values.
    fn rename(&mut self, e: &Expr) -> Option<(TokenStream, Vec<Value>)> {
        let mut renamer = Renamer {
            cx: self,
            args: Vec::new(),
            failed: false,
        };
        let mut e = e.clone();
        renamer.visit_expr_mut(&mut e);
        let (args, failed) = (renamer.args, renamer.failed);
        (!failed).then(|| (e.to_token_stream(), args))
    }

    fn binding_tokens(&self, b: &Binding) -> TokenStream {
        match b {
            Binding::Value(v) => self.values[v.index()].ident.to_token_stream(),
            Binding::Tuple(items) => {
                let items = items.iter().map(|b| self.binding_tokens(b));
                quote!((#(#items,)*))
            }
        }
    }
}

/// Renames locals inside an expression emitted as written, and rejects the
/// constructs that cannot appear anywhere in a differentiable body.
struct Renamer<'a, 'b> {
    cx: &'a mut Lowerer<'b>,
    args: Vec<Value>,
    failed: bool,
}

impl VisitMut for Renamer<'_, '_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let name = p.path.get_ident().expect("checked").to_string();
                if let Some(b) = self.cx.lookup(&name).cloned() {
                    b.leaves(&mut self.args);
                    let tokens = self.cx.binding_tokens(&b);
                    *e = syn::parse2(tokens).expect("a name or a tuple of names parses");
                }
            }
            Expr::Unsafe(_)
            | Expr::Closure(_)
            | Expr::ForLoop(_)
            | Expr::While(_)
            | Expr::Loop(_)
            | Expr::Match(_)
            | Expr::Macro(_)
            | Expr::Async(_)
            | Expr::Await(_)
            | Expr::Return(_)
            | Expr::Assign(_)
            | Expr::Block(_)
            | Expr::If(_) => {
                self.cx.unsupported(e);
                self.failed = true;
            }
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }
}

/// The rule of an arithmetic operator.
fn arith_op(op: &BinOp) -> Option<&'static Rule> {
    match op {
        BinOp::Add(_) => Some(&rules::ADD),
        BinOp::Sub(_) => Some(&rules::SUB),
        BinOp::Mul(_) => Some(&rules::MUL),
        BinOp::Div(_) => Some(&rules::DIV),
        _ => None,
    }
}

/// The operator of a compound assignment (`+=` → `+`).
fn compound_op(op: &BinOp) -> Option<BinOp> {
    let span = op.span();
    Some(match op {
        BinOp::AddAssign(_) => BinOp::Add(syn::Token![+](span)),
        BinOp::SubAssign(_) => BinOp::Sub(syn::Token![-](span)),
        BinOp::MulAssign(_) => BinOp::Mul(syn::Token![*](span)),
        BinOp::DivAssign(_) => BinOp::Div(syn::Token![/](span)),
        BinOp::RemAssign(_) => BinOp::Rem(syn::Token![%](span)),
        BinOp::BitXorAssign(_) => BinOp::BitXor(syn::Token![^](span)),
        BinOp::BitAndAssign(_) => BinOp::BitAnd(syn::Token![&](span)),
        BinOp::BitOrAssign(_) => BinOp::BitOr(syn::Token![|](span)),
        BinOp::ShlAssign(_) => BinOp::Shl(syn::Token![<<](span)),
        BinOp::ShrAssign(_) => BinOp::Shr(syn::Token![>>](span)),
        _ => return None,
    })
}
