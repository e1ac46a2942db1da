//! `demo` as an installed tool: the embedded stack from a directory with no compose files,
//! configs copied into containers (no bind mount), `demo init`, the executable alone producing
//! our images, and an engine reached over TCP.
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use crate::support::{self, Demo, docker, docker_quiet, engine_available, images};

/// A stand-in for the collector, Jaeger and Grafana, which no registry here serves: busybox's
/// httpd answers 200 on 13133 (`/`, `/status`) and 3000 (`/api/health`, the dashboard's
/// `/api/dashboards/uid/demo-recommendation`), the addresses the compose file's health checks
/// and ready URL ask, and ignores the command the file passes.
fn answering_image() -> String {
    static BUILT: OnceLock<String> = OnceLock::new();
    const TAG: &str = "demo-test/answering:busybox";
    BUILT
        .get_or_init(|| {
            let mut tar = tar::Builder::new(Vec::new());
            let busybox = std::fs::read(images::busybox()).unwrap();
            images::append(&mut tar, "rootfs/bin/busybox", &busybox, 0o755);
            images::busybox_applets(&mut tar, &["sh", "httpd", "sleep", "wget"]);
            for page in [
                "index.html",
                "status",
                "api/health",
                "api/dashboards/uid/demo-recommendation",
            ] {
                images::append(&mut tar, &format!("rootfs/www/{page}"), b"ok\n", 0o644);
            }
            let dockerfile = "FROM scratch\nCOPY rootfs/ /\nUSER 65534:65534\n\
                ENTRYPOINT [\"/bin/sh\", \"-c\", \"httpd -p 13133 -h /www && httpd -p 3000 -h /www && exec sleep 86400\", \"stand-in\"]\n";
            images::append(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644);
            images::build_stand_in(TAG, tar.into_inner().unwrap());
            TAG.to_string()
        })
        .clone()
}

/// The bytes, mode and owner of a file in a container, read with `docker cp` (a tar).
fn file_in(container: &str, path: &str) -> (Vec<u8>, u32, u64) {
    let out = Command::new("docker")
        .args(["cp", &format!("{container}:{path}"), "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker cp {container}:{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let (mode, uid) = (
        entry.header().mode().unwrap(),
        entry.header().uid().unwrap(),
    );
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    (bytes, mode, uid)
}

/// Every config of `service` in the stack is in its container, byte for byte, mode 0444,
/// owned by root; and the container has no bind mount.
fn assert_configs_inside(demo: &Demo, service: &str, expected: &[(&str, &[u8])]) {
    let id = demo
        .service_container(service)
        .expect("the container exists");
    let mounts = support::inspect(&id)["Mounts"].clone();
    for mount in mounts.as_array().unwrap() {
        assert_ne!(mount["Type"], "bind", "{service} has a bind mount: {mount}");
    }
    for (target, bytes) in expected {
        let (inside, mode, uid) = file_in(&id, target);
        assert_eq!(
            &inside, bytes,
            "{service}:{target} differs from the stack's file"
        );
        assert_eq!((mode & 0o7777, uid), (0o444, 0), "{service}:{target}");
    }
}

fn stack_file(path: &str) -> &'static [u8] {
    demo::stack::file(Path::new(path)).unwrap_or_else(|| panic!("{path} is not embedded"))
}

