//! The warm-up watch after `flag enable`: samples the leaking service every few seconds and
//! renders what the walkthrough asks the user to wait for: memory climbing, restarts, OOM kills,
//! and, when Prometheus answers, request rate, p95 latency and the cache-hit ratio. It decides
//! when the symptom is visible (so the watch can end) and renders the closing summary.
use std::time::Duration;

use crate::diagnose::lives;
use crate::diagnose::report::{bytes as show_bytes, ms};
use crate::images::human_bytes;
use crate::signals::prometheus::KeySignals;

/// "Visible" agrees with the alert rules in `compose/prometheus/alerts.yml` (issue 15):
/// server p95 over [`LATENCY_FACTOR`]× its value before the flag and over [`LATENCY_FLOOR_MS`]
/// (`DemoLatencyAboveBaseline`); memory at [`lives::CLIMB_FACTOR`]× the life's low, 3 MiB
/// over it and still rising faster than [`MEMORY_RISE`] over the last minute (`DemoMemoryLeak`); any OOM kill
/// the engine reports (`DemoServiceRestarted` sees its counter reset).
pub const LATENCY_FACTOR: f64 = 10.0;
pub const LATENCY_FLOOR_MS: f64 = 25.0;
/// 32 KiB/s, in bytes per second.
pub const MEMORY_RISE: f64 = 32.0 * 1024.0;

/// What made the symptom visible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Symptom {
    /// Server p95 (ms) against its value before the flag.
    Latency { before_ms: f64, now_ms: f64 },
    /// Memory (bytes) from its life's low to now, in Prometheus's or the engine's readings.
    Memory { from: f64, to: f64 },
    /// OOM kills the engine reported.
    OomKill { kills: u64 },
}

impl Symptom {
    pub fn describe(&self) -> String {
        match *self {
            Symptom::Latency { before_ms, now_ms } => format!(
                "server p95 {} against {} before the flag",
                ms(now_ms),
                ms(before_ms)
            ),
            Symptom::Memory { from, to } => format!(
                "memory climbing, {} → {} ({:.1}×) and still rising",
                show_bytes(from),
                show_bytes(to),
                to / from.max(1.0)
            ),
            Symptom::OomKill { kills } => format!(
                "{kills} OOM kill{} reported by the engine",
                if kills == 1 { "" } else { "s" }
            ),
        }
    }
}

/// Whether the leak shows: an OOM kill, latency far above its baseline, or memory (one life,
/// unix s and bytes) climbing like the alert's rule.
pub fn visible(
    oom_kills: u64,
    p95_before_ms: Option<f64>,
    p95_now_ms: Option<f64>,
    memory: &[(f64, f64)],
) -> Option<Symptom> {
    if oom_kills > 0 {
        return Some(Symptom::OomKill { kills: oom_kills });
    }
    if let (Some(before), Some(now)) = (p95_before_ms, p95_now_ms)
        && now >= LATENCY_FLOOR_MS
        && now >= before * LATENCY_FACTOR
    {
        return Some(Symptom::Latency {
            before_ms: before,
            now_ms: now,
        });
    }
    memory_climb(memory).map(|(from, to)| Symptom::Memory { from, to })
}

/// (low, now) when memory in this life is at 1.5× its low, at least
/// [`lives::CLIMB_MIN_BYTES`] above it (a process that just started grows a few MiB and
/// stops), and rose faster than [`MEMORY_RISE`] over the last minute.
fn memory_climb(life: &[(f64, f64)]) -> Option<(f64, f64)> {
    let climb = lives::climb_of(life)?;
    let &(t, now) = life.last()?;
    let &(t0, then) = life
        .iter()
        .rev()
        .find(|p| t - p.0 >= 60.0)
        .or(life.first())?;
    let rising = t > t0 && (now - then) / (t - t0) > MEMORY_RISE;
    let climbed = now >= climb.from_bytes * lives::CLIMB_FACTOR
        && now - climb.from_bytes >= lives::CLIMB_MIN_BYTES;
    (climbed && rising).then_some((climb.from_bytes, now))
}

