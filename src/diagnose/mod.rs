//! `demo diagnose`'s analysis: pure functions from what was observed (engine samples, metrics,
//! traces, the service's own state) to a verdict with its evidence. No I/O here: the command
//! gathers [`Observations`], [`analyze`] reads them, [`report::render`] prints the result.
pub mod evidence;
pub mod lives;
pub mod percentile;
pub mod report;
pub mod traces;
pub mod trend;
pub mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::signals::jaeger::{self, Trace, TraceQuery};
use crate::signals::names;
use crate::signals::prometheus::KeySignals;
use traces::{ATTR_CACHE_HIT, CacheComparison};
use trend::{Fit, MemorySample};
use verdict::{Call, Confidence, Growth, Sign, Verdict, VerdictKind};

/// Everything `diagnose` gathered, as plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    pub project: String,
    /// `--window`: how far back Prometheus, Jaeger and OOM events were read.
    pub window_s: f64,
    /// How long the engine's stats were sampled.
    pub sampled_s: f64,
    pub services: Vec<ServiceObservation>,
    pub prometheus: Source<MetricsData>,
    /// The recommendation service's traces with `app.cache_hit=true` and `=false`.
    pub jaeger: Source<Vec<Trace>>,
    /// The recommendation service's own `/state`, when it could be read.
    pub admin: Option<AdminState>,
    pub links: Links,
    /// `--sources` left the engine out: services come from Prometheus alone.
    #[serde(default)]
    pub engine_excluded: bool,
}

/// What the engine showed of one service's container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceObservation {
    pub service: String,
    pub container: Option<String>,
    /// The engine's state at the end (`running`, `restarting`, `exited`, or `missing`).
    pub state: String,
    pub memory_limit: Option<f64>,
    pub samples: Vec<MemorySample>,
    /// The engine's restart count at the end, and its growth while sampling.
    pub restarts_total: i64,
    pub restarts_during_sampling: i64,
    /// OOM kills seen while sampling (restarts with the engine's OOM flag set, events in the
    /// window): certain, but a floor, not a count (the engine's event log forgets in seconds).
    pub oom_kills_total: u64,
    pub oom_kills_in_window: u64,
    /// The engine's `OOMKilled` at the end (the last exit's cause), when read.
    #[serde(default)]
    pub oom_flag: Option<bool>,
    /// When the container was created (unix s), to tell whether Prometheus covers its life.
    #[serde(default)]
    pub created_at: Option<f64>,
}

/// What Prometheus answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsData {
    /// Key signals by `service_name`, rates over the window.
    pub signals: BTreeMap<String, KeySignals>,
    /// `process_memory_usage_bytes` over the window: (unix s, bytes) by `service_name`.
    pub memory: BTreeMap<String, Vec<(f64, f64)>>,
    /// The range query's step, seconds (a longer gap means the series stopped).
    pub step_s: f64,
    /// The recommendation service's `get_product_list` p95 by `app_cache_hit` (`true`/`false`).
    pub cache_p95_ms: BTreeMap<String, f64>,
    /// `process_cpu_time_seconds_total` summed per `service_name` over the same range as
    /// `memory`: each reset is a restart of the process.
    #[serde(default)]
    pub cpu: BTreeMap<String, Vec<(f64, f64)>>,
    /// Where the window starts (unix s) when `memory` and `cpu` reach further back (to cover
    /// the containers' lives); `None`: they cover the window only.
    #[serde(default)]
    pub window_start: Option<f64>,
}

impl MetricsData {
    /// Whether Prometheus holds anything of our pipeline at all.
    pub fn is_empty(&self) -> bool {
        self.signals.values().all(KeySignals::is_empty)
            && self.memory.values().all(Vec::is_empty)
            && self.cache_p95_ms.is_empty()
    }
}

/// A source's outcome: read, failed (named with its URL and cause), or not in the stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Source<T> {
    Read { url: String, data: T },
    Failed { url: String, reason: String },
    Absent { reason: String },
}

impl<T> Source<T> {
    pub fn data(&self) -> Option<&T> {
        match self {
            Source::Read { data, .. } => Some(data),
            _ => None,
        }
    }
}

/// The recommendation service's own account of its cache (`/recommendation --state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminState {
    pub service: String,
    pub cache_enabled: Option<bool>,
    /// (seconds since sampling started, entries in its product list) per successful read.
    pub cached_ids: Vec<(f64, u64)>,
    pub failed_reads: usize,
    /// Why the last read failed, when it did (e.g. the container was restarting).
    pub last_error: Option<String>,
}

