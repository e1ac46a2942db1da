//! The one readiness rule that `up`, `status`, `wait` and `restart` share.
//!
//! A service is ready when its container runs and, where it has a Docker health check, that
//! check passes: the engine says `healthy`, or, while the engine still says `starting` (engine
//! 20.10 runs its first check only one interval after the start), the same check passes when we
//! run it ourselves. A service whose image cannot run a health check (the collector's is
//! `FROM scratch` with only its binary) names a URL instead in its `dev.demo.ready-url` label,
//! which answers 2xx once it is ready; it is asked from this host, so only when the engine is
//! local (its published ports are on our loopback). From a remote engine its health is unknown.
use std::time::{Duration, Instant};

use crate::compose::{Healthcheck, Service};
use crate::engine::{ContainerFacts, Engine, EngineError, Readiness};
use crate::labels;

const POLL: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// What "ready" means for `service`: healthy where it has a health check, else running.
pub fn condition(service: &Service) -> Readiness {
    if service
        .healthcheck
        .as_ref()
        .is_some_and(|h| !h.is_disabled())
    {
        Readiness::Healthy
    } else {
        Readiness::Running
    }
}

/// The health `status` shows for a container: the engine's; `healthy` while the engine says
/// `starting` if the container's own check passes when run now; for a running container without
/// a health check that names a ready URL, `healthy`/`unhealthy` from one request to it
/// (`unknown` when the engine is remote). `none` when there is nothing to ask.
pub async fn health(engine: &Engine, facts: &ContainerFacts) -> String {
    if facts.is_running() && facts.health == "starting" {
        return match engine.check_health_now(&facts.id).await {
            Some(true) => "healthy".to_string(),
            _ => facts.health.clone(),
        };
    }
    if facts.health != "none" || !facts.is_running() {
        return facts.health.clone();
    }
    match facts.labels.get(labels::READY_URL) {
        None => "none".to_string(),
        Some(_) if !engine_is_local(engine.host()) => "unknown".to_string(),
        Some(url) => match check_http(url).await {
            Ok(()) => "healthy".to_string(),
            Err(_) => "unhealthy".to_string(),
        },
    }
}

/// Waits until container `id` of `service` is ready by the rule: the engine's record (see
/// [`Engine::wait_ready`]; `early` lets a pass of our own run of the health check count while the
/// engine still says `starting`), then its ready URL where it names one and the engine is local
/// (`asking` is told the URL first, for progress).
pub async fn wait_ready(
    engine: &Engine,
    id: &str,
    service: &str,
    readiness: Readiness,
    timeout: Duration,
    early: Option<&Healthcheck>,
    asking: impl FnOnce(&str),
) -> Result<ContainerFacts, EngineError> {
    let started = Instant::now();
    let facts = engine
        .wait_ready(id, service, readiness, timeout, early)
        .await?;
    if readiness != Readiness::Completed
        && let Some(url) = facts.labels.get(labels::READY_URL)
        && engine_is_local(engine.host())
    {
        asking(url);
        let left = timeout.saturating_sub(started.elapsed());
        wait_http(url, left)
            .await
            .map_err(|last| EngineError::NotReady {
                service: service.to_string(),
                after: timeout,
                last,
            })?;
    }
    Ok(facts)
}

/// How a container that [`wait_ready`] returned is called: `healthy` when a health check or a
/// ready URL vouched for it, else `running`.
pub fn ready_word(engine: &Engine, readiness: Readiness, facts: &ContainerFacts) -> &'static str {
    let by_url = facts.labels.contains_key(labels::READY_URL) && engine_is_local(engine.host());
    if readiness == Readiness::Healthy || by_url {
        "healthy"
    } else {
        "running"
    }
}

/// Polls `url` until it answers 2xx; the error says what it last answered.
pub async fn wait_http(url: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check_http(url).await {
            Ok(()) => return Ok(()),
            Err(last) => last,
        };
        if Instant::now() + POLL > deadline {
            return Err(last);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One request to `url`: `Ok` on 2xx, else what it answered.
async fn check_http(url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    match client.get(url).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("{url} answered {}", response.status())),
        Err(e) => Err(format!("{url} did not answer ({})", without_url(&e))),
    }
}

/// reqwest's error text without the URL, which the caller already names.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    text
}

/// Whether URLs published on this host's loopback reach the engine's containers: true for a
/// local socket, false for a remote engine (`tcp://`, `ssh://`).
pub fn engine_is_local(host: &str) -> bool {
    host.starts_with("unix://") || host.starts_with("npipe://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_socket_engines_share_our_loopback() {
        assert!(engine_is_local("unix:///var/run/docker.sock"));
        assert!(!engine_is_local("tcp://10.0.0.5:2376"));
        assert!(!engine_is_local("ssh://me@host"));
    }

    #[tokio::test]
    async fn a_port_nobody_listens_on_times_out_with_the_last_answer() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let err = wait_http(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(1200),
        )
        .await
        .unwrap_err();
        assert!(
            err.starts_with(&format!("http://127.0.0.1:{port}/ did not answer")),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
