//! The table of primitive rules, split as nalgebra splits its operations.
//!
//! Each rule is a module named after its primal with `value`, a forward rule
//! `jvp` and reverse rules `vjp*` side by side. Generated code reaches them as
//! `::autodiff::__private::rules::NAME`.

pub mod activation;
pub mod add_bias;
pub mod arith;
pub mod indexing;
pub mod loss;
pub mod matrix;
pub mod pointwise;
pub mod reduce;
pub mod scalar;

pub use activation::{elu, gelu, leaky_relu, relu, sigmoid, silu, softplus};
pub use arith::{add, div, mul, neg, sub};
pub use indexing::{assign_index, index, index_ref};
pub use matrix::{
    add_scalar, clone, column, column_sum, component_div, component_mul, dot, into_owned, row, row_sum, scale, tr_mul,
    transpose,
};
pub use reduce::{from_column_slice, from_element, from_vec, mean, norm, norm_squared, sum};
pub use scalar::*;
