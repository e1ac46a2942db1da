//! The admin endpoint's content: `GET /state` shows the values the service acts on.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use service_common::admin_http::Renderer;

use crate::flag_watcher::FlagState;
use crate::flags::CACHE_FAILURE_FLAG;
use crate::process_metrics;
use crate::recommender::Recommender;
use crate::stats::ServiceStats;

/// What `/state` is rendered from.
#[derive(Debug, Clone)]
pub struct AdminView {
    pub flags: Arc<FlagState>,
    pub recommender: Arc<Recommender>,
    pub stats: Arc<ServiceStats>,
    pub flag_file: PathBuf,
}

impl AdminView {
    /// The `/state` document. `cache_enabled` and `cached_ids` are the contract the CLI reads.
    pub fn state(&self) -> Value {
        let report = self.flags.report();
        let cache_enabled = self.flags.cache_failure();
        let loaded_at = report.loaded_at.and_then(|time| {
            time.duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|since| since.as_secs_f64())
        });
        json!({
            "flags": { CACHE_FAILURE_FLAG: cache_enabled },
            "cache_enabled": cache_enabled,
            "cached_ids": self.recommender.cached_ids(),
            "flag_file": self.flag_file.display().to_string(),
            "flag_file_error": report.error,
            "flag_file_entries": report.values.entries,
            "flag_file_loaded_at": loaded_at,
            "requests": ServiceStats::read(&self.stats.requests),
            "errors": ServiceStats::read(&self.stats.errors),
            "cache_hits": ServiceStats::read(&self.stats.cache_hits),
            "cache_misses": ServiceStats::read(&self.stats.cache_misses),
            "catalog": self.recommender.catalog().describe(),
            "memory_rss_bytes": process_metrics::resident_bytes(),
            "uptime_seconds": self.stats.started.elapsed().as_secs_f64(),
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
        })
    }

    /// The renderer the admin HTTP server calls.
    pub fn renderer(self) -> Renderer {
        Arc::new(move |path: &str| (path == "/state").then(|| self.state().to_string()))
    }
}
