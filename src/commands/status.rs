//! `demo status [--json] [SERVICE...]`: what runs, its health, restarts, OOM kills, memory.
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::future;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::compose::Service;
use crate::diagnose::lives;
use crate::engine::{ContainerFacts, Engine};
use crate::error::Error;
use crate::flags::FlagFile;
use crate::images::human_bytes;
use crate::readiness;
use crate::signals::alerts::Alert;
use crate::signals::endpoints::{self, Endpoints};
use crate::signals::prometheus::{KeySignals, Prometheus};

use super::Context;

/// One row of the status table; also its JSON form.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceStatus {
    pub service: String,
    pub container: Option<String>,
    /// The engine's state, or `missing`.
    pub state: String,
    /// `healthy`, `unhealthy`, `starting` or `none`, by the shared readiness rule (a service
    /// with a ready URL: `unknown` when the engine is remote).
    pub health: String,
    pub restarts: i64,
    /// The last exit code, when the container is not running.
    pub exit_code: Option<i64>,
    /// OOM kills since the container was created; `None` (null, printed `?`) where it cannot
    /// be known, never a smaller number.
    pub oom_kills: Option<u64>,
    /// Where `oom_kills` comes from (the engine's record, Prometheus's counters), or why unknown.
    pub oom_source: String,
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub url: Option<String>,
}

impl ServiceStatus {
    pub fn is_ok(&self) -> bool {
        self.state == "running" && matches!(self.health.as_str(), "healthy" | "none" | "unknown")
    }
}

#[derive(Debug, Serialize)]
pub struct StackStatus {
    pub project: String,
    pub healthy: bool,
    pub services: Vec<ServiceStatus>,
    /// The flag file's flags and what the service acts on; empty when they cannot be read.
    pub flags: Vec<FlagStatus>,
    /// Key signals per service from Prometheus over the last minute.
    pub signals: BTreeMap<String, KeySignals>,
    /// Why flags or signals are missing, when they are.
    pub notes: Vec<String>,
    /// Prometheus's active alerts (compose/prometheus/alerts.yml), firing first.
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlagStatus {
    pub name: String,
    pub on: bool,
    /// What the service reports it acts on; `None` when it does not evaluate the flag.
    pub service_reports: Option<bool>,
}

pub async fn run(ctx: &Context, args: StatusArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    let wanted = project.select(&args.services, true)?;
    let engine = ctx.engine().await?;
    if args.watch {
        return watch(&engine, &project, &wanted, args.interval).await;
    }
    let status = collect(&engine, &project, &wanted).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("status serializes")
        );
    } else {
        print!("{}", render_table(&status));
    }
    Ok(if status.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Redraws the table every `interval` until Ctrl-C: in place on a terminal, one block after
/// another elsewhere.
async fn watch(
    engine: &Engine,
    project: &crate::compose::Project,
    wanted: &[&Service],
    interval: Duration,
) -> Result<ExitCode, Error> {
    let mut screen = crate::progress::Redraw::stdout();
    let redraw = async {
        loop {
            let status = collect(engine, project, wanted).await?;
            screen.show(&format!(
                "{}\n{}",
                render_table(&status),
                crate::progress::refreshed_line(interval)
            ));
            tokio::time::sleep(interval).await;
        }
    };
    // One listener for the whole watch, so a Ctrl-C that lands while a reading is under way
    // is not lost between two listeners.
    tokio::select! {
        failed = redraw => failed,
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted(
            "`demo status --watch` stopped; nothing was changed".to_string(),
        )),
    }
}

/// Everything `status` shows, read once.
async fn collect(
    engine: &Engine,
    project: &crate::compose::Project,
    wanted: &[&Service],
) -> Result<StackStatus, Error> {
    let observed = engine.observe(&project.name).await?;
    let mut rows = future::try_join_all(wanted.iter().map(|service| {
        let container = observed.of_service(&service.name).next();
        row(engine, service, container)
    }))
    .await?;
    let containers: Vec<&ContainerFacts> = observed.containers.iter().collect();
    let prometheus = prometheus_of(project);
    let mut notes = Vec::new();
    let (flags, signals, alerts, oom_kills) = tokio::join!(
        flag_status(engine, project),
        key_signals(&prometheus),
        active_alerts(&prometheus),
        count_oom_kills(prometheus.as_ref().ok(), &containers, &rows)
    );
    for (i, count) in oom_kills {
        rows[i].oom_kills = count.value;
        rows[i].oom_source = count.source;
    }
    let flags = flags.unwrap_or_else(|note| {
        notes.push(note);
        Vec::new()
    });
    let signals_read = signals.is_ok();
    let signals = signals.unwrap_or_else(|note| {
        notes.push(note);
        BTreeMap::new()
    });
    // A Prometheus that is down is already a note of the signals.
    let alerts = alerts.unwrap_or_else(|note| {
        if signals_read {
            notes.push(note);
        }
        Vec::new()
    });
    let status = StackStatus {
        project: project.name.clone(),
        healthy: rows.iter().all(ServiceStatus::is_ok),
        services: rows,
        flags,
        signals,
        notes,
        alerts,
    };
    Ok(status)
}

