//! The signals clients against real answers: the Prometheus client and its key-signal queries
//! against Debian's Prometheus holding series with our pipeline's names, and the Jaeger client
//! against recorded `/api/traces` answers in Jaeger 2.19's format, served over HTTP.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use demo::diagnose::{traces, trend};
use demo::signals::SignalError;
use demo::signals::jaeger::{Jaeger, TraceQuery};
use demo::signals::names;
use demo::signals::prometheus::{KeySignals, Prometheus, query};

use crate::support::prometheus::{self as prom, HistogramSeries, STEP_S, Synthetic};

const MB: f64 = 1e6;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn near(got: Option<f64>, want: f64, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: no value"));
    assert!(
        (got - want).abs() <= want.abs() * 1e-3 + 1e-9,
        "{what}: got {got}, expected {want}"
    );
}

/// Ten minutes of two services' series, every 5 s, ending a little before now.
///
/// recommendation, per 5 s: 40 server spans that succeed (30 in (0.5, 1] ms, 10 in (100, 250]
/// ms) and 2 that fail (in (0.5, 1] ms); get_product_list hits the cache 25 times and misses 15
/// times; its memory grows 100 kB from 50 MB; 0.25 s of CPU. frontend: 10 server spans in
/// (0.5, 1] ms, no errors, no cache, 4 MB flat.
///
/// So for recommendation: 8.4 requests/s; errors 2/42; over 42 spans per step, 32 in the first
/// bucket: p50 (rank 21) = 0.5 + 0.5·21/32, p95 (rank 39.9) = 100 + 150·7.9/10, p99 (rank
/// 41.58) = 100 + 150·9.58/10; cache hits 25/40; CPU 5 %.
fn series(end: u64, steps: u64) -> String {
    let buckets = [0.5, 1.0, 100.0, 250.0, 1000.0];
    let mut data = Synthetic::new(end, steps);
    let svc = |name: &str| format!("service_name=\"{name}\",job=\"opentelemetry-demo/{name}\"");
    let server = |name: &str, status: &str| {
        format!(
            "{},span_name=\"oteldemo.RecommendationService/ListRecommendations\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"{status}\"",
            svc(name)
        )
    };
    let list = |hit: &str| {
        format!(
            "{},span_name=\"get_product_list\",span_kind=\"SPAN_KIND_INTERNAL\",status_code=\"STATUS_CODE_UNSET\",app_cache_hit=\"{hit}\"",
            svc("recommendation")
        )
    };
    let (ok, err, front) = (
        server("recommendation", "STATUS_CODE_UNSET"),
        server("recommendation", "STATUS_CODE_ERROR"),
        server("frontend", "STATUS_CODE_UNSET"),
    );
    let (hit, miss) = (list("true"), list("false"));
    data.counter(
        "traces_span_metrics_calls",
        &[
            (&ok, 40.0),
            (&err, 2.0),
            (&front, 10.0),
            (&hit, 25.0),
            (&miss, 15.0),
        ],
    );
    data.histogram(
        "traces_span_metrics_duration_milliseconds",
        &buckets,
        &[
            HistogramSeries {
                labels: ok.clone(),
                per_step: vec![(1.0, 30), (250.0, 10)],
            },
            HistogramSeries {
                labels: err.clone(),
                per_step: vec![(1.0, 2)],
            },
            HistogramSeries {
                labels: front.clone(),
                per_step: vec![(1.0, 10)],
            },
            HistogramSeries {
                labels: hit.clone(),
                per_step: vec![(0.5, 25)],
            },
            HistogramSeries {
                labels: miss.clone(),
                per_step: vec![(1000.0, 15)],
            },
        ],
    );
    data.counter(
        "process_cpu_time_seconds",
        &[
            (&format!("{},cpu_mode=\"user\"", svc("recommendation")), 0.2),
            (
                &format!("{},cpu_mode=\"system\"", svc("recommendation")),
                0.05,
            ),
        ],
    );
    data.gauge(
        "process_memory_usage_bytes",
        &[
            (&svc("recommendation"), 50.0 * MB, 0.1 * MB),
            (&svc("frontend"), 4.0 * MB, 0.0),
        ],
    );
    data.finish()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn key_signals_and_ranges_from_a_real_prometheus() {
    let now = unix_now();
    let end = now - now % STEP_S - STEP_S;
    let steps = 120;
    let server = prom::Prometheus::start(&series(end, steps));
    // Evaluated where the data ends, so every rate window is full of points.
    let client = Prometheus::new(&server.url(), Duration::from_secs(2))
        .unwrap()
        .evaluated_at(end as f64);
    let window = Duration::from_secs(60);
    let rt = runtime();
    rt.block_on(client.ready()).unwrap();

    let rec = rt
        .block_on(KeySignals::read(&client, "recommendation", window))
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    near(rec.request_rate, 42.0 / 5.0, "requests/s");
    near(rec.error_ratio, 2.0 / 42.0, "error ratio");
    near(rec.p50_ms, 0.5 + 0.5 * 21.0 / 32.0, "p50");
    near(rec.p95_ms, 100.0 + 150.0 * 7.9 / 10.0, "p95");
    near(rec.p99_ms, 100.0 + 150.0 * 9.58 / 10.0, "p99");
    near(rec.p999_ms, 100.0 + 150.0 * 9.958 / 10.0, "p99.9");
    near(rec.cache_hit_ratio, 25.0 / 40.0, "cache-hit ratio");
    near(
        rec.memory_bytes,
        50.0 * MB + steps as f64 * 0.1 * MB,
        "memory",
    );
    near(rec.cpu_percent, 5.0, "CPU %");

    // Every service at once; no errors is 0, not "no data"; no cache is no data.
    let all = rt.block_on(KeySignals::read_all(&client, window)).unwrap();
    assert_eq!(
        all.keys().map(String::as_str).collect::<Vec<_>>(),
        ["frontend", "recommendation"]
    );
    assert_eq!(all["recommendation"], rec);
    let front = all["frontend"];
    near(front.request_rate, 2.0, "frontend requests/s");
    assert_eq!(front.error_ratio, Some(0.0));
    assert_eq!(front.cache_hit_ratio, None);
    near(front.memory_bytes, 4.0 * MB, "frontend memory");
    let nobody = rt
        .block_on(KeySignals::read(&client, "nobody", window))
        .unwrap();
    assert!(nobody.is_empty(), "{nobody:?}");

    // get_product_list p95 by app_cache_hit: hits in (0, 0.5] ms, misses in (250, 1000] ms.
    let by_hit = rt
        .block_on(client.instant(&query::cache_latency_quantile(
            Some(names::SERVICE_RECOMMENDATION),
            0.95,
            window,
        )))
        .unwrap();
    let p95: BTreeMap<&str, f64> = by_hit
        .iter()
        .map(|s| (s.labels[names::LABEL_APP_CACHE_HIT].as_str(), s.value))
        .collect();
    near(p95.get("true").copied(), 0.5 * 0.95, "hit p95");
    near(p95.get("false").copied(), 250.0 + 750.0 * 0.95, "miss p95");

    // A range of the memory gauge: 5 s points, 100 kB more each; its slope is 20 kB/s.
    let series = rt
        .block_on(client.range(
            &query::memory_bytes(Some("recommendation")),
            (end - 300) as f64,
            end as f64,
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].labels["service_name"], "recommendation");
    assert_eq!(series[0].points.len(), 61);
    assert_eq!(series[0].points.last().unwrap().0, end as f64);
    let fit = trend::pooled_fit(&trend::segments_of_series(&series[0].points, 15.0)).unwrap();
    assert!((fit.slope - 0.1 * MB / 5.0).abs() < 1.0, "{fit:?}");
}

#[test]
fn a_bad_query_is_rejected_with_prometheus_own_message() {
    let now = unix_now();
    let server = prom::Prometheus::start(&series(now - now % STEP_S - STEP_S, 4));
    let client = Prometheus::new(&server.url(), Duration::from_secs(2)).unwrap();
    let err = runtime()
        .block_on(client.instant("sum(rate(x[5m])"))
        .unwrap_err();
    match &err {
        SignalError::Http {
            status, message, ..
        } => {
            assert_eq!(*status, 400);
            assert!(message.starts_with("bad_data: "), "{message}");
        }
        other => panic!("expected an HTTP 400, got {other:?}"),
    }
    assert!(err.to_string().contains(&server.url()), "{err}");
}

#[test]
fn a_prometheus_that_is_not_listening_fails_fast() {
    let port = crate::support::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let client = Prometheus::new(&url, Duration::from_secs(2)).unwrap();
    let started = Instant::now();
    let err = runtime()
        .block_on(KeySignals::read(
            &client,
            "recommendation",
            Duration::from_secs(60),
        ))
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        runtime()
            .block_on(client.ready())
            .unwrap_err()
            .is_unavailable()
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("Prometheus at {url} cannot be reached: ")),
        "{text}"
    );
}

