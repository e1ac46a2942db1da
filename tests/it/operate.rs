//! Operating a running stack against the real engine: `logs` (prefixes, `--tail`, `--since`,
//! `--follow` across a restart), `restart`, `wait` and its exit codes, `status --watch`, `doctor`.
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{Demo, docker, engine_available, free_port, inspect, sigint};

const LEAK: &str = "recommendationServiceCacheFailure";

/// Lines of a child's stdout as they come, read on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Collects lines until one satisfies `done`; panics with what came after `within`.
fn until(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    within: Duration,
    done: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let hit = done(&line);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(_) => panic!("not seen within {within:?}; got:\n{}", seen.join("\n")),
        }
    }
}

/// Ends a child with SIGINT and returns its exit code and stderr.
fn interrupt(mut child: Child) -> (Option<i32>, String) {
    sigint(child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code(), stderr);
        }
        assert!(Instant::now() < deadline, "no exit within 10 s of SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn started_at(id: &str) -> String {
    inspect(id)["State"]["StartedAt"]
        .as_str()
        .unwrap()
        .to_string()
}

fn cached_ids(id: &str) -> u64 {
    let state = docker(&["exec", id, "/recommendation", "--state"]);
    let state: serde_json::Value = serde_json::from_str(&state).expect("--state prints JSON");
    state["cached_ids"].as_u64().unwrap()
}

/// Per service, the lines `demo logs` printed for it.
fn per_service<'a>(out: &'a str, service: &str) -> Vec<&'a str> {
    let prefix = format!("{service} ");
    out.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[test]
