//! `demo logs [SERVICE...] [-f] [--tail N] [--since D] [-t]`: each service's output, prefixed by
//! its name. With `--follow` a service is followed through restarts: when a run ends, one marked
//! line says how (OOM kill or not, exit code, from the engine's live events) and the new run's
//! output follows, after the last line printed, so no line is printed twice.
use std::io::{IsTerminal, Write};
use std::pin::pin;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::cli::LogsArgs;
use crate::engine::{Engine, Exit, LogLine, LogRequest, RunInfo};
use crate::error::Error;

use super::Context;

/// How often a follower looks at a container whose run ended.
const POLL: Duration = Duration::from_millis(200);
/// How long an exited container may stay exited before a restart policy counts as not coming.
const RESTART_GRACE: Duration = Duration::from_secs(3);
/// ANSI colours given to services in turn (cyan, yellow, green, magenta, blue, red).
const COLOURS: [u8; 6] = [36, 33, 32, 35, 34, 31];

/// The container of one selected service and how its lines are prefixed.
struct Target {
    id: String,
    prefix: String,
}

pub async fn run(ctx: &Context, args: LogsArgs) -> Result<ExitCode, Error> {
    let project = ctx.load()?;
    let selected = project.select(&args.services, true)?;
    let engine = ctx.engine().await?;
    let observed = engine.observe(&project.name).await?;
    let mut found = Vec::new();
    for service in &selected {
        match observed.of_service(&service.name).next() {
            Some(container) => found.push((service.name.clone(), container.id.clone())),
            None if !args.services.is_empty() => {
                return Err(Error::Stack(format!(
                    "service \"{}\" of project {} has no container; `demo up` creates it",
                    service.name, project.name
                )));
            }
            None => {}
        }
    }
    if found.is_empty() {
        return Err(Error::Stack(format!(
            "project {} has no containers; `demo up` creates them",
            project.name
        )));
    }
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = found.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    let targets: Vec<Target> = found
        .into_iter()
        .enumerate()
        .map(|(i, (service, id))| Target {
            prefix: prefix(&service, width, colour.then(|| COLOURS[i % COLOURS.len()])),
            id,
        })
        .collect();
    let request = LogRequest {
        follow: args.follow,
        tail: args.tail,
        since: args.since.map(|d| unix_secs(SystemTime::now() - d)),
    };
    let not_before = args.since.map(|d| SystemTime::now() - d);
    let timestamps = args.timestamps;
    let printing = async {
        if args.follow {
            follow_all(&engine, targets, request, not_before, timestamps).await
        } else {
            for target in &targets {
                let mut lines = pin!(engine.log_lines(&target.id, request));
                while let Some(line) = lines.next().await {
                    let line = line?;
                    if not_before.is_none_or(|t| line.time().is_none_or(|at| at >= t)) {
                        emit(&target.prefix, &render(&line, timestamps));
                    }
                }
            }
            Ok(())
        }
    };
    tokio::select! {
        done = printing => done.map(|()| ExitCode::SUCCESS),
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted(
            "`demo logs` stopped; nothing was changed".to_string(),
        )),
    }
}

/// Follows every target at once, printing lines as they come; ends when every container is gone
/// or has stopped for good.
async fn follow_all(
    engine: &Engine,
    targets: Vec<Target>,
    request: LogRequest,
    not_before: Option<SystemTime>,
    timestamps: bool,
) -> Result<(), Error> {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(usize, String)>();
    let prefixes: Vec<String> = targets.iter().map(|t| t.prefix.clone()).collect();
    for (index, target) in targets.into_iter().enumerate() {
        let sender = sender.clone();
        let engine = engine.clone();
        tokio::spawn(async move {
            let send = |text: String| sender.send((index, text)).is_ok();
            follow(&engine, &target, request, not_before, timestamps, send).await;
        });
    }
    drop(sender);
    while let Some((index, text)) = receiver.recv().await {
        emit(&prefixes[index], &text);
    }
    Ok(())
}

