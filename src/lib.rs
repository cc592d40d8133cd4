//! Compile-time automatic differentiation for Rust.
//!
//! Mark a function `#[differentiable]` and the macro writes, as ordinary Rust
//! next to it, the code that computes its derivatives: no tape, no graph, no
//! runtime interpretation.
//!
//! ```
//! use autodiff::prelude::*;
//!
//! #[differentiable]
//! fn f(x: f64, y: f64) -> f64 {
//!     let s = x * y;
//!     s.sin() + x.exp()
//! }
//!
//! let (value, grad) = f_grad(0.5, 2.0);
//! assert_eq!(value, f(0.5, 2.0));
//! assert!((grad.x - (2.0 * 1.0f64.cos() + 0.5f64.exp())).abs() < 1e-12);
//! assert!((grad.y - 0.5 * 1.0f64.cos()).abs() < 1e-12);
//! ```
//!
//! # What is generated
//!
//! For `#[differentiable] fn f(a: A, b: B, n: usize) -> T`, `f` is kept as
//! written and these items are added, with `f`'s visibility and generics:
//!
//! | item | meaning |
//! | --- | --- |
//! | `struct FGrad { pub a: A, pub b: B }` | one field per differentiated parameter (`Debug, Clone, PartialEq`) |
//! | `fn f_grad(a, b, n) -> (T, FGrad)` | the value and the gradient |
//! | `fn f_vjp(a, b, n) -> (T, impl FnOnce(T) -> FGrad)` | the value and the pullback, mapping an output cotangent to the input cotangents |
//! | `fn f_jvp(a, b, n, da: A, db: B) -> (T, T)` | the value and its directional derivative along one tangent per differentiated parameter (forward mode) |
//!
//! With `#[differentiable(order = 2)]`, also `f_hvp(a, b, n, v: &FGrad) ->
//! (T, FGrad, FGrad)` (value, gradient, Hessian times `v`, by
//! forward-over-reverse), `f_grad_vjp` (so that `f_grad` can be called in
//! another differentiable body: double backpropagation), `f_pullback(a, b,
//! n, ct) -> FGrad` (a vector-Jacobian product as a differentiable function
//! of the parameters, for penalties on Jacobians) and `f_vjp2`, the staged
//! second-order sweeps they are built on. The README shows them at work.
//!
//! Parameters of type `f32`, `f64` or a generic `T` are differentiated;
//! `#[differentiable(wrt(a))]` restricts the set, and integers, `bool` and
//! other types are passed through as data.
//!
//! # What the body may contain
//!
//! Scalar code: `let` (typed, mutable, tuple patterns), assignment and
//! `+= -= *= /=`, `+ - * /`, literals and constants, integer casts, blocks,
//! `if`/`else` (the arm taken is differentiated), `return` at the end or in
//! guards at the top of the body, and the `f32`/`f64` methods with a rule
//! (`exp ln sqrt powi powf sin cos tanh max min hypot mul_add ...`, also as
//! `f64::sin(x)`).
//!
//! nalgebra matrices and vectors: products (matrix, matrix-vector, scaling),
//! `+ -`, `transpose dot tr_mul component_mul component_div sum mean norm
//! norm_squared column row`, element-wise activations (`z.relu()`,
//! `z.tanh()`, ... from [`runtime::Activation`]), `map`/`zip_map` with scalar
//! closures, and the functions of whole matrices in the [`prelude`]
//! (`add_bias`, `softmax`, `mse`, `softmax_cross_entropy`, ...).
//!
//! Loops: `for` over integer ranges and over `v.iter()`, `while`, `loop`, with
//! guard `break`/`continue`, nested, with branches; indexing `x[i]`,
//! `m[(i, j)]`; local buffers (`vec![0.0; n]`, `DVector::<f64>::zeros(n)`)
//! written in place by `v[i] = e`, `v[i] += e`, `m[(i, j)] = e`. Per iteration
//! only what the reverse sweep reads is recorded.
//!
//! ```
//! use autodiff::prelude::*;
//!
//! /// A linear recurrence through a buffer.
//! #[differentiable]
//! fn smooth(x: &[f64]) -> f64 {
//!     let mut h = vec![0.0; x.len() + 1];
//!     for i in 0..x.len() {
//!         h[i + 1] = 0.5 * h[i] + x[i];
//!     }
//!     h[x.len()] * h[x.len()]
//! }
//!
//! let (value, g) = smooth_grad(&[1.0, 2.0]);
//! assert_eq!(value, 6.25); // h = [0, 1, 2.5]
//! assert_eq!(g.x, vec![2.5, 5.0]); // 2 h₂ · (0.5, 1)
//! ```
//!
//! Anything else is a compile error at its span that says what to write
//! instead. The README has the full table.
//!
//! # Composition and custom rules
//!
//! A call `g(x)` inside a differentiable body is differentiated through `g`'s
//! companions `g_vjp` (reverse mode) and `g_jvp` (forward mode), found by the
//! same path as `g`. For a function the macro cannot read (foreign code,
//! `unsafe`, a loop), mark it `#[differentiable(custom)]`: the macro then
//! generates `GGrad`, `g_grad` built on your `g_vjp` (and a hidden adapter
//! that lets forward-mode callers reach `g_jvp`), and you write `g_vjp` and
//! `g_jvp` by hand with the signatures above. With
//! `#[differentiable(custom, order = 2)]`, `order = 2` bodies may call it too
//! (and `g_hvp`, `g_pullback` and a differentiable `g_grad` are built on your
//! rule), and you also write its second-order pullback
//! `g_vjp2(x) -> (y, impl Pullback2<Y, GGrad>)`: a closure from `ȳ` to the
//! gradient and a closure from the inputs' tangents (a `GGrad`) to the
//! output's tangent and a closure from `Option<ẏ̄>` to the gradient's tangent
//! (`tests/second_order.rs` has one for softplus). The first closure must be
//! `Clone` (a closure over `Clone` values is): a caller may pull several
//! cotangents through one forward sweep.
//!
//! ```
//! use autodiff::prelude::*;
//!
//! /// `softplus(x) = ln(1 + eˣ)`, written with a branch for stability.
//! #[differentiable(custom)]
//! fn softplus(x: f64) -> f64 {
//!     if x > 30.0 { x } else { x.exp().ln_1p() }
//! }
//!
//! /// The hand-written rule: `d softplus / dx = sigmoid(x)`.
//! fn softplus_vjp(x: f64) -> (f64, impl FnOnce(f64) -> SoftplusGrad) {
//!     (softplus(x), move |ct| SoftplusGrad { x: ct / (1.0 + (-x).exp()) })
//! }
//!
//! /// Its forward rule: the tangent times the same derivative.
//! fn softplus_jvp(x: f64, dx: f64) -> (f64, f64) {
//!     (softplus(x), dx / (1.0 + (-x).exp()))
//! }
//!
//! #[differentiable]
//! fn loss(x: f64, w: f64) -> f64 {
//!     softplus(w * x) * 2.0
//! }
//!
//! let (_, g) = loss_grad(1.5, 0.5);
//! let sigmoid = 1.0 / (1.0 + (-0.75f64).exp());
//! assert!((g.w - 2.0 * 1.5 * sigmoid).abs() < 1e-12);
//! ```
//!
//! # Checking gradients
//!
//! [`check_grad`] compares a gradient with central finite differences and
//! returns a report (worst relative error and where).

