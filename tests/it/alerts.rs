//! The alert rules in compose/prometheus/alerts.yml, run by `promtool test rules` on the series of a recorded leak.
//!
//! The input is the recorded run in tests/fixtures/recorded/alerts/ (flag on ~56 s into it, OOM
//! kills ~4 min 15 s and ~7 min 45 s later, flag left on for 10 min), followed by the flag
//! going off: memory stays where it is (the leaked list is not freed, it only stops growing)
//! and every counter goes on at the pace of the healthy minute before the flag.

use std::fmt::Write as _;
use std::process::Command;

use demo::signals::names;
use serde_json::Value;

use crate::pipeline::{read, yaml};
use crate::support::prometheus::{
    Prometheus, fast_scrape_config, restarting_cpu_counter, serve_openmetrics, tool,
};
use crate::support::{Demo, engine_available, repo};

/// Samples after the flag goes off: 15 minutes at the 5 s step.
const TAIL_STEPS: usize = 180;
/// How soon after the flag goes on at least one alert must fire.
const FIRE_WITHIN_S: f64 = 300.0;

/// The rules file's alerts: name, summary template and severity.
fn rules() -> Vec<(String, String, String)> {
    let parsed = yaml("compose/prometheus/alerts.yml");
    parsed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| {
            Some((
                r["alert"].as_str()?.to_string(),
                r["annotations"]["summary"].as_str()?.to_string(),
                r["labels"]["severity"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The recording as promtool input series, with the flag-off tail appended, and when (seconds
/// from the first sample) the flag went on, went off, and the data ends.
struct Recording {
    series: Vec<(String, String)>,
    flag_on_s: f64,
    flag_off_s: f64,
    end_s: f64,
}

fn recording() -> Recording {
    let doc: Value = serde_json::from_str(&read(
        "tests/fixtures/recorded/alerts/leak-run-2-series.json",
    ))
    .unwrap();
    let step = doc["step_seconds"].as_f64().unwrap();
    let flag_on_s = doc["flag_on_after_seconds"].as_f64().unwrap();
    let baseline_samples = (flag_on_s / step) as usize;
    let all = doc["series"].as_array().unwrap();
    let samples = all
        .iter()
        .map(|s| s["start"].as_u64().unwrap() as usize + s["values"].as_array().unwrap().len())
        .max()
        .unwrap();
    let mut series = Vec::new();
    for s in all {
        let start = s["start"].as_u64().unwrap() as usize;
        let values: Vec<f64> = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let labels = s["labels"].as_object().unwrap();
        let name = labels["__name__"].as_str().unwrap();
        let last = *values.last().unwrap();
        // The healthy pace: a counter's mean step over the minute before the flag (a series that
        // first appeared after the flag, such as the callers' errors, stays put).
        let pace = if start < baseline_samples && name != "process_memory_usage_bytes" {
            let before = &values[..baseline_samples - start];
            (before[before.len() - 1] - before[0]) / (before.len().max(2) - 1) as f64
        } else {
            0.0
        };
        let mut text = "_ ".repeat(start);
        for v in &values {
            let _ = write!(text, "{v} ");
        }
        // A series that ended before the recording did is stale from then on.
        text.push_str(&"_ ".repeat(samples - start - values.len()));
        for i in 1..=TAIL_STEPS {
            let _ = write!(text, "{} ", last + pace * i as f64);
        }
        let selector = labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(",");
        series.push((format!("{name}{{{selector}}}"), text.trim_end().to_string()));
    }
    Recording {
        series,
        flag_on_s,
        flag_off_s: samples as f64 * step,
        end_s: (samples + TAIL_STEPS) as f64 * step,
    }
}

/// An expectation: at `at_s` (seconds from the first sample) alert `name` fires for `firing`
/// services (none when empty).
struct Expect<'a> {
    at_s: u64,
    name: &'a str,
    firing: &'a [&'a str],
}

/// Writes a promtool unit test for the expectations and runs it; promtool's report on failure.
fn promtool_test(rec: &Recording, expects: &[Expect]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("compose/prometheus/alerts.yml"),
        dir.path().join("alerts.yml"),
    )
    .unwrap();
    let rules = rules();
    let mut yaml = String::from(
        "rule_files: [alerts.yml]\nevaluation_interval: 5s\ntests:\n  - interval: 5s\n    input_series:\n",
    );
    for (selector, values) in &rec.series {
        let _ = writeln!(
            yaml,
            "      - series: '{selector}'\n        values: '{values}'"
        );
    }
    yaml.push_str("    alert_rule_test:\n");
    for e in expects {
        let _ = writeln!(
            yaml,
            "      - eval_time: {}s\n        alertname: {}",
            e.at_s, e.name
        );
        if e.firing.is_empty() {
            yaml.push_str("        exp_alerts: []\n");
            continue;
        }
        yaml.push_str("        exp_alerts:\n");
        let (_, template, severity) = rules.iter().find(|(n, ..)| n == e.name).unwrap();
        for service in e.firing {
            let summary = template.replace("{{ $labels.service_name }}", service);
            let _ = writeln!(
                yaml,
                "          - exp_labels: {{service_name: {service}, severity: {}}}\n            exp_annotations:\n              summary: {}",
                severity,
                serde_json::to_string(&summary).unwrap()
            );
        }
    }
    let file = dir.path().join("leak.test.yml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(tool("promtool"))
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn every_10s(from_s: f64, to_s: f64) -> impl Iterator<Item = u64> {
    (from_s.ceil() as u64..to_s.floor() as u64).step_by(10)
}

#[test]
fn the_rules_are_silent_on_the_healthy_baseline_and_after_the_flag_is_off() {
    let rec = recording();
    let names: Vec<String> = rules().into_iter().map(|(n, ..)| n).collect();
    // The names `demo` and its tests know are the ones the rules define.
    assert_eq!(
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        demo::signals::names::ALERTS
    );
    // Before the flag, and from 5 minutes after it went off (the restart alert looks 5 minutes
    // back, and the last OOM kill came shortly before the flag went off) to the end.
    let times: Vec<u64> = every_10s(0.0, rec.flag_on_s)
        .chain(every_10s(rec.flag_off_s + 300.0, rec.end_s))
        .collect();
    let expects: Vec<Expect> = times
        .iter()
        .flat_map(|&at_s| {
            names.iter().map(move |name| Expect {
                at_s,
                name,
                firing: &[],
            })
        })
        .collect();
    promtool_test(&rec, &expects).unwrap();
}

#[test]
fn the_leak_fires_within_five_minutes_of_the_flag_and_each_alert_names_the_service() {
    let rec = recording();
    let at = |after_flag_s: f64| (rec.flag_on_s + after_flag_s).round() as u64;
    let on = &["recommendation"];
    let expects = [
        // The climb is seen first, ~3.5 min in, well before the first kill.
        Expect {
            at_s: at(FIRE_WITHIN_S - 60.0),
            name: names::ALERT_MEMORY_LEAK,
            firing: on,
        },
        Expect {
            at_s: at(FIRE_WITHIN_S - 60.0),
            name: names::ALERT_SERVICE_RESTARTED,
            firing: &[],
        },
        // After the first OOM kill (~4 min 15 s): the restart and the latency over baseline.
        Expect {
            at_s: at(FIRE_WITHIN_S),
            name: names::ALERT_SERVICE_RESTARTED,
            firing: on,
        },
        Expect {
            at_s: at(FIRE_WITHIN_S - 10.0),
            name: names::ALERT_LATENCY_ABOVE_BASELINE,
            firing: on,
        },
        // The second climb, before the second kill (~7 min 45 s).
        Expect {
            at_s: at(450.0),
            name: names::ALERT_MEMORY_LEAK,
            firing: on,
        },
    ];
    promtool_test(&rec, &expects).unwrap();

    // The expectations can fail: the healthy minute before the flag fires nothing.
    let wrong = [Expect {
        at_s: at(-10.0),
        name: names::ALERT_MEMORY_LEAK,
        firing: on,
    }];
    let report = promtool_test(&rec, &wrong).expect_err("nothing fires before the flag");
    assert!(report.contains(names::ALERT_MEMORY_LEAK), "{report}");
}

/// A real Prometheus (Debian's 2.42) with the stack's rules, scraping a recommendation whose
/// CPU-time counter drops every other scrape (a restart each time): `demo status` shows the
/// alert it fires, as text and as JSON.
#[test]
fn status_shows_the_alert_prometheus_fires() {
    if !engine_available() {
        return;
    }
    let target = serve_openmetrics(|n| format!("{}# EOF\n", restarting_cpu_counter(n)));
    let dir = tempfile::tempdir().unwrap();
    let config = fast_scrape_config(dir.path(), target);
    let data = dir.path().join("data");
    let server = Prometheus::launch(dir, &config, &data, &[]);
    // No containers of this project: the rows say missing, the alert still shows.
    let demo = Demo::new("status_alerts").env("PROMETHEUS_PORT", &server.port.to_string());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let run = demo.run(&["status"]);
        let out = run.stdout();
        if out.contains("alert DemoServiceRestarted (firing)") {
            assert!(
                out.contains("recommendation restarted in the last 5 minutes"),
                "{out}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no firing alert in status after 30 s:\n{out}{}\n{}",
            run.stderr(),
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let json = demo.run(&["status", "--json"]).json();
    let alerts = json["alerts"].as_array().unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a["name"] == names::ALERT_SERVICE_RESTARTED
                && a["state"] == "firing"
                && a["service"] == "recommendation"),
        "{json}"
    );
}
