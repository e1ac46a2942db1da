//! Export failures must never block, slow or fail a request: the service is timed against a
//! collector port that refuses connections and one that accepts them but never answers.

mod support;

use std::time::{Duration, Instant};

use oteldemo_proto::ListRecommendationsRequest;
use support::*;

const CALLS: usize = 300;

/// Sequential calls with export attempts every 20 ms; returns the sorted latencies.
async fn latencies(otlp_endpoint: &str) -> Vec<Duration> {
    let (_dir, flags) = flag_file(FLAG_OFF);
    let service = spawn_service(
        &flags,
        otlp_endpoint,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "20"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "50"),
        ],
    );
    let mut client = plain_client(service.grpc).await;
    let mut latencies = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        client
            .list_recommendations(ListRecommendationsRequest::default())
            .await
            .expect("calls succeed without a collector");
        latencies.push(started.elapsed());
    }
    assert_eq!(state(&service)["requests"], CALLS);
    latencies.sort();
    latencies
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() * 99 / 100]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_or_silent_collector_adds_no_latency() {
    let (_receiver, live) = OtlpReceiver::start().await;
    let baseline = latencies(&live).await;

    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let refusing = latencies(&refused).await;

    // Accepts connections and never reads or answers: every export hangs until its timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_endpoint = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let hanging = latencies(&silent_endpoint).await;

    let allowed = p99(&baseline) * 3 + Duration::from_millis(20);
    for (name, sorted) in [("refused", &refusing), ("silent", &hanging)] {
        assert!(
            p99(sorted) <= allowed,
            "{name}: p99 {:?} vs {:?} with a live collector",
            p99(sorted),
            p99(&baseline)
        );
    }
}
