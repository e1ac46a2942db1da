//! A small typed client over Prometheus's HTTP API, and the key-signal queries built from the
//! metric names our pipeline emits.
//!
//! API facts (prometheus.io/docs/prometheus/latest/querying/api, the same in 2.42 and 3.x):
//! `GET /api/v1/query?query=&time=` and `GET /api/v1/query_range?query=&start=&end=&step=`
//! answer `{"status":"success","data":{"resultType":"vector"|"matrix"|"scalar"|"string",
//! "result":…}}`; a sample's value is `[unix seconds, "text"]`, the text possibly `NaN`, `+Inf`
//! or `-Inf`; failures answer 400/422/503 with `{"status":"error","errorType":…,"error":…}`.
//! Samples of native histograms carry `histogram` instead of `value`; we use none and skip them.
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::error::SignalError;
use super::names;

/// Long enough for a local Prometheus under load, short enough that a dead one is a note, not a
/// wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

const BACKEND: &str = "Prometheus";

/// A Prometheus server, by base URL (`http://127.0.0.1:9090`).
#[derive(Debug, Clone)]
pub struct Prometheus {
    base: Url,
    client: reqwest::Client,
    timeout: Duration,
    /// When instant queries are evaluated; `None` is now (the server's clock).
    at: Option<f64>,
}

/// One series' value at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub time: f64,
    pub value: f64,
}

/// One series over a range: `(unix seconds, value)` in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

impl Prometheus {
    /// A client for the server at `base_url`; every request gives up after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, SignalError> {
        let (base, client) = super::http::client(BACKEND, base_url, timeout)?;
        Ok(Prometheus {
            base,
            client,
            timeout,
            at: None,
        })
    }

    /// The same server, with [`instant`](Self::instant) queries (and so the key signals)
    /// evaluated at `time` (Unix seconds) instead of now: a past moment, or the end of data
    /// loaded for a test.
    pub fn evaluated_at(mut self, time: f64) -> Self {
        self.at = Some(time);
        self
    }

    /// The base URL, as given (without a trailing slash).
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// An instant query, evaluated now (or at the time set by [`evaluated_at`](Self::evaluated_at)).
    pub async fn instant(&self, query: &str) -> Result<Vec<Sample>, SignalError> {
        self.instant_params(query, self.at).await
    }

    /// An instant query evaluated at `time` (Unix seconds).
    pub async fn instant_at(&self, query: &str, time: f64) -> Result<Vec<Sample>, SignalError> {
        self.instant_params(query, Some(time)).await
    }

    async fn instant_params(
        &self,
        query: &str,
        time: Option<f64>,
    ) -> Result<Vec<Sample>, SignalError> {
        let mut params = vec![("query", query.to_string())];
        if let Some(time) = time {
            params.push(("time", format_time(time)));
        }
        let data = self.get("api/v1/query", &params).await?;
        Ok(data.into_samples())
    }

    /// A range query from `start` to `end` (Unix seconds) every `step`.
    pub async fn range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: Duration,
    ) -> Result<Vec<Series>, SignalError> {
        let step = step.as_secs_f64().max(0.001);
        let params = [
            ("query", query.to_string()),
            ("start", format_time(start)),
            ("end", format_time(end)),
            ("step", format!("{step}")),
        ];
        let data = self.get("api/v1/query_range", &params).await?;
        Ok(data.into_series())
    }

    /// Whether the server says it is ready (`/-/ready`), for callers that want to tell "down"
    /// from "up but empty" before querying.
    pub async fn ready(&self) -> Result<(), SignalError> {
        let url = self.url("-/ready", &[])?;
        let response = self.send(&url).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(SignalError::Http {
            backend: BACKEND,
            url: self.base_url().to_string(),
            status: status.as_u16(),
            message: body.trim().to_string(),
        })
    }

    fn url(&self, path: &str, params: &[(&str, String)]) -> Result<Url, SignalError> {
        let mut url = self.base.join(path).map_err(|e| SignalError::BadUrl {
            backend: BACKEND,
            url: self.base_url().to_string(),
            cause: e.to_string(),
        })?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        Ok(url)
    }

    async fn send(&self, url: &Url) -> Result<reqwest::Response, SignalError> {
        self.client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| SignalError::from_transport(BACKEND, self.base_url(), self.timeout, &e))
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Data, SignalError> {
        self.api(path, params).await
    }

    /// GET an API path and unwrap its `{"status", "data"}` envelope into `T`, mapping
    /// failures onto [`SignalError`]; shared by the query, alert and exemplar clients.
    pub(crate) async fn api<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, SignalError> {
        let url = self.url(path, params)?;
        let response = self.send(&url).await?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| SignalError::from_transport(BACKEND, self.base_url(), self.timeout, &e))?;
        let envelope: Result<Envelope<T>, _> = serde_json::from_slice(&body);
        match envelope {
            Ok(Envelope {
                status: ApiStatus::Success,
                data: Some(data),
                ..
            }) if status.is_success() => Ok(data),
            Ok(Envelope {
                status: ApiStatus::Error,
                error_type,
                error,
                ..
            }) => {
                let message = format!(
                    "{}{}",
                    error_type.map(|t| format!("{t}: ")).unwrap_or_default(),
                    error.unwrap_or_default()
                );
                if status.is_success() {
                    Err(SignalError::Rejected {
                        backend: BACKEND,
                        url: self.base_url().to_string(),
                        message,
                    })
                } else {
                    Err(SignalError::Http {
                        backend: BACKEND,
                        url: self.base_url().to_string(),
                        status: status.as_u16(),
                        message,
                    })
                }
            }
            _ if !status.is_success() => Err(SignalError::Http {
                backend: BACKEND,
                url: self.base_url().to_string(),
                status: status.as_u16(),
                message: super::http::snippet(&body),
            }),
            Ok(_) => Err(SignalError::Decode {
                backend: BACKEND,
                url: self.base_url().to_string(),
                cause: "\"status\" is success but there is no \"data\"".to_string(),
            }),
            Err(e) => Err(SignalError::Decode {
                backend: BACKEND,
                url: self.base_url().to_string(),
                cause: format!("{e} in {}", super::http::snippet(&body)),
            }),
        }
    }
}