#![forbid(unsafe_code)]

pub use autodiff_macros::differentiable;
pub use autodiff_runtime as runtime;
pub use autodiff_runtime::nalgebra;
pub use autodiff_runtime::{check_grad, check_hvp, check_jvp, GradCheck, GradReport, Real};

/// What most users import: the attribute, [`Real`], the checker, the
/// activations (as methods: `z.relu()`) and the functions of whole matrices
/// with their companions (`mse` and `mse_vjp`, ...), which differentiable
/// bodies call by name.
pub mod prelude {
    pub use crate::{check_grad, check_jvp, differentiable, GradCheck, Real};
    pub use autodiff_runtime::rules::activation::functions::{gelu, relu, sigmoid, silu, softplus};
    pub use autodiff_runtime::rules::loss::{
        add_bias, add_bias_jvp, add_bias_jvp_positional, add_bias_vjp, log_softmax, log_softmax_jvp,
        log_softmax_jvp_positional, log_softmax_tangents_positional, log_softmax_vjp, log_softmax_vjp2, logsumexp,
        logsumexp_jvp, logsumexp_jvp_positional, logsumexp_tangents_positional, logsumexp_vjp, logsumexp_vjp2, mse,
        mse_jvp, mse_jvp_positional, mse_tangents_positional, mse_vjp, mse_vjp2, softmax, softmax_cross_entropy,
        softmax_cross_entropy_jvp, softmax_cross_entropy_jvp_positional, softmax_cross_entropy_tangents_positional,
        softmax_cross_entropy_vjp, softmax_cross_entropy_vjp2, softmax_jvp, softmax_jvp_positional,
        softmax_tangents_positional, softmax_vjp, softmax_vjp2,
    };
    pub use autodiff_runtime::Activation;
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// What generated code names. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use autodiff_runtime::__private::*;
}
