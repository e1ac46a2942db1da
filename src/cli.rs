//! The command line, as clap parses it: raw arguments only, no I/O and no decisions.
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Stands up the OpenTelemetry memory-leak demo in Docker, toggles the leak, and diagnoses it.
#[derive(Debug, Parser)]
#[command(name = "demo", version, about, propagate_version = true)]
pub struct Cli {
    /// Name of the stack: prefixes every object demo creates and selects them.
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "DEMO_PROJECT",
        default_value = "demo"
    )]
    pub project: String,

    /// The compose file describing the stack (default: $DEMO_FILE, else the stack built into
    /// demo; `demo init` writes it out to edit). Anywhere on the line; its short form `-f` only
    /// before the subcommand, as with docker compose (`demo logs -f` is --follow).
    #[arg(long, global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// `-f PATH` before the subcommand: --file.
    #[arg(short = 'f', value_name = "PATH", conflicts_with = "file", hide = true)]
    pub file_short: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build our own images (recommendation, load-generator).
    Build(BuildArgs),
    /// Create and start the stack, wait until every service is healthy, print the URLs.
    Up(UpArgs),
    /// Show each service's state, health, restarts, OOM kills and memory.
    Status(StatusArgs),
    /// Remove every container and network (and with --volumes, volume) demo created.
    Down(DownArgs),
    /// List feature flags, or turn one on or off and confirm the service acts on it.
    Flag(FlagArgs),
    /// Name the leaking service from memory trends, OOM kills, span metrics and traces.
    Diagnose(DiagnoseArgs),
    /// Print the services' output, prefixed by service; with --follow, across restarts.
    Logs(LogsArgs),
    /// Restart services (default: all), dependencies first, each waited on until healthy.
    Restart(RestartArgs),
    /// Block until services are running or healthy (exit 3: one failed, 4: timed out).
    Wait(WaitArgs),
    /// Check this machine and engine before `demo up`: ok, warn or fail, each with a fix.
    Doctor(DoctorArgs),
    /// Write the built-in stack into a directory, to customize and run with --file.
    Init(InitArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct FlagArgs {
    #[command(subcommand)]
    pub action: FlagAction,
}

#[derive(Debug, Subcommand)]
pub enum FlagAction {
    /// Every flag in the stack's flag file, and what the service reports it acts on.
    List {
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Turn a flag on, confirm the service took it, then watch the warm-up.
    Enable {
        /// The flag (`recommendationServiceCacheFailure` and `recommendationCacheFailure` are
        /// the same flag).
        name: String,
        /// The longest to watch the leak grow (e.g. 90s, 10m; 0 skips the watch); the watch
        /// ends sooner once the leak is visible.
        #[arg(long, value_parser = parse_duration, default_value = "10m")]
        warmup: Duration,
        /// Watch the whole --warmup even after the leak is visible.
        #[arg(long)]
        full_warmup: bool,
        /// How long the service may take to report the new value.
        #[arg(long, value_parser = parse_duration, default_value = "15s")]
        confirm_timeout: Duration,
        /// How often the warm-up display refreshes.
        #[arg(long, value_parser = parse_duration, default_value = "5s")]
        interval: Duration,
    },
    /// Turn a flag off and confirm the service took it.
    Disable {
        name: String,
        /// How long the service may take to report the new value.
        #[arg(long, value_parser = parse_duration, default_value = "15s")]
        confirm_timeout: Duration,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Services to build (default: every service with a `build` section).
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Services to start, with their dependencies (default: all).
    pub services: Vec<String>,
    /// Start only the named services, not their dependencies.
    #[arg(long)]
    pub no_deps: bool,
    /// How long each service may take to become healthy (e.g. 90s, 3m).
    #[arg(long, value_parser = parse_duration, default_value = "3m")]
    pub wait_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Services to show (default: all).
    pub services: Vec<String>,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Redraw the table every --interval until Ctrl-C (in place on a terminal).
    #[arg(long, short = 'w', conflicts_with = "json")]
    pub watch: bool,
    /// How often --watch redraws.
    #[arg(long, value_parser = parse_duration, default_value = "2s", requires = "watch")]
    pub interval: Duration,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Services whose output to print (default: every service with a container).
    pub services: Vec<String>,
    /// Keep printing new output, through restarts, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N lines of each service.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only output of the last DURATION (e.g. 30s, 10m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub since: Option<Duration>,
    /// Show the engine's timestamp of each line.
    #[arg(long, short = 't')]
    pub timestamps: bool,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Services to restart (default: all that have a container).
    pub services: Vec<String>,
    /// How long each service may take to become healthy again.
    #[arg(long, value_parser = parse_duration, default_value = "3m")]
    pub wait_timeout: Duration,
}

/// The condition `demo wait` blocks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Until {
    /// The container runs.
    Running,
    /// The container runs and is ready: healthy, or its ready URL answers.
    Healthy,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Services to wait for (default: every service with a container, or all of them while
    /// none has one yet).
    pub services: Vec<String>,
    /// What must hold for every selected service.
    #[arg(long, value_enum, default_value = "healthy")]
    pub until: Until,
    /// The longest wait; exit 4 when it passes.
    #[arg(long, value_parser = parse_duration, default_value = "3m")]
    pub timeout: Duration,
    /// Print the final state of each service as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON for scripts instead of the list.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// How far back to read Prometheus, Jaeger and OOM kills (e.g. 5m, 15m).
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub window: Duration,
    /// The longest time to sample the containers' memory; stops sooner once the verdict is
    /// confident (after 20s).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub sample: Duration,
    /// Print JSON for scripts instead of the report.
    #[arg(long)]
    pub json: bool,
    /// The sources to read, comma-separated: any of engine, prometheus, jaeger, state.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "engine,prometheus,jaeger,state"
    )]
    pub sources: Vec<DiagnoseSource>,
}

/// A source `diagnose` can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnoseSource {
    /// The engine: containers' memory stats, restart counts, OOM flags.
    Engine,
    /// Span and process metrics in Prometheus.
    Prometheus,
    /// Traces in Jaeger.
    Jaeger,
    /// The recommendation service's own state (`--state` inside its container).
    State,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the stack.
    #[arg(default_value = "demo-stack")]
    pub dir: PathBuf,
    /// Overwrite the stack's files where they already exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the named volumes demo created.
    #[arg(long, short = 'v')]
    pub volumes: bool,
}

/// `90s`, `10m`, `1h30m`, or `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 90s, 10m or 1h30m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_zero() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("ten minutes").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
