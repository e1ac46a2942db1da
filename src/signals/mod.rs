//! Clients for the stack's telemetry back ends (Prometheus, Jaeger) and the names they hold.
pub mod names;
