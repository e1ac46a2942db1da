//! Containers: observe the project's, create, start, remove, read logs, run a command inside.
use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HealthStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, ListVolumesOptions,
    LogsOptions, RemoveContainerOptions,
};
use futures_util::{StreamExt, TryStreamExt, future};

use super::Engine;
use super::error::{EngineError, cause_of, status_of};
use crate::compose::Service;
use crate::labels;

/// What the engine holds of one of our containers, read by inspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFacts {
    pub id: String,
    /// Without the leading `/` the engine puts there.
    pub name: String,
    pub service: String,
    pub labels: HashMap<String, String>,
    /// The engine's state: `created`, `running`, `restarting`, `exited`, `dead`, ….
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `none` without a health check.
    pub health: String,
    /// Output of the most recent health probe, for error messages.
    pub health_output: String,
    pub exit_code: i64,
    /// The engine's flag; it survives restarts, so OOM kills are counted from events instead.
    pub oom_killed: bool,
    pub restart_count: i64,
    pub memory_limit: Option<u64>,
    /// Image ID the container runs.
    pub image_id: String,
    /// RFC 3339 creation time, for reading the container's events since then.
    pub created: String,
    /// The image's entrypoint (or the service's), to run its own admin commands inside.
    pub entrypoint: Vec<String>,
}

impl ContainerFacts {
    pub fn config_hash(&self) -> Option<&str> {
        self.labels.get(labels::CONFIG_HASH).map(String::as_str)
    }

    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// Running and, where there is a health check, healthy.
    pub fn is_ready(&self) -> bool {
        self.is_running() && (self.health == "healthy" || self.health == "none")
    }

    fn from_inspect(inspect: ContainerInspectResponse) -> Self {
        let labels = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let entrypoint = inspect
            .config
            .as_ref()
            .and_then(|c| c.entrypoint.clone())
            .unwrap_or_default();
        let state = inspect.state.unwrap_or_default();
        let health = state.health.clone().unwrap_or_default();
        let health_output = health
            .log
            .as_ref()
            .and_then(|log| log.last())
            .map(|probe| {
                let out = probe.output.clone().unwrap_or_default();
                format!(
                    "exit {}: {}",
                    probe.exit_code.unwrap_or_default(),
                    out.trim()
                )
            })
            .unwrap_or_default();
        let health = match health.status {
            Some(HealthStatusEnum::HEALTHY) => "healthy",
            Some(HealthStatusEnum::UNHEALTHY) => "unhealthy",
            Some(HealthStatusEnum::STARTING) => "starting",
            _ => "none",
        };
        ContainerFacts {
            id: inspect.id.unwrap_or_default(),
            name: inspect
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
            labels,
            state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            health: health.to_string(),
            health_output,
            exit_code: state.exit_code.unwrap_or_default(),
            oom_killed: state.oom_killed.unwrap_or_default(),
            restart_count: inspect.restart_count.unwrap_or_default(),
            memory_limit: inspect
                .host_config
                .and_then(|h| h.memory)
                .filter(|m| *m > 0)
                .map(|m| m as u64),
            image_id: inspect.image.unwrap_or_default(),
            created: inspect.created.map(|c| c.to_string()).unwrap_or_default(),
            entrypoint,
        }
    }
}

/// Everything of a project that `demo` created and the engine still holds.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub containers: Vec<ContainerFacts>,
    /// Network IDs (one, unless something went wrong before).
    pub networks: Vec<String>,
    /// Volume names.
    pub volumes: Vec<String>,
}

impl Observed {
    /// The containers of one service (normally zero or one).
    pub fn of_service<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a ContainerFacts> {
        self.containers.iter().filter(move |c| c.service == service)
    }

    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

impl Engine {
    /// Lists and inspects every container, network and volume of `project` that carries our
    /// labels. Selection is by label only: names prove nothing.
    pub async fn observe(&self, project: &str) -> Result<Observed, EngineError> {
        let filters = labels::project_filter(project);
        let containers = self.list_container_ids(project).await?;
        let inspected = future::try_join_all(containers.iter().map(|id| self.inspect(id))).await?;
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .map_err(|e| EngineError::api(format!("list the networks of project {project}"), e))?
            .into_iter()
            .filter(|n| labels::is_ours(n.labels.as_ref().unwrap_or(&HashMap::new()), project))
            .filter_map(|n| n.id)
            .collect();
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| EngineError::api(format!("list the volumes of project {project}"), e))?
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter(|v| labels::is_ours(&v.labels, project))
            .map(|v| v.name)
            .collect();
        Ok(Observed {
            containers: inspected.into_iter().flatten().collect(),
            networks,
            volumes,
        })
    }

