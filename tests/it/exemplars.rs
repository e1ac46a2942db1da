//! Exemplars end to end and links to traces: the datasource's link field, the dashboards, the recordings and `diagnose`'s client agree, and a real Prometheus stores what the collector serves.
//!
//! Grafana cannot run here, so its side is checked as files: the provisioned Prometheus
//! datasource links the exemplar label the pipeline produces to the provisioned Jaeger
//! datasource, and every dashboard link to traces goes through that datasource (no port in a
//! URL). The Prometheus side runs for real: Debian's 2.42, started with the compose file's
//! `--enable-feature` flags, scrapes the collector's recorded OpenMetrics exposition, and the
//! client `diagnose` uses reads the exemplars back.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use demo::signals::exemplars::{self, Exemplar};
use demo::signals::{jaeger, names};
use serde_json::Value;

use crate::pipeline::{dashboards, panels, read, yaml};
use crate::support::prometheus::{
    Prometheus as TestPrometheus, fast_scrape_config, restarting_cpu_counter, serve_openmetrics,
};

const RECORDED: &str = "tests/fixtures/recorded/exemplars";

/// The exemplars in an OpenMetrics exposition: (trace id, value) of each `# {…} value ts`.
fn exposition_exemplars(text: &str, family_prefix: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| l.starts_with(family_prefix))
        .filter_map(|l| l.split_once(" # {"))
        .map(|(_, exemplar)| {
            let (labels, rest) = exemplar.split_once('}').unwrap();
            let trace = labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{}=\"", names::EXEMPLAR_TRACE_ID)))
                .expect("an exemplar with a trace id")
                .trim_end_matches('"')
                .to_string();
            let value: f64 = rest.split_whitespace().next().unwrap().parse().unwrap();
            (trace, value)
        })
        .collect()
}

/// Every provisioned datasource: uid → (type, jsonData).
fn datasources() -> Vec<Value> {
    yaml("compose/grafana/provisioning/datasources/datasources.yaml")["datasources"]
        .as_array()
        .unwrap()
        .clone()
}

/// Every string in a JSON value.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[test]
fn the_exemplar_link_field_datasource_uids_and_dashboards_agree() {
    let sources = datasources();
    let uid_of = |kind: &str| -> Vec<String> {
        sources
            .iter()
            .filter(|ds| ds["type"] == kind)
            .map(|ds| ds["uid"].as_str().unwrap().to_string())
            .collect()
    };
    let jaeger_uids = uid_of("jaeger");
    assert_eq!(jaeger_uids.len(), 1, "one Jaeger datasource");
    let prometheus = sources
        .iter()
        .find(|ds| ds["type"] == "prometheus")
        .unwrap();
    let destinations = prometheus["jsonData"]["exemplarTraceIdDestinations"]
        .as_array()
        .expect("the Prometheus datasource links exemplars to traces");
    assert_eq!(destinations.len(), 1);
    // The label the link reads is the one the pipeline produces, and it opens the Jaeger
    // datasource (internal link: no URL, so no port).
    assert_eq!(destinations[0]["name"], names::EXEMPLAR_TRACE_ID);
    assert_eq!(destinations[0]["datasourceUid"], jaeger_uids[0].as_str());
    assert!(destinations[0].get("url").is_none());

    // The recordings carry that label: the collector's exposition and both Prometheus versions.
    let exposition = read(&format!("{RECORDED}/collector-8889-openmetrics.txt"));
    let served = exposition_exemplars(&exposition, names::SPAN_DURATION_BUCKET);
    assert!(!served.is_empty(), "the exposition has latency exemplars");
    for version in ["2.42", "3.13.1"] {
        let body = read(&format!(
            "{RECORDED}/query_exemplars-prometheus-{version}.json"
        ));
        let raw: Value = serde_json::from_str(&body).unwrap();
        let count: usize = raw["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["exemplars"].as_array().unwrap().len())
            .sum();
        let parsed = exemplars::parse_answer(&body).unwrap();
        assert!(count > 0);
        assert_eq!(
            parsed.len(),
            count,
            "Prometheus {version}: every exemplar has `{}`",
            names::EXEMPLAR_TRACE_ID
        );
        assert!(parsed.iter().all(|e| e.trace_id.len() == 32));
    }

    // Every dashboard query over the latency histogram asks for exemplars from the datasource
    // that links them, and no panel or link names a port of Jaeger.
    let prometheus_uid = prometheus["uid"].as_str().unwrap();
    let mut problems = Vec::new();
    let mut latency_targets = 0;
    for (name, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_default();
                if !expr.contains(names::SPAN_DURATION_BUCKET) {
                    continue;
                }
                latency_targets += 1;
                if target["exemplar"] != true {
                    problems.push(format!("{name}: `{}` shows no exemplars", panel["title"]));
                }
                if target["datasource"]["uid"] != prometheus_uid {
                    problems.push(format!(
                        "{name}: `{}` uses another datasource",
                        panel["title"]
                    ));
                }
            }
        }
        let mut texts = Vec::new();
        strings(&dashboard, &mut texts);
        for text in texts {
            if text.contains("16686") || text.contains("localhost:") {
                problems.push(format!("{name}: a hard-coded address in {text}"));
            }
        }
    }
    assert!(latency_targets >= 4, "{latency_targets} latency queries");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The `panes` of a Grafana Explore URL (`/explore?…&panes=<json>`), decoded.
