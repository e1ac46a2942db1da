//! How fast memory grows, read from samples that may be cut by restarts.
//!
//! A leaking service that is OOM-killed and restarted draws a sawtooth: a line through all of
//! it is flat, yet every tooth climbs. So the samples are cut into segments (one per life of
//! the process: at a restart, a gap, or a sudden large drop) and one slope is fitted to all
//! segments at once, each with its own intercept (least squares on the deviations from each
//! segment's means). R² of that fit says how much of the within-segment variation the slope
//! explains; the share of rising steps says the same without assuming a straight line (the
//! leak grows geometrically within a life).
use serde::{Deserialize, Serialize};

/// A drop to below this share of the previous value (and by more than [`DROP_MIN_BYTES`])
/// starts a new segment: a process that lost most of its memory at once was restarted.
pub const DROP_SHARE: f64 = 0.5;
/// Drops smaller than this are noise, whatever their share.
pub const DROP_MIN_BYTES: f64 = 8.0 * 1024.0 * 1024.0;

/// One memory reading of a service's container.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemorySample {
    /// Seconds since the sampling started.
    pub t: f64,
    /// Bytes in use; `None` when the container was not running (restarting, exited).
    pub bytes: Option<f64>,
    /// The engine's restart count at that moment: a change marks a new life.
    pub restarts: i64,
}

/// A fitted trend over one or more segments.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Bytes per second, shared by every segment.
    pub slope: f64,
    /// Share of the within-segment variance the slope explains; `None` when memory did not
    /// vary at all (a perfectly flat line).
    pub r2: Option<f64>,
    /// Points in segments of two or more (the ones that say anything about a slope).
    pub points: usize,
    /// Segments of two or more points.
    pub segments: usize,
    /// Steps between consecutive points of a segment, and how many went up.
    pub steps: usize,
    pub rising_steps: usize,
    /// Seconds the used segments cover, summed.
    pub covered_s: f64,
}

impl Fit {
    /// Residual degrees of freedom: points minus one intercept per segment minus the slope.
    pub fn dof(&self) -> usize {
        self.points.saturating_sub(self.segments + 1)
    }

    /// Share of steps that went up (0 without steps).
    pub fn rising_share(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.rising_steps as f64 / self.steps as f64
        }
    }

    pub fn slope_per_minute(&self) -> f64 {
        self.slope * 60.0
    }
}

/// Cuts engine samples into lives: at a restart-count change, at a sample taken while the
/// container was not running, and at a large drop (a restart between two readings that the
/// count did not show yet).
pub fn segments_of_samples(samples: &[MemorySample]) -> Vec<Vec<(f64, f64)>> {
    let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut restarts: Option<i64> = None;
    for sample in samples {
        let restarted = restarts.is_some_and(|r| r != sample.restarts);
        restarts = Some(sample.restarts);
        match sample.bytes {
            None => close(&mut segments, &mut current),
            Some(bytes) => {
                if restarted
                    || current
                        .last()
                        .is_some_and(|&(_, prev)| is_drop(prev, bytes))
                {
                    close(&mut segments, &mut current);
                }
                current.push((sample.t, bytes));
            }
        }
    }
    close(&mut segments, &mut current);
    segments
}

/// Cuts a series (e.g. from Prometheus) into lives: at a large drop, and at a gap longer than
/// `max_gap_s` (the series stopped: the process was gone).
pub fn segments_of_series(points: &[(f64, f64)], max_gap_s: f64) -> Vec<Vec<(f64, f64)>> {
    let mut segments = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for &(t, value) in points.iter().filter(|(_, v)| v.is_finite()) {
        if let Some(&(prev_t, prev)) = current.last()
            && (t - prev_t > max_gap_s || is_drop(prev, value))
        {
            close(&mut segments, &mut current);
        }
        current.push((t, value));
    }
    close(&mut segments, &mut current);
    segments
}

fn is_drop(previous: f64, next: f64) -> bool {
    next < previous * DROP_SHARE && previous - next > DROP_MIN_BYTES
}

fn close(segments: &mut Vec<Vec<(f64, f64)>>, current: &mut Vec<(f64, f64)>) {
    if !current.is_empty() {
        segments.push(std::mem::take(current));
    }
}