/// One attempt to read the service's state: when, and (cache on?, list length) or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminRead {
    pub t: f64,
    pub read: Result<(Option<bool>, u64), String>,
}

impl AdminState {
    pub fn new(service: &str) -> Self {
        AdminState {
            service: service.to_string(),
            cache_enabled: None,
            cached_ids: Vec::new(),
            failed_reads: 0,
            last_error: None,
        }
    }

    pub fn record(&mut self, attempt: AdminRead) {
        match attempt.read {
            Ok((enabled, ids)) => {
                self.cache_enabled = enabled.or(self.cache_enabled);
                self.cached_ids.push((attempt.t, ids));
                self.last_error = None;
            }
            Err(e) => {
                self.failed_reads += 1;
                self.last_error = Some(e);
            }
        }
    }
}

/// Base URLs of the stack's UIs, from the compose file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Links {
    pub grafana_dashboard: Option<String>,
    pub jaeger: Option<String>,
    pub prometheus: Option<String>,
}

// ---- The result ----

/// The diagnosis: what `--json` prints and the report renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub project: String,
    pub window_s: f64,
    pub sampled_s: f64,
    pub verdict: Verdict,
    /// The service whose memory grows fastest (engine samples, else Prometheus).
    pub fastest_growing: Option<Fastest>,
    pub services: Vec<ServiceFindings>,
    /// Key signals by `service_name` for every service the span metrics know (the load
    /// generator's spans are service `frontend`, which has no container of that name).
    pub span_metrics: BTreeMap<String, KeySignals>,
    pub cache: CacheFindings,
    pub admin: Option<AdminState>,
    pub sources: Vec<SourceNote>,
    /// (what, URL) to open next.
    pub links: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fastest {
    pub service: String,
    pub slope_bytes_per_s: f64,
}

/// One service, all sources together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceFindings {
    pub service: String,
    pub container: Option<String>,
    pub state: String,
    pub call: Call,
    pub memory: MemoryFindings,
    /// `None` where the engine was not read.
    pub restarts_total: Option<i64>,
    pub restarts_during_sampling: Option<i64>,
    /// OOM kills since the container was created and in the window; `None` where it cannot be
    /// known (never a smaller number), with where the figure comes from.
    pub oom_kills_total: Option<u64>,
    pub oom_kills_in_window: Option<u64>,
    pub oom_source: String,
    /// OOM kills in the window that were seen happen (engine events, restarts with the OOM
    /// flag while sampling): a floor for the evidence when the count itself is unknown.
    #[serde(default)]
    pub oom_kills_seen_in_window: u64,
    /// Lives between restarts, from Prometheus's memory series and counters.
    pub lives: Option<lives::Lives>,
    /// From the span metrics and process metrics, when Prometheus had them.
    pub signals: Option<KeySignals>,
    /// The engine's samples, for scripts that want to plot them.
    pub samples: Vec<MemorySample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryFindings {
    pub samples: usize,
    /// Samples taken while the container was running.
    pub running_samples: usize,
    pub last_bytes: Option<f64>,
    pub peak_bytes: Option<f64>,
    pub limit_bytes: Option<f64>,
    /// Segmented fit over the engine's samples.
    pub engine: Option<Fit>,
    pub engine_growth: Growth,
    /// Segmented fit over Prometheus's `process_memory_usage_bytes`.
    pub prometheus: Option<Fit>,
    pub prometheus_growth: Growth,
}

impl MemoryFindings {
    /// The fit that speaks for the service: the engine's when it has one, else Prometheus's.
    pub fn best_fit(&self) -> Option<&Fit> {
        self.engine.as_ref().or(self.prometheus.as_ref())
    }
}

/// The cache comparison, from traces and from span metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheFindings {
    pub traces: Option<CacheComparison>,
    pub metrics_p95_hit_ms: Option<f64>,
    pub metrics_p95_miss_ms: Option<f64>,
    pub hit_ratio: Option<f64>,
}

/// How a source fared, for the report's last section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceNote {
    pub source: String,
    pub url: Option<String>,
    /// `read`, `no data`, `failed` or `absent`.
    pub status: String,
    pub detail: String,
}

