//! The service's real exports, received by an in-process OTLP receiver: the trace from the
//! load generator's root span (service `frontend`) through the server span to
//! `get_product_list`, every attribute the walkthrough reads, and the metric names.

mod support;

use std::sync::Arc;
use std::time::Duration;

use load_generator::stats::TrafficStats;
use load_generator::traffic::Traffic;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use rand::SeedableRng;
use service_common::otlp::{Signals, Telemetry};
use support::*;

const SERVER_SPAN: &str = "oteldemo.RecommendationService/ListRecommendations";
const CALLS: usize = 8;

/// Sends `CALLS` traced calls as the load generator does, then flushes its spans.
async fn drive(service: &ServiceProcess, otlp_endpoint: &str) -> Vec<Vec<String>> {
    plain_client(service.grpc).await; // wait until it accepts connections
    let telemetry =
        Telemetry::init_with_endpoint("frontend", Signals::TracesOnly, Some(otlp_endpoint))
            .unwrap();
    let traffic = Traffic::new(
        &service.grpc.to_string(),
        Duration::from_secs(5),
        telemetry.tracer("load-generator"),
        Arc::new(TrafficStats::default()),
        rand::rngs::StdRng::seed_from_u64(3),
    )
    .unwrap();
    let mut answers = Vec::new();
    for _ in 0..CALLS {
        answers.push(
            traffic
                .send_one()
                .await
                .expect("the call succeeds")
                .product_ids,
        );
    }
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();
    answers
}

fn int(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::IntValue(v)) => Some(*v),
        _ => None,
    }
}

fn boolean(value: Option<&Value>) -> Option<bool> {
    match value {
        Some(Value::BoolValue(v)) => Some(*v),
        _ => None,
    }
}

