//! The few command-line forms both service binaries answer: serve (no argument), `--state`,
//! `--healthcheck`, `--help`, `--version`.
use std::process::ExitCode;
use std::time::Duration;

/// What a service binary was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// Do the service's work.
    Run,
    /// Print the running process's `/state` (what `docker exec … --state` runs).
    State,
    /// Exit 0 iff the running process is healthy (the container health check).
    Healthcheck,
}

/// The invocation from the first argument. `--help`, `--version` and unknown arguments are
/// answered here, and the exit code to end with is returned instead.
pub fn invocation(program: &str, usage: &str, version: &str) -> Result<Invocation, ExitCode> {
    match std::env::args().nth(1).as_deref() {
        None => Ok(Invocation::Run),
        Some("--state") => Ok(Invocation::State),
        Some("--healthcheck") => Ok(Invocation::Healthcheck),
        Some("--help" | "-h") => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        Some("--version" | "-V") => {
            println!("{program} {version}");
            Err(ExitCode::SUCCESS)
        }
        Some(other) => {
            eprintln!("{program}: unknown argument {other:?}\n{usage}");
            Err(ExitCode::from(2))
        }
    }
}

/// Prints the running process's `/state` JSON from its loopback admin port.
pub fn print_state(program: &str, admin_port: u16, timeout: Duration) -> ExitCode {
    match crate::admin_http::get(admin_port, "/state", timeout) {
        Ok(body) => {
            println!("{body}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(program, &error),
    }
}

/// One line on stderr, exit code 1.
pub fn fail(program: &str, error: &str) -> ExitCode {
    eprintln!("{program}: {error}");
    ExitCode::FAILURE
}