/// Follows one container through its runs; `send` returns false once nobody listens.
async fn follow(
    engine: &Engine,
    target: &Target,
    mut request: LogRequest,
    mut not_before: Option<SystemTime>,
    timestamps: bool,
    send: impl Fn(String) -> bool,
) {
    // Subscribe to exits before reading anything, so no exit between two reads is missed.
    let (exit_sender, mut exits) = mpsc::unbounded_channel::<Exit>();
    let mut exit_stream = Box::pin(engine.exits(&target.id));
    let listener = tokio::spawn(async move {
        while let Some(exit) = exit_stream.next().await {
            if exit_sender.send(exit).is_err() {
                break;
            }
        }
    });
    let _stop_listener = AbortOnDrop(listener);
    let mut run = match engine.run_info(&target.id).await {
        Ok(Some(run)) => run,
        Ok(None) => {
            send("--- container removed ---".to_string());
            return;
        }
        Err(e) => {
            send(format!("--- cannot follow: {e} ---"));
            return;
        }
    };
    let mut last_printed: Option<SystemTime> = None;
    loop {
        let mut lines = pin!(engine.log_lines(&target.id, request));
        while let Some(line) = lines.next().await {
            let line = match line {
                Ok(line) => line,
                Err(e) => {
                    send(format!("--- cannot read the logs: {e} ---"));
                    return;
                }
            };
            let at = line.time();
            let too_early = match (at, not_before, last_printed) {
                (Some(at), Some(t), _) if at < t => true,
                (Some(at), _, Some(last)) if at <= last => true,
                _ => false,
            };
            if too_early {
                continue;
            }
            last_printed = at.or(last_printed);
            if !send(render(&line, timestamps)) {
                return;
            }
        }
        // The stream ended: the run ended, or the container went away.
        let ended = engine.run_info(&target.id).await.ok().flatten();
        let next = match next_run(engine, &target.id).await {
            Ok(next) => next,
            Err(message) => {
                let exit = take_exit(&mut exits, Duration::from_millis(500)).await;
                let how = ended.as_ref().map(|e| describe_exit(exit, Some(e)));
                send(match how {
                    Some(how) if message == "exited" => format!("--- exited: {how} ---"),
                    _ => format!("--- {message} ---"),
                });
                return;
            }
        };
        if next.started_at == run.started_at {
            // Same run, the engine just closed the stream: resume after the last line, after a
            // pause, so a stream that keeps closing is not asked for in a tight loop.
            tokio::time::sleep(POLL).await;
            request = LogRequest {
                follow: true,
                tail: None,
                since: last_printed.map(unix_secs),
            };
            not_before = None;
            continue;
        }
        let exit = take_exit(&mut exits, Duration::from_millis(500)).await;
        if !send(format!(
            "--- restarted: {} ---",
            describe_exit(exit, ended.as_ref().filter(|e| e.state != "running"))
        )) {
            return;
        }
        // Not from the new run's `StartedAt`: the engine records it after the process has
        // begun, so the run's first lines can carry earlier times. Every line of the old run is
        // at or before the last one printed, so what comes after it is the new run's.
        request = LogRequest {
            follow: true,
            tail: None,
            since: last_printed.or(run.started()).map(unix_secs),
        };
        not_before = None;
        run = next;
    }
}

