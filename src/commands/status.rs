//! `demo status [--json] [SERVICE...]`: what runs, its health, restarts, OOM kills, memory.
use std::process::ExitCode;

use futures_util::future;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::compose::Service;
use crate::engine::{ContainerFacts, Engine};
use crate::error::Error;
use crate::images::human_bytes;
use crate::labels;

use super::Context;

/// One row of the status table; also its JSON form.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceStatus {
    pub service: String,
    pub container: Option<String>,
    /// The engine's state, or `missing`.
    pub state: String,
    /// `healthy`, `unhealthy`, `starting` or `none`.
    pub health: String,
    pub restarts: i64,
    pub oom_kills: u64,
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub url: Option<String>,
}

impl ServiceStatus {
    pub fn is_ok(&self) -> bool {
        self.state == "running" && matches!(self.health.as_str(), "healthy" | "none")
    }
}

#[derive(Debug, Serialize)]
pub struct StackStatus {
    pub project: String,
    pub healthy: bool,
    pub services: Vec<ServiceStatus>,
}

pub async fn run(ctx: &Context, args: StatusArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    let wanted = project.select(&args.services, true)?;
    let engine = ctx.engine().await?;
    let observed = engine.observe(&project.name).await?;
    let rows = future::try_join_all(wanted.iter().map(|service| {
        let container = observed.of_service(&service.name).next();
        row(&engine, service, container)
    }))
    .await?;
    let status = StackStatus {
        project: project.name.clone(),
        healthy: rows.iter().all(ServiceStatus::is_ok),
        services: rows,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("status serializes")
        );
    } else {
        print!("{}", render_table(&status));
    }
    Ok(if status.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn row(
    engine: &Engine,
    service: &Service,
    container: Option<&ContainerFacts>,
) -> Result<ServiceStatus, Error> {
    let url = service_url(service);
    let Some(c) = container else {
        return Ok(ServiceStatus {
            service: service.name.clone(),
            container: None,
            state: "missing".to_string(),
            health: "none".to_string(),
            restarts: 0,
            oom_kills: 0,
            memory_bytes: None,
            memory_limit_bytes: None,
            url,
        });
    };
    let (memory, oom_kills) = if c.is_running() {
        tokio::try_join!(engine.memory(&c.id), engine.oom_kills(c))?
    } else {
        (None, engine.oom_kills(c).await?)
    };
    Ok(ServiceStatus {
        service: service.name.clone(),
        container: Some(c.name.clone()),
        state: c.state.clone(),
        health: c.health.clone(),
        restarts: c.restart_count,
        oom_kills,
        memory_bytes: memory.map(|m| m.bytes),
        memory_limit_bytes: c.memory_limit.or(memory.map(|m| m.limit)),
        url,
    })
}

/// The address a person opens for a service: its `dev.demo.url` label, else its first
/// published port.
pub fn service_url(service: &Service) -> Option<String> {
    service.labels.get(labels::URL).cloned().or_else(|| {
        service
            .ports
            .first()
            .map(|p| format!("{}:{}", p.host_ip, p.host_port))
    })
}

/// The table `status` prints, one line per service.
pub fn render_table(status: &StackStatus) -> String {
    let mut out = format!(
        "{:<16} {:<10} {:<10} {:>8} {:>4} {:>21}  {}\n",
        "SERVICE", "STATE", "HEALTH", "RESTARTS", "OOM", "MEMORY", "URL"
    );
    for s in &status.services {
        let memory = match (s.memory_bytes, s.memory_limit_bytes) {
            (Some(used), Some(limit)) => format!("{} / {}", human_bytes(used), human_bytes(limit)),
            (Some(used), None) => human_bytes(used),
            (None, Some(limit)) => format!("- / {}", human_bytes(limit)),
            (None, None) => "-".to_string(),
        };
        out.push_str(&format!(
            "{:<16} {:<10} {:<10} {:>8} {:>4} {:>21}  {}\n",
            s.service,
            s.state,
            s.health,
            s.restarts,
            s.oom_kills,
            memory,
            s.url.as_deref().unwrap_or("-")
        ));
    }
    let verdict = if status.healthy {
        "all running and healthy"
    } else {
        "NOT all running and healthy"
    };
    out.push_str(&format!("project {}: {verdict}\n", status.project));
    out
}
