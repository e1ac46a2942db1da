//! `demo`: stands up the OpenTelemetry memory-leak demo stack in Docker and diagnoses it.
pub mod compose;
pub mod signals;
