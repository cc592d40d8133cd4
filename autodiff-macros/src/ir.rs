//! The IR: SSA values in structured regions.
//!
//! Lowering (`lower.rs`) turns a function body into a [`Func`]; the analyses
//! and transforms read it and never change it.
//!
//! Invariants, checked by [`Func::verify`]:
//! - every [`Value`] is defined exactly once: by a parameter or as a result of
//!   one instruction;
//! - a value is used only after its definition, in the defining region or in a
//!   region nested in it (structured dominance);
//! - an `If` has as many results as each of its regions has yields.
//!
//! Mutable locals do not exist here: each assignment defines a new value, and
//! an `if` that assigns a local yields the new value from both arms (a phi).

use std::fmt;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::Ident;

use crate::rules::Rule;

/// An SSA value: an index into [`Func::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub u32);

impl Value {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// What is known of a value besides its definition.
#[derive(Debug, Clone)]
pub struct ValueInfo {
    /// The Rust name it has in generated code: a parameter keeps its own name,
    /// everything else gets a reserved `__ad_v{N}`.
    pub ident: Ident,
    /// A type the user wrote on the `let` that defines it.
    pub ty: Option<syn::Type>,
    /// A reference (a parameter of type `&T`): passed to rules as it is,
    /// where an owned value is passed as `&v`.
    pub is_ref: bool,
}

/// A parameter of the function.
#[derive(Debug, Clone)]
pub struct Param {
    pub ident: Ident,
    pub ty: syn::Type,
    pub value: Value,
    /// Whether the gradient has a field for it.
    pub differentiated: bool,
}

/// A lowered function.
#[derive(Debug, Clone)]
pub struct Func {
    pub params: Vec<Param>,
    pub body: Region,
    /// The returned value.
    pub output: Value,
    pub values: Vec<ValueInfo>,
    /// Items declared inside the body (`const`, `fn`, `use`), copied as written.
    pub items: Vec<syn::Item>,
}

/// A straight-line list of instructions; the yields are its results.
#[derive(Debug, Clone, Default)]
pub struct Region {
    /// Values defined on entry (a loop body's induction variable and
    /// carried values); empty for a function body or an `if` arm.
    pub params: Vec<Value>,
    pub insts: Vec<Inst>,
    pub yields: Vec<Value>,
}

/// One instruction.
#[derive(Debug, Clone)]
pub struct Inst {
    pub results: Vec<Value>,
    pub op: Op,
    pub span: Span,
}

/// The operation of an instruction.
#[derive(Debug, Clone)]
pub enum Op {
    /// A literal or a constant path (`2.0`, `f64::consts::PI`, `SCALE`).
    Const(TokenStream),
    /// A primitive with a rule in the table (`mul`, `sin`, ...). A method
    /// written in path form (`f64::max(a, b)`) keeps its qualifier (`f64`);
    /// `by_ref[i]` when argument `i` was written `&x`.
    Prim {
        rule: &'static Rule,
        args: Vec<Value>,
        by_ref: Vec<bool>,
        qualifier: Option<TokenStream>,
    },
    /// A call of another differentiable function, through its companions;
    /// `by_ref[i]` when argument `i` was passed as `&x`; `spans[i]` is where
    /// the user wrote it, for errors about its cotangent.
    Call {
        path: syn::Path,
        args: Vec<Value>,
        by_ref: Vec<bool>,
        spans: Vec<Span>,
    },
    /// `base.member`, copied: an element of a tuple that is a single value
    /// (the `(value, gradient)` a call of `g_grad` returns) or a field of a
    /// gradient struct. Its reverse rule adds into that part of `base`'s adjoint.
    Field { base: Value, member: syn::Member },
    /// Code emitted as written that has no derivative: a comparison, a cast to
    /// an integer, a boolean operation. Its result is never differentiated.
    Passive { expr: TokenStream, args: Vec<Value> },
    /// Code emitted as written that has no rule. Allowed only where no
    /// differentiated value flows through it into the output; `what` names it
    /// in the error otherwise, which spans `origin`, the user's tokens.
    Opaque {
        expr: TokenStream,
        args: Vec<Value>,
        what: Opaque,
        origin: TokenStream,
    },
    /// A two-armed branch on an inactive condition.
    If {
        cond: Value,
        then_region: Region,
        else_region: Region,
    },
    /// `x.map(f)` (one argument) or `a.zip_map(&b, f)` (two) with a scalar
    /// function `f`, differentiated element-wise through `scalar`, the IR of
    /// `f`'s body. `captures` are the outer values `f` reads, which must not
    /// be differentiated.
    Map {
        scalar: Box<Func>,
        args: Vec<Value>,
        captures: Vec<Value>,
    },
    /// `for i in iter { body }` over a range of integers. `args` are the
    /// iterator, then the initial values of the locals the body assigns
    /// (carried values);
    /// `body.params` are `i` then the carried values at the start of an
    /// iteration, `body.yields` the carried values at its end, and the
    /// results the carried values after the loop.
    ///
    /// A `while` loop is a loop over `0..` with `cond`: a region with the
    /// same parameters as the body, yielding whether to run the body again.
    For {
        args: Vec<Value>,
        body: Region,
        cond: Option<Region>,
    },
}

/// Why an [`Op::Opaque`] has no rule, for its error message.
#[derive(Debug, Clone)]
pub enum Opaque {
    /// A method the rule table does not know.
    Method(String),
    /// `x as f32` / `x as f64` of a differentiated value.
    FloatCast,
    /// Any other expression (indexing, a field, an array, ...).
    Expr,
    /// `vec![e; n]` or `vec![a, b]` with differentiated elements.
    VecMacro,
}

impl Region {
    /// Adds the values the region defines (at any depth), its parameters
    /// and those of the regions nested in it included.
    pub fn defined(&self, out: &mut std::collections::HashSet<Value>) {
        out.extend(self.params.iter().copied());
        self.walk(&mut |inst| {
            out.extend(inst.results.iter().copied());
            if let Op::For { body, cond, .. } = &inst.op {
                out.extend(body.params.iter().copied());
                out.extend(cond.iter().flat_map(|c| c.params.iter().copied()));
            }
        });
    }

