//! Every metric name our pipeline emits, as Prometheus holds it: the one list dashboards are checked against.
//!
//! The names follow from three facts about the pinned stack (compose/otel-collector/config.yaml
//! says where each was read):
//!
//! - the collector's `prometheus` exporter translates OTLP names with the
//!   `UnderscoreEscapingWithSuffixes` strategy: dots become underscores, the unit is appended as
//!   a word (`By` → `bytes`, `s` → `seconds`; annotations in braces such as `{span}` are
//!   dropped; nothing is appended when the name already contains the word) and monotonic sums
//!   get `_total`;
//! - the span metrics connector keeps its default namespace `traces.span.metrics` and unit `ms`;
//! - the collector's own telemetry is read by a pull reader that keeps units and `_total`.
//!
//! `tests/it/pipeline.rs` fails when a dashboard query selects a name that is not in [`ALL`] or
//! uses a label that is not in [`LABELS`]; the CLI's Prometheus queries use these constants.

// ---- Span metrics (span_metrics connector, collector-contrib 0.157) ----

/// Calls per span: the connector's `calls` sum (namespace `traces.span.metrics`), a counter.
/// Labels: `service_name`, `span_name`, `span_kind`, `status_code`, and `app_cache_hit` on
/// `get_product_list` spans while the cache flag is on.
pub const SPAN_CALLS: &str = "traces_span_metrics_calls_total";
/// Span duration histogram buckets (`duration`, unit `ms`, explicit buckets from the config).
pub const SPAN_DURATION_BUCKET: &str = "traces_span_metrics_duration_milliseconds_bucket";
/// Sum of span durations in milliseconds.
pub const SPAN_DURATION_SUM: &str = "traces_span_metrics_duration_milliseconds_sum";
/// Number of spans in the duration histogram.
pub const SPAN_DURATION_COUNT: &str = "traces_span_metrics_duration_milliseconds_count";

// ---- The services' own metrics (OTLP from our Rust services) ----

/// Resident memory of the process: semantic-convention `process.memory.usage` (unit `By`,
/// up-down counter, so a gauge in Prometheus). The services observe their own RSS.
pub const PROCESS_MEMORY_USAGE: &str = "process_memory_usage_bytes";
/// CPU time of the process: semantic-convention `process.cpu.time` (unit `s`, counter) with
/// attribute `cpu.mode` (`user`, `system`).
pub const PROCESS_CPU_TIME: &str = "process_cpu_time_seconds_total";
/// Recommendations given: counter `app_recommendations_counter` with attribute
/// `recommendation.type` (`catalog`). Its unit must be `{recommendation}`, `recommendations`
/// or empty: any other plain word would be appended to the name.
pub const RECOMMENDATIONS_COUNTER: &str = "app_recommendations_counter_total";

// ---- The collector's own telemetry (service.telemetry pull reader on :8888) ----

/// Spans a receiver accepted (`otelcol_receiver_accepted_spans`, unit `{span}`). Labels
/// `receiver`, `transport`.
pub const OTELCOL_RECEIVER_ACCEPTED_SPANS: &str = "otelcol_receiver_accepted_spans_total";
/// Spans a receiver refused, e.g. under the memory limiter.
pub const OTELCOL_RECEIVER_REFUSED_SPANS: &str = "otelcol_receiver_refused_spans_total";
/// Metric points a receiver accepted.
pub const OTELCOL_RECEIVER_ACCEPTED_METRIC_POINTS: &str =
    "otelcol_receiver_accepted_metric_points_total";
