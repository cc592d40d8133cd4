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
    ///
    /// `curvature` is what second-order code needs: the derivative of this
    /// reverse rule with respect to each operand it reads, one term per
    /// operand whose tangent is nonzero; `None` where the rule has no
    /// second-order form yet (`order = 2` refuses it).
    ///
    /// `forward_acc`: the forward rule also has an accumulating form,
    /// `jvp_a_acc(acc, da, reads..)`, which reads only `reads`: a broadcast
    /// (`add_bias`'s `b`) reads the output for its shape only where it starts
    /// a tangent, so second-order code does not keep the output for it.
    ///
    /// `shape`: an operand read only to shape the adjoint the rule starts,
    /// `func(ct, shape, reads..)`; the accumulating form `func_acc(acc, ct,
    /// reads..)` does not read it, so it is not saved where the adjoint
    /// already exists (an element read of a buffer the loop updates).
    ///
    /// `reuse`: how the result's adjoint may be reused where nothing reads
    /// it after.
    Vjp {
        func: &'static str,
        reads: &'static [Operand],
        forward_reads: Option<&'static [Operand]>,
        forward_acc: bool,
        curvature: Option<&'static [(Operand, Term)]>,
        shape: Option<Operand>,
        reuse: Reuse,
    },
    /// The derivative is zero almost everywhere (`floor`, `signum`): nothing to emit.
    Zero,
    /// The argument is not differentiated: not a real (the exponent of
    /// `powi`), or a parameter of the function (the slope of `leaky_relu`).
    NotReal,
}

/// How a reverse rule may take the result's adjoint `ȳ` rather than read
/// it, where nothing reads `ȳ` after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// `func(&ȳ, ..)` only.
    Never,
    /// The rule is `x̄ = ȳ` (a sum's operands, a copy): `ȳ` becomes `x̄`, moved.
    Identity,
    /// `func_owned(ȳ, reads..)` builds `x̄` in `ȳ`'s storage: an element
    /// assignment's buffer (`ȳ` with the element zeroed), an element-wise
    /// function's or product's operand (`ȳ ⊙ f'(x)`, `ȳ ⊙ b`), which then
    /// allocates nothing.
    InPlace,
}

