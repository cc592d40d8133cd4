//! The rule table: the only place in the macro that knows about primitives.
//!
//! For each primitive it says how the primal is spelled, which runtime module
//! holds its rules (`::autodiff::__private::rules::NAME`), and, per argument,
//! which reverse function gives the argument's cotangent and which operands
//! that function reads (so the reverse pass saves exactly those). The math
//! itself lives in the runtime (`autodiff-runtime/src/rules/scalar.rs`), whose
//! signatures must match what is declared here; the integration tests call
//! every rule through the macro.

/// An operand a reverse function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// The `i`-th argument (the receiver of a method is argument 0).
    Arg(usize),
    /// The primitive's result.
    Out,
}

/// How the cotangent of one argument is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partial {
    /// `rules::NAME::func(ct, reads...)`; the forward rule is named like it
    /// with `jvp` for `vjp` (`jvp_a(da, reads...)`: this argument's share of
    /// the output's tangent) and reads `forward_reads`, or `reads` if `None`
    /// (in forward mode every value is at hand, so it may read the output for
    /// its shape where the reverse rule reads nothing).
    Vjp {
        func: &'static str,
        reads: &'static [Operand],
        forward_reads: Option<&'static [Operand]>,
    },
    /// The derivative is zero almost everywhere (`floor`, `signum`): nothing to emit.
    Zero,
    /// The argument is not differentiated: not a real (the exponent of
    /// `powi`), or a parameter of the function (the slope of `leaky_relu`).
    NotReal,
}

/// How the primal is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// Through the rule: `rules::NAME::value(&a, &b)`, so that the operator
    /// borrows its operands whatever their types (`a * b` would move matrices).
    Rule,
    /// As the user wrote it: `a.name(&b, ...)`, or `f64::name(a, b, ...)`
    /// where the user wrote a path.
    Method,
}

/// One primitive.
#[derive(Debug)]
pub struct Rule {
    /// The method name for [`Spelling::Method`], and the runtime module.
    pub name: &'static str,
    /// The runtime module, where it is not `name`.
    pub module: Option<&'static str>,
    pub spelling: Spelling,
    /// One entry per argument, receiver first.
    pub partials: &'static [Partial],
}

impl Rule {
    pub fn arity(&self) -> usize {
        self.partials.len()
    }

    /// The runtime module that holds the rule.
    pub fn module(&self) -> &'static str {
        self.module.unwrap_or(self.name)
    }
}

use Operand::{Arg, Out};

const X: Operand = Arg(0);
const B: Operand = Arg(1);

const fn vjp(func: &'static str, reads: &'static [Operand]) -> Partial {
    Partial::Vjp {
        func,
        reads,
        forward_reads: None,
    }
}

/// A partial whose forward rule reads the output, for its shape.
const fn vjp_shaped(func: &'static str, reads: &'static [Operand]) -> Partial {
    Partial::Vjp {
        func,
        reads,
        forward_reads: Some(&[Out]),
    }
}

impl Partial {
    /// The forward rule's name and the operands it reads.
    pub fn forward(&self) -> Option<(String, &'static [Operand])> {
        match *self {
            Partial::Vjp {
                func,
                reads,
                forward_reads,
            } => Some((func.replacen("vjp", "jvp", 1), forward_reads.unwrap_or(reads))),
            Partial::Zero | Partial::NotReal => None,
        }
    }
}

/// A unary method whose reverse rule `vjp(ct, read)` reads `x` or `y`.
macro_rules! unary {
    ($name:literal, $read:expr) => {
        method($name, &[vjp("vjp", &[$read])])
    };
}

const fn method(name: &'static str, partials: &'static [Partial]) -> Rule {
    Rule {
        name,
        module: None,
        spelling: Spelling::Method,
        partials,
    }
}

const fn by_rule(name: &'static str, partials: &'static [Partial]) -> Rule {
    Rule {
        name,
        module: None,
        spelling: Spelling::Rule,
        partials,
    }
}

const ZERO: &[Partial] = &[Partial::Zero];

