//! The generated Rust types, clients and servers of the `oteldemo` gRPC package.

/// Messages and services of upstream `demo.proto`'s package `oteldemo`.
pub mod oteldemo {
    tonic::include_proto!("oteldemo");
}

pub use oteldemo::*;