/// Waits until the container runs again (a new run, or the same one whose stream closed), or
/// says why it will not: `exited` (stopped, no restart coming) or `container removed`.
async fn next_run(engine: &Engine, id: &str) -> Result<RunInfo, String> {
    let mut exited_since: Option<tokio::time::Instant> = None;
    loop {
        match engine.run_info(id).await {
            Ok(None) => return Err("container removed".to_string()),
            Err(e) => return Err(format!("cannot follow: {e}")),
            // A new run, or the same one whose stream the engine closed: the caller tells.
            Ok(Some(info)) if info.state == "running" => return Ok(info),
            Ok(Some(info)) if matches!(info.state.as_str(), "exited" | "dead" | "created") => {
                let since = *exited_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= RESTART_GRACE {
                    return Err("exited".to_string());
                }
            }
            Ok(Some(_)) => {}
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The exit the events reported since the last one taken, waiting up to `patience` for it.
async fn take_exit(exits: &mut mpsc::UnboundedReceiver<Exit>, patience: Duration) -> Option<Exit> {
    let mut last = None;
    while let Ok(exit) = exits.try_recv() {
        last = Some(exit);
    }
    if last.is_none() {
        last = tokio::time::timeout(patience, exits.recv())
            .await
            .ok()
            .flatten();
    }
    last
}

/// How a run ended, for the marked line: from the live events where there were any, else from
/// the state read when the stream ended (only while it still describes that exit).
fn describe_exit(exit: Option<Exit>, ended: Option<&RunInfo>) -> String {
    let (code, oom) = match exit {
        Some(exit) => (exit.code, exit.oom),
        None => match ended {
            Some(info) if info.state != "running" => {
                (Some(info.exit_code), info.oom_killed && info.exit_code != 0)
            }
            _ => (None, false),
        },
    };
    match (code, oom) {
        (Some(code), true) => format!("OOM kill, exit {code}"),
        (None, true) => "OOM kill".to_string(),
        (Some(137), false) => "killed (SIGKILL), exit 137, not an OOM kill".to_string(),
        (Some(143), false) => "stopped (SIGTERM), exit 143".to_string(),
        (Some(code), false) => format!("exit {code}"),
        (None, false) => "exit code unknown (the engine reported no exit)".to_string(),
    }
}

fn render(line: &LogLine, timestamps: bool) -> String {
    if timestamps {
        format!("{} {}", line.timestamp, line.text)
    } else {
        line.text.clone()
    }
}

/// `service | ` padded to `width`, coloured when `colour` names an ANSI colour.
fn prefix(service: &str, width: usize, colour: Option<u8>) -> String {
    match colour {
        Some(c) => format!("\x1b[{c}m{service:<width$} |\x1b[0m "),
        None => format!("{service:<width$} | "),
    }
}

fn emit(prefix: &str, text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`demo logs | head`) is not an error worth a message.
    let _ = writeln!(out, "{prefix}{text}");
}

fn unix_secs(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Stops the events listener when the follower ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(state: &str, exit_code: i64, oom_killed: bool) -> RunInfo {
        RunInfo {
            state: state.into(),
            started_at: "2026-11-30T23:00:00Z".into(),
            restart_count: 1,
            exit_code,
            oom_killed,
        }
    }

    #[test]
    fn the_marked_line_says_truthfully_how_a_run_ended() {
        let oom = Exit {
            code: Some(137),
            oom: true,
        };
        assert_eq!(describe_exit(Some(oom), None), "OOM kill, exit 137");
        let kill = Exit {
            code: Some(137),
            oom: false,
        };
        // The engine's OOMKilled flag survives restarts: live events outrank it.
        assert_eq!(
            describe_exit(Some(kill), Some(&ended("restarting", 137, true))),
            "killed (SIGKILL), exit 137, not an OOM kill"
        );
        // Without events, the state read when the stream ended.
        assert_eq!(
            describe_exit(None, Some(&ended("restarting", 137, true))),
            "OOM kill, exit 137"
        );
        assert_eq!(
            describe_exit(None, Some(&ended("exited", 2, false))),
            "exit 2"
        );
        // Already running again: its exit code was reset, so it says nothing.
        assert_eq!(
            describe_exit(None, Some(&ended("running", 0, true))),
            "exit code unknown (the engine reported no exit)"
        );
    }

    #[test]
    fn prefixes_pad_to_one_width_and_colour_only_when_asked() {
        assert_eq!(prefix("prometheus", 14, None), "prometheus     | ");
        assert_eq!(
            prefix("recommendation", 14, Some(36)),
            "\x1b[36mrecommendation |\x1b[0m "
        );
    }
}
