//! A service's lives between restarts, read from Prometheus alone: where its counters reset,
//! whether memory climbs in the current life, and which restarts came at the top of a steep
//! climb (how an OOM kill looks from telemetry).
//!
//! The leak grows its list ×1.25 per cache miss, so memory climbs geometrically: flat for
//! minutes, then steeply. A straight line through that is a poor fit (R² 0.60 on the recorded
//! run while 27 of 33 steps rose), so a climb here is read as a monotone rise by a factor, not
//! as a slope.
use serde::{Deserialize, Serialize};

use super::trend;

/// Memory at this multiple of its life's lowest point (and [`CLIMB_MIN_BYTES`] above it) has
/// climbed; a process warming up after start gains a few per cent.
pub const CLIMB_FACTOR: f64 = 1.5;
pub const CLIMB_MIN_BYTES: f64 = 3.0 * 1024.0 * 1024.0;
/// Share of a climb's steps that must rise.
pub const CLIMB_RISING_SHARE: f64 = 0.7;
/// A climb is still under way when memory rose by this share over the last [`ACTIVE_SPAN_S`].
pub const ACTIVE_GROWTH: f64 = 0.05;
pub const ACTIVE_SPAN_S: f64 = 60.0;
/// A restart after memory reached this multiple of where the next life starts came at the top
/// of a steep climb.
pub const STEEP_RESTART_FACTOR: f64 = 2.0;

/// How memory moved within the current (last) life.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Climb {
    /// Lowest and latest bytes of the life, and the highest.
    pub from_bytes: f64,
    pub to_bytes: f64,
    pub peak_bytes: f64,
    /// Steps from the low point on, and how many rose.
    pub steps: usize,
    pub rising_steps: usize,
    /// Seconds from the low point to the latest point.
    pub over_s: f64,
    /// Still rising over the last [`ACTIVE_SPAN_S`].
    pub active: bool,
}

impl Climb {
    pub fn factor(&self) -> f64 {
        if self.from_bytes > 0.0 {
            self.to_bytes / self.from_bytes
        } else {
            0.0
        }
    }

    /// Whether this is a leak's climb: by a factor, mostly rising, and still under way.
    pub fn is_leak_like(&self) -> bool {
        self.active && self.is_steep()
    }

    /// Climbed by a factor, then stopped: a leak's climb does not stop short of the limit, so
    /// whatever grew has stopped growing (the flag went off).
    pub fn stopped(&self) -> bool {
        !self.active && self.is_steep()
    }

    fn is_steep(&self) -> bool {
        self.steps >= 3
            && self.to_bytes >= self.from_bytes * CLIMB_FACTOR
            && self.to_bytes - self.from_bytes >= CLIMB_MIN_BYTES
            && self.rising_steps as f64 >= self.steps as f64 * CLIMB_RISING_SHARE
    }
}

/// One restart seen in telemetry: when, and how high memory was just before it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Restart {
    /// Unix seconds of the first point of the new life.
    pub at: f64,
    /// The previous life's highest memory, and the new life's first reading.
    pub peak_before_bytes: Option<f64>,
    pub start_after_bytes: Option<f64>,
    /// Memory had climbed steeply to the restart (how an OOM kill looks from here).
    pub after_steep_climb: bool,
}

/// What the counters and the memory series say about a service's lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lives {
    pub restarts: Vec<Restart>,
    /// The current life's memory movement, when it has three points or more.
    pub climb: Option<Climb>,
}

impl Lives {
    pub fn steep_restarts(&self) -> usize {
        self.restarts.iter().filter(|r| r.after_steep_climb).count()
    }
}

/// A count with where it comes from; `None` when it cannot be known (never a smaller number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub value: Option<u64>,
    pub source: String,
}

/// What the engine keeps of a container for as long as it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineRecord {
    /// Restarts by the restart policy (a restart by hand does not count here).
    pub restart_count: i64,
    pub running: bool,
    /// The last exit was an OOM kill; it stays set after the restart that followed.
    pub oom_killed: bool,
}

/// OOM kills of a container over its whole life, from sources that do not forget: the engine's
/// restart count and `OOMKilled` flag, and the restarts Prometheus's counters show
/// (`telemetry`: restarts seen, and how many came at the top of a steep memory climb) when they
/// cover the container's whole life. A counter reset the restart count does not show is a
/// restart by hand, not a kill.
pub fn oom_kills(engine: EngineRecord, telemetry: Option<(usize, usize)>) -> Count {
    let ended = u64::try_from(engine.restart_count).unwrap_or(0) + u64::from(!engine.running);
    let count = |value: u64, source: String| Count {
        value: Some(value),
        source,
    };
    if ended == 0 {
        return count(0, "engine: never restarted".to_string());
    }
    if ended == 1 {
        let how = if engine.oom_killed {
            "its one ended run was OOM-killed"
        } else {
            "its one ended run was not OOM-killed"
        };
        return count(u64::from(engine.oom_killed), format!("engine: {how}"));
    }
    if let Some((resets, steep)) = telemetry
        && resets as u64 >= engine.restart_count.max(0) as u64
        && steep as u64 <= ended
    {
        let last_down = u64::from(!engine.running && engine.oom_killed);
        let value = (steep as u64 + last_down)
            .min(ended)
            .max(u64::from(engine.oom_killed));
        return count(
            value,
            format!(
                "Prometheus counters: {resets} restart{} seen over the container's life, {steep} at the top of a steep memory climb; engine restart count {}",
                if resets == 1 { "" } else { "s" },
                engine.restart_count
            ),
        );
    }
    Count {
        value: None,
        source: format!(
            "unknown: {ended} ended runs{}; the engine keeps only the last exit's cause and Prometheus does not cover them all",
            if engine.oom_killed {
                ", the last by an OOM kill"
            } else {
                ""
            }
        ),
    }
}

