//! `demo flag list|enable|disable`: edit the stack's flag file where the service reads it,
//! confirm the service acts on the change, and (for `enable`) watch the warm-up.
//!
//! The file lives in the stack's named volume and is read and written through the engine's
//! archive API on the reading service's container, so this works on remote engines too.
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{FlagAction, FlagArgs};
use crate::compose::Project;
use crate::engine::{Engine, unix_now};
use crate::error::Error;
use crate::flag_site::{locate, on_off, read_flags, reported, service_state};
use crate::flags::{self, EditLock};
use crate::signals::endpoints::Endpoints;
use crate::signals::jaeger::{self, TraceQuery};
use crate::signals::prometheus::{KeySignals, Prometheus};
use crate::warmup::{self, History, Sample};

use super::Context;

/// How often the service's state is asked while confirming.
const CONFIRM_POLL: Duration = Duration::from_millis(250);
/// Prometheus may take this long per query before the display goes on without it.
const SIGNALS_TIMEOUT: Duration = Duration::from_secs(2);
/// Rates and quantiles over the last minute: twelve 5 s scrapes.
const SIGNALS_WINDOW: Duration = Duration::from_secs(60);

pub async fn run(ctx: &Context, args: FlagArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    let engine = ctx.engine().await?;
    match args.action {
        FlagAction::List { json } => list(&engine, &project, json).await,
        FlagAction::Enable {
            name,
            warmup,
            full_warmup,
            confirm_timeout,
            interval,
        } => {
            set(ctx, &engine, &project, &name, true, confirm_timeout).await?;
            if !warmup.is_zero() {
                watch_warmup(&engine, &project, warmup, interval, full_warmup).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        FlagAction::Disable {
            name,
            confirm_timeout,
        } => {
            set(ctx, &engine, &project, &name, false, confirm_timeout).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Serialize)]
struct ListedFlag {
    #[serde(flatten)]
    flag: flags::Flag,
    /// What the service reports it acts on; `None` when it does not evaluate this flag.
    service_reports: Option<bool>,
}

async fn list(engine: &Engine, project: &Project, json: bool) -> Result<ExitCode, Error> {
    let site = locate(engine, project).await?;
    let file = read_flags(engine, &site).await?;
    let state = service_state(engine, &site).await;
    let rows: Vec<ListedFlag> = file
        .list()
        .into_iter()
        .map(|flag| {
            let service_reports = state.as_ref().ok().and_then(|s| reported(s, &flag.name));
            ListedFlag {
                flag,
                service_reports,
            }
        })
        .collect();
    if json {
        let out =
            serde_json::json!({"file": file.path(), "service": site.service.name, "flags": rows});
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("flags serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let acts_on = format!("{} ACTS ON", site.service.name.to_uppercase());
    println!(
        "{:<36} {:<5} {:<9} {:<8} {acts_on}",
        "FLAG", "FILE", "STATE", "DEFAULT"
    );
    for row in &rows {
        let acts = match (&state, row.service_reports) {
            (Err(_), _) => "?".to_string(),
            (Ok(_), None) => "-".to_string(),
            (Ok(_), Some(on)) => on_off(on).to_string(),
        };
        println!(
            "{:<36} {:<5} {:<9} {:<8} {acts}",
            row.flag.name,
            on_off(row.flag.on),
            row.flag.state,
            row.flag.default_variant
        );
    }
    if let Err(why) = state {
        println!("(could not ask service \"{}\": {why})", site.service.name);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the flag, then waits until the service reports acting on it.
async fn set(
    ctx: &Context,
    engine: &Engine,
    project: &Project,
    name: &str,
    on: bool,
    confirm_timeout: Duration,
) -> Result<(), Error> {
    let site = locate(engine, project).await?;
    let lock = EditLock::acquire(&project.name)
        .map_err(|e| Error::Flag(format!("cannot lock the flag file for editing: {e}")))?;
    let mut file = read_flags(engine, &site).await?;
    let flag = file.set(name, on).map_err(|e| match e {
        flags::FlagError::Unknown { .. } => Error::Usage(e.to_string()),
        other => Error::Flag(other.to_string()),
    })?;
    site.write(engine, &file).await?;
    drop(lock);
    ctx.progress
        .note(&format!("{flag} set {} in {}", on_off(on), site.path));

    let started = Instant::now();
    let mut last = String::from("no answer yet");
    while started.elapsed() < confirm_timeout {
        match service_state(engine, &site).await {
            Ok(state) if reported(&state, &flag) == Some(on) => {
                println!(
                    "{} acts on {flag}={} (confirmed after {:.1}s)",
                    site.service.name,
                    on_off(on),
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            Ok(state) => {
                last = match state.get("flag_file_error").and_then(|e| e.as_str()) {
                    Some(err) => format!("it reports a flag file error: {err}"),
                    None => format!(
                        "it still reports {flag}={}",
                        reported(&state, &flag).map_or("?", on_off)
                    ),
                };
            }
            Err(why) => last = why,
        }
        tokio::time::sleep(CONFIRM_POLL).await;
    }
    Err(Error::Flag(format!(
        "service \"{}\" did not confirm {flag}={} within {}s ({last}); the file is written: check `demo status` and the service's logs",
        site.service.name,
        on_off(on),
        confirm_timeout.as_secs()
    )))
}

/// Samples the flag's service until `total` has passed or Ctrl-C, which ends only the watch.
async fn watch_warmup(
    engine: &Engine,
    project: &Project,
    total: Duration,
    interval: Duration,
    full: bool,
) -> Result<(), Error> {
    let site = locate(engine, project).await?;
    let endpoints = Endpoints::of(project);
    let prometheus = endpoints
        .prometheus
        .as_deref()
        .map(|url| Prometheus::new(url, SIGNALS_TIMEOUT));
    let started = Instant::now();
    let started_unix = unix_now() as f64;
    let mut history = History::default();
    // The p95 before the flag: the last minute's, read as the watch starts.
    let p95_before = key_signals(prometheus.as_ref(), &site.service.name)
        .await
        .ok()
        .and_then(|s| s.p95_ms);
    let mut summary = warmup::Summary {
        p95_before_ms: p95_before,
        dashboard: endpoints.grafana_dashboard.clone(),
        ..warmup::Summary::default()
    };
    let oom_kills_before = engine.oom_kills(&site.container).await?;
    let mut oom_kills = oom_kills_before;
    let mut events_seen_until = unix_now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total.as_secs());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} warm-up {elapsed_precise} [{bar:20}] {eta} left\n  {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let watch = async {
        loop {
            let elapsed = started.elapsed().min(total);
            let facts = engine.inspect(&site.container.id).await?;
            let memory = match &facts {
                Some(f) if f.is_running() => engine.memory(&f.id).await?,
                _ => None,
            };
            let restarts = facts.as_ref().map_or(0, |f| f.restart_count);
            if let Some(m) = memory {
                history.push(elapsed, m.bytes, restarts);
            }
            let now = unix_now();
            oom_kills += engine
                .oom_events(&site.container.id, events_seen_until, now)
                .await?;
            events_seen_until = now;
            let sample = Sample {
                elapsed,
                memory_bytes: memory.map(|m| m.bytes),
                memory_limit: facts.as_ref().and_then(|f| f.memory_limit),
                restarts,
                oom_kills,
                signals: key_signals(prometheus.as_ref(), &site.service.name).await,
            };
            let p95_now = sample.signals.as_ref().ok().and_then(|s| s.p95_ms);
            summary.p95_peak_ms = match (summary.p95_peak_ms, p95_now) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            summary.memory_limit = sample.memory_limit;
            summary.oom_kills = oom_kills - oom_kills_before;
            let telemetry =
                memory_life(prometheus.as_ref(), &site.service.name, started_unix).await;
            let life = telemetry.as_deref().unwrap_or(history.life());
            let telemetry_peak = telemetry.iter().flatten().map(|p| p.1 as u64).max();
            summary.memory_peak = summary.memory_peak.max(telemetry_peak);
            if summary.symptom.is_none()
                && let Some(symptom) = warmup::visible(summary.oom_kills, p95_before, p95_now, life)
            {
                summary.symptom = Some((elapsed, symptom));
            }
            match &bar {
                Some(bar) => {
                    bar.set_position(elapsed.as_secs());
                    bar.set_message(format!(
                        "{} {}",
                        history.sparkline(),
                        warmup::render_signals(&sample, &history)
                    ));
                }
                None => println!("{}", warmup::render_plain(&sample, &history, total)),
            }
            if elapsed >= total || (summary.symptom.is_some() && !full) {
                summary.watched = elapsed;
                return Ok::<_, Error>(());
            }
            tokio::time::sleep(interval.min(total - elapsed)).await;
        }
    };
    let interrupted = tokio::select! {
        result = watch => { result?; false }
        _ = tokio::signal::ctrl_c() => true,
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    summary.memory_peak = summary.memory_peak.max(history.peak());
    if interrupted {
        summary.watched = started.elapsed();
    }
    let cache_hit_attribute = finish_summary(
        &mut summary,
        prometheus.as_ref(),
        &endpoints,
        &site.service.name,
        started,
    )
    .await;
    print!("{}", warmup::render_summary(&summary));
    print_where_to_look(
        &endpoints,
        &site.service.name,
        cache_hit_attribute.as_deref(),
    );
    if interrupted {
        return Err(Error::Interrupted(
            "the warm-up watch stopped; the stack and the flag stay as they are".to_string(),
        ));
    }
    Ok(())
}

/// The service's memory in its current life from Prometheus, since a minute before the watch
/// began: the series the dashboard's memory panel draws. `None` when Prometheus has none.
async fn memory_life(
    prometheus: Option<&Result<Prometheus, crate::signals::SignalError>>,
    service: &str,
    since: f64,
) -> Option<Vec<(f64, f64)>> {
    let Some(Ok(prometheus)) = prometheus else {
        return None;
    };
    let end = unix_now() as f64;
    let (memory, cpu) = crate::signals::prometheus::lives_series(
        prometheus,
        since - 60.0,
        end,
        Duration::from_secs(5),
    )
    .await
    .ok()?;
    let points = memory.get(service).filter(|p| p.len() >= 3)?;
    let resets = cpu
        .get(service)
        .map(|c| crate::diagnose::lives::counter_resets(c))
        .unwrap_or_default();
    let lives = crate::diagnose::lives::read(points, &resets, 15.0);
    let last_restart = lives.restarts.last().map_or(f64::MIN, |r| r.at);
    Some(
        points
            .iter()
            .copied()
            .filter(|p| p.0 >= last_restart)
            .collect(),
    )
}

/// The summary's figures read once at the end: the cache miss/hit p95 ratio, and from Jaeger
/// the largest product count and the slowest trace since the watch began. Returns the
/// cache-hit attribute the traces carry, when they showed one.
async fn finish_summary(
    summary: &mut warmup::Summary,
    prometheus: Option<&Result<Prometheus, crate::signals::SignalError>>,
    endpoints: &Endpoints,
    service: &str,
    started: Instant,
) -> Option<String> {
    if let Some(Ok(prometheus)) = prometheus {
        let q = crate::signals::prometheus::query::cache_latency_quantile(
            Some(service),
            0.95,
            started.elapsed().max(SIGNALS_WINDOW),
        );
        if let Ok(samples) = prometheus.instant(&q).await {
            let p95 = |hit: &str| {
                samples
                    .iter()
                    .find(|s| {
                        s.labels.get(crate::signals::names::LABEL_APP_CACHE_HIT)
                            == Some(&hit.to_string())
                    })
                    .map(|s| s.value)
                    .filter(|v| v.is_finite() && *v > 0.0)
            };
            if let (Some(hit), Some(miss)) = (p95("true"), p95("false")) {
                summary.miss_hit_ratio = Some(miss / hit);
            }
        }
    }
    let base = endpoints.jaeger.as_ref()?;
    let client = jaeger::Jaeger::new(base, SIGNALS_TIMEOUT).ok()?;
    let query = TraceQuery::new(service)
        .operation(crate::signals::names::SPAN_GET_PRODUCT_LIST)
        .lookback(started.elapsed() + Duration::from_secs(1))
        .limit(500);
    let traces = client.find_traces(&query).await.ok()?;
    let c = crate::diagnose::traces::compare(service, &traces)?;
    summary.max_products_count = c.max_products_count;
    summary.slowest_trace = c.slowest.map(|t| jaeger::trace_url(base, &t.trace_id));
    c.cache_hit_attribute
}

/// Prometheus figures for the warm-up line; the reason when there are none.
async fn key_signals(
    prometheus: Option<&Result<Prometheus, crate::signals::SignalError>>,
    service: &str,
) -> Result<KeySignals, String> {
    let prometheus = match prometheus {
        None => return Err("no Prometheus in the stack; engine signals only".to_string()),
        Some(Err(e)) => return Err(format!("{e}; engine signals only")),
        Some(Ok(p)) => p,
    };
    let signals = KeySignals::read(prometheus, service, SIGNALS_WINDOW)
        .await
        .map_err(|e| format!("{e}; engine signals only"))?;
    if signals.is_empty() {
        return Err(format!(
            "Prometheus at {} holds no data of {service} yet; engine signals only",
            prometheus.base_url()
        ));
    }
    Ok(signals)
}

/// The Jaeger search the walkthrough continues with (the summary above has the dashboard).
/// `attribute`: the cache-hit attribute the service's spans carry, when traces showed it (the
/// walkthrough's `app.cache_hit` otherwise).
fn print_where_to_look(endpoints: &Endpoints, service: &str, attribute: Option<&str>) {
    if let Some(jaeger) = &endpoints.jaeger {
        let attribute = attribute.unwrap_or(crate::diagnose::traces::ATTR_CACHE_HIT);
        let slow = TraceQuery::new(service).tag(attribute, "false");
        println!("slow traces: {}", jaeger::search_url(jaeger, &slow));
    }
}
