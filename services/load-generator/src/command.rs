//! What the `load-generator` binary does: sends traffic, or with `--state` / `--healthcheck` asks the
//! running one on this host. A library function, so one executable can carry it: `load-generator`
//! itself, or `demo` started under that name (its self-packed images).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::admin::{AdminView, heartbeat, judge};
use crate::settings::Settings;
use crate::stats::TrafficStats;
use crate::traffic::Traffic;
use rand::SeedableRng;
use rand::rngs::StdRng;
use service_common::admin_http;
use service_common::cli::{self, Invocation};
use service_common::otlp::{Signals, Telemetry, configured_endpoint};

const USAGE: &str = "\
usage: load-generator [--state | --healthcheck]

  (no argument)   call ListRecommendations at LOAD_GENERATOR_RATE per second
  --state         print the running generator's /state JSON (from 127.0.0.1:$ADMIN_PORT)
  --healthcheck   exit 0 iff the running generator's heartbeat is fresh

environment: RECOMMENDATION_ADDR (recommendation:9001), LOAD_GENERATOR_RATE (0.5),
LOAD_GENERATOR_TIMEOUT_SECONDS (10), ADMIN_PORT (9003), LOAD_GENERATOR_SEED,
OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME (frontend), OTEL_RESOURCE_ATTRIBUTES";

const ADMIN_TIMEOUT: Duration = Duration::from_secs(1);

const PROGRAM: &str = "load-generator";

/// The binary's whole behaviour, from the process arguments; `demo` runs it too when it is
/// started under this program's name (its images are `demo` itself).
pub fn main() -> ExitCode {
    let invocation = match cli::invocation(PROGRAM, USAGE, env!("CARGO_PKG_VERSION")) {
        Ok(invocation) => invocation,
        Err(code) => return code,
    };
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => return fail(&error),
    };
    match invocation {
        Invocation::Run => run(settings),
        Invocation::State => cli::print_state(PROGRAM, settings.admin_port, ADMIN_TIMEOUT),
        Invocation::Healthcheck => {
            match admin_http::get(settings.admin_port, "/state", ADMIN_TIMEOUT)
                .and_then(|body| judge(&body))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => fail(&error),
            }
        }
    }
}

fn fail(error: &str) -> ExitCode {
    cli::fail(PROGRAM, error)
}

#[tokio::main]
async fn run(settings: Settings) -> ExitCode {
    let telemetry = match Telemetry::init("frontend", Signals::TracesOnly) {
        Ok(telemetry) => telemetry,
        Err(error) => return fail(&error),
    };
    let admin_listener =
        match tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], settings.admin_port)))
            .await
        {
            Ok(listener) => listener,
            Err(error) => {
                return fail(&format!(
                    "cannot listen on port {} (ADMIN_PORT): {error}",
                    settings.admin_port
                ));
            }
        };
    let stats = Arc::new(TrafficStats::default());
    let rng = settings
        .seed
        .map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64);
    let traffic = match Traffic::new(
        &settings.target,
        settings.timeout,
        telemetry.tracer("load-generator"),
        stats.clone(),
        rng,
    ) {
        Ok(traffic) => Arc::new(traffic),
        Err(error) => return fail(&error),
    };
    eprintln!(
        "load-generator: {} calls/s to {}; admin on {}; OTLP to {}",
        settings.rate,
        settings.target,
        admin_listener
            .local_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string()),
        configured_endpoint(),
    );
    let view = AdminView {
        stats: stats.clone(),
        target: settings.target.clone(),
        rate: settings.rate,
    };
    tokio::spawn(admin_http::serve(admin_listener, view.renderer()));
    tokio::spawn(heartbeat(stats));
    tokio::select! {
        () = traffic.run(settings.rate) => {}
        () = termination() => {}
    }
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    eprintln!("load-generator: stopped");
    ExitCode::SUCCESS
}

/// Completes on SIGTERM (`docker stop`) or SIGINT; PID 1 gets no default handling of them.
async fn termination() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
