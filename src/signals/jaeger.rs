//! A typed client for Jaeger's HTTP query API (the one its UI uses), and the UI links to print.
//!
//! Targets Jaeger v2.19.0, the version the stack pins, as read in jaegertracing/jaeger at tag
//! v2.19.0: routes in `cmd/jaeger/internal/extension/jaegerquery/internal/http_handler.go`
//! (`GET /api/traces`, answer `{"data":[…],"total":0,"limit":0,"offset":0,"errors":null}`);
//! parameters in `…/jaegerquery/internal/query_parser.go` (`service`, `operation`, `tags` as a
//! JSON object of **string** values — anything else is "malformed 'tags' parameter" — `limit`
//! (default 100), `start`/`end` in µs since the epoch; the API itself ignores `lookback`, which
//! only the UI turns into `start`/`end`, and without `start` it searches the last 2 days); the
//! trace JSON in `internal/uimodel/model.go` (`traceID`, `spans[]` with `spanID`,
//! `operationName`, `references[]`, `startTime` and `duration` in µs, `tags[]` of
//! `{key, type, value}`, `processID`; `processes` keyed by process ID). Tag values are JSON of
//! their `type` (string, bool, int64, float64, binary as base64), except int64 values beyond
//! ±2^53, which come as strings (`internal/uimodel/converter/v1/json/from_domain.go`).
//!
//! The UI's search page takes `service`, `tags` (the same JSON), `limit` and `lookback`, one of
//! its fixed choices (5m … 4w, jaeger-ui `SearchForm.tsx`); a trace opens at `/trace/<id>`.
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::error::SignalError;

/// Searches with a few hundred traces answer in well under this on a local Jaeger.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

const BACKEND: &str = "Jaeger";

/// A Jaeger query service, by the base URL of its UI and API (`http://127.0.0.1:16686`, or a
/// base path such as `http://localhost:8080/jaeger/ui`).
#[derive(Debug, Clone)]
pub struct Jaeger {
    base: Url,
    client: reqwest::Client,
    timeout: Duration,
}

/// A trace search: what the UI's search form holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceQuery {
    pub service: String,
    pub operation: Option<String>,
    /// Span tags that must match; values are strings even for booleans (`"true"`).
    pub tags: BTreeMap<String, String>,
    pub limit: usize,
    /// How far back from `end` to search.
    pub lookback: Duration,
    /// The end of the search; `None` is now.
    #[serde(skip)]
    pub end: Option<SystemTime>,
}

impl TraceQuery {
    /// Traces of `service` in the last hour, at most 100 (Jaeger's own default limit).
    pub fn new(service: &str) -> Self {
        TraceQuery {
            service: service.to_string(),
            operation: None,
            tags: BTreeMap::new(),
            limit: 100,
            lookback: Duration::from_secs(3600),
            end: None,
        }
    }

    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.insert(key.to_string(), value.to_string());
        self
    }

    pub fn operation(mut self, name: &str) -> Self {
        self.operation = Some(name.to_string());
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub fn lookback(mut self, lookback: Duration) -> Self {
        self.lookback = lookback;
        self
    }

    pub fn ending_at(mut self, end: SystemTime) -> Self {
        self.end = Some(end);
        self
    }

    /// The `tags` parameter: a JSON object of strings.
    pub fn tags_json(&self) -> Option<String> {
        (!self.tags.is_empty())
            .then(|| serde_json::to_string(&self.tags).expect("a map of strings serializes"))
    }

    /// `start` and `end` in µs since the epoch, as the API wants them.
    fn start_end_micros(&self) -> (u128, u128) {
        let end = self.end.unwrap_or_else(SystemTime::now);
        let start = end.checked_sub(self.lookback).unwrap_or(UNIX_EPOCH);
        let micros = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
        (micros(start), micros(end))
    }
}

/// The search page's lookback choices (jaeger-ui `SearchForm.tsx`), shortest first.
const UI_LOOKBACKS: [(&str, u64); 16] = [
    ("5m", 300),
    ("15m", 900),
    ("30m", 1800),
    ("1h", 3600),
    ("2h", 7200),
    ("3h", 10800),
    ("6h", 21600),
    ("12h", 43200),
    ("24h", 86400),
    ("2d", 172_800),
    ("3d", 259_200),
    ("5d", 432_000),
    ("7d", 604_800),
    ("2w", 1_209_600),
    ("3w", 1_814_400),
    ("4w", 2_419_200),
];

/// The UI's shortest lookback choice that covers `lookback`.
pub fn ui_lookback(lookback: Duration) -> &'static str {
    UI_LOOKBACKS
        .iter()
        .find(|(_, secs)| *secs >= lookback.as_secs())
        .map_or("4w", |(name, _)| name)
}

