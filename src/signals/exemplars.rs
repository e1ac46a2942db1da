//! Prometheus's exemplars (`/api/v1/query_exemplars`): the trace id behind a point of a span-metrics histogram, and the slowest of a window.
//!
//! The span-metrics connector attaches `trace_id` and `span_id` to its data points
//! (`exemplars.enabled`), the collector's exporter serves them as OpenMetrics, and Prometheus
//! keeps them with `--enable-feature=exemplar-storage` (2.42 and 3.x alike). The answer, as both
//! versions give it (tests/fixtures/recorded/exemplars/): `{"status":"success","data":[
//! {"seriesLabels":{…},"exemplars":[{"labels":{"trace_id":…,"span_id":…},"value":"0.079",
//! "timestamp":1796069608.393}]}]}`; the value is the span's duration in the histogram's unit
//! (ms).
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::SignalError;
use super::names;
use super::prometheus::{Prometheus, format_time, parse_value};

/// One exemplar: a request's duration and the trace it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exemplar {
    /// The trace id (hex), from the exemplar's [`names::EXEMPLAR_TRACE_ID`] label.
    pub trace_id: String,
    pub span_id: Option<String>,
    /// The span's duration in ms (the histogram's unit).
    pub duration_ms: f64,
    /// Unix seconds.
    pub time: f64,
    /// The span name of the series the exemplar belongs to, when it has one.
    pub span_name: Option<String>,
    /// The service of that series.
    pub service: Option<String>,
}

impl fmt::Display for Exemplar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} ms", self.duration_ms)?;
        if let Some(span) = &self.span_name {
            write!(f, " {span}")?;
        }
        write!(f, ", trace {}", self.trace_id)
    }
}

/// The span-durations selector whose exemplars stand for a service's requests and their
/// inner spans (all span kinds: the slow part of a slow request is an inner span).
pub fn durations_of(service: &str) -> String {
    format!(
        "{}{{{}=\"{service}\"}}",
        names::SPAN_DURATION_BUCKET,
        names::LABEL_SERVICE_NAME
    )
}

impl Prometheus {
    /// The exemplars of the series `query` selects between `start` and `end` (Unix seconds).
    /// Exemplars without a trace id (another producer's) are left out.
    pub async fn exemplars(
        &self,
        query: &str,
        start: f64,
        end: f64,
    ) -> Result<Vec<Exemplar>, SignalError> {
        let params = [
            ("query", query.to_string()),
            ("start", format_time(start)),
            ("end", format_time(end)),
        ];
        let series: Vec<RawSeries> = self.api("api/v1/query_exemplars", &params).await?;
        Ok(from_raw(series))
    }
}

/// The slowest exemplar: the trace worth opening first.
pub fn slowest(exemplars: &[Exemplar]) -> Option<&Exemplar> {
    exemplars
        .iter()
        .filter(|e| !e.duration_ms.is_nan())
        .max_by(|a, b| a.duration_ms.total_cmp(&b.duration_ms))
}

#[derive(Debug, Deserialize)]
struct RawSeries {
    #[serde(rename = "seriesLabels", default)]
    series_labels: BTreeMap<String, String>,
    #[serde(default)]
    exemplars: Vec<RawExemplar>,
}

#[derive(Debug, Deserialize)]
struct RawExemplar {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    value: String,
    timestamp: f64,
}

fn from_raw(series: Vec<RawSeries>) -> Vec<Exemplar> {
    let mut out = Vec::new();
    for s in series {
        for e in s.exemplars {
            let Some(trace_id) = e.labels.get(names::EXEMPLAR_TRACE_ID) else {
                continue;
            };
            out.push(Exemplar {
                trace_id: trace_id.clone(),
                span_id: e.labels.get(names::EXEMPLAR_SPAN_ID).cloned(),
                duration_ms: parse_value(&e.value),
                time: e.timestamp,
                span_name: s.series_labels.get(names::LABEL_SPAN_NAME).cloned(),
                service: s.series_labels.get(names::LABEL_SERVICE_NAME).cloned(),
            });
        }
    }
    out
}

/// Parses a `/api/v1/query_exemplars` body as the client does (for tests over recordings).
pub fn parse_answer(body: &str) -> Result<Vec<Exemplar>, String> {
    #[derive(Deserialize)]
    struct Answer {
        data: Vec<RawSeries>,
    }
    let answer: Answer = serde_json::from_str(body).map_err(|e| e.to_string())?;
    Ok(from_raw(answer.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{"status":"success","data":[
      {"seriesLabels":{"__name__":"traces_span_metrics_duration_milliseconds_bucket","service_name":"recommendation","span_name":"get_product_list","le":"0.1"},
       "exemplars":[{"labels":{"span_id":"bc9002fd488e4359","trace_id":"62532cf61e4fa3ad668e63a1251e0ee4"},"value":"0.079429","timestamp":1796069608.393},
                    {"labels":{"span_id":"93c18a7db2a9b568","trace_id":"7b84876b0b9bd98a4f414c2910173b0f"},"value":"1834.5","timestamp":1796069618.393}]},
      {"seriesLabels":{"service_name":"recommendation","span_name":"x"},
       "exemplars":[{"labels":{"other":"1"},"value":"9999","timestamp":1796069618.0}]}]}"#;

    #[test]
    fn the_slowest_exemplar_with_a_trace_id_wins() {
        let all = parse_answer(ANSWER).unwrap();
        assert_eq!(all.len(), 2, "the exemplar without trace_id is left out");
        let top = slowest(&all).unwrap();
        assert_eq!(top.trace_id, "7b84876b0b9bd98a4f414c2910173b0f");
        assert_eq!(top.span_id.as_deref(), Some("93c18a7db2a9b568"));
        assert_eq!(top.span_name.as_deref(), Some("get_product_list"));
        assert_eq!(
            top.to_string(),
            "1834.5 ms get_product_list, trace 7b84876b0b9bd98a4f414c2910173b0f"
        );
        assert!(slowest(&[]).is_none());
    }

    #[test]
    fn the_selector_names_the_duration_histogram_of_the_service() {
        assert_eq!(
            durations_of("recommendation"),
            "traces_span_metrics_duration_milliseconds_bucket{service_name=\"recommendation\"}"
        );
    }
}