#[test]
fn the_embedded_stack_runs_from_a_directory_without_compose_files() {
    if !engine_available() {
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    let demo = Demo::offline("install_embedded")
        .embedded()
        .in_dir(cwd.path());
    let services = ["prometheus", "recommendation", "load-generator"];
    let mut up = vec!["up", "--no-deps", "--wait-timeout", "90s"];
    up.extend(services);
    let out = demo.run(&up).success();
    for service in services {
        assert!(
            out.stdout()
                .lines()
                .any(|l| l.starts_with(service) && l.contains("healthy")),
            "{}",
            out.stdout()
        );
    }
    assert_configs_inside(
        &demo,
        "prometheus",
        &[(
            "/etc/prometheus/prometheus.yml",
            stack_file("prometheus/prometheus.yml"),
        )],
    );
    for service in ["recommendation", "load-generator"] {
        assert_configs_inside(&demo, service, &[]);
    }
    let mut status = vec!["status", "--json"];
    status.extend(services);
    demo.run(&status).success();
    demo.run(&["down", "--volumes"]).success();
    assert_eq!(demo.labelled_objects(), Vec::<String>::new());
}

#[test]
fn every_config_of_the_shipped_stack_is_copied_into_its_container() {
    if !engine_available() {
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    let answering = answering_image();
    // Our images are not needed here: no `Demo::offline`, only free ports.
    let demo = Demo::new("install_configs")
        .embedded()
        .in_dir(cwd.path())
        .free_ports()
        .env("COLLECTOR_IMAGE", &answering)
        .env("JAEGER_IMAGE", &answering)
        .env("GRAFANA_IMAGE", &answering);
    demo.run(&[
        "up",
        "--no-deps",
        "--wait-timeout",
        "90s",
        "otel-collector",
        "jaeger",
        "grafana",
    ])
    .success();
    assert_configs_inside(
        &demo,
        "otel-collector",
        &[(
            "/etc/otelcol/config.yaml",
            stack_file("otel-collector/config.yaml"),
        )],
    );
    assert_configs_inside(
        &demo,
        "jaeger",
        &[("/etc/jaeger/config.yaml", stack_file("jaeger/config.yaml"))],
    );
    assert_configs_inside(
        &demo,
        "grafana",
        &[
            (
                "/etc/grafana/grafana.ini",
                stack_file("grafana/grafana.ini"),
            ),
            (
                "/etc/grafana/provisioning/datasources/datasources.yaml",
                stack_file("grafana/provisioning/datasources/datasources.yaml"),
            ),
            (
                "/etc/grafana/provisioning/dashboards/demo.yaml",
                stack_file("grafana/provisioning/dashboards/demo.yaml"),
            ),
            (
                "/var/lib/grafana/dashboards/recommendation.json",
                stack_file("dashboards/recommendation.json"),
            ),
            (
                "/var/lib/grafana/dashboards/collector.json",
                stack_file("dashboards/collector.json"),
            ),
        ],
    );
    // Parent directories the image lacked were made 0755 and owned by root, so any user reads.
    let id = demo.service_container("grafana").unwrap();
    let out = Command::new("docker")
        .args(["cp", &format!("{id}:/etc/grafana/provisioning"), "-"])
        .output()
        .unwrap();
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let dir = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(
        (
            dir.header().mode().unwrap() & 0o7777,
            dir.header().uid().unwrap()
        ),
        (0o755, 0)
    );
}

#[test]
fn init_writes_a_stack_that_compose_accepts_and_an_edit_recreates_only_its_service() {
    if !engine_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stack");
    let init = Demo::new("install_init").in_dir(tmp.path()).embedded();
    let out = init.run(&["init", dir.to_str().unwrap()]).success();
    let file = dir.join("docker-compose.yaml");
    assert!(
        out.stdout()
            .contains(&format!("demo --file {} up", file.display())),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout().contains("docker compose -f"),
        "{}",
        out.stdout()
    );
    // A second init overwrites nothing.
    init.run(&["init", dir.to_str().unwrap()])
        .fails(2, "already holds docker-compose.yaml");
    let config = Command::new("docker-compose")
        .args(["-f", file.to_str().unwrap(), "config", "-q"])
        .output()
        .expect("docker-compose runs");
    assert!(
        config.status.success(),
        "docker-compose rejects the stack: {}",
        String::from_utf8_lossy(&config.stderr)
    );

    let demo = Demo::offline("install_init").file(file.clone());
    let up = ["up", "--no-deps", "prometheus", "recommendation"];
    demo.run(&up).success();
    let before = (
        demo.service_container("prometheus").unwrap(),
        demo.service_container("recommendation").unwrap(),
    );
    let prometheus_yml = dir.join("prometheus/prometheus.yml");
    let mut edited = std::fs::read(&prometheus_yml).unwrap();
    edited.extend_from_slice(b"# edited by the test\n");
    std::fs::write(&prometheus_yml, &edited).unwrap();
    let out = demo.run(&up).success();
    let after = (
        demo.service_container("prometheus").unwrap(),
        demo.service_container("recommendation").unwrap(),
    );
    assert_ne!(
        before.0,
        after.0,
        "prometheus keeps its container:\n{}",
        out.stderr()
    );
    assert_eq!(
        before.1,
        after.1,
        "recommendation was recreated:\n{}",
        out.stderr()
    );
    assert!(
        out.stderr().contains("prometheus: recreated"),
        "{}",
        out.stderr()
    );
    assert_configs_inside(
        &demo,
        "prometheus",
        &[("/etc/prometheus/prometheus.yml", &edited)],
    );
}

#[test]
fn a_config_target_that_is_a_directory_in_the_image_leaves_nothing() {
    if !engine_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    demo::stack::init(tmp.path(), false).unwrap();
    let file = tmp.path().join("docker-compose.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "target: /etc/prometheus/prometheus.yml",
        "target: /etc/prometheus",
    );
    std::fs::write(&file, text).unwrap();
    let demo = Demo::offline("install_dir_target").file(file);
    demo.run(&["up", "--no-deps", "prometheus"]).fails(
        1,
        "config target /etc/prometheus cannot be written in image demo-test/prometheus:debian: it is a directory in the image",
    );
    assert_eq!(demo.labelled_objects(), Vec::<String>::new());
}

#[test]
fn a_config_into_a_read_only_container_is_refused_and_leaves_nothing() {
    if !engine_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.txt"), "a\n").unwrap();
    let file = tmp.path().join("docker-compose.yaml");
    std::fs::write(
        &file,
        format!(
            "services:\n  a:\n    image: {}\n    read_only: true\n    mem_limit: 32m\n    configs:\n      - {{source: c, target: /etc/app/a.txt}}\nconfigs:\n  c:\n    file: ./a.txt\n",
            answering_image()
        ),
    )
    .unwrap();
    let demo = Demo::new("install_read_only").file(file);
    demo.run(&["up"]).fails(
        1,
        "service \"a\": config target /etc/app/a.txt cannot be written in image demo-test/answering:busybox: container rootfs is marked read-only; remove read_only: true",
    );
    assert_eq!(demo.labelled_objects(), Vec::<String>::new());
}

#[test]
fn bad_files_and_config_sources_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = Demo::new("install_bad").file(tmp.path().to_path_buf());
    demo.run(&["status"]).fails(
        1,
        &format!(
            "cannot read compose file {}: Is a directory; pass --file",
            tmp.path().display()
        ),
    );
    let missing = tmp.path().join("missing.yaml");
    Demo::new("install_bad")
        .file(missing.clone())
        .run(&["up"])
        .fails(
            1,
            &format!("cannot read compose file {}", missing.display()),
        );
    let file = tmp.path().join("docker-compose.yaml");
    std::fs::write(
        &file,
        "services:\n  a:\n    image: a\n    configs: [c]\nconfigs:\n  c:\n    file: ./absent.yml\n",
    )
    .unwrap();
    Demo::new("install_bad").file(file.clone()).run(&["up"]).fails(
        1,
        &format!(
            "config \"c\": cannot read {}: No such file or directory; fix the path in file: or create the file",
            tmp.path().join("absent.yml").display()
        ),
    );
    std::fs::write(&file, "services:\n  a:\n    image: a\n    configs: [c]\n").unwrap();
    Demo::new("install_bad")
        .file(file)
        .run(&["up"])
        .fails(1, "service \"a\" uses config \"c\", which is not declared");
}

/// Removes the per-test image tags whatever the test did (never the shared `demo/*` tags).
struct Tags(Vec<String>);

impl Drop for Tags {
    fn drop(&mut self) {
        for tag in &self.0 {
            docker_quiet(&["rmi", tag]);
        }
    }
}

#[test]
fn the_executable_alone_makes_our_images_and_they_become_healthy() {
    if !engine_available() {
        return;
    }
    let alone = tempfile::tempdir().unwrap();
    let exe = alone.path().join("demo");
    std::fs::copy(env!("CARGO_BIN_EXE_demo"), &exe).unwrap();
    let pid = std::process::id();
    let tags = Tags(vec![
        format!("demo-test/recommendation:alone-{pid}"),
        format!("demo-test/load-generator:alone-{pid}"),
    ]);
    for tag in &tags.0 {
        docker_quiet(&["rmi", tag]);
    }
    let demo = Demo::new("install_alone")
        .exe(&exe)
        .embedded()
        .in_dir(alone.path())
        .env("RECOMMENDATION_IMAGE", &tags.0[0])
        .env("LOAD_GENERATOR_IMAGE", &tags.0[1]);
    let started = Instant::now();
    let out = demo
        .run(&["up", "--no-deps", "recommendation", "load-generator"])
        .success();
    eprintln!(
        "from no image of ours to healthy recommendation and load-generator: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.stderr().contains(&format!("packed {}", tags.0[0])),
        "{}",
        out.stderr()
    );
    for (tag, program) in tags.0.iter().zip(["/recommendation", "/load-generator"]) {
        let config = support::inspect(tag)["Config"].clone();
        assert_eq!(config["User"], "65532:65532", "{tag}");
        assert_eq!(config["Entrypoint"], serde_json::json!([program]), "{tag}");
        assert_eq!(config["Labels"]["dev.demo.created-by"], "demo", "{tag}");
    }
    // The image is the service: it answers its own health check and state under its name.
    let id = demo.service_container("recommendation").unwrap();
    let state = docker(&["exec", &id, "/recommendation", "--state"]);
    let state: serde_json::Value = serde_json::from_str(&state).expect("--state prints JSON");
    assert!(state.is_object(), "{state}");
    // The packed flag file is read from the volume and can be edited, and the service takes it.
    demo.run(&[
        "flag",
        "enable",
        "recommendationServiceCacheFailure",
        "--warmup",
        "0",
    ])
    .success();
}

/// A TCP listener on 127.0.0.1 that relays every connection to the local engine's socket: an
/// engine that shares no file system with `demo`, as far as `demo` can tell.
fn tcp_relay() -> u16 {
    use std::os::unix::net::UnixStream;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else {
                continue;
            };
            let (mut client_in, mut engine_in) =
                (client.try_clone().unwrap(), engine.try_clone().unwrap());
            let (mut client_out, mut engine_out) = (client, engine);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut engine_out);
                let _ = engine_out.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut engine_in, &mut client_out);
                let _ = client_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

#[test]
fn an_engine_over_tcp_runs_the_stack_with_no_host_file() {
    if !engine_available() {
        return;
    }
    let port = tcp_relay();
    let cwd = tempfile::tempdir().unwrap();
    let demo = Demo::offline("install_tcp")
        .embedded()
        .in_dir(cwd.path())
        .env("DOCKER_HOST", &format!("tcp://127.0.0.1:{port}"));
    demo.run(&["up", "--no-deps", "prometheus", "recommendation"])
        .success();
    assert_configs_inside(
        &demo,
        "prometheus",
        &[(
            "/etc/prometheus/prometheus.yml",
            stack_file("prometheus/prometheus.yml"),
        )],
    );
    demo.run(&["status", "prometheus", "recommendation"])
        .success();
    demo.run(&["down", "--volumes"]).success();
    assert_eq!(demo.labelled_objects(), Vec::<String>::new());
}
