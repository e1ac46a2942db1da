//! The analysis on recorded runs (tests/fixtures/diagnose: `demo diagnose --json` on this
//! machine's offline stack, turned into the analysis input) and on synthetic inputs, and the
//! report's text as snapshots.
use std::collections::BTreeMap;

use super::verdict::{Call, Confidence, Growth, VerdictKind};
use super::*;
use crate::signals::jaeger::{KeyValue, Process, Reference, Span};

const MIB: f64 = 1024.0 * 1024.0;

fn recorded(name: &str) -> Observations {
    let path = format!(
        "{}/tests/fixtures/diagnose/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn service<'a>(d: &'a Diagnosis, name: &str) -> &'a ServiceFindings {
    d.services.iter().find(|s| s.service == name).unwrap()
}

/// A small deterministic noise source (a linear congruential generator), ±`amplitude`.
struct Noise(u64);

impl Noise {
    fn next(&mut self, amplitude: f64) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * amplitude
    }
}

fn observation(name: &str, samples: Vec<MemorySample>, limit_mib: f64) -> ServiceObservation {
    let restarts = samples.last().map_or(0, |s| s.restarts);
    ServiceObservation {
        service: name.to_string(),
        container: Some(format!("demo-{name}-1")),
        state: "running".to_string(),
        memory_limit: Some(limit_mib * MIB),
        samples,
        restarts_total: restarts,
        restarts_during_sampling: restarts,
        oom_kills_total: 0,
        oom_kills_in_window: 0,
        oom_flag: Some(false),
        created_at: None,
    }
}

fn observations(services: Vec<ServiceObservation>) -> Observations {
    Observations {
        project: "demo".to_string(),
        window_s: 300.0,
        sampled_s: 30.0,
        services,
        prometheus: Source::Failed {
            url: "http://127.0.0.1:9090".to_string(),
            reason: "Prometheus at http://127.0.0.1:9090 did not answer in 2s".to_string(),
        },
        jaeger: Source::Absent {
            reason: "the compose file has no jaeger service".to_string(),
        },
        admin: None,
        links: Links::default(),
        engine_excluded: false,
    }
}

/// `level(t)` in MiB every second for `n` seconds, with ±`noise` MiB.
fn series(n: usize, noise: f64, seed: u64, level: impl Fn(f64) -> f64) -> Vec<MemorySample> {
    let mut rng = Noise(seed);
    (0..n)
        .map(|i| {
            let t = i as f64;
            MemorySample {
                t,
                bytes: Some((level(t) + rng.next(noise)) * MIB),
                restarts: 0,
            }
        })
        .collect()
}

// ---- Recorded runs ----

#[test]
fn recorded_flag_off_reads_as_no_leak_with_high_confidence() {
    let d = analyze(&recorded("flag-off"));
    assert_eq!(d.verdict.kind, VerdictKind::NoLeak, "{:#?}", d.verdict);
    assert_eq!(d.verdict.confidence, Confidence::High);
    for s in &d.services {
        assert_eq!(s.call, Call::Steady, "{}: {:?}", s.service, s.memory);
        assert_eq!(s.memory.engine_growth, Growth::Flat, "{}", s.service);
    }
}

/// The recording cut at `seconds`: what `diagnose` had seen by then.
fn first(obs: &Observations, seconds: f64) -> Observations {
    let mut cut = obs.clone();
    cut.sampled_s = seconds;
    for s in &mut cut.services {
        s.samples.retain(|x| x.t <= seconds);
    }
    if let Some(admin) = &mut cut.admin {
        admin.cached_ids.retain(|(t, _)| *t <= seconds);
    }
    cut
}