/// What the warm-up saw, printed when it ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Time from `flag enable` to the symptom, and what it was; `None`: not visible yet.
    pub symptom: Option<(Duration, Symptom)>,
    pub watched: Duration,
    pub memory_peak: Option<u64>,
    pub memory_limit: Option<u64>,
    pub oom_kills: u64,
    pub p95_before_ms: Option<f64>,
    pub p95_peak_ms: Option<f64>,
    /// `get_product_list` p95 on a cache miss over that on a hit.
    pub miss_hit_ratio: Option<f64>,
    /// The largest product count in traces (either attribute name).
    pub max_products_count: Option<i64>,
    pub dashboard: Option<String>,
    pub slowest_trace: Option<String>,
}

/// The closing summary, a few plain lines.
pub fn render_summary(s: &Summary) -> String {
    let mut out = match &s.symptom {
        Some((at, symptom)) => format!(
            "leak visible after {}: {}\n",
            clock(*at),
            symptom.describe()
        ),
        None => format!(
            "leak not visible yet after {} (no OOM kill, p95 and memory below the alert thresholds)\n",
            clock(s.watched)
        ),
    };
    let or_dash = |v: Option<f64>, show: &dyn Fn(f64) -> String| v.map_or("-".to_string(), show);
    out.push_str(&format!(
        "  memory peak {}{}, OOM kills {}\n",
        or_dash(s.memory_peak.map(|b| b as f64), &show_bytes),
        s.memory_limit
            .map(|l| format!(" of {} limit", show_bytes(l as f64)))
            .unwrap_or_default(),
        s.oom_kills
    ));
    out.push_str(&format!(
        "  server p95 {} before, {} at peak; cache miss/hit p95 {}; largest product count {}\n",
        or_dash(s.p95_before_ms, &ms),
        or_dash(s.p95_peak_ms, &ms),
        or_dash(s.miss_hit_ratio, &|r| format!("{r:.1}×")),
        s.max_products_count
            .map_or("-".to_string(), |n| crate::diagnose::report::count(
                n as f64
            ))
    ));
    if let Some(d) = &s.dashboard {
        out.push_str(&format!("  dashboard: {d}\n"));
    }
    if let Some(t) = &s.slowest_trace {
        out.push_str(&format!("  slowest trace: {t}\n"));
    }
    out
}

/// One refresh of the watch.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub elapsed: Duration,
    pub memory_bytes: Option<u64>,
    pub memory_limit: Option<u64>,
    pub restarts: i64,
    pub oom_kills: u64,
    /// From Prometheus, or why there is nothing from it.
    pub signals: Result<KeySignals, String>,
}

/// Memory over the watch, for the trend and the sparkline.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// (seconds since the start, bytes).
    points: Vec<(f64, f64)>,
    /// Where the current life starts in `points` (the trend is per life: a slope across an OOM
    /// kill reads as a steep fall while memory is flat).
    life_start: usize,
    restarts: Option<i64>,
}

/// How many recent samples the trend and the sparkline look at.
const RECENT: usize = 24;

impl History {
    /// A reading; `restarts` is the engine's count then: a change (or a fall to under half)
    /// starts a new life.
    pub fn push(&mut self, at: Duration, bytes: u64, restarts: i64) {
        let bytes = bytes as f64;
        let dropped = self
            .points
            .last()
            .is_some_and(|&(_, prev)| bytes < prev * crate::diagnose::trend::DROP_SHARE);
        if self.restarts.is_some_and(|r| r != restarts) || dropped {
            self.life_start = self.points.len();
        }
        self.restarts = Some(restarts);
        self.points.push((at.as_secs_f64(), bytes));
    }

    /// The current life's readings.
    pub fn life(&self) -> &[(f64, f64)] {
        &self.points[self.life_start..]
    }

    /// The highest reading of the watch.
    pub fn peak(&self) -> Option<u64> {
        self.points.iter().map(|p| p.1 as u64).max()
    }

    /// Least-squares slope over the current life's recent samples, in bytes per minute.
    pub fn slope_per_minute(&self) -> Option<f64> {
        let life = self.life();
        let recent = &life[life.len().saturating_sub(RECENT)..];
        if recent.len() < 3 {
            return None;
        }
        let n = recent.len() as f64;
        let (mx, my) = recent
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.0 / n, y + p.1 / n));
        let (sxy, sxx) = recent.iter().fold((0.0, 0.0), |(sxy, sxx), p| {
            (sxy + (p.0 - mx) * (p.1 - my), sxx + (p.0 - mx).powi(2))
        });
        (sxx > 0.0).then(|| sxy / sxx * 60.0)
    }

    /// The recent samples as block characters, lowest to highest.
    pub fn sparkline(&self) -> String {
        const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let recent = &self.points[self.points.len().saturating_sub(RECENT)..];
        let (lo, hi) = recent.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        recent
            .iter()
            .map(|p| {
                let level = if hi > lo {
                    ((p.1 - lo) / (hi - lo) * 7.0).round() as usize
                } else {
                    0
                };
                BLOCKS[level.min(7)]
            })
            .collect()
    }
}