/// `a + b`, `a - b`, `a * b`, `a / b` (and their compound assignments). A
/// product or quotient reads both operands: their types pick the rule
/// (matrix product, scaling), and the cotangent's type follows from them.
pub static ADD: Rule = by_rule("add", &[vjp("vjp_a", &[]), vjp("vjp_b", &[])]);
pub static SUB: Rule = by_rule("sub", &[vjp("vjp_a", &[]), vjp("vjp_b", &[])]);
pub static MUL: Rule = by_rule("mul", &[vjp("vjp_a", &[X, B]), vjp("vjp_b", &[X, B])]);
pub static DIV: Rule = by_rule("div", &[vjp("vjp_a", &[X, B]), vjp("vjp_b", &[X, B])]);
/// `-a`.
pub static NEG: Rule = by_rule("neg", &[vjp("vjp", &[])]);
/// `x[i]`, `m[(i, j)]`: the reverse rule adds into one element of `x̄`.
pub static INDEX: Rule = by_rule("index", &[vjp("vjp", &[X, B]), Partial::NotReal]);
/// The element `&x[i]` by reference, as `x.iter()` yields it.
pub static INDEX_REF: Rule = Rule {
    module: Some("index_ref"),
    ..by_rule("index", &[vjp("vjp", &[X, B]), Partial::NotReal])
};

/// Whether a rule reads an element (by value or by reference).
pub fn is_index(rule: &Rule) -> bool {
    std::ptr::eq(rule, &INDEX) || std::ptr::eq(rule, &INDEX_REF)
}

/// Methods of `f32`/`f64` (callable as `x.name(..)` or `f64::name(x, ..)`)
/// and of nalgebra matrices.
static METHODS: &[Rule] = &[
    // Reals only: on a square matrix, `m.exp()` is nalgebra's matrix
    // exponential, not an element-wise function, and has no rule.
    Rule {
        module: Some("exp_of_real"),
        ..unary!("exp", Out)
    },
    unary!("exp2", Out),
    unary!("exp_m1", Out),
    unary!("ln", X),
    unary!("log2", X),
    unary!("log10", X),
    unary!("ln_1p", X),
    unary!("sqrt", Out),
    unary!("cbrt", Out),
    unary!("recip", Out),
    unary!("sin", X),
    unary!("cos", X),
    unary!("tan", Out),
    unary!("asin", X),
    unary!("acos", X),
    unary!("atan", X),
    unary!("sinh", X),
    unary!("cosh", X),
    unary!("tanh", Out),
    unary!("abs", X),
    method("powf", &[vjp("vjp_a", &[X, B]), vjp("vjp_b", &[X, Out])]),
    method("atan2", &[vjp("vjp_a", &[X, B]), vjp("vjp_b", &[X, B])]),
    method("hypot", &[vjp("vjp_a", &[X, Out]), vjp("vjp_b", &[B, Out])]),
    method("max", &[vjp("vjp_a", &[X, B]), vjp("vjp_b", &[X, B])]),
    method("min", &[vjp("vjp_a", &[X, B]), vjp("vjp_b", &[X, B])]),
    method("powi", &[vjp("vjp_a", &[X, B]), Partial::NotReal]),
    method("mul_add", &[vjp("vjp_a", &[B]), vjp("vjp_b", &[X]), vjp("vjp_c", &[])]),
    method("floor", ZERO),
    method("ceil", ZERO),
    method("round", ZERO),
    method("trunc", ZERO),
    method("signum", ZERO),
    // activations, element-wise on reals and matrices (`Activation` methods)
    unary!("relu", X),
    unary!("sigmoid", Out),
    unary!("softplus", X),
    unary!("silu", X),
    unary!("gelu", X),
    method("leaky_relu", &[vjp("vjp_a", &[X, B]), Partial::NotReal]),
    method("elu", &[vjp("vjp_a", &[X, B]), Partial::NotReal]),
    // nalgebra matrices and vectors
    method("transpose", &[vjp("vjp", &[])]),
    method("dot", &[vjp("vjp_a", &[B]), vjp("vjp_b", &[X])]),
    method("tr_mul", &[vjp("vjp_a", &[X, B]), vjp("vjp_b", &[X, B])]),
    method("component_mul", &[vjp("vjp_a", &[B]), vjp("vjp_b", &[X])]),
    method("component_div", &[vjp("vjp_a", &[B]), vjp("vjp_b", &[X, B])]),
    unary!("sum", X),
    unary!("mean", X),
    method("norm", &[vjp("vjp", &[X, Out])]),
    unary!("norm_squared", X),
    method("clone", &[vjp("vjp", &[])]),
    method("into_owned", &[vjp("vjp", &[])]),
    method("scale", &[vjp("vjp_a", &[X, B]), vjp("vjp_b", &[X, B])]),
    method("add_scalar", &[vjp("vjp_a", &[]), vjp_shaped("vjp_b", &[])]),
    unary!("column_sum", X),
    unary!("row_sum", X),
    // `DMatrix::from_element(r, c, x)`, `DVector::from_element(n, x)`,
    // `SMatrix::from_element(x)`: every element is `x`, so `x̄ = Σ ȳ`.
    method(
        "from_element",
        &[Partial::NotReal, Partial::NotReal, vjp_shaped("vjp", &[])],
    ),
    method("from_element", &[Partial::NotReal, vjp_shaped("vjp", &[])]),
    method("from_element", &[vjp_shaped("vjp", &[])]),
    // `DVector::from_column_slice(x)`, `DMatrix::from_column_slice(r, c, x)`,
    // `DVector::from_vec(v)`: a slice or `Vec` parameter read as a matrix.
    method("from_column_slice", &[vjp_shaped("vjp", &[])]),
    method(
        "from_column_slice",
        &[Partial::NotReal, Partial::NotReal, vjp_shaped("vjp", &[])],
    ),
    method("from_vec", &[vjp_shaped("vjp", &[])]),
    // A column or row is read as an owned vector: `m.column(j)` borrows `m`.
    by_rule("column", &[vjp("vjp", &[X, B]), Partial::NotReal]),
    by_rule("row", &[vjp("vjp", &[X, B]), Partial::NotReal]),
];

