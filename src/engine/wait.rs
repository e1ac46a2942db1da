//! Waits for a container to be ready: follows the engine's events, inspects on each one and
//! every half second in case an event is missed.
//!
//! The engine runs a container's first health check one full interval after it starts (engine
//! 20.10 has no `start_interval`), so a dependency chain would wait an interval per level.
//! While the engine still says `starting`, we run the same health-check command ourselves
//! every quarter second; a pass makes the container ready for its dependents (the caller then
//! waits for the engine to agree before calling the service healthy).
use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use tokio::time::{Instant, sleep_until};

use super::Engine;
use super::containers::ContainerFacts;
use super::error::EngineError;
use crate::compose::Healthcheck;

/// What "ready" means for one container, from compose's `depends_on` conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Running (a service without a health check, or `service_started`).
    Running,
    /// Its health check passes.
    Healthy,
    /// It ran to completion with exit code 0.
    Completed,
}

/// Lines of log shown under a wait failure.
const LOG_TAIL: usize = 15;
const POLL: Duration = Duration::from_millis(500);
/// How often our own run of the health check repeats while the engine says `starting`.
const PROBE_POLL: Duration = Duration::from_millis(250);

enum Verdict {
    Ready,
    Waiting,
    Failed(EngineError),
}

impl Engine {
    /// Waits until container `id` of `service` is `readiness`-ready, or fails with the health
    /// output and log tail as soon as it cannot become so (exited, crashed, unhealthy).
    /// `healthcheck` is the service's own check, run early while the engine says `starting`; a
    /// pass returns at once, with the engine's health still `starting` in the facts.
    pub async fn wait_ready(
        &self,
        id: &str,
        service: &str,
        readiness: Readiness,
        timeout: Duration,
        healthcheck: Option<&Healthcheck>,
    ) -> Result<ContainerFacts, EngineError> {
        let probe = healthcheck.and_then(|h| probe_command(&h.test, h.timeout));
        let deadline = Instant::now() + timeout;
        let filters = HashMap::from([
            ("container".to_string(), vec![id.to_string()]),
            ("type".to_string(), vec!["container".to_string()]),
        ]);
        let mut events = self.docker.events(Some(EventsOptions {
            filters: Some(filters),
            ..Default::default()
        }));
        loop {
            let Some(facts) = self.inspect(id).await? else {
                return Err(EngineError::Vanished {
                    service: service.to_string(),
                });
            };
            match judge(&facts, readiness) {
                Verdict::Ready => return Ok(facts),
                Verdict::Waiting
                    if readiness == Readiness::Healthy
                        && facts.is_running()
                        && facts.health == "starting"
                        && let Some((command, limit)) = &probe =>
                {
                    if self.probe(id, command, *limit).await {
                        // Ready for dependents; the engine's own record still says `starting`.
                        return Ok(facts);
                    }
                }
                Verdict::Failed(mut err) => {
                    let tail = self.log_tail(id, LOG_TAIL).await;
                    match &mut err {
                        EngineError::Unhealthy { log_tail, .. }
                        | EngineError::Exited { log_tail, .. } => *log_tail = tail,
                        _ => {}
                    }
                    return Err(err);
                }
                Verdict::Waiting => {}
            }
            if Instant::now() >= deadline {
                return Err(EngineError::WaitTimeout {
                    service: service.to_string(),
                    after: timeout,
                    health: facts.health_output,
                    log_tail: self.log_tail(id, LOG_TAIL).await,
                });
            }
            let poll = if probe.is_some() && readiness == Readiness::Healthy {
                PROBE_POLL
            } else {
                POLL
            };
            let next_poll = (Instant::now() + poll).min(deadline);
            tokio::select! {
                _ = events.next() => {}
                _ = sleep_until(next_poll) => {}
            }
        }
    }
}

impl Engine {
    /// Runs a health-check command in the container; passes on exit code 0 within `limit`.
    async fn probe(&self, id: &str, command: &[String], limit: Duration) -> bool {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        matches!(
            tokio::time::timeout(limit, self.exec(id, &args)).await,
            Ok(Ok((0, _)))
        )
    }
}

impl Engine {
    /// Runs container `id`'s own health check once, as the engine would, and says whether it
    /// passed; `None` when the container has no health check (or is gone). The readiness rule
    /// counts a pass while the engine's first scheduled check is still to come.
    pub async fn check_health_now(&self, id: &str) -> Option<bool> {
        let inspect = self.docker.inspect_container(id, None).await.ok()?;
        let check = inspect.config?.healthcheck?;
        let timeout = check
            .timeout
            .filter(|t| *t > 0)
            .map_or(DEFAULT_CHECK_TIMEOUT, |ns| Duration::from_nanos(ns as u64));
        let (command, limit) = probe_command(&check.test?, timeout)?;
        Some(self.probe(id, &command, limit).await)
    }
}

