//! Replays of the recorded pipeline (`tests/fixtures/recorded/`): a collector stand-in image
//! that serves leak-run-2's `:8889` exposition frame after frame (and answers the ready URL on
//! 13133), and a Jaeger API server in the test process answering the recorded traces as of the
//! same moment of the run. Test fixtures that serve recorded data only, not stand-ins for the
//! product's features.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::images::append;

/// The range export's steps (5 s) start at this Unix time; frame N is `FIRST_FRAME_AT + 5 N`.
pub const FIRST_FRAME_AT: f64 = 1796068905.0;
pub const FRAME_S: f64 = 5.0;
/// The flag went on at 1796068965.76: during frame 12.
pub const FLAG_FRAME: u64 = 12;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/recorded/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The collector stand-in's tag, replaying from `start_frame` on (built once per frame: the
/// start is baked into the image, as the compose file passes the collector no environment).
pub fn collector_image(start_frame: u64) -> String {
    let tag = format!("demo-test/replay-collector:from-{start_frame}");
    super::images::build_stand_in(&tag, context(start_frame));
    tag
}

/// Prints frame `START + seconds since start / 5` (the last one from then on): the series'
/// column of that frame under their `# TYPE` lines, skipping series absent then (`-`).
const METRICS: &str = r#"#!/bin/busybox sh
while read -r line; do
  case "$line" in ""|"$(printf '\r')") break ;; esac
done
now=$(/bin/busybox date +%s)
t0=$(/bin/busybox cat /tmp/t0)
frame=$(( REPLAY_START_FRAME + (now - t0) / 5 ))
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n\r\n'
/bin/busybox awk -F'\t' -v f="$frame" '
  /^# TYPE/ { print; next }
  /^#/ { next }
  { n = split($2, v, " "); i = f + 1; if (i > n) i = n; if (v[i] != "-") print $1 " " v[i] }
' /tmp/frames.tsv
"#;

/// The health_check extension's answer.
const READY: &str = r#"#!/bin/busybox sh
while read -r line; do
  case "$line" in ""|"$(printf '\r')") break ;; esac
done
printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"status":"Server available"}\n'
"#;

const RUN: &str = r#"#!/bin/busybox sh
# The collector's arguments (--config=…) are ignored: this replays, it does not collect.
/bin/busybox zcat /replay/frames.tsv.gz > /tmp/frames.tsv
/bin/busybox date +%s > /tmp/t0
/bin/busybox nc -ll -p 13133 -e /replay/ready.sh &
exec /bin/busybox nc -ll -p 8889 -e /replay/metrics.sh
"#;

fn context(start_frame: u64) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let busybox = super::images::busybox();
    append(
        &mut tar,
        "rootfs/bin/busybox",
        &std::fs::read(busybox).unwrap(),
        0o755,
    );
    append(&mut tar, "rootfs/replay/run.sh", RUN.as_bytes(), 0o755);
    append(
        &mut tar,
        "rootfs/replay/metrics.sh",
        METRICS.as_bytes(),
        0o755,
    );
    append(&mut tar, "rootfs/replay/ready.sh", READY.as_bytes(), 0o755);
    append(
        &mut tar,
        "rootfs/replay/frames.tsv.gz",
        &fixture("replay-8889.tsv.gz"),
        0o644,
    );
    append(&mut tar, "tmp/.keep", b"", 0o644);
    let dockerfile = format!(
        "FROM scratch\n\
         COPY rootfs/ /\n\
         COPY --chown=65532:65532 tmp/ /tmp/\n\
         ENV REPLAY_START_FRAME={start_frame}\n\
         USER 65532:65532\n\
         ENTRYPOINT [\"/bin/busybox\", \"sh\", \"/replay/run.sh\"]\n"
    );
    append(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644);
    tar.into_inner().unwrap()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A Jaeger query API on 127.0.0.1:`port` answering `/api/traces` with the recorded traces
/// that had started by the replay's moment of the run, inside the asked `start`/`end`, moved to
/// the wall clock. Other paths answer an empty list. Runs until the test process ends.
pub struct JaegerReplay {
    /// (wall-clock Unix time, recorded Unix time) when the replay began.
    anchor: Arc<Mutex<(f64, f64)>>,
}

impl JaegerReplay {
    pub fn serve(port: u16, start_frame: u64) -> JaegerReplay {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the Jaeger replay");
        let recorded: serde_json::Value =
            serde_json::from_slice(&fixture("leak-run-2-traces.json")).unwrap();
        let traces: Vec<serde_json::Value> = recorded["data"].as_array().unwrap().clone();
        let anchor = Arc::new(Mutex::new((
            unix_now(),
            FIRST_FRAME_AT + start_frame as f64 * FRAME_S,
        )));
        let shared = anchor.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                }
                let (wall, rec) = *shared.lock().unwrap();
                let body = answer(&request, &traces, rec - wall);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JaegerReplay { anchor }
    }

    /// The replay's frame 0 starts now (call when the collector stand-in has started).
    pub fn restart_clock(&self, start_frame: u64) {
        *self.anchor.lock().unwrap() = (unix_now(), FIRST_FRAME_AT + start_frame as f64 * FRAME_S);
    }
}

/// The `/api/traces` answer: traces with a span in [start, end] (µs, wall clock) of the
/// replayed moment; `offset_s` = recorded time minus wall time.
fn answer(request: &str, traces: &[serde_json::Value], offset_s: f64) -> String {
    let target = request.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/api/traces" {
        return r#"{"data":[],"total":0,"limit":0,"offset":0,"errors":null}"#.to_string();
    }
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let shift = (offset_s * 1e6) as i64;
    let now_rec = (unix_now() + offset_s) * 1e6;
    let end = param("end").map_or(now_rec, |e| (e + offset_s * 1e6).min(now_rec));
    let start = param("start").map_or(0.0, |s| s + offset_s * 1e6);
    let limit = param("limit").map_or(usize::MAX, |l| l as usize);
    let mut out: Vec<serde_json::Value> = Vec::new();
    for trace in traces {
        let starts: Vec<f64> = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["startTime"].as_f64())
            .collect();
        if !starts.iter().any(|&t| t >= start && t <= end) {
            continue;
        }
        let mut moved = trace.clone();
        for span in moved["spans"].as_array_mut().unwrap() {
            let t = span["startTime"].as_i64().unwrap();
            span["startTime"] = serde_json::json!(t - shift);
        }
        out.push(moved);
    }
    // Newest first, as Jaeger answers, then the limit.
    out.sort_by_key(|t| std::cmp::Reverse(t["spans"][0]["startTime"].as_i64()));
    out.truncate(limit);
    serde_json::json!({"data": out, "total": 0, "limit": 0, "offset": 0, "errors": null})
        .to_string()
}
