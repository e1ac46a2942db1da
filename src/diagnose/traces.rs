//! The walkthrough's trace comparison: `get_product_list` spans with `app.cache_hit=true` next
//! to those with `false`, the largest `app.products.count`, and the slowest trace.
//!
//! It compares the `get_product_list` spans, not whole traces or server spans: they are the
//! spans that carry `app.cache_hit`, and the work the cache decides about (a miss grows and
//! walks the list). Spans are classified by their own tag, whichever search found them.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::percentile::Distribution;
use crate::signals::jaeger::{Span, Trace};
use crate::signals::names;

/// Span attribute names the recommendation service sets: the walkthrough's (upstream 2.x,
/// DESIGN §3) first, then upstream 3.0's (opentelemetry-demo #3374, #3393). A span may carry
/// either set or both; every reader here takes the first name present.
pub const ATTR_CACHE_HIT: &str = "app.cache_hit";
pub const ATTR_PRODUCTS_COUNT: &str = "app.products.count";
pub const ATTR_CACHE_HIT_V3: &str = "demo.recommendation.cache_hit";
pub const ATTR_PRODUCTS_COUNT_V3: &str = "demo.product.count";
pub const CACHE_HIT_NAMES: [&str; 2] = [ATTR_CACHE_HIT, ATTR_CACHE_HIT_V3];
pub const PRODUCTS_COUNT_NAMES: [&str; 2] = [ATTR_PRODUCTS_COUNT, ATTR_PRODUCTS_COUNT_V3];

/// A list this many times the catalog (and growing across traces) is the leak's list.
pub const BEYOND_CATALOG: f64 = 3.0;

/// A span's `cache_hit` under either name.
pub fn cache_hit(span: &Span) -> Option<bool> {
    cache_hit_named(span).map(|(_, hit)| hit)
}

/// A span's `cache_hit` and the attribute name that carried it.
fn cache_hit_named(span: &Span) -> Option<(&'static str, bool)> {
    CACHE_HIT_NAMES.iter().find_map(|name| {
        span.tag(name)
            .and_then(|t| t.as_bool())
            .map(|hit| (*name, hit))
    })
}

/// A span's product count under either name.
pub fn products_count(span: &Span) -> Option<i64> {
    PRODUCTS_COUNT_NAMES
        .iter()
        .find_map(|name| span.tag(name).and_then(|t| t.as_i64()))
}

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
    /// How the product count moved across traces in time, when the spans carry it.
    #[serde(default)]
    pub list: Option<ListGrowth>,
    /// The cache-hit attribute the spans carry (the walkthrough's, else upstream 3.0's), for
    /// Jaeger searches that find them.
    #[serde(default)]
    pub cache_hit_attribute: Option<String>,
}

/// The product count across `get_product_list` spans in time. With the cache off every request
/// reads the catalog, so the count there is the catalog's size; with the leak it exceeds it
/// from the first misses on and grows from trace to trace (until a restart empties the list).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ListGrowth {
    /// The count on spans without a cache decision (the flag off), when any were found.
    pub catalog: Option<i64>,
    /// The latest count on a span with the cache in use, and the highest.
    pub latest: i64,
    pub max: i64,
    /// Steps between consecutive cached spans (in time, cut where the list emptied: a
    /// restart), and how many shrank (a hit keeps the count, a miss grows it).
    pub steps: usize,
    pub shrinking_steps: usize,
    /// The count at the start of the current life of the list.
    pub life_first: i64,
    /// Restarts seen as the list falling back.
    pub emptied: usize,
}

impl ListGrowth {
    /// The leak's list: far beyond the catalog (or any catalog, when its size is unknown) and
    /// growing across traces.
    pub fn is_leak_like(&self) -> bool {
        let beyond = match self.catalog {
            Some(c) => self.latest as f64 >= c.max(1) as f64 * BEYOND_CATALOG,
            None => self.latest >= super::verdict::LARGE_LIST as i64,
        };
        beyond
            && self.steps >= 2
            && self.shrinking_steps * 10 <= self.steps
            && self.latest > self.life_first
    }
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
    let mut attribute: Option<&str> = None;
    for trace in unique.values() {
        let mut trace_hit = None;
        let mut trace_count = None;
        for span in &trace.spans {
            if trace.service_of(span).is_some_and(|s| s != service) {
                continue;
            }
            if let Some(count) = products_count(span) {
                max_products_count = Some(max_products_count.map_or(count, |m| m.max(count)));
                trace_count = Some(trace_count.map_or(count, |m: i64| m.max(count)));
            }
            if span.operation_name != names::SPAN_GET_PRODUCT_LIST {
                continue;
            }
            let Some((name, hit)) = cache_hit_named(span) else {
                continue;
            };
            // The walkthrough's name wins where spans carry both.
            if attribute != Some(ATTR_CACHE_HIT) {
                attribute = Some(name);
            }
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
        list: list_growth(service, unique.values().copied()),
        cache_hit_attribute: attribute.map(String::from),
    })
}

/// The product count of `service`'s `get_product_list` spans in time.
pub fn list_growth<'a>(
    service: &str,
    traces: impl Iterator<Item = &'a Trace>,
) -> Option<ListGrowth> {
    let mut catalog: Vec<i64> = Vec::new();
    let mut cached: Vec<(u64, i64)> = Vec::new();
    for trace in traces {
        for span in &trace.spans {
            if span.operation_name != names::SPAN_GET_PRODUCT_LIST
                || trace.service_of(span).is_some_and(|s| s != service)
            {
                continue;
            }
            let Some(count) = products_count(span) else {
                continue;
            };
            match cache_hit(span) {
                Some(_) => cached.push((span.start_time, count)),
                None => catalog.push(count),
            }
        }
    }
    cached.sort();
    let &(_, latest) = cached.last()?;
    catalog.sort();
    let (mut steps, mut shrinking_steps, mut emptied) = (0, 0, 0);
    let mut life_first = cached[0].1;
    for w in cached.windows(2) {
        let (before, after) = (w[0].1, w[1].1);
        if (after as f64) < before as f64 * 0.5 {
            emptied += 1;
            life_first = after;
            continue;
        }
        steps += 1;
        shrinking_steps += usize::from(after < before);
    }
    Some(ListGrowth {
        catalog: catalog.get(catalog.len() / 2).copied(),
        latest,
        max: cached.iter().map(|c| c.1).max().unwrap_or(latest),
        steps,
        shrinking_steps,
        life_first,
        emptied,
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
