//! The top-level error and the exit-code policy, in one place.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | runtime failure: the engine, the compose file, a build, a service |
//! | 2 | usage: what was typed is wrong (clap's own errors exit 2 too) |
//! | 3 | `demo wait`: a service exited, crashed or is unhealthy |
//! | 4 | `demo wait`: the condition did not hold within `--timeout` |
//! | 130 | interrupted by Ctrl-C |
use crate::build::BuildError;
use crate::compose::ComposeError;
use crate::engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Build(#[from] BuildError),
    /// `demo init` refused or failed to write the stack; nothing was overwritten.
    #[error(transparent)]
    Init(#[from] crate::stack::InitError),
    /// The flag file or the service reading it; the message says what to do.
    #[error("{0}")]
    Flag(String),
    /// Something typed on the command line is wrong; the message says what to type instead.
    #[error("{0}")]
    Usage(String),
    /// The process itself could not get going (no async runtime); not the user's doing.
    #[error("{0}")]
    Internal(String),
    /// The running stack is not as a command needs it (no container yet, …); the message says
    /// what to run.
    #[error("{0}")]
    Stack(String),
    /// `demo wait`: a service cannot become ready (exited, crashed, unhealthy).
    #[error("{0}")]
    ServiceFailed(String),
    /// `demo wait`: the condition did not hold in time.
    #[error("{0}")]
    WaitTimeout(String),
    /// Ctrl-C; the message says what was left as it was.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Compose(e) if e.is_usage() => 2,
            Error::ServiceFailed(_) => 3,
            Error::WaitTimeout(_) => 4,
            Error::Init(crate::stack::InitError::Exists { .. }) => 2,
            Error::Interrupted(_) => 130,
            _ => 1,
        }
    }
}