/// Unix seconds as the API takes them (decimal, millisecond precision).
pub(crate) fn format_time(time: f64) -> String {
    format!("{time:.3}")
}

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

// ---- The API's JSON ----

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    status: ApiStatus,
    data: Option<T>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum ApiStatus {
    Success,
    Error,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorItem>),
    Matrix(Vec<MatrixItem>),
    Scalar(RawPoint),
    String(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct VectorItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// Absent on native-histogram samples.
    value: Option<RawPoint>,
}

#[derive(Debug, Deserialize)]
struct MatrixItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<RawPoint>,
}

/// `[unix seconds, "value"]`.
#[derive(Debug, Deserialize)]
struct RawPoint(f64, String);

impl RawPoint {
    fn value(&self) -> f64 {
        parse_value(&self.1)
    }
}

/// Prometheus's float text: Go's `strconv.FormatFloat(v, 'f', -1, 64)` plus `NaN`, `+Inf` and
/// `-Inf`. Anything else unreadable becomes NaN, which callers treat as "no value".
pub fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other.parse().unwrap_or(f64::NAN),
    }
}

impl Data {
    fn into_samples(self) -> Vec<Sample> {
        match self {
            Data::Vector(items) => items
                .into_iter()
                .filter_map(|item| {
                    item.value.map(|point| Sample {
                        labels: item.metric,
                        time: point.0,
                        value: point.value(),
                    })
                })
                .collect(),
            Data::Scalar(point) => vec![Sample {
                labels: BTreeMap::new(),
                time: point.0,
                value: point.value(),
            }],
            // A range vector's last point per series is its value "now".
            Data::Matrix(items) => items
                .into_iter()
                .filter_map(|item| {
                    item.values.last().map(|point| Sample {
                        labels: item.metric.clone(),
                        time: point.0,
                        value: point.value(),
                    })
                })
                .collect(),
            Data::String(_) => Vec::new(),
        }
    }

    fn into_series(self) -> Vec<Series> {
        match self {
            Data::Matrix(items) => items
                .into_iter()
                .map(|item| Series {
                    labels: item.metric,
                    points: item.values.iter().map(|p| (p.0, p.value())).collect(),
                })
                .collect(),
            other => other
                .into_samples()
                .into_iter()
                .map(|s| Series {
                    labels: s.labels,
                    points: vec![(s.time, s.value)],
                })
                .collect(),
        }
    }
}