fn explore_panes(url: &str) -> Option<Value> {
    let url = reqwest::Url::parse(&format!("http://grafana{url}")).ok()?;
    if url.path() != "/explore" {
        return None;
    }
    let (_, panes) = url.query_pairs().find(|(k, _)| k == "panes")?;
    serde_json::from_str(&panes).ok()
}

#[test]
fn trace_links_in_the_dashboards_open_the_jaeger_datasource_for_both_cache_outcomes() {
    let jaeger_uid = datasources()
        .into_iter()
        .find(|ds| ds["type"] == "jaeger")
        .unwrap()["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, rec) = dashboards()
        .into_iter()
        .find(|(n, _)| n == "recommendation.json")
        .unwrap();
    // Dashboard links, and the markdown links of text panels.
    let mut urls: Vec<String> = rec["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["url"].as_str().map(str::to_string))
        .filter(|u| !u.is_empty())
        .collect();
    for panel in panels(&rec) {
        let content = panel["options"]["content"].as_str().unwrap_or_default();
        for part in content.split("](").skip(1) {
            urls.push(part.split(')').next().unwrap().to_string());
        }
    }
    let mut found = BTreeSet::new();
    for url in &urls {
        let panes = explore_panes(url).unwrap_or_else(|| panic!("not an Explore link: {url}"));
        for pane in panes.as_object().unwrap().values() {
            assert_eq!(pane["datasource"], jaeger_uid.as_str(), "{url}");
            for q in pane["queries"].as_array().unwrap() {
                assert_eq!(q["datasource"]["uid"], jaeger_uid.as_str(), "{url}");
                assert_eq!(q["queryType"], "search", "{url}");
                assert_eq!(q["service"], "${service}", "{url}");
                found.insert(q["tags"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(
        found,
        BTreeSet::from([
            "app.cache_hit=true".to_string(),
            "app.cache_hit=false".to_string()
        ]),
        "{urls:?}"
    );
}

#[test]
fn prometheus_with_the_compose_flags_stores_the_collectors_exemplars_and_diagnose_reads_the_slowest()
 {
    // The flags the compose file gives Prometheus that enable features: the 2.42 stand-in
    // must accept them (v3.13.1 does: the recording in prometheus-3/ ran with it).
    let compose = yaml("compose/docker-compose.yaml");
    let flags: Vec<String> = compose["services"]["prometheus"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|a| a.starts_with("--enable-feature="))
        .map(str::to_string)
        .collect();
    assert!(
        flags.iter().any(|f| f.contains("exemplar-storage")),
        "{flags:?}"
    );

    let exposition = read(&format!("{RECORDED}/collector-8889-openmetrics.txt"));
    let served = exposition_exemplars(&exposition, names::SPAN_DURATION_BUCKET);
    let target = serve_openmetrics(move |_| exposition.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = fast_scrape_config(dir.path(), target);
    let data = dir.path().join("data");
    let server = TestPrometheus::launch(dir, &config, &data, &flags);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client =
        demo::signals::prometheus::Prometheus::new(&server.url(), Duration::from_secs(2)).unwrap();
    let start = 1.0e9; // the recording's exemplars carry their own (past) timestamps
    let end = demo::signals::prometheus::unix_now() + 60.0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let stored: Vec<Exemplar> = loop {
        let got = runtime
            .block_on(client.exemplars(&exemplars::durations_of("recommendation"), start, end))
            .unwrap();
        if !got.is_empty() {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "no exemplars stored in 20 s:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    // What Prometheus stored is what the collector served, trace ids and durations alike.
    let served_ids: BTreeSet<&str> = served.iter().map(|(t, _)| t.as_str()).collect();
    let stored_ids: BTreeSet<&str> = stored.iter().map(|e| e.trace_id.as_str()).collect();
    assert_eq!(stored_ids, served_ids);
    let slowest = exemplars::slowest(&stored).unwrap();
    let (slow_id, slow_ms) = served.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert_eq!(&slowest.trace_id, slow_id);
    assert!((slowest.duration_ms - slow_ms).abs() < 1e-6);
    // diagnose's link to it opens the trace in Jaeger's UI.
    assert_eq!(
        jaeger::trace_url("http://127.0.0.1:16686", &slowest.trace_id),
        format!("http://127.0.0.1:16686/trace/{slow_id}")
    );
}

#[test]
fn the_callers_error_panel_runs_the_query_status_and_diagnose_share() {
    let (_, rec) = dashboards()
        .into_iter()
        .find(|(n, _)| n == "recommendation.json")
        .unwrap();
    let panel = panels(&rec)
        .into_iter()
        .find(|p| p["title"] == "Callers' error rate")
        .expect("a panel for the callers' error rate");
    let shared = demo::signals::prometheus::query::callers_error_ratio_over(
        Some(names::SERVICE_RECOMMENDATION),
        names::RATE_INTERVAL,
    );
    assert_eq!(panel["targets"][0]["expr"], shared.as_str(), "{shared}");
}

/// The recorded exposition with each exemplar stamped now (the recording's own stamps lie in
/// the past, outside any diagnose window), and a CPU-time counter of the recommendation that
/// drops every other scrape (a restart each time, so the restart alert fires).
fn live_exposition(recorded: &str, n: usize) -> String {
    let now = demo::signals::prometheus::unix_now();
    let mut out = String::new();
    for line in recorded.lines().filter(|l| *l != "# EOF") {
        match line.split_once(" # {") {
            Some((sample, exemplar)) => {
                let (labels, rest) = exemplar.split_once("} ").unwrap();
                let value = rest.split_whitespace().next().unwrap();
                out.push_str(&format!("{sample} # {{{labels}}} {value} {now:.3}\n"));
            }
            None => out.push_str(&format!("{line}\n")),
        }
    }
    out.push_str(&restarting_cpu_counter(n));
    out.push_str("# EOF\n");
    out
}

/// `demo diagnose` against a running recommendation container and a real Prometheus with the
/// stack's rules and flags: its report ends with the firing alert and the slowest exemplar's
/// trace, linked to the project's Jaeger.
#[test]
fn diagnose_points_at_the_firing_alert_and_the_slowest_trace() {
    if !crate::support::engine_available() {
        return;
    }
    let recorded = read(&format!("{RECORDED}/collector-8889-openmetrics.txt"));
    let (slow_id, slow_ms) = exposition_exemplars(&recorded, names::SPAN_DURATION_BUCKET)
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let target = serve_openmetrics(move |n| live_exposition(&recorded, n));
    let dir = tempfile::tempdir().unwrap();
    let config = fast_scrape_config(dir.path(), target);
    let data = dir.path().join("data");
    let flags = vec!["--enable-feature=exemplar-storage".to_string()];
    let server = TestPrometheus::launch(dir, &config, &data, &flags);

    let demo = crate::support::Demo::offline("diagnose_pointers")
        .env("PROMETHEUS_PORT", &server.port.to_string());
    demo.run(&["up", "--no-deps", "--wait-timeout", "90s", "recommendation"])
        .success();
    let jaeger_port = demo.get_env("JAEGER_UI_PORT").unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let json = loop {
        let json = demo
            .run(&["diagnose", "--json", "--sample", "2s"])
            .success()
            .json();
        let pointers = &json["pointers"];
        let firing = pointers["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == names::ALERT_SERVICE_RESTARTED && a["state"] == "firing");
        if firing && pointers["slowest_exemplar"].is_object() {
            break json;
        }
        assert!(Instant::now() < deadline, "no pointers in 60 s: {pointers}");
        std::thread::sleep(Duration::from_secs(1));
    };
    let slowest = &json["pointers"]["slowest_exemplar"];
    assert_eq!(slowest["trace_id"], slow_id.as_str());
    assert!((slowest["duration_ms"].as_f64().unwrap() - slow_ms).abs() < 1e-6);
    assert_eq!(
        slowest["trace_url"],
        format!("http://127.0.0.1:{jaeger_port}/trace/{slow_id}").as_str()
    );
    let search = slowest["search_url"].as_str().unwrap();
    assert!(
        search.starts_with(&format!(
            "http://127.0.0.1:{jaeger_port}/search?service=recommendation"
        )),
        "{search}"
    );
    // The text report ends with the same pointers.
    let text = demo.run(&["diagnose", "--sample", "2s"]).success().stdout();
    let tail = text
        .split("where to look next:")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        tail.contains(&format!(
            "alert          {}",
            names::ALERT_SERVICE_RESTARTED
        )),
        "{text}"
    );
    assert!(tail.contains(&format!("trace {slow_id}")), "{text}");
}
