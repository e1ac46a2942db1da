//! `--healthcheck`: asks the running server's `grpc.health.v1.Health` whether it is serving.

use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The service name the server reports as SERVING once it accepts requests.
pub const HEALTH_SERVICE_NAME: &str = "oteldemo.RecommendationService";
/// The whole check, connection included, must answer within this.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// `Ok` iff the server on `127.0.0.1:port` answers SERVING within [`HEALTHCHECK_TIMEOUT`].
pub fn check(port: u16) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start a runtime: {error}"))?;
    runtime.block_on(async {
        tokio::time::timeout(HEALTHCHECK_TIMEOUT, ask(port))
            .await
            .map_err(|_| {
                format!("no health answer from 127.0.0.1:{port} within {HEALTHCHECK_TIMEOUT:?}")
            })?
    })
}

async fn ask(port: u16) -> Result<(), String> {
    let address = format!("http://127.0.0.1:{port}");
    let channel = Endpoint::from_shared(address.clone())
        .map_err(|error| format!("bad address {address}: {error}"))?
        .connect()
        .await
        .map_err(|error| format!("cannot connect to {address}: {}", error_chain(&error)))?;
    let mut client = HealthClient::new(channel);
    let response = client
        .check(HealthCheckRequest {
            service: HEALTH_SERVICE_NAME.to_string(),
        })
        .await
        .map_err(|status| format!("health check failed: {}", status.message()))?;
    match response.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("{HEALTH_SERVICE_NAME} is {}", other.as_str_name())),
    }
}

/// The error and its sources on one line ("transport error: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
