//! Turns a resolved compose service into the engine's container-create body, with our labels.
//!
//! Pure: no engine call, so the exact body `up` sends is unit-tested.
use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount as EngineMount,
    MountType, NetworkingConfig, PortBinding, RestartPolicy as EnginePolicy, RestartPolicyNameEnum,
};

use crate::compose::{Condition, Mount, Project, Protocol, RestartPolicy, Service};
use crate::labels;

/// Compose's container name for the only replica of `service`.
pub fn container_name(project: &str, service: &str) -> String {
    format!("{project}-{service}-1")
}

/// Compose's name for the project's one network.
pub fn network_name(project: &str) -> String {
    format!("{project}_default")
}

/// Compose's name for a named volume of the project.
pub fn volume_name(project: &str, volume: &str) -> String {
    format!("{project}_{volume}")
}

/// Everything the engine needs to create the container of `service`. It names the image by the
/// service's reference, not by `image_id`: a concurrent rebuild may retag and remove the old
/// image in between; `image_id` goes into the labels as the image the plan saw.
pub fn container_body(project: &Project, service: &Service, image_id: &str) -> ContainerCreateBody {
    let network = network_name(&project.name);
    let nanos = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    let healthcheck = service.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(h.test.clone()),
        interval: Some(nanos(h.interval)),
        timeout: Some(nanos(h.timeout)),
        start_period: Some(nanos(h.start_period)),
        retries: Some(i64::from(h.retries)),
        ..Default::default()
    });
    let port_key = |p: &crate::compose::Port| {
        let proto = match p.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        format!("{}/{proto}", p.container_port)
    };
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &service.ports {
        bindings
            .entry(port_key(port))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(port.host_ip.clone()),
                host_port: Some(port.host_port.to_string()),
            });
    }
    let mut exposed: Vec<String> = bindings.keys().cloned().collect();
    exposed.sort();
    let mounts = service
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Bind {
                source,
                target,
                read_only,
            } => EngineMount {
                typ: Some(MountType::BIND),
                source: Some(source.display().to_string()),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                ..Default::default()
            },
            Mount::Volume {
                name,
                target,
                read_only,
            } => EngineMount {
                typ: Some(MountType::VOLUME),
                source: Some(volume_name(&project.name, name)),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                ..Default::default()
            },
        })
        .collect();
    let tmpfs: HashMap<String, String> = service
        .tmpfs
        .iter()
        .map(|path| (path.clone(), String::new()))
        .collect();
    let restart = match service.restart {
        RestartPolicy::No => RestartPolicyNameEnum::NO,
        RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
        RestartPolicy::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
        RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
    };
    let memory_limit = service
        .mem_limit
        .map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    let env = service
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();

    ContainerCreateBody {
        image: Some(service.image.clone()),
        entrypoint: service.entrypoint.clone(),
        cmd: service.command.clone(),
        env: Some(env),
        user: service.user.clone(),
        labels: Some(container_labels(project, service, image_id)),
        healthcheck,
        exposed_ports: Some(exposed),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            mounts: Some(mounts),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            memory: memory_limit,
            // No swap beyond the limit: on a host with swap the leak would otherwise page
            // instead of being OOM-killed when the limit says so.
            memory_swap: memory_limit,
            readonly_rootfs: Some(service.read_only),
            restart_policy: Some(EnginePolicy {
                name: Some(restart),
                maximum_retry_count: None,
            }),
            network_mode: Some(network.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network,
                EndpointSettings {
                    aliases: Some(vec![service.name.clone()]),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

/// The labels of a service's container: the user's, compose's, ours.
pub fn container_labels(
    project: &Project,
    service: &Service,
    image_id: &str,
) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = service.labels.clone().into_iter().collect();
    out.extend(labels::base(&project.name));
    let depends_on = service
        .depends_on
        .iter()
        .map(|d| {
            let condition = match d.condition {
                Condition::ServiceStarted => "service_started",
                Condition::ServiceHealthy => "service_healthy",
                Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
            };
            format!("{}:{condition}:true", d.service)
        })
        .collect::<Vec<_>>()
        .join(",");
    for (key, value) in [
        (labels::SERVICE, service.name.clone()),
        (labels::CONTAINER_NUMBER, "1".to_string()),
        (labels::CONFIG_HASH, service.config_hash()),
        (labels::ONEOFF, "False".to_string()),
        (labels::DEPENDS_ON, depends_on),
        (labels::IMAGE, image_id.to_string()),
        (labels::WORKING_DIR, project.dir.display().to_string()),
    ] {
        out.insert(key.to_string(), value);
    }
    out
}

/// Labels of the project's network.
pub fn network_labels(project: &str) -> HashMap<String, String> {
    let mut out = labels::base(project);
    out.insert(labels::NETWORK.to_string(), "default".to_string());
    out
}

/// Labels of one of the project's named volumes.
pub fn volume_labels(project: &str, volume: &str) -> HashMap<String, String> {
    let mut out = labels::base(project);
    out.insert(labels::VOLUME.to_string(), volume.to_string());
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::compose;

    fn project() -> Project {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/docker-compose.yaml");
        let vars = HashMap::from([("PROMETHEUS_PORT", "19090")]);
        compose::load_with(&file, "p", &|name| vars.get(name).map(|v| v.to_string())).unwrap()
    }

    #[test]
    fn prometheus_publishes_on_loopback_with_limit_labels_and_alias() {
        let project = project();
        let service = project.service("prometheus").unwrap();
        let body = container_body(&project, service, "sha256:abc");
        let host = body.host_config.as_ref().unwrap();
        let binding = &host.port_bindings.as_ref().unwrap()["9090/tcp"]
            .as_ref()
            .unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding.host_port.as_deref(), Some("19090"));
        assert_eq!(host.memory, Some(300 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory, "no swap beyond the limit");
        assert_eq!(host.network_mode.as_deref(), Some("p_default"));
        assert_ne!(host.privileged, Some(true));
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels[crate::labels::PROJECT], "p");
        assert_eq!(labels[crate::labels::SERVICE], "prometheus");
        assert_eq!(labels[crate::labels::CREATED_BY], "demo");
        assert_eq!(labels[crate::labels::CONFIG_HASH], service.config_hash());
        assert_eq!(labels[crate::labels::IMAGE], "sha256:abc");
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(
            endpoints["p_default"].aliases.as_deref(),
            Some(&["prometheus".to_string()][..])
        );
    }

    #[test]
    fn our_services_run_read_only_with_a_limit_and_never_get_the_docker_socket() {
        let project = project();
        for service in &project.services {
            let body = container_body(&project, service, "sha256:abc");
            let host = body.host_config.unwrap();
            assert!(
                host.memory.is_some_and(|m| m > 0),
                "{} has no memory limit",
                service.name
            );
            for mount in host.mounts.unwrap_or_default() {
                assert!(
                    !mount.source.unwrap_or_default().contains("docker.sock"),
                    "{}",
                    service.name
                );
            }
            if service.build.is_some() {
                assert_eq!(host.readonly_rootfs, Some(true), "{}", service.name);
            }
        }
    }

    #[test]
    fn dependencies_are_labelled_as_compose_writes_them() {
        let project = project();
        let service = project.service("load-generator").unwrap();
        let labels = container_labels(&project, service, "sha256:abc");
        let mut deps: Vec<&str> = labels[crate::labels::DEPENDS_ON].split(',').collect();
        deps.sort();
        assert_eq!(
            deps,
            [
                "otel-collector:service_started:true",
                "recommendation:service_healthy:true"
            ]
        );
    }
}
