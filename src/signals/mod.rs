//! Clients for the stack's telemetry back ends (Prometheus, Jaeger) and the names they hold.
pub mod endpoints;
pub mod error;
mod http;
pub mod jaeger;
pub mod names;
pub mod prometheus;

pub use error::SignalError;
