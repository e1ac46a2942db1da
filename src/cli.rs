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

    /// The compose file describing the stack.
    #[arg(
        long,
        short = 'f',
        global = true,
        env = "DEMO_FILE",
        default_value = "compose/docker-compose.yaml"
    )]
    pub file: PathBuf,

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
