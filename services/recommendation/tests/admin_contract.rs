//! The contract the CLI relies on, checked on the real binary: `--state` prints the `/state`
//! JSON, `--healthcheck` exits 0 iff the server is SERVING, and flag changes in the file are
//! acted on (and shown) within about a second.

mod support;

use std::time::{Duration, Instant};

use oteldemo_proto::ListRecommendationsRequest;
use support::*;

/// No collector: exports go to a closed port.
const NO_COLLECTOR: &str = "http://127.0.0.1:9";

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `/state` until `ready` holds; returns how long it took.
fn wait_for_state(
    service: &ServiceProcess,
    timeout: Duration,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let state = state(service);
        if ready(&state) {
            return started.elapsed();
        }
        assert!(started.elapsed() < timeout, "state never matched: {state}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_healthcheck_answer_for_the_running_server() {
    let (_dir, flags) = flag_file(FLAG_OFF);
    let service = spawn_service(&flags, NO_COLLECTOR, &[]);
    plain_client(service.grpc).await;

    let (code, stdout, stderr) =
        run_binary(&["--healthcheck"], service.grpc_port, service.admin_port);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty());

    let state = state(&service);
    assert_eq!(state["flags"]["recommendationCacheFailure"], false);
    assert_eq!(state["cache_enabled"], false);
    assert_eq!(state["cached_ids"], 0);
    assert_eq!(state["flag_file"], flags.display().to_string());
    assert_eq!(state["flag_file_error"], serde_json::Value::Null);
    assert_eq!(state["requests"], 0);
}

#[test]
fn state_and_healthcheck_fail_in_one_line_when_nothing_runs() {
    let started = Instant::now();
    let (code, stdout, stderr) = run_binary(&["--healthcheck"], closed_port(), closed_port());
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(started.elapsed() < Duration::from_millis(1500));

    let (code, stdout, stderr) = run_binary(&["--state"], closed_port(), closed_port());
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot connect to the admin endpoint"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_changes_are_acted_on_and_the_list_outlives_the_flag() {
    let (_dir, flags) = flag_file(FLAG_OFF);
    let service = spawn_service(&flags, NO_COLLECTOR, &[]);
    let mut client = plain_client(service.grpc).await;
    let ask = || ListRecommendationsRequest {
        user_id: "u".into(),
        product_ids: vec!["OLJCESPC7Z".into()],
    };

    std::fs::write(&flags, FLAG_ON).unwrap();
    let took = wait_for_state(&service, Duration::from_secs(3), |s| {
        s["cache_enabled"] == true
    });
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    for _ in 0..20 {
        let answer = client
            .list_recommendations(ask())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.product_ids.len(), 5);
        assert!(!answer.product_ids.contains(&"OLJCESPC7Z".to_string()));
    }
    let grown = state(&service)["cached_ids"].as_u64().unwrap();
    assert!(grown >= 12, "the first flag-on call is a miss: {grown}");

    // A torn write (a writer that is not atomic) keeps the flag as it was, and says why.
    std::fs::write(&flags, &FLAG_OFF[..FLAG_OFF.len() / 2]).unwrap();
    wait_for_state(&service, Duration::from_secs(3), |s| {
        s["flag_file_error"].is_string()
    });
    assert_eq!(state(&service)["cache_enabled"], true);

    // Off again: the catalog is used, and the leaked list stays where it is.
    std::fs::write(&flags, FLAG_OFF).unwrap();
    wait_for_state(&service, Duration::from_secs(3), |s| {
        s["cache_enabled"] == false && s["flag_file_error"].is_null()
    });
    for _ in 0..10 {
        client.list_recommendations(ask()).await.unwrap();
    }
    let state = state(&service);
    assert_eq!(state["cached_ids"], grown);
    assert_eq!(state["requests"], 30);

    // The service logged the file's problem once and what it acted on.
    let log = service.stderr.lock().unwrap().join("\n");
    assert!(log.contains("recommendationCacheFailure is on"), "{log}");
    assert!(
        log.contains("keeping recommendationCacheFailure=on"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_flag_name_turns_the_leak_on_too() {
    let old_name = FLAG_ON.replace(
        "recommendationCacheFailure",
        "recommendationServiceCacheFailure",
    );
    let (_dir, flags) = flag_file(&old_name);
    let service = spawn_service(&flags, NO_COLLECTOR, &[]);
    let mut client = plain_client(service.grpc).await;
    client
        .list_recommendations(ListRecommendationsRequest::default())
        .await
        .unwrap();
    let state = state(&service);
    assert_eq!(state["cache_enabled"], true);
    assert_eq!(
        state["flag_file_entries"]["recommendationServiceCacheFailure"],
        true
    );
    assert_eq!(state["cached_ids"], 12);
}