/// The UI's search page prefilled with `query` (service, operation, tags, limit, lookback).
pub fn search_url(base_url: &str, query: &TraceQuery) -> String {
    let mut url = format!(
        "{}/search?service={}",
        base_url.trim_end_matches('/'),
        encode(&query.service)
    );
    if let Some(operation) = &query.operation {
        url.push_str(&format!("&operation={}", encode(operation)));
    }
    if let Some(tags) = query.tags_json() {
        url.push_str(&format!("&tags={}", encode(&tags)));
    }
    url.push_str(&format!(
        "&lookback={}&limit={}",
        ui_lookback(query.lookback),
        query.limit
    ));
    url
}

/// The UI's page of one trace.
pub fn trace_url(base_url: &str, trace_id: &str) -> String {
    format!(
        "{}/trace/{}",
        base_url.trim_end_matches('/'),
        encode(trace_id)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Jaeger {
    /// A client for the Jaeger at `base_url`; every request gives up after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, SignalError> {
        let (base, client) = super::http::client(BACKEND, base_url, timeout)?;
        Ok(Jaeger {
            base,
            client,
            timeout,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The UI's search page for `query`.
    pub fn search_url(&self, query: &TraceQuery) -> String {
        search_url(self.base_url(), query)
    }

    /// The UI's page of one trace.
    pub fn trace_url(&self, trace_id: &str) -> String {
        trace_url(self.base_url(), trace_id)
    }

    /// The traces matching `query`, as the API returns them (its order, at most `limit`).
    pub async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, SignalError> {
        let (start, end) = query.start_end_micros();
        let mut params = vec![
            ("service", query.service.clone()),
            ("limit", query.limit.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
        ];
        if let Some(operation) = &query.operation {
            params.push(("operation", operation.clone()));
        }
        if let Some(tags) = query.tags_json() {
            params.push(("tags", tags));
        }
        let mut url = self
            .base
            .join("api/traces")
            .map_err(|e| SignalError::BadUrl {
                backend: BACKEND,
                url: self.base_url().to_string(),
                cause: e.to_string(),
            })?;
        url.query_pairs_mut().extend_pairs(&params);
        let transport = |e: reqwest::Error| {
            SignalError::from_transport(BACKEND, self.base_url(), self.timeout, &e)
        };
        let response = self.client.get(url).send().await.map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        parse_traces(self.base_url(), status.as_u16(), &body)
    }
}

/// Reads an `/api/traces` answer: the traces, or the error Jaeger gave.
pub fn parse_traces(url: &str, status: u16, body: &[u8]) -> Result<Vec<Trace>, SignalError> {
    let parsed: Result<TracesResponse, _> = serde_json::from_slice(body);
    let errors = |response: &TracesResponse| {
        response
            .errors
            .iter()
            .flatten()
            .map(|e| e.msg.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match parsed {
        Ok(response) if (200..300).contains(&status) => {
            let messages = errors(&response);
            if response.data.as_ref().is_none_or(Vec::is_empty) && !messages.is_empty() {
                return Err(SignalError::Rejected {
                    backend: BACKEND,
                    url: url.to_string(),
                    message: messages,
                });
            }
            Ok(response.data.unwrap_or_default())
        }
        Ok(response) => Err(SignalError::Http {
            backend: BACKEND,
            url: url.to_string(),
            status,
            message: Some(errors(&response))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| super::http::snippet(body)),
        }),
        Err(_) if !(200..300).contains(&status) => Err(SignalError::Http {
            backend: BACKEND,
            url: url.to_string(),
            status,
            message: super::http::snippet(body),
        }),
        Err(e) => Err(SignalError::Decode {
            backend: BACKEND,
            url: url.to_string(),
            cause: format!("{e} in {}", super::http::snippet(body)),
        }),
    }
}

// ---- The API's JSON (internal/uimodel/model.go at v2.19.0) ----

#[derive(Debug, Deserialize)]
struct TracesResponse {
    data: Option<Vec<Trace>>,
    errors: Option<Vec<ApiError>>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(default)]
    msg: String,
}

/// One trace: its spans and the processes (services) that emitted them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(default)]
    pub spans: Vec<Span>,
    #[serde(default)]
    pub processes: BTreeMap<String, Process>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub warnings: Vec<String>,
}

/// One span. Times are µs: `start_time` since the epoch, `duration` long.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(rename = "operationName")]
    pub operation_name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub references: Vec<Reference>,
    #[serde(rename = "startTime")]
    pub start_time: u64,
    pub duration: u64,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<KeyValue>,
    #[serde(rename = "processID", default)]
    pub process_id: Option<String>,
}

/// A link to another span (`CHILD_OF` for a parent, or `FOLLOWS_FROM`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Reference {
    #[serde(rename = "refType")]
    pub ref_type: String,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

/// The service behind a set of spans.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Process {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<KeyValue>,
}

/// A typed tag: `type` is `string`, `bool`, `int64`, `float64` or `binary`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(rename = "type", default)]
    pub value_type: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

impl KeyValue {
    /// A bool tag, or the strings `true`/`false` (what a string-typed attribute would hold).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            serde_json::Value::Bool(b) => Some(*b),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// An integer tag, including int64 values Jaeger sends as strings.
    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            serde_json::Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }
}

impl Span {
    pub fn tag(&self, key: &str) -> Option<&KeyValue> {
        self.tags.iter().find(|t| t.key == key)
    }

    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.duration)
    }

    /// The span's parent in the same trace, if it has one.
    pub fn parent_id(&self) -> Option<&str> {
        self.references
            .iter()
            .find(|r| r.ref_type == "CHILD_OF" && r.trace_id == self.trace_id)
            .map(|r| r.span_id.as_str())
    }
}