/// Reads the observations.
pub fn analyze(obs: &Observations) -> Diagnosis {
    let metrics = obs.prometheus.data();
    let window = report::duration(obs.window_s);
    let cache = cache_findings(obs, metrics);
    let mut observed = obs.services.clone();
    if obs.engine_excluded
        && let Some(m) = metrics
    {
        observed.extend(m.memory.keys().map(|name| telemetry_only(name)));
    }
    let mut services: Vec<ServiceFindings> =
        observed.iter().map(|s| findings(s, metrics)).collect();
    let mut signs: Vec<Vec<Sign>> = Vec::new();
    for service in &mut services {
        let found = evidence::signs(service, &cache, obs.admin.as_ref(), &window);
        let observed = service.memory.running_samples > 0
            || service.memory.prometheus.is_some()
            || service.lives.as_ref().is_some_and(|l| l.climb.is_some());
        service.call = verdict::call_of(weight(&found), observed);
        signs.push(found);
    }
    let fastest_growing = services
        .iter()
        .filter_map(|s| {
            s.memory.best_fit().map(|f| Fastest {
                service: s.service.clone(),
                slope_bytes_per_s: f.slope,
            })
        })
        .filter(|f| f.slope_bytes_per_s > 0.0)
        .max_by(|a, b| a.slope_bytes_per_s.total_cmp(&b.slope_bytes_per_s));
    let verdict = decide(obs, &services, signs, fastest_growing.as_ref());
    Diagnosis {
        project: obs.project.clone(),
        window_s: obs.window_s,
        sampled_s: obs.sampled_s,
        links: links(obs, &cache),
        sources: sources(obs),
        verdict,
        fastest_growing,
        services,
        span_metrics: metrics.map(|m| m.signals.clone()).unwrap_or_default(),
        cache,
        admin: obs.admin.clone(),
    }
}

fn weight(signs: &[Sign]) -> u32 {
    signs.iter().map(|s| s.weight).sum()
}

/// A service known from Prometheus alone (the engine left out by `--sources`).
fn telemetry_only(name: &str) -> ServiceObservation {
    ServiceObservation {
        service: name.to_string(),
        container: None,
        state: "-".to_string(),
        memory_limit: None,
        samples: Vec::new(),
        restarts_total: 0,
        restarts_during_sampling: 0,
        oom_kills_total: 0,
        oom_kills_in_window: 0,
        oom_flag: None,
        created_at: None,
    }
}

/// Points at or after `start` (all of them without one).
fn since(points: &[(f64, f64)], start: Option<f64>) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|p| start.is_none_or(|s| p.0 >= s))
        .collect()
}

/// OOM kills and restarts from the lasting sources: the engine's record and Prometheus.
struct Kills {
    total: Option<u64>,
    in_window: Option<u64>,
    source: String,
}

fn kills(
    obs: &ServiceObservation,
    lives: Option<&lives::Lives>,
    metrics: Option<&MetricsData>,
) -> Kills {
    let window_start = metrics.and_then(|m| m.window_start);
    let in_window = |l: &lives::Lives| {
        l.restarts
            .iter()
            .filter(|r| r.after_steep_climb && window_start.is_none_or(|s| r.at >= s))
            .count() as u64
    };
    if obs.container.is_none() {
        // Telemetry alone: the restarts its counters show in the window.
        return match lives {
            Some(l) => Kills {
                total: None,
                in_window: Some(in_window(l)),
                source: "Prometheus counters (restarts at the top of a steep memory climb); the engine was not read".to_string(),
            },
            None => Kills {
                total: None,
                in_window: None,
                source: "unknown: neither the engine nor Prometheus was read".to_string(),
            },
        };
    };
    let covers = |_: &lives::Lives| {
        let m = metrics?;
        let memory = m.memory.get(&obs.service)?;
        let cpu = m
            .cpu
            .get(&obs.service)
            .map(Vec::as_slice)
            .unwrap_or_default();
        lives::over_life(memory, cpu, m.step_s.max(1.0), obs.created_at)
    };
    let running = obs.state == "running";
    let ended = u64::try_from(obs.restarts_total).unwrap_or(0) + u64::from(!running);
    let count = if ended > 0 && obs.oom_kills_total >= ended {
        lives::Count {
            value: Some(ended),
            source: "engine: every ended run was seen OOM-killed while sampled".to_string(),
        }
    } else if let Some(oom_killed) = obs.oom_flag.or((ended == 0).then_some(false)) {
        let record = lives::EngineRecord {
            restart_count: obs.restarts_total,
            running,
            oom_killed,
        };
        lives::oom_kills(record, lives.and_then(covers))
    } else {
        lives::Count {
            value: None,
            source: "unknown: the engine's OOM flag was not read".to_string(),
        }
    };
    // Kills seen while sampling are certain: a count below them is wrong, so unknown instead.
    let total = count.value.filter(|&v| v >= obs.oom_kills_total);
    let created_in_window = matches!(
        (obs.created_at, window_start),
        (Some(created), Some(start)) if created >= start
    );
    let in_window = match (total, lives) {
        (Some(0), _) => Some(0),
        (Some(t), _) if obs.oom_kills_in_window >= t || created_in_window => Some(t),
        (Some(_), Some(l)) if covers(l).is_some() => {
            Some(in_window(l).max(obs.oom_kills_in_window))
        }
        _ => None,
    };
    Kills {
        total,
        in_window,
        source: count.source,
    }
}

