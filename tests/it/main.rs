//! The one integration-test binary: drives the real `demo` binary and the real Docker engine.
mod alerts;
mod cli;
mod diagnose;
mod exemplars;
mod faults;
mod flag;
mod install;
mod leak;
mod lifecycle;
mod operate;
mod pipeline;
mod replay;
mod signals;
mod support;
