//! The only code that talks to Docker: one small method per engine call, errors mapped to ours.
//!
//! Nothing outside this module imports `bollard`. Callers get plain data ([`Observed`],
//! [`ContainerFacts`]) and [`EngineError`]s that name the object they concern.
mod containers;
mod error;
mod files;
mod images;
mod logs;
mod networks;
pub mod spec;
mod stats;
mod system;
mod wait;

use std::time::Duration;

use bollard::Docker;

pub use containers::{ContainerFacts, Observed};
pub use error::{EngineError, indent_block};
pub use images::{BuildContext, ImageFacts, RootFs};
pub use logs::{Exit, LogLine, LogRequest, RunInfo};
pub use stats::{MemoryUse, kills_at_most, unix_now};
pub use system::{PublishedPort, SystemFacts, go_arch};
pub use wait::Readiness;

/// How long the first contact may take before we call the engine unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected engine, its API version negotiated.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
}

impl Engine {
    /// Connects through `DOCKER_HOST` or the local socket and agrees on an API version (an
    /// engine older than bollard's default refuses a newer version prefix).
    pub async fn connect() -> Result<Self, EngineError> {
        let host = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let unreachable = |cause: String| EngineError::Unreachable {
            host: host.clone(),
            cause,
        };
        let docker =
            Docker::connect_with_defaults().map_err(|e| unreachable(error::cause_of(&e)))?;
        let docker = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(e)) => return Err(unreachable(error::cause_of(&e))),
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {}s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        };
        Ok(Engine { docker, host })
    }

    /// Where the engine lives, as the user configured it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The engine's OS and CPU architecture in Go's spelling (`linux`, `amd64`).
    pub async fn platform(&self) -> Result<(String, String), EngineError> {
        let version = self
            .docker
            .version()
            .await
            .map_err(|e| EngineError::api("read the engine version", e))?;
        Ok((
            version.os.unwrap_or_default(),
            version.arch.unwrap_or_default(),
        ))
    }

    /// The engine's CPU architecture in Go's spelling (`amd64`, `arm64`).
    pub async fn architecture(&self) -> Result<String, EngineError> {
        Ok(self.platform().await?.1)
    }
}