fn findings(obs: &ServiceObservation, metrics: Option<&MetricsData>) -> ServiceFindings {
    let running: Vec<f64> = obs.samples.iter().filter_map(|s| s.bytes).collect();
    let last_bytes = obs.samples.last().and_then(|s| s.bytes);
    let peak_bytes = running.iter().copied().reduce(f64::max);
    let engine = trend::pooled_fit(&trend::segments_of_samples(&obs.samples));
    let level = running.last().copied();
    let engine_growth = verdict::growth(engine.as_ref(), level, obs.memory_limit);
    let series = metrics.and_then(|m| {
        m.memory
            .get(&obs.service)
            .map(|s| (since(s, m.window_start), m.step_s))
    });
    let lives = metrics.and_then(|m| {
        let memory = m.memory.get(&obs.service)?;
        let resets = m
            .cpu
            .get(&obs.service)
            .map(|c| lives::counter_resets(c))
            .unwrap_or_default();
        Some(lives::read(memory, &resets, 3.0 * m.step_s.max(1.0)))
    });
    let kills = kills(obs, lives.as_ref(), metrics);
    let series = series.as_ref().map(|(points, step)| (points, *step));
    let prometheus = series.and_then(|(points, step)| {
        trend::pooled_fit(&trend::segments_of_series(points, 3.0 * step.max(1.0)))
    });
    let prom_level = series.and_then(|(points, _)| points.last().map(|p| p.1));
    let prometheus_growth =
        verdict::growth(prometheus.as_ref(), prom_level.or(level), obs.memory_limit);
    ServiceFindings {
        service: obs.service.clone(),
        container: obs.container.clone(),
        state: obs.state.clone(),
        call: Call::Unobserved,
        memory: MemoryFindings {
            samples: obs.samples.len(),
            running_samples: running.len(),
            last_bytes,
            peak_bytes,
            limit_bytes: obs.memory_limit,
            engine,
            engine_growth,
            prometheus,
            prometheus_growth,
        },
        restarts_total: obs.container.as_ref().map(|_| obs.restarts_total),
        restarts_during_sampling: obs.container.as_ref().map(|_| obs.restarts_during_sampling),
        oom_kills_total: kills.total,
        oom_kills_in_window: kills.in_window,
        oom_source: kills.source,
        oom_kills_seen_in_window: obs.oom_kills_in_window,
        lives,
        signals: metrics.and_then(|m| m.signals.get(&obs.service).copied()),
        samples: obs.samples.clone(),
    }
}

fn cache_findings(obs: &Observations, metrics: Option<&MetricsData>) -> CacheFindings {
    CacheFindings {
        traces: obs
            .jaeger
            .data()
            .and_then(|t| traces::compare(names::SERVICE_RECOMMENDATION, t)),
        metrics_p95_hit_ms: metrics.and_then(|m| m.cache_p95_ms.get("true").copied()),
        metrics_p95_miss_ms: metrics.and_then(|m| m.cache_p95_ms.get("false").copied()),
        hit_ratio: metrics
            .and_then(|m| m.signals.get(names::SERVICE_RECOMMENDATION))
            .and_then(|s| s.cache_hit_ratio),
    }
}

