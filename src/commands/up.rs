//! `demo up [SERVICE...] [--no-deps] [--wait-timeout D]`: converge the engine on the compose
//! file. Decide with `plan::reconcile`, then do: images, network, volumes, and containers
//! started as soon as their dependencies allow, each waited on until ready.
//!
//! Failure before every container is started (a taken port, a name clash, an image that cannot
//! be had) or Ctrl-C removes what this run created, so nothing is left half-made. A service that
//! starts but never becomes healthy is left in place for `demo status` and its logs.
use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::future;
use tokio::sync::watch;

use crate::cli::UpArgs;
use crate::compose::{Condition, Mount, Project, Service};
use crate::engine::{ContainerFacts, Engine, EngineError, ImageFacts, Observed, Readiness, spec};
use crate::error::Error;
use crate::images;
use crate::plan::{self, Action, Step};
use crate::readiness;
use crate::signals::endpoints::service_url;

use super::Context;

/// How far a service has come, for the services that depend on it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Pending,
    Started(String),
    Ready(String),
}

pub async fn run(ctx: &Context, args: UpArgs) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let project = ctx.load()?;
    let selected = project.select(&args.services, args.no_deps)?;
    let engine = ctx.engine().await?;
    let before = engine.observe(&project.name).await?;
    let outcome = tokio::select! {
        outcome = converge(ctx, &engine, &project, &selected, &before, args.wait_timeout) => outcome,
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted(String::new())),
    };
    match outcome {
        Ok(ready) => {
            print_summary(&selected, &ready, started.elapsed());
            Ok(ExitCode::SUCCESS)
        }
        Err(err) if is_wait_failure(&err) => Err(err),
        Err(err) => {
            let removed = roll_back(&engine, &project.name, &before).await;
            Err(match err {
                Error::Interrupted(_) => Error::Interrupted(format!(
                    "`demo up` stopped and removed the {removed} object(s) it had created; run it again to start the stack"
                )),
                other => other,
            })
        }
    }
}

/// A service started but did not become ready: its container stays for inspection.
fn is_wait_failure(err: &Error) -> bool {
    matches!(
        err,
        Error::Engine(
            EngineError::Unhealthy { .. }
                | EngineError::Exited { .. }
                | EngineError::WaitTimeout { .. }
                | EngineError::NotReady { .. }
        )
    )
}

async fn converge(
    ctx: &Context,
    engine: &Engine,
    project: &Project,
    selected: &[&Service],
    before: &Observed,
    timeout: Duration,
) -> Result<HashMap<String, (ContainerFacts, &'static str)>, Error> {
    let present = future::try_join_all(selected.iter().map(|s| engine.image(&s.image))).await?;
    let present: HashMap<&str, ImageFacts> = selected
        .iter()
        .zip(present)
        .filter_map(|(s, facts)| facts.map(|f| (s.name.as_str(), f)))
        .collect();
    let steps = plan::reconcile(selected, before, |s| {
        present.get(s.name.as_str()).map(|f| f.id.clone())
    });
    let to_create: Vec<&Service> = selected
        .iter()
        .zip(&steps)
        .filter(|(_, step)| !matches!(step.action, Action::Keep { .. }))
        .map(|(service, _)| *service)
        .collect();
    let images = images::ensure(engine, &to_create, &ctx.progress).await?;

    engine
        .ensure_network(&project.name, &before.networks)
        .await?;
    let volumes: HashSet<&str> = selected
        .iter()
        .flat_map(|s| &s.mounts)
        .filter_map(|m| match m {
            Mount::Volume { name, .. } => Some(name.as_str()),
            Mount::Bind { .. } => None,
        })
        .collect();
    for volume in volumes {
        engine
            .ensure_volume(&project.name, volume, &before.volumes)
            .await?;
    }

    let channels: HashMap<&str, (watch::Sender<Phase>, watch::Receiver<Phase>)> = steps
        .iter()
        .map(|step| (step.service.as_str(), watch::channel(Phase::Pending)))
        .collect();
    let runs = selected.iter().zip(&steps).map(|(service, step)| {
        let image = images.get(&service.name);
        bring_up(
            ctx, engine, project, service, step, image, &channels, timeout,
        )
    });
    let ready = future::try_join_all(runs).await?;
    Ok(ready.into_iter().collect())
}

