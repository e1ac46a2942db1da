//! The calls: a steady stream of `ListRecommendations`, each the root span of its own trace
//! (service `frontend`, kind CLIENT) whose context travels in the request's metadata.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use oteldemo_proto::recommendation_service_client::RecommendationServiceClient;
use oteldemo_proto::{ListRecommendationsRequest, ListRecommendationsResponse};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use service_common::grpc_propagation::inject_context;
use tonic::transport::{Channel, Endpoint};

use crate::stats::{LogLine, TrafficStats};

/// The client span's name: the gRPC method, as the server names its span.
pub const CLIENT_SPAN_NAME: &str = "oteldemo.RecommendationService/ListRecommendations";
/// Calls still waiting beyond this make later ticks skip instead of piling up.
pub const MAX_IN_FLIGHT: u64 = 64;
/// Connecting to a service that is not there fails after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends traced calls to one recommendation service.
#[derive(Debug)]
pub struct Traffic {
    client: RecommendationServiceClient<Channel>,
    tracer: SdkTracer,
    stats: Arc<TrafficStats>,
    rng: Mutex<StdRng>,
    server_address: String,
    server_port: Option<i64>,
}

impl Traffic {
    /// A client for `target` (`host:port`), connected lazily and reconnected after failures,
    /// so it can start before the service and survive its restarts. Needs a Tokio runtime.
    pub fn new(
        target: &str,
        timeout: Duration,
        tracer: SdkTracer,
        stats: Arc<TrafficStats>,
        rng: StdRng,
    ) -> Result<Self, String> {
        let channel = Endpoint::from_shared(format!("http://{target}"))
            .map_err(|error| format!("RECOMMENDATION_ADDR={target:?} is not an address: {error}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .connect_lazy();
        let (server_address, server_port) = match target.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port.parse().ok()),
            None => (target.to_string(), None),
        };
        Ok(Self {
            client: RecommendationServiceClient::new(channel),
            tracer,
            stats,
            rng: Mutex::new(rng),
            server_address,
            server_port,
        })
    }

    /// A request as the frontend sends it: 1 to 4 distinct catalog ids and a session's user id.
    pub fn random_request(&self) -> ListRecommendationsRequest {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let catalog: Vec<&str> = oteldemo_proto::catalog::embedded_product_ids().collect();
        let count = rng.random_range(1..=4);
        let product_ids = catalog
            .choose_multiple(&mut *rng, count)
            .map(|id| id.to_string())
            .collect();
        let user: u128 = rng.random();
        ListRecommendationsRequest {
            user_id: format_uuid(user),
            product_ids,
        }
    }

    /// One call under a new root span; the outcome is counted, not logged.
    pub async fn send_one(&self) -> Result<ListRecommendationsResponse, tonic::Status> {
        let mut attributes = vec![
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", "oteldemo.RecommendationService"),
            KeyValue::new("rpc.method", "ListRecommendations"),
            KeyValue::new("server.address", self.server_address.clone()),
        ];
        if let Some(port) = self.server_port {
            attributes.push(KeyValue::new("server.port", port));
        }
        let span = self
            .tracer
            .span_builder(CLIENT_SPAN_NAME)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &Context::new());
        let cx = Context::new().with_span(span);

        let mut request = tonic::Request::new(self.random_request());
        inject_context(&cx, request.metadata_mut());
        TrafficStats::bump(&self.stats.sent);
        let result = self.client.clone().list_recommendations(request).await;

        let span = cx.span();
        match &result {
            Ok(_) => span.set_attribute(KeyValue::new("rpc.grpc.status_code", 0i64)),
            Err(status) => {
                span.set_attribute(KeyValue::new("rpc.grpc.status_code", status.code() as i64));
                span.set_status(Status::error(status.message().to_string()));
            }
        }
        span.end();
        result.map(tonic::Response::into_inner)
    }

    /// Calls at `rate` per second forever, whatever the answers; 0 sends nothing.
    pub async fn run(self: Arc<Self>, rate: f64) {
        if rate <= 0.0 {
            return std::future::pending().await;
        }
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        // After a stall, carry on at the same pace rather than bursting to catch up.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            if self.stats.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                TrafficStats::bump(&self.stats.skipped);
                continue;
            }
            let traffic = self.clone();
            tokio::spawn(async move {
                traffic.stats.in_flight.fetch_add(1, Ordering::Relaxed);
                let outcome = traffic.send_one().await;
                traffic.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                let outcome = outcome.map(drop).map_err(|status| describe(&status));
                match traffic.stats.record(outcome, Instant::now()) {
                    LogLine::None => {}
                    LogLine::Failure(line) | LogLine::Recovered(line) => {
                        eprintln!("load-generator: {line}");
                    }
                }
            });
        }
    }
}

/// A status as one line: its code and message.
fn describe(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// Formats 128 random bits as a version-4 UUID, like the frontend's session ids.
fn format_uuid(bits: u128) -> String {
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider;
    use rand::SeedableRng;

    fn traffic(seed: u64) -> Traffic {
        let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .build()
            .tracer("test");
        Traffic::new(
            "127.0.0.1:1",
            Duration::from_millis(200),
            tracer,
            Arc::new(TrafficStats::default()),
            StdRng::seed_from_u64(seed),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn requests_carry_one_to_four_distinct_catalog_ids_and_a_user() {
        let traffic = traffic(1);
        let catalog: Vec<&str> = oteldemo_proto::catalog::embedded_product_ids().collect();
        let mut sizes = std::collections::HashSet::new();
        for _ in 0..200 {
            let request = traffic.random_request();
            let count = request.product_ids.len();
            assert!((1..=4).contains(&count));
            sizes.insert(count);
            let distinct: std::collections::HashSet<_> = request.product_ids.iter().collect();
            assert_eq!(distinct.len(), count);
            assert!(
                request
                    .product_ids
                    .iter()
                    .all(|id| catalog.contains(&id.as_str()))
            );
            assert_eq!(request.user_id.len(), 36);
            assert_eq!(&request.user_id[14..15], "4");
        }
        assert_eq!(sizes.len(), 4, "every size from 1 to 4 occurs");
    }

    #[tokio::test]
    async fn a_call_to_nothing_fails_quickly_and_is_not_fatal() {
        let traffic = traffic(2);
        let started = Instant::now();
        for _ in 0..3 {
            let status = traffic.send_one().await.unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(TrafficStats::read(&traffic.stats.sent), 3);
    }

    #[test]
    fn uuids_have_the_version_and_variant_bits() {
        assert_eq!(format_uuid(0), "00000000-0000-4000-8000-000000000000");
        assert_eq!(
            format_uuid(u128::MAX),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
    }
}
