//! The OTLP/gRPC trace and metric pipelines, configured from the standard `OTEL_*` variables.
//!
//! Spans go through the SDK's batch processor and metrics through its periodic reader, both on
//! their own threads: a request only hands a finished span to a bounded queue, so a slow or
//! absent collector never blocks, slows or fails a request (spans are dropped when the queue
//! is full).

use std::time::Duration;

use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// How often metrics are exported unless `OTEL_METRIC_EXPORT_INTERVAL` says otherwise: the
/// stack scrapes every 5 s, so fresher data would not be seen and staler data would lag.
pub const DEFAULT_METRIC_EXPORT_INTERVAL: Duration = Duration::from_secs(5);

/// How long a stop waits for the last exports.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// Which signals a service exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    TracesOnly,
    TracesAndMetrics,
}

/// The service's tracer and meter providers; flush and stop them with [`Telemetry::shutdown`].
#[derive(Debug)]
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
}

impl Telemetry {
    /// Builds the pipelines. Must run inside a Tokio runtime (the gRPC channel lives there).
    ///
    /// `default_service_name` applies unless `OTEL_SERVICE_NAME` or a `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES` names the service. With `OTEL_SDK_DISABLED=true` nothing is
    /// exported, but spans and instruments still work.
    pub fn init(default_service_name: &str, signals: Signals) -> Result<Self, String> {
        Self::init_with_endpoint(default_service_name, signals, None)
    }

    /// Like [`Telemetry::init`], with the collector's endpoint given instead of read from
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (tests point two in-process services at one receiver).
    pub fn init_with_endpoint(
        default_service_name: &str,
        signals: Signals,
        endpoint: Option<&str>,
    ) -> Result<Self, String> {
        let resource = resource(default_service_name);
        let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim() == "true");

        let mut tracer_provider = SdkTracerProvider::builder().with_resource(resource.clone());
        if !disabled {
            let mut builder = SpanExporter::builder().with_tonic();
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            let exporter = builder
                .build()
                .map_err(|error| format!("cannot set up the OTLP span exporter: {error}"))?;
            tracer_provider = tracer_provider.with_batch_exporter(exporter);
        }

        let mut meter_provider = SdkMeterProvider::builder().with_resource(resource);
        if !disabled && signals == Signals::TracesAndMetrics {
            let mut builder = MetricExporter::builder().with_tonic();
            if let Some(endpoint) = endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            let exporter = builder
                .with_temporality(Temporality::Cumulative)
                .build()
                .map_err(|error| format!("cannot set up the OTLP metric exporter: {error}"))?;
            let mut reader = PeriodicReader::builder(exporter);
            if std::env::var_os("OTEL_METRIC_EXPORT_INTERVAL").is_none() {
                reader = reader.with_interval(DEFAULT_METRIC_EXPORT_INTERVAL);
            }
            meter_provider = meter_provider.with_reader(reader.build());
        }

        Ok(Self {
            tracer_provider: tracer_provider.build(),
            meter_provider: meter_provider.build(),
        })
    }

    /// A tracer whose spans carry `scope` as their instrumentation scope.
    pub fn tracer(&self, scope: &'static str) -> SdkTracer {
        self.tracer_provider.tracer(scope)
    }

    /// A meter whose instruments carry `scope` as their instrumentation scope.
    pub fn meter(&self, scope: &'static str) -> Meter {
        self.meter_provider.meter(scope)
    }

    /// Exports what is pending and stops the exporter threads, giving up after
    /// [`SHUTDOWN_TIMEOUT`] per signal so that an absent collector cannot stall a stop.
    pub fn shutdown(&self) {
        let _ = self.tracer_provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        let _ = self.meter_provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
    }

    /// Exports what is pending now (the tests use it instead of waiting for the next cycle).
    pub fn flush(&self) {
        let _ = self.tracer_provider.force_flush();
        let _ = self.meter_provider.force_flush();
    }
}

/// The resource from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, with our default name.
fn resource(default_service_name: &str) -> Resource {
    let named_by_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|attributes| {
            attributes
                .split(',')
                .any(|pair| pair.trim_start().starts_with("service.name="))
        });
    let builder = Resource::builder();
    if named_by_env {
        builder.build()
    } else {
        builder
            .with_service_name(default_service_name.to_string())
            .build()
    }
}

/// The endpoint the exporters will use, for the start-up log line.
pub fn configured_endpoint() -> String {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://localhost:4317 (default)".to_string())
}
