//! `cargo bench --bench compose`: `demo` against docker-compose 1.29 on the offline services,
//! same compose file, same local images: `up` to all healthy, a no-op `up`, `down`. Prints
//! the medians of 5 runs side by side, their ratios, and where `demo up`'s time goes.
//!
//! Figures, not a pass/fail test: the goals (`demo` at most 0.4 of compose's time for `up`, half
//! for `down`, a no-op `up` under 1 s) are printed as met or missed.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The images the engine tests use, made the same way: ours by `demo build`, Prometheus from
/// Debian's binary. One implementation, shared with `tests/it`.
#[path = "../tests/it/support/images.rs"]
mod images;

const SERVICES: [&str; 3] = ["prometheus", "recommendation", "load-generator"];
const RUNS: usize = 5;
/// The compose file's health-check interval for these services.
const HEALTH_INTERVAL: f64 = 2.0;

/// The stack's compose file (`images` builds our images from it).
fn compose_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("compose/docker-compose.yaml")
}

fn demo_bin() -> &'static str {
    env!("CARGO_BIN_EXE_demo")
}

/// The environment both tools get: the Prometheus stand-in and a free port for it.
struct Setup {
    prometheus_image: String,
    port: String,
}

impl Setup {
    fn apply(&self, command: &mut Command) {
        command
            .env("PROMETHEUS_IMAGE", &self.prometheus_image)
            .env("PROMETHEUS_PORT", &self.port)
            .env_remove("DEMO_PROJECT")
            .env_remove("DEMO_FILE")
            .stdin(Stdio::null());
    }

    fn demo(&self, project: &str, args: &[&str]) -> Command {
        let mut command = Command::new(demo_bin());
        command
            .args(["--project", project, "--file"])
            .arg(compose_file())
            .args(args);
        self.apply(&mut command);
        command
    }

    fn compose(&self, project: &str, args: &[&str]) -> Command {
        let mut command = Command::new("docker-compose");
        command
            .args(["-p", project, "-f"])
            .arg(compose_file())
            .args(args);
        self.apply(&mut command);
        command
    }
}

/// Runs `command` to completion; panics with its output when it fails.
fn run(mut command: Command) -> Duration {
    let started = Instant::now();
    let out = command.output().expect("the command runs");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// `demo up` timed, with the moment each progress line arrived on its (piped) stderr.
fn demo_up(setup: &Setup, project: &str) -> (Duration, Vec<(f64, String)>) {
    let mut args = vec!["up", "--no-deps"];
    args.extend(SERVICES);
    let mut command = setup.demo(project, &args);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("demo runs");
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        lines.push((started.elapsed().as_secs_f64(), line.unwrap_or_default()));
    }
    let status = child.wait().unwrap();
    let took = started.elapsed();
    assert!(status.success(), "demo up failed:\n{lines:?}");
    (took, lines)
}