/// The flags and what the service acts on, or why they cannot be read now.
async fn flag_status(
    engine: &Engine,
    project: &crate::compose::Project,
) -> Result<Vec<FlagStatus>, String> {
    let site = crate::flag_site::locate(engine, project)
        .await
        .map_err(|e| format!("flags: {e}"))?;
    let file: FlagFile = crate::flag_site::read_flags(engine, &site)
        .await
        .map_err(|e| format!("flags: {e}"))?;
    let state = crate::flag_site::service_state(engine, &site).await.ok();
    Ok(file
        .list()
        .into_iter()
        .map(|flag| FlagStatus {
            service_reports: state
                .as_ref()
                .and_then(|s| crate::flag_site::reported(s, &flag.name)),
            name: flag.name,
            on: flag.on,
        })
        .collect())
}

/// The stack's Prometheus and its URL, or why there is none to ask.
fn prometheus_of(project: &crate::compose::Project) -> Result<(String, Prometheus), String> {
    let url = Endpoints::of(project)
        .prometheus
        .ok_or("the stack has no published Prometheus")?;
    let prometheus = Prometheus::new(&url, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    Ok((url, prometheus))
}

/// Key signals of every service Prometheus has data for, or why there are none.
async fn key_signals(
    prometheus: &Result<(String, Prometheus), String>,
) -> Result<BTreeMap<String, KeySignals>, String> {
    let (url, prometheus) = prometheus.as_ref().map_err(|e| format!("signals: {e}"))?;
    let signals = KeySignals::read_all(prometheus, Duration::from_secs(60))
        .await
        .map_err(|e| format!("signals: {e}"))?;
    if signals.is_empty() {
        return Err(format!(
            "signals: Prometheus at {url} holds no data of the last minute yet (the collector exports it)"
        ));
    }
    Ok(signals)
}

/// The alerts Prometheus has active now, or why they cannot be read.
async fn active_alerts(
    prometheus: &Result<(String, Prometheus), String>,
) -> Result<Vec<Alert>, String> {
    let (_, prometheus) = prometheus.as_ref().map_err(|e| format!("alerts: {e}"))?;
    prometheus
        .alerts()
        .await
        .map_err(|e| format!("alerts: {e}"))
}

async fn row(
    engine: &Engine,
    service: &Service,
    container: Option<&ContainerFacts>,
) -> Result<ServiceStatus, Error> {
    let url = endpoints::service_url(service);
    let Some(c) = container else {
        return Ok(ServiceStatus {
            service: service.name.clone(),
            container: None,
            state: "missing".to_string(),
            health: "none".to_string(),
            restarts: 0,
            exit_code: None,
            oom_kills: None,
            oom_source: "no container".to_string(),
            memory_bytes: None,
            memory_limit_bytes: None,
            url,
        });
    };
    let memory = if c.is_running() {
        engine.memory(&c.id).await?
    } else {
        None
    };
    let oom = lives::oom_kills(record_of(c), None);
    Ok(ServiceStatus {
        service: service.name.clone(),
        container: Some(c.name.clone()),
        state: c.state.clone(),
        health: readiness::health(engine, c).await,
        restarts: c.restart_count,
        exit_code: (!c.is_running()).then_some(c.exit_code),
        oom_kills: oom.value,
        oom_source: oom.source,
        memory_bytes: memory.map(|m| m.bytes),
        memory_limit_bytes: c.memory_limit.or(memory.map(|m| m.limit)),
        url,
    })
}

fn record_of(c: &ContainerFacts) -> lives::EngineRecord {
    lives::EngineRecord {
        restart_count: c.restart_count,
        running: c.is_running(),
        oom_killed: c.oom_killed,
    }
}

/// OOM kills the engine's record alone cannot tell (two or more ended runs), from the
/// restarts Prometheus's counters show over the containers' lives (up to an hour back), by
/// index into `rows`. The engine's event log is not read: it forgets within a minute.
async fn count_oom_kills(
    prometheus: Option<&(String, Prometheus)>,
    containers: &[&ContainerFacts],
    rows: &[ServiceStatus],
) -> Vec<(usize, lives::Count)> {
    let unknown: Vec<(usize, &ContainerFacts)> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.oom_kills.is_none())
        .filter_map(|(i, r)| Some((i, *containers.iter().find(|c| c.service == r.service)?)))
        .collect();
    let Some((_, prometheus)) = prometheus.filter(|_| !unknown.is_empty()) else {
        return Vec::new();
    };
    let end = crate::signals::prometheus::unix_now();
    let oldest = containers
        .iter()
        .filter_map(|c| c.created_unix())
        .fold(end, f64::min)
        .max(end - 3600.0);
    let step = ((end - oldest) / 240.0).max(5.0);
    let Ok((memory, cpu)) = crate::signals::prometheus::lives_series(
        prometheus,
        oldest,
        end,
        Duration::from_secs_f64(step),
    )
    .await
    else {
        return Vec::new();
    };
    unknown
        .into_iter()
        .map(|(i, c)| {
            let telemetry = memory.get(&c.service).and_then(|m| {
                let cpu = cpu.get(&c.service).map(Vec::as_slice).unwrap_or_default();
                lives::over_life(m, cpu, step, c.created_unix())
            });
            (i, lives::oom_kills(record_of(c), telemetry))
        })
        .collect()
}