/// The rule of a method, by name.
pub fn method_rule(name: &str) -> Option<&'static Rule> {
    METHODS.iter().find(|r| r.name == name)
}

/// The rule of a method called with `arity` arguments (receiver included):
/// `DMatrix::from_element(r, c, x)` and `SMatrix::from_element(x)` differ.
pub fn method_rule_with_arity(name: &str, arity: usize) -> Option<&'static Rule> {
    METHODS.iter().find(|r| r.name == name && r.arity() == arity)
}

/// nalgebra types whose constructors (`from_element`) have rules.
pub fn is_matrix_type_name(name: &str) -> bool {
    matches!(
        name,
        "DMatrix" | "DVector" | "RowDVector" | "SMatrix" | "SVector" | "OMatrix" | "OVector"
    ) || ["Matrix", "Vector", "RowVector"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|dims| !dims.is_empty() && dims.chars().all(|c| c.is_ascii_digit() || c == 'x'))
    })
}

/// Every method with a rule.
#[cfg(test)]
fn method_names() -> impl Iterator<Item = &'static str> {
    METHODS.iter().map(|r| r.name)
}

/// Methods that return no real (`is_nan`, `to_bits`, a container's `len`
/// or shape): their result carries no derivative, so they may read
/// differentiated values.
pub fn is_passive_method(name: &str) -> bool {
    matches!(
        name,
        "len"
            | "is_empty"
            | "nrows"
            | "ncols"
            | "shape"
            | "is_square"
            | "is_nan"
            | "is_infinite"
            | "is_finite"
            | "is_normal"
            | "is_subnormal"
            | "is_sign_positive"
            | "is_sign_negative"
            | "classify"
            | "to_bits"
            | "total_cmp"
            | "partial_cmp"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_existing_operands() {
        for rule in METHODS.iter().chain([&ADD, &SUB, &MUL, &DIV, &NEG, &INDEX, &INDEX_REF]) {
            for p in rule.partials {
                if let Partial::Vjp { reads, .. } = p {
                    for r in *reads {
                        if let Arg(i) = r {
                            assert!(*i < rule.arity(), "{} reads argument {i}", rule.name);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_and_arities_are_unique() {
        let mut names: Vec<_> = METHODS.iter().map(|r| (r.name, r.arity())).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METHODS.len());
        assert!(method_names().count() == METHODS.len());
    }
}
