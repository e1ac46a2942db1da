//! The analysis on the recorded runs of the real pipeline (`tests/fixtures/recorded/`, trimmed
//! from `../shared/recorded` by its `make.py`): the verdict from telemetry alone at points of
//! leak-run-2 (flag on at 20:02:45.76, OOM kills ~4 min 15 s and ~7 min 45 s later), and after
//! the flag went off again in leak-run-1. Prometheus's answers are cut from the recorded range
//! as `diagnose` would get them at that moment; traces are those started by then.
use std::collections::BTreeMap;

use serde::Deserialize;

use super::verdict::{Confidence, VerdictKind};
use super::*;
use crate::signals::jaeger::{Trace, parse_traces};
use crate::signals::prometheus::KeySignals;

const WINDOW_S: f64 = 300.0;

#[derive(Deserialize)]
struct Recorded {
    #[serde(default)]
    flag_on: Option<f64>,
    #[serde(default)]
    flag_off: Option<f64>,
    series: BTreeMap<String, Vec<(f64, f64)>>,
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/recorded/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn series(name: &str) -> Recorded {
    serde_json::from_str(&fixture(name)).expect("a recorded series fixture")
}

fn traces() -> Vec<Trace> {
    parse_traces(
        "recorded",
        200,
        fixture("leak-run-2-traces.json").as_bytes(),
    )
    .expect("recorded traces")
}

/// A counter's increase over points, counting from zero after each reset (as PromQL does).
fn increase(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| {
            if w[1].1 >= w[0].1 {
                w[1].1 - w[0].1
            } else {
                w[1].1
            }
        })
        .sum()
}

/// What Prometheus would answer at `at`: every series up to then, the window's last 300 s.
fn metrics_at(rec: &Recorded, at: f64) -> MetricsData {
    let upto = |key: &str| -> Vec<(f64, f64)> {
        rec.series
            .get(key)
            .map(|p| p.iter().copied().filter(|x| x.0 <= at).collect())
            .unwrap_or_default()
    };
    let in_window = |points: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        points
            .into_iter()
            .filter(|x| x.0 >= at - WINDOW_S)
            .collect()
    };
    // The scrape interval of the recording: 5 s (leak-run-2's range) or ~16 s (leak-run-1).
    let times: Vec<f64> = rec.series["memory/recommendation"]
        .iter()
        .map(|p| p.0)
        .collect();
    let mut steps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    steps.sort_by(f64::total_cmp);
    let mut data = MetricsData {
        step_s: steps.get(steps.len() / 2).copied().unwrap_or(5.0),
        window_start: Some(at - WINDOW_S),
        ..MetricsData::default()
    };
    for service in ["recommendation", "load-generator"] {
        data.memory
            .insert(service.to_string(), upto(&format!("memory/{service}")));
        data.cpu
            .insert(service.to_string(), upto(&format!("cpu/{service}")));
    }
    let failed = increase(&in_window(upto("callers/recommendation/STATUS_CODE_ERROR")));
    let ok = increase(&in_window(upto("callers/recommendation/STATUS_CODE_UNSET")));
    if failed + ok > 0.0 {
        data.signals.insert(
            "recommendation".to_string(),
            KeySignals {
                callers_error_ratio: Some(failed / (failed + ok)),
                callers_failed_calls: Some(failed),
                ..KeySignals::default()
            },
        );
    }
    data
}

fn traces_at(all: &[Trace], at: f64) -> Vec<Trace> {
    let (from, to) = (((at - WINDOW_S) * 1e6) as u64, (at * 1e6) as u64);
    all.iter()
        .filter(|t| {
            t.spans
                .iter()
                .any(|s| s.start_time >= from && s.start_time <= to)
        })
        .cloned()
        .collect()
}

/// The telemetry-only observations of leak-run-2 at `at`, with `traces` as Jaeger's.
fn observations_at(rec: &Recorded, at: f64, traces: &[Trace]) -> Observations {
    Observations {
        project: "demo".to_string(),
        window_s: WINDOW_S,
        sampled_s: 0.0,
        services: Vec::new(),
        prometheus: Source::Read {
            url: "recorded".to_string(),
            data: metrics_at(rec, at),
        },
        jaeger: Source::Read {
            url: "recorded".to_string(),
            data: traces_at(traces, at),
        },
        admin: None,
        links: Links::default(),
        engine_excluded: true,
    }
}

/// `diagnose --sources …` (telemetry only) at `at`.
fn diagnose_at(metrics: Option<MetricsData>, traces: Option<Vec<Trace>>) -> Diagnosis {
    let absent = || "left out by --sources".to_string();
    let obs = Observations {
        project: "demo".to_string(),
        window_s: WINDOW_S,
        sampled_s: 0.0,
        services: Vec::new(),
        prometheus: metrics.map_or_else(
            || Source::Absent { reason: absent() },
            |data| Source::Read {
                url: "recorded".to_string(),
                data,
            },
        ),
        jaeger: traces.map_or_else(
            || Source::Absent { reason: absent() },
            |data| Source::Read {
                url: "recorded".to_string(),
                data,
            },
        ),
        admin: None,
        links: Links::default(),
        engine_excluded: true,
    };
    analyze(&obs)
}

