//! Test support: an in-process OTLP receiver, the real `recommendation` binary as a child
//! process, and a traced client (the load generator's own code) to call it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;

pub const FLAG_ON: &str = r#"{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {"recommendationCacheFailure": {"description": "Fail recommendation service cache", "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}"#;
pub const FLAG_OFF: &str = r#"{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {"recommendationCacheFailure": {"description": "Fail recommendation service cache", "state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}"#;

/// A span as received, with the service that sent it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub service: String,
    pub span: Span,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        find(&self.span.attributes, key)
    }
}

/// A metric as received, with the service that sent it.
#[derive(Debug, Clone)]
pub struct ReceivedMetric {
    pub service: String,
    pub metric: Metric,
}

pub fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    match resource.and_then(|r| find(&r.attributes, "service.name")) {
        Some(Value::StringValue(name)) => name.clone(),
        _ => String::new(),
    }
}

/// An OTLP/gRPC receiver for traces and metrics that keeps everything it is sent.
#[derive(Clone, Default)]
pub struct OtlpReceiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    metrics: Arc<Mutex<Vec<ReceivedMetric>>>,
}

#[tonic::async_trait]
impl TraceService for OtlpReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = service_name(resource_spans.resource.as_ref());
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push(ReceivedSpan {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for OtlpReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut metrics = self.metrics.lock().unwrap();
        for resource_metrics in request.into_inner().resource_metrics {
            let service = service_name(resource_metrics.resource.as_ref());
            for scope_metrics in resource_metrics.scope_metrics {
                for metric in scope_metrics.metrics {
                    metrics.push(ReceivedMetric {
                        service: service.clone(),
                        metric,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

impl OtlpReceiver {
    /// Starts the receiver on a free loopback port; returns it and its `http://` endpoint.
    pub async fn start() -> (Self, String) {
        let receiver = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .add_service(MetricsServiceServer::new(receiver.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        (receiver, endpoint)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.metrics.lock().unwrap().clone()
    }

    /// Waits until `ready` holds for what was received, or panics after `timeout`.
    pub async fn wait_for(&self, what: &str, timeout: Duration, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !ready(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The real `recommendation` binary, killed when dropped.
pub struct ServiceProcess {
    pub child: Child,
    pub grpc: SocketAddr,
    pub admin_port: u16,
    pub grpc_port: u16,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_recommendation")
}

/// Starts the binary on free ports with `flag_file` and exporting to `otlp_endpoint`.
pub fn spawn_service(
    flag_file: &Path,
    otlp_endpoint: &str,
    extra: &[(&str, &str)],
) -> ServiceProcess {
    let mut command = Command::new(binary());
    command
        .env_clear()
        .env("RECOMMENDATION_PORT", "0")
        .env("ADMIN_PORT", "0")
        .env("FLAGD_FILE", flag_file)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
        .env("RECOMMENDATION_SEED", "11")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in extra {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("the recommendation binary starts");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(ports) = parse_listening_line(&line) {
                    let _ = ready_tx.send(ports);
                }
                lines.lock().unwrap().push(line);
            }
        });
    }
    let (grpc_port, admin_port) = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| {
            panic!(
                "the service did not say where it listens: {:?}",
                lines.lock().unwrap()
            )
        });
    ServiceProcess {
        child,
        grpc: SocketAddr::from(([127, 0, 0, 1], grpc_port)),
        admin_port,
        grpc_port,
        stderr: lines,
    }
}

/// The ports of "serving gRPC on 0.0.0.0:P and admin on 0.0.0.0:Q; ...".
fn parse_listening_line(line: &str) -> Option<(u16, u16)> {
    let rest = line.strip_prefix("recommendation: serving gRPC on ")?;
    let (grpc, rest) = rest.split_once(" and admin on ")?;
    let admin = rest.split(';').next()?;
    let port = |address: &str| address.rsplit(':').next()?.parse().ok();
    Some((port(grpc)?, port(admin)?))
}

/// Runs the binary with `args` against the given ports and returns (exit code, stdout, stderr).
pub fn run_binary(args: &[&str], grpc_port: u16, admin_port: u16) -> (i32, String, String) {
    let output = Command::new(binary())
        .args(args)
        .env_clear()
        .env("RECOMMENDATION_PORT", grpc_port.to_string())
        .env("ADMIN_PORT", admin_port.to_string())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The running service's `/state` document.
pub fn state(service: &ServiceProcess) -> serde_json::Value {
    let (code, stdout, stderr) = run_binary(&["--state"], service.grpc_port, service.admin_port);
    assert_eq!(code, 0, "--state failed: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// A flag file in a fresh temporary directory.
pub fn flag_file(content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.flagd.json");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

/// A plain (untraced) client for the service.
pub async fn plain_client(
    address: SocketAddr,
) -> oteldemo_proto::recommendation_service_client::RecommendationServiceClient<
    tonic::transport::Channel,
> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match oteldemo_proto::recommendation_service_client::RecommendationServiceClient::connect(
            format!("http://{address}"),
        )
        .await
        {
            Ok(client) => return client,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "cannot connect to {address}: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
