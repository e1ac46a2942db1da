//! The load generator's admin endpoint: `GET /state`, read by `--state` and `--healthcheck`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use service_common::admin_http::Renderer;

use crate::stats::TrafficStats;

/// The health check fails once the heartbeat is older than this: the runtime is stuck.
pub const HEARTBEAT_STALE_AFTER: Duration = Duration::from_secs(5);
/// How often the heartbeat task beats.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);

/// What `/state` is rendered from.
#[derive(Debug, Clone)]
pub struct AdminView {
    pub stats: Arc<TrafficStats>,
    pub target: String,
    pub rate: f64,
}

impl AdminView {
    pub fn state(&self) -> Value {
        let stats = &self.stats;
        json!({
            "target": self.target,
            "rate": self.rate,
            "sent": TrafficStats::read(&stats.sent),
            "succeeded": TrafficStats::read(&stats.succeeded),
            "failed": TrafficStats::read(&stats.failed),
            "skipped": TrafficStats::read(&stats.skipped),
            "in_flight": TrafficStats::read(&stats.in_flight),
            "last_error": stats.last_error(),
            "heartbeat_age_seconds": stats.heartbeat_age().as_secs_f64(),
            "uptime_seconds": stats.started.elapsed().as_secs_f64(),
            "version": env!("CARGO_PKG_VERSION"),
        })
    }

    pub fn renderer(self) -> Renderer {
        Arc::new(move |path: &str| (path == "/state").then(|| self.state().to_string()))
    }
}

/// Beats forever; a runtime that stops running tasks stops beating.
pub async fn heartbeat(stats: Arc<TrafficStats>) {
    let mut ticker = tokio::time::interval(HEARTBEAT_PERIOD);
    loop {
        ticker.tick().await;
        stats.beat();
    }
}

/// `--healthcheck`'s verdict on a `/state` body: healthy while the heartbeat is fresh.
pub fn judge(state_body: &str) -> Result<(), String> {
    let state: Value = serde_json::from_str(state_body)
        .map_err(|error| format!("the admin endpoint sent no JSON: {error}"))?;
    let age = state
        .get("heartbeat_age_seconds")
        .and_then(Value::as_f64)
        .ok_or("the admin endpoint's state has no heartbeat_age_seconds")?;
    if age <= HEARTBEAT_STALE_AFTER.as_secs_f64() {
        Ok(())
    } else {
        Err(format!("no heartbeat for {age:.1} s"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_heartbeat_is_healthy_a_stale_one_is_not() {
        let view = AdminView {
            stats: Arc::new(TrafficStats::default()),
            target: "recommendation:9001".into(),
            rate: 1.0,
        };
        assert_eq!(judge(&view.state().to_string()), Ok(()));
        assert!(
            judge(r#"{"heartbeat_age_seconds": 9.5}"#)
                .unwrap_err()
                .contains("9.5")
        );
        assert!(judge("not json").is_err());
        assert!(judge("{}").is_err());
    }
}
