//! `demo`: stands up the OpenTelemetry memory-leak demo stack in Docker and diagnoses it.
pub mod archive;
pub mod build;
pub mod cli;
pub mod commands;
pub mod compose;
pub mod diagnose;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod flag_site;
pub mod flags;
pub mod images;
pub mod labels;
pub mod plan;
pub mod progress;
pub mod readiness;
pub mod service_state;
pub mod signals;
pub mod stack;
pub mod warmup;

pub use error::Error;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line and runs it on a tokio runtime. Commands that must tidy up on
/// Ctrl-C (`up`) listen for it themselves; the others keep the default and stop at once.
pub fn run() -> Result<ExitCode, Error> {
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(commands::run(cli))
}