fn logs_follow_a_restart_restart_frees_the_leak_wait_and_watch() {
    if !engine_available() {
        return;
    }
    let demo = Demo::offline("operate").env("LOAD_GENERATOR_RATE", "10");
    demo.run(&["up", "--no-deps", "recommendation", "load-generator"])
        .success();
    let recommendation = demo.service_container("recommendation").unwrap();

    // Both services' lines, prefixed with the name padded to one width.
    let logs = demo.run(&["logs"]).success().stdout();
    let rec = per_service(&logs, "recommendation");
    let load = per_service(&logs, "load-generator");
    assert!(
        rec.iter()
            .any(|l| l.starts_with("recommendation | recommendation: serving gRPC")),
        "{logs}"
    );
    assert!(
        load.iter()
            .any(|l| l.starts_with("load-generator | load-generator: 10 calls/s")),
        "{logs}"
    );
    assert_eq!(
        rec.len() + load.len(),
        logs.lines().count(),
        "every line is prefixed:\n{logs}"
    );

    // `wait` on a healthy stack: 0 at once, and the final states as JSON.
    let waited = demo
        .run(&["wait", "recommendation", "load-generator", "--json"])
        .success()
        .json();
    for state in waited.as_array().unwrap() {
        assert_eq!(state["state"], "running", "{state}");
        assert_eq!(state["health"], "healthy", "{state}");
        assert_eq!(state["ready"], true, "{state}");
    }
    // No names: the services that have a container, not the four this test never started.
    let all = demo.run(&["wait", "--timeout", "20s"]).success().stdout();
    assert_eq!(all.lines().count(), 2, "{all}");

    // Follow the recommendation service while the test kills its process from outside the
    // engine (no `docker kill`, so the restart policy applies): both runs and one marked line.
    let mut follow = demo
        .command(&["logs", "-f", "recommendation"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut follow);
    let mut seen = Vec::new();
    until(&lines, &mut seen, Duration::from_secs(10), |l| {
        l.contains("serving gRPC")
    });
    let first_start = started_at(&recommendation);
    let pid = inspect(&recommendation)["State"]["Pid"].as_i64().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    until(&lines, &mut seen, Duration::from_secs(30), |l| {
        l.contains("--- restarted:")
    });
    assert_eq!(
        seen.last().unwrap(),
        "recommendation | --- restarted: killed (SIGKILL), exit 137, not an OOM kill ---"
    );
    until(&lines, &mut seen, Duration::from_secs(30), |l| {
        l.contains("serving gRPC")
    });
    let serving = seen.iter().filter(|l| l.contains("serving gRPC")).count();
    assert_eq!(serving, 2, "each run's start once:\n{}", seen.join("\n"));
    let (code, stderr) = interrupt(follow);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_ne!(started_at(&recommendation), first_start);

    // `--tail 1` gives one line per service; `--since` cuts the first run away.
    let tail = demo.run(&["logs", "--tail", "1"]).success().stdout();
    assert_eq!(per_service(&tail, "recommendation").len(), 1, "{tail}");
    assert_eq!(per_service(&tail, "load-generator").len(), 1, "{tail}");
    let all = demo.run(&["logs", "recommendation"]).success().stdout();
    let since_restart = humantime::parse_rfc3339_weak(&started_at(&recommendation))
        .unwrap()
        .elapsed()
        .unwrap();
    let since = format!("{}ms", since_restart.as_millis() + 200);
    let cut = demo
        .run(&["logs", "-t", "--since", &since, "recommendation"])
        .success()
        .stdout();
    assert!(
        cut.lines().count() < all.lines().count() && cut.contains("serving gRPC"),
        "--since {since}:\n{cut}\nall:\n{all}"
    );

    // `status --watch` without a terminal: one block per interval until SIGINT.
    let mut watch = demo
        .command(&[
            "status",
            "--watch",
            "--interval",
            "1s",
            "recommendation",
            "load-generator",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let blocks = lines_of(&mut watch);
    let mut seen = Vec::new();
    for _ in 0..2 {
        until(&blocks, &mut seen, Duration::from_secs(20), |l| {
            l.starts_with("refreshed ")
        });
    }
    let headers = seen.iter().filter(|l| l.starts_with("SERVICE")).count();
    assert_eq!(headers, 2, "{}", seen.join("\n"));
    let (code, _) = interrupt(watch);
    assert_eq!(code, Some(130));

    // The leak grows its list; `restart` keeps the container and frees it.
    demo.run(&["flag", "enable", LEAK, "--warmup", "0"])
        .success();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cached_ids(&recommendation) == 0 {
        assert!(Instant::now() < deadline, "the leak's list never grew");
        std::thread::sleep(Duration::from_millis(300));
    }
    // No more traffic, so nothing refills the list after the restart.
    docker(&["stop", &demo.service_container("load-generator").unwrap()]);
    let before = started_at(&recommendation);
    let restarted = demo.run(&["restart", "recommendation"]).success().stdout();
    assert!(
        restarted.starts_with("recommendation   restarted, healthy in ")
            && restarted.contains("the leak's list held ")
            && restarted.contains(", now 0 "),
        "{restarted}"
    );
    assert_eq!(
        demo.service_container("recommendation").unwrap(),
        recommendation
    );
    assert!(started_at(&recommendation) > before);
    assert_eq!(cached_ids(&recommendation), 0);
    let status = demo.run(&["status", "--json", "recommendation"]).json();
    assert_eq!(status["services"][0]["health"], "healthy");
}

/// A compose file of two services on our image: one whose health check never passes, one that
/// exits at once.
const FAILING: &str = r#"
services:
  stuck:
    image: ${RECOMMENDATION_IMAGE:-demo/recommendation:0.1.0}
    healthcheck:
      test: ["CMD", "/recommendation", "--no-such-option"]
      interval: 1s
      timeout: 1s
      retries: 1000
    mem_limit: 64m
  quits:
    image: ${RECOMMENDATION_IMAGE:-demo/recommendation:0.1.0}
    command: ["--no-such-option"]
    mem_limit: 64m
"#;

#[test]
fn wait_exits_4_on_timeout_and_3_when_a_service_exits_and_bad_input_is_refused() {
    if !engine_available() {
        return;
    }
    crate::support::images::ensure_ours();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-compose.yaml");
    std::fs::write(&file, FAILING).unwrap();
    let demo = Demo::new("operate-wait").file(file);

    // Nothing up yet: commands that need a container say `demo up` makes it.
    demo.run(&["logs", "stuck"])
        .fails(1, "service \"stuck\" of project");
    demo.run(&["restart"]).fails(1, "`demo up` creates them");
    // Bad input: usage errors, exit 2.
    demo.run(&["logs", "stuk"])
        .fails(2, "did you mean \"stuck\"?");
    demo.run(&["wait", "quit"])
        .fails(2, "did you mean \"quits\"?");
    demo.run(&["restart", "stuk"])
        .fails(2, "did you mean \"stuck\"?");
    demo.run(&["logs", "--tail", "five"]).fails(2, "--tail");
    demo.run(&["logs", "--since", "yesterday"])
        .fails(2, "--since");
    demo.run(&["wait", "--until", "ready"]).fails(2, "--until");

    // `up` leaves both for inspection: one never healthy, one exited.
    demo.run(&["up", "stuck", "--wait-timeout", "2s"])
        .fails(1, "service \"stuck\" was not healthy after 2s");
    // It may still run when `up` looks, or have exited: `wait` tells.
    let _ = demo.run(&["up", "quits"]);

    let started = Instant::now();
    let timed_out = demo.run(&["wait", "stuck", "--timeout", "2s"]);
    timed_out.fails(4, "service \"stuck\" was not healthy within --timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Running is enough for `--until running`.
    demo.run(&["wait", "stuck", "--until", "running", "--timeout", "5s"])
        .success();

    let exited = demo.run(&["wait", "quits", "--timeout", "20s", "--json"]);
    assert_eq!(exited.code(), Some(3), "{}", exited.stderr());
    assert!(
        exited
            .stderr()
            .contains("service \"quits\" exited with code"),
        "{}",
        exited.stderr()
    );
    let states = exited.json();
    assert_eq!(states[0]["service"], "quits");
    assert_eq!(states[0]["state"], "exited");
    assert_eq!(states[0]["ready"], false);

    // An exited container's logs end with how it ended when followed.
    let followed = demo.run(&["logs", "-f", "quits"]).success().stdout();
    assert!(
        followed.contains("quits | recommendation: unknown argument"),
        "{followed}"
    );
    assert!(
        followed.trim_end().ends_with("--- exited: exit 2 ---"),
        "{followed}"
    );
    assert!(!followed.contains('\x1b'), "no colour without a terminal");

    // On a terminal (util-linux `script` gives it one) the prefix is coloured, unless NO_COLOR.
    // `wrap` runs before `demo` (a `timeout` that sends the Ctrl-C, say).
    let on_terminal = |no_colour: bool, wrap: &str, args: &str| {
        let line = format!(
            "{wrap} {} --project {} --file {} {args}",
            env!("CARGO_BIN_EXE_demo"),
            demo.project,
            dir.path().join("docker-compose.yaml").display()
        );
        let mut script = std::process::Command::new("script");
        script
            .args(["-qec", &line, "/dev/null"])
            .env_remove("NO_COLOR");
        if no_colour {
            script.env("NO_COLOR", "1");
        }
        let output = crate::support::output_within(&mut script, Duration::from_secs(60));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let coloured = on_terminal(false, "", "logs quits");
    assert!(
        coloured.contains("\x1b[36mquits |\x1b[0m recommendation: unknown argument"),
        "{coloured:?}"
    );
    let plain = on_terminal(true, "", "logs quits");
    assert!(
        plain.contains("quits | recommendation: unknown argument"),
        "{plain:?}"
    );
    assert!(!plain.contains('\x1b'), "{plain:?}");

    // `status --watch` on a terminal redraws in place: back up over the block, clear, draw.
    // `timeout` runs it in the foreground, where Ctrl-C is not ignored as a background job's is.
    let watched = on_terminal(
        false,
        "timeout -k 10 -s INT 3",
        "status --watch --interval 500ms",
    );
    let block = watched
        .split("\x1b[J")
        .nth(1)
        .expect("the screen is cleared before each block");
    let block = block.split('\x1b').next().unwrap();
    let lines = block.lines().count();
    assert!(
        watched.contains(&format!("\x1b[{lines}A\x1b[J")),
        "{watched:?}"
    );
}

#[test]
fn doctor_reports_a_held_port_absent_images_and_an_engine_that_does_not_answer() {
    if !engine_available() {
        return;
    }
    crate::support::images::ensure_ours();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let held_port = held.local_addr().unwrap().port().to_string();
    let present = "demo/recommendation:0.1.0";
    let demo = Demo::new("operate-doctor")
        .free_ports()
        .env("PROMETHEUS_PORT", &held_port)
        .env(
            "RECOMMENDATION_IMAGE",
            "demo-test/absent-recommendation:none",
        )
        .env("PROMETHEUS_IMAGE", "demo-test/absent-prometheus:none")
        .env("COLLECTOR_IMAGE", present)
        .env("JAEGER_IMAGE", present)
        .env("GRAFANA_IMAGE", present)
        .env("LOAD_GENERATOR_IMAGE", "demo/load-generator:0.1.0");
    let run = demo.run(&["doctor", "--json"]);
    assert_eq!(run.code(), Some(1), "{}", run.stdout());
    let report = run.json();
    assert_eq!(report["ok"], false);
    let checks = report["checks"].as_array().unwrap();
    let check = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {report:#}"))
            .clone()
    };
    assert_eq!(check("engine")["status"], "ok");
    assert_eq!(check("cgroup")["status"], "ok");
    let port = check(&format!("port 127.0.0.1:{held_port}"));
    assert_eq!(port["status"], "fail");
    assert!(
        port["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("held by pid {}", std::process::id())),
        "{port}"
    );
    assert!(
        port["fix"].as_str().unwrap().contains("PROMETHEUS_PORT"),
        "{port}"
    );
    assert_eq!(check("image recommendation")["status"], "warn");
    assert_eq!(check("image load-generator")["status"], "ok");
    let prometheus = check("image prometheus");
    assert_eq!(prometheus["status"], "fail");
    assert!(
        prometheus["detail"]
            .as_str()
            .unwrap()
            .contains("no registry answers"),
        "{prometheus}"
    );
    // The shape of the report: names in order, each with status, detail and fix.
    let shape: Vec<String> = checks
        .iter()
        .map(|c| {
            let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort();
            let name = c["name"].as_str().unwrap();
            let name = name.split(" 127.0.0.1:").next().unwrap();
            format!("{name}: {}", keys.join(","))
        })
        .collect();
    insta::assert_snapshot!(shape.join("\n"), @r"
    engine: detail,fix,name,status
    platform: detail,fix,name,status
    memory: detail,fix,name,status
    cgroup: detail,fix,name,status
    disk: detail,fix,name,status
    port: detail,fix,name,status
    port: detail,fix,name,status
    port: detail,fix,name,status
    port: detail,fix,name,status
    port: detail,fix,name,status
    port: detail,fix,name,status
    image jaeger: detail,fix,name,status
    image otel-collector: detail,fix,name,status
    image prometheus: detail,fix,name,status
    image grafana: detail,fix,name,status
    image recommendation: detail,fix,name,status
    image load-generator: detail,fix,name,status
    ");

    // With the port and images in order, nothing fails.
    drop(held);
    let fine = demo
        .env("RECOMMENDATION_IMAGE", present)
        .env("PROMETHEUS_IMAGE", present)
        .run(&["doctor"]);
    assert_eq!(fine.code(), Some(0), "{}", fine.stdout());
    assert!(
        fine.stdout().contains("ready for `demo up`"),
        "{}",
        fine.stdout()
    );

    // An engine that does not answer: that check fails, the host's own checks still run.
    let closed = free_port();
    let unreachable = Demo::new("operate-doctor-engine")
        .env("DOCKER_HOST", &format!("tcp://127.0.0.1:{closed}"))
        .run(&["doctor", "--json"]);
    assert_eq!(unreachable.code(), Some(1));
    let report = unreachable.json();
    let engine = &report["checks"][0];
    assert_eq!(engine["name"], "engine");
    assert_eq!(engine["status"], "fail");
    assert!(
        engine["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("tcp://127.0.0.1:{closed}")),
        "{engine}"
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("port ")),
        "{report:#}"
    );
}

#[test]
fn logs_follow_marks_an_oom_kill_between_the_runs() {
    if !engine_available() {
        return;
    }
    // At 24 MiB and 20 calls/s the leak is OOM-killed seconds after the flag goes on.
    let demo = Demo::offline("operate-oom")
        .env("RECOMMENDATION_MEMORY_LIMIT", "24m")
        .env("LOAD_GENERATOR_RATE", "20");
    demo.run(&["up", "--no-deps", "recommendation", "load-generator"])
        .success();
    let mut follow = demo
        .command(&["logs", "--follow", "recommendation"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut follow);
    let mut seen = Vec::new();
    until(&lines, &mut seen, Duration::from_secs(10), |l| {
        l.contains("serving gRPC")
    });
    demo.run(&["flag", "enable", LEAK, "--warmup", "0"])
        .success();
    until(&lines, &mut seen, Duration::from_secs(90), |l| {
        l.contains("--- restarted:")
    });
    assert_eq!(
        seen.last().unwrap(),
        "recommendation | --- restarted: OOM kill, exit 137 ---"
    );
    until(&lines, &mut seen, Duration::from_secs(30), |l| {
        l.contains("serving gRPC")
    });
    let (code, stderr) = interrupt(follow);
    assert_eq!(code, Some(130), "{stderr}");
    let container = demo.service_container("recommendation").unwrap();
    assert_eq!(inspect(&container)["State"]["OOMKilled"], true);
}

/// Two services without a Docker health check that name a ready URL: one that answers (the
/// service's own admin port, published), one where nothing listens.
const READY_URLS: &str = r#"
services:
  answers:
    image: ${RECOMMENDATION_IMAGE:-demo/recommendation:0.1.0}
    ports:
      - "127.0.0.1:${ADMIN_PORT}:9002"
    labels:
      dev.demo.ready-url: "http://127.0.0.1:${ADMIN_PORT}/state"
    mem_limit: 64m
  silent:
    image: ${RECOMMENDATION_IMAGE:-demo/recommendation:0.1.0}
    labels:
      dev.demo.ready-url: "http://127.0.0.1:${CLOSED_PORT}/"
    mem_limit: 64m
"#;

#[test]
fn status_and_wait_read_readiness_from_the_ready_url() {
    if !engine_available() {
        return;
    }
    crate::support::images::ensure_ours();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-compose.yaml");
    std::fs::write(&file, READY_URLS).unwrap();
    let admin_port = free_port().to_string();
    let demo = Demo::new("operate-ready-url")
        .file(file.clone())
        .env("ADMIN_PORT", &admin_port)
        .env("CLOSED_PORT", &free_port().to_string());

    let up = demo.run(&["up", "answers"]).success();
    assert!(up.stdout().contains("answers"), "{}", up.stdout());
    demo.run(&["up", "silent", "--wait-timeout", "2s"])
        .fails(1, "service \"silent\" was not ready after 2s");

    let status = demo.run(&["status", "--json"]);
    assert_eq!(status.code(), Some(1), "{}", status.stdout());
    let status = status.json();
    let health = |service: &str| {
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == service)
            .unwrap()["health"]
            .clone()
    };
    assert_eq!(health("answers"), "healthy");
    assert_eq!(health("silent"), "unhealthy");
    // The engine itself knows no health for either.
    let id = demo.service_container("answers").unwrap();
    assert!(inspect(&id)["State"]["Health"].is_null());

    demo.run(&["wait", "answers", "--timeout", "5s"]).success();
    demo.run(&["wait", "silent", "--timeout", "2s"])
        .fails(4, "service \"silent\" was not ready within --timeout");
    demo.run(&["wait", "silent", "--until", "running", "--timeout", "5s"])
        .success();

    // `doctor` names who holds a published port: this project itself, or another demo project.
    let port_check = |demo: &Demo| {
        let report = demo.run(&["doctor", "--json"]).json();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == format!("port 127.0.0.1:{admin_port}"))
            .unwrap()
            .clone()
    };
    let own = port_check(&demo);
    assert_eq!(own["status"], "ok", "{own}");
    assert_eq!(
        own["detail"],
        "published by this project's answers (running)"
    );
    let other = Demo::new("operate-ready-url-other")
        .file(file)
        .env("ADMIN_PORT", &admin_port)
        .env("CLOSED_PORT", &free_port().to_string());
    let held = port_check(&other);
    assert_eq!(held["status"], "fail", "{held}");
    assert_eq!(
        held["detail"],
        format!("held by demo project {}'s answers (running)", demo.project)
    );
    assert!(
        held["fix"].as_str().unwrap().starts_with(&format!(
            "`demo -p {} down`, or set ADMIN_PORT",
            demo.project
        )),
        "{held}"
    );
}
