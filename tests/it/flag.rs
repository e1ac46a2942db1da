//! `demo flag` against the real engine: the change lands in the stack's volume, the service
//! confirms it, the leak grows, and Ctrl-C during the warm-up ends only the watch.
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{Demo, Run, engine_available};

const LEAK: &str = "recommendationServiceCacheFailure";

fn up(demo: &Demo, services: &[&str]) {
    let mut args = vec!["up", "--no-deps"];
    args.extend(services);
    demo.run(&args).success();
}

fn reported_on(demo: &Demo) -> (bool, bool) {
    let list = demo.run(&["flag", "list", "--json"]).success().json();
    let flag = &list["flags"][0];
    assert_eq!(flag["name"], "recommendationCacheFailure");
    (
        flag["on"].as_bool().unwrap(),
        flag["service_reports"].as_bool().unwrap(),
    )
}

fn recommendation_memory(demo: &Demo) -> (u64, i64) {
    let status = demo.run(&["status", "--json", "recommendation"]).json();
    let row = &status["services"][0];
    (
        row["memory_bytes"].as_u64().unwrap_or(0),
        row["restarts"].as_i64().unwrap_or(0),
    )
}

#[test]
fn enable_is_confirmed_and_the_leak_grows_then_disable_is_confirmed() {
    if !engine_available() {
        return;
    }
    // Faster than the default load, so the growth shows within the test's bound.
    let demo = Demo::offline("flag-toggle").env("LOAD_GENERATOR_RATE", "5");
    up(&demo, &["recommendation", "load-generator"]);
    assert_eq!(reported_on(&demo), (false, false));
    let (idle, _) = recommendation_memory(&demo);

    let enabled = demo
        .run(&["flag", "enable", LEAK, "--warmup", "0"])
        .success();
    assert!(
        enabled
            .stdout()
            .contains("recommendation acts on recommendationCacheFailure=on (confirmed after"),
        "{}",
        enabled.stdout()
    );
    assert_eq!(reported_on(&demo), (true, true));

    // Under the load generator the cache grows until the limit kills the process.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (memory, restarts) = recommendation_memory(&demo);
        if memory > idle + 8 * 1024 * 1024 || restarts > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "memory stayed at {memory} bytes (idle {idle}) with the flag on"
        );
        std::thread::sleep(Duration::from_secs(2));
    }

    let disabled = demo
        .run(&["flag", "disable", "recommendationCacheFailure"])
        .success();
    assert!(
        disabled.stdout().contains("recommendationCacheFailure=off"),
        "{}",
        disabled.stdout()
    );
    assert_eq!(reported_on(&demo), (false, false));
}

#[test]
fn an_unknown_flag_lists_the_known_ones_and_changes_nothing() {
    if !engine_available() {
        return;
    }
    let demo = Demo::offline("flag-unknown");
    up(&demo, &["recommendation"]);
    demo.run(&[
        "flag",
        "enable",
        "recommendationServiceCacheFailur",
        "--warmup",
        "0",
    ])
    .fails(2, "did you mean \"recommendationServiceCacheFailure\"")
    .fails(2, "known flags: recommendationCacheFailure");
    assert_eq!(reported_on(&demo), (false, false));
}

#[test]
fn a_short_warmup_completes_and_says_where_to_look() {
    if !engine_available() {
        return;
    }
    let demo = Demo::offline("flag-warmup");
    up(&demo, &["recommendation", "load-generator"]);
    let run = demo
        .run(&[
            "flag",
            "enable",
            LEAK,
            "--warmup",
            "12s",
            "--interval",
            "4s",
        ])
        .success();
    let out = run.stdout();
    assert!(out.contains("warm-up 00:00 / 00:12: memory"), "{out}");
    assert!(out.contains("warm-up 00:12 / 00:12:"), "{out}");
    assert!(out.contains("restarts"), "{out}");
    // 12 s at 0.5 calls/s: no symptom yet, and the summary says so.
    assert!(out.contains("leak not visible yet after 00:12"), "{out}");
    assert!(out.contains("dashboard: http://127.0.0.1:"), "{out}");
    assert!(
        out.contains("/search?service=recommendation&tags=%7B%22app.cache_hit%22%3A%22false%22%7D"),
        "{out}"
    );
}

#[test]
fn ctrl_c_during_the_warmup_leaves_the_stack_and_the_flag_as_they_are() {
    if !engine_available() {
        return;
    }
    let demo = Demo::offline("flag-sigint");
    up(&demo, &["recommendation"]);
    let ids = demo.container_ids();
    let mut child = demo
        .command(&[
            "flag",
            "enable",
            LEAK,
            "--warmup",
            "10m",
            "--interval",
            "1s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("confirmed"), "{first}");
    let second = lines.next().unwrap().unwrap();
    assert!(second.starts_with("warm-up "), "{second}");
    let started = Instant::now();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        started.elapsed()
    );
    let run = Run(out);
    run.fails(130, "the stack and the flag stay as they are");
    assert_eq!(demo.container_ids(), ids);
    assert_eq!(reported_on(&demo), (true, true));
}
