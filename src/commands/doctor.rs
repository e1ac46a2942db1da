//! `demo doctor [--json]`: checks this machine and engine before `demo up` (engine, platform,
//! memory, cgroup, disk, every published port, every image), each ok, warn or fail with a fix.
//! Exit 0 when nothing fails. Changes nothing.
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::DoctorArgs;
use crate::compose::{Project, Service};
use crate::doctor::{self, Check, Report, host};
use crate::engine::{Engine, PublishedPort, go_arch};
use crate::error::Error;
use crate::readiness::engine_is_local;

use super::Context;

/// How long a registry may take to accept a connection.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn run(ctx: &Context, args: DoctorArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    let mut checks = Vec::new();
    let engine = match ctx.engine().await {
        Ok(engine) => Some(engine),
        Err(e) => {
            checks.push(Check::fail(
                "engine",
                e.to_string(),
                "start Docker, or point DOCKER_HOST at a running engine",
            ));
            None
        }
    };
    let mut published = Vec::new();
    if let Some(engine) = &engine {
        checks.extend(engine_checks(engine, &project).await);
        published = engine.published_ports().await.unwrap_or_default();
    }
    for service in &project.services {
        for port in &service.ports {
            checks.push(port_check(
                &project.name,
                service,
                port,
                &published,
                engine.is_some(),
            ));
        }
    }
    if let Some(engine) = &engine {
        checks.extend(image_checks(engine, &project).await);
    }
    let report = Report::new(checks);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        print!("{}", report.render());
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The engine, its platform, memory, cgroup and disk.
async fn engine_checks(engine: &Engine, project: &Project) -> Vec<Check> {
    let facts = match engine.system().await {
        Ok(facts) => facts,
        Err(e) => {
            return vec![Check::fail(
                "engine",
                e.to_string(),
                "check that the engine answers `docker info`",
            )];
        }
    };
    let mut checks = vec![Check::ok(
        "engine",
        format!(
            "Docker {} (API {}) at {}",
            facts.version,
            facts.api_version,
            engine.host()
        ),
    )];
    checks.push(doctor::platform(&facts, go_arch(std::env::consts::ARCH)));
    let limits = project.services.iter().filter_map(|s| s.mem_limit).sum();
    checks.push(doctor::memory(&facts, limits));
    checks.push(doctor::cgroup(&facts));
    let free = engine_is_local(engine.host())
        .then(|| host::free_bytes(Path::new(&facts.root_dir)))
        .flatten();
    checks.push(doctor::disk(&facts.root_dir, free));
    checks
}

/// One published port: free, published by this project already, or held by whom.
fn port_check(
    project: &str,
    service: &Service,
    port: &crate::compose::Port,
    published: &[PublishedPort],
    engine_seen: bool,
) -> Check {
    let address = format!("{}:{}", port.host_ip, port.host_port);
    let name = format!("port {address}");
    let moved = match &port.variable {
        Some(var) => format!("set {var} to another port"),
        None => "publish the service on another port".to_string(),
    };
    let by_demo = published.iter().find(|p| {
        p.port == port.host_port && (p.ip == port.host_ip || p.ip == "0.0.0.0" || p.ip.is_empty())
    });
    if let Some(p) = by_demo {
        if p.project == project {
            return Check::ok(
                name,
                format!("published by this project's {} ({})", p.service, p.state),
            );
        }
        return Check::fail(
            name,
            format!(
                "held by demo project {}'s {} ({})",
                p.project, p.service, p.state
            ),
            format!("`demo -p {} down`, or {moved}", p.project),
        );
    }
    if TcpListener::bind((port.host_ip.as_str(), port.host_port)).is_ok() {
        return Check::ok(name, format!("free, for {}", service.name));
    }
    let holder = match host::port_holder(&port.host_ip, port.host_port) {
        Some(h) if h.name == "docker-proxy" && !engine_seen => {
            format!(
                "held by docker-proxy (pid {}): a container publishes it",
                h.pid
            )
        }
        Some(h) => format!("held by pid {} ({})", h.pid, h.name),
        None => "held by a process this user cannot see".to_string(),
    };
    Check::fail(
        name,
        format!("{holder}; {} needs it", service.name),
        format!("stop it, or {moved}"),
    )
}

/// Each image: present, or buildable by `demo build`, or pullable from a registry that answers.
async fn image_checks(engine: &Engine, project: &Project) -> Vec<Check> {
    let mut registries: HashMap<String, Result<(), String>> = HashMap::new();
    let mut checks = Vec::new();
    for service in &project.services {
        let name = format!("image {}", service.name);
        let image = &service.image;
        let variable = service
            .image_variable
            .clone()
            .unwrap_or_else(|| format!("the `image:` of {}", service.name));
        match engine.image(image).await {
            Ok(Some(_)) => checks.push(Check::ok(name, format!("{image} is in the engine"))),
            Err(e) => checks.push(Check::fail(
                name,
                e.to_string(),
                "check that the engine answers `docker image ls`",
            )),
            Ok(None) if service.build.is_some() => checks.push(Check::warn(
                name,
                format!("{image} is not in the engine; ours, so it can be built here"),
                "`demo build` builds it (`demo up` does too)",
            )),
            Ok(None) => {
                let (registry, address) = registry_of(image);
                if !registries.contains_key(&registry) {
                    let answer = probe(&address).await;
                    registries.insert(registry.clone(), answer);
                }
                match &registries[&registry] {
                    Ok(()) => checks.push(Check::warn(
                        name,
                        format!("{image} is not in the engine; {registry} answers, so `demo up` can pull it"),
                        format!("`docker pull {image}` ahead of time saves the wait"),
                    )),
                    Err(why) => checks.push(Check::fail(
                        name,
                        format!("{image} is not in the engine and no registry answers ({why})"),
                        format!("load it into the engine (`docker load`), or point {variable} at an image that is present"),
                    )),
                }
            }
        }
    }
    checks
}

/// The registry an image reference names and the address to try (`docker.io` by default).
fn registry_of(image: &str) -> (String, String) {
    let first = image.split('/').next().unwrap_or_default();
    let names_registry =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if !names_registry {
        return (
            "docker.io".to_string(),
            "registry-1.docker.io:443".to_string(),
        );
    }
    let address = if first.contains(':') {
        first.to_string()
    } else {
        format!("{first}:443")
    };
    (first.to_string(), address)
}

/// Whether `address` accepts a TCP connection in time.
async fn probe(address: &str) -> Result<(), String> {
    match tokio::time::timeout(REGISTRY_TIMEOUT, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{address}: {e}")),
        Err(_) => Err(format!(
            "{address}: no answer within {}s",
            REGISTRY_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::registry_of;

    #[test]
    fn registries_are_read_from_the_reference() {
        assert_eq!(
            registry_of("prom/prometheus:v3.13.1").1,
            "registry-1.docker.io:443"
        );
        assert_eq!(registry_of("grafana").0, "docker.io");
        assert_eq!(
            registry_of("ghcr.io/open-telemetry/demo:2").1,
            "ghcr.io:443"
        );
        assert_eq!(registry_of("localhost:5000/x:1").1, "localhost:5000");
    }
}