// ---- Key signals ----

/// The PromQL of the key signals, from the names in [`names`]. Each groups by `service_name`,
/// so one query serves one service (`Some(name)`) or every service (`None`) alike.
pub mod query {
    use std::time::Duration;

    use super::names::*;

    /// A PromQL duration for a rate window (whole seconds; at least 1 s).
    pub fn range(window: Duration) -> String {
        format!("{}s", window.as_secs().max(1))
    }

    fn matchers(service: Option<&str>, extra: &[(&str, &str)]) -> String {
        let mut all: Vec<String> = service
            .map(|s| format!("{LABEL_SERVICE_NAME}=\"{}\"", escape(s)))
            .into_iter()
            .collect();
        all.extend(extra.iter().map(|(label, value)| {
            if let Some(regex) = value.strip_prefix('~') {
                format!("{label}=~\"{}\"", escape(regex))
            } else {
                format!("{label}=\"{}\"", escape(value))
            }
        }));
        all.join(", ")
    }

    /// A label value inside double quotes.
    fn escape(value: &str) -> String {
        value.replace('\\', "\\\\").replace('"', "\\\"")
    }

    fn server_calls(service: Option<&str>, extra: &[(&str, &str)], window: Duration) -> String {
        let mut all = vec![(LABEL_SPAN_KIND, SPAN_KIND_SERVER)];
        all.extend_from_slice(extra);
        format!(
            "sum by ({LABEL_SERVICE_NAME}) (rate({SPAN_CALLS}{{{}}}[{}]))",
            matchers(service, &all),
            range(window)
        )
    }

    /// Requests per second: server spans of the span metrics.
    pub fn request_rate(service: Option<&str>, window: Duration) -> String {
        server_calls(service, &[], window)
    }

    /// Client spans that call a service, summed under the called service's name: the callers'
    /// view (at an OOM kill the caller's call fails while the killed server records nothing).
    /// `service_name` is rewritten from the caller's to the called service's by the RPC service
    /// in `span_name`.
    fn caller_calls(
        service: Option<&str>,
        extra: &[(&str, &str)],
        range: &str,
        function: &str,
    ) -> String {
        let called = service.unwrap_or(SERVICE_RECOMMENDATION);
        let Some(rpc) = rpc_service_of(called) else {
            // No known callers' spans: an empty answer.
            return "vector(0) unless vector(0)".to_string();
        };
        let span = format!("~{rpc}/.*");
        let mut all = vec![
            (LABEL_SPAN_KIND, SPAN_KIND_CLIENT),
            (LABEL_SPAN_NAME, span.as_str()),
        ];
        all.extend_from_slice(extra);
        format!(
            "sum by ({LABEL_SERVICE_NAME}) (label_replace({function}({SPAN_CALLS}{{{}}}[{}]), \"{LABEL_SERVICE_NAME}\", \"{}\", \"{LABEL_SPAN_NAME}\", \".*\"))",
            matchers(None, &all),
            range,
            escape(called)
        )
    }

    /// The fraction of the callers' calls to a service that failed (their client spans).
    pub fn callers_error_ratio(service: Option<&str>, window: Duration) -> String {
        callers_error_ratio_over(service, &range(window))
    }

    /// [`callers_error_ratio`] over a range as PromQL writes it: `60s`, or Grafana's
    /// [`RATE_INTERVAL`], with which the dashboard's callers' panel runs this very query.
    pub fn callers_error_ratio_over(service: Option<&str>, range: &str) -> String {
        let errors = caller_calls(
            service,
            &[(LABEL_STATUS_CODE, STATUS_CODE_ERROR)],
            range,
            "rate",
        );
        let all = caller_calls(service, &[], range, "rate");
        format!("({errors} or (0 * {all})) / {all}")
    }

    /// The callers' failed calls to a service over the window (0 when none failed).
    pub fn callers_failed_calls(service: Option<&str>, window: Duration) -> String {
        let window = range(window);
        let errors = caller_calls(
            service,
            &[(LABEL_STATUS_CODE, STATUS_CODE_ERROR)],
            &window,
            "increase",
        );
        let all = caller_calls(service, &[], &window, "increase");
        format!("{errors} or (0 * {all})")
    }

