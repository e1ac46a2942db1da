//! From evidence to a call per service, then to one verdict with a confidence and its reasons.
//!
//! Memory growth counts only when it is steep enough to matter: at least [`MIN_LEAK_SLOPE`]
//! and, where the limit is known, on course to reach it within [`MAX_TIME_TO_LIMIT`]. A freshly
//! started process warms up by a MiB or two a minute (measured here: Prometheus and the
//! services right after `up`), which a short sample must not read as a leak.
use serde::{Deserialize, Serialize};

use super::trend::Fit;

/// 4 MiB/min, in bytes per second.
pub const MIN_LEAK_SLOPE: f64 = 4.0 * 1024.0 * 1024.0 / 60.0;
/// Growth that would take longer than this to reach the limit is not called a leak here.
pub const MAX_TIME_TO_LIMIT: f64 = 30.0 * 60.0;
/// Running samples per service (and seconds they cover) behind a confident "no leak".
pub const STEADY_SAMPLES: usize = 15;
pub const STEADY_SECONDS: f64 = 15.0;
/// A cache miss this many times slower than a hit corroborates the cache as the cause.
pub const SLOWDOWN_SIGN: f64 = 3.0;
/// A product list this long (entries, duplicates included) is a hundred times the demo's
/// catalog of ten products: no cache of that catalog needs it.
pub const LARGE_LIST: u64 = 1_000;

/// How clearly memory grows, from one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Growth {
    /// Too few points to say.
    Unknown,
    /// No growth that matters (slow, or noise).
    Flat,
    /// Steep, but the points scatter.
    Weak,
    /// Steep and consistent.
    Clear,
}

/// Classifies a fit. `level` is the latest memory reading, `limit` the container's limit.
pub fn growth(fit: Option<&Fit>, level: Option<f64>, limit: Option<f64>) -> Growth {
    let Some(fit) = fit else {
        return Growth::Unknown;
    };
    if fit.points < 3 {
        return Growth::Unknown;
    }
    let reaches_limit = match (limit, level) {
        (Some(limit), Some(level)) if fit.slope > 0.0 => {
            (limit - level).max(0.0) / fit.slope <= MAX_TIME_TO_LIMIT
        }
        _ => true,
    };
    if fit.slope < MIN_LEAK_SLOPE || !reaches_limit {
        return Growth::Flat;
    }
    let r2 = fit.r2.unwrap_or(0.0);
    let rising = fit.rising_share();
    if fit.points >= 4 && fit.dof() >= 2 && (r2 >= 0.7 || (rising >= 0.85 && fit.steps >= 4)) {
        Growth::Clear
    } else if r2 >= 0.4 || rising >= 0.7 {
        Growth::Weak
    } else {
        Growth::Flat
    }
}

/// What the evidence says about one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Nothing observed (not running while sampled, no metrics).
    Unobserved,
    Steady,
    /// One sign of a leak, not enough to call it.
    Suspicious,
    Leaking,
}

/// One service's call from the summed weight of its signs (see `evidence`).
pub fn call_of(weight: u32, observed: bool) -> Call {
    match weight {
        0 if observed => Call::Steady,
        0 => Call::Unobserved,
        1 => Call::Suspicious,
        _ => Call::Leaking,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// A service leaks (or, at low confidence, may leak).
    Leak,
    NoLeak,
    /// Nothing could be observed.
    Unknown,
}

/// The conclusion, with the signs behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// The suspect, for a leak.
    pub service: Option<String>,
    pub confidence: Confidence,
    /// Why this confidence, in one line.
    pub confidence_why: String,
    /// The evidence, one line per sign, strongest first.
    pub evidence: Vec<String>,
}

/// Independent signs that a service leaks, each with its weight toward confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Sign {
    pub weight: u32,
    /// Short name for the confidence line ("OOM kills in the window").
    pub name: String,
    /// The evidence line, with numbers.
    pub detail: String,
}

impl Sign {
    /// A line of context: shown with the evidence, no weight toward a call.
    pub fn context(name: &str, detail: String) -> Sign {
        Sign {
            weight: 0,
            name: name.to_string(),
            detail,
        }
    }
}

/// The confidence the summed weight of a suspect's signs gives.
pub fn confidence_of(signs: &[Sign]) -> Confidence {
    match signs.iter().map(|s| s.weight).sum::<u32>() {
        0 | 1 => Confidence::Low,
        2 => Confidence::Medium,
        _ => Confidence::High,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    fn fit(slope_mib_min: f64, r2: f64, points: usize, segments: usize, rising: usize) -> Fit {
        Fit {
            slope: slope_mib_min * MIB / 60.0,
            r2: Some(r2),
            points,
            segments,
            steps: points - segments,
            rising_steps: rising,
            covered_s: points as f64,
        }
    }

    #[test]
    fn steep_consistent_growth_is_clear_and_warm_up_is_flat() {
        let limit = Some(200.0 * MIB);
        let level = Some(60.0 * MIB);
        assert_eq!(
            growth(Some(&fit(600.0, 0.9, 12, 3, 9)), level, limit),
            Growth::Clear
        );
        // Geometric growth inside short lives: a poor line, but every step rises.
        assert_eq!(
            growth(Some(&fit(900.0, 0.6, 9, 3, 6)), level, limit),
            Growth::Clear
        );
        assert_eq!(
            growth(Some(&fit(600.0, 0.5, 12, 3, 6)), level, limit),
            Growth::Weak
        );
        // 1 MiB/min right after start: flat, however straight.
        assert_eq!(
            growth(Some(&fit(1.0, 0.95, 30, 1, 25)), level, limit),
            Growth::Flat
        );
        // Steep but pure noise.
        assert_eq!(
            growth(Some(&fit(6.0, 0.05, 30, 1, 15)), level, limit),
            Growth::Flat
        );
        // 5 MiB/min toward a limit 3 hours away is not a leak worth calling here.
        assert_eq!(
            growth(
                Some(&fit(5.0, 0.99, 30, 1, 29)),
                Some(10.0 * MIB),
                Some(1000.0 * MIB)
            ),
            Growth::Flat
        );
        assert_eq!(
            growth(Some(&fit(600.0, 1.0, 2, 1, 1)), level, limit),
            Growth::Unknown
        );
        assert_eq!(growth(None, level, limit), Growth::Unknown);
    }

    #[test]
    fn weights_make_calls() {
        assert_eq!(call_of(0, false), Call::Unobserved);
        assert_eq!(call_of(0, true), Call::Steady);
        assert_eq!(call_of(1, true), Call::Suspicious);
        assert_eq!(call_of(2, false), Call::Leaking);
        assert_eq!(call_of(5, true), Call::Leaking);
    }

    #[test]
    fn confidence_grows_with_independent_signs() {
        let sign = |weight| Sign {
            weight,
            name: String::new(),
            detail: String::new(),
        };
        assert_eq!(confidence_of(&[]), Confidence::Low);
        assert_eq!(confidence_of(&[sign(1)]), Confidence::Low);
        assert_eq!(confidence_of(&[sign(2)]), Confidence::Medium);
        assert_eq!(confidence_of(&[sign(2), sign(1)]), Confidence::High);
    }
}
