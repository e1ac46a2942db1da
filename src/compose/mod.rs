//! The stack model: a compose file read, interpolated, validated and ordered, with no engine I/O.
mod model;

pub use model::*;