#[test]
fn recorded_first_minute_of_the_leak_names_the_service_from_its_growing_list() {
    let obs = recorded("flag-on-first-minute");
    // After 30 s the list has grown 12 → 313 entries, memory not at all: one sign, medium.
    let early = analyze(&first(&obs, 31.0));
    assert_eq!(early.verdict.kind, VerdictKind::Leak);
    assert_eq!(early.verdict.service.as_deref(), Some("recommendation"));
    assert_eq!(
        early.verdict.confidence,
        Confidence::Medium,
        "{:#?}",
        early.verdict
    );
    assert_eq!(
        service(&early, "recommendation").memory.engine_growth,
        Growth::Flat
    );
    assert!(
        early
            .verdict
            .evidence
            .iter()
            .any(|e| e.contains("memory not visibly up yet")),
        "{:#?}",
        early.verdict.evidence
    );
    // By 60 s it holds 3.3 k entries, a hundred times the catalog: high.
    let d = analyze(&obs);
    assert_eq!(d.verdict.service.as_deref(), Some("recommendation"));
    assert_eq!(d.verdict.confidence, Confidence::High, "{:#?}", d.verdict);
    assert_eq!(service(&d, "prometheus").call, Call::Steady);
    assert_eq!(service(&d, "load-generator").call, Call::Steady);
}

#[test]
fn recorded_leak_after_100s_is_named_with_high_confidence() {
    let d = analyze(&recorded("flag-on-100s"));
    assert_eq!(d.verdict.service.as_deref(), Some("recommendation"));
    assert_eq!(d.verdict.confidence, Confidence::High, "{:#?}", d.verdict);
}

#[test]
fn recorded_oom_sawtooth_reads_as_a_leak_not_as_flat() {
    let obs = recorded("flag-on-20rps-ooms");
    let d = analyze(&obs);
    let rec = service(&d, "recommendation");
    assert_eq!(rec.call, Call::Leaking);
    assert!(
        rec.restarts_during_sampling >= Some(2),
        "{:?}",
        rec.restarts_during_sampling
    );
    let fit = rec.memory.engine.unwrap();
    assert!(fit.segments >= 3, "{fit:?}");
    assert_eq!(rec.memory.engine_growth, Growth::Clear, "{fit:?}");
    // One line through the whole sawtooth says much less than the fit per life.
    let all: Vec<(f64, f64)> = trend::segments_of_samples(&rec.samples).concat();
    let naive = trend::pooled_fit(&[all]).unwrap();
    assert!(naive.slope < fit.slope / 2.0, "naive {naive:?} vs {fit:?}");
    assert_eq!(d.verdict.service.as_deref(), Some("recommendation"));
    assert_eq!(d.verdict.confidence, Confidence::High);
    assert!(
        d.verdict.evidence[0].contains("OOM kill"),
        "{:#?}",
        d.verdict.evidence
    );
}

// ---- Synthetic inputs ----

#[test]
fn noisy_flat_memory_is_no_leak() {
    let services = vec![
        observation("recommendation", series(30, 0.4, 1, |_| 6.5), 200.0),
        observation("load-generator", series(30, 0.3, 2, |_| 4.5), 64.0),
        // Warming up by 1.5 MiB/min: real growth, but no leak.
        observation(
            "prometheus",
            series(30, 0.3, 3, |t| 20.0 + 0.025 * t),
            300.0,
        ),
    ];
    let d = analyze(&observations(services));
    assert_eq!(d.verdict.kind, VerdictKind::NoLeak, "{:#?}", d.verdict);
    assert_eq!(d.verdict.confidence, Confidence::High);
    assert!(
        d.verdict
            .evidence
            .iter()
            .any(|e| e.contains("no OOM kills"))
    );
}

#[test]
fn no_leak_is_not_certain_while_the_service_state_cannot_be_read() {
    let services = vec![
        observation("recommendation", series(30, 0.4, 1, |_| 6.5), 200.0),
        observation("load-generator", series(30, 0.3, 2, |_| 4.5), 64.0),
    ];
    let mut obs = observations(services);
    let mut admin = AdminState::new("recommendation");
    for t in [0.0, 5.0, 10.0] {
        admin.record(AdminRead {
            t,
            read: Err("no answer within 8s".into()),
        });
    }
    obs.admin = Some(admin);
    let d = analyze(&obs);
    assert_eq!(d.verdict.kind, VerdictKind::NoLeak);
    assert_eq!(d.verdict.confidence, Confidence::Medium, "{:#?}", d.verdict);
    assert!(
        d.verdict
            .confidence_why
            .contains("could not be read (3 failed reads: no answer within 8s)"),
        "{}",
        d.verdict.confidence_why
    );
}