    /// The fraction of server spans that failed (0 when none did, absent without traffic).
    pub fn error_ratio(service: Option<&str>, window: Duration) -> String {
        let errors = server_calls(service, &[(LABEL_STATUS_CODE, STATUS_CODE_ERROR)], window);
        let all = server_calls(service, &[], window);
        format!("({errors} or (0 * {all})) / {all}")
    }

    /// A latency quantile (0.5, 0.95, 0.99, 0.999) of server spans, in milliseconds.
    pub fn latency_quantile(service: Option<&str>, quantile: f64, window: Duration) -> String {
        format!(
            "histogram_quantile({quantile}, sum by ({LABEL_SERVICE_NAME}, {LABEL_LE}) (rate({SPAN_DURATION_BUCKET}{{{}}}[{}])))",
            matchers(service, &[(LABEL_SPAN_KIND, SPAN_KIND_SERVER)]),
            range(window)
        )
    }

    fn product_list_calls(service: Option<&str>, hit: &str, window: Duration) -> String {
        format!(
            "sum by ({LABEL_SERVICE_NAME}) (rate({SPAN_CALLS}{{{}}}[{}]))",
            matchers(
                service,
                &[
                    (LABEL_SPAN_NAME, SPAN_GET_PRODUCT_LIST),
                    (LABEL_APP_CACHE_HIT, hit)
                ]
            ),
            range(window)
        )
    }

    /// The share of `get_product_list` calls that hit the cache (only while the flag is on:
    /// the `app_cache_hit` label exists only then).
    pub fn cache_hit_ratio(service: Option<&str>, window: Duration) -> String {
        let hits = product_list_calls(service, "true", window);
        let all = product_list_calls(service, "~true|false", window);
        format!("({hits} or (0 * {all})) / {all}")
    }

    /// A latency quantile of `get_product_list`, per `app_cache_hit` value, in milliseconds.
    pub fn cache_latency_quantile(
        service: Option<&str>,
        quantile: f64,
        window: Duration,
    ) -> String {
        format!(
            "histogram_quantile({quantile}, sum by ({LABEL_SERVICE_NAME}, {LABEL_APP_CACHE_HIT}, {LABEL_LE}) (rate({SPAN_DURATION_BUCKET}{{{}}}[{}])))",
            matchers(
                service,
                &[
                    (LABEL_SPAN_NAME, SPAN_GET_PRODUCT_LIST),
                    (LABEL_APP_CACHE_HIT, "~true|false")
                ]
            ),
            range(window)
        )
    }

    /// Resident memory of each service's process, in bytes (what the dashboard's Memory panel
    /// shows).
    pub fn memory_bytes(service: Option<&str>) -> String {
        format!(
            "sum by ({LABEL_SERVICE_NAME}) ({PROCESS_MEMORY_USAGE}{{{}}})",
            matchers(service, &[])
        )
    }

    /// CPU use of each service's process, in percent of one core (user plus system).
    pub fn cpu_percent(service: Option<&str>, window: Duration) -> String {
        format!(
            "sum by ({LABEL_SERVICE_NAME}) (rate({PROCESS_CPU_TIME}{{{}}}[{}])) * 100",
            matchers(service, &[]),
            range(window)
        )
    }
}

/// The walkthrough's key signals for one service; `None` where Prometheus has no data (no
/// traffic in the window, the collector not running, the flag off for the cache-hit ratio).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KeySignals {
    /// Server spans per second.
    pub request_rate: Option<f64>,
    /// Fraction (0–1) of server spans with an error status.
    pub error_ratio: Option<f64>,
    /// Server-span latency quantiles in milliseconds.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    /// Fraction (0–1) of `get_product_list` calls that hit the cache.
    pub cache_hit_ratio: Option<f64>,
    /// Resident memory of the process, as the service reports it.
    pub memory_bytes: Option<f64>,
    /// CPU use in percent of one core.
    pub cpu_percent: Option<f64>,
    /// Fraction (0–1) of the callers' calls to the service that failed, from their client
    /// spans, and how many failed in the window (issue 14: a killed server records nothing).
    #[serde(default)]
    pub callers_error_ratio: Option<f64>,
    #[serde(default)]
    pub callers_failed_calls: Option<f64>,
}