/// The restarts Prometheus saw over a container's whole life, and how many came at the top of
/// a steep climb: only when its memory series begins within two steps (and the first export's
/// half minute) of the container's creation. `None` when it does not cover the life.
pub fn over_life(
    memory: &[(f64, f64)],
    cpu: &[(f64, f64)],
    step_s: f64,
    created_at: Option<f64>,
) -> Option<(usize, usize)> {
    let first = memory.first()?.0;
    let created = created_at?;
    if first > created + 2.0 * step_s + 30.0 {
        return None;
    }
    let lives = read(memory, &counter_resets(cpu), 3.0 * step_s.max(1.0));
    Some((lives.restarts.len(), lives.steep_restarts()))
}

/// Times (unix s) where a counter series reset: a value below the previous one. A process's
/// counters start from zero in each life, so every reset is a restart.
pub fn counter_resets(points: &[(f64, f64)]) -> Vec<f64> {
    points
        .windows(2)
        .filter(|w| w[1].1.is_finite() && w[0].1.is_finite() && w[1].1 < w[0].1)
        .map(|w| w[1].0)
        .collect()
}

/// Reads `memory` (unix s, bytes) and the restart times `resets` (from counters) into lives.
/// `max_gap_s` is the longest gap between points of one life (the series stops while a
/// process is gone). A large drop in memory is a restart too, when a counter did not show it.
pub fn read(memory: &[(f64, f64)], resets: &[f64], max_gap_s: f64) -> Lives {
    let points: Vec<(f64, f64)> = memory.iter().copied().filter(|p| p.1.is_finite()).collect();
    let mut lives: Vec<Vec<(f64, f64)>> = Vec::new();
    for segment in trend::segments_of_series(&points, max_gap_s) {
        // Cut further at counter resets inside the segment.
        let mut current: Vec<(f64, f64)> = Vec::new();
        for p in segment {
            if let Some(&(prev_t, _)) = current.last()
                && resets.iter().any(|&r| r > prev_t && r <= p.0)
            {
                lives.push(std::mem::take(&mut current));
            }
            current.push(p);
        }
        if !current.is_empty() {
            lives.push(current);
        }
    }
    let mut restarts: Vec<Restart> = lives
        .windows(2)
        .map(|w| restart_between(&w[0], &w[1]))
        .collect();
    // A reset with no memory around it (the memory series missing) still counts.
    for &r in resets {
        if !restarts.iter().any(|x| (x.at - r).abs() <= max_gap_s) {
            restarts.push(Restart {
                at: r,
                peak_before_bytes: None,
                start_after_bytes: None,
                after_steep_climb: false,
            });
        }
    }
    restarts.sort_by(|a, b| a.at.total_cmp(&b.at));
    Lives {
        restarts,
        climb: lives.last().and_then(|life| climb_of(life)),
    }
}

fn restart_between(before: &[(f64, f64)], after: &[(f64, f64)]) -> Restart {
    let peak = before.iter().map(|p| p.1).reduce(f64::max);
    let start = after.first().map(|p| p.1);
    let rose = before.windows(2).filter(|w| w[1].1 > w[0].1).count();
    let steps = before.len().saturating_sub(1);
    let steep = match (peak, start) {
        (Some(peak), Some(start)) => {
            peak >= start * STEEP_RESTART_FACTOR
                && peak - start >= CLIMB_MIN_BYTES
                && steps >= 1
                && rose as f64 >= steps as f64 * 0.5
        }
        _ => false,
    };
    Restart {
        at: after.first().map_or(0.0, |p| p.0),
        peak_before_bytes: peak,
        start_after_bytes: start,
        after_steep_climb: steep,
    }
}

