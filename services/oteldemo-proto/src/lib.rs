//! The upstream demo's gRPC contract (package `oteldemo`) and its product ids.

pub mod catalog;

/// Messages and services of upstream `demo.proto`'s package `oteldemo`.
pub mod oteldemo {
    tonic::include_proto!("oteldemo");
}

pub use oteldemo::*;