/// The suspect is the service whose signs weigh most (then: more OOM kills, steeper growth).
fn decide(
    obs: &Observations,
    services: &[ServiceFindings],
    mut signs: Vec<Vec<Sign>>,
    fastest: Option<&Fastest>,
) -> Verdict {
    let suspect = (0..services.len())
        .filter(|&i| services[i].call >= Call::Suspicious)
        .max_by(|&a, &b| {
            let key = |i: usize| {
                let s = &services[i];
                let kills = s.oom_kills_in_window.unwrap_or(s.oom_kills_seen_in_window);
                (weight(&signs[i]), kills)
            };
            let slope = |i: usize| services[i].memory.best_fit().map_or(0.0, |f| f.slope);
            key(a).cmp(&key(b)).then(slope(a).total_cmp(&slope(b)))
        });
    if let Some(i) = suspect {
        let signs = std::mem::take(&mut signs[i]);
        let confidence = verdict::confidence_of(&signs);
        let named: Vec<&str> = signs
            .iter()
            .filter(|s| s.weight > 0)
            .map(|s| s.name.as_str())
            .collect();
        let confidence_why = match confidence {
            Confidence::High => format!("{} agree", join_and(&named)),
            Confidence::Medium => format!(
                "{}; a second independent sign would make it certain",
                join_and(&named)
            ),
            Confidence::Low => format!("only {}", join_and(&named)),
        };
        return Verdict {
            kind: VerdictKind::Leak,
            service: Some(services[i].service.clone()),
            confidence,
            confidence_why,
            evidence: signs.into_iter().map(|s| s.detail).collect(),
        };
    }
    no_leak(obs, services, fastest)
}

fn no_leak(obs: &Observations, services: &[ServiceFindings], fastest: Option<&Fastest>) -> Verdict {
    let watched = services
        .iter()
        .filter(|s| s.call != Call::Unobserved)
        .map(|s| {
            let covered = s.memory.engine.map_or(0.0, |f| f.covered_s);
            let prom_covered = s.memory.prometheus.map_or(0.0, |f| f.covered_s);
            (s, s.memory.running_samples, covered.max(prom_covered))
        });
    let Some((thinnest, samples, covered)) =
        watched.min_by(|a, b| a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)))
    else {
        return Verdict {
            kind: VerdictKind::Unknown,
            service: None,
            confidence: Confidence::Low,
            confidence_why:
                "no service was running while sampled and Prometheus had no memory data".to_string(),
            evidence: Vec::new(),
        };
    };
    let well_watched = (samples >= verdict::STEADY_SAMPLES || thinnest.memory.prometheus.is_some())
        && covered >= verdict::STEADY_SECONDS;
    // The service's own state is the first sign of the recommendation leak: without it, a
    // flat memory line cannot rule the leak out yet.
    let state_unread = obs.admin.as_ref().filter(|a| a.cached_ids.len() < 2);
    let confidence = if well_watched && state_unread.is_none() {
        Confidence::High
    } else if samples >= 5 {
        Confidence::Medium
    } else {
        Confidence::Low
    };
    let mut evidence = vec![match fastest {
        Some(f) => format!(
            "no memory grows like a leak: the fastest, {}, changes {} (a leak here is at least {} and on course to its limit within {})",
            f.service,
            report::rate(f.slope_bytes_per_s),
            report::rate(verdict::MIN_LEAK_SLOPE),
            report::duration(verdict::MAX_TIME_TO_LIMIT),
        ),
        None => "no service's memory grew while sampled".to_string(),
    }];
    if services.iter().all(|s| s.oom_kills_in_window == Some(0)) {
        evidence.push(format!(
            "no OOM kills in the last {}",
            report::duration(obs.window_s)
        ));
    }
    for s in services {
        let Some(l) = &s.lives else { continue };
        let steep = l.steep_restarts();
        if steep > 0 {
            evidence.push(format!(
                "{}: {steep} restart{} at the top of a steep memory climb (OOM kills, seen in its Prometheus counters), but its memory {} since: no active leak",
                s.service,
                evidence::plural(steep as u64),
                if l.climb.is_some_and(|c| c.stopped()) {
                    "climbed and then stopped"
                } else {
                    "has not climbed"
                }
            ));
        }
    }
    if let Some(admin) = &obs.admin
        && admin.cache_enabled == Some(false)
        && let Some(ids) = evidence::list_max(admin).filter(|n| *n > 0)
    {
        evidence.push(format!(
            "{} still holds {} cached product ids from an earlier leak (the cache is off now; only a restart frees them)",
            admin.service,
            report::count(ids as f64)
        ));
    }
    let confidence_why = if let Some(admin) = state_unread {
        format!(
            "{}'s own state could not be read ({} failed read{}{}), and its list grows long before its memory",
            admin.service,
            admin.failed_reads,
            evidence::plural(admin.failed_reads as u64),
            admin
                .last_error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )
    } else if well_watched {
        format!(
            "every service watched for at least {} ({}+ samples each), none climbing",
            report::duration(covered),
            samples.min(verdict::STEADY_SAMPLES)
        )
    } else {
        format!(
            "{} was watched for only {} ({samples} samples)",
            thinnest.service,
            report::duration(covered)
        )
    };
    Verdict {
        kind: VerdictKind::NoLeak,
        service: None,
        confidence,
        confidence_why,
        evidence,
    }
}

