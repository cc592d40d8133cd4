//! The table of primitive rules, split as nalgebra splits its operations.
//!
//! Each rule is a module named after its primal with `value`, a forward rule
//! `jvp` and reverse rules `vjp*` side by side. Generated code reaches them as
//! `::autodiff::__private::rules::NAME`.

pub mod scalar;

pub use scalar::*;
