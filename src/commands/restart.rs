//! `demo restart [SERVICE...]`: restarts the selected containers in dependency order (the same
//! containers: ids and labels stay), each waited on until ready by the shared readiness rule
//! before the next, one line per service. Restarting the recommendation service frees the leak's
//! list; where the service reports that list, the line says how much it held.
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::RestartArgs;
use crate::engine::ContainerFacts;
use crate::error::Error;
use crate::readiness;
use crate::service_state;

use super::Context;

/// How long a container may take to stop on SIGTERM before the engine kills it.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub async fn run(ctx: &Context, args: RestartArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    // The project's order puts dependencies first.
    let selected = project.select(&args.services, true)?;
    let engine = ctx.engine().await?;
    let observed = engine.observe(&project.name).await?;
    let mut targets: Vec<(&crate::compose::Service, &ContainerFacts)> = Vec::new();
    for service in &selected {
        match observed.of_service(&service.name).next() {
            Some(container) => targets.push((service, container)),
            None if !args.services.is_empty() => {
                return Err(Error::Stack(format!(
                    "service \"{}\" of project {} has no container; `demo up` creates it",
                    service.name, project.name
                )));
            }
            None => {}
        }
    }
    if targets.is_empty() {
        return Err(Error::Stack(format!(
            "project {} has no containers; `demo up` creates them",
            project.name
        )));
    }
    let restarting = async {
        for (service, container) in &targets {
            let leak = leak_list(&engine, container).await;
            let started = Instant::now();
            engine.restart_container(&container.id, STOP_GRACE).await?;
            let facts = readiness::wait_ready(
                &engine,
                &container.id,
                &service.name,
                readiness::condition(service),
                args.wait_timeout,
                service.healthcheck.as_ref(),
                |_| {},
            )
            .await?;
            let state = readiness::ready_word(&engine, readiness::condition(service), &facts);
            let mut line = format!(
                "{:<16} restarted, {state} in {:.1}s",
                service.name,
                started.elapsed().as_secs_f64()
            );
            if let Some(held) = leak {
                let now = leak_list(&engine, &facts).await.unwrap_or(0);
                line.push_str(&format!(
                    "; the leak's list held {held} entries, now {now} (the flag is still on: it grows again)"
                ));
            }
            println!("{line}");
        }
        Ok::<(), Error>(())
    };
    tokio::select! {
        done = restarting => done.map(|()| ExitCode::SUCCESS),
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted(
            "`demo restart` stopped; a service being restarted may still be starting, see `demo status`".to_string(),
        )),
    }
}

/// The leak's cached list length, when the service reports one and the flag is on.
async fn leak_list(engine: &crate::engine::Engine, container: &ContainerFacts) -> Option<u64> {
    if !container.is_running() {
        return None;
    }
    let state = service_state::read(engine, container).await.ok()?;
    if state.get("cache_enabled")?.as_bool()? {
        state.get("cached_ids")?.as_u64()
    } else {
        None
    }
}