/// Spans an exporter sent (label `exporter`, e.g. `otlp_grpc/jaeger`).
pub const OTELCOL_EXPORTER_SENT_SPANS: &str = "otelcol_exporter_sent_spans_total";
/// Spans an exporter failed to send.
pub const OTELCOL_EXPORTER_SEND_FAILED_SPANS: &str = "otelcol_exporter_send_failed_spans_total";
/// Metric points an exporter sent.
pub const OTELCOL_EXPORTER_SENT_METRIC_POINTS: &str = "otelcol_exporter_sent_metric_points_total";
/// Batches waiting in an exporter's sending queue (unit `{batch}`, gauge).
pub const OTELCOL_EXPORTER_QUEUE_SIZE: &str = "otelcol_exporter_queue_size";
/// Capacity of an exporter's sending queue.
pub const OTELCOL_EXPORTER_QUEUE_CAPACITY: &str = "otelcol_exporter_queue_capacity";
/// Resident memory of the collector (`otelcol_process_memory_rss`, unit `By`).
pub const OTELCOL_PROCESS_MEMORY_RSS: &str = "otelcol_process_memory_rss_bytes";
/// Go heap in use by the collector (`otelcol_process_runtime_heap_alloc_bytes`, unit `By`).
pub const OTELCOL_PROCESS_HEAP_ALLOC: &str = "otelcol_process_runtime_heap_alloc_bytes";
/// CPU seconds used by the collector (`otelcol_process_cpu_seconds`, unit `s`, counter).
pub const OTELCOL_PROCESS_CPU_SECONDS: &str = "otelcol_process_cpu_seconds_total";
/// Seconds since the collector started (`otelcol_process_uptime`, unit `s`, counter).
pub const OTELCOL_PROCESS_UPTIME: &str = "otelcol_process_uptime_seconds_total";

// ---- Prometheus itself ----

/// 1 when Prometheus's last scrape of a target succeeded, else 0 (label `job`).
pub const UP: &str = "up";

/// Every metric name above: what a dashboard query may select.
pub const ALL: &[&str] = &[
    SPAN_CALLS,
    SPAN_DURATION_BUCKET,
    SPAN_DURATION_SUM,
    SPAN_DURATION_COUNT,
    PROCESS_MEMORY_USAGE,
    PROCESS_CPU_TIME,
    RECOMMENDATIONS_COUNTER,
    OTELCOL_RECEIVER_ACCEPTED_SPANS,
    OTELCOL_RECEIVER_REFUSED_SPANS,
    OTELCOL_RECEIVER_ACCEPTED_METRIC_POINTS,
    OTELCOL_EXPORTER_SENT_SPANS,
    OTELCOL_EXPORTER_SEND_FAILED_SPANS,
    OTELCOL_EXPORTER_SENT_METRIC_POINTS,
    OTELCOL_EXPORTER_QUEUE_SIZE,
    OTELCOL_EXPORTER_QUEUE_CAPACITY,
    OTELCOL_PROCESS_MEMORY_RSS,
    OTELCOL_PROCESS_HEAP_ALLOC,
    OTELCOL_PROCESS_CPU_SECONDS,
    OTELCOL_PROCESS_UPTIME,
    UP,
];

// ---- Label names ----

/// The service's `service.name` (a span-metrics dimension, and a resource attribute copied onto
/// every series by the exporter's resource_to_telemetry_conversion).
pub const LABEL_SERVICE_NAME: &str = "service_name";
/// The span name (`span.name` dimension).
pub const LABEL_SPAN_NAME: &str = "span_name";
/// The span kind (`span.kind` dimension): `SPAN_KIND_SERVER`, `SPAN_KIND_CLIENT`, ….
pub const LABEL_SPAN_KIND: &str = "span_kind";
/// The span status (`status.code` dimension): `STATUS_CODE_UNSET`, `STATUS_CODE_OK`,
/// `STATUS_CODE_ERROR`.
pub const LABEL_STATUS_CODE: &str = "status_code";
/// Whether `get_product_list` found the cache warm (`app.cache_hit` dimension): `true`/`false`.
pub const LABEL_APP_CACHE_HIT: &str = "app_cache_hit";
/// The same flag under upstream 3.0's attribute name (`demo.recommendation.cache_hit`
/// dimension); our service sends both, upstream's 3.0 service only this one, so a query reads
/// `app_cache_hit` or this.
pub const LABEL_CACHE_HIT_3_0: &str = "demo_recommendation_cache_hit";
/// A histogram bucket's upper bound.
pub const LABEL_LE: &str = "le";
/// The CPU mode of `process.cpu.time` (`cpu.mode`): `user`, `system`.
pub const LABEL_CPU_MODE: &str = "cpu_mode";
/// The kind of recommendation (`recommendation.type`): `catalog`.
pub const LABEL_RECOMMENDATION_TYPE: &str = "recommendation_type";
/// The collector receiver an otelcol_receiver_* series is about (`otlp`).
pub const LABEL_RECEIVER: &str = "receiver";
/// The transport of an otelcol_receiver_* series (`grpc`, `http`).
pub const LABEL_TRANSPORT: &str = "transport";
/// The collector exporter an otelcol_exporter_* series is about (`otlp_grpc/jaeger`, `prometheus`).
pub const LABEL_EXPORTER: &str = "exporter";
/// The scrape job (`otel-collector`, `otel-collector-self`) or, on series the exporter
/// labelled, `service.namespace/service.name`.
pub const LABEL_JOB: &str = "job";

