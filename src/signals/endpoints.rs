//! Where the stack's telemetry back ends listen from the host, as the compose file publishes
//! them: its `dev.demo.url` labels, else the published port of the service's API.
use serde::Serialize;

use crate::compose::{Project, Service};
use crate::labels;

/// Service names in the compose file.
pub const PROMETHEUS: &str = "prometheus";
pub const JAEGER: &str = "jaeger";
pub const GRAFANA: &str = "grafana";

/// The container ports the APIs listen on, for a service without a URL label.
const PROMETHEUS_PORT: u16 = 9090;
const JAEGER_PORT: u16 = 16686;
const GRAFANA_PORT: u16 = 3000;

/// The recommendation dashboard's path in Grafana (its uid and slug, dashboards/recommendation.json).
pub const GRAFANA_DASHBOARD_PATH: &str = "/d/demo-recommendation/recommendation-service";

/// Base URLs, `None` for a back end the compose file does not have or does not publish.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    /// `http://127.0.0.1:9090`.
    pub prometheus: Option<String>,
    /// The Jaeger UI and API base, `http://127.0.0.1:16686`.
    pub jaeger: Option<String>,
    /// The recommendation dashboard.
    pub grafana_dashboard: Option<String>,
}

impl Endpoints {
    pub fn of(project: &Project) -> Self {
        let service = |name: &str| project.service(name);
        Endpoints {
            prometheus: service(PROMETHEUS).and_then(|s| base_url(s, PROMETHEUS_PORT)),
            jaeger: service(JAEGER).and_then(|s| base_url(s, JAEGER_PORT)),
            grafana_dashboard: service(GRAFANA).and_then(|s| {
                s.labels.get(labels::URL).cloned().or_else(|| {
                    base_url(s, GRAFANA_PORT).map(|base| format!("{base}{GRAFANA_DASHBOARD_PATH}"))
                })
            }),
        }
    }
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

/// The service's URL label, else `http://HOST_IP:HOST_PORT` of the port publishing
/// `container_port` (a wildcard address reached through loopback).
fn base_url(service: &Service, container_port: u16) -> Option<String> {
    if let Some(url) = service.labels.get(labels::URL) {
        return Some(url.trim_end_matches('/').to_string());
    }
    let port = service
        .ports
        .iter()
        .find(|p| p.container_port == container_port)?;
    let host = match port.host_ip.as_str() {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        ip if ip.contains(':') => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Some(format!("http://{host}:{}", port.host_port))
}