fn links(obs: &Observations, cache: &CacheFindings) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(grafana) = &obs.links.grafana_dashboard {
        out.push(("dashboard".to_string(), grafana.clone()));
    }
    if let Some(base) = &obs.links.jaeger {
        let lookback = std::time::Duration::from_secs_f64(obs.window_s.max(1.0));
        let attribute = cache
            .traces
            .as_ref()
            .and_then(|t| t.cache_hit_attribute.as_deref())
            .unwrap_or(ATTR_CACHE_HIT);
        for (what, hit) in [("cache misses", "false"), ("cache hits", "true")] {
            let query = TraceQuery::new(names::SERVICE_RECOMMENDATION)
                .tag(attribute, hit)
                .lookback(lookback)
                .limit(50);
            out.push((what.to_string(), jaeger::search_url(base, &query)));
        }
        if let Some(slowest) = cache.traces.as_ref().and_then(|t| t.slowest.as_ref()) {
            out.push((
                "slowest trace".to_string(),
                jaeger::trace_url(base, &slowest.trace_id),
            ));
        }
    }
    if let Some(prometheus) = &obs.links.prometheus {
        out.push(("prometheus".to_string(), prometheus.clone()));
    }
    out
}

fn sources(obs: &Observations) -> Vec<SourceNote> {
    let running = obs
        .services
        .iter()
        .filter(|s| s.samples.iter().any(|x| x.bytes.is_some()))
        .count();
    let samples: usize = obs.services.iter().map(|s| s.samples.len()).sum();
    let mut notes = vec![SourceNote {
        source: "engine".to_string(),
        url: None,
        status: "read".to_string(),
        detail: format!(
            "{} container{} ({running} running while sampled), {samples} stats samples over {}",
            obs.services.len(),
            evidence::plural(obs.services.len() as u64),
            report::duration(obs.sampled_s)
        ),
    }];
    notes.push(source_note("prometheus", &obs.prometheus, |data| {
        (!data.is_empty()).then(|| {
            format!(
                "span metrics for {} service{}, process memory for {}",
                data.signals.len(),
                evidence::plural(data.signals.len() as u64),
                data.memory.len()
            )
        })
    }));
    notes.push(source_note("jaeger", &obs.jaeger, |traces| {
        (!traces.is_empty()).then(|| format!("{} traces", traces.len()))
    }));
    if let Some(admin) = &obs.admin {
        let reads = admin.cached_ids.len();
        notes.push(SourceNote {
            source: "service state".to_string(),
            url: None,
            status: if reads > 0 { "read" } else { "failed" }.to_string(),
            detail: match &admin.last_error {
                Some(e) if reads == 0 => format!("{} --state: {e}", admin.service),
                _ => format!(
                    "{} --state, {reads} read{} ({} failed)",
                    admin.service,
                    evidence::plural(reads as u64),
                    admin.failed_reads
                ),
            },
        });
    }
    notes
}

/// A remote source's note; `summary` is `None` when it answered with nothing of ours.
fn source_note<T>(
    name: &str,
    source: &Source<T>,
    summary: impl Fn(&T) -> Option<String>,
) -> SourceNote {
    let (url, status, detail) = match source {
        Source::Read { url, data } => match summary(data) {
            Some(summary) => (Some(url), "read", format!("{url}: {summary}")),
            None => (
                Some(url),
                "no data",
                format!("{url} answered, but holds {}", no_data_hint(name)),
            ),
        },
        Source::Failed { url, reason } => (
            Some(url),
            "failed",
            format!("{reason}; the verdict uses the other sources"),
        ),
        Source::Absent { reason } => (None, "absent", reason.clone()),
    };
    SourceNote {
        source: name.to_string(),
        url: url.cloned(),
        status: status.to_string(),
        detail,
    }
}

fn no_data_hint(name: &str) -> String {
    match name {
        "jaeger" => format!(
            "no {} traces tagged {ATTR_CACHE_HIT} (is the flag on, and the collector exporting to it?)",
            names::SERVICE_RECOMMENDATION
        ),
        _ => "no span or process metrics of ours (is the collector running, and scraped?)"
            .to_string(),
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[&str]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod recorded_tests;
#[cfg(test)]
mod tests;