    /// Calls `f` on every instruction of the region and of the regions
    /// nested in it (arms, loop bodies, `while` conditions), each `if` or
    /// loop before what it holds.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Inst)) {
        for inst in &self.insts {
            f(inst);
            match &inst.op {
                Op::If {
                    then_region,
                    else_region,
                    ..
                } => {
                    then_region.walk(f);
                    else_region.walk(f);
                }
                Op::For { body, cond, .. } => {
                    if let Some(cond) = cond {
                        cond.walk(f);
                    }
                    body.walk(f);
                }
                _ => {}
            }
        }
    }
}

impl Op {
    /// The values this operation reads directly (not those of nested regions).
    pub fn args(&self) -> &[Value] {
        match self {
            Op::Const(_) => &[],
            Op::Prim { args, .. }
            | Op::Call { args, .. }
            | Op::Passive { args, .. }
            | Op::Opaque { args, .. }
            | Op::Map { args, .. }
            | Op::For { args, .. } => args,
            Op::If { cond, .. } => std::slice::from_ref(cond),
            Op::Field { base, .. } => std::slice::from_ref(base),
        }
    }
}

impl Func {
    pub fn info(&self, v: Value) -> &ValueInfo {
        &self.values[v.index()]
    }

    pub fn ident(&self, v: Value) -> &Ident {
        &self.values[v.index()].ident
    }

    /// Whether `v` is a parameter of the function (in scope in every sweep).
    pub fn is_param(&self, v: Value) -> bool {
        self.params.iter().any(|p| p.value == v)
    }

    /// Checks the invariants listed in the module documentation.
    pub fn verify(&self) -> Result<(), String> {
        let mut defined = vec![false; self.values.len()];
        for p in &self.params {
            define(&mut defined, p.value)?;
        }
        let mut scope: Vec<Value> = self.params.iter().map(|p| p.value).collect();
        self.verify_region(&self.body, &mut defined, &mut scope)?;
        if !scope.contains(&self.output) {
            return Err(format!("output {} is not defined at the end of the body", self.output));
        }
        match defined.iter().position(|d| !d) {
            Some(v) => Err(format!("v{v} is never defined")),
            None => Ok(()),
        }
    }