/// The table `status` prints, one line per service.
pub fn render_table(status: &StackStatus) -> String {
    let mut out = format!(
        "{:<16} {:<12} {:<10} {:>8} {:>4} {:>21}  {}\n",
        "SERVICE", "STATE", "HEALTH", "RESTARTS", "OOM", "MEMORY", "URL"
    );
    for s in &status.services {
        let state = match s.exit_code {
            Some(code) => format!("{}({code})", s.state),
            None => s.state.clone(),
        };
        let memory = match (s.memory_bytes, s.memory_limit_bytes) {
            (Some(used), Some(limit)) => format!("{} / {}", human_bytes(used), human_bytes(limit)),
            (Some(used), None) => human_bytes(used),
            (None, Some(limit)) => format!("- / {}", human_bytes(limit)),
            (None, None) => "-".to_string(),
        };
        out.push_str(&format!(
            "{:<16} {:<12} {:<10} {:>8} {:>4} {:>21}  {}\n",
            s.service,
            state,
            s.health,
            s.restarts,
            match (&s.container, s.oom_kills) {
                (None, _) => "-".to_string(),
                (Some(_), None) => "?".to_string(),
                (Some(_), Some(n)) => n.to_string(),
            },
            memory,
            s.url.as_deref().unwrap_or("-")
        ));
    }
    let counted = |s: &&ServiceStatus| s.container.is_some() && s.oom_kills.is_none_or(|n| n > 0);
    for s in status.services.iter().filter(counted) {
        out.push_str(&format!("oom kills of {}: {}\n", s.service, s.oom_source));
    }
    for flag in &status.flags {
        let acts = flag.service_reports.map_or("-", crate::flag_site::on_off);
        let on = crate::flag_site::on_off(flag.on);
        out.push_str(&format!(
            "flag {}: {on} (service acts on: {acts})\n",
            flag.name
        ));
    }
    for (service, s) in &status.signals {
        out.push_str(&format!("signals {service}: {}\n", render_signals(s)));
    }
    for alert in &status.alerts {
        out.push_str(&format!("alert {alert}\n"));
    }
    for note in &status.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    let verdict = if status.healthy {
        "all running and healthy"
    } else {
        "NOT all running and healthy"
    };
    out.push_str(&format!("project {}: {verdict}\n", status.project));
    out
}

