//! `demo diagnose [--window 5m] [--sample 60s] [--json]`: gathers memory, restarts and OOM
//! kills from the engine, key signals from Prometheus, cache hits and misses from Jaeger and the
//! service's own state, then prints what `diagnose::analyze` makes of them.
//!
//! The engine is sampled every [`SAMPLE_EVERY`] until the verdict is confident (after at least
//! [`MIN_SAMPLE`]) or `--sample` has passed. Prometheus and Jaeger are read once, first, with
//! short timeouts: one that does not answer is named in the report and the verdict goes on
//! without it.
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::future;
use serde::Serialize;

use super::Context;
use crate::cli::{DiagnoseArgs, DiagnoseSource};
use crate::diagnose::trend::MemorySample;
use crate::diagnose::verdict::Confidence;
use crate::diagnose::{
    self, AdminRead, AdminState, Diagnosis, Links, MetricsData, Observations, ServiceObservation,
    Source,
};
use crate::engine::{ContainerFacts, Engine, kills_at_most};
use crate::error::Error;
use crate::signals::alerts::Alert;
use crate::signals::endpoints::Endpoints;
use crate::signals::exemplars::{self, Exemplar};
use crate::signals::jaeger::{self, Jaeger, Trace, TraceQuery};
use crate::signals::names;
use crate::signals::prometheus::{self, KeySignals, Prometheus, query};

/// One stats reading per container per tick. The engine's one-shot stats take about a second
/// on cgroup v1 (it answers at its collector's next tick), so this is as often as it gives.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// A confident verdict is not accepted before this much sampling.
const MIN_SAMPLE: Duration = Duration::from_secs(20);
/// The service's own state is read every this many ticks, and on the last: an exec costs more
/// than stats and adds three events to the engine's short event log, where OOM kills are
/// counted.
const ADMIN_EVERY: u32 = 5;
/// Generous: a busy engine can take seconds to start an exec, and a read that gives up is a
/// gap in the evidence (the reads run beside the stats, so a slow one delays only its tick).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(8);
/// Traces asked of Jaeger (at the default load, 0.5 calls/s, a 5m window holds 150).
const TRACE_LIMIT: usize = 500;
/// Points of the Prometheus memory range over the window (the step is at least the 5 s scrape).
const RANGE_POINTS: f64 = 240.0;
/// How far back Prometheus is read to see the containers' restarts in its counters.
const LIVES_REACH: Duration = Duration::from_secs(3600);

