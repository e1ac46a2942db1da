//! Test support: run the real `demo` binary against the real engine, with a project of its own.
pub mod images;
pub mod prometheus;
pub mod replay;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The repository root (the compose file and services live below it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The stack's compose file.
pub fn compose_file() -> PathBuf {
    repo().join("compose/docker-compose.yaml")
}

/// Longer than any one command of the suite takes (the longest, a full warm-up, is minutes):
/// a command still running then hangs, and the test fails instead of the whole run.
pub const RUN_DEADLINE: Duration = Duration::from_secs(600);

/// Runs `cmd` with no input, as `Command::output` does, but kills it and fails the test when
/// it outlives `deadline`.
pub fn output_within(cmd: &mut Command, deadline: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?} cannot start: {e}"));
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match finished.recv_timeout(deadline) {
        Ok(output) => output.expect("the command's output is read"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} still ran after {deadline:?}: killed it");
        }
    }
}

/// The variables the stack's compose file publishes its ports by.
pub const PORT_VARIABLES: [&str; 6] = [
    "OTLP_GRPC_PORT",
    "OTLP_HTTP_PORT",
    "COLLECTOR_HEALTH_PORT",
    "PROMETHEUS_PORT",
    "JAEGER_UI_PORT",
    "GRAFANA_PORT",
];

/// A port nothing listens on right now, for a service this test publishes.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether engine tests run here. They fail without an engine unless the developer skips them
/// explicitly with `DEMO_SKIP_ENGINE_TESTS=1` (never set under `.ci/run`).
pub fn engine_available() -> bool {
    let reachable = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    if reachable.as_ref().is_ok_and(|o| o.status.success()) {
        return true;
    }
    if std::env::var_os("DEMO_SKIP_ENGINE_TESTS").is_some() {
        eprintln!("skipped: no Docker engine and DEMO_SKIP_ENGINE_TESTS is set");
        return false;
    }
    panic!(
        "this test needs a running Docker engine (set DEMO_SKIP_ENGINE_TESTS=1 to skip engine tests locally)"
    );
}

/// Runs `docker ARGS` and returns its stdout; panics with stderr on failure. For checking and
/// arranging engine state from outside `demo` (decoys, `docker ps --filter label=…`).
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `docker ARGS`, ignoring failure (clean-up of objects that may be gone).
pub fn docker_quiet(args: &[&str]) {
    let _ = Command::new("docker").args(args).output();
}

/// One test's stack: a unique project name, its own ports, our locally built images.
pub struct Demo {
    pub project: String,
    env: Vec<(String, String)>,
    file: PathBuf,
    /// No `--file`: the stack embedded in the binary (`embedded`).
    no_file: bool,
    /// Where `demo` runs (`in_dir`); the test's own directory otherwise.
    dir: Option<PathBuf>,
    /// Another `demo` executable than the one cargo built (`exe`).
    exe: Option<PathBuf>,
}

impl Demo {
    /// A project named after the test, unique to this process so runs never collide.
    pub fn new(test: &str) -> Self {
        let project = format!("t{}-{}", std::process::id(), test.replace('_', "-"));
        Demo {
            project,
            env: Vec::new(),
            file: compose_file(),
            no_file: false,
            dir: None,
            exe: None,
        }
    }

    /// The same, set up for the services that run without upstream images: our images built
    /// by `demo build`, Prometheus from Debian's binary, every published port free.
    pub fn offline(test: &str) -> Self {
        images::ensure_ours();
        Demo::new(test)
            .env("PROMETHEUS_IMAGE", &images::prometheus())
            .free_ports()
    }

    /// Every port the stack publishes ([`PORT_VARIABLES`]) moved to one nothing listens on.
    pub fn free_ports(mut self) -> Self {
        for var in PORT_VARIABLES {
            self = self.env(var, &free_port().to_string());
        }
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn file(mut self, file: PathBuf) -> Self {
        self.file = file;
        self
    }

    /// Runs the stack embedded in the binary: no `--file`.
    pub fn embedded(mut self) -> Self {
        self.no_file = true;
        self
    }

    /// Runs `demo` in `dir`.
    pub fn in_dir(mut self, dir: &std::path::Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// Runs the `demo` executable at `exe`.
    pub fn exe(mut self, exe: &std::path::Path) -> Self {
        self.exe = Some(exe.to_path_buf());
        self
    }

    pub fn get_env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `demo --project P --file F ARGS` with this test's environment (no `--file` when
    /// `embedded`).
    pub fn command(&self, args: &[&str]) -> Command {
        let exe = self
            .exe
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_demo")));
        let mut cmd = Command::new(exe);
        cmd.arg("--project").arg(&self.project);
        if !self.no_file {
            cmd.arg("--file").arg(&self.file);
        }
        cmd.args(args);
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd.env_remove("DEMO_PROJECT").env_remove("DEMO_FILE");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(output_within(&mut self.command(args), RUN_DEADLINE))
    }

    /// IDs of the containers that carry this project's compose label, as docker compose-style
    /// tools see them.
    pub fn container_ids(&self) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={}", self.project);
        let mut ids: Vec<String> = docker(&["ps", "-aq", "--no-trunc", "--filter", &filter])
            .lines()
            .map(str::to_string)
            .collect();
        ids.sort();
        ids
    }

    /// The ID of one service's container.
    pub fn service_container(&self, service: &str) -> Option<String> {
        let project = format!("label=com.docker.compose.project={}", self.project);
        let service = format!("label=com.docker.compose.service={service}");
        let out = docker(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &project,
            "--filter",
            &service,
        ]);
        out.lines().next().map(str::to_string)
    }

    /// Every container, network and volume carrying `demo`'s creator label for this project.
    pub fn labelled_objects(&self) -> Vec<String> {
        let filters = [
            format!("label=com.docker.compose.project={}", self.project),
            "label=dev.demo.created-by=demo".to_string(),
        ];
        let mut out = Vec::new();
        for (kind, args) in [
            ("container", vec!["ps", "-a", "--format", "{{.Names}}"]),
            ("network", vec!["network", "ls", "--format", "{{.Name}}"]),
            ("volume", vec!["volume", "ls", "--format", "{{.Name}}"]),
        ] {
            let mut args: Vec<&str> = args;
            for f in &filters {
                args.extend(["--filter", f.as_str()]);
            }
            out.extend(
                docker(&args)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| format!("{kind} {l}")),
            );
        }
        out
    }
}

impl Drop for Demo {
    /// Leaves the engine as the test found it, whatever the test did.
    fn drop(&mut self) {
        let _ = self.command(&["down", "--volumes"]).output();
    }
}

/// The outcome of one `demo` run, with assertions that print everything on failure.
pub struct Run(pub Output);

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }

    #[track_caller]
    pub fn success(self) -> Self {
        assert!(
            self.0.status.success(),
            "demo failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Fails with `code` and an error whose first line contains `needle`.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> Self {
        assert_eq!(
            self.code(),
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        let first = self
            .stderr()
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default()
            .to_string();
        assert!(
            first.contains(needle),
            "expected the error line to contain {needle:?}, got:\n{}",
            self.stderr()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout()))
    }
}

/// Sends SIGINT to `pid`, as Ctrl-C in a terminal would to the foreground process.
pub fn sigint(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -INT {pid} failed");
}

/// `docker inspect` of one object, as JSON (the first element of the engine's array).
pub fn inspect(id: &str) -> serde_json::Value {
    let out = docker(&["inspect", id]);
    let mut all: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
    all[0].take()
}
