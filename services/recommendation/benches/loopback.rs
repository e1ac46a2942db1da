//! Loopback benchmark of the real binary with the flag off: idle RSS, p50/p99 latency at a
//! fixed rate, and throughput with concurrent callers. Prints its figures; about 15 s.
//!
//! `cargo bench -p recommendation --bench loopback`; `BENCH_SECONDS` (default 5) sets the
//! length of each of the two phases, `BENCH_RATE` (default 200) the fixed rate.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oteldemo_proto::ListRecommendationsRequest;
use support::*;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn request() -> ListRecommendationsRequest {
    ListRecommendationsRequest {
        user_id: "bench".into(),
        product_ids: vec!["OLJCESPC7Z".into(), "66VCHSJNUP".into()],
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the list of benchmarks
    }
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let rate: u64 = env_or("BENCH_RATE", 200);

    // A live receiver, so the figures include the cost of exporting.
    let (receiver, endpoint) = OtlpReceiver::start().await;
    let (_dir, flags) = flag_file(FLAG_OFF);
    let service = spawn_service(&flags, &endpoint, &[("OTEL_BSP_SCHEDULE_DELAY", "1000")]);
    let pid = service.child.id();
    let mut client = plain_client(service.grpc).await;
    client.list_recommendations(request()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_mib(pid);

    // Fixed rate, open loop: one call every 1/rate s, each timed from its scheduled start.
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut calls = Vec::new();
    let phase_end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < phase_end {
        ticker.tick().await;
        let mut client = client.clone();
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            client.list_recommendations(request()).await.unwrap();
            started.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(calls.len());
    for call in calls {
        latencies.push(call.await.unwrap());
    }
    latencies.sort();

    // Throughput: 32 callers over 4 connections, as fast as answers come.
    let mut connections = Vec::new();
    for _ in 0..4 {
        connections.push(plain_client(service.grpc).await);
    }
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut callers = Vec::new();
    for i in 0..32 {
        let mut client = connections[i % connections.len()].clone();
        let (done, answered) = (done.clone(), answered.clone());
        callers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                client.list_recommendations(request()).await.unwrap();
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    done.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    let throughput = answered.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let loaded_rss = rss_mib(pid);
    let exported = receiver.spans().len();

    println!("recommendation loopback benchmark (flag off, 2-worker client in the same host)");
    println!("  idle RSS                 {idle_rss:.1} MiB");
    println!(
        "  fixed rate {rate}/s, {} calls: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    println!("  throughput, 32 callers   {throughput:.0} calls/s");
    println!("  RSS after load           {loaded_rss:.1} MiB");
    println!("  spans received so far    {exported}");
}