impl KeySignals {
    /// Whether any query returned data.
    pub fn is_empty(&self) -> bool {
        *self == KeySignals::default()
    }

    /// The key signals of `service`, rates over `window` (at least two scrape intervals, e.g.
    /// 1m). Prometheus down or slow is an `Err`; a query with no data is `None`.
    pub async fn read(
        prometheus: &Prometheus,
        service: &str,
        window: Duration,
    ) -> Result<KeySignals, SignalError> {
        let mut all = Self::query(prometheus, Some(service), window).await?;
        Ok(all.remove(service).unwrap_or_default())
    }

    /// The key signals of every service Prometheus has data for, by `service_name`.
    pub async fn read_all(
        prometheus: &Prometheus,
        window: Duration,
    ) -> Result<BTreeMap<String, KeySignals>, SignalError> {
        Self::query(prometheus, None, window).await
    }

    async fn query(
        prometheus: &Prometheus,
        service: Option<&str>,
        window: Duration,
    ) -> Result<BTreeMap<String, KeySignals>, SignalError> {
        let queries = [
            query::request_rate(service, window),
            query::error_ratio(service, window),
            query::latency_quantile(service, 0.5, window),
            query::latency_quantile(service, 0.95, window),
            query::latency_quantile(service, 0.99, window),
            query::latency_quantile(service, 0.999, window),
            query::cache_hit_ratio(service, window),
            query::memory_bytes(service),
            query::cpu_percent(service, window),
            query::callers_error_ratio(service, window),
            query::callers_failed_calls(service, window),
        ];
        let answers =
            futures_util::future::try_join_all(queries.iter().map(|q| prometheus.instant(q)))
                .await?;
        let mut out: BTreeMap<String, KeySignals> = BTreeMap::new();
        for (field, samples) in answers.into_iter().enumerate() {
            for (name, value) in by_service(&samples) {
                let signals = out.entry(name).or_default();
                let slot = match field {
                    0 => &mut signals.request_rate,
                    1 => &mut signals.error_ratio,
                    2 => &mut signals.p50_ms,
                    3 => &mut signals.p95_ms,
                    4 => &mut signals.p99_ms,
                    5 => &mut signals.p999_ms,
                    6 => &mut signals.cache_hit_ratio,
                    7 => &mut signals.memory_bytes,
                    8 => &mut signals.cpu_percent,
                    9 => &mut signals.callers_error_ratio,
                    _ => &mut signals.callers_failed_calls,
                };
                *slot = Some(value);
            }
        }
        Ok(out)
    }
}

/// Series per `service_name`: a service's process memory and CPU-time counter.
pub type ByService = BTreeMap<String, Vec<(f64, f64)>>;

/// `process_memory_usage_bytes` and `process_cpu_time_seconds_total` (summed over CPU modes)
/// per `service_name` from `start` to `end`: the series a service's lives between restarts
/// are read from (each counter reset is a restart).
pub async fn lives_series(
    prometheus: &Prometheus,
    start: f64,
    end: f64,
    step: Duration,
) -> Result<(ByService, ByService), SignalError> {
    let memory = query::memory_bytes(None);
    let cpu = format!(
        "sum by ({}) ({})",
        names::LABEL_SERVICE_NAME,
        names::PROCESS_CPU_TIME
    );
    let (memory, cpu) = tokio::try_join!(
        prometheus.range(&memory, start, end, step),
        prometheus.range(&cpu, start, end, step),
    )?;
    let by_service = |all: Vec<Series>| -> ByService {
        all.into_iter()
            .filter_map(|series| {
                series
                    .labels
                    .get(names::LABEL_SERVICE_NAME)
                    .cloned()
                    .map(|name| (name, series.points))
            })
            .collect()
    };
    Ok((by_service(memory), by_service(cpu)))
}

