//! Counters of what the service has done since start, for the admin endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Totals since start; relaxed atomics, read only for reporting.
#[derive(Debug)]
pub struct ServiceStats {
    pub started: Instant,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

impl Default for ServiceStats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
        }
    }
}

impl ServiceStats {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