/// Key signals in one line; only what Prometheus had data for.
pub fn render_signals(s: &KeySignals) -> String {
    let mut parts = Vec::new();
    let mut push = |label: &str, value: Option<f64>, show: &dyn Fn(f64) -> String| {
        if let Some(v) = value {
            parts.push(format!("{label} {}", show(v)));
        }
    };
    push("rate", s.request_rate, &|v| format!("{v:.1}/s"));
    push("errors", s.error_ratio, &|v| format!("{:.1}%", v * 100.0));
    push("p50", s.p50_ms, &|v| format!("{v:.1} ms"));
    push("p95", s.p95_ms, &|v| format!("{v:.1} ms"));
    push("p99", s.p99_ms, &|v| format!("{v:.1} ms"));
    push("p99.9", s.p999_ms, &|v| format!("{v:.1} ms"));
    push("cache hits", s.cache_hit_ratio, &|v| {
        format!("{:.0}%", v * 100.0)
    });
    push("memory", s.memory_bytes, &|v| human_bytes(v as u64));
    push("cpu", s.cpu_percent, &|v| format!("{v:.1}%"));
    push("callers' errors", s.callers_error_ratio, &|v| {
        format!("{:.1}%", v * 100.0)
    });
    push("callers' failed calls", s.callers_failed_calls, &|v| {
        format!("{v:.0}")
    });
    if parts.is_empty() {
        "no data yet".to_string()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn row(service: &str, state: &str, health: &str) -> ServiceStatus {
        ServiceStatus {
            service: service.into(),
            container: Some(format!("demo-{service}-1")),
            state: state.into(),
            health: health.into(),
            restarts: 0,
            exit_code: None,
            oom_kills: Some(0),
            oom_source: "engine: never restarted".to_string(),
            memory_bytes: Some(12 * MIB),
            memory_limit_bytes: Some(300 * MIB),
            url: None,
        }
    }

    #[test]
    fn the_table_shows_exits_ooms_and_the_verdict() {
        let mut recommendation = row("recommendation", "restarting", "starting");
        recommendation.restarts = 3;
        recommendation.oom_kills = Some(3);
        recommendation.oom_source = "Prometheus counters: 3 restarts seen over the container's life, 3 at the top of a steep memory climb; engine restart count 3".to_string();
        recommendation.memory_bytes = None;
        let mut load = row("load-generator", "exited", "none");
        load.exit_code = Some(137);
        load.memory_bytes = None;
        load.restarts = 2;
        load.oom_kills = None;
        load.oom_source = "unknown: 3 ended runs, the last by an OOM kill; the engine keeps only the last exit's cause and Prometheus does not cover them all".to_string();
        let mut prometheus = row("prometheus", "running", "healthy");
        prometheus.url = Some("http://127.0.0.1:9090".into());
        let missing = ServiceStatus {
            container: None,
            memory_limit_bytes: None,
            memory_bytes: None,
            oom_kills: None,
            ..row("grafana", "missing", "none")
        };
        let signals = KeySignals {
            request_rate: Some(0.5),
            p95_ms: Some(180.0),
            cache_hit_ratio: Some(0.5),
            callers_error_ratio: Some(0.02),
            callers_failed_calls: Some(1.0),
            ..KeySignals::default()
        };
        let status = StackStatus {
            project: "demo".into(),
            healthy: false,
            services: vec![prometheus, recommendation, load, missing],
            flags: vec![FlagStatus {
                name: "recommendationCacheFailure".into(),
                on: true,
                service_reports: Some(true),
            }],
            signals: BTreeMap::from([("recommendation".to_string(), signals)]),
            notes: vec!["signals: Prometheus at http://127.0.0.1:9090 answered slowly".into()],
            alerts: vec![Alert {
                name: "DemoMemoryLeak".into(),
                state: "firing".into(),
                service: Some("recommendation".into()),
                summary: Some("recommendation's memory is climbing steadily".into()),
                active_at: Some("2026-11-30T20:06:19Z".into()),
            }],
        };
        insta::assert_snapshot!(render_table(&status), @r"
        SERVICE          STATE        HEALTH     RESTARTS  OOM                MEMORY  URL
        prometheus       running      healthy           0    0  12.0 MiB / 300.0 MiB  http://127.0.0.1:9090
        recommendation   restarting   starting          3    3         - / 300.0 MiB  -
        load-generator   exited(137)  none              2    ?         - / 300.0 MiB  -
        grafana          missing      none              0    -                     -  -
        oom kills of recommendation: Prometheus counters: 3 restarts seen over the container's life, 3 at the top of a steep memory climb; engine restart count 3
        oom kills of load-generator: unknown: 3 ended runs, the last by an OOM kill; the engine keeps only the last exit's cause and Prometheus does not cover them all
        flag recommendationCacheFailure: on (service acts on: on)
        signals recommendation: rate 0.5/s, p95 180.0 ms, cache hits 50%, callers' errors 2.0%, callers' failed calls 1
        alert DemoMemoryLeak (firing) since 2026-11-30T20:06:19Z: recommendation's memory is climbing steadily
        note: signals: Prometheus at http://127.0.0.1:9090 answered slowly
        project demo: NOT all running and healthy
        ");
        assert!(!status.services[1].is_ok());
        assert!(status.services[0].is_ok());
    }
}
