//! Memory use of a container, from one engine stats sample.
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;

use super::Engine;
use super::error::EngineError;

/// A container's memory as `docker stats` shows it: usage without the page cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    pub bytes: u64,
    pub limit: u64,
}

impl Engine {
    /// One sample of a running container's memory; `None` when it is not running.
    pub async fn memory(&self, id: &str) -> Result<Option<MemoryUse>, EngineError> {
        let options = StatsOptions {
            stream: false,
            one_shot: true,
        };
        let Some(sample) = self.docker.stats(id, Some(options)).next().await else {
            return Ok(None);
        };
        let sample =
            sample.map_err(|e| EngineError::api(format!("read the stats of container {id}"), e))?;
        let Some(memory) = sample.memory_stats else {
            return Ok(None);
        };
        let Some(usage) = memory.usage else {
            return Ok(None);
        };
        let stats = memory.stats.unwrap_or_default();
        // cgroup v1 reports the page cache as `total_inactive_file`, v2 as `inactive_file`.
        let cache = stats
            .get("total_inactive_file")
            .or_else(|| stats.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        Ok(Some(MemoryUse {
            bytes: usage.saturating_sub(cache),
            limit: memory.limit.unwrap_or(0),
        }))
    }
}

impl Engine {
    /// OOM kills of a container that the engine's event log still holds (it keeps only its most
    /// recent events), at most one per ended run ([`kills_at_most`]), and at least one when the
    /// last exit was an OOM kill. The engine's own `OOMKilled` flag describes only the last exit, so it cannot count.
    pub async fn oom_kills(&self, facts: &super::ContainerFacts) -> Result<u64, EngineError> {
        let events = self.oom_events(&facts.id, 0, unix_now()).await?;
        let kills = kills_at_most(events, facts.restart_count, facts.is_running());
        Ok(kills.max(u64::from(facts.oom_killed)))
    }

    /// The `oom` events of container `id` between two Unix times (seconds), from the engine's
    /// event log. Callers that watch over time ask for short spans, which the log still holds.
    pub async fn oom_events(&self, id: &str, since: u64, until: u64) -> Result<u64, EngineError> {
        use bollard::query_parameters::EventsOptions;
        use std::collections::HashMap;
        let filters = HashMap::from([
            ("container".to_string(), vec![id.to_string()]),
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["oom".to_string()]),
        ]);
        let options = EventsOptions {
            since: Some(since.to_string()),
            until: Some(until.to_string()),
            filters: Some(filters),
        };
        let mut events = self.docker.events(Some(options));
        let mut count = 0u64;
        while let Some(event) = events.next().await {
            event.map_err(|e| EngineError::api(format!("read the events of container {id}"), e))?;
            count += 1;
        }
        Ok(count)
    }
}

impl super::ContainerFacts {
    /// When the container was created, in Unix seconds (the engine's RFC 3339 `Created`).
    pub fn created_unix(&self) -> Option<f64> {
        let created = humantime::parse_rfc3339_weak(&self.created).ok()?;
        let since = created.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(since.as_secs_f64())
    }
}

/// The OOM kills that `events` logged `oom` events can stand for. Each kill ends a run of the
/// container: it was restarted since, or is down now. The engine (20.10, cgroup v1) has been
/// seen to log two events for one kill, so the event count alone can overcount.
pub fn kills_at_most(events: u64, restarts: i64, running: bool) -> u64 {
    let runs_ended = u64::try_from(restarts).unwrap_or(0) + u64::from(!running);
    events.min(runs_ended)
}

/// Seconds since the Unix epoch, as the engine's event filters take them.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::kills_at_most;

    #[test]
    fn each_kill_ends_a_run() {
        assert_eq!(kills_at_most(4, 2, true), 2, "two events per kill");
        assert_eq!(
            kills_at_most(3, 2, false),
            3,
            "down now: the last run ended too"
        );
        assert_eq!(
            kills_at_most(1, 5, true),
            1,
            "restarts without OOM do not add kills"
        );
        assert_eq!(kills_at_most(2, 0, true), 0);
    }
}
