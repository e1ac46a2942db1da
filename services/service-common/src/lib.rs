//! What both demo services share: their OTLP pipelines, W3C propagation over gRPC metadata and
//! the tiny loopback HTTP endpoint behind `--state` and `--healthcheck`.

pub mod admin_http;
pub mod cli;
pub mod env;
pub mod grpc_propagation;
pub mod otlp;