fn summary(d: &Diagnosis) -> String {
    format!(
        "{:?} {:?} {:?}: {}",
        d.verdict.kind,
        d.verdict.service,
        d.verdict.confidence,
        d.verdict.evidence.join(" | ")
    )
}

/// Spans rewritten to carry only upstream 3.0's attribute names.
fn renamed_to_v3(traces: &[Trace]) -> Vec<Trace> {
    let mut out = traces.to_vec();
    for t in &mut out {
        for s in &mut t.spans {
            for tag in &mut s.tags {
                tag.key = match tag.key.as_str() {
                    traces::ATTR_CACHE_HIT => traces::ATTR_CACHE_HIT_V3.to_string(),
                    traces::ATTR_PRODUCTS_COUNT => traces::ATTR_PRODUCTS_COUNT_V3.to_string(),
                    other => other.to_string(),
                };
            }
        }
    }
    out
}

fn leak_run_2_at(seconds_after_flag: f64, with_traces: Option<&[Trace]>) -> Diagnosis {
    let rec = series("leak-run-2-series.json");
    let at = rec.flag_on.expect("leak-run-2 has its flag time") + seconds_after_flag;
    diagnose_at(
        Some(metrics_at(&rec, at)),
        with_traces.map(|all| traces_at(all, at)),
    )
}

fn assert_leak(d: &Diagnosis, at_least: Confidence, when: &str) {
    assert_eq!(d.verdict.kind, VerdictKind::Leak, "{when}: {}", summary(d));
    assert_eq!(
        d.verdict.service.as_deref(),
        Some("recommendation"),
        "{when}: {}",
        summary(d)
    );
    assert!(d.verdict.confidence >= at_least, "{when}: {}", summary(d));
}

#[test]
fn prometheus_and_jaeger_name_the_leak_from_60s_and_surely_from_the_climb() {
    let all = traces();
    for s in [-30.0, 0.0] {
        let d = leak_run_2_at(s, Some(&all));
        assert_eq!(d.verdict.kind, VerdictKind::NoLeak, "{s}s: {}", summary(&d));
    }
    for s in [60.0, 90.0, 120.0, 150.0, 180.0] {
        let d = leak_run_2_at(s, Some(&all));
        assert_leak(&d, Confidence::Medium, &format!("{s}s"));
        assert!(
            d.verdict.evidence[0].contains("against a catalog of 10"),
            "{s}s: {}",
            summary(&d)
        );
    }
    // From the first visible memory climb (~3 min 20 s) and through both OOM kills.
    for s in [200.0, 240.0, 255.0, 270.0, 300.0, 360.0, 480.0, 540.0] {
        assert_leak(
            &leak_run_2_at(s, Some(&all)),
            Confidence::High,
            &format!("{s}s"),
        );
    }
}

#[test]
fn prometheus_alone_names_it_from_the_climb_and_still_after_an_oom_kill() {
    // Before memory climbs, Prometheus has no sign of the leak, and says so.
    let early = leak_run_2_at(120.0, None);
    assert_ne!(early.verdict.kind, VerdictKind::Leak, "{}", summary(&early));
    for s in [210.0, 240.0, 255.0] {
        let d = leak_run_2_at(s, None);
        assert_leak(&d, Confidence::Medium, &format!("{s}s"));
        assert!(
            d.verdict.evidence[0].contains("current life"),
            "{}",
            summary(&d)
        );
    }
    for s in [300.0, 360.0, 480.0] {
        let d = leak_run_2_at(s, None);
        assert_leak(&d, Confidence::Medium, &format!("{s}s"));
        let restarts = &d.verdict.evidence[0];
        assert!(
            restarts.contains("restart") && restarts.contains("counters reset"),
            "{s}s: {restarts}"
        );
        let rec = d
            .services
            .iter()
            .find(|x| x.service == "recommendation")
            .unwrap();
        // The engine was not read: no total, the window's figure from the counters.
        assert_eq!(rec.oom_kills_total, None);
        assert!(rec.oom_kills_in_window >= Some(1), "{rec:?}");
    }
    let text = report::render(&leak_run_2_at(300.0, None));
    assert!(
        text.contains("MEMORY (Prometheus; the engine was not read"),
        "{text}"
    );
    assert!(
        text.contains("recommendation  -      "),
        "no engine state for a telemetry-only service:\n{text}"
    );
    let two = leak_run_2_at(480.0, None);
    assert!(
        two.verdict.evidence[0].starts_with("2 restarts"),
        "{}",
        summary(&two)
    );
    assert!(
        two.verdict.evidence[0].contains("callers saw 2 failed calls"),
        "{}",
        summary(&two)
    );
}

