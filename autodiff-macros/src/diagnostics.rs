//! Error collection and every message the macro prints, kept together.
//!
//! Messages are lowercase, name the construct in code syntax, and say what to
//! write instead. A stage pushes every error it finds into [`Errors`]; the
//! pipeline stops between stages when any was found.

use std::fmt::Display;

use proc_macro2::TokenStream;
use quote::ToTokens;

/// The errors of one stage.
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    /// An error spanning `tokens`.
    pub fn push(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.0.push(syn::Error::new_spanned(tokens, message));
    }

    /// An error at a span.
    pub fn push_at(&mut self, span: proc_macro2::Span, message: impl Display) {
        self.0.push(syn::Error::new(span, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was pushed; otherwise all errors combined.
    pub fn finish(self) -> Result<(), syn::Error> {
        let mut errors = self.0.into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                first.extend(errors);
                Err(first)
            }
        }
    }
}

/// The hint for code the macro cannot read at all.
const CUSTOM_RULE: &str =
    "move it into a function marked `#[differentiable(custom)]` and write that function's `_vjp` and `_jvp` by hand";

pub fn unsafe_block() -> String {
    format!(
        "`unsafe` blocks are not supported in a differentiable function (this includes reading or writing a `static mut`); {CUSTOM_RULE}"
    )
}

pub fn closure() -> String {
    "closures are not supported in a differentiable function; write the closure's body as a `#[differentiable]` function and call it".into()
}

pub fn loop_(keyword: &str) -> String {
    format!("`{keyword}` loops are not supported yet; write a `for i in start..end` loop, or {CUSTOM_RULE}")
}

pub fn break_continue() -> String {
    "`break` and `continue` are supported as the last statement of an `if` without `else` in a loop body (`if c { ..; break; }`); write the jump that way".into()
}

pub fn break_value() -> String {
    "a `loop` that yields a value with `break value` is not supported; assign the value to a variable declared before the loop, then `break`".into()
}

pub fn loop_label() -> String {
    "labeled loops are not supported; `break` and `continue` are not supported yet either".into()
}

pub fn loop_range() -> String {
    "only loops over ranges of integers (`a..b`, `a..=b`, with `.rev()`, `.step_by(k)`, `.skip(k)`, `.take(k)`) and over `v.iter()`, `a.iter().zip(b.iter())` (or `.zip(&b)`, `.zip(b)`) and their `.enumerate()` are supported; iterate over indices and read elements with `x[i]`".into()
}

pub fn match_() -> String {
    "`match` is not supported in a differentiable function; write it as an `if`/`else if`/`else` chain".into()
}

pub fn macro_(name: &TokenStream) -> String {
    format!(
        "macros are not supported in a differentiable function (`{name}!` expands after `#[differentiable]` reads the body); write the value with ordinary expressions, or move the macro outside the function"
    )
}

pub fn async_() -> String {
    "`async` code cannot be differentiated; differentiate a synchronous function and call it from async code".into()
}

pub fn mut_ref_param() -> String {
    "`&mut` parameters are not supported; take the value (or a shared reference) and return the result instead".into()
}

pub fn self_param() -> String {
    "methods with a `self` parameter are not supported; write a free function that takes the fields it reads".into()
}

pub fn param_pattern() -> String {
    "destructuring parameter patterns are not supported; name the parameter and destructure it with `let` in the body"
        .into()
}