/// A second-order term: the derivative of a reverse rule `vjp(ct, reads..)`
/// with respect to one operand `r` it reads, along `r`'s tangent `dr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// The rule is linear in `r`: the term is the same rule with `dr` in
    /// `r`'s place (a product's `vjp_a(ct, a, b) = ct bᵀ` gives `ct dbᵀ`).
    Same,
    /// `rules::NAME::func(ct, reads.., dr)`.
    Rule(&'static str),
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
    /// An update of the first operand, which is taken by value (moved where
    /// nothing reads it after, copied otherwise); the element assignment is
    /// the one: written `{ let mut b = v; b[i] = e; b }`, as the user wrote it,
    /// so that the element type is inferred as in their code.
    Update,
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

/// A reverse rule with its second-order terms.
const fn vjp2(func: &'static str, reads: &'static [Operand], curvature: &'static [(Operand, Term)]) -> Partial {
    Partial::Vjp {
        func,
        reads,
        forward_reads: None,
        forward_acc: false,
        curvature: Some(curvature),
        shape: None,
        reuse: Reuse::Never,
    }
}

/// A reverse rule that is constant in what it reads (a linear operation, or
/// a locally linear one such as `relu`, whose reads only select): no
/// second-order term, statically.
const fn lin(func: &'static str, reads: &'static [Operand]) -> Partial {
    vjp2(func, reads, &[])
}

/// `partial` taking `ȳ` as `reuse` says where nothing reads `ȳ` after;
/// [`Reuse::InPlace`] for an element-wise rule, `func_owned(ȳ, reads..)`.
const fn reusing(mut partial: Partial, how: Reuse) -> Partial {
    if let Partial::Vjp { reuse, .. } = &mut partial {
        *reuse = how;
    }
    partial
}

/// `partial` whose forward rule reads `reads` rather than the reverse rule's.
const fn reading_forward(mut partial: Partial, reads: &'static [Operand]) -> Partial {
    if let Partial::Vjp { forward_reads, .. } = &mut partial {
        *forward_reads = Some(reads);
    }
    partial
}

/// A linear operation whose forward rule reads the output, for its shape.
const fn lin_shaped(func: &'static str, reads: &'static [Operand]) -> Partial {
    reading_forward(lin(func, reads), &[Out])
}

/// A broadcast (a vector over columns, a scalar over elements): linear;
/// its forward rule reads the output for its shape where it starts a
/// tangent, and nothing where it adds into one (`jvp_b_acc(acc, db)`).
const fn broadcast(func: &'static str) -> Partial {
    let mut partial = lin_shaped(func, &[]);
    if let Partial::Vjp { forward_acc, .. } = &mut partial {
        *forward_acc = true;
    }
    partial
}

/// A reverse rule that is the identity, `x̄ = ȳ`.
const fn identity(func: &'static str) -> Partial {
    reusing(lin(func, &[]), Reuse::Identity)
}

impl Partial {
    /// The forward rule's name and the operands it reads.
    pub fn forward(&self) -> Option<(String, &'static [Operand])> {
        match *self {
            Partial::Vjp {
                func,
                reads,
                forward_reads,
                ..
            } => Some((func.replacen("vjp", "jvp", 1), forward_reads.unwrap_or(reads))),
            Partial::Zero | Partial::NotReal => None,
        }
    }

    /// Whether the reverse rule is the identity (`x̄ = ȳ`), so that the
    /// forward rule is too.
    pub fn is_identity(&self) -> bool {
        matches!(
            self,
            Partial::Vjp {
                reuse: Reuse::Identity,
                ..
            }
        )
    }

    /// Whether the partial has no second-order term: second-order code
    /// reads no tangent for it.
    pub fn is_linear(&self) -> bool {
        match self {
            Partial::Vjp { curvature, .. } => curvature.is_some_and(|c| c.is_empty()),
            Partial::Zero | Partial::NotReal => true,
        }
    }

    /// The accumulating forward rule's name and the operands it reads, if
    /// the rule has one (`forward_acc`).
    pub fn forward_acc(&self) -> Option<(String, &'static [Operand])> {
        match *self {
            Partial::Vjp {
                func,
                reads,
                forward_acc: true,
                ..
            } => Some((format!("{}_acc", func.replacen("vjp", "jvp", 1)), reads)),
            _ => None,
        }
    }
}

/// A unary method whose reverse rule `vjp(ct, read)` reads `x` or `y`; its
/// second-order term is `vjp_dot(ct, read, dread)`.
macro_rules! unary {
    ($name:literal, $read:expr) => {
        method(
            $name,
            &[reusing(
                vjp2("vjp", &[$read], &[($read, Term::Rule("vjp_dot"))]),
                Reuse::InPlace,
            )],
        )
    };
}

/// A unary method whose reverse rule only selects (locally linear) or reads
/// its operand for its shape.
macro_rules! linear_unary {
    ($name:literal, $read:expr) => {
        method($name, &[lin("vjp", &[$read])])
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
pub static ADD: Rule = by_rule("add", &[identity("vjp_a"), identity("vjp_b")]);
pub static SUB: Rule = by_rule("sub", &[identity("vjp_a"), lin("vjp_b", &[])]);
pub static MUL: Rule = by_rule(
    "mul",
    &[
        vjp2("vjp_a", &[X, B], &[(B, Term::Same)]),
        vjp2("vjp_b", &[X, B], &[(X, Term::Same)]),
    ],
);
pub static DIV: Rule = by_rule(
    "div",
    &[
        vjp2("vjp_a", &[X, B], &[(B, Term::Rule("vjp_a_db"))]),
        vjp2("vjp_b", &[X, B], &[(X, Term::Same), (B, Term::Rule("vjp_b_db"))]),
    ],
);
/// `-a`.
pub static NEG: Rule = by_rule("neg", &[lin("vjp", &[])]);
/// `x[i]`, `m[(i, j)]`: the reverse rule adds into one element of `x̄`,
/// reading `x` only for the shape of an adjoint it starts.
pub static INDEX: Rule = by_rule("index", ELEMENT_READ);
/// The element `&x[i]` by reference, as `x.iter()` yields it.
pub static INDEX_REF: Rule = Rule {
    module: Some("index_ref"),
    ..by_rule("index", ELEMENT_READ)
};
const ELEMENT_READ: &[Partial] = &[
    {
        // The container is read for its shape where the adjoint starts.
        let mut read = lin("vjp", &[B]);
        if let Partial::Vjp { shape, .. } = &mut read {
            *shape = Some(X);
        }
        read
    },
    Partial::NotReal,
];
/// `x[i] = e` (and `x[i] += e`, read then written): `x` with one element
/// replaced, updated in place. Reverse: `ē = ȳ[i]`, and `x̄` is `ȳ` with
/// that element zeroed, in `ȳ`'s storage; neither reads `x` or `e`, so a
/// loop that fills a buffer saves nothing per iteration for it.
pub static ASSIGN_INDEX: Rule = Rule {
    name: "assign_index",
    module: None,
    spelling: Spelling::Update,
    partials: &[
        reusing(lin("vjp_x", &[B]), Reuse::InPlace),
        Partial::NotReal,
        // The forward rule places `ė` in a zero shaped like the result.
        reading_forward(lin("vjp_e", &[B]), &[B, Out]),
    ],
};

/// Whether a rule reads an element (by value or by reference).
pub fn is_index(rule: &Rule) -> bool {
    std::ptr::eq(rule, &INDEX) || std::ptr::eq(rule, &INDEX_REF)
}

/// Whether a rule is an arithmetic operator (`+ - * /`, unary `-`), whose
/// operands and result are reals or matrices alike.
pub fn is_arithmetic(rule: &Rule) -> bool {
    [&ADD, &SUB, &MUL, &DIV, &NEG].iter().any(|r| std::ptr::eq(*r, rule))
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
    linear_unary!("abs", X),
    method(
        "powf",
        &[
            vjp2(
                "vjp_a",
                &[X, B],
                &[(X, Term::Rule("vjp_a_da")), (B, Term::Rule("vjp_a_db"))],
            ),
            vjp2(
                "vjp_b",
                &[X, Out],
                &[(X, Term::Rule("vjp_b_da")), (Out, Term::Rule("vjp_b_dy"))],
            ),
        ],
    ),
    method(
        "atan2",
        &[
            vjp2(
                "vjp_a",
                &[X, B],
                &[(X, Term::Rule("vjp_a_da")), (B, Term::Rule("vjp_a_db"))],
            ),
            vjp2(
                "vjp_b",
                &[X, B],
                &[(X, Term::Rule("vjp_b_da")), (B, Term::Rule("vjp_b_db"))],
            ),
        ],
    ),
    method(
        "hypot",
        &[
            vjp2(
                "vjp_a",
                &[X, Out],
                &[(X, Term::Rule("vjp_a_da")), (Out, Term::Rule("vjp_a_dy"))],
            ),
            vjp2(
                "vjp_b",
                &[B, Out],
                &[(B, Term::Rule("vjp_b_db")), (Out, Term::Rule("vjp_b_dy"))],
            ),
        ],
    ),
    method("max", &[lin("vjp_a", &[X, B]), lin("vjp_b", &[X, B])]),
    method("min", &[lin("vjp_a", &[X, B]), lin("vjp_b", &[X, B])]),
    method(
        "powi",
        &[
            vjp2("vjp_a", &[X, B], &[(X, Term::Rule("vjp_a_dot"))]),
            Partial::NotReal,
        ],
    ),
    method(
        "mul_add",
        &[
            vjp2("vjp_a", &[B], &[(B, Term::Same)]),
            vjp2("vjp_b", &[X], &[(X, Term::Same)]),
            lin("vjp_c", &[]),
        ],
    ),
    method("floor", ZERO),
    method("ceil", ZERO),
    method("round", ZERO),
    method("trunc", ZERO),
    method("signum", ZERO),
    // activations, element-wise on reals and matrices (`Activation` methods)
    linear_unary!("relu", Out),
    unary!("sigmoid", Out),
    unary!("softplus", X),
    unary!("silu", X),
    unary!("gelu", X),
    method("leaky_relu", &[lin("vjp_a", &[X, B]), Partial::NotReal]),
    method(
        "elu",
        &[
            vjp2("vjp_a", &[X, B], &[(X, Term::Rule("vjp_a_dot"))]),
            Partial::NotReal,
        ],
    ),
    // nalgebra matrices and vectors
    method("transpose", &[lin("vjp", &[])]),
    method(
        "dot",
        &[
            vjp2("vjp_a", &[B], &[(B, Term::Same)]),
            vjp2("vjp_b", &[X], &[(X, Term::Same)]),
        ],
    ),
    method(
        "tr_mul",
        &[
            vjp2("vjp_a", &[X, B], &[(B, Term::Same)]),
            vjp2("vjp_b", &[X, B], &[(X, Term::Same)]),
        ],
    ),
    method(
        "component_mul",
        &[
            reusing(vjp2("vjp_a", &[B], &[(B, Term::Same)]), Reuse::InPlace),
            reusing(vjp2("vjp_b", &[X], &[(X, Term::Same)]), Reuse::InPlace),
        ],
    ),
    method(
        "component_div",
        &[
            vjp2("vjp_a", &[B], &[(B, Term::Rule("vjp_a_db"))]),
            vjp2("vjp_b", &[X, B], &[(X, Term::Same), (B, Term::Rule("vjp_b_db"))]),
        ],
    ),
    linear_unary!("sum", X),
    linear_unary!("mean", X),
    method(
        "norm",
        &[vjp2("vjp", &[X, Out], &[(X, Term::Same), (Out, Term::Rule("vjp_dy"))])],
    ),
    method("norm_squared", &[vjp2("vjp", &[X], &[(X, Term::Same)])]),
    method("clone", &[identity("vjp")]),
    method("into_owned", &[identity("vjp")]),
    method(
        "scale",
        &[
            vjp2("vjp_a", &[X, B], &[(B, Term::Same)]),
            vjp2("vjp_b", &[X, B], &[(X, Term::Same)]),
        ],
    ),
    method("add_scalar", &[identity("vjp_a"), broadcast("vjp_b")]),
    linear_unary!("column_sum", X),
    linear_unary!("row_sum", X),
    // `DMatrix::from_element(r, c, x)`, `DVector::from_element(n, x)`,
    // `SMatrix::from_element(x)`: every element is `x`, so `x̄ = Σ ȳ`.
    method(
        "from_element",
        &[Partial::NotReal, Partial::NotReal, lin_shaped("vjp", &[])],
    ),
    method("from_element", &[Partial::NotReal, lin_shaped("vjp", &[])]),
    method("from_element", &[lin_shaped("vjp", &[])]),
    // `DVector::from_column_slice(x)`, `DMatrix::from_column_slice(r, c, x)`,
    // `DVector::from_vec(v)`: a slice or `Vec` parameter read as a matrix.
    method("from_column_slice", &[lin_shaped("vjp", &[])]),
    method(
        "from_column_slice",
        &[Partial::NotReal, Partial::NotReal, lin_shaped("vjp", &[])],
    ),
    method("from_vec", &[lin_shaped("vjp", &[])]),
    // A column or row is read as an owned vector: `m.column(j)` borrows `m`.
    by_rule("column", &[lin("vjp", &[X, B]), Partial::NotReal]),
    by_rule("row", &[lin("vjp", &[X, B]), Partial::NotReal]),
];

/// Runtime functions with a rule, called by name (`add_bias(&z, &b)`): a
/// primitive rather than a call, so that its static zeros propagate (it is
/// linear: a zero cotangent gives zero cotangents, without computing them).
pub static FUNCTIONS: &[Rule] = &[by_rule("add_bias", &[identity("vjp_a"), broadcast("vjp_b")])];

/// The rule of a function called by its bare name.
pub fn function_rule(path: &syn::Path) -> Option<&'static Rule> {
    let name = path.get_ident()?.to_string();
    FUNCTIONS.iter().find(|r| r.name == name)
}

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
        for rule in METHODS
            .iter()
            .chain(FUNCTIONS)
            .chain([&ADD, &SUB, &MUL, &DIV, &NEG, &INDEX, &INDEX_REF])
        {
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

    /// A curvature term differentiates the reverse rule with respect to an
    /// operand it reads: `Same` substitutes that operand's tangent.
    #[test]
    fn curvature_terms_name_operands_the_rule_reads() {
        for rule in METHODS.iter().chain([&ADD, &SUB, &MUL, &DIV, &NEG, &INDEX, &INDEX_REF]) {
            for p in rule.partials {
                if let Partial::Vjp {
                    reads,
                    curvature: Some(terms),
                    ..
                } = p
                {
                    for (r, _) in *terms {
                        assert!(reads.contains(r), "{}: curvature along {r:?}, not read", rule.name);
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