/// The engine's health-check timeout when the container names none.
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// The command a health check runs and its time limit, as the engine would run it.
fn probe_command(test: &[String], timeout: Duration) -> Option<(Vec<String>, Duration)> {
    let command = match test.split_first()? {
        (kind, args) if kind == "CMD" && !args.is_empty() => args.to_vec(),
        (kind, [line]) if kind == "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), line.clone()],
        _ => return None,
    };
    Some((command, timeout))
}

fn judge(facts: &ContainerFacts, readiness: Readiness) -> Verdict {
    let service = facts.service.clone();
    let exited = || {
        Verdict::Failed(EngineError::Exited {
            service: service.clone(),
            code: facts.exit_code,
            oom: facts.oom_killed,
            log_tail: String::new(),
        })
    };
    match (readiness, facts.state.as_str()) {
        (Readiness::Completed, "exited") if facts.exit_code == 0 => Verdict::Ready,
        (_, "exited" | "dead") => exited(),
        // Restarting after a start means it died: say so now rather than at the timeout.
        (Readiness::Running | Readiness::Healthy, "restarting") => exited(),
        (Readiness::Running, "running") => Verdict::Ready,
        (Readiness::Healthy, "running") => match facts.health.as_str() {
            "healthy" => Verdict::Ready,
            // Just started: the engine has not begun its health monitoring yet.
            "none" => Verdict::Waiting,
            "unhealthy" => Verdict::Failed(EngineError::Unhealthy {
                service,
                health: facts.health_output.clone(),
                log_tail: String::new(),
            }),
            _ => Verdict::Waiting,
        },
        _ => Verdict::Waiting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: &str, health: &str, exit_code: i64) -> ContainerFacts {
        ContainerFacts {
            id: "id".into(),
            name: "p-svc-1".into(),
            service: "svc".into(),
            labels: HashMap::new(),
            state: state.into(),
            health: health.into(),
            health_output: String::new(),
            exit_code,
            oom_killed: false,
            restart_count: 0,
            memory_limit: None,
            image_id: String::new(),
            created: String::new(),
            entrypoint: Vec::new(),
        }
    }

    #[test]
    fn healthy_waits_until_the_engine_has_a_passing_check() {
        assert!(matches!(
            judge(&facts("running", "starting", 0), Readiness::Healthy),
            Verdict::Waiting
        ));
        assert!(matches!(
            judge(&facts("running", "healthy", 0), Readiness::Healthy),
            Verdict::Ready
        ));
        // Right after start the engine may not report health at all yet.
        assert!(matches!(
            judge(&facts("running", "none", 0), Readiness::Healthy),
            Verdict::Waiting
        ));
        assert!(matches!(
            judge(&facts("running", "none", 0), Readiness::Running),
            Verdict::Ready
        ));
        assert!(matches!(
            judge(&facts("created", "none", 0), Readiness::Running),
            Verdict::Waiting
        ));
    }

    #[test]
    fn exits_crashes_and_unhealthy_fail_at_once() {
        assert!(matches!(
            judge(&facts("exited", "none", 3), Readiness::Running),
            Verdict::Failed(EngineError::Exited { code: 3, .. })
        ));
        assert!(matches!(
            judge(&facts("restarting", "none", 137), Readiness::Healthy),
            Verdict::Failed(EngineError::Exited { code: 137, .. })
        ));
        assert!(matches!(
            judge(&facts("running", "unhealthy", 0), Readiness::Healthy),
            Verdict::Failed(EngineError::Unhealthy { .. })
        ));
    }

    #[test]
    fn probes_run_the_health_check_as_the_engine_would() {
        let check = |test: &[&str]| {
            let test: Vec<String> = test.iter().map(|s| s.to_string()).collect();
            probe_command(&test, Duration::from_secs(3))
        };
        assert_eq!(
            check(&["CMD", "/recommendation", "--healthcheck"]),
            Some((
                vec!["/recommendation".into(), "--healthcheck".into()],
                Duration::from_secs(3)
            ))
        );
        assert_eq!(
            check(&["CMD-SHELL", "wget -q localhost"]).unwrap().0,
            ["/bin/sh", "-c", "wget -q localhost"]
        );
        assert_eq!(check(&["NONE"]), None);
        assert_eq!(check(&["CMD"]), None);
    }

    #[test]
    fn completion_needs_exit_code_zero() {
        assert!(matches!(
            judge(&facts("exited", "none", 0), Readiness::Completed),
            Verdict::Ready
        ));
        assert!(matches!(
            judge(&facts("running", "none", 0), Readiness::Completed),
            Verdict::Waiting
        ));
        assert!(matches!(
            judge(&facts("exited", "none", 1), Readiness::Completed),
            Verdict::Failed(_)
        ));
    }
}