/// One slope through every segment of two or more points, each segment with its own intercept.
/// `None` when no segment has two points (nothing to say about a slope).
pub fn pooled_fit(segments: &[Vec<(f64, f64)>]) -> Option<Fit> {
    let used: Vec<&Vec<(f64, f64)>> = segments.iter().filter(|s| s.len() >= 2).collect();
    if used.is_empty() {
        return None;
    }
    let mut sxx = 0.0;
    let mut sxy = 0.0;
    let mut syy = 0.0;
    let (mut points, mut steps, mut rising_steps, mut covered_s) = (0, 0, 0, 0.0);
    for segment in &used {
        let n = segment.len() as f64;
        let mean_t = segment.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = segment.iter().map(|p| p.1).sum::<f64>() / n;
        for &(t, y) in segment.iter() {
            sxx += (t - mean_t).powi(2);
            sxy += (t - mean_t) * (y - mean_y);
            syy += (y - mean_y).powi(2);
        }
        points += segment.len();
        steps += segment.len() - 1;
        rising_steps += segment.windows(2).filter(|w| w[1].1 > w[0].1).count();
        covered_s += segment[segment.len() - 1].0 - segment[0].0;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    // SSE = Syy - slope·Sxy for a least-squares slope; R² = 1 - SSE/Syy = slope·Sxy/Syy.
    let r2 = (syy > 0.0 && sxx > 0.0).then(|| (slope * sxy / syy).clamp(0.0, 1.0));
    Some(Fit {
        slope,
        r2,
        points,
        segments: used.len(),
        steps,
        rising_steps,
        covered_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    fn sample(t: f64, mib: Option<f64>, restarts: i64) -> MemorySample {
        MemorySample {
            t,
            bytes: mib.map(|m| m * MIB),
            restarts,
        }
    }

    #[test]
    fn a_straight_climb_has_its_slope_and_r2_of_one() {
        let points: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64, 100.0 + 3.0 * i as f64))
            .collect();
        let fit = pooled_fit(&[points]).unwrap();
        assert!((fit.slope - 3.0).abs() < 1e-9);
        assert!((fit.r2.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(
            (fit.points, fit.segments, fit.steps, fit.rising_steps),
            (10, 1, 9, 9)
        );
        assert_eq!(fit.dof(), 8);
        assert_eq!(fit.covered_s, 9.0);
    }

    #[test]
    fn a_perfectly_flat_line_has_no_slope_and_no_r2() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 42.0)).collect();
        let fit = pooled_fit(&[points]).unwrap();
        assert_eq!(fit.slope, 0.0);
        assert_eq!(fit.r2, None);
        assert_eq!(fit.rising_share(), 0.0);
    }

    #[test]
    fn a_sawtooth_fits_as_the_slope_of_its_teeth() {
        // Three lives climbing 10 MiB/s from 5 MiB, each cut by a restart.
        let mut samples = Vec::new();
        for life in 0..3 {
            for i in 0..5 {
                let t = (life * 6 + i) as f64;
                samples.push(sample(t, Some(5.0 + 10.0 * i as f64), life));
            }
            samples.push(sample((life * 6 + 5) as f64, None, life));
        }
        let segments = segments_of_samples(&samples);
        assert_eq!(segments.len(), 3);
        let fit = pooled_fit(&segments).unwrap();
        assert!((fit.slope - 10.0 * MIB).abs() < 1.0, "{}", fit.slope);
        assert!(fit.r2.unwrap() > 0.999);
        // A single line through all of it would be nearly flat.
        let all: Vec<(f64, f64)> = segments.concat();
        let naive = pooled_fit(&[all]).unwrap();
        assert!(
            naive.slope < fit.slope / 5.0,
            "naive {} vs {}",
            naive.slope,
            fit.slope
        );
    }

    #[test]
    fn a_restart_between_readings_is_cut_by_the_count_or_the_drop() {
        let by_count = [
            sample(0.0, Some(50.0), 0),
            sample(1.0, Some(60.0), 0),
            sample(2.0, Some(58.0), 1),
            sample(3.0, Some(70.0), 1),
        ];
        assert_eq!(segments_of_samples(&by_count).len(), 2);
        let by_drop = [
            sample(0.0, Some(150.0), 0),
            sample(1.0, Some(190.0), 0),
            sample(2.0, Some(6.0), 0),
            sample(3.0, Some(40.0), 1),
        ];
        let segments = segments_of_samples(&by_drop);
        assert_eq!(segments.len(), 3, "{segments:?}");
        // A small dip is noise, not a restart.
        let dip = [
            sample(0.0, Some(6.0), 0),
            sample(1.0, Some(2.5), 0),
            sample(2.0, Some(6.2), 0),
        ];
        assert_eq!(segments_of_samples(&dip).len(), 1);
    }

    #[test]
    fn series_are_cut_at_gaps_and_drops() {
        let points = [
            (0.0, 10.0 * MIB),
            (5.0, 20.0 * MIB),
            (10.0, 30.0 * MIB),
            (15.0, 2.0 * MIB),
            (20.0, 12.0 * MIB),
            (60.0, 13.0 * MIB),
            (65.0, f64::NAN),
        ];
        let segments = segments_of_series(&points, 15.0);
        assert_eq!(segments.len(), 3, "{segments:?}");
        assert_eq!(segments[2], vec![(60.0, 13.0 * MIB)]);
    }

    #[test]
    fn single_points_say_nothing_about_a_slope() {
        assert_eq!(pooled_fit(&[vec![(0.0, 1.0)], vec![(5.0, 9.0)]]), None);
        assert_eq!(pooled_fit(&[]), None);
    }
}
