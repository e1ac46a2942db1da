//! `demo wait [SERVICE...] [--until running|healthy] [--timeout D] [--json]`: blocks until the
//! condition holds for every selected service, by the readiness rule `up` uses, following the
//! engine's events. Exit 0 when it holds, 3 when a service exited or is unhealthy, 4 on timeout.
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::future;
use serde::Serialize;

use crate::cli::{Until, WaitArgs};
use crate::compose::Service;
use crate::engine::{Engine, EngineError, Readiness, indent_block};
use crate::error::Error;
use crate::readiness;

use super::Context;

/// How often a service without a container yet is looked for again.
const POLL: Duration = Duration::from_millis(500);

/// The final state of one service, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Final {
    service: String,
    state: String,
    health: String,
    ready: bool,
    /// Why it is not ready, when it is not.
    error: Option<String>,
}

/// How one service's wait ended.
enum Outcome {
    Ready,
    Failed(String),
    TimedOut(String),
}

pub async fn run(ctx: &Context, args: WaitArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    let mut selected = project.select(&args.services, true)?;
    let engine = ctx.engine().await?;
    if args.services.is_empty() {
        // Every service that has a container; none yet means `demo up` is still to create them
        // (it creates them all at once), so then wait for every service to appear.
        let observed = engine.observe(&project.name).await?;
        if !observed.containers.is_empty() {
            selected.retain(|s| observed.of_service(&s.name).next().is_some());
        }
    }
    let waits = selected
        .iter()
        .map(|service| wait_one(&engine, &project.name, service, args.until, args.timeout));
    let outcomes = tokio::select! {
        outcomes = future::join_all(waits) => outcomes,
        _ = tokio::signal::ctrl_c() => return Err(Error::Interrupted(
            "`demo wait` stopped; nothing was changed".to_string(),
        )),
    };
    let observed = engine.observe(&project.name).await?;
    let mut finals = Vec::new();
    for (service, outcome) in selected.iter().zip(&outcomes) {
        let container = observed.of_service(&service.name).next();
        let health = match container {
            Some(c) => readiness::health(&engine, c).await,
            None => "none".to_string(),
        };
        finals.push(Final {
            service: service.name.clone(),
            state: container.map_or("missing".to_string(), |c| c.state.clone()),
            health,
            ready: matches!(outcome, Outcome::Ready),
            error: match outcome {
                Outcome::Ready => None,
                Outcome::Failed(e) | Outcome::TimedOut(e) => Some(e.clone()),
            },
        });
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&finals).expect("states serialize")
        );
    } else {
        for f in finals.iter().filter(|f| f.ready) {
            println!("{:<16} {:<8} {}", f.service, f.state, f.health);
        }
    }
    // A service that cannot become ready outranks one that was merely slow.
    let failed = outcomes.iter().find_map(|o| match o {
        Outcome::Failed(e) => Some(e.clone()),
        _ => None,
    });
    let timed_out = outcomes.iter().find_map(|o| match o {
        Outcome::TimedOut(e) => Some(e.clone()),
        _ => None,
    });
    match (failed, timed_out) {
        (Some(e), _) => Err(Error::ServiceFailed(e)),
        (None, Some(e)) => Err(Error::WaitTimeout(e)),
        (None, None) => Ok(ExitCode::SUCCESS),
    }
}

/// Waits for one service: its container to appear (`demo up` may be running beside us), then
/// the condition.
async fn wait_one(
    engine: &Engine,
    project: &str,
    service: &Service,
    until: Until,
    timeout: Duration,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let condition = match until {
        Until::Running => Readiness::Running,
        Until::Healthy => readiness::condition(service),
    };
    let word = match condition {
        Readiness::Healthy => "healthy",
        _ => "running",
    };
    let name = &service.name;
    let id = loop {
        match engine.observe(project).await {
            Ok(observed) => {
                if let Some(c) = observed.of_service(name).next() {
                    break c.id.clone();
                }
            }
            Err(e) => return Outcome::Failed(e.to_string()),
        }
        if Instant::now() + POLL > deadline {
            return Outcome::TimedOut(format!(
                "service \"{name}\" has no container after {}; `demo up` creates it",
                humantime::format_duration(timeout)
            ));
        }
        tokio::time::sleep(POLL).await;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let early = service.healthcheck.as_ref();
    let waited = match until {
        // Running only: no health check and no ready URL asked.
        Until::Running => {
            engine
                .wait_ready(&id, name, Readiness::Running, left, None)
                .await
        }
        Until::Healthy => {
            readiness::wait_ready(engine, &id, name, condition, left, early, |_| {}).await
        }
    };
    match waited {
        Ok(_) => Outcome::Ready,
        Err(EngineError::WaitTimeout {
            health, log_tail, ..
        }) => Outcome::TimedOut(format!(
            "service \"{name}\" was not {word} within --timeout; raise it or see `demo logs {name}`{}{}",
            indent_block("health check", &health),
            indent_block("log tail", &log_tail)
        )),
        Err(EngineError::NotReady { last, .. }) => Outcome::TimedOut(format!(
            "service \"{name}\" was not ready within --timeout: {last}; raise it or see `demo logs {name}`"
        )),
        Err(e) => Outcome::Failed(format!("{e}")),
    }
}