#[test]
fn a_list_that_grows_a_little_is_watched_not_called() {
    let services = vec![observation(
        "recommendation",
        series(30, 0.4, 1, |_| 6.5),
        200.0,
    )];
    let mut obs = observations(services);
    let mut admin = AdminState::new("recommendation");
    for (t, ids) in [(0.0, 12), (5.0, 12), (10.0, 15)] {
        admin.record(AdminRead {
            t,
            read: Ok((Some(true), ids)),
        });
    }
    obs.admin = Some(admin);
    let d = analyze(&obs);
    assert_eq!(d.verdict.service.as_deref(), Some("recommendation"));
    assert_eq!(d.verdict.confidence, Confidence::Low, "{:#?}", d.verdict);
    assert_eq!(service(&d, "recommendation").call, Call::Suspicious);
}

#[test]
fn a_short_look_at_flat_memory_is_not_confident() {
    let services = vec![observation(
        "recommendation",
        series(6, 0.2, 4, |_| 6.5),
        200.0,
    )];
    let d = analyze(&observations(services));
    assert_eq!(d.verdict.kind, VerdictKind::NoLeak);
    assert_eq!(d.verdict.confidence, Confidence::Medium, "{:#?}", d.verdict);
}

#[test]
fn a_restart_in_the_middle_of_a_steady_climb_still_reads_as_growth() {
    // +60 MiB/min with noise; killed at 25 s (a drop to 6 MiB), climbing again after.
    let mut samples = series(40, 0.5, 5, |t| {
        if t < 25.0 { 20.0 + t } else { 6.0 + (t - 25.0) }
    });
    for s in samples.iter_mut().filter(|s| s.t >= 26.0) {
        s.restarts = 1;
    }
    let mut rec = observation("recommendation", samples, 200.0);
    rec.oom_kills_in_window = 1;
    rec.oom_kills_total = 1;
    let d = analyze(&observations(vec![
        rec,
        observation("load-generator", series(40, 0.3, 6, |_| 4.5), 64.0),
    ]));
    let found = service(&d, "recommendation");
    let fit = found.memory.engine.unwrap();
    assert_eq!(fit.segments, 2, "{fit:?}");
    assert!(((fit.slope * 60.0 / MIB) - 60.0).abs() < 5.0, "{fit:?}");
    assert!(fit.r2.unwrap() > 0.95, "{fit:?}");
    assert_eq!(found.memory.engine_growth, Growth::Clear);
    assert_eq!(d.verdict.service.as_deref(), Some("recommendation"));
    assert_eq!(d.verdict.confidence, Confidence::High, "{:#?}", d.verdict);
    assert_eq!(
        d.fastest_growing.as_ref().map(|f| f.service.as_str()),
        Some("recommendation")
    );
}

#[test]
fn nothing_running_is_unknown() {
    let samples = (0..10)
        .map(|i| MemorySample {
            t: i as f64,
            bytes: None,
            restarts: 0,
        })
        .collect();
    let mut gone = observation("recommendation", samples, 200.0);
    gone.state = "exited".into();
    let d = analyze(&observations(vec![gone]));
    assert_eq!(d.verdict.kind, VerdictKind::Unknown);
}