fn string(value: Option<&Value>) -> Option<&str> {
    match value {
        Some(Value::StringValue(v)) => Some(v),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_on_traces_link_frontend_to_get_product_list_with_every_attribute() {
    let (receiver, endpoint) = OtlpReceiver::start().await;
    let (_dir, flags) = flag_file(FLAG_ON);
    let service = spawn_service(&flags, &endpoint, &[]);
    let answers = drive(&service, &endpoint).await;
    assert!(answers.iter().all(|ids| (1..=5).contains(&ids.len())));

    receiver
        .wait_for("every call's three spans", Duration::from_secs(15), |r| {
            r.spans()
                .iter()
                .filter(|s| s.span.name == "get_product_list")
                .count()
                >= CALLS
        })
        .await;
    let spans = receiver.spans();
    let roots: Vec<_> = spans.iter().filter(|s| s.service == "frontend").collect();
    assert_eq!(roots.len(), CALLS);

    let mut hits = 0;
    let mut misses = 0;
    for root in &roots {
        // The load generator's root: CLIENT, no parent.
        assert_eq!(root.span.name, SERVER_SPAN);
        assert_eq!(root.span.kind, SpanKind::Client as i32);
        assert!(root.span.parent_span_id.is_empty());

        let server = spans
            .iter()
            .find(|s| {
                s.span.trace_id == root.span.trace_id && s.span.kind == SpanKind::Server as i32
            })
            .expect("a server span in the frontend's trace");
        assert_eq!(server.service, "recommendation");
        assert_eq!(server.span.name, SERVER_SPAN);
        assert_eq!(
            server.span.parent_span_id, root.span.span_id,
            "server continues the caller's span"
        );
        assert_eq!(string(server.attribute("rpc.system")), Some("grpc"));
        assert_eq!(
            string(server.attribute("rpc.service")),
            Some("oteldemo.RecommendationService")
        );
        assert_eq!(
            string(server.attribute("rpc.method")),
            Some("ListRecommendations")
        );
        assert_eq!(int(server.attribute("rpc.grpc.status_code")), Some(0));
        let recommended = int(server.attribute("app.products_recommended.count")).unwrap();
        assert!((1..=5).contains(&recommended));

        let child = spans
            .iter()
            .find(|s| s.span.name == "get_product_list" && s.span.trace_id == root.span.trace_id)
            .expect("get_product_list in the same trace");
        assert_eq!(child.service, "recommendation");
        assert_eq!(child.span.parent_span_id, server.span.span_id);
        assert_eq!(
            boolean(child.attribute("app.recommendation.cache_enabled")),
            Some(true)
        );
        let filtered = int(child.attribute("app.filtered_products.count")).unwrap();
        assert!(
            (6..=9).contains(&filtered),
            "10 products less the 1-4 asked about: {filtered}"
        );
        assert_eq!(recommended, filtered.min(5));
        let hit =
            boolean(child.attribute("app.cache_hit")).expect("app.cache_hit with the flag on");
        assert_eq!(
            boolean(child.attribute("demo.recommendation.cache_hit")),
            Some(hit),
            "upstream 3.0's name carries the same value"
        );
        if hit {
            hits += 1;
        } else {
            misses += 1;
        }
    }
    assert!(misses >= 1, "the first call is a miss");

    // The growth rule, over the calls in the order they were made: each miss grows the list.
    let mut expected_len = 0i64;
    let mut children: Vec<_> = spans
        .iter()
        .filter(|s| s.span.name == "get_product_list")
        .collect();
    children.sort_by_key(|s| s.span.start_time_unix_nano);
    for child in children {
        let hit = boolean(child.attribute("app.cache_hit")).unwrap();
        if !hit {
            expected_len = (expected_len + 10) + (expected_len + 10) / 4;
        }
        assert_eq!(
            int(child.attribute("app.products.count")),
            Some(expected_len)
        );
        assert_eq!(
            int(child.attribute("demo.product.count")),
            Some(expected_len)
        );
    }
    let state = state(&service);
    assert_eq!(state["cached_ids"], expected_len);
    assert_eq!(state["cache_enabled"], true);
    assert_eq!(state["cache_hits"], hits);
    assert_eq!(state["cache_misses"], misses);

    // Metrics: the process's own memory and CPU, and the recommendations counter.
    let returned: usize = answers.iter().map(Vec::len).sum();
    receiver
        .wait_for(
            "the counter to reach the number returned",
            Duration::from_secs(15),
            |r| counter_total(r) == Some(returned as f64),
        )
        .await;
    let metrics = receiver.metrics();
    let memory = metrics
        .iter()
        .find(|m| m.metric.name == "process.memory.usage")
        .expect("process.memory.usage");
    assert_eq!(memory.service, "recommendation");
    assert_eq!(memory.metric.unit, "By");
    match &memory.metric.data {
        Some(Data::Sum(sum)) => {
            assert!(!sum.is_monotonic);
            assert_eq!(sum.aggregation_temporality, 2, "cumulative");
            let bytes = match sum.data_points[0].value {
                Some(number_data_point::Value::AsInt(v)) => v,
                ref other => panic!("{other:?}"),
            };
            assert!(bytes > 1_000_000, "RSS {bytes}");
        }
        other => panic!("process.memory.usage is an up-down counter: {other:?}"),
    }
    let cpu = metrics
        .iter()
        .find(|m| m.metric.name == "process.cpu.time")
        .expect("process.cpu.time");
    assert_eq!(cpu.metric.unit, "s");
    match &cpu.metric.data {
        Some(Data::Sum(sum)) => {
            assert!(sum.is_monotonic);
            assert_eq!(sum.aggregation_temporality, 2, "cumulative");
            let mut modes: Vec<_> = sum
                .data_points
                .iter()
                .filter_map(|p| string(find(&p.attributes, "cpu.mode")).map(str::to_string))
                .collect();
            modes.sort();
            assert_eq!(modes, ["system", "user"]);
        }
        other => panic!("process.cpu.time is a counter: {other:?}"),
    }
}

/// The latest cumulative value of `app_recommendations_counter{recommendation.type=catalog}`.
fn counter_total(receiver: &OtlpReceiver) -> Option<f64> {
    let metric = receiver
        .metrics()
        .into_iter()
        .rev()
        .find(|m| m.metric.name == "app_recommendations_counter")?;
    let Some(Data::Sum(sum)) = metric.metric.data else {
        return None;
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2, "cumulative");
    let point = sum.data_points.first()?;
    assert_eq!(
        string(find(&point.attributes, "recommendation.type")),
        Some("catalog")
    );
    match point.value? {
        number_data_point::Value::AsInt(v) => Some(v as f64),
        number_data_point::Value::AsDouble(v) => Some(v),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_off_spans_say_so_and_carry_no_cache_hit() {
    let (receiver, endpoint) = OtlpReceiver::start().await;
    let (_dir, flags) = flag_file(FLAG_OFF);
    let service = spawn_service(&flags, &endpoint, &[]);
    drive(&service, &endpoint).await;
    receiver
        .wait_for(
            "the calls' product-list spans",
            Duration::from_secs(15),
            |r| {
                r.spans()
                    .iter()
                    .filter(|s| s.span.name == "get_product_list")
                    .count()
                    >= CALLS
            },
        )
        .await;
    for child in receiver
        .spans()
        .iter()
        .filter(|s| s.span.name == "get_product_list")
    {
        assert_eq!(
            boolean(child.attribute("app.recommendation.cache_enabled")),
            Some(false)
        );
        assert_eq!(child.attribute("app.cache_hit"), None);
        assert_eq!(child.attribute("demo.recommendation.cache_hit"), None);
        assert_eq!(int(child.attribute("app.products.count")), Some(10));
        assert_eq!(int(child.attribute("demo.product.count")), Some(10));
    }
    assert_eq!(state(&service)["cached_ids"], 0);
}