    /// Verifies `region`, leaving its values in `scope`.
    fn verify_region(&self, region: &Region, defined: &mut [bool], scope: &mut Vec<Value>) -> Result<(), String> {
        for inst in &region.insts {
            if let Op::Prim { rule, args, .. } = &inst.op {
                if args.len() != rule.arity() {
                    return Err(format!(
                        "`{}` has {} arguments for arity {}",
                        rule.name,
                        args.len(),
                        rule.arity()
                    ));
                }
            }
            for a in inst.op.args() {
                if !scope.contains(a) {
                    return Err(format!("{a} is used before its definition or outside its region"));
                }
            }
            if let Op::If {
                then_region,
                else_region,
                ..
            } = &inst.op
            {
                for arm in [then_region, else_region] {
                    if arm.yields.len() != inst.results.len() {
                        return Err(format!(
                            "an arm yields {} values for {} results",
                            arm.yields.len(),
                            inst.results.len()
                        ));
                    }
                    // An arm's values are not visible after the `if`.
                    let depth = scope.len();
                    self.verify_region(arm, defined, scope)?;
                    scope.truncate(depth);
                }
            }
            if let Op::For { args, body, cond } = &inst.op {
                let carried = args.len() - 1;
                if body.params.len() != carried + 1 || body.yields.len() != carried || inst.results.len() != carried {
                    return Err(format!(
                        "a loop carries {carried} values with mismatched parameters, yields or results"
                    ));
                }
                let depth = scope.len();
                for &p in &body.params {
                    define(defined, p)?;
                    scope.push(p);
                }
                self.verify_region(body, defined, scope)?;
                scope.truncate(depth);
                if let Some(cond) = cond {
                    if cond.params.len() != body.params.len() || cond.yields.len() != 1 {
                        return Err("a while condition has mismatched parameters or yields".into());
                    }
                    for &p in &cond.params {
                        define(defined, p)?;
                        scope.push(p);
                    }
                    self.verify_region(cond, defined, scope)?;
                    scope.truncate(depth);
                }
            }
            for &r in &inst.results {
                define(defined, r)?;
                scope.push(r);
            }
        }
        for y in &region.yields {
            if !scope.contains(y) {
                return Err(format!("yield {y} is not defined in its region"));
            }
        }
        Ok(())
    }
}

fn define(defined: &mut [bool], v: Value) -> Result<(), String> {
    match defined.get_mut(v.index()) {
        Some(d) if !*d => {
            *d = true;
            Ok(())
        }
        Some(_) => Err(format!("{v} is defined twice")),
        None => Err(format!("{v} is out of range")),
    }
}

/// Readable text IR, one instruction a line: `v3 = mul v1, v2`.
impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| {
                format!(
                    "{}: {}{}",
                    p.value,
                    p.ident,
                    if p.differentiated { " (wrt)" } else { "" }
                )
            })
            .collect();
        writeln!(f, "fn({}) {{", params.join(", "))?;
        write_region(f, &self.body, 1)?;
        writeln!(f, "  return {}", self.output)?;
        write!(f, "}}")
    }
}

fn list(values: &[Value]) -> String {
    values.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")
}

