//! What the load generator has done, and the rate-limited logging of failed calls.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// At most one error line per this period, so a service that is down for minutes (an OOM
/// restart loop) does not flood the log.
pub const ERROR_LOG_PERIOD: Duration = Duration::from_secs(10);

/// Totals since start, plus what the error log needs.
#[derive(Debug)]
pub struct TrafficStats {
    pub started: Instant,
    pub sent: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    /// Ticks skipped because too many calls were still waiting for an answer.
    pub skipped: AtomicU64,
    pub in_flight: AtomicU64,
    /// Set by the heartbeat task; the health check reads how long ago.
    heartbeat: Mutex<Instant>,
    error_log: Mutex<ErrorLog>,
}

#[derive(Debug, Default)]
struct ErrorLog {
    last_logged: Option<Instant>,
    unlogged: u64,
    last_error: Option<String>,
    /// Failures since the last success, to say when calls work again.
    failing_streak: u64,
}

impl Default for TrafficStats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            sent: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            heartbeat: Mutex::new(Instant::now()),
            error_log: Mutex::new(ErrorLog::default()),
        }
    }
}

/// What to print after a call, decided by [`TrafficStats::record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    None,
    Failure(String),
    Recovered(String),
}

impl TrafficStats {
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn beat(&self) {
        *self.heartbeat.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    pub fn heartbeat_age(&self) -> Duration {
        self.heartbeat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    pub fn last_error(&self) -> Option<String> {
        self.error_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_error
            .clone()
    }

    /// Counts a finished call and says what, if anything, to log about it at `now`.
    pub fn record(&self, outcome: Result<(), String>, now: Instant) -> LogLine {
        let mut log = self.error_log.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(()) => {
                Self::bump(&self.succeeded);
                let streak = std::mem::take(&mut log.failing_streak);
                log.unlogged = 0;
                if streak > 0 {
                    LogLine::Recovered(format!("calls succeed again after {streak} failed"))
                } else {
                    LogLine::None
                }
            }
            Err(error) => {
                Self::bump(&self.failed);
                log.failing_streak += 1;
                log.last_error = Some(error.clone());
                let due = log
                    .last_logged
                    .is_none_or(|at| now.duration_since(at) >= ERROR_LOG_PERIOD);
                if !due {
                    log.unlogged += 1;
                    return LogLine::None;
                }
                let suppressed = std::mem::take(&mut log.unlogged);
                log.last_logged = Some(now);
                LogLine::Failure(if suppressed > 0 {
                    format!("call failed: {error} ({suppressed} more failures not shown)")
                } else {
                    format!("call failed: {error}")
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_logged_at_most_once_per_period_with_a_count() {
        let stats = TrafficStats::default();
        let start = Instant::now();
        assert_eq!(
            stats.record(Err("unavailable".into()), start),
            LogLine::Failure("call failed: unavailable".into())
        );
        for i in 1..=5 {
            let at = start + Duration::from_secs(i);
            assert_eq!(stats.record(Err("unavailable".into()), at), LogLine::None);
        }
        assert_eq!(
            stats.record(Err("unavailable".into()), start + ERROR_LOG_PERIOD),
            LogLine::Failure("call failed: unavailable (5 more failures not shown)".into())
        );
        assert_eq!(
            stats.record(Ok(()), start + ERROR_LOG_PERIOD),
            LogLine::Recovered("calls succeed again after 7 failed".into())
        );
        assert_eq!(
            stats.record(Ok(()), start + ERROR_LOG_PERIOD),
            LogLine::None
        );
        assert_eq!(TrafficStats::read(&stats.failed), 7);
        assert_eq!(TrafficStats::read(&stats.succeeded), 2);
        assert_eq!(stats.last_error().as_deref(), Some("unavailable"));
    }
}
