//! Readiness over HTTP for services whose image cannot run a health check (the collector's is
//! `FROM scratch` with only its binary): a `dev.demo.ready-url` label names a URL that answers
//! 2xx once the service is ready, and `up` polls it from this host.
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(500);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls `url` until it answers 2xx; the error says what it last answered.
pub async fn wait_http(url: &str, timeout: Duration) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        let last = match client.get(url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("{url} answered {}", response.status()),
            Err(e) => format!("{url} did not answer ({})", without_url(&e)),
        };
        if Instant::now() + POLL > deadline {
            return Err(last);
        }
        tokio::time::sleep(POLL).await;
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
