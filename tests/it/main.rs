//! The one integration-test binary: drives the real `demo` binary and the real Docker engine.
mod cli;
mod diagnose;
mod faults;
mod flag;
mod leak;
mod lifecycle;
mod pipeline;
mod replay;
mod signals;
mod support;