/// A type as a person writes it: `&[f64]`, not `& [f64]`.
pub fn type_string(ty: &TokenStream) -> String {
    let mut s = ty.to_string();
    for (from, to) in [
        ("& ", "&"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (" ;", ";"),
    ] {
        s = s.replace(from, to);
    }
    s
}

pub fn param_type(ty: &TokenStream) -> String {
    let ty = type_string(ty);
    format!(
        "a parameter of type `{ty}` cannot be differentiated yet (supported: `f32`, `f64`, a generic real `T`, and nalgebra matrices and vectors, slices, arrays and `Vec`s of them, by value or by reference); flatten it into one of those (a nested container into a `DMatrix` or a flat slice), or leave it out of `wrt(...)` to use it as data"
    )
}

pub fn wrt_not_real(name: &str, ty: &TokenStream) -> String {
    let ty = type_string(ty);
    format!("`{name}` has type `{ty}`, which holds no real to differentiate; `wrt(...)` takes parameters of real type")
}

pub fn wrt_unknown(name: &str) -> String {
    format!("`wrt({name})` names no parameter of this function")
}

pub fn missing_return_type() -> String {
    "a differentiable function must return a real scalar (`-> f64`, `-> f32` or `-> T`) or an nalgebra matrix of reals"
        .into()
}

pub fn non_real_return(ty: &TokenStream) -> String {
    let ty = type_string(ty);
    format!(
        "the return type `{ty}` holds no real to differentiate; return a real scalar (`f32`, `f64`, a generic `T`: `_grad` and `_vjp` are generated) or an nalgebra matrix of reals (`_vjp` only), and compute other outputs in another function"
    )
}

pub fn tuple_output() -> String {
    "a differentiable function must return one real scalar, not a tuple; return the value to differentiate and compute the others in another function".into()
}

pub fn early_return() -> String {
    "`return` is supported as the last statement, or as the last statement of an `if` without `else` at the top of the body (`if c { return e; }`); inside a loop, `break` and return after it".into()
}

pub fn no_rule_method(name: &str) -> String {
    format!(
        "no derivative rule for the method `.{name}()` (the methods with rules are listed in the `autodiff` crate documentation: `exp`, `sin`, `powi`, `dot`, `transpose`, `sum`, ...); otherwise {CUSTOM_RULE}"
    )
}

pub fn float_cast() -> String {
    "casting a differentiated value with `as` is not supported; keep one float type in the function (casts of integers such as `i as f64` are fine)".into()
}

pub fn no_rule_expr() -> String {
    format!("this expression has no derivative rule, but a differentiated value flows through it into the result; {CUSTOM_RULE}")
}

pub fn map_closure(arity: usize) -> String {
    format!(
        "the function of `map`/`zip_map` must be a closure of {arity} named parameter(s) whose body is scalar code (`|v| v.max(0.0)`), or the path of a scalar function (`relu`, `f64::exp`)"
    )
}

pub fn map_capture() -> String {
    "this `map` closure reads a differentiated value from outside it; pass that value in with `zip_map`, or compute the product outside the `map`".into()
}

pub fn effect_statement() -> String {
    "a call whose result is discarded is not supported: the derivative can only follow values; bind the result with `let`".into()
}

pub fn pattern() -> String {
    "this pattern is not supported; bind a name (`let x = ..`) or a tuple of names (`let (a, b) = ..`)".into()
}

pub fn zip_pattern() -> String {
    "destructure what a zip yields into one name per container: `for (a, b) in x.iter().zip(y.iter())` (`&a` for a copy, `_` to skip; `((a, b), c)` for a zip of a zip)".into()
}

pub fn uninitialized_let() -> String {
    "declare and initialise together (`let x = ..;`): a `let` without a value is not supported".into()
}

pub fn let_else() -> String {
    "`let .. else` is not supported in a differentiable function; use `if`/`else`".into()
}

pub fn while_let() -> String {
    "`while let` is not supported in a differentiable function; loop `while` a comparison holds, or over a range".into()
}

pub fn if_let() -> String {
    "`if let` is not supported in a differentiable function; branch on a comparison".into()
}

pub fn assign_target() -> String {
    "only local variables, tuple fields (`t.0`) and elements of local buffers (`v[i]`, `m[(i, j)]`) can be assigned here; field assignment (`s.x = ..`) is not supported: build a new value instead".into()
}

pub fn vec_of_differentiated() -> String {
    "`vec![..]` has no derivative rule for differentiated elements; start from zeros and assign them: `let mut v = vec![0.0; n]; v[i] = x;`".into()
}

pub fn element_assign_target() -> String {
    "only an element of a local buffer can be assigned (`v[i] = ..`, `m[(i, j)] = ..`); for a nested container (`v[i][j]`) or a field, use a flat buffer, e.g. a `DMatrix` indexed `m[(i, j)]`".into()
}

pub fn shape_mismatch() -> String {
    "the arms of this `if` produce values of different shapes (a tuple in one, a scalar in the other)".into()
}

pub fn tuple_where_value(what: &str) -> String {
    format!("a tuple cannot be used as {what}; use one of its fields (`t.0`)")
}

pub fn unsupported_expr(kind: &str) -> String {
    format!("{kind} is not supported in a differentiable function; {CUSTOM_RULE}")
}

pub fn order(order: &str) -> String {
    format!("`order = {order}` is not supported: derivatives of order 1 and 2 are generated (`order = 1`, `order = 2`)")
}

/// A primitive without a second-order rule.
pub fn second_order_rule(name: &str) -> String {
    format!(
        "`{name}` has no second-order rule yet, so it cannot appear in an `order = 2` function; write it with other operations, or move it into a function with `order = 1` if its second derivative is not needed"
    )
}

pub fn unknown_option() -> String {
    "unknown option; expected `wrt(a, b, ..)`, `order = 1`, `order = 2`, `custom` or `crate = \"path\"`".into()
}

pub fn ir_invariant(detail: &str) -> String {
    format!("internal error in `#[differentiable]` ({detail}); please report it with the function that caused it")
}