/// `service_name` → value, dropping NaN (a quantile or ratio over no data).
pub fn by_service(samples: &[Sample]) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter(|s| !s.value.is_nan())
        .filter_map(|s| {
            s.labels
                .get(names::LABEL_SERVICE_NAME)
                .map(|name| (name.clone(), s.value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(json: &str) -> Data {
        let envelope: Envelope<Data> = serde_json::from_str(json).expect("an envelope");
        assert_eq!(envelope.status, ApiStatus::Success);
        envelope.data.expect("data")
    }

    #[test]
    fn a_vector_answer_becomes_samples_with_special_values() {
        let data = decode(
            r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"service_name":"a"},"value":[1700000000.5,"1.25"]},
                {"metric":{"service_name":"b"},"value":[1700000000.5,"NaN"]},
                {"metric":{"service_name":"c"},"value":[1700000000.5,"+Inf"]},
                {"metric":{"service_name":"d"},"histogram":[1700000000.5,{"count":"1"}]}
            ]},"warnings":["ignored"]}"#,
        );
        let samples = data.into_samples();
        assert_eq!(samples.len(), 3, "the native-histogram sample is skipped");
        assert_eq!(samples[0].value, 1.25);
        assert_eq!(samples[0].time, 1_700_000_000.5);
        assert!(samples[1].value.is_nan());
        assert_eq!(samples[2].value, f64::INFINITY);
        let by = by_service(&samples);
        assert_eq!(by.get("a"), Some(&1.25));
        assert!(!by.contains_key("b"), "NaN means no value");
    }

    #[test]
    fn a_matrix_answer_becomes_series_in_time_order() {
        let data = decode(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
                {"metric":{"__name__":"m","job":"x"},"values":[[10,"1"],[15,"2"],[20,"-Inf"]]}
            ]}}"#,
        );
        let series = data.into_series();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].labels["job"], "x");
        assert_eq!(
            series[0].points,
            vec![(10.0, 1.0), (15.0, 2.0), (20.0, f64::NEG_INFINITY)]
        );
    }

    #[test]
    fn a_scalar_answer_is_one_unlabelled_sample() {
        let data =
            decode(r#"{"status":"success","data":{"resultType":"scalar","result":[5,"42"]}}"#);
        let samples = data.into_samples();
        assert_eq!(samples.len(), 1);
        assert!(samples[0].labels.is_empty());
        assert_eq!(samples[0].value, 42.0);
    }

    #[test]
    fn an_error_answer_carries_its_type_and_message() {
        let envelope: Envelope<Data> = serde_json::from_str(
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#,
        )
        .unwrap();
        assert_eq!(envelope.status, ApiStatus::Error);
        assert_eq!(envelope.error_type.as_deref(), Some("bad_data"));
        assert!(envelope.data.is_none());
    }

    #[test]
    fn queries_use_the_emitted_names_and_scope_to_a_service() {
        let window = Duration::from_secs(60);
        let one = query::request_rate(Some("recommendation"), window);
        assert_eq!(
            one,
            "sum by (service_name) (rate(traces_span_metrics_calls_total{service_name=\"recommendation\", span_kind=\"SPAN_KIND_SERVER\"}[60s]))"
        );
        let all = query::request_rate(None, window);
        assert!(all.contains("{span_kind=\"SPAN_KIND_SERVER\"}"), "{all}");
        let p99 = query::latency_quantile(Some("recommendation"), 0.99, window);
        assert!(p99.starts_with("histogram_quantile(0.99, sum by (service_name, le) (rate(traces_span_metrics_duration_milliseconds_bucket{"), "{p99}");
        let hit = query::cache_hit_ratio(Some("recommendation"), window);
        assert!(hit.contains("app_cache_hit=\"true\""), "{hit}");
        assert!(hit.contains("app_cache_hit=~\"true|false\""), "{hit}");
        assert!(hit.contains("span_name=\"get_product_list\""), "{hit}");
        let errors = query::error_ratio(None, window);
        assert!(
            errors.contains("status_code=\"STATUS_CODE_ERROR\""),
            "{errors}"
        );
        assert_eq!(
            query::memory_bytes(Some("a\"b")),
            "sum by (service_name) (process_memory_usage_bytes{service_name=\"a\\\"b\"})"
        );
        assert!(query::cpu_percent(None, window).ends_with("[60s])) * 100"));
    }

    #[test]
    fn special_float_texts_parse() {
        assert_eq!(parse_value("+Inf"), f64::INFINITY);
        assert_eq!(parse_value("-Inf"), f64::NEG_INFINITY);
        assert!(parse_value("NaN").is_nan());
        assert_eq!(parse_value("1e+06"), 1e6);
        assert!(parse_value("garbage").is_nan());
    }
}