/// One service: wait for its dependencies, (re)create and start it unless kept, wait until it
/// is ready, and tell its dependents at each stage.
#[allow(clippy::too_many_arguments)]
async fn bring_up(
    ctx: &Context,
    engine: &Engine,
    project: &Project,
    service: &Service,
    step: &Step,
    image: Option<&ImageFacts>,
    channels: &HashMap<&str, (watch::Sender<Phase>, watch::Receiver<Phase>)>,
    timeout: Duration,
) -> Result<(String, (ContainerFacts, &'static str)), Error> {
    let mut task = ctx.progress.task(&service.name);
    // Creating needs nothing from the dependencies, only starting does: create at once.
    let (created, id_kept) = match &step.action {
        Action::Keep { id } => (None, Some(id.clone())),
        Action::Create | Action::Recreate { .. } => {
            if let Action::Recreate { old } = &step.action {
                task.stage(&format!("removing the old container ({})", step.cause));
                future::try_join_all(old.iter().map(|id| engine.remove_container(id))).await?;
            }
            let image = image.expect("images are ensured for every service to create");
            task.stage("creating");
            let name = spec::container_name(&project.name, &service.name);
            let id = engine
                .create_container(&name, spec::container_body(project, service, &image.id))
                .await?;
            if !service.configs.is_empty() {
                task.stage("copying configs");
                engine.copy_configs(&id, service).await?;
            }
            (Some(id), None)
        }
    };
    for dependency in &service.depends_on {
        // Not selected (`--no-deps`, or a dependency outside the named services): not waited on.
        let Some((_, receiver)) = channels.get(dependency.service.as_str()) else {
            continue;
        };
        task.stage(&format!("waiting for {}", dependency.service));
        let mut receiver = receiver.clone();
        let phase = receiver
            .wait_for(|phase| match dependency.condition {
                Condition::ServiceStarted | Condition::ServiceCompletedSuccessfully => {
                    *phase != Phase::Pending
                }
                Condition::ServiceHealthy => matches!(phase, Phase::Ready(_)),
            })
            .await
            .map(|phase| phase.clone())
            // `converge` holds every sender until all services are done: never closed here.
            .expect("the dependency's sender outlives its dependents");
        if dependency.condition == Condition::ServiceCompletedSuccessfully
            && let Phase::Started(id) | Phase::Ready(id) = phase
        {
            engine
                .wait_ready(
                    &id,
                    &dependency.service,
                    Readiness::Completed,
                    timeout,
                    None,
                )
                .await?;
        }
    }

    let id = match created {
        Some(id) => {
            task.stage("starting");
            engine.start_container(&id, service).await?;
            id
        }
        None => id_kept.expect("a kept step names its container"),
    };
    let (sender, _) = &channels[service.name.as_str()];
    sender.send_replace(Phase::Started(id.clone()));

    let readiness = readiness::condition(service);
    task.stage(if readiness == Readiness::Healthy {
        "waiting until healthy"
    } else {
        "waiting until running"
    });
    let waited = Instant::now();
    let facts = readiness::wait_ready(
        engine,
        &id,
        &service.name,
        readiness,
        timeout,
        service.healthcheck.as_ref(),
        |url| task.stage(&format!("waiting for {url}")),
    )
    .await?;
    // Ready by the shared rule: the engine says healthy, or its own check passed when we ran
    // it before the engine's first scheduled one; `status` applies the same rule, so agrees.
    sender.send_replace(Phase::Ready(id.clone()));
    let state = readiness::ready_word(engine, readiness, &facts);
    let how = match step.action {
        Action::Keep { .. } => "unchanged".to_string(),
        Action::Create => format!("created, {state} in {:.1}s", waited.elapsed().as_secs_f64()),
        Action::Recreate { .. } => {
            format!(
                "recreated ({}), {state} in {:.1}s",
                step.cause,
                waited.elapsed().as_secs_f64()
            )
        }
    };
    task.finish(&how);
    Ok((service.name.clone(), (facts, state)))
}

/// Removes every labelled object of the project that was not there before this run, including
/// any whose creation was in flight when the run stopped. Returns how many it removed.
async fn roll_back(engine: &Engine, project: &str, before: &Observed) -> usize {
    let old_containers: HashSet<&str> = before.containers.iter().map(|c| c.id.as_str()).collect();
    let mut removed = 0;
    // A create cancelled mid-request may still land in the engine: look twice.
    for pass in 0..2 {
        if pass > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let Ok(now) = engine.observe(project).await else {
            return removed;
        };
        let containers = now
            .containers
            .iter()
            .filter(|c| !old_containers.contains(c.id.as_str()));
        let results = future::join_all(containers.map(|c| engine.remove_container(&c.id))).await;
        removed += results.iter().filter(|r| r.is_ok()).count();
        for id in now
            .networks
            .iter()
            .filter(|id| !before.networks.contains(id))
        {
            removed += usize::from(engine.remove_network(id).await.is_ok());
        }
        for name in now.volumes.iter().filter(|v| !before.volumes.contains(v)) {
            removed += usize::from(engine.remove_volume(name).await.is_ok());
        }
    }
    removed
}

fn print_summary(
    selected: &[&Service],
    ready: &HashMap<String, (ContainerFacts, &'static str)>,
    elapsed: Duration,
) {
    for service in selected {
        let state = ready
            .get(&service.name)
            .map(|(_, state)| *state)
            .unwrap_or("?");
        let url = service_url(service).unwrap_or_else(|| "-".to_string());
        println!("{:<16} {:<8} {url}", service.name, state);
    }
    println!(
        "{} service(s) up in {:.1}s",
        selected.len(),
        elapsed.as_secs_f64()
    );
}
