//! What the `recommendation` binary does: serves, or with `--state` / `--healthcheck` asks the
//! running one on this host. A library function, so one executable can carry it: `recommendation`
//! itself, or `demo` started under that name (its self-packed images).

use std::process::ExitCode;
use std::time::Duration;

use crate::healthcheck;
use crate::server::{BoundServer, termination};
use crate::settings::Settings;
use service_common::cli::{self, Invocation};
use service_common::otlp::{Signals, Telemetry, configured_endpoint};

const USAGE: &str = "\
usage: recommendation [--state | --healthcheck]

  (no argument)   serve oteldemo.RecommendationService and grpc.health.v1.Health
  --state         print the running server's /state JSON (from 127.0.0.1:$ADMIN_PORT)
  --healthcheck   exit 0 iff the running server answers SERVING on 127.0.0.1:$RECOMMENDATION_PORT

environment: RECOMMENDATION_PORT (9001), ADMIN_PORT (9002), FLAGD_FILE
(/etc/flagd/demo.flagd.json), PRODUCT_CATALOG_ADDR (unset: embedded catalog),
RECOMMENDATION_SEED, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME (recommendation),
OTEL_RESOURCE_ATTRIBUTES";

const PROGRAM: &str = "recommendation";

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
        Invocation::Run => serve(settings),
        Invocation::State => cli::print_state(PROGRAM, settings.admin_port, Duration::from_secs(3)),
        Invocation::Healthcheck => match healthcheck::check(settings.grpc_port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        },
    }
}

fn fail(error: &str) -> ExitCode {
    cli::fail(PROGRAM, error)
}

#[tokio::main]
async fn serve(settings: Settings) -> ExitCode {
    let telemetry = match Telemetry::init("recommendation", Signals::TracesAndMetrics) {
        Ok(telemetry) => telemetry,
        Err(error) => return fail(&error),
    };
    let server = match BoundServer::bind(settings.clone()).await {
        Ok(server) => server,
        Err(error) => return fail(&error),
    };
    eprintln!(
        "recommendation: serving gRPC on {} and admin on {}; flag file {}; catalog {}; OTLP to {}",
        server.grpc_address(),
        server.admin_address(),
        settings.flag_file.display(),
        settings.catalog_address.as_deref().unwrap_or("embedded"),
        configured_endpoint(),
    );
    let result = server
        .serve(
            telemetry.tracer("recommendation"),
            telemetry.meter("recommendation"),
            termination(),
        )
        .await;
    // Flushing may wait on an absent collector: do it off the runtime's workers.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match result {
        Ok(()) => {
            eprintln!("recommendation: stopped");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}
