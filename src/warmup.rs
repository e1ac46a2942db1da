//! The warm-up watch after `flag enable`: samples the leaking service every few seconds and
//! renders what the walkthrough asks the user to wait for: memory climbing, restarts, OOM kills,
//! and, when Prometheus answers, request rate, p95 latency and the cache-hit ratio.
use std::time::Duration;

use crate::images::human_bytes;
use crate::signals::prometheus::KeySignals;

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
}

/// How many recent samples the trend and the sparkline look at.
const RECENT: usize = 24;

impl History {
    pub fn push(&mut self, at: Duration, bytes: u64) {
        self.points.push((at.as_secs_f64(), bytes as f64));
    }

    /// Least-squares slope over the recent samples, in bytes per minute.
    pub fn slope_per_minute(&self) -> Option<f64> {
        let recent = &self.points[self.points.len().saturating_sub(RECENT)..];
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
                or_dash(s.p95_ms, &|v| format!("{v:.0} ms")),
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
            h.push(Duration::from_secs(*s), mib * MIB);
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
