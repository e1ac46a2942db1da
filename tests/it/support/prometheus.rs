//! A real Prometheus for tests: Debian's binary on a free 127.0.0.1 port, holding series loaded
//! from OpenMetrics text with `promtool tsdb create-blocks-from openmetrics`; a builder for that
//! text; and the few HTTP helpers the tests use to ask it (and the stack's other APIs).
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A program on PATH; a missing one fails the test with the command that installs it.
pub fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not on PATH: install it with `apt-get install prometheus`")
        })
}

/// Percent-encodes a query-string value.
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A plain HTTP/1.1 GET against 127.0.0.1 (no client library needed for the three JSON APIs
/// the tests read): status code and body.
pub fn http_get(port: u16, path_and_query: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Ok((
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    ))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// One histogram series: how many spans fall, per 5 s step, in the bucket ending at each
/// upper bound.
pub struct HistogramSeries {
    pub labels: String,
    pub per_step: Vec<(f64, u64)>,
}

/// Synthetic series in OpenMetrics text, one point every [`STEP_S`] from `end - steps·STEP_S`
/// to `end`, with fixed increments per step so that query results are exact.
pub struct Synthetic {
    end: u64,
    steps: u64,
    text: String,
}

pub const STEP_S: u64 = 5;

impl Synthetic {
    pub fn new(end: u64, steps: u64) -> Self {
        Synthetic {
            end,
            steps,
            text: String::new(),
        }
    }

    fn times(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        // (index counted from a distant start, so counters are far from zero, timestamp)
        (0..=self.steps).map(move |i| (1000 + i, self.end - (self.steps - i) * STEP_S))
    }

    pub fn counter(&mut self, family: &str, series: &[(&str, f64)]) {
        let _ = writeln!(self.text, "# TYPE {family} counter");
        for (labels, per_step) in series {
            let points: Vec<_> = self.times().collect();
            for (n, ts) in points {
                let _ = writeln!(
                    self.text,
                    "{family}_total{{{labels}}} {} {ts}",
                    n as f64 * per_step
                );
            }
        }
    }

    pub fn gauge(&mut self, family: &str, series: &[(&str, f64, f64)]) {
        let _ = writeln!(self.text, "# TYPE {family} gauge");
        for (labels, start, per_step) in series {
            let points: Vec<_> = self.times().enumerate().collect();
            for (i, (_, ts)) in points {
                let _ = writeln!(
                    self.text,
                    "{family}{{{labels}}} {} {ts}",
                    start + i as f64 * per_step
                );
            }
        }
    }

    pub fn histogram(&mut self, family: &str, buckets: &[f64], series: &[HistogramSeries]) {
        let _ = writeln!(self.text, "# TYPE {family} histogram");
        for s in series {
            for &(bound, _) in &s.per_step {
                assert!(
                    buckets.iter().any(|b| (b - bound).abs() < 1e-9),
                    "the synthetic data needs a bucket at {bound} ms, which the collector config lacks"
                );
            }
            let step_total: u64 = s.per_step.iter().map(|(_, c)| c).sum();
            let step_sum: f64 = s.per_step.iter().map(|(b, c)| b * *c as f64).sum();
            let points: Vec<_> = self.times().collect();
            for (n, ts) in points {
                for bound in buckets.iter().copied().chain([f64::INFINITY]) {
                    let below: u64 = s
                        .per_step
                        .iter()
                        .filter(|(b, _)| *b <= bound)
                        .map(|(_, c)| c)
                        .sum();
                    let le = if bound.is_infinite() {
                        "+Inf".to_string()
                    } else {
                        bound.to_string()
                    };
                    let _ = writeln!(
                        self.text,
                        "{family}_bucket{{{},le=\"{le}\"}} {} {ts}",
                        s.labels,
                        n * below
                    );
                }
                let _ = writeln!(
                    self.text,
                    "{family}_count{{{}}} {} {ts}",
                    s.labels,
                    n * step_total
                );
                let _ = writeln!(
                    self.text,
                    "{family}_sum{{{}}} {} {ts}",
                    s.labels,
                    n as f64 * step_sum
                );
            }
        }
    }

    pub fn finish(mut self) -> String {
        self.text.push_str("# EOF\n");
        self.text
    }
}

/// A Prometheus server run from Debian's binary with the stack's prometheus.yml (its scrape
/// targets do not exist here; the data comes from the blocks), killed on drop.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Loads `openmetrics` into blocks, then starts Prometheus on them.
    pub fn start(openmetrics: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("a temp dir");
        let input = dir.path().join("series.om");
        let data = dir.path().join("data");
        std::fs::write(&input, openmetrics).unwrap();
        let out = Command::new(tool("promtool"))
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&data)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool tsdb create-blocks-from openmetrics failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let config = super::repo().join("compose/prometheus/prometheus.yml");
        Prometheus::launch(dir, &config, &data, &[])
    }

    /// Starts Prometheus with `config`, its data in `data`, and `flags`; waits until ready.
    /// `dir` holds the log and lives as long as the server.
    pub fn launch(
        dir: tempfile::TempDir,
        config: &std::path::Path,
        data: &std::path::Path,
        flags: &[String],
    ) -> Prometheus {
        let port = super::free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let mut server = Prometheus { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = http_get(port, "/-/ready") {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready in 20 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query at `time`: the result vector.
    pub fn query(&self, expr: &str, time: u64) -> Result<Vec<Value>, String> {
        let path = format!("/api/v1/query?query={}&time={time}", encode(expr));
        let (status, body) = http_get(self.port, &path).map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&body)
            .map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))?;
        if answer["status"] != "success" {
            return Err(format!("HTTP {status}: {answer}"));
        }
        Ok(answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves OpenMetrics text on a free 127.0.0.1 port, as a scrape target: `body(n)` is the
/// n-th answer (from 0). The thread lives as long as the test process.
pub fn serve_openmetrics(body: impl Fn(usize) -> String + Send + 'static) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while std::io::BufRead::read_line(&mut reader, &mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let text = body(n);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    port
}

/// A Prometheus configuration in `dir` that scrapes `target` and evaluates the stack's alert
/// rules every second (as the stack does every 5 s), so tests see alerts within seconds.
pub fn fast_scrape_config(dir: &std::path::Path, target: u16) -> PathBuf {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\nrule_files: [{}]\nscrape_configs:\n  - job_name: otel-collector\n    honor_labels: true\n    static_configs: [{{targets: [\"127.0.0.1:{target}\"]}}]\n",
            super::repo().join("compose/prometheus/alerts.yml").display()
        ),
    )
    .unwrap();
    config
}

/// The recommendation's CPU-time counter as the n-th scrape sees it: it drops every other
/// scrape, a restart each time (what the restart alert looks for). OpenMetrics lines, no EOF.
pub fn restarting_cpu_counter(n: usize) -> String {
    let cpu = if n.is_multiple_of(2) { 5.0 } else { 0.5 };
    format!(
        "# TYPE process_cpu_time_seconds counter\nprocess_cpu_time_seconds_total{{service_name=\"recommendation\",cpu_mode=\"user\"}} {cpu}\n"
    )
}
