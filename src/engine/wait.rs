//! Waits for a container to be ready: follows the engine's events, inspects on each one and
//! every half second in case an event is missed.
use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use tokio::time::{Instant, sleep_until};

use super::Engine;
use super::containers::ContainerFacts;
use super::error::EngineError;

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

enum Verdict {
    Ready,
    Waiting,
    Failed(EngineError),
}

impl Engine {
    /// Waits until container `id` of `service` is `readiness`-ready, or fails with the health
    /// output and log tail as soon as it cannot become so (exited, crashed, unhealthy).
    pub async fn wait_ready(
        &self,
        id: &str,
        service: &str,
        readiness: Readiness,
        timeout: Duration,
    ) -> Result<ContainerFacts, EngineError> {
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
            let next_poll = (Instant::now() + POLL).min(deadline);
            tokio::select! {
                _ = events.next() => {}
                _ = sleep_until(next_poll) => {}
            }
        }
    }
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
            "healthy" | "none" => Verdict::Ready,
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
    fn healthy_waits_through_starting_and_accepts_no_health_check() {
        assert!(matches!(
            judge(&facts("running", "starting", 0), Readiness::Healthy),
            Verdict::Waiting
        ));
        assert!(matches!(
            judge(&facts("running", "healthy", 0), Readiness::Healthy),
            Verdict::Ready
        ));
        assert!(matches!(
            judge(&facts("running", "none", 0), Readiness::Healthy),
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