fn write_region(f: &mut fmt::Formatter<'_>, region: &Region, depth: usize) -> fmt::Result {
    let pad = "  ".repeat(depth);
    for inst in &region.insts {
        let results = list(&inst.results);
        match &inst.op {
            Op::Const(tokens) => writeln!(f, "{pad}{results} = const {tokens}")?,
            Op::Prim { rule, args, .. } => writeln!(f, "{pad}{results} = {} {}", rule.name, list(args))?,
            Op::Call { path, args, .. } => {
                writeln!(f, "{pad}{results} = call {} {}", path.to_token_stream(), list(args))?
            }
            Op::Passive { expr, args } => writeln!(f, "{pad}{results} = passive `{expr}` {}", list(args))?,
            Op::Field { base, member } => writeln!(f, "{pad}{results} = field {base}.{}", member.to_token_stream())?,
            Op::Opaque { expr, args, .. } => writeln!(f, "{pad}{results} = opaque `{expr}` {}", list(args))?,
            Op::For { args, body, cond } => {
                if let Some(cond) = cond {
                    writeln!(f, "{pad}while params {} {{", list(&cond.params))?;
                    write_region(f, cond, depth + 1)?;
                    writeln!(f, "{pad}}}")?;
                }
                writeln!(
                    f,
                    "{pad}{results} = for {} in {} carrying ({}) {{",
                    list(&body.params[..1]),
                    args[0],
                    list(&args[1..])
                )?;
                if body.params.len() > 1 {
                    writeln!(f, "{pad}  params {}", list(&body.params[1..]))?;
                }
                write_region(f, body, depth + 1)?;
                writeln!(f, "{pad}}}")?;
            }
            Op::Map { scalar, args, .. } => {
                writeln!(f, "{pad}{results} = map {} with", list(args))?;
                for line in scalar.to_string().lines() {
                    writeln!(f, "{pad}  {line}")?;
                }
            }
            Op::If {
                cond,
                then_region,
                else_region,
            } => {
                writeln!(f, "{pad}{results} = if {cond} {{")?;
                write_region(f, then_region, depth + 1)?;
                writeln!(f, "{pad}}} else {{")?;
                write_region(f, else_region, depth + 1)?;
                writeln!(f, "{pad}}}")?;
            }
        }
    }
    if depth > 1 {
        writeln!(f, "{pad}yield {}", list(&region.yields))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;
    use quote::quote;

    use super::*;
    use crate::rules;

    fn func(insts: Vec<Inst>, output: u32, values: usize) -> Func {
        let values = (0..values)
            .map(|n| ValueInfo {
                ident: quote::format_ident!("__ad_v{}", n),
                ty: None,
                is_ref: false,
            })
            .collect();
        let x = quote::format_ident!("x");
        Func {
            params: vec![Param {
                ident: x,
                ty: syn::parse_quote!(f64),
                value: Value(0),
                differentiated: true,
            }],
            body: Region {
                params: Vec::new(),
                insts,
                yields: Vec::new(),
            },
            output: Value(output),
            values,
            items: Vec::new(),
        }
    }

    fn inst(results: &[u32], op: Op) -> Inst {
        Inst {
            results: results.iter().map(|&r| Value(r)).collect(),
            op,
            span: Span::call_site(),
        }
    }

    fn mul(a: u32, b: u32) -> Op {
        Op::Prim {
            rule: &rules::MUL,
            args: vec![Value(a), Value(b)],
            by_ref: vec![false; 2],
            qualifier: None,
        }
    }

    /// An arm that defines `v = v0 * v0` and yields it.
    fn arm(v: u32) -> Region {
        Region {
            params: Vec::new(),
            insts: vec![inst(&[v], mul(0, 0))],
            yields: vec![Value(v)],
        }
    }

    #[test]
    fn accepts_structured_ssa() {
        let f = func(
            vec![
                inst(
                    &[1],
                    Op::Passive {
                        expr: quote!(x > 0.0),
                        args: vec![Value(0)],
                    },
                ),
                inst(
                    &[4],
                    Op::If {
                        cond: Value(1),
                        then_region: arm(2),
                        else_region: arm(3),
                    },
                ),
                inst(&[5], mul(4, 0)),
            ],
            5,
            6,
        );
        assert_eq!(f.verify(), Ok(()));
        assert!(f.to_string().contains("v4 = if v1 {"), "{f}");
    }

    #[test]
    fn rejects_use_before_definition() {
        let f = func(vec![inst(&[1], mul(0, 2)), inst(&[2], mul(0, 0))], 2, 3);
        assert!(f.verify().unwrap_err().contains("v2 is used before"));
    }

    #[test]
    fn rejects_use_of_an_arm_value_after_the_if() {
        let f = func(
            vec![
                inst(&[1], Op::Const(quote!(true))),
                inst(
                    &[4],
                    Op::If {
                        cond: Value(1),
                        then_region: arm(2),
                        else_region: arm(3),
                    },
                ),
                inst(&[5], mul(2, 0)),
            ],
            5,
            6,
        );
        assert!(f.verify().unwrap_err().contains("v2 is used before"));
    }

    #[test]
    fn rejects_double_definition_and_arity_mismatch() {
        let f = func(vec![inst(&[1], mul(0, 0)), inst(&[1], mul(0, 0))], 1, 2);
        assert!(f.verify().unwrap_err().contains("defined twice"));
        let arm = Region {
            params: Vec::new(),
            insts: Vec::new(),
            yields: vec![],
        };
        let g = func(
            vec![
                inst(&[1], Op::Const(quote!(true))),
                inst(
                    &[2],
                    Op::If {
                        cond: Value(1),
                        then_region: arm.clone(),
                        else_region: arm,
                    },
                ),
            ],
            0,
            3,
        );
        assert!(g.verify().unwrap_err().contains("yields 0 values for 1 results"));
    }
}
