//! Expressions: operators and methods to rules, calls to companions, `if`
//! to regions, and code without derivative emitted as written.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, Ident, Stmt, UnOp};

use super::signature::is_integer_type;
use super::{Binding, Lowerer};
use crate::diagnostics as msg;
use crate::ir::{Inst, Op, Opaque, Region, Value};
use crate::rules::{self, Rule};

impl Lowerer<'_> {
    // ---- expressions ----

    pub(super) fn expr(&mut self, e: &Expr) -> Option<Binding> {
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
            // Rules borrow their operands anyway: `w * &h` is `w * h`.
            Expr::Reference(r) if r.mutability.is_none() => return self.expr(&r.expr),
            Expr::Group(g) => return self.expr(&g.expr),
            Expr::Block(b) if b.label.is_none() => return self.block(&b.block),
            Expr::Tuple(t) => {
                let items: Option<Vec<Binding>> = t.elems.iter().map(|e| self.expr(e)).collect();
                return items.map(Binding::Tuple);
            }
            Expr::Field(f) => match self.expr(&f.base)? {
                Binding::Tuple(items) => {
                    let item = match &f.member {
                        syn::Member::Unnamed(index) => items.get(index.index as usize),
                        syn::Member::Named(_) => None,
                    };
                    return match item {
                        Some(b) => Some(b.clone()),
                        None => {
                            self.errors.push(e, msg::unsupported_expr("this tuple field"));
                            None
                        }
                    };
                }
                // A field of a value: of a gradient struct, or of a tuple a call returned.
                Binding::Value(base) => self.emit1(
                    Op::Field {
                        base,
                        member: f.member.clone(),
                    },
                    span,
                ),
            },
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
                            by_ref: vec![false],
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
            Expr::MethodCall(m) if super::map::is_map(m) => self.map(m)?,
            Expr::MethodCall(m) => {
                let receiver = self.expr_value(&m.receiver);
                let (rest, rest_refs, _) = self.args(m.args.iter())?;
                let args: Vec<Value> = std::iter::once(receiver?).chain(rest).collect();
                let by_ref = std::iter::once(false).chain(rest_refs).collect();
                self.method(&m.method, args, by_ref, None, e)?
            }
            Expr::Call(call) => return self.call(call),
            Expr::If(i) => return self.if_(i),
            Expr::Index(i) => {
                let base = self.expr_value(&i.expr);
                let index = self.passive_expr(&i.index);
                self.emit1(
                    Op::Prim {
                        rule: &rules::INDEX,
                        args: vec![base?, index?],
                        by_ref: vec![false; 2],
                        qualifier: None,
                    },
                    span,
                )
            }
            Expr::ForLoop(f) => return self.for_loop(f),
            Expr::While(w) => return self.while_loop(w),
            Expr::Loop(l) if l.label.is_none() => return self.loop_loop(l),
            Expr::Macro(m) if m.mac.path.is_ident("vec") => self.vec_macro(m)?,
            Expr::Array(_) | Expr::Repeat(_) | Expr::Reference(_) | Expr::Struct(_) | Expr::Range(_) => {
                self.opaque_expr(e, Opaque::Expr)?
            }
            other => {
                self.unsupported(other);
                return None;
            }
        };
        Some(Binding::Value(value))
    }

    /// Reports a construct the macro does not accept.
    pub(super) fn unsupported(&mut self, e: &Expr) {
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
            Expr::Break(_) | Expr::Continue(_) => msg::break_continue(),
            Expr::Try(_) => msg::unsupported_expr("the `?` operator"),
            Expr::Assign(_) => msg::unsupported_expr("an assignment used as a value"),
            Expr::Block(_) => msg::unsupported_expr("a labeled block"),
            _ => msg::unsupported_expr("this expression"),
        };
        self.errors.push(e, message);
    }

    pub(super) fn block(&mut self, block: &syn::Block) -> Option<Binding> {
        self.scopes.push(HashMap::new());
        let result = self.block_in_scope(block);
        self.scopes.pop();
        result
    }

    pub(super) fn block_in_scope(&mut self, block: &syn::Block) -> Option<Binding> {
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
    pub(super) fn binary(&mut self, op: &BinOp, l: Value, r: Value, origin: &Expr) -> Value {
        let span = origin.span();
        match arith_op(op) {
            Some(rule) => self.emit1(
                Op::Prim {
                    rule,
                    args: vec![l, r],
                    by_ref: vec![false; 2],
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
    /// Lowers call or method arguments; `&x` is lowered as `x` and remembered.
    fn args<'e>(&mut self, exprs: impl Iterator<Item = &'e Expr>) -> Option<(Vec<Value>, Vec<bool>, Vec<Span>)> {
        let mut values = Vec::new();
        let mut by_ref = Vec::new();
        let mut spans = Vec::new();
        for a in exprs {
            let (inner, r) = match a {
                Expr::Reference(r) if r.mutability.is_none() => (&*r.expr, true),
                other => (other, false),
            };
            values.push(self.expr_value(inner));
            by_ref.push(r);
            spans.push(a.span());
        }
        let values = values.into_iter().collect::<Option<_>>()?;
        Some((values, by_ref, spans))
    }

    /// `args[0].name(args[1..])` or `qualifier::name(args)`.
    fn method(
        &mut self,
        name: &Ident,
        args: Vec<Value>,
        by_ref: Vec<bool>,
        qualifier: Option<TokenStream>,
        origin: &Expr,
    ) -> Option<Value> {
        let method = name.to_string();
        let span = origin.span();
        // A method of the same name with another arity is another function
        // (`m.max()`, the largest element, is not `a.max(b)`): it has no rule.
        if let Some(rule) = rules::method_rule_with_arity(&method, args.len()) {
            return Some(self.emit1(
                Op::Prim {
                    rule,
                    args,
                    by_ref,
                    qualifier,
                },
                span,
            ));
        }
        let idents: Vec<TokenStream> = args
            .iter()
            .zip(&by_ref)
            .map(|(a, r)| {
                let ident = &self.values[a.index()].ident;
                if *r {
                    quote!(&#ident)
                } else {
                    quote!(#ident)
                }
            })
            .collect();
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
            let constructor = rules::is_matrix_type_name(&ty.to_string())
                && ["from_element", "from_column_slice", "from_vec"]
                    .iter()
                    .any(|c| path.segments[1].ident == c);
            if ty == "f32" || ty == "f64" || self.generics.contains(&ty.to_string()) || constructor {
                let (args, by_ref, _) = self.args(call.args.iter())?;
                let method = path.segments[1].ident.clone();
                let origin = Expr::Call(call.clone());
                let qualifier = path.segments[0].to_token_stream();
                return self
                    .method(&method, args, by_ref, Some(qualifier), &origin)
                    .map(Binding::Value);
            }
        }
        let (args, by_ref, spans) = self.args(call.args.iter())?;
        if let Some(rule) = rules::function_rule(path).filter(|r| r.arity() == args.len()) {
            return Some(Binding::Value(self.emit1(
                Op::Prim {
                    rule,
                    args,
                    by_ref,
                    qualifier: None,
                },
                span,
            )));
        }
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
                    params: Vec::new(),
                    insts: then_region,
                    yields: then_yields,
                },
                else_region: Region {
                    params: Vec::new(),
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
    pub(super) fn passive_expr(&mut self, e: &Expr) -> Option<Value> {
        // A bare local is itself, not a copy of itself.
        let mut bare = e;
        while let Expr::Paren(p) = bare {
            bare = &p.expr;
        }
        if let Expr::Path(p) = bare {
            if let Some(Binding::Value(v)) = p.path.get_ident().and_then(|i| self.lookup(&i.to_string())) {
                return Some(*v);
            }
        }
        let (expr, args) = self.rename(e)?;
        Some(self.emit_once(Op::Passive { expr, args }, e.span()))
    }

    /// `op`'s result, reusing the value of an identical index expression
    /// already in scope (`i + 1` written twice) where it calls nothing.
    ///
    /// Element reads are not shared: the compiler shares them anyway, and
    /// sharing them in the IR made W7's gradient 4% slower and W1's no
    /// faster (its stencil window sums each element's adjoints already).
    fn emit_once(&mut self, op: Op, span: Span) -> Value {
        let same = |other: &Op| match (&op, other) {
            (Op::Passive { expr: a, args: x }, Op::Passive { expr: b, args: y }) => {
                x == y && a.to_string() == b.to_string() && crate::reverse::calls_nothing(a)
            }
            _ => false,
        };
        let found = self
            .regions
            .iter()
            .flatten()
            .find(|inst| same(&inst.op))
            .map(|inst| inst.results[0]);
        found.unwrap_or_else(|| self.emit1(op, span))
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

    /// `vec![e; n]` or `vec![a, b, ..]`: a buffer emitted as written (its
    /// elements carry no derivative; assign them to differentiate). The
    /// length is data (`x.len()` of a differentiated `x` is fine).
    fn vec_macro(&mut self, m: &syn::ExprMacro) -> Option<Value> {
        let tokens = &m.mac.tokens;
        let (elements, length) = match syn::parse2::<Expr>(quote!([#tokens])) {
            Ok(Expr::Repeat(r)) => (vec![*r.expr], Some(*r.len)),
            Ok(Expr::Array(a)) => (a.elems.into_iter().collect(), None),
            _ => {
                self.errors.push(m, msg::macro_(&m.mac.path.to_token_stream()));
                return None;
            }
        };
        let elements: Vec<Value> = elements.iter().map(|e| self.expr_value(e)).collect::<Option<_>>()?;
        let length = match &length {
            Some(n) => Some(self.passive_expr(n)?),
            None => None,
        };
        let names: Vec<Ident> = elements.iter().map(|v| self.values[v.index()].ident.clone()).collect();
        let expr = match length {
            Some(n) => {
                let n = &self.values[n.index()].ident;
                quote_spanned!(m.span()=> ::std::vec![#(#names)*; #n])
            }
            None => quote_spanned!(m.span()=> ::std::vec![#(#names),*]),
        };
        Some(self.emit1(
            Op::Opaque {
                expr,
                args: elements.into_iter().chain(length).collect(),
                what: Opaque::VecMacro,
                origin: m.to_token_stream(),
            },
            m.span(),
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

    pub(super) fn binding_tokens(&self, b: &Binding) -> TokenStream {
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
pub(super) fn compound_op(op: &BinOp) -> Option<BinOp> {
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