/// The movement of one life from its lowest point to its end.
pub fn climb_of(life: &[(f64, f64)]) -> Option<Climb> {
    if life.len() < 3 {
        return None;
    }
    let low = (0..life.len()).min_by(|&a, &b| life[a].1.total_cmp(&life[b].1))?;
    let tail = &life[low..];
    let (last_t, last) = *life.last()?;
    let peak = tail.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let steps = tail.len() - 1;
    let rising_steps = tail.windows(2).filter(|w| w[1].1 > w[0].1).count();
    let before = life
        .iter()
        .rev()
        .find(|p| last_t - p.0 >= ACTIVE_SPAN_S)
        .or_else(|| life.first())
        .map_or(last, |p| p.1);
    let active = before > 0.0 && last >= before * (1.0 + ACTIVE_GROWTH) && last >= peak * 0.9;
    Some(Climb {
        from_bytes: tail[0].1,
        to_bytes: last,
        peak_bytes: peak,
        steps,
        rising_steps,
        over_s: last_t - tail[0].0,
        active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    fn mib(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
        points.iter().map(|&(t, m)| (t, m * MIB)).collect()
    }

    #[test]
    fn oom_kills_come_from_lasting_sources_or_are_unknown() {
        let record = |restart_count, running, oom_killed| EngineRecord {
            restart_count,
            running,
            oom_killed,
        };
        assert_eq!(oom_kills(record(0, true, false), None).value, Some(0));
        assert_eq!(oom_kills(record(0, false, true), None).value, Some(1));
        assert_eq!(oom_kills(record(1, true, true), None).value, Some(1));
        assert_eq!(oom_kills(record(1, true, false), None).value, Some(0));
        // Two kills: the flag speaks only for the last, so without Prometheus it is unknown.
        let two = oom_kills(record(2, true, true), None);
        assert_eq!(two.value, None);
        assert!(two.source.starts_with("unknown"), "{}", two.source);
        assert_eq!(
            oom_kills(record(2, true, true), Some((2, 2))).value,
            Some(2)
        );
        // A third reset with flat memory: a restart by hand, not a kill.
        assert_eq!(
            oom_kills(record(2, true, true), Some((3, 2))).value,
            Some(2)
        );
        // Prometheus missed a restart the engine counted: it does not cover the life.
        assert_eq!(oom_kills(record(3, true, true), Some((2, 2))).value, None);
    }

    #[test]
    fn prometheus_speaks_for_a_life_only_when_its_series_begin_at_the_creation() {
        let memory = mib(&[
            (100.0, 6.0),
            (105.0, 40.0),
            (110.0, 100.0),
            (115.0, 6.0),
            (120.0, 6.1),
        ]);
        let cpu = [(100.0, 0.1), (110.0, 0.3), (115.0, 0.01), (120.0, 0.02)];
        assert_eq!(over_life(&memory, &cpu, 5.0, Some(95.0)), Some((1, 1)));
        // Created long before the first point: restarts before it are not seen.
        assert_eq!(over_life(&memory, &cpu, 5.0, Some(0.0)), None);
        assert_eq!(over_life(&memory, &cpu, 5.0, None), None);
        assert_eq!(over_life(&[], &cpu, 5.0, Some(95.0)), None);
    }

    #[test]
    fn a_geometric_climb_is_a_leak_and_a_warm_up_is_not() {
        let climb: Vec<(f64, f64)> = (0..20)
            .map(|i| (i as f64 * 5.0, 6.0 * 1.15f64.powi(i)))
            .collect();
        let c = climb_of(&mib(&climb)).unwrap();
        assert!(c.is_leak_like(), "{c:?}");
        let warm: Vec<(f64, f64)> = (0..20)
            .map(|i| (i as f64 * 5.0, 5.6 + 0.02 * i as f64))
            .collect();
        assert!(!climb_of(&mib(&warm)).unwrap().is_leak_like());
    }

    #[test]
    fn a_climb_that_stopped_is_not_active() {
        // leak-run-1 after the flag went off: 6 → 9.6 MiB, then flat for a minute and more.
        let mut points = vec![(0.0, 6.0), (15.0, 7.0), (30.0, 7.9), (45.0, 9.57)];
        points.extend((1..6).map(|i| (45.0 + 15.0 * i as f64, 9.57 + 0.004 * i as f64)));
        let c = climb_of(&mib(&points)).unwrap();
        assert!(!c.active && !c.is_leak_like(), "{c:?}");
    }

    #[test]
    fn restarts_come_from_counter_resets_and_drops_and_say_whether_memory_climbed() {
        let memory = mib(&[
            (0.0, 6.0),
            (5.0, 20.0),
            (10.0, 60.0),
            (15.0, 100.0),
            (20.0, 5.6),
            (25.0, 5.8),
            (30.0, 5.8),
            (35.0, 5.9),
        ]);
        let cpu = [
            (0.0, 0.1),
            (5.0, 0.3),
            (15.0, 0.7),
            (20.0, 0.02),
            (35.0, 0.05),
        ];
        let lives = read(&memory, &counter_resets(&cpu), 15.0);
        assert_eq!(lives.restarts.len(), 1, "{lives:?}");
        assert!(lives.restarts[0].after_steep_climb);
        assert_eq!(lives.restarts[0].at, 20.0);
        assert!(!lives.climb.unwrap().is_leak_like());
        // A restart by hand: the counter resets while memory is flat.
        let flat = mib(&[
            (0.0, 6.0),
            (5.0, 6.0),
            (10.0, 6.1),
            (15.0, 5.9),
            (20.0, 6.0),
        ]);
        let lives = read(&flat, &[15.0], 15.0);
        assert_eq!(lives.restarts.len(), 1);
        assert!(!lives.restarts[0].after_steep_climb);
    }
}