    async fn list_container_ids(&self, project: &str) -> Result<Vec<String>, EngineError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(labels::project_filter(project)),
            ..Default::default()
        };
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| {
                EngineError::api(format!("list the containers of project {project}"), e)
            })?;
        Ok(listed
            .into_iter()
            .filter(|c| labels::is_ours(c.labels.as_ref().unwrap_or(&HashMap::new()), project))
            .filter_map(|c| c.id)
            .collect())
    }

    /// Inspects one container; `None` when it is gone (removed between list and inspect).
    pub async fn inspect(&self, id: &str) -> Result<Option<ContainerFacts>, EngineError> {
        match self.docker.inspect_container(id, None).await {
            Ok(inspect) => Ok(Some(ContainerFacts::from_inspect(inspect))),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(EngineError::api(format!("inspect container {id}"), e)),
        }
    }

    /// Creates a container named `name`. A same-named container we did not make is a clash,
    /// reported and left alone.
    pub async fn create_container(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, EngineError> {
        let options = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(created.id),
            Err(e) if status_of(&e) == Some(409) => Err(EngineError::NameClash {
                kind: "container",
                name: name.to_string(),
            }),
            Err(e) => Err(EngineError::api(format!("create container {name}"), e)),
        }
    }

    /// Starts the container of `service`; a taken host port becomes an error naming the port,
    /// the service and the variable that moves it.
    pub async fn start_container(&self, id: &str, service: &Service) -> Result<(), EngineError> {
        let Err(e) = self.docker.start_container(id, None).await else {
            return Ok(());
        };
        let cause = cause_of(&e);
        if cause.contains("port is already allocated") || cause.contains("address already in use") {
            let port = service
                .ports
                .iter()
                .find(|p| cause.contains(&format!(":{}", p.host_port)))
                .or(service.ports.first());
            if let Some(port) = port {
                return Err(EngineError::PortTaken {
                    address: format!("{}:{}", port.host_ip, port.host_port),
                    service: service.name.clone(),
                    variable: port.variable.clone(),
                });
            }
        }
        Err(EngineError::Api {
            op: format!("start the container of service {}", service.name),
            cause,
        })
    }

    /// Removes a container and its anonymous volumes, running or not. Already gone is fine.
    pub async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            // "removal already in progress": another remover got there first.
            Err(e) if status_of(&e) == Some(409) && cause_of(&e).contains("in progress") => Ok(()),
            Err(e) => Err(EngineError::api(format!("remove container {id}"), e)),
        }
    }

    /// The last `lines` lines of a container's output, both streams, for error messages.
    pub async fn log_tail(&self, id: &str, lines: usize) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let chunks: Vec<_> = self
            .docker
            .logs(id, Some(options))
            .take(lines * 4)
            .filter_map(|chunk| future::ready(chunk.ok()))
            .collect()
            .await;
        chunks
            .iter()
            .map(|c| String::from_utf8_lossy(&c.clone().into_bytes()).into_owned())
            .collect()
    }

    /// Runs `cmd` inside a running container and returns its exit code and standard output.
    pub async fn exec(&self, id: &str, cmd: &[&str]) -> Result<(i64, String), EngineError> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let op = || format!("run {} in container {id}", cmd.join(" "));
        let exec = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| EngineError::api(op(), e))?;
        let mut stdout = String::new();
        if let StartExecResults::Attached { output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| EngineError::api(op(), e))?
        {
            let chunks: Vec<_> = output
                .try_collect()
                .await
                .map_err(|e| EngineError::api(op(), e))?;
            for chunk in chunks {
                if let bollard::container::LogOutput::StdOut { message } = chunk {
                    stdout.push_str(&String::from_utf8_lossy(&message));
                }
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| EngineError::api(op(), e))?;
        Ok((inspect.exit_code.unwrap_or(-1), stdout))
    }
}
