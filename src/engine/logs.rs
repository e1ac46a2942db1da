//! A container's output as lines, and what ended each of its runs: the log stream, the run the
//! engine records now (start time, restarts, exit), and its `die`/`oom` events as they happen.
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bollard::container::LogOutput;
use bollard::query_parameters::{EventsOptions, LogsOptions};
use futures_util::{Stream, StreamExt};

use super::Engine;
use super::error::{EngineError, status_of};

/// Which lines to ask the engine for.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRequest {
    pub follow: bool,
    /// The last `n` lines only.
    pub tail: Option<usize>,
    /// Unix seconds: lines written at or after it (the engine's granularity is a second).
    pub since: Option<i64>,
}

/// One line of output, with the engine's timestamp of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds, as the engine wrote it.
    pub timestamp: String,
    pub text: String,
    pub stderr: bool,
}

impl LogLine {
    /// When the engine received the line; `None` when the timestamp does not parse.
    pub fn time(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(&self.timestamp).ok()
    }
}

/// The current run of a container as the engine records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// `running`, `restarting`, `exited`, …
    pub state: String,
    /// RFC 3339 start of the current (or last) run.
    pub started_at: String,
    pub restart_count: i64,
    /// The last exit code; the engine resets it to 0 when the container starts again.
    pub exit_code: i64,
    /// Stays true after a restart (DESIGN §5): only meaningful with `exit_code` of that exit.
    pub oom_killed: bool,
}

impl RunInfo {
    pub fn started(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(&self.started_at).ok()
    }
}

/// The end of one run, as the engine's events told it live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: Option<i64>,
    /// An `oom` event came before the `die`.
    pub oom: bool,
}

impl Engine {
    /// The lines of container `id`, both streams, each with its timestamp. With `follow` the
    /// stream ends when the run ends (the engine closes it on exit).
    pub fn log_lines(
        &self,
        id: &str,
        request: LogRequest,
    ) -> impl Stream<Item = Result<LogLine, EngineError>> + Send + 'static {
        let options = LogsOptions {
            follow: request.follow,
            stdout: true,
            stderr: true,
            timestamps: true,
            since: request
                .since
                .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)),
            tail: request.tail.map_or("all".to_string(), |n| n.to_string()),
            ..Default::default()
        };
        let id = id.to_string();
        self.docker
            .logs(&id, Some(options))
            .map(move |chunk| match chunk {
                Ok(output) => Ok(parse_line(output)),
                Err(e) => Err(EngineError::api(
                    format!("read the logs of container {id}"),
                    e,
                )),
            })
    }

    /// The run the engine records now; `None` when the container is gone.
    pub async fn run_info(&self, id: &str) -> Result<Option<RunInfo>, EngineError> {
        match self.docker.inspect_container(id, None).await {
            Ok(inspect) => {
                let state = inspect.state.unwrap_or_default();
                Ok(Some(RunInfo {
                    state: state.status.map(|s| s.to_string()).unwrap_or_default(),
                    started_at: state.started_at.unwrap_or_default(),
                    restart_count: inspect.restart_count.unwrap_or_default(),
                    exit_code: state.exit_code.unwrap_or_default(),
                    oom_killed: state.oom_killed.unwrap_or_default(),
                }))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(EngineError::api(format!("inspect container {id}"), e)),
        }
    }

    /// The ends of container `id`'s runs from now on, one item per `die` event, marked OOM when
    /// an `oom` event came since the previous `die`. The live events are the only record of an
    /// exit code once the container has started again.
    pub fn exits(&self, id: &str) -> impl Stream<Item = Exit> + Send + 'static {
        let filters = HashMap::from([
            ("container".to_string(), vec![id.to_string()]),
            ("type".to_string(), vec!["container".to_string()]),
            (
                "event".to_string(),
                vec!["die".to_string(), "oom".to_string()],
            ),
        ]);
        let events = self.docker.events(Some(EventsOptions {
            filters: Some(filters),
            ..Default::default()
        }));
        events
            .filter_map(|e| std::future::ready(e.ok()))
            .scan(false, |oom_seen, event| {
                let item = match event.action.as_deref() {
                    Some("oom") => {
                        *oom_seen = true;
                        None
                    }
                    Some("die") => {
                        let code = event
                            .actor
                            .and_then(|a| a.attributes)
                            .and_then(|attrs| attrs.get("exitCode").and_then(|c| c.parse().ok()));
                        Some(Exit {
                            code,
                            oom: std::mem::take(oom_seen),
                        })
                    }
                    _ => None,
                };
                std::future::ready(Some(item))
            })
            .filter_map(std::future::ready)
    }

    /// Restarts a container as `docker restart` does: stop (SIGTERM, then SIGKILL after
    /// `grace`), start. The container, its id and its labels stay.
    pub async fn restart_container(&self, id: &str, grace: Duration) -> Result<(), EngineError> {
        use bollard::query_parameters::RestartContainerOptions;
        let options = RestartContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(10)),
            ..Default::default()
        };
        self.docker
            .restart_container(id, Some(options))
            .await
            .map_err(|e| EngineError::api(format!("restart container {id}"), e))
    }
}

/// Splits the engine's `<timestamp> <text>` frame.
fn parse_line(output: LogOutput) -> LogLine {
    let stderr = matches!(output, LogOutput::StdErr { .. });
    let raw = String::from_utf8_lossy(output.as_ref()).into_owned();
    let raw = raw.strip_suffix('\n').unwrap_or(&raw);
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    let (timestamp, text) = raw.split_once(' ').unwrap_or((raw, ""));
    LogLine {
        timestamp: timestamp.to_string(),
        text: text.to_string(),
        stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> LogOutput {
        LogOutput::StdErr {
            message: text.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn frames_split_into_timestamp_and_text() {
        let line = parse_line(message("2026-11-30T23:01:02.1234Z listening on 9001\n"));
        assert_eq!(line.timestamp, "2026-11-30T23:01:02.1234Z");
        assert_eq!(line.text, "listening on 9001");
        assert!(line.stderr);
        // Timestamps with fewer fractional digits still order by time, not by text.
        let later = LogLine {
            timestamp: "2026-11-30T23:01:02.12345Z".into(),
            ..line.clone()
        };
        assert!(later.time().unwrap() > line.time().unwrap());
        assert_eq!(parse_line(message("2026-11-30T23:01:02Z \n")).text, "");
    }
}
