//! Bad input, caught before the engine is touched: one line naming cause and fix, the right
//! exit code (2 for what was typed, 1 for a bad file), and nothing created.
use std::path::PathBuf;

use crate::support::{Demo, compose_file};

/// A compose file in a temporary directory (kept alive by the returned guard).
fn compose(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker-compose.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A project no engine holds, so `Drop`'s clean-up has nothing to do: these runs never get
/// as far as the engine.
fn offline_demo(test: &str) -> Demo {
    Demo::new(test).env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
}

#[test]
fn unknown_service_is_a_usage_error_with_the_closest_name() {
    offline_demo("unknown")
        .run(&["up", "recomendation"])
        .fails(2, "did you mean \"recommendation\"");
}

#[test]
fn invalid_project_name_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["--project", "Bad Name!", "status"])
        .output()
        .unwrap();
    crate::support::Run(out).fails(2, "Bad Name!");
}

#[test]
fn invalid_duration_is_a_usage_error() {
    let run = offline_demo("duration").run(&["up", "--wait-timeout", "soon"]);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(run.stderr().contains("90s"), "{}", run.stderr());
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let (_dir, path) = compose("services:\n  a:\n    image: x\n   bad: [\n");
    let run = offline_demo("yaml").file(path.clone()).run(&["status"]);
    let line = run.fails(1, &format!("{}:", path.display())).stderr();
    assert!(
        line.contains(":4:") || line.contains(":5:"),
        "no line number: {line}"
    );
}

#[test]
fn cyclic_depends_on_is_rejected() {
    let text = "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n";
    let (_dir, path) = compose(text);
    offline_demo("cycle")
        .file(path)
        .run(&["up"])
        .fails(1, "cycle");
}

#[test]
fn required_variable_unset_names_the_variable() {
    let (_dir, path) = compose("services:\n  a:\n    image: ${A_IMAGE:?set A_IMAGE to an image}\n");
    offline_demo("required")
        .file(path)
        .run(&["up"])
        .fails(1, "A_IMAGE");
}

#[test]
fn a_missing_compose_file_says_how_to_point_at_one() {
    offline_demo("missing")
        .file(PathBuf::from("/nonexistent/docker-compose.yaml"))
        .run(&["up"])
        .fails(1, "--file");
}

#[test]
fn an_unsupported_key_names_key_and_service() {
    let (_dir, path) = compose("services:\n  a:\n    image: x\n    privileged: true\n");
    offline_demo("key")
        .file(path)
        .run(&["up"])
        .fails(1, "privileged")
        .fails(1, "\"a\"");
}

#[test]
fn the_real_compose_file_loads() {
    // Every other command reads it: a parse error here would break them all.
    assert!(compose_file().exists());
    let run = offline_demo("real").run(&["up", "nope"]);
    run.fails(2, "unknown service \"nope\"");
}

#[test]
fn completions_are_generated() {
    let run = offline_demo("completions")
        .run(&["completions", "bash"])
        .success();
    assert!(run.stdout().contains("demo"));
}

#[test]
fn an_unknown_diagnose_source_is_a_usage_error_listing_the_sources() {
    let run = offline_demo("sources")
        .run(&["diagnose", "--sources", "engine,grafana"])
        .fails(2, "invalid value 'grafana' for '--sources");
    assert!(
        run.stderr()
            .contains("possible values: engine, prometheus, jaeger, state"),
        "{}",
        run.stderr()
    );
}

/// `--file` goes anywhere on the line, `-f` before the subcommand (after it, `logs -f` is
/// --follow); either beats `DEMO_FILE`, and the two together are a usage error.
#[test]
fn the_file_is_taken_from_either_place_and_beats_demo_file() {
    let (_dir, good) = compose("services:\n  only:\n    image: x\n");
    let missing = good.with_file_name("missing.yaml");
    let run = |args: &[&str], env_file: Option<&PathBuf>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_demo"));
        cmd.args(["--project", "cli-file"])
            .args(args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env_remove("DEMO_FILE");
        if let Some(file) = env_file {
            cmd.env("DEMO_FILE", file);
        }
        crate::support::Run(cmd.output().unwrap())
    };
    let named = format!("cannot read compose file {}", missing.display());
    let missing_arg = missing.to_str().unwrap();
    run(&["status", "--file", missing_arg], None).fails(1, &named);
    run(&["--file", missing_arg, "status"], None).fails(1, &named);
    run(&["-f", missing_arg, "status"], Some(&good)).fails(1, &named);
    run(&["status", "--file", missing_arg], Some(&good)).fails(1, &named);
    // DEMO_FILE alone is read: an unknown service of it is a usage error naming its one service.
    run(&["up", "onl"], Some(&good)).fails(2, "did you mean \"only\"");
    run(&["-f", missing_arg, "--file", missing_arg, "status"], None)
        .fails(2, "cannot be used with");
}