/// Every label name above: what a dashboard query may match on or group by.
pub const LABELS: &[&str] = &[
    LABEL_SERVICE_NAME,
    LABEL_SPAN_NAME,
    LABEL_SPAN_KIND,
    LABEL_STATUS_CODE,
    LABEL_APP_CACHE_HIT,
    LABEL_CACHE_HIT_3_0,
    LABEL_LE,
    LABEL_CPU_MODE,
    LABEL_RECOMMENDATION_TYPE,
    LABEL_RECEIVER,
    LABEL_TRANSPORT,
    LABEL_EXPORTER,
    LABEL_JOB,
];

// ---- Label values the dashboards and the CLI select on ----

/// `span_kind` of a server span: a request the service handled.
pub const SPAN_KIND_SERVER: &str = "SPAN_KIND_SERVER";
/// `status_code` of a failed span.
pub const STATUS_CODE_ERROR: &str = "STATUS_CODE_ERROR";
/// The recommendation service's span around the (leaking) product-list lookup.
pub const SPAN_GET_PRODUCT_LIST: &str = "get_product_list";
/// The recommendation service's `service.name`.
pub const SERVICE_RECOMMENDATION: &str = "recommendation";

/// The gRPC service (the prefix of its spans' `span_name`) a service of ours serves, for the
/// callers' client spans that name it.
pub fn rpc_service_of(service: &str) -> Option<&'static str> {
    match service {
        SERVICE_RECOMMENDATION => Some(RECOMMENDATION_RPC_SERVICE),
        _ => None,
    }
}

/// The recommendation service's gRPC service (upstream `demo.proto`).
pub const RECOMMENDATION_RPC_SERVICE: &str = "oteldemo.RecommendationService";

// ---- The callers' side and exemplars ----

/// `span_kind` of a client span: a call the service made to another.
pub const SPAN_KIND_CLIENT: &str = "SPAN_KIND_CLIENT";
/// Grafana's rate window, with which the dashboards' queries are written.
pub const RATE_INTERVAL: &str = "$__rate_interval";

/// The exemplar label that carries the trace id (the span-metrics connector's name, as
/// Prometheus's `/api/v1/query_exemplars` returns it); Grafana's datasource links on it.
pub const EXEMPLAR_TRACE_ID: &str = "trace_id";
/// The exemplar label that carries the span id.
pub const EXEMPLAR_SPAN_ID: &str = "span_id";

// ---- Alert rules (compose/prometheus/alerts.yml; tests/it/alerts.rs checks they exist) ----

/// A service's memory climbing steadily: the leak itself, the first alert of the scenario.
pub const ALERT_MEMORY_LEAK: &str = "DemoMemoryLeak";
/// A service restarted (its CPU-time counter reset): here, the OOM kill.
pub const ALERT_SERVICE_RESTARTED: &str = "DemoServiceRestarted";
/// Server p95 far above the service's own recent baseline.
pub const ALERT_LATENCY_ABOVE_BASELINE: &str = "DemoLatencyAboveBaseline";
/// Every alert the rules define.
pub const ALERTS: &[&str] = &[
    ALERT_MEMORY_LEAK,
    ALERT_SERVICE_RESTARTED,
    ALERT_LATENCY_ABOVE_BASELINE,
];