impl Trace {
    /// The service that emitted `span`.
    pub fn service_of(&self, span: &Span) -> Option<&str> {
        span.process_id
            .as_ref()
            .and_then(|p| self.processes.get(p))
            .map(|p| p.service_name.as_str())
    }

    /// The first span without a parent in the trace (the request's entry point), else the
    /// earliest span.
    pub fn root(&self) -> Option<&Span> {
        let ids: std::collections::BTreeSet<&str> =
            self.spans.iter().map(|s| s.span_id.as_str()).collect();
        self.spans
            .iter()
            .filter(|s| s.parent_id().is_none_or(|p| !ids.contains(p)))
            .min_by_key(|s| s.start_time)
            .or_else(|| self.spans.iter().min_by_key(|s| s.start_time))
    }

    /// From the first span's start to the last span's end: what the UI lists as the trace's
    /// duration.
    pub fn duration(&self) -> Duration {
        let start = self.spans.iter().map(|s| s.start_time).min();
        let end = self
            .spans
            .iter()
            .map(|s| s.start_time.saturating_add(s.duration))
            .max();
        match (start, end) {
            (Some(start), Some(end)) => Duration::from_micros(end.saturating_sub(start)),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_urls_carry_the_tags_as_encoded_json_and_a_ui_lookback() {
        let query = TraceQuery::new("recommendation")
            .tag("app.cache_hit", "false")
            .limit(50)
            .lookback(Duration::from_secs(600));
        assert_eq!(
            search_url("http://127.0.0.1:16686/", &query),
            "http://127.0.0.1:16686/search?service=recommendation&tags=%7B%22app.cache_hit%22%3A%22false%22%7D&lookback=15m&limit=50"
        );
        assert_eq!(
            trace_url("http://127.0.0.1:16686", "4bf92f3577b34da6a3ce929d0e0e4736"),
            "http://127.0.0.1:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn lookbacks_round_up_to_a_ui_choice() {
        assert_eq!(ui_lookback(Duration::from_secs(60)), "5m");
        assert_eq!(ui_lookback(Duration::from_secs(300)), "5m");
        assert_eq!(ui_lookback(Duration::from_secs(301)), "15m");
        assert_eq!(ui_lookback(Duration::from_secs(3600)), "1h");
        assert_eq!(ui_lookback(Duration::from_secs(100 * 86400)), "4w");
    }

    #[test]
    fn start_and_end_span_the_lookback_in_microseconds() {
        let end = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let query = TraceQuery::new("s")
            .lookback(Duration::from_secs(300))
            .ending_at(end);
        assert_eq!(
            query.start_end_micros(),
            (1_699_999_700_000_000, 1_700_000_000_000_000)
        );
    }

    #[test]
    fn tag_values_read_whatever_json_type_jaeger_used() {
        let tag = |value: serde_json::Value| KeyValue {
            key: "k".into(),
            value_type: String::new(),
            value,
        };
        assert_eq!(tag(serde_json::json!(true)).as_bool(), Some(true));
        assert_eq!(tag(serde_json::json!("false")).as_bool(), Some(false));
        assert_eq!(tag(serde_json::json!(1900000)).as_i64(), Some(1_900_000));
        assert_eq!(
            tag(serde_json::json!("9223372036854775222")).as_i64(),
            Some(9_223_372_036_854_775_222)
        );
        assert_eq!(tag(serde_json::json!(2.5)).as_i64(), None);
    }

    #[test]
    fn an_error_answer_is_rejected_with_jaegers_message() {
        let body = br#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"malformed 'tags' parameter, cannot unmarshal JSON: json: cannot unmarshal bool into Go value of type string"}]}"#;
        let err = parse_traces("http://j", 400, body).unwrap_err();
        assert!(
            matches!(&err, SignalError::Http { status: 400, message, .. } if message.contains("malformed 'tags'")),
            "{err}"
        );
        let err = parse_traces("http://j", 200, b"<html>").unwrap_err();
        assert!(matches!(err, SignalError::Decode { .. }), "{err}");
    }

    #[test]
    fn an_empty_search_is_no_traces() {
        let body = br#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#;
        assert_eq!(parse_traces("http://j", 200, body).unwrap(), Vec::new());
    }
}