pub async fn run(ctx: &Context, args: DiagnoseArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    let uses = |source: DiagnoseSource| args.sources.contains(&source);
    // Without the engine, `diagnose` reads telemetry only and needs no engine at all.
    let engine = if uses(DiagnoseSource::Engine) {
        Some(ctx.engine().await?)
    } else {
        None
    };
    let mut containers: Vec<ContainerFacts> = match &engine {
        Some(engine) => engine.observe(&project.name).await?.containers,
        None => Vec::new(),
    };
    containers.sort_by(|a, b| a.service.cmp(&b.service));
    if engine.is_some() && containers.is_empty() {
        eprintln!(
            "nothing to diagnose: project {} has no containers; start it with `demo up`",
            project.name
        );
        return Ok(ExitCode::FAILURE);
    }
    let endpoints = Endpoints::of(&project);
    let window = args.window.max(Duration::from_secs(1));
    // Prometheus is read back to the oldest container's creation (up to an hour), so the
    // restarts its counters show cover the containers' lives.
    let oldest = containers
        .iter()
        .filter_map(ContainerFacts::created_unix)
        .reduce(f64::min);
    fn left_out<T>() -> Source<T> {
        Source::Absent {
            reason: "left out by --sources".to_string(),
        }
    }

    let mut task = ctx.progress.task("diagnose");
    task.stage("reading Prometheus and Jaeger");
    let (prometheus, jaeger, pointers) = tokio::join!(
        async {
            match uses(DiagnoseSource::Prometheus) {
                true => read_prometheus(endpoints.prometheus.as_deref(), window, oldest).await,
                false => left_out(),
            }
        },
        async {
            match uses(DiagnoseSource::Jaeger) {
                true => read_jaeger(endpoints.jaeger.as_deref(), window).await,
                false => left_out(),
            }
        },
        async {
            match uses(DiagnoseSource::Prometheus) {
                true => read_pointers(&endpoints, window).await,
                false => Pointers::default(),
            }
        },
    );
    task.stage(&format!(
        "sampling memory of {} containers every {}s for up to {}",
        containers.len(),
        SAMPLE_EVERY.as_secs(),
        diagnose::report::duration(args.sample.as_secs_f64())
    ));

    let mut observations = Observations {
        project: project.name.clone(),
        window_s: window.as_secs_f64(),
        sampled_s: 0.0,
        services: Vec::new(),
        prometheus,
        jaeger,
        admin: None,
        links: Links {
            grafana_dashboard: endpoints.grafana_dashboard.clone(),
            jaeger: endpoints.jaeger.clone(),
            prometheus: endpoints.prometheus.clone(),
        },
        engine_excluded: engine.is_none(),
    };
    let diagnosis = match &engine {
        Some(engine) => {
            let state = uses(DiagnoseSource::State);
            sample(
                engine,
                &containers,
                args.sample,
                state,
                &mut observations,
                &task,
            )
            .await
        }
        None => diagnose::analyze(&observations),
    };
    task.finish(&format!(
        "sampled for {}",
        diagnose::report::duration(observations.sampled_s)
    ));
    if args.json {
        let report = WithPointers {
            diagnosis: &diagnosis,
            pointers: &pointers,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a diagnosis serializes")
        );
    } else {
        print!("{}", diagnose::report::render(&diagnosis));
        print!("{}", render_pointers(&pointers));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where to look next, from Prometheus: the alerts firing (compose/prometheus/alerts.yml) and
/// the trace behind the slowest exemplar of the window, with its Jaeger search. Printed after
/// the report; an unanswered read is a note, never a failure.
#[derive(Debug, Default, Serialize)]
pub struct Pointers {
    pub alerts: Vec<Alert>,
    pub slowest_exemplar: Option<SlowestTrace>,
    pub notes: Vec<String>,
}

/// The slowest exemplar and the Jaeger pages that show its trace and its neighbours.
#[derive(Debug, Serialize)]
pub struct SlowestTrace {
    #[serde(flatten)]
    pub exemplar: Exemplar,
    pub trace_url: Option<String>,
    pub search_url: Option<String>,
}

/// The JSON report: the diagnosis's own fields, and `pointers` beside them.
#[derive(Serialize)]
struct WithPointers<'a> {
    #[serde(flatten)]
    diagnosis: &'a Diagnosis,
    pointers: &'a Pointers,
}

async fn read_pointers(endpoints: &Endpoints, window: Duration) -> Pointers {
    let mut pointers = Pointers::default();
    let Some(url) = endpoints.prometheus.as_deref() else {
        return pointers;
    };
    let client = match Prometheus::new(url, prometheus::DEFAULT_TIMEOUT) {
        Ok(client) => client,
        Err(e) => {
            pointers.notes.push(format!("alerts and exemplars: {e}"));
            return pointers;
        }
    };
    let end = prometheus::unix_now();
    let selector = exemplars::durations_of(names::SERVICE_RECOMMENDATION);
    let (alerts, found) = tokio::join!(
        client.alerts(),
        client.exemplars(&selector, end - window.as_secs_f64(), end)
    );
    match alerts {
        Ok(alerts) => pointers.alerts = alerts,
        Err(e) => pointers.notes.push(format!("alerts: {e}")),
    }
    match found {
        Ok(found) => {
            pointers.slowest_exemplar = exemplars::slowest(&found).map(|e| SlowestTrace {
                exemplar: e.clone(),
                trace_url: endpoints
                    .jaeger
                    .as_deref()
                    .map(|base| jaeger::trace_url(base, &e.trace_id)),
                search_url: endpoints.jaeger.as_deref().map(|base| {
                    let service = e
                        .service
                        .as_deref()
                        .unwrap_or(names::SERVICE_RECOMMENDATION);
                    let mut search = TraceQuery::new(service).lookback(window);
                    if let Some(span) = &e.span_name {
                        search = search.operation(span);
                    }
                    jaeger::search_url(base, &search)
                }),
            });
            if found.is_empty() {
                pointers.notes.push(format!(
                    "exemplars: none in the window (Prometheus keeps them with --enable-feature=exemplar-storage; {} has none yet)",
                    names::SERVICE_RECOMMENDATION
                ));
            }
        }
        Err(e) => pointers.notes.push(format!("exemplars: {e}")),
    }
    pointers
}

/// The pointers as the lines printed after the report.
fn render_pointers(p: &Pointers) -> String {
    let mut out = String::new();
    if p.alerts.is_empty() && p.slowest_exemplar.is_none() && p.notes.is_empty() {
        return out;
    }
    out.push_str("\nwhere to look next:\n");
    if p.alerts.is_empty() && !p.notes.iter().any(|n| n.starts_with("alert")) {
        out.push_str("  alerts         none firing\n");
    }
    for alert in &p.alerts {
        out.push_str(&format!("  alert          {alert}\n"));
    }
    if let Some(slowest) = &p.slowest_exemplar {
        out.push_str(&format!("  slowest trace  {}\n", slowest.exemplar));
        if let Some(url) = &slowest.trace_url {
            out.push_str(&format!("                 {url}\n"));
        }
        if let Some(url) = &slowest.search_url {
            out.push_str(&format!("  its search     {url}\n"));
        }
    }
    for note in &p.notes {
        out.push_str(&format!("  note           {note}\n"));
    }
    out
}

/// One container being watched.
struct Watched {
    facts: ContainerFacts,
    restarts_at_start: i64,
    samples: Vec<MemorySample>,
    state: String,
    restarts: i64,
    oom_kills_total: u64,
    oom_kills_in_window: u64,
    /// Restarts seen while sampling with the engine's OOM flag set: OOM kills even when the
    /// engine's event log (the last 256 events of the whole engine) has lost them.
    oom_restarts: u64,
    /// The engine's `OOMKilled` at the last reading.
    oom_flag: bool,
}

/// Samples until confident or out of time; each tick re-analyses everything gathered so far.
async fn sample(
    engine: &Engine,
    containers: &[ContainerFacts],
    longest: Duration,
    read_state: bool,
    obs: &mut Observations,
    task: &crate::progress::Task,
) -> Diagnosis {
    let started = Instant::now();
    let window_start = crate::engine::unix_now().saturating_sub(obs.window_s.ceil() as u64);
    let mut watched: Vec<Watched> = containers
        .iter()
        .map(|c| Watched {
            facts: c.clone(),
            restarts_at_start: c.restart_count,
            samples: Vec::new(),
            state: c.state.clone(),
            restarts: c.restart_count,
            oom_kills_total: 0,
            oom_kills_in_window: 0,
            oom_restarts: 0,
            oom_flag: c.oom_killed,
        })
        .collect();
    let admin_container = containers
        .iter()
        .find(|c| read_state && c.service == names::SERVICE_RECOMMENDATION)
        .cloned();
    let mut admin = admin_container
        .as_ref()
        .map(|_| AdminState::new(names::SERVICE_RECOMMENDATION));
    let min = MIN_SAMPLE.min(longest);
    let mut tick = 0u32;
    loop {
        let tick_started = Instant::now();
        let last_tick = started.elapsed() + SAMPLE_EVERY >= longest;
        let admin_now = tick.is_multiple_of(ADMIN_EVERY) || last_tick;
        let containers = future::join_all(
            watched
                .iter()
                .map(|w| read_container(engine, &w.facts, started, window_start)),
        );
        let state = async {
            match &admin_container {
                Some(container) if admin_now => Some(read_admin(engine, container, started).await),
                _ => None,
            }
        };
        let (readings, state) = tokio::join!(containers, state);
        if let (Some(read), Some(admin)) = (state, admin.as_mut()) {
            admin.record(read);
        }
        for (w, reading) in watched.iter_mut().zip(readings) {
            w.state = reading.state;
            w.oom_flag = reading.oom_flag;
            if let Some(restarts) = reading.restarts {
                if restarts > w.restarts && reading.oom_flag {
                    w.oom_restarts += (restarts - w.restarts) as u64;
                }
                w.restarts = restarts;
            }
            if let Some(oom) = reading.oom_kills_in_window {
                w.oom_kills_in_window = w.oom_kills_in_window.max(oom);
            }
            if let Some(total) = reading.oom_kills_total {
                w.oom_kills_total = w.oom_kills_total.max(total);
            }
            w.samples.push(MemorySample {
                t: reading.t,
                bytes: reading.bytes,
                restarts: w.restarts,
            });
        }
        tick += 1;

        obs.sampled_s = started.elapsed().as_secs_f64();
        obs.services = watched.iter().map(observation).collect();
        obs.admin = admin.clone();
        let diagnosis = diagnose::analyze(obs);
        task.detail(&progress_line(&diagnosis, started.elapsed(), longest));
        let elapsed = started.elapsed();
        let confident = diagnosis.verdict.confidence == Confidence::High;
        if elapsed >= longest || (confident && elapsed >= min) {
            return diagnosis;
        }
        let next = SAMPLE_EVERY.saturating_sub(tick_started.elapsed());
        tokio::time::sleep(next.min(longest.saturating_sub(elapsed))).await;
    }
}

/// What the engine showed; the OOM figures here are the kills seen while sampling (a floor),
/// `diagnose::analyze` counts them from the lasting sources.
fn observation(w: &Watched) -> ServiceObservation {
    let running = w.state == "running";
    let total = kills_at_most(w.oom_kills_total, w.restarts, running).max(w.oom_restarts);
    let in_window = w.oom_kills_in_window.min(total).max(w.oom_restarts);
    ServiceObservation {
        service: w.facts.service.clone(),
        container: Some(w.facts.name.clone()),
        state: w.state.clone(),
        memory_limit: w.facts.memory_limit.map(|l| l as f64),
        samples: w.samples.clone(),
        restarts_total: w.restarts,
        restarts_during_sampling: w.restarts - w.restarts_at_start,
        oom_kills_total: total,
        oom_kills_in_window: in_window,
        oom_flag: Some(w.oom_flag),
        created_at: w.facts.created_unix(),
    }
}

/// One tick's reading of one container; engine hiccups leave a gap rather than end the run.
struct Reading {
    t: f64,
    state: String,
    restarts: Option<i64>,
    bytes: Option<f64>,
    oom_kills_in_window: Option<u64>,
    oom_kills_total: Option<u64>,
    /// The engine's `OOMKilled`: the last exit was an OOM kill (it stays set after a restart).
    oom_flag: bool,
}

async fn read_container(
    engine: &Engine,
    facts: &ContainerFacts,
    started: Instant,
    window_start: u64,
) -> Reading {
    let now = crate::engine::unix_now();
    let ooms = async {
        let in_window = engine.oom_events(&facts.id, window_start, now).await.ok();
        let total = engine.oom_events(&facts.id, 0, now).await.ok();
        (in_window, total)
    };
    let stats = async {
        let inspected = engine.inspect(&facts.id).await.ok().flatten();
        let bytes = match &inspected {
            Some(f) if f.is_running() => engine
                .memory(&facts.id)
                .await
                .ok()
                .flatten()
                .map(|m| m.bytes as f64),
            _ => None,
        };
        (inspected, bytes, started.elapsed().as_secs_f64())
    };
    let ((in_window, total), (inspected, bytes, t)) = tokio::join!(ooms, stats);
    // The engine's flag says the last exit was an OOM kill even when the event is gone.
    let flagged = inspected.as_ref().is_some_and(|f| f.oom_killed);
    Reading {
        t,
        state: inspected
            .as_ref()
            .map_or_else(|| "missing".to_string(), |f| f.state.clone()),
        restarts: inspected.as_ref().map(|f| f.restart_count),
        bytes,
        oom_kills_in_window: in_window,
        oom_kills_total: total.map(|n| n.max(u64::from(flagged))),
        oom_flag: flagged,
    }
}

/// The recommendation service's own state (`--state` inside the container): when it answered,
/// whether the cache is on and how long its product list is.
async fn read_admin(engine: &Engine, container: &ContainerFacts, started: Instant) -> AdminRead {
    let answer =
        tokio::time::timeout(ADMIN_TIMEOUT, crate::service_state::read(engine, container)).await;
    let parsed = answer
        .map_err(|_| format!("no answer within {}s", ADMIN_TIMEOUT.as_secs()))
        .and_then(|read| read);
    let read = parsed.and_then(|json| {
        let ids = json["cached_ids"]
            .as_u64()
            .ok_or_else(|| "no cached_ids in the answer".to_string())?;
        Ok((json["cache_enabled"].as_bool(), ids))
    });
    AdminRead {
        t: started.elapsed().as_secs_f64(),
        read,
    }
}

/// The live line on a terminal: time left and the current lead.
fn progress_line(d: &Diagnosis, elapsed: Duration, longest: Duration) -> String {
    let lead = match (&d.verdict.service, d.fastest_growing.as_ref()) {
        (Some(s), _) => {
            format!("suspect {s} ({:?} confidence)", d.verdict.confidence).to_lowercase()
        }
        (None, Some(f)) => format!(
            "fastest growth {} {}",
            f.service,
            diagnose::report::rate(f.slope_bytes_per_s)
        ),
        (None, None) => "no growth so far".to_string(),
    };
    format!(
        "sampling {}/{}: {lead}",
        diagnose::report::duration(elapsed.as_secs_f64()),
        diagnose::report::duration(longest.as_secs_f64())
    )
}

/// Key signals over the window, process memory as a range, and the cache-hit/miss p95.
async fn read_prometheus(
    url: Option<&str>,
    window: Duration,
    oldest: Option<f64>,
) -> Source<MetricsData> {
    let Some(url) = url else {
        return Source::Absent {
            reason: "the compose file has no prometheus service".to_string(),
        };
    };
    let failed = |e: crate::signals::SignalError| Source::Failed {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let client = match Prometheus::new(url, prometheus::DEFAULT_TIMEOUT) {
        Ok(client) => client,
        Err(e) => return failed(e),
    };
    let end = prometheus::unix_now();
    let window_start = end - window.as_secs_f64();
    let start = oldest
        .map_or(window_start, |o| o.min(window_start))
        .max(end - LIVES_REACH.as_secs_f64());
    let step = ((end - start) / RANGE_POINTS).max(5.0);
    let cache_query =
        query::cache_latency_quantile(Some(names::SERVICE_RECOMMENDATION), 0.95, window);
    let step_d = Duration::from_secs_f64(step);
    let answers = tokio::try_join!(
        KeySignals::read_all(&client, window),
        prometheus::lives_series(&client, start, end, step_d),
        client.instant(&cache_query),
    );
    let (signals, (memory, cpu), cache) = match answers {
        Ok(answers) => answers,
        Err(e) => return failed(e),
    };
    let cache_p95_ms = cache
        .iter()
        .filter(|s| !s.value.is_nan())
        .filter_map(|s| {
            s.labels
                .get(names::LABEL_APP_CACHE_HIT)
                .map(|hit| (hit.clone(), s.value))
        })
        .collect();
    Source::Read {
        url: url.to_string(),
        data: MetricsData {
            signals,
            memory,
            step_s: step,
            cache_p95_ms,
            cpu,
            window_start: (start < window_start).then_some(window_start),
        },
    }
}

/// The recommendation service's traces with `app.cache_hit=true` and `=false`.
async fn read_jaeger(url: Option<&str>, window: Duration) -> Source<Vec<Trace>> {
    let Some(url) = url else {
        return Source::Absent {
            reason: "the compose file has no jaeger service".to_string(),
        };
    };
    let failed = |e: crate::signals::SignalError| Source::Failed {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let client = match Jaeger::new(url, jaeger::DEFAULT_TIMEOUT) {
        Ok(client) => client,
        Err(e) => return failed(e),
    };
    // Every get_product_list span, not a tag search: spans carry the walkthrough's or upstream
    // 3.0's attribute names, and those with the cache off show the catalog's size.
    let search = TraceQuery::new(names::SERVICE_RECOMMENDATION)
        .operation(names::SPAN_GET_PRODUCT_LIST)
        .limit(TRACE_LIMIT)
        .lookback(window);
    match client.find_traces(&search).await {
        Ok(traces) => Source::Read {
            url: url.to_string(),
            data: traces,
        },
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod pointer_tests {
    use super::*;

    #[test]
    fn pointers_print_the_firing_alert_and_the_slowest_trace_with_its_search() {
        let pointers = Pointers {
            alerts: vec![Alert {
                name: "DemoServiceRestarted".into(),
                state: "firing".into(),
                service: Some("recommendation".into()),
                summary: Some("recommendation restarted in the last 5 minutes".into()),
                active_at: None,
            }],
            slowest_exemplar: Some(SlowestTrace {
                exemplar: Exemplar {
                    trace_id: "7b84876b0b9bd98a4f414c2910173b0f".into(),
                    span_id: None,
                    duration_ms: 1834.5,
                    time: 1796069618.393,
                    span_name: Some("get_product_list".into()),
                    service: Some("recommendation".into()),
                },
                trace_url: Some(
                    "http://127.0.0.1:16686/trace/7b84876b0b9bd98a4f414c2910173b0f".into(),
                ),
                search_url: Some("http://127.0.0.1:16686/search?service=recommendation".into()),
            }),
            notes: Vec::new(),
        };
        insta::assert_snapshot!(render_pointers(&pointers), @r"
        where to look next:
          alert          DemoServiceRestarted (firing): recommendation restarted in the last 5 minutes
          slowest trace  1834.5 ms get_product_list, trace 7b84876b0b9bd98a4f414c2910173b0f
                         http://127.0.0.1:16686/trace/7b84876b0b9bd98a4f414c2910173b0f
          its search     http://127.0.0.1:16686/search?service=recommendation
        ");
        assert_eq!(render_pointers(&Pointers::default()), "");
    }
}
