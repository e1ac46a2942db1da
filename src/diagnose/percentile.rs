//! Percentiles of a set of durations, and the summary the report compares.
use serde::{Deserialize, Serialize};

/// The `q` quantile (0–1) of `values`, interpolating linearly between the two nearest ranks
/// (the usual "type 7" estimate: the median of 1, 2, 3, 4 is 2.5). `None` for no values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
}

/// How a set of latencies is distributed, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Distribution {
    /// `None` for no values.
    pub fn of(values_ms: &[f64]) -> Option<Self> {
        Some(Distribution {
            count: values_ms.iter().filter(|v| !v.is_nan()).count(),
            p50_ms: quantile(values_ms, 0.5)?,
            p95_ms: quantile(values_ms, 0.95)?,
            p99_ms: quantile(values_ms, 0.99)?,
            max_ms: quantile(values_ms, 1.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_ranks() {
        let values = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&values, 0.5), Some(2.5));
        assert_eq!(quantile(&values, 0.0), Some(1.0));
        assert_eq!(quantile(&values, 1.0), Some(4.0));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((quantile(&hundred, 0.95).unwrap() - 95.05).abs() < 1e-9);
        assert!((quantile(&hundred, 0.99).unwrap() - 99.01).abs() < 1e-9);
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[f64::NAN], 0.5), None);
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
    }

    #[test]
    fn a_distribution_summarizes_counts_and_tail() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        let d = Distribution::of(&values).unwrap();
        assert_eq!(d.count, 200);
        assert!((d.p50_ms - 100.5).abs() < 1e-9);
        assert_eq!(d.max_ms, 200.0);
        assert!(Distribution::of(&[]).is_none());
    }
}