#[test]
fn after_the_flag_goes_off_there_is_no_active_leak_but_the_kills_are_reported() {
    let rec = series("leak-run-1-flag-off-series.json");
    let off = rec.flag_off.expect("leak-run-1 has its flag-off time");
    let end = rec.series["memory/recommendation"].last().unwrap().0;
    assert!(end > off + 60.0);
    let d = diagnose_at(Some(metrics_at(&rec, end)), None);
    assert_eq!(d.verdict.kind, VerdictKind::NoLeak, "{}", summary(&d));
    let kills = d
        .verdict
        .evidence
        .iter()
        .find(|e| e.contains("restart at the top of a steep memory climb"))
        .unwrap_or_else(|| panic!("{}", summary(&d)));
    assert!(kills.contains("no active leak"), "{kills}");
}

#[test]
fn upstream_3_0_attribute_names_read_like_the_walkthrough_s() {
    let walkthrough = traces();
    let upstream = renamed_to_v3(&walkthrough);
    assert!(
        upstream
            .iter()
            .flat_map(|t| &t.spans)
            .all(|s| s.tag(traces::ATTR_CACHE_HIT).is_none()
                && s.tag(traces::ATTR_PRODUCTS_COUNT).is_none())
    );
    for s in [60.0, 120.0, 240.0] {
        let a = leak_run_2_at(s, Some(&walkthrough));
        let b = leak_run_2_at(s, Some(&upstream));
        assert_eq!(a.verdict, b.verdict, "{s}s");
        // The same findings, but for the attribute name they were read under.
        let without_name = |mut c: CacheFindings| {
            c.traces.as_mut().unwrap().cache_hit_attribute = None;
            c
        };
        assert_eq!(without_name(a.cache), without_name(b.cache.clone()), "{s}s");
        assert!(b.cache.traces.as_ref().unwrap().max_products_count > Some(10));
    }
    // The Jaeger searches it links to use the name the spans carry.
    let rec = series("leak-run-2-series.json");
    let at = rec.flag_on.unwrap() + 120.0;
    for (traces, tag) in [
        (&upstream, "%22demo.recommendation.cache_hit%22"),
        (&walkthrough, "%22app.cache_hit%22"),
    ] {
        let obs = Observations {
            links: Links {
                jaeger: Some("http://127.0.0.1:16686".to_string()),
                ..Links::default()
            },
            ..observations_at(&rec, at, traces)
        };
        let links = analyze(&obs).links;
        let misses = &links
            .iter()
            .find(|(what, _)| what == "cache misses")
            .unwrap()
            .1;
        assert!(misses.contains(tag), "{misses}");
    }
}

#[test]
fn a_flat_engine_reading_never_outvotes_telemetry_showing_the_leak() {
    // Issue 14's case: 4 min into the leak, memory at 103 MiB in Prometheus, while the
    // container the engine samples (a fresh life, or a different one) reads flat.
    let rec = series("leak-run-2-series.json");
    let at = rec.flag_on.unwrap() + 255.0;
    let flat = |service: &str| ServiceObservation {
        service: service.to_string(),
        container: Some(format!("demo-{service}-1")),
        state: "running".to_string(),
        memory_limit: Some(200.0 * 1024.0 * 1024.0),
        samples: (0..25)
            .map(|i| trend::MemorySample {
                t: i as f64,
                bytes: Some(6.0 * 1024.0 * 1024.0),
                restarts: 0,
            })
            .collect(),
        restarts_total: 0,
        restarts_during_sampling: 0,
        oom_kills_total: 0,
        oom_kills_in_window: 0,
        oom_flag: Some(false),
        created_at: None,
    };
    let mut obs = Observations {
        project: "demo".to_string(),
        window_s: WINDOW_S,
        sampled_s: 25.0,
        services: vec![flat("load-generator"), flat("recommendation")],
        prometheus: Source::Read {
            url: "recorded".to_string(),
            data: metrics_at(&rec, at),
        },
        jaeger: Source::Absent {
            reason: "left out by --sources".to_string(),
        },
        admin: None,
        links: Links::default(),
        engine_excluded: false,
    };
    let d = analyze(&obs);
    assert_leak(&d, Confidence::Medium, "255s with a flat engine reading");
    assert!(
        d.verdict
            .evidence
            .iter()
            .any(|e| e.starts_with("sources disagree: the engine's samples")),
        "{}",
        summary(&d)
    );
    obs.jaeger = Source::Read {
        url: "recorded".to_string(),
        data: traces_at(&traces(), at),
    };
    assert_leak(&analyze(&obs), Confidence::High, "with traces too");
}
