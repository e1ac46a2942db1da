//! Prometheus's active alerts (`/api/v1/alerts`): what the rules in compose/prometheus/alerts.yml say now, for `status` and `diagnose`.
//!
//! The answer, the same in 2.42 and 3.x: `{"status":"success","data":{"alerts":[{"labels":
//! {"alertname":…,…},"annotations":{"summary":…},"state":"firing"|"pending","activeAt":
//! "2026-11-30T20:06:19.5Z","value":"…"}]}}`. Inactive alerts are not listed.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::SignalError;
use super::names;
use super::prometheus::Prometheus;

/// One active alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub name: String,
    /// `firing`, or `pending` (the condition holds, its `for:` has not run out yet).
    pub state: String,
    /// The service it is about, when the rule keeps `service_name`.
    pub service: Option<String>,
    pub summary: Option<String>,
    /// When the condition started to hold (RFC 3339, as Prometheus gives it).
    pub active_at: Option<String>,
}

impl Alert {
    pub fn is_firing(&self) -> bool {
        self.state == "firing"
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.state)?;
        if let Some(since) = &self.active_at {
            write!(f, " since {since}")?;
        }
        if let Some(summary) = &self.summary {
            write!(f, ": {summary}")?;
        }
        Ok(())
    }
}

impl Prometheus {
    /// The active alerts, firing first, then by name.
    pub async fn alerts(&self) -> Result<Vec<Alert>, SignalError> {
        let data: RawData = self.api("api/v1/alerts", &[]).await?;
        Ok(from_raw(data))
    }
}

#[derive(Debug, Deserialize)]
struct RawData {
    #[serde(default)]
    alerts: Vec<RawAlert>,
}

#[derive(Debug, Deserialize)]
struct RawAlert {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    state: String,
    #[serde(rename = "activeAt")]
    active_at: Option<String>,
}

fn from_raw(data: RawData) -> Vec<Alert> {
    let mut alerts: Vec<Alert> = data
        .alerts
        .into_iter()
        .map(|a| Alert {
            name: a.labels.get("alertname").cloned().unwrap_or_default(),
            state: a.state,
            service: a.labels.get(names::LABEL_SERVICE_NAME).cloned(),
            // One line: the rules fold their summaries, but a hand-written rule may not.
            summary: a
                .annotations
                .get("summary")
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            active_at: a.active_at,
        })
        .collect();
    alerts.sort_by(|a, b| {
        (!a.is_firing(), &a.name, &a.service).cmp(&(!b.is_firing(), &b.name, &b.service))
    });
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firing_alerts_come_first_with_their_summary_on_one_line() {
        let body = r#"{"alerts":[
          {"labels":{"alertname":"DemoLatencyAboveBaseline","service_name":"recommendation","severity":"warning"},
           "annotations":{"summary":"slow"},"state":"pending","activeAt":"2026-11-30T20:07:00Z","value":"1e+02"},
          {"labels":{"alertname":"DemoMemoryLeak","service_name":"recommendation","severity":"warning"},
           "annotations":{"summary":"recommendation's memory is\nclimbing"},"state":"firing","activeAt":"2026-11-30T20:06:19.5Z","value":"8e+07"}]}"#;
        let alerts = from_raw(serde_json::from_str(body).unwrap());
        assert_eq!(alerts.len(), 2);
        assert!(alerts[0].is_firing());
        assert_eq!(
            alerts[0].to_string(),
            "DemoMemoryLeak (firing) since 2026-11-30T20:06:19.5Z: recommendation's memory is climbing"
        );
        assert_eq!(alerts[1].service.as_deref(), Some("recommendation"));
        assert!(!alerts[1].is_firing());
    }
}