#[test]
fn prometheus_memory_alone_can_show_a_restarting_leak() {
    // The container was restarting throughout sampling; Prometheus saw a sawtooth over the
    // window: 5 s points climbing 1 MiB/s, cut by two restarts.
    let samples = (0..20)
        .map(|i| MemorySample {
            t: i as f64,
            bytes: None,
            restarts: 3,
        })
        .collect();
    let mut rec = observation("recommendation", samples, 200.0);
    rec.state = "restarting".into();
    rec.oom_kills_in_window = 2;
    rec.oom_kills_total = 3;
    let mut obs = observations(vec![rec]);
    let points: Vec<(f64, f64)> = (0..60)
        .map(|i| {
            let t = 1_700_000_000.0 + 5.0 * i as f64;
            (t, (5.0 + 5.0 * (i % 20) as f64) * MIB)
        })
        .collect();
    obs.prometheus = Source::Read {
        url: "http://127.0.0.1:9090".into(),
        data: MetricsData {
            memory: BTreeMap::from([("recommendation".to_string(), points)]),
            step_s: 5.0,
            ..MetricsData::default()
        },
    };
    let d = analyze(&obs);
    let rec = service(&d, "recommendation");
    let fit = rec.memory.prometheus.unwrap();
    assert_eq!(fit.segments, 3, "{fit:?}");
    assert_eq!(rec.memory.prometheus_growth, Growth::Clear);
    assert_eq!(d.verdict.service.as_deref(), Some("recommendation"));
    assert_eq!(d.verdict.confidence, Confidence::High, "{:#?}", d.verdict);
}

/// Every source answering: the shape of a full-stack run.
fn full_stack() -> Observations {
    let mut rec_samples = series(30, 0.3, 7, |t| 40.0 + 0.6 * t);
    rec_samples.truncate(30);
    let mut rec = observation("recommendation", rec_samples, 200.0);
    rec.oom_kills_in_window = 3;
    rec.oom_kills_total = 5;
    rec.restarts_total = 5;
    let mut obs = observations(vec![
        observation("load-generator", series(30, 0.2, 8, |_| 4.4), 64.0),
        rec,
    ]);
    let signals = |rate, p50, p99| KeySignals {
        request_rate: Some(rate),
        error_ratio: Some(0.0),
        p50_ms: Some(p50),
        p95_ms: Some(p99 * 0.8),
        p99_ms: Some(p99),
        p999_ms: Some(p99 * 1.1),
        cache_hit_ratio: None,
        memory_bytes: None,
        cpu_percent: Some(3.0),
        callers_error_ratio: None,
        callers_failed_calls: None,
    };
    let mut rec_signals = signals(0.5, 1.2, 240.0);
    rec_signals.cache_hit_ratio = Some(0.52);
    obs.prometheus = Source::Read {
        url: "http://127.0.0.1:9090".into(),
        data: MetricsData {
            signals: BTreeMap::from([
                ("recommendation".to_string(), rec_signals),
                ("frontend".to_string(), signals(0.5, 1.5, 250.0)),
            ]),
            memory: BTreeMap::new(),
            step_s: 5.0,
            cache_p95_ms: BTreeMap::from([
                ("true".to_string(), 0.45),
                ("false".to_string(), 190.0),
            ]),
            ..MetricsData::default()
        },
    };
    let mut traces = Vec::new();
    for i in 0..20u64 {
        traces.push(trace(
            &format!("{:032x}", i + 1),
            true,
            400 + 10 * i,
            40_000,
        ));
        traces.push(trace(
            &format!("{:032x}", i + 100),
            false,
            20_000 + 4_000 * i,
            1_900_000,
        ));
    }
    obs.jaeger = Source::Read {
        url: "http://127.0.0.1:16686".into(),
        data: traces,
    };
    obs.admin = Some(AdminState {
        service: "recommendation".into(),
        cache_enabled: Some(true),
        cached_ids: vec![(0.5, 1_200_000), (5.5, 1_500_000), (10.5, 1_900_000)],
        failed_reads: 0,
        last_error: None,
    });
    obs.links = Links {
        grafana_dashboard: Some(
            "http://127.0.0.1:3000/d/demo-recommendation/recommendation-service".into(),
        ),
        jaeger: Some("http://127.0.0.1:16686".into()),
        prometheus: Some("http://127.0.0.1:9090".into()),
    };
    obs
}