/// `mm:ss`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// The signals part of a line: engine figures always, Prometheus figures when it answered.
pub fn render_signals(sample: &Sample, history: &History) -> String {
    let memory = match sample.memory_bytes {
        Some(bytes) => {
            let trend = history
                .slope_per_minute()
                .map(|slope| {
                    format!(
                        " ({}{}/min)",
                        if slope < 0.0 { "-" } else { "+" },
                        human_bytes(slope.abs() as u64)
                    )
                })
                .unwrap_or_default();
            let limit = sample
                .memory_limit
                .map(|l| format!(" of {}", human_bytes(l)))
                .unwrap_or_default();
            format!("memory {}{limit}{trend}", human_bytes(bytes))
        }
        None => "memory - (not running)".to_string(),
    };
    let mut line = format!(
        "{memory}, restarts {}, OOM kills {}",
        sample.restarts, sample.oom_kills
    );
    match &sample.signals {
        Ok(s) => {
            let or_dash = |v: Option<f64>, f: &dyn Fn(f64) -> String| {
                v.map(f).unwrap_or_else(|| "-".to_string())
            };
            line.push_str(&format!(
                ", {} req/s, p95 {}, cache hits {}",
                or_dash(s.request_rate, &|v| format!("{v:.1}")),
                or_dash(s.p95_ms, &ms),
                or_dash(s.cache_hit_ratio, &|v| format!("{:.0}%", v * 100.0)),
            ));
        }
        Err(note) => line.push_str(&format!(" ({note})")),
    }
    line
}