#[test]
fn a_prometheus_that_never_answers_times_out() {
    // Accepts connections and reads, but never writes a byte.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let client = Prometheus::new(&url, Duration::from_millis(800)).unwrap();
    let started = Instant::now();
    let err = runtime().block_on(client.instant("up")).unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        matches!(err, SignalError::Timeout { .. }),
        "expected a timeout, got {err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("Prometheus at {url} did not answer in 800ms")
    );
}

// ---- Jaeger ----

/// An HTTP server that answers each request with the next of `answers` and records the
/// request lines it got.
struct Recorded {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

fn serve(answers: Vec<(u16, String)>) -> Recorded {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for (status, body) in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            seen.lock().unwrap().push(line.trim().to_string());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Recorded { port, requests }
}

fn fixture(name: &str) -> String {
    let path = crate::support::repo()
        .join("tests/fixtures/jaeger")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The query string's parameters, decoded.
fn params(request_line: &str) -> BTreeMap<String, String> {
    let target = request_line.split_whitespace().nth(1).unwrap();
    let url = reqwest::Url::parse(&format!("http://x{target}")).unwrap();
    url.query_pairs().into_owned().collect()
}

#[test]
fn jaeger_searches_are_sent_as_2_19_expects_and_answers_are_read() {
    let server = serve(vec![
        (200, fixture("traces-cache-miss.json")),
        (200, fixture("traces-cache-hit.json")),
    ]);
    // A base path, as behind the upstream demo's frontend proxy.
    let base = format!("http://127.0.0.1:{}/jaeger/ui", server.port);
    let client = Jaeger::new(&base, Duration::from_secs(2)).unwrap();
    let end = UNIX_EPOCH + Duration::from_secs(1_795_577_000);
    let search = |hit: &str| {
        TraceQuery::new("recommendation")
            .tag("app.cache_hit", hit)
            .limit(50)
            .lookback(Duration::from_secs(900))
            .ending_at(end)
    };
    let rt = runtime();
    let misses = rt.block_on(client.find_traces(&search("false"))).unwrap();
    let hits = rt.block_on(client.find_traces(&search("true"))).unwrap();

    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[0].starts_with("GET /jaeger/ui/api/traces?"),
        "{}",
        requests[0]
    );
    let sent = params(&requests[0]);
    assert_eq!(sent["service"], "recommendation");
    assert_eq!(sent["tags"], r#"{"app.cache_hit":"false"}"#);
    assert_eq!(sent["limit"], "50");
    assert_eq!(sent["end"], "1795577000000000");
    assert_eq!(sent["start"], "1795576100000000");
    assert!(!sent.contains_key("lookback"), "the API ignores lookback");

    assert_eq!(misses.len(), 2);
    let first = &misses[0];
    assert_eq!(first.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(first.spans.len(), 3);
    let root = first.root().unwrap();
    assert_eq!(root.operation_name, "ListRecommendations");
    assert_eq!(first.service_of(root), Some("frontend"));
    let list = first
        .spans
        .iter()
        .find(|s| s.operation_name == "get_product_list")
        .unwrap();
    assert_eq!(first.service_of(list), Some("recommendation"));
    assert_eq!(list.parent_id(), Some("53995c3f42cd8ad8"));
    assert_eq!(list.tag("app.cache_hit").unwrap().as_bool(), Some(false));
    assert_eq!(
        list.tag("app.products.count").unwrap().as_i64(),
        Some(1_907_348)
    );
    assert_eq!(list.duration(), Duration::from_micros(1_904_000));
    assert_eq!(first.duration(), Duration::from_micros(1_912_345));
    // int64 beyond 2^53 arrives as a string.
    let big = misses[1].spans[1].tag("app.products.count").unwrap();
    assert_eq!(big.as_i64(), Some(9_007_199_254_740_993));

    // What diagnose makes of the two searches.
    let all: Vec<_> = misses.iter().chain(&hits).cloned().collect();
    let c = traces::compare("recommendation", &all).unwrap();
    assert_eq!(c.traces, 4);
    let (hit, miss) = (c.hit.unwrap(), c.miss.unwrap());
    assert_eq!((hit.count, miss.count), (2, 2));
    assert!((hit.p50_ms - 4.0).abs() < 1e-9, "{hit:?}");
    assert!((miss.p50_ms - 976.0).abs() < 1e-9, "{miss:?}");
    assert!((c.slowdown.unwrap() - 244.0).abs() < 1e-9);
    assert_eq!(c.max_products_count, Some(9_007_199_254_740_993));
    let slowest = c.slowest.unwrap();
    assert_eq!(slowest.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(slowest.cache_hit, Some(false));
    assert_eq!(
        client.trace_url(&slowest.trace_id),
        format!("{base}/trace/4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(
        client.search_url(&search("false")),
        format!(
            "{base}/search?service=recommendation&tags=%7B%22app.cache_hit%22%3A%22false%22%7D&lookback=15m&limit=50"
        )
    );
}

#[test]
fn a_jaeger_error_answer_is_an_error_with_its_message() {
    // What 2.19's handleError writes for a tags value that is not a string.
    let body = r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":400,"msg":"malformed 'tags' parameter, cannot unmarshal JSON: json: cannot unmarshal bool into Go value of type string"}]}"#;
    let server = serve(vec![(400, format!("{body}\n"))]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = Jaeger::new(&base, Duration::from_secs(2)).unwrap();
    let err = runtime()
        .block_on(client.find_traces(&TraceQuery::new("recommendation")))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Jaeger at {base} answered HTTP 400: malformed 'tags' parameter, cannot unmarshal JSON: json: cannot unmarshal bool into Go value of type string"
        )
    );
}

#[test]
fn a_jaeger_that_is_not_listening_fails_fast() {
    let base = format!("http://127.0.0.1:{}", crate::support::free_port());
    let client = Jaeger::new(&base, Duration::from_secs(3)).unwrap();
    let started = Instant::now();
    let err = runtime()
        .block_on(client.find_traces(&TraceQuery::new("recommendation")))
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.is_unavailable(), "{err:?}");
}