fn trace(id: &str, hit: bool, list_us: u64, count: i64) -> Trace {
    let kv = |key: &str, value: serde_json::Value| KeyValue {
        key: key.into(),
        value_type: String::new(),
        value,
    };
    let span = |span_id: &str, name: &str, start: u64, duration: u64, parent: Option<&str>| Span {
        trace_id: id.into(),
        span_id: span_id.into(),
        operation_name: name.into(),
        references: parent
            .map(|p| Reference {
                ref_type: "CHILD_OF".into(),
                trace_id: id.into(),
                span_id: p.into(),
            })
            .into_iter()
            .collect(),
        start_time: start,
        duration,
        tags: Vec::new(),
        process_id: Some("p1".into()),
    };
    let mut list = span("b", "get_product_list", 1_000_100, list_us, Some("a"));
    list.tags = vec![
        kv("app.cache_hit", serde_json::json!(hit)),
        kv("app.products.count", serde_json::json!(count)),
    ];
    Trace {
        trace_id: id.into(),
        spans: vec![
            span(
                "a",
                "oteldemo.RecommendationService/ListRecommendations",
                1_000_000,
                list_us + 300,
                None,
            ),
            list,
        ],
        processes: BTreeMap::from([(
            "p1".to_string(),
            Process {
                service_name: "recommendation".into(),
                tags: Vec::new(),
            },
        )]),
        warnings: Vec::new(),
    }
}

#[test]
fn with_every_source_the_evidence_includes_traces_metrics_and_the_list() {
    let d = analyze(&full_stack());
    assert_eq!(d.verdict.service.as_deref(), Some("recommendation"));
    assert_eq!(d.verdict.confidence, Confidence::High);
    let all = d.verdict.evidence.join("\n");
    for needle in [
        "3 OOM kills",
        "memory +36 MiB/min (engine stats)",
        "the product list grew 1.2 M → 1.9 M ids",
        "cache-miss get_product_list spans",
        "the product count is 1.9 M now",
        "get_product_list p95 190 ms on a miss vs 0.45 ms on a hit, 52% of calls hit the cache",
        "server latency p50 1.2 ms",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    let slowest = d.cache.traces.as_ref().unwrap().slowest.as_ref().unwrap();
    assert_eq!(slowest.trace_id, format!("{:032x}", 119));
    assert!(d.links.iter().any(|(what, url)| what == "slowest trace"
        && url == &format!("http://127.0.0.1:16686/trace/{:032x}", 119)));
}

#[test]
fn sources_that_do_not_answer_are_named_and_the_verdict_goes_on() {
    let d = analyze(&recorded("flag-on-100s"));
    let jaeger = d.sources.iter().find(|s| s.source == "jaeger").unwrap();
    assert_eq!(jaeger.status, "failed");
    assert!(
        jaeger.detail.contains("cannot be reached"),
        "{}",
        jaeger.detail
    );
    let prometheus = d.sources.iter().find(|s| s.source == "prometheus").unwrap();
    assert_eq!(prometheus.status, "no data");
    assert_eq!(d.verdict.kind, VerdictKind::Leak);
}

#[test]
fn json_carries_the_same_data() {
    let d = analyze(&full_stack());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["verdict"]["kind"], "leak");
    assert_eq!(json["verdict"]["service"], "recommendation");
    assert_eq!(json["verdict"]["confidence"], "high");
    assert_eq!(json["services"][1]["call"], "leaking");
    let back: Diagnosis = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
}

// ---- The report ----

#[test]
fn report_of_a_full_stack_leak() {
    insta::assert_snapshot!(report::render(&analyze(&full_stack())));
}

#[test]
fn report_of_the_recorded_oom_sawtooth() {
    insta::assert_snapshot!(report::render(&analyze(&recorded("flag-on-20rps-ooms"))));
}

#[test]
fn report_of_the_recorded_flag_off_run() {
    insta::assert_snapshot!(report::render(&analyze(&recorded("flag-off"))));
}