/// One plain line per interval, for logs and pipes.
pub fn render_plain(sample: &Sample, history: &History, total: Duration) -> String {
    format!(
        "warm-up {} / {}: {}",
        clock(sample.elapsed),
        clock(total),
        render_signals(sample, history)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn history(points: &[(u64, u64)]) -> History {
        let mut h = History::default();
        for (s, mib) in points {
            h.push(Duration::from_secs(*s), mib * MIB, 0);
        }
        h
    }

    #[test]
    fn slope_is_per_minute_and_needs_three_points() {
        assert_eq!(history(&[(0, 10), (5, 20)]).slope_per_minute(), None);
        let slope = history(&[(0, 10), (30, 20), (60, 30)])
            .slope_per_minute()
            .unwrap();
        assert!((slope - (20 * MIB) as f64).abs() < 1.0, "{slope}");
    }

    #[test]
    fn the_slope_is_of_the_current_life_only() {
        // Climbing to 150 MiB, OOM-killed, flat at 6 MiB since: not -30 MiB/min.
        let mut h = History::default();
        for (s, mib, restarts) in [
            (0, 50, 0),
            (5, 100, 0),
            (10, 150, 0),
            (15, 6, 1),
            (20, 6, 1),
            (25, 6, 1),
        ] {
            h.push(Duration::from_secs(s), mib * MIB, restarts);
        }
        assert_eq!(h.slope_per_minute(), Some(0.0));
        assert_eq!(h.peak(), Some(150 * MIB));
        assert_eq!(h.life().len(), 3);
    }

    #[test]
    fn visible_agrees_with_the_alert_thresholds() {
        assert_eq!(
            visible(1, None, None, &[]),
            Some(Symptom::OomKill { kills: 1 })
        );
        // 0.1 ms → 20 ms is 200× but under the 25 ms floor; 30 ms is over both.
        assert_eq!(visible(0, Some(0.1), Some(20.0), &[]), None);
        assert!(matches!(
            visible(0, Some(0.1), Some(30.0), &[]),
            Some(Symptom::Latency { .. })
        ));
        assert_eq!(visible(0, Some(5.0), Some(40.0), &[]), None, "only 8×");
        // A process that just started: 3.9 → 6.0 MiB in 8 s is 1.5× and rising fast, but
        // 2.1 MiB is start-up, not a leak (seen on the engine, before any request).
        let start_up =
            [(0.0, 3.9), (2.0, 5.4), (5.0, 5.8), (8.0, 6.0)].map(|(t, m)| (t, m * MIB as f64));
        assert_eq!(visible(0, None, None, &start_up), None);
        let leak = [(0.0, 6.0), (60.0, 7.5), (120.0, 9.0), (180.0, 12.0)]
            .map(|(t, m)| (t, m * MIB as f64));
        assert!(matches!(
            visible(0, None, None, &leak),
            Some(Symptom::Memory { .. })
        ));
    }

    #[test]
    fn the_recorded_memory_climb_becomes_visible_about_3_5_minutes_after_the_flag() {
        // leak-run-2 (tests/fixtures/recorded): Prometheus's memory series, 5 s steps.
        let path = format!(
            "{}/tests/fixtures/recorded/leak-run-2-series.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let on = rec["flag_on"].as_f64().unwrap();
        let memory: Vec<(f64, f64)> =
            serde_json::from_value(rec["series"]["memory/recommendation"].clone()).unwrap();
        let first = (1..memory.len())
            .find(|&i| memory[i].0 >= on && visible(0, None, None, &memory[..=i]).is_some())
            .map(|i| memory[i].0 - on)
            .unwrap();
        eprintln!("the recorded climb is visible {first}s after the flag");
        assert!((180.0..=240.0).contains(&first), "visible at {first}s");
        // Nothing visible before the flag went on.
        let before = memory.iter().position(|p| p.0 >= on).unwrap();
        assert!((2..before).all(|i| visible(0, None, None, &memory[..=i]).is_none()));
    }

    #[test]
    fn the_summary_names_time_peak_kills_latency_and_links() {
        let summary = Summary {
            symptom: Some((
                Duration::from_secs(205),
                Symptom::Memory {
                    from: 6.0 * MIB as f64,
                    to: 11.6 * MIB as f64,
                },
            )),
            watched: Duration::from_secs(205),
            memory_peak: Some(12 * MIB),
            memory_limit: Some(200 * MIB),
            oom_kills: 0,
            p95_before_ms: Some(0.1),
            p95_peak_ms: Some(2.4),
            miss_hit_ratio: Some(3.2),
            max_products_count: Some(1_737_390),
            dashboard: Some("http://127.0.0.1:3000/d/demo-recommendation".into()),
            slowest_trace: Some("http://127.0.0.1:16686/trace/abc".into()),
        };
        insta::assert_snapshot!(render_summary(&summary), @r"
        leak visible after 03:25: memory climbing, 6.0 MiB → 12 MiB (1.9×) and still rising
          memory peak 12 MiB of 200 MiB limit, OOM kills 0
          server p95 0.10 ms before, 2.4 ms at peak; cache miss/hit p95 3.2×; largest product count 1.7 M
          dashboard: http://127.0.0.1:3000/d/demo-recommendation
          slowest trace: http://127.0.0.1:16686/trace/abc
        ");
    }

    #[test]
    fn sparkline_spans_lowest_to_highest() {
        assert_eq!(
            history(&[(0, 10), (5, 20), (10, 30), (15, 10)]).sparkline(),
            "▁▅█▁"
        );
        assert_eq!(history(&[(0, 5), (5, 5)]).sparkline(), "▁▁");
    }

    #[test]
    fn plain_lines_with_and_without_prometheus() {
        let h = history(&[(0, 40), (30, 70), (60, 100)]);
        let mut sample = Sample {
            elapsed: Duration::from_secs(60),
            memory_bytes: Some(100 * MIB),
            memory_limit: Some(200 * MIB),
            restarts: 1,
            oom_kills: 1,
            signals: Ok(KeySignals {
                request_rate: Some(20.04),
                p95_ms: Some(41.6),
                cache_hit_ratio: Some(0.48),
                ..KeySignals::default()
            }),
        };
        insta::assert_snapshot!(render_plain(&sample, &h, Duration::from_secs(600)), @"warm-up 01:00 / 10:00: memory 100.0 MiB of 200.0 MiB (+60.0 MiB/min), restarts 1, OOM kills 1, 20.0 req/s, p95 42 ms, cache hits 48%");
        sample.signals = Err("Prometheus did not answer; engine signals only".into());
        sample.memory_bytes = None;
        insta::assert_snapshot!(render_plain(&sample, &h, Duration::from_secs(600)), @"warm-up 01:00 / 10:00: memory - (not running), restarts 1, OOM kills 1 (Prometheus did not answer; engine signals only)");
    }
}