/// `docker-compose up -d` timed, then the wait until the three containers are healthy
/// (`docker inspect` every 100 ms), as compose 1.29 has no `--wait`.
fn compose_up(setup: &Setup, project: &str) -> (Duration, Duration) {
    let mut args = vec!["up", "-d", "--no-deps"];
    args.extend(SERVICES);
    let started = Instant::now();
    run(setup.compose(project, &args));
    let returned = started.elapsed();
    let names: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("{project}_{s}_1"))
        .collect();
    loop {
        let mut inspect = Command::new("docker");
        inspect
            .args(["inspect", "--format", "{{.State.Health.Status}}"])
            .args(&names);
        let out = inspect.output().expect("docker runs");
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && text.lines().filter(|l| *l == "healthy").count() == names.len() {
            return (started.elapsed(), returned);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "compose's containers not healthy after 2 minutes: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes both tools' objects of one round, whatever happened.
struct Cleanup<'a> {
    setup: &'a Setup,
    demo: String,
    compose: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.setup.demo(&self.demo, &["down", "--volumes"]).output();
        let _ = self.setup.compose(&self.compose, &["down", "-v"]).output();
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The time of the first progress line containing `needle`.
fn at(lines: &[(f64, String)], needle: &str) -> f64 {
    lines
        .iter()
        .find(|(_, l)| l.contains(needle))
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("no progress line with {needle:?}: {lines:?}"))
}

#[derive(Default)]
struct Samples {
    demo_up: Vec<f64>,
    compose_up: Vec<f64>,
    compose_returned: Vec<f64>,
    demo_noop: Vec<f64>,
    compose_noop: Vec<f64>,
    demo_down: Vec<f64>,
    compose_down: Vec<f64>,
    /// demo up: start → first `creating` (file, engine, observe, images, network, volume).
    demo_setup: Vec<f64>,
    /// demo up: first `creating` → the load generator's `starting`: creating all three,
    /// starting recommendation and passing its health check (run by demo itself).
    demo_to_last_start: Vec<f64>,
    /// demo up: the load generator's `starting` → `healthy`: its own health check passing when
    /// demo runs it (the readiness rule; the engine's first check comes one interval later).
    demo_last_health: Vec<f64>,
    /// demo up: what the three above leave (the summary, exit).
    demo_rest: Vec<f64>,
}

fn main() {
    let started = Instant::now();
    assert!(
        Command::new("docker-compose")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "docker-compose (Debian's 1.29) is needed: apt-get install docker-compose"
    );
    eprintln!("preparing images (demo build, the Prometheus stand-in)…");
    images::ensure_ours();
    let setup = Setup {
        prometheus_image: images::prometheus(),
        port: std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string(),
    };
    let pid = std::process::id();
    let mut s = Samples::default();
    for round in 0..RUNS {
        let cleanup = Cleanup {
            setup: &setup,
            demo: format!("bench{pid}-demo{round}"),
            compose: format!("bench{pid}-compose{round}"),
        };
        // demo: up to healthy, again with nothing to do, down.
        let (took, lines) = demo_up(&setup, &cleanup.demo);
        s.demo_up.push(secs(took));
        s.demo_setup.push(at(&lines, ": creating"));
        let last_start = at(&lines, "load-generator: starting");
        let last_healthy = at(&lines, "load-generator: created, healthy");
        s.demo_to_last_start.push(last_start - s.demo_setup[round]);
        s.demo_last_health.push(last_healthy - last_start);
        s.demo_rest.push(s.demo_up[round] - last_healthy);
        s.demo_noop.push(secs(demo_up(&setup, &cleanup.demo).0));
        s.demo_down
            .push(secs(run(setup.demo(&cleanup.demo, &["down"]))));

        // docker-compose: the same three steps on a project of its own.
        let (healthy, returned) = compose_up(&setup, &cleanup.compose);
        s.compose_up.push(secs(healthy));
        s.compose_returned.push(secs(returned));
        s.compose_noop
            .push(secs(compose_up(&setup, &cleanup.compose).0));
        s.compose_down
            .push(secs(run(setup.compose(&cleanup.compose, &["down"]))));
        drop(cleanup);
        eprintln!(
            "round {}/{RUNS}: demo up {:.2}s, compose up {:.2}s",
            round + 1,
            s.demo_up[round],
            s.compose_up[round]
        );
    }
    report(&s);
    eprintln!("(bench took {:.0}s)", started.elapsed().as_secs_f64());
}

fn report(s: &Samples) {
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!();
    println!(
        "demo vs docker-compose 1.29, offline services ({}), medians of {RUNS} runs",
        SERVICES.join(", ")
    );
    println!();
    println!("| step | demo (s) | docker-compose (s) | demo / compose | goal |");
    println!("| --- | ---: | ---: | ---: | --- |");
    let rows = [
        ("up to all healthy", &s.demo_up, &s.compose_up, "≤ 0.4"),
        ("no-op up", &s.demo_noop, &s.compose_noop, "demo < 1 s"),
        ("down", &s.demo_down, &s.compose_down, "≤ 0.5"),
    ];
    for (step, demo, compose, goal) in rows {
        let (d, c) = (median(demo), median(compose));
        let ratio = d / c;
        let met = match goal {
            "demo < 1 s" => d < 1.0,
            "≤ 0.4" => ratio <= 0.4,
            _ => ratio <= 0.5,
        };
        println!(
            "| {step} | {d:.2} | {c:.2} | {ratio:.2} | {goal}: {} |",
            if met { "met" } else { "missed" }
        );
    }
    println!();
    println!("samples (s):");
    println!("  demo up           {}", list(&s.demo_up));
    println!("  compose up        {}", list(&s.compose_up));
    println!("  demo no-op up     {}", list(&s.demo_noop));
    println!("  compose no-op up  {}", list(&s.compose_noop));
    println!("  demo down         {}", list(&s.demo_down));
    println!("  compose down      {}", list(&s.compose_down));
    println!();

    // Where `up`'s time goes. The load generator waits for a healthy recommendation
    // (`condition: service_healthy`), and the engine runs a first health check one interval
    // after a start. compose starts the load generator only once the engine calls
    // recommendation healthy: two intervals in a row. demo runs each check itself as soon as the
    // container starts (the readiness rule `status` shares), so it waits for no interval.
    let (demo_up, compose_up) = (median(&s.demo_up), median(&s.compose_up));
    println!("where demo up's time goes (medians, along the critical path):");
    for (what, values) in [
        (
            "before the first container is created (file, engine, observe, images, network, volume)",
            &s.demo_setup,
        ),
        (
            "creating all three, starting recommendation and passing its check, starting the load generator",
            &s.demo_to_last_start,
        ),
        (
            "the load generator's start until its health check passes (run by demo)",
            &s.demo_last_health,
        ),
        ("the summary and exit", &s.demo_rest),
    ] {
        let value = median(values);
        println!("  {what}: {value:.2}s ({:.0}%)", 100.0 * value / demo_up);
    }
    println!(
        "  floors: compose two {HEALTH_INTERVAL:.0}s intervals ({:.0}% of its up); demo none (its up is {:.0}% of one)",
        100.0 * 2.0 * HEALTH_INTERVAL / compose_up,
        100.0 * demo_up / HEALTH_INTERVAL
    );
    println!(
        "  docker-compose up -d itself returned after {:.2}s (median); the rest of its time is the load generator's first health check",
        median(&s.compose_returned)
    );
}
