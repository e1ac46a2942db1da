//! The walkthrough's trace comparison: `get_product_list` spans with `app.cache_hit=true` next
//! to those with `false`, the largest `app.products.count`, and the slowest trace.
//!
//! It compares the `get_product_list` spans, not whole traces or server spans: they are the
//! spans that carry `app.cache_hit`, and the work the cache decides about (a miss grows and
//! walks the list). Spans are classified by their own tag, whichever search found them.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::percentile::Distribution;
use crate::signals::jaeger::Trace;
use crate::signals::names;

/// Span attribute names the recommendation service sets (DESIGN §3, upstream 2.x names).
pub const ATTR_CACHE_HIT: &str = "app.cache_hit";
pub const ATTR_PRODUCTS_COUNT: &str = "app.products.count";

/// Cache hits against misses, from traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheComparison {
    /// Which spans were compared.
    pub span_name: String,
    pub traces: usize,
    pub hit: Option<Distribution>,
    pub miss: Option<Distribution>,
    /// Median miss latency over median hit latency.
    pub slowdown: Option<f64>,
    /// The longest list a request used (`app.products.count`).
    pub max_products_count: Option<i64>,
    pub slowest: Option<SlowTrace>,
}

/// The slowest trace found, to open in Jaeger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowTrace {
    pub trace_id: String,
    pub duration_ms: f64,
    /// Its `get_product_list` span's `app.cache_hit`, when it has one.
    pub cache_hit: Option<bool>,
    pub products_count: Option<i64>,
}

/// Compares the `get_product_list` spans of `service` in `traces` (the union of the
/// `app.cache_hit=true` and `=false` searches; duplicates are counted once). `None` without
/// any trace.
pub fn compare(service: &str, traces: &[Trace]) -> Option<CacheComparison> {
    let unique: BTreeMap<&str, &Trace> = traces.iter().map(|t| (t.trace_id.as_str(), t)).collect();
    if unique.is_empty() {
        return None;
    }
    let (mut hits, mut misses) = (Vec::new(), Vec::new());
    let mut max_products_count: Option<i64> = None;
    let mut slowest: Option<SlowTrace> = None;
    for trace in unique.values() {
        let mut trace_hit = None;
        let mut trace_count = None;
        for span in &trace.spans {
            if trace.service_of(span).is_some_and(|s| s != service) {
                continue;
            }
            if let Some(count) = span.tag(ATTR_PRODUCTS_COUNT).and_then(|t| t.as_i64()) {
                max_products_count = Some(max_products_count.map_or(count, |m| m.max(count)));
                trace_count = Some(trace_count.map_or(count, |m: i64| m.max(count)));
            }
            if span.operation_name != names::SPAN_GET_PRODUCT_LIST {
                continue;
            }
            let Some(hit) = span.tag(ATTR_CACHE_HIT).and_then(|t| t.as_bool()) else {
                continue;
            };
            trace_hit = Some(hit);
            let ms = span.duration as f64 / 1000.0;
            if hit {
                hits.push(ms);
            } else {
                misses.push(ms);
            }
        }
        let duration_ms = trace.duration().as_secs_f64() * 1000.0;
        if slowest.as_ref().is_none_or(|s| duration_ms > s.duration_ms) {
            slowest = Some(SlowTrace {
                trace_id: trace.trace_id.clone(),
                duration_ms,
                cache_hit: trace_hit,
                products_count: trace_count,
            });
        }
    }
    let hit = Distribution::of(&hits);
    let miss = Distribution::of(&misses);
    let slowdown = match (&hit, &miss) {
        (Some(h), Some(m)) if h.p50_ms > 0.0 => Some(m.p50_ms / h.p50_ms),
        _ => None,
    };
    Some(CacheComparison {
        span_name: names::SPAN_GET_PRODUCT_LIST.to_string(),
        traces: unique.len(),
        hit,
        miss,
        slowdown,
        max_products_count,
        slowest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::jaeger::{KeyValue, Process, Reference, Span};

    fn tag(key: &str, value: serde_json::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value_type: String::new(),
            value,
        }
    }

    /// A request: a server span and its get_product_list child.
    fn trace(id: &str, hit: Option<bool>, list_us: u64, count: i64) -> Trace {
        let server = Span {
            trace_id: id.into(),
            span_id: "s1".into(),
            operation_name: "oteldemo.RecommendationService/ListRecommendations".into(),
            references: vec![],
            start_time: 1_000,
            duration: list_us + 200,
            tags: vec![],
            process_id: Some("p1".into()),
        };
        let mut tags = vec![tag(ATTR_PRODUCTS_COUNT, serde_json::json!(count))];
        if let Some(hit) = hit {
            tags.push(tag(ATTR_CACHE_HIT, serde_json::json!(hit)));
        }
        let list = Span {
            trace_id: id.into(),
            span_id: "s2".into(),
            operation_name: "get_product_list".into(),
            references: vec![Reference {
                ref_type: "CHILD_OF".into(),
                trace_id: id.into(),
                span_id: "s1".into(),
            }],
            start_time: 1_100,
            duration: list_us,
            tags,
            process_id: Some("p1".into()),
        };
        Trace {
            trace_id: id.into(),
            spans: vec![server, list],
            processes: BTreeMap::from([(
                "p1".to_string(),
                Process {
                    service_name: "recommendation".into(),
                    tags: vec![],
                },
            )]),
            warnings: vec![],
        }
    }

    #[test]
    fn misses_and_hits_are_compared_by_their_own_tag() {
        let mut traces: Vec<Trace> = (0..10)
            .map(|i| trace(&format!("h{i}"), Some(true), 1_000 + i * 100, 500))
            .collect();
        traces.extend(
            (0..10).map(|i| trace(&format!("m{i}"), Some(false), 20_000 + i * 1_000, 1_900_000)),
        );
        // The same trace found by both searches counts once.
        traces.push(trace("m9", Some(false), 29_000, 1_900_000));
        let c = compare("recommendation", &traces).unwrap();
        assert_eq!(c.traces, 20);
        let (hit, miss) = (c.hit.unwrap(), c.miss.unwrap());
        assert_eq!((hit.count, miss.count), (10, 10));
        assert!((hit.p50_ms - 1.45).abs() < 1e-9, "{}", hit.p50_ms);
        assert!((miss.p50_ms - 24.5).abs() < 1e-9, "{}", miss.p50_ms);
        assert!((c.slowdown.unwrap() - 24.5 / 1.45).abs() < 1e-9);
        assert_eq!(c.max_products_count, Some(1_900_000));
        let slowest = c.slowest.unwrap();
        assert_eq!(slowest.trace_id, "m9");
        assert!(
            (slowest.duration_ms - 29.2).abs() < 1e-9,
            "{}",
            slowest.duration_ms
        );
        assert_eq!(slowest.cache_hit, Some(false));
    }

    #[test]
    fn traces_without_the_tag_give_no_distributions() {
        let traces = [trace("a", None, 1_000, 10)];
        let c = compare("recommendation", &traces).unwrap();
        assert_eq!((c.hit, c.miss, c.slowdown), (None, None, None));
        assert_eq!(c.max_products_count, Some(10));
        assert!(compare("recommendation", &[]).is_none());
    }

    #[test]
    fn spans_of_other_services_are_ignored() {
        let mut other = trace("x", Some(false), 99_000, 7);
        other.processes.get_mut("p1").unwrap().service_name = "frontend".into();
        let c = compare("recommendation", &[other]).unwrap();
        assert_eq!(c.miss, None);
        assert_eq!(c.max_products_count, None);
    }
}
