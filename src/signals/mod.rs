//! Clients for the stack's telemetry back ends (Prometheus, Jaeger) and the names they hold.
pub mod alerts;
pub mod endpoints;
pub mod error;
pub mod exemplars;
mod http;
pub mod jaeger;
pub mod names;
pub mod prometheus;

pub use error::SignalError;
