//! What the engine says about itself (version, platform, memory, cgroup, where it keeps its
//! data) and which host ports `demo`'s containers of every project publish, for `demo doctor`.
use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptions;

use super::Engine;
use super::error::EngineError;
use crate::labels;

/// The engine's own facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemFacts {
    pub version: String,
    pub api_version: String,
    /// `linux`, `windows`.
    pub os_type: String,
    /// Go's spelling: `amd64`, `arm64` (the engine's info says `x86_64`; normalized).
    pub architecture: String,
    pub mem_total: Option<u64>,
    /// `1` or `2`; empty when the engine does not say.
    pub cgroup_version: String,
    /// Whether the engine can enforce memory limits.
    pub memory_limit: bool,
    pub root_dir: String,
}

/// A host port that one of `demo`'s containers publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub ip: String,
    pub port: u16,
    pub project: String,
    pub service: String,
    pub state: String,
}

impl Engine {
    pub async fn system(&self) -> Result<SystemFacts, EngineError> {
        let (version, info) = tokio::try_join!(self.docker.version(), self.docker.info())
            .map_err(|e| EngineError::api("read the engine's version and info", e))?;
        Ok(SystemFacts {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            os_type: info.os_type.unwrap_or_default(),
            architecture: version
                .arch
                .or(info.architecture)
                .map(|a| go_arch(&a).to_string())
                .unwrap_or_default(),
            mem_total: info.mem_total.and_then(|m| u64::try_from(m).ok()),
            cgroup_version: info
                .cgroup_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
            memory_limit: info.memory_limit.unwrap_or(false),
            root_dir: info.docker_root_dir.unwrap_or_default(),
        })
    }

    /// Every host port published by a container `demo` created, in any project (selected by
    /// our creator label, not by name).
    pub async fn published_ports(&self) -> Result<Vec<PublishedPort>, EngineError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{}={}", labels::CREATED_BY, labels::CREATOR)],
        )]);
        let listed = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| EngineError::api("list demo's containers", e))?;
        let mut out = Vec::new();
        for container in listed {
            let labels = container.labels.unwrap_or_default();
            let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
            for port in container.ports.unwrap_or_default() {
                if let Some(public) = port.public_port {
                    out.push(PublishedPort {
                        ip: port.ip.unwrap_or_default(),
                        port: public,
                        project: label(labels::PROJECT),
                        service: label(labels::SERVICE),
                        state: container.state.map(|s| s.to_string()).unwrap_or_default(),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// `x86_64` → `amd64`, `aarch64` → `arm64`; Go's names pass through.
pub fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
