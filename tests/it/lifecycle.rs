//! `build`, `up`, `status`, `down` against the real engine, with the services that run offline.
use crate::support::{Demo, Run, docker, docker_quiet, engine_available};

/// The services whose images can be had here: ours, and Prometheus from Debian's binary.
const OFFLINE: [&str; 3] = ["prometheus", "recommendation", "load-generator"];

fn up_offline(demo: &Demo) -> crate::support::Run {
    let mut args = vec!["up", "--no-deps", "--wait-timeout", "90s"];
    args.extend(OFFLINE);
    demo.run(&args)
}

#[test]
fn up_is_idempotent_repairs_one_container_and_down_removes_everything() {
    if !engine_available() {
        return;
    }
    let demo = Demo::offline("lifecycle");

    let up = up_offline(&demo).success();
    for service in OFFLINE {
        assert!(
            up.stdout()
                .lines()
                .any(|l| l.starts_with(service) && l.contains("healthy")),
            "{}",
            up.stdout()
        );
    }
    let port = demo.get_env("PROMETHEUS_PORT").unwrap();
    assert!(
        up.stdout().contains(&format!("127.0.0.1:{port}")),
        "prometheus URL: {}",
        up.stdout()
    );

    let mut status_args = vec!["status", "--json"];
    status_args.extend(OFFLINE);
    let status = demo.run(&status_args).success().json();
    assert_eq!(status["project"], demo.project.as_str());
    assert_eq!(status["healthy"], true);
    for row in status["services"].as_array().unwrap() {
        assert_eq!(row["state"], "running", "{row}");
        assert_eq!(row["health"], "healthy", "{row}");
        assert!(row["memory_bytes"].as_u64().unwrap() > 0, "{row}");
        assert!(row["memory_limit_bytes"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(
            row["container"],
            format!("{}-{}-1", demo.project, row["service"].as_str().unwrap())
        );
    }
    // The whole file includes services not started here: reported missing, exit code 1.
    let whole = demo.run(&["status", "--json"]);
    assert_eq!(whole.code(), Some(1));
    assert!(
        whole.json()["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["state"] == "missing")
    );

    // Nothing changed: a second `up` touches no container.
    let ids = demo.container_ids();
    assert_eq!(ids.len(), 3);
    up_offline(&demo).success();
    assert_eq!(demo.container_ids(), ids, "a second up recreated something");

    // A container removed behind demo's back: only that one comes back.
    let removed = demo.service_container("recommendation").unwrap();
    docker(&["rm", "-f", &removed]);
    up_offline(&demo).success();
    let after = demo.container_ids();
    assert!(!after.contains(&removed));
    assert_eq!(
        after.iter().filter(|id| ids.contains(id)).count(),
        2,
        "the other two were kept"
    );

    // A changed environment recreates that service alone.
    let before_change = demo.container_ids();
    let load = demo.service_container("load-generator").unwrap();
    let mut args = vec!["up", "--no-deps"];
    args.extend(OFFLINE);
    Run(demo
        .command(&args)
        .env("LOAD_GENERATOR_RATE", "7")
        .output()
        .unwrap())
    .success();
    let after_change = demo.container_ids();
    assert!(
        !after_change.contains(&load),
        "load-generator kept its old container"
    );
    assert_eq!(
        after_change
            .iter()
            .filter(|id| before_change.contains(id))
            .count(),
        2
    );

    demo.run(&["down"]).success();
    assert!(demo.container_ids().is_empty());
    let left = demo.labelled_objects();
    assert!(
        left.iter().all(|o| o.starts_with("volume ")),
        "down left {left:?}"
    );
    demo.run(&["down", "--volumes"]).success();
    assert!(demo.labelled_objects().is_empty());
    let nothing = demo.run(&["down"]).success();
    assert!(
        nothing.stdout().contains("nothing to remove"),
        "{}",
        nothing.stdout()
    );
}

#[test]
fn decoys_without_our_labels_survive_up_and_down() {
    if !engine_available() {
        return;
    }
    let demo = Demo::offline("decoys");
    let p = demo.project.clone();
    let project_label = format!("com.docker.compose.project={p}");
    let image = crate::support::images::prometheus();
    let decoy_container = format!("{p}-decoy-1");
    let decoy_network = format!("{p}_decoy");
    let decoy_volume = format!("{p}_flagd_decoy");
    docker(&[
        "create",
        "--name",
        &decoy_container,
        "--label",
        &project_label,
        &image,
    ]);
    docker(&[
        "network",
        "create",
        "--label",
        &project_label,
        &decoy_network,
    ]);
    docker(&["volume", "create", "--label", &project_label, &decoy_volume]);

    up_offline(&demo).success();
    demo.run(&["down", "--volumes"]).success();

    docker(&["container", "inspect", &decoy_container]);
    docker(&["network", "inspect", &decoy_network]);
    docker(&["volume", "inspect", &decoy_volume]);
    assert!(demo.labelled_objects().is_empty());
    docker_quiet(&["rm", "-f", &decoy_container]);
    docker_quiet(&["network", "rm", &decoy_network]);
    docker_quiet(&["volume", "rm", &decoy_volume]);
}

#[test]
fn a_container_named_like_ours_is_a_clash_never_a_removal() {
    if !engine_available() {
        return;
    }
    let demo = Demo::offline("clash");
    let name = format!("{}-prometheus-1", demo.project);
    let decoy = docker(&[
        "create",
        "--name",
        &name,
        &crate::support::images::prometheus(),
    ]);

    demo.run(&["up", "--no-deps", "prometheus"]).fails(
        1,
        &format!("a container named \"{name}\" already exists and was not created by demo"),
    );
    assert_eq!(
        docker(&["inspect", "--format", "{{.Id}}", &name]),
        decoy,
        "the decoy was replaced"
    );
    assert!(
        demo.labelled_objects().is_empty(),
        "left behind: {:?}",
        demo.labelled_objects()
    );
    docker_quiet(&["rm", "-f", &name]);
}

#[test]
fn a_taken_port_names_port_service_and_variable_and_leaves_nothing() {
    if !engine_available() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let demo = Demo::offline("port").env("PROMETHEUS_PORT", &port);

    let run = demo.run(&["up", "--no-deps", "prometheus", "recommendation"]);
    run.fails(
        1,
        &format!("host port 127.0.0.1:{port} for service \"prometheus\" is already taken"),
    )
    .fails(1, "PROMETHEUS_PORT");
    assert!(
        demo.labelled_objects().is_empty(),
        "left behind: {:?}",
        demo.labelled_objects()
    );
    drop(listener);
}

#[test]
fn two_projects_coexist_and_down_of_one_leaves_the_other() {
    if !engine_available() {
        return;
    }
    let one = Demo::offline("one");
    let two = Demo::offline("two");
    one.run(&["up", "--no-deps", "prometheus"]).success();
    two.run(&["up", "--no-deps", "prometheus"]).success();
    let kept = two.container_ids();
    assert_eq!(kept.len(), 1);

    one.run(&["down"]).success();
    assert!(one.container_ids().is_empty());
    assert_eq!(two.container_ids(), kept);
    two.run(&["status", "--json", "prometheus"]).success();
}

#[test]
fn an_image_that_cannot_be_had_says_no_registry_answered() {
    if !engine_available() {
        return;
    }
    let demo =
        Demo::offline("noimage").env("PROMETHEUS_IMAGE", "registry.invalid/nobody/prometheus:0");
    demo.run(&["up", "--no-deps", "prometheus"])
        .fails(1, "image \"registry.invalid/nobody/prometheus:0\" for service \"prometheus\" is not in the engine and no registry answered")
        .fails(1, "PROMETHEUS_IMAGE");
    assert!(demo.labelled_objects().is_empty());
}

#[test]
fn an_unreachable_engine_is_one_line_and_exit_1() {
    let demo = Demo::new("noengine").env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let run = demo.run(&["status"]).fails(
        1,
        "cannot reach the Docker engine at unix:///nonexistent/docker.sock",
    );
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
}

#[test]
fn a_ready_url_is_waited_for_and_a_wrong_one_fails_with_its_answer() {
    if !engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-compose.yaml");
    std::fs::write(
        &file,
        "services:\n  web:\n    image: ${PROMETHEUS_IMAGE}\n    ports: [\"127.0.0.1:${WEB_PORT}:9090\"]\n    \
         labels:\n      dev.demo.ready-url: \"http://127.0.0.1:${WEB_PORT}${READY_PATH:-/-/ready}\"\n    mem_limit: 100m\n",
    )
    .unwrap();
    let port = crate::support::free_port().to_string();
    let demo = Demo::offline("ready-url").file(file).env("WEB_PORT", &port);
    let up = demo.run(&["up"]).success();
    assert!(
        up.stderr()
            .contains(&format!("web: waiting for http://127.0.0.1:{port}/-/ready")),
        "{}",
        up.stderr()
    );
    demo.run(&["down"]).success();

    let wrong = Run(demo
        .command(&["up", "--wait-timeout", "3s"])
        .env("READY_PATH", "/nope")
        .output()
        .unwrap());
    wrong.fails(1, &format!("service \"web\" was not ready after 3s: http://127.0.0.1:{port}/nope answered 404 Not Found"));
}
