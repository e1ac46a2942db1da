//! The telemetry pipeline's configuration (collector, Prometheus, Jaeger, Grafana, dashboards), checked with real tools where this machine has them and against the pinned versions' documented names where it does not.
//!
//! What runs for real: `promtool check config`, the `promql-parser` crate on every dashboard
//! query, and Debian's Prometheus answering every dashboard query from series loaded with
//! `promtool tsdb create-blocks-from openmetrics`. What is only compared with documented names:
//! the collector's and Jaeger's component types and keys, since their images cannot run here.
//! A full-stack test drives `demo` against the upstream images when the engine has them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use demo::signals::names;
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};
use serde_json::Value;

use crate::support::free_port;
use crate::support::prometheus::{
    HistogramSeries, Prometheus, STEP_S, Synthetic, encode, http_get, tool,
};

// ---------------------------------------------------------------------------------------------
// Files and tools
// ---------------------------------------------------------------------------------------------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A YAML file as JSON values, so YAML and dashboard JSON are walked the same way.
pub(crate) fn yaml(rel: &str) -> Value {
    let parsed: serde_norway::Value =
        serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"));
    serde_json::to_value(parsed).unwrap_or_else(|e| panic!("{rel} has non-string keys: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Dashboard queries
// ---------------------------------------------------------------------------------------------

/// One query a dashboard sends to Prometheus.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) dashboard: String,
    /// Panel title, or `variable <name>`.
    pub(crate) panel: String,
    /// The target's legend, to find a particular series of a panel.
    legend: String,
    /// As written in the dashboard.
    raw: String,
    /// Grafana's macros and the dashboard's variables substituted: plain PromQL.
    pub(crate) expr: String,
}

pub(crate) fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let dir = repo().join("dashboards");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("dashboard file readable");
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, value));
    }
    assert!(
        out.len() >= 2,
        "expected the recommendation and collector dashboards"
    );
    out
}

/// Every panel, including those nested in (collapsed) rows.
pub(crate) fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn variables(dashboard: &Value) -> Vec<&Value> {
    dashboard["templating"]["list"]
        .as_array()
        .map(|list| list.iter().collect())
        .unwrap_or_default()
}

/// The values the dashboard's variables start with (what Grafana substitutes on first load).
fn variable_values(dashboard: &Value) -> BTreeMap<String, String> {
    variables(dashboard)
        .into_iter()
        .filter_map(|var| {
            let name = var["name"].as_str()?.to_string();
            let value = match &var["current"]["value"] {
                Value::String(s) => s.clone(),
                Value::Array(values) => values.first()?.as_str()?.to_string(),
                _ => return None,
            };
            Some((name, value))
        })
        .collect()
}

/// Grafana's macros, as a 15-minute dashboard with a 5 s scrape interval resolves them.
const MACROS: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("${__rate_interval}", "1m"),
    ("$__interval", "15s"),
    ("${__interval}", "15s"),
    ("$__range", "15m"),
    ("${__range}", "15m"),
];

/// Substitutes macros and variables; a `$name` left over is an undefined variable.
fn substitute(expr: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = expr.to_string();
    for (macro_name, value) in MACROS {
        out = out.replace(macro_name, value);
    }
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|name| std::cmp::Reverse(name.len()));
    for name in names {
        let value = &vars[name];
        // ${name}, ${name:format} and $name.
        while let Some(start) = out.find(&format!("${{{name}")) {
            let after = &out[start + name.len() + 2..];
            let Some(end) = after.find('}') else { break };
            if !(after.starts_with('}') || after.starts_with(':')) {
                break;
            }
            out.replace_range(start..start + name.len() + 3 + end, value);
        }
        out = out.replace(&format!("${name}"), value);
    }
    let bytes = out.as_bytes();
    for (i, byte) in bytes.iter().enumerate() {
        let next = bytes.get(i + 1).copied().unwrap_or(b' ');
        if *byte == b'$' && (next.is_ascii_alphabetic() || next == b'_' || next == b'{') {
            return Err(format!("undefined variable at `{}`", &out[i..]));
        }
    }
    Ok(out)
}

/// The PromQL inside a Prometheus variable query: `label_values(selector, label)` and
/// `query_result(expr)` are Grafana's wrappers around PromQL.
fn variable_promql(query: &str) -> Result<String, String> {
    let query = query.trim();
    if let Some(inner) = query
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
    {
        return match inner.rsplit_once(',') {
            Some((selector, _label)) => Ok(selector.trim().to_string()),
            None => Err(format!(
                "`{query}` lists a label over every metric: name the metric it comes from"
            )),
        };
    }
    if let Some(inner) = query
        .strip_prefix("query_result(")
        .and_then(|q| q.strip_suffix(')'))
    {
        return Ok(inner.trim().to_string());
    }
    if query.starts_with("label_names(") || query.starts_with("metrics(") {
        return Err(format!("`{query}` is not checked against the metric list"));
    }
    Ok(query.to_string())
}

/// Every query of a dashboard: panel targets (rows included) and variable queries.
fn queries(name: &str, dashboard: &Value) -> Vec<Result<Query, String>> {
    let vars = variable_values(dashboard);
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(raw) = target["expr"].as_str() else {
                continue;
            };
            out.push(substitute(raw, &vars).map(|expr| {
                Query {
                    dashboard: name.to_string(),
                    panel: title.clone(),
                    legend: target["legendFormat"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    raw: raw.to_string(),
                    expr,
                }
            }));
        }
    }
    for var in variables(dashboard) {
        if var["type"] != "query" {
            continue;
        }
        let raw = match &var["query"] {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("query")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        };
        let var_name = var["name"].as_str().unwrap_or("?");
        out.push(
            variable_promql(&raw)
                .and_then(|promql| substitute(&promql, &vars))
                .map(|expr| Query {
                    dashboard: name.to_string(),
                    panel: format!("variable {var_name}"),
                    legend: String::new(),
                    raw: raw.clone(),
                    expr,
                })
                .map_err(|e| format!("{name}: variable {var_name}: {e}")),
        );
    }
    out
}

/// Metric and label names a PromQL expression uses.
#[derive(Debug, Default)]
struct Uses {
    metrics: BTreeSet<String>,
    labels: BTreeSet<String>,
}

fn uses(expr: &str) -> Result<Uses, String> {
    let ast = parser::parse(expr).map_err(|e| format!("does not parse: {e}"))?;
    let mut found = Uses::default();
    walk(&ast, &mut found)?;
    Ok(found)
}

fn walk(expr: &Expr, found: &mut Uses) -> Result<(), String> {
    match expr {
        Expr::Aggregate(agg) => {
            if let Some(modifier) = &agg.modifier {
                found
                    .labels
                    .extend(modifier.labels().labels.iter().cloned());
            }
            if let Some(param) = &agg.param {
                walk(param, found)?;
            }
            walk(&agg.expr, found)
        }
        Expr::Unary(unary) => walk(&unary.expr, found),
        Expr::Binary(binary) => {
            if let Some(modifier) = &binary.modifier {
                if let Some(matching) = &modifier.matching {
                    found
                        .labels
                        .extend(matching.labels().labels.iter().cloned());
                }
                if let Some(group) = modifier.card.labels() {
                    found.labels.extend(group.labels.iter().cloned());
                }
            }
            walk(&binary.lhs, found)?;
            walk(&binary.rhs, found)
        }
        Expr::Paren(paren) => walk(&paren.expr, found),
        Expr::Subquery(sub) => walk(&sub.expr, found),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(selector) => select(selector, found),
        Expr::MatrixSelector(matrix) => select(&matrix.vs, found),
        Expr::Call(call) => call.args.args.iter().try_for_each(|arg| walk(arg, found)),
        Expr::Extension(_) => Err("uses an extension expression".to_string()),
    }
}

fn select(selector: &VectorSelector, found: &mut Uses) -> Result<(), String> {
    let mut name = selector.name.clone();
    let all = selector
        .matchers
        .matchers
        .iter()
        .chain(selector.matchers.or_matchers.iter().flatten());
    for matcher in all {
        if matcher.name == "__name__" {
            match matcher.op {
                MatchOp::Equal => name = Some(matcher.value.clone()),
                _ => {
                    return Err(format!(
                        "selects metric names by pattern ({}): name them, so they can be checked",
                        matcher
                    ));
                }
            }
        } else {
            found.labels.insert(matcher.name.clone());
        }
    }
    let name = name.ok_or_else(|| "has a selector without a metric name".to_string())?;
    found.metrics.insert(name);
    Ok(())
}

/// The check every dashboard query must pass: it parses, and every metric it selects and every
/// label it matches or groups on is one our pipeline emits (src/signals/names.rs).
fn check(expr: &str) -> Result<Uses, String> {
    let found = uses(expr)?;
    let unknown_metrics: Vec<&String> = found
        .metrics
        .iter()
        .filter(|m| !names::ALL.contains(&m.as_str()))
        .collect();
    let unknown_labels: Vec<&String> = found
        .labels
        .iter()
        .filter(|l| !names::LABELS.contains(&l.as_str()))
        .collect();
    if !unknown_metrics.is_empty() {
        return Err(format!(
            "selects metrics nobody emits: {unknown_metrics:?} (emitted: src/signals/names.rs ALL)"
        ));
    }
    if !unknown_labels.is_empty() {
        return Err(format!(
            "uses labels nobody emits: {unknown_labels:?} (emitted: src/signals/names.rs LABELS)"
        ));
    }
    Ok(found)
}

pub(crate) fn all_queries() -> Vec<Query> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (name, dashboard) in dashboards() {
        for query in queries(&name, &dashboard) {
            match query {
                Ok(q) => out.push(q),
                Err(e) => errors.push(e),
            }
        }
    }
    assert!(
        errors.is_empty(),
        "dashboard queries:\n{}",
        errors.join("\n")
    );
    out
}

#[test]
fn every_dashboard_query_parses_and_selects_only_emitted_names() {
    let queries = all_queries();
    assert!(queries.len() >= 20, "found only {} queries", queries.len());
    let mut failures = Vec::new();
    let mut used = BTreeSet::new();
    for q in &queries {
        match check(&q.expr) {
            Ok(found) => used.extend(found.metrics),
            Err(e) => failures.push(format!("{} / {}: `{}` {e}", q.dashboard, q.panel, q.raw)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The scenario's signals are all on a dashboard.
    for needed in [
        names::PROCESS_CPU_TIME,
        names::PROCESS_MEMORY_USAGE,
        names::SPAN_DURATION_BUCKET,
        names::SPAN_CALLS,
        names::RECOMMENDATIONS_COUNTER,
        names::OTELCOL_RECEIVER_ACCEPTED_SPANS,
        names::OTELCOL_EXPORTER_SENT_SPANS,
        names::OTELCOL_PROCESS_MEMORY_RSS,
    ] {
        assert!(used.contains(needed), "no dashboard query uses {needed}");
    }
}

#[test]
fn the_query_check_rejects_names_nobody_emits() {
    // Names of older collectors and typos: each must be caught.
    for bad in [
        "rate(calls_total[1m])",
        "histogram_quantile(0.95, sum by (le) (rate(duration_milliseconds_bucket[1m])))",
        "rate(traces_spanmetrics_calls_total[1m])",
        "traces_span_metrics_duration_seconds_bucket",
        "process_runtime_cpython_memory_bytes",
        "otelcol_process_memory_rss",
        "{__name__=~\"traces_span_metrics_.*\"}",
    ] {
        let err = check(bad).expect_err(bad);
        assert!(
            err.contains("nobody emits") || err.contains("by pattern"),
            "{bad}: {err}"
        );
    }
    // A known metric with a label the pipeline does not set.
    let err =
        check("sum by (operation) (rate(traces_span_metrics_calls_total{service=\"x\"}[1m]))")
            .expect_err("unknown labels");
    assert!(
        err.contains("operation") && err.contains("service"),
        "{err}"
    );
    // Not PromQL at all.
    assert!(check("sum(rate(traces_span_metrics_calls_total[1m])").is_err());
    // The same paths the dashboards go through: a variable query and a substituted panel query.
    let vars = BTreeMap::from([("service".to_string(), "recommendation".to_string())]);
    let from_variable =
        variable_promql("label_values(traces_spanmetrics_calls_total, service_name)")
            .and_then(|q| substitute(&q, &vars))
            .expect("the wrapper is understood");
    assert!(check(&from_variable).is_err());
    assert!(substitute("up{job=\"$nope\"}", &vars).is_err());
    let good = substitute(
        "rate(traces_span_metrics_calls_total{service_name=\"$service\"}[$__rate_interval])",
        &vars,
    )
    .unwrap();
    assert_eq!(
        good,
        "rate(traces_span_metrics_calls_total{service_name=\"recommendation\"}[1m])"
    );
    check(&good).expect("a correct query passes");
}

// ---------------------------------------------------------------------------------------------
// Grafana: datasources, provisioning, schema
// ---------------------------------------------------------------------------------------------

/// What Grafana 13.1 writes: `DASHBOARD_SCHEMA_VERSION = 42` in grafana/grafana
/// public/app/features/dashboard/state/DashboardMigrator.ts, marked there as the final version
/// of the v1 dashboard API (apps/dashboard/pkg/migration/schemaversion/migrations.go has
/// LATEST_VERSION = 42 for the backend). The upstream demo's 3.0.0 dashboards last saved with
/// 13.1 carry 42 too.
const GRAFANA_SCHEMA_VERSION: u64 = 42;

#[test]
fn dashboards_resolve_their_datasources_and_use_the_pinned_schema() {
    let provisioned = yaml("compose/grafana/provisioning/datasources/datasources.yaml");
    let sources = provisioned["datasources"]
        .as_array()
        .expect("a datasources list");
    let uids: BTreeMap<&str, &str> = sources
        .iter()
        .map(|ds| (ds["uid"].as_str().unwrap(), ds["type"].as_str().unwrap()))
        .collect();
    assert_eq!(uids.get("demo-metrics"), Some(&"prometheus"));
    assert_eq!(uids.get("demo-traces"), Some(&"jaeger"));
    let url = |uid: &str| {
        sources.iter().find(|ds| ds["uid"] == uid).unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(url("demo-metrics"), "http://prometheus:9090");
    assert_eq!(url("demo-traces"), "http://jaeger:16686");
    let defaults: Vec<_> = sources
        .iter()
        .filter(|ds| ds["isDefault"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "exactly one default datasource");
    assert_eq!(defaults[0]["uid"], "demo-metrics");

    let mut dashboard_uids = BTreeSet::new();
    let mut problems = Vec::new();
    for (name, dashboard) in dashboards() {
        if dashboard["schemaVersion"].as_u64() != Some(GRAFANA_SCHEMA_VERSION) {
            problems.push(format!(
                "{name}: schemaVersion is not {GRAFANA_SCHEMA_VERSION}"
            ));
        }
        let uid = dashboard["uid"].as_str().unwrap_or_default().to_string();
        if uid.is_empty() || uid.len() > 40 || !dashboard_uids.insert(uid.clone()) {
            problems.push(format!(
                "{name}: uid `{uid}` missing, too long or not unique"
            ));
        }
        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or("?");
            if !ids.insert(panel["id"].as_u64().unwrap_or(0)) {
                problems.push(format!("{name}: panel id of `{title}` is not unique"));
            }
            let grid = &panel["gridPos"];
            let (x, w) = (
                grid["x"].as_u64().unwrap_or(99),
                grid["w"].as_u64().unwrap_or(99),
            );
            if x + w > 24 || grid["h"].as_u64().unwrap_or(0) == 0 {
                problems.push(format!("{name}: `{title}` lies outside the 24-column grid"));
            }
            let targets = panel["targets"].as_array().cloned().unwrap_or_default();
            if matches!(panel["type"].as_str(), Some("row" | "text")) {
                continue;
            }
            if targets.is_empty() {
                problems.push(format!("{name}: `{title}` has no query"));
            }
            let refs = std::iter::once(&panel["datasource"])
                .chain(targets.iter().map(|t| &t["datasource"]));
            for ds in refs {
                match ds["uid"].as_str() {
                    Some(uid) if uids.get(uid) == ds["type"].as_str().as_ref() => {}
                    _ => problems.push(format!("{name}: `{title}` uses datasource {ds}")),
                }
            }
        }
        for var in variables(&dashboard) {
            if var["type"] == "query"
                && !uids.contains_key(var["datasource"]["uid"].as_str().unwrap_or(""))
            {
                problems.push(format!(
                    "{name}: variable {} has no provisioned datasource",
                    var["name"]
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The provider reads the directory compose copies every dashboard into (one config per
    // file), into folder "Demo".
    let provider = yaml("compose/grafana/provisioning/dashboards/demo.yaml");
    let provider = &provider["providers"][0];
    assert_eq!(provider["folder"], "Demo");
    let path = provider["options"]["path"].as_str().unwrap();
    let compose = yaml("compose/docker-compose.yaml");
    let placed: Vec<String> = compose["services"]["grafana"]["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            let file = compose["configs"][c["source"].as_str()?]["file"].as_str()?;
            Some(format!("{file} -> {}", c["target"].as_str()?))
        })
        .collect();
    for dashboard in std::fs::read_dir(repo().join("dashboards")).unwrap() {
        let name = dashboard
            .unwrap()
            .file_name()
            .to_string_lossy()
            .into_owned();
        let wanted = format!("./dashboards/{name} -> {path}/{name}");
        assert!(
            placed.contains(&wanted),
            "grafana's configs {placed:?} lack {wanted}"
        );
    }

    // The home dashboard is ours, and anonymous users are viewers without a login form.
    let ini = read("compose/grafana/grafana.ini");
    let setting = |key: &str| {
        ini.lines()
            .filter(|l| !l.trim_start().starts_with(';'))
            .find_map(|l| {
                l.split_once('=')
                    .filter(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("grafana.ini has no {key}"))
    };
    let home = setting("default_home_dashboard_path");
    let home_file = home
        .strip_prefix(&format!("{path}/"))
        .expect("home is in the mounted dir");
    assert!(
        repo().join("dashboards").join(home_file).is_file(),
        "{home} is not a dashboard of ours"
    );
    assert_eq!(setting("org_role"), "Viewer");
    assert_eq!(setting("disable_login_form"), "true");

    // Its links to traces go through the Jaeger datasource: tests/it/exemplars.rs.
}

// ---------------------------------------------------------------------------------------------
// Prometheus: promtool, and a real server answering the dashboards
// ---------------------------------------------------------------------------------------------

#[test]
fn prometheus_config_passes_promtool() {
    let out = Command::new(tool("promtool"))
        .args(["check", "config"])
        .arg(repo().join("compose/prometheus/prometheus.yml"))
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool check config failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // It scrapes exactly the two endpoints the collector config opens.
    let prom = yaml("compose/prometheus/prometheus.yml");
    assert!(
        prom.get("otlp").is_none(),
        "Prometheus 2.42 rejects an otlp: section"
    );
    assert_eq!(prom["global"]["scrape_interval"], "5s");
    let targets: BTreeSet<&str> = prom["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|job| job["static_configs"].as_array().unwrap())
        .flat_map(|sc| sc["targets"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        targets,
        BTreeSet::from(["otel-collector:8889", "otel-collector:8888"])
    );
}

/// The explicit histogram buckets of the collector's span_metrics connector, in ms.
fn configured_buckets_ms() -> Vec<f64> {
    let config = yaml("compose/otel-collector/config.yaml");
    let buckets = config["connectors"]["span_metrics"]["histogram"]["explicit"]["buckets"]
        .as_array()
        .expect("explicit buckets");
    let ms: Vec<f64> = buckets
        .iter()
        .map(|b| duration_ms(b.as_str().expect("a duration string")))
        .collect();
    assert!(
        ms.windows(2).all(|w| w[0] < w[1]),
        "buckets must increase: {ms:?}"
    );
    ms
}

/// A Go duration such as `100us`, `1500ms` or `5s`, in milliseconds.
fn duration_ms(text: &str) -> f64 {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or_else(|| panic!("`{text}` has no unit"));
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("`{text}` is no duration"));
    let factor = match unit {
        "ns" => 1e-6,
        "us" | "µs" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        _ => panic!("`{text}`: unknown unit {unit}"),
    };
    number * factor
}

const SERVER_SPAN: &str = "oteldemo.RecommendationService/ListRecommendations";

/// The series of a stack with the flag on, as the collector and Prometheus would hold them.
///
/// Every 5 s the recommendation service handles 100 requests that succeed (50 in (0.5, 0.75] ms,
/// 40 in (0.75, 1] ms, 10 in (4, 5] s) and 5 that fail (in (0.75, 1] ms); get_product_list hits
/// the cache 60 times (in (0.25, 0.5] ms) and misses 40 times (in (1.5, 2] s). So, per
/// histogram_quantile's linear interpolation over 105 requests: p95 (rank 99.75) lies 4.75/10
/// into (4000, 5000] = 4475 ms, p50 (rank 52.5) 2.5/45 into (0.75, 1] = 0.7639 ms; errors are
/// 5/105 = 4.76%; the cache-hit ratio is 60/100. The hits carry both attribute names (as our
/// service sends them), the misses only upstream 3.0's (as upstream's service does): a query
/// that reads one name only, or counts a series with both twice, gets another ratio. The
/// callers (frontend's client spans) made 95 calls that succeeded and 5 that failed: 5%.
fn synthetic_series(end: u64, steps: u64) -> String {
    let buckets = configured_buckets_ms();
    let mut data = Synthetic::new(end, steps);
    let svc = "service_name=\"recommendation\",job=\"opentelemetry-demo/recommendation\"";
    let server = |status: &str| {
        format!(
            "{svc},span_name=\"{SERVER_SPAN}\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"{status}\",collector_instance_id=\"c1\""
        )
    };
    let product_list = |names: &str| {
        format!(
            "{svc},span_name=\"get_product_list\",span_kind=\"SPAN_KIND_INTERNAL\",status_code=\"STATUS_CODE_UNSET\",{names}"
        )
    };
    let caller = |status: &str| {
        format!(
            "service_name=\"frontend\",job=\"opentelemetry-demo/frontend\",span_name=\"{SERVER_SPAN}\",span_kind=\"SPAN_KIND_CLIENT\",status_code=\"{status}\""
        )
    };
    let (called_ok, called_err) = (caller("STATUS_CODE_UNSET"), caller("STATUS_CODE_ERROR"));
    let (ok, err, hit, miss) = (
        server("STATUS_CODE_UNSET"),
        server("STATUS_CODE_ERROR"),
        product_list("app_cache_hit=\"true\",demo_recommendation_cache_hit=\"true\""),
        product_list("demo_recommendation_cache_hit=\"false\""),
    );
    data.counter(
        "traces_span_metrics_calls",
        &[
            (&ok, 100.0),
            (&err, 5.0),
            (&hit, 60.0),
            (&miss, 40.0),
            (&called_ok, 95.0),
            (&called_err, 5.0),
        ],
    );
    data.histogram(
        "traces_span_metrics_duration_milliseconds",
        &buckets,
        &[
            HistogramSeries {
                labels: ok.clone(),
                per_step: vec![(0.75, 50), (1.0, 40), (5000.0, 10)],
            },
            HistogramSeries {
                labels: err.clone(),
                per_step: vec![(1.0, 5)],
            },
            HistogramSeries {
                labels: hit.clone(),
                per_step: vec![(0.5, 60)],
            },
            HistogramSeries {
                labels: miss.clone(),
                per_step: vec![(2000.0, 40)],
            },
        ],
    );
    // 0.25 s user and 0.05 s system CPU per 5 s: 5% and 1%.
    data.counter(
        "process_cpu_time_seconds",
        &[
            (&format!("{svc},cpu_mode=\"user\""), 0.25),
            (&format!("{svc},cpu_mode=\"system\""), 0.05),
        ],
    );
    // 50 MB growing by 100 kB every 5 s.
    data.gauge("process_memory_usage_bytes", &[(svc, 50e6, 1e5)]);
    // Five recommendations per request: 100 per second.
    data.counter(
        "app_recommendations_counter",
        &[(&format!("{svc},recommendation_type=\"catalog\""), 500.0)],
    );

    let otlp = "receiver=\"otlp\",transport=\"grpc\",job=\"otel-collector-self\"";
    let jaeger = "exporter=\"otlp_grpc/jaeger\",job=\"otel-collector-self\"";
    let prometheus = "exporter=\"prometheus\",job=\"otel-collector-self\"";
    let job = "job=\"otel-collector-self\"";
    data.counter("otelcol_receiver_accepted_spans", &[(otlp, 1000.0)]);
    data.counter("otelcol_receiver_refused_spans", &[(otlp, 0.0)]);
    data.counter("otelcol_receiver_accepted_metric_points", &[(otlp, 300.0)]);
    data.counter("otelcol_exporter_sent_spans", &[(jaeger, 1000.0)]);
    data.counter("otelcol_exporter_send_failed_spans", &[(jaeger, 0.0)]);
    data.counter(
        "otelcol_exporter_sent_metric_points",
        &[(prometheus, 400.0)],
    );
    data.gauge("otelcol_exporter_queue_size", &[(jaeger, 0.0, 0.0)]);
    data.gauge("otelcol_exporter_queue_capacity", &[(jaeger, 1000.0, 0.0)]);
    data.gauge("otelcol_process_memory_rss_bytes", &[(job, 120e6, 0.0)]);
    data.gauge(
        "otelcol_process_runtime_heap_alloc_bytes",
        &[(job, 40e6, 0.0)],
    );
    data.counter("otelcol_process_cpu_seconds", &[(job, 0.1)]);
    data.counter("otelcol_process_uptime_seconds", &[(job, 5.0)]);
    data.gauge(
        "up",
        &[
            (
                "job=\"otel-collector\",instance=\"otel-collector:8889\"",
                1.0,
                0.0,
            ),
            (
                "job=\"otel-collector-self\",instance=\"otel-collector:8888\"",
                1.0,
                0.0,
            ),
        ],
    );
    data.finish()
}

fn sample_value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn dashboard_queries_return_the_expected_data_from_a_real_prometheus() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // 20 minutes of data ending a little before now, every 5 s.
    let end = now - now % STEP_S - STEP_S;
    let prometheus = Prometheus::start(&synthetic_series(end, 240));
    let queries = all_queries();
    let mut empty = Vec::new();
    let mut results: Vec<(Query, Vec<Value>)> = Vec::new();
    for q in queries {
        match prometheus.query(&q.expr, end) {
            Ok(result) if result.is_empty() => empty.push(format!(
                "{} / {}: `{}` returned no series",
                q.dashboard, q.panel, q.expr
            )),
            Ok(result) => results.push((q, result)),
            Err(e) => empty.push(format!(
                "{} / {}: `{}` failed: {e}",
                q.dashboard, q.panel, q.expr
            )),
        }
    }
    assert!(empty.is_empty(), "{}", empty.join("\n"));

    // The values the synthetic data implies (see synthetic_series).
    let value = |panel: &str, legend: &str, series: Option<(&str, &str)>| -> f64 {
        let (_, result) = results
            .iter()
            .find(|(q, _)| q.panel == panel && q.legend == legend)
            .unwrap_or_else(|| panic!("no query `{legend}` in panel `{panel}`"));
        let sample = result
            .iter()
            .find(|s| series.is_none_or(|(k, v)| s["metric"][k] == v))
            .unwrap_or_else(|| panic!("`{panel}`/`{legend}`: no series {series:?} in {result:?}"));
        sample_value(sample)
    };
    let near = |got: f64, want: f64, what: &str| {
        assert!(
            (got - want).abs() <= want.abs() * 1e-3 + 1e-9,
            "{what}: got {got}, expected {want}"
        );
    };
    let latency = "Server latency p50 / p95 / p99 / p99.9";
    near(
        value(latency, "p50", None),
        0.75 + 0.25 * 2.5 / 45.0,
        "p50 ms",
    );
    near(value(latency, "p95", None), 4475.0, "p95 ms");
    near(value(latency, "p99", None), 4895.0, "p99 ms");
    near(value(latency, "p99.9", None), 4989.5, "p99.9 ms");
    near(
        value("Error rate", "errors / requests", None),
        5.0 / 105.0,
        "error ratio",
    );
    near(
        value(
            "Request rate",
            "{{span_name}}",
            Some(("span_name", SERVER_SPAN)),
        ),
        21.0,
        "requests/s",
    );
    near(
        value("Cache-hit ratio", "hit ratio", None),
        0.6,
        "cache-hit ratio",
    );
    let by_hit = "get_product_list p95: hit vs miss";
    near(value(by_hit, "hit", None), 0.4875, "hit p95");
    near(value(by_hit, "miss", None), 1975.0, "miss p95");
    near(
        value("Callers' error rate", "failed calls / calls", None),
        0.05,
        "callers' error ratio",
    );
    near(
        value("CPU %", "{{cpu_mode}}", Some(("cpu_mode", "user"))),
        5.0,
        "user CPU %",
    );
    near(
        value("CPU %", "{{cpu_mode}}", Some(("cpu_mode", "system"))),
        1.0,
        "system CPU %",
    );
    near(
        value("Memory", "resident memory", None),
        50e6 + 240.0 * 1e5,
        "memory",
    );
    near(
        value(
            "Recommendations per second",
            "{{recommendation_type}}",
            None,
        ),
        100.0,
        "recommendations/s",
    );
    near(
        value("Spans received", "{{receiver}} ({{transport}})", None),
        200.0,
        "spans/s in",
    );
    near(
        value("Collector CPU %", "cpu", None),
        2.0,
        "collector CPU %",
    );
    near(
        value("Collector memory", "resident", None),
        120e6,
        "collector RSS",
    );
    // The service variable offers the service the dashboard starts with.
    let (_, services) = results
        .iter()
        .find(|(q, _)| q.panel == "variable service")
        .unwrap();
    assert!(
        services
            .iter()
            .any(|s| s["metric"]["service_name"] == "recommendation")
    );
}

// ---------------------------------------------------------------------------------------------
// Collector and Jaeger configuration against the pinned versions' component names
// ---------------------------------------------------------------------------------------------

/// Component types by kind, as the pinned binary registers them.
struct Registry {
    receivers: &'static [&'static str],
    processors: &'static [&'static str],
    exporters: &'static [&'static str],
    connectors: &'static [&'static str],
    extensions: &'static [&'static str],
    /// Old names the binary still accepts but logs as deprecated: refused here.
    deprecated: &'static [&'static str],
}

/// otelcol-contrib 0.157.0: the types this stack may use, from each module's metadata.yaml at
/// the versions opentelemetry-collector-releases v0.157.0
/// distributions/otelcol-contrib/manifest.yaml pins: core (open-telemetry/opentelemetry-collector
/// tag v0.157.0) receiver/otlpreceiver `otlp`, processor/batchprocessor `batch`,
/// processor/memorylimiterprocessor `memory_limiter`, exporter/otlpexporter `otlp_grpc`
/// (deprecated_type `otlp`), exporter/otlphttpexporter `otlp_http` (deprecated `otlphttp`),
/// exporter/debugexporter `debug`; contrib connector/spanmetricsconnector `span_metrics`
/// (deprecated `spanmetrics`), exporter/prometheusexporter `prometheus`,
/// extension/healthcheckextension `health_check`.
const COLLECTOR_0_157: Registry = Registry {
    receivers: &["otlp"],
    processors: &["batch", "memory_limiter"],
    exporters: &["otlp_grpc", "otlp_http", "debug", "prometheus"],
    connectors: &["span_metrics"],
    extensions: &["health_check"],
    deprecated: &["spanmetrics", "otlphttp"],
};

/// Jaeger 2.19.0: jaegertracing/jaeger tag v2.19.0 cmd/jaeger/internal/components.go lists the
/// factories; their types from the Jaeger sources (jaeger_query, jaeger_storage, jaeger_mcp,
/// remote_sampling, expvar, jaeger_storage_exporter, adaptive_sampling) and from the
/// metadata.yaml of the collector modules its go.mod pins (core and contrib v0.153.0).
const JAEGER_2_19: Registry = Registry {
    receivers: &["otlp", "nop", "jaeger", "kafka", "zipkin"],
    processors: &[
        "batch",
        "memory_limiter",
        "tail_sampling",
        "attributes",
        "filter",
        "adaptive_sampling",
    ],
    exporters: &[
        "debug",
        "otlp_grpc",
        "otlp_http",
        "nop",
        "jaeger_storage_exporter",
        "kafka",
        "prometheus",
    ],
    connectors: &["forward", "span_metrics"],
    extensions: &[
        "healthcheckv2",
        "pprof",
        "zpages",
        "basicauth",
        "sigv4auth",
        "jaeger_mcp",
        "jaeger_query",
        "jaeger_storage",
        "remote_sampling",
        "expvar",
    ],
    deprecated: &["spanmetrics", "otlphttp"],
};

/// The component ids a config defines per kind, and its pipelines.
fn component_ids(config: &Value, kind: &str) -> BTreeSet<String> {
    config[kind]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn type_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// Checks a collector-style configuration against a registry: every id's type is registered
/// for its kind, no deprecated alias is used, every pipeline names defined components (and
/// every defined component is used), and the service's extensions are defined.
fn check_collector_config(config: &Value, registry: &Registry) -> Vec<String> {
    let mut problems = Vec::new();
    let kinds: [(&str, &[&str]); 5] = [
        ("receivers", registry.receivers),
        ("processors", registry.processors),
        ("exporters", registry.exporters),
        ("connectors", registry.connectors),
        ("extensions", registry.extensions),
    ];
    for (kind, known) in kinds {
        for id in component_ids(config, kind) {
            let ty = type_of(&id);
            if registry.deprecated.contains(&ty) {
                problems.push(format!("{kind}.{id}: `{ty}` is a deprecated alias"));
            } else if !known.contains(&ty) {
                problems.push(format!(
                    "{kind}.{id}: `{ty}` is not a registered {kind} type"
                ));
            }
        }
    }
    let defined = |kind: &str| component_ids(config, kind);
    let connectors = defined("connectors");
    let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let pipelines = config["service"]["pipelines"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if pipelines.is_empty() {
        problems.push("service.pipelines is empty".to_string());
    }
    for (name, pipeline) in &pipelines {
        let signal = type_of(name);
        if !["traces", "metrics", "logs", "profiles"].contains(&signal) {
            problems.push(format!("pipeline {name}: unknown signal {signal}"));
        }
        for (role, kind) in [
            ("receivers", "receivers"),
            ("processors", "processors"),
            ("exporters", "exporters"),
        ] {
            for id in pipeline[role]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let is_connector = role != "processors" && connectors.contains(id);
                if is_connector {
                    used.entry("connectors").or_default().insert(id.to_string());
                } else if defined(kind).contains(id) {
                    used.entry(kind).or_default().insert(id.to_string());
                } else {
                    problems.push(format!("pipeline {name}: {role} names undefined `{id}`"));
                }
            }
        }
        if pipeline["receivers"].as_array().is_none_or(Vec::is_empty)
            || pipeline["exporters"].as_array().is_none_or(Vec::is_empty)
        {
            problems.push(format!("pipeline {name}: needs receivers and exporters"));
        }
    }
    for kind in ["receivers", "processors", "exporters", "connectors"] {
        for id in defined(kind) {
            if !used.get(kind).is_some_and(|u| u.contains(&id)) {
                problems.push(format!("{kind}.{id} is defined but in no pipeline"));
            }
        }
    }
    let extensions = defined("extensions");
    let enabled: BTreeSet<String> = config["service"]["extensions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    for id in enabled.difference(&extensions) {
        problems.push(format!("service.extensions names undefined `{id}`"));
    }
    for id in extensions.difference(&enabled) {
        problems.push(format!("extensions.{id} is defined but not enabled"));
    }
    problems
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn port_of(endpoint: &Value) -> u16 {
    endpoint
        .as_str()
        .and_then(|e| e.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{endpoint} is no host:port"))
}

#[test]
fn collector_config_uses_only_what_contrib_0_157_registers() {
    let config = yaml("compose/otel-collector/config.yaml");
    let problems = check_collector_config(&config, &COLLECTOR_0_157);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The checker itself catches the mistakes it is there for.
    let mut broken = config.clone();
    broken["connectors"] = serde_json::json!({"spanmetrics": {}});
    broken["exporters"]["otlp/jaeger"] = serde_json::json!({"endpoint": "jaeger:4317"});
    broken["service"]["pipelines"]["traces"]["exporters"] =
        serde_json::json!(["otlp/jaeger", "spanmetric"]);
    let caught = check_collector_config(&broken, &COLLECTOR_0_157).join("\n");
    for expected in [
        "`spanmetrics` is a deprecated alias",
        "undefined `spanmetric`",
        "`otlp` is not a registered exporters type",
    ] {
        assert!(
            caught.contains(expected),
            "not caught: {expected}\n{caught}"
        );
    }

    let pipelines = &config["service"]["pipelines"];
    let list = |pipeline: &str, role: &str| -> Vec<String> {
        pipelines[pipeline][role]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    // The connector turns traces into metrics: an exporter of traces, a receiver of metrics.
    assert!(list("traces", "exporters").contains(&"span_metrics".to_string()));
    assert!(list("metrics", "receivers").contains(&"span_metrics".to_string()));
    assert!(list("traces", "exporters").contains(&"otlp_grpc/jaeger".to_string()));
    assert!(list("metrics", "exporters").contains(&"prometheus".to_string()));
    for pipeline in ["traces", "metrics"] {
        assert_eq!(
            list(pipeline, "processors").first().map(String::as_str),
            Some("memory_limiter")
        );
        assert!(list(pipeline, "processors").contains(&"batch".to_string()));
    }

    // Span metrics: keys the 0.157 connector documents (connector/spanmetricsconnector
    // config.schema.yaml), and the settings the metric names depend on.
    let span_metrics = &config["connectors"]["span_metrics"];
    let documented: BTreeSet<String> = [
        "add_resource_attributes",
        "aggregation_cardinality_limit",
        "aggregation_temporality",
        "calls_dimensions",
        "dimensions",
        "dimensions_cache_size",
        "events",
        "exclude_dimensions",
        "exemplars",
        "histogram",
        "include_instrumentation_scope",
        "metric_timestamp_cache_size",
        "metrics_expiration",
        "metrics_flush_interval",
        "namespace",
        "resource_metrics_cache_size",
        "resource_metrics_key_attributes",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    let extra: Vec<_> = keys(span_metrics)
        .difference(&documented)
        .cloned()
        .collect();
    assert!(
        extra.is_empty(),
        "span_metrics keys 0.157 does not know: {extra:?}"
    );
    assert_eq!(span_metrics["namespace"], "traces.span.metrics");
    assert_eq!(span_metrics["histogram"]["unit"], "ms");
    assert_eq!(span_metrics["metrics_flush_interval"], "5s");
    let dims: Vec<&str> = span_metrics["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    for name in ["app.cache_hit", "demo.recommendation.cache_hit"] {
        assert!(
            dims.contains(&name),
            "the cache-hit ratio reads either name, so both are dimensions: {dims:?}"
        );
    }
    assert_eq!(
        span_metrics["exemplars"]["enabled"], true,
        "exemplars link the latency panels to traces"
    );
    // Buckets fine enough around 1 ms and 5 s: no neighbouring bounds more than 2x apart from
    // 0.25 ms to 10 s, and both ends covered.
    let buckets = configured_buckets_ms();
    assert!(
        buckets[0] <= 0.25 && *buckets.last().unwrap() >= 10_000.0,
        "{buckets:?}"
    );
    for pair in buckets
        .windows(2)
        .filter(|w| w[0] >= 0.25 && w[1] <= 10_000.0)
    {
        assert!(
            pair[1] / pair[0] <= 2.0 + 1e-9,
            "buckets {pair:?} are too far apart"
        );
    }
    // ...and at most a third apart around 1 ms and 5 s, where the percentiles must be read.
    let near_1ms_or_5s =
        |lower: f64| (0.75..=1.5).contains(&lower) || (3000.0..=5000.0).contains(&lower);
    for pair in buckets.windows(2).filter(|w| near_1ms_or_5s(w[0])) {
        assert!(
            pair[1] / pair[0] <= 4.0 / 3.0 + 1e-9,
            "buckets {pair:?} are too coarse"
        );
    }

    // The prometheus exporter: documented keys (exporter/prometheusexporter config.go) and the
    // naming the metric list assumes.
    let exporter = &config["exporters"]["prometheus"];
    let documented: BTreeSet<String> = [
        "endpoint",
        "tls",
        "cors",
        "auth",
        "namespace",
        "const_labels",
        "send_timestamps",
        "metric_expiration",
        "resource_to_telemetry_conversion",
        "enable_open_metrics",
        "add_metric_suffixes",
        "translation_strategy",
        "without_scope_info",
        "sending_queue",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    let extra: Vec<_> = keys(exporter).difference(&documented).cloned().collect();
    assert!(
        extra.is_empty(),
        "prometheus exporter keys 0.157 does not know: {extra:?}"
    );
    assert_eq!(
        exporter["translation_strategy"],
        "UnderscoreEscapingWithSuffixes"
    );
    assert_eq!(
        exporter["resource_to_telemetry_conversion"]["enabled"],
        true
    );
    assert!(
        exporter.get("namespace").is_none(),
        "a namespace would prefix every name"
    );
    assert_eq!(
        exporter["enable_open_metrics"], true,
        "exemplars exist only in OpenMetrics"
    );

    // Ports agree with compose (published container ports) and with prometheus.yml (targets).
    let otlp = &config["receivers"]["otlp"]["protocols"];
    assert_eq!(otlp["grpc"]["endpoint"], "0.0.0.0:4317");
    assert_eq!(otlp["http"]["endpoint"], "0.0.0.0:4318");
    assert_eq!(
        port_of(&config["extensions"]["health_check"]["endpoint"]),
        13133
    );
    assert_eq!(port_of(&exporter["endpoint"]), 8889);
    let reader =
        &config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"];
    assert_eq!(reader["host"], "0.0.0.0");
    assert_eq!(reader["port"], 8888);
    assert_eq!(
        reader["without_units"], false,
        "otelcol_*_bytes needs units"
    );
    assert_eq!(
        reader["without_type_suffix"], false,
        "otelcol_*_total needs type suffixes"
    );
    assert_eq!(
        config["exporters"]["otlp_grpc/jaeger"]["endpoint"],
        "jaeger:4317"
    );
}

#[test]
fn jaeger_config_uses_only_what_2_19_registers() {
    let config = yaml("compose/jaeger/config.yaml");
    let problems = check_collector_config(&config, &JAEGER_2_19);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let extensions = &config["extensions"];
    // jaeger_query: keys of cmd/jaeger/internal/extension/jaegerquery (config.go, flags.go).
    let query = &extensions["jaeger_query"];
    let documented: BTreeSet<String> = [
        "storage",
        "base_path",
        "ui",
        "bearer_token_propagation",
        "header_forwarding",
        "multi_tenancy",
        "max_clock_skew_adjust",
        "max_trace_size",
        "enable_tracing",
        "http",
        "grpc",
        "ai",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    let extra: Vec<_> = keys(query).difference(&documented).cloned().collect();
    assert!(
        extra.is_empty(),
        "jaeger_query keys 2.19 does not know: {extra:?}"
    );
    assert!(
        query.get("base_path").is_none_or(|b| b == "/" || b == ""),
        "the API must stay at /api/traces"
    );
    assert_eq!(port_of(&query["http"]["endpoint"]), 16686);
    assert_eq!(
        query["enable_tracing"], false,
        "Jaeger must not trace its own API calls into the store"
    );
    // The query reads the store the exporter writes, and the store is bounded.
    let store = query["storage"]["traces"].as_str().unwrap();
    let exporter = &config["exporters"]["jaeger_storage_exporter"];
    assert_eq!(exporter["trace_storage"], store);
    let backend = &extensions["jaeger_storage"]["backends"][store];
    assert_eq!(keys(backend), BTreeSet::from(["memory".to_string()]));
    let max_traces = backend["memory"]["max_traces"].as_u64().unwrap_or(0);
    assert!(
        (1000..=100_000).contains(&max_traces),
        "max_traces {max_traces}"
    );
    // healthcheckv2 in v2 mode answers /status on 13133 (what the compose health check asks).
    assert_eq!(extensions["healthcheckv2"]["use_v2"], true);
    assert_eq!(
        port_of(&extensions["healthcheckv2"]["http"]["endpoint"]),
        13133
    );
    assert_eq!(
        config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "0.0.0.0:4317"
    );
}

// ---------------------------------------------------------------------------------------------
// Compose: the four upstream services
// ---------------------------------------------------------------------------------------------

const UPSTREAM: [&str; 4] = ["otel-collector", "prometheus", "jaeger", "grafana"];

#[test]
fn compose_blocks_of_the_upstream_services_are_consistent() {
    let compose = yaml("compose/docker-compose.yaml");
    let services = &compose["services"];
    let mut problems = Vec::new();
    for name in UPSTREAM {
        let service = &services[name];
        let image = service["image"].as_str().unwrap_or_default();
        if !(image.starts_with("${") && image.contains(":-") && !image.ends_with(":latest}")) {
            problems.push(format!(
                "{name}: image `{image}` is not a pinned ${{VAR:-default}}"
            ));
        }
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().unwrap_or_default();
            if !(port.starts_with("127.0.0.1:${") && port.contains(":-")) {
                problems.push(format!(
                    "{name}: port `{port}` is not 127.0.0.1:${{VAR:-default}}"
                ));
            }
        }
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let volume = volume.as_str().unwrap_or_default();
            let source = volume.split(':').next().unwrap_or_default();
            if !volume.ends_with(":ro") {
                problems.push(format!("{name}: volume `{volume}` is not read-only"));
            }
            if source.starts_with('.') && !repo().join("compose").join(source).exists() {
                problems.push(format!("{name}: `{source}` does not exist"));
            }
        }
        for config in service["configs"].as_array().into_iter().flatten() {
            let source = config["source"].as_str().unwrap_or_default();
            let file = compose["configs"][source]["file"]
                .as_str()
                .unwrap_or_default();
            if !repo().join("compose").join(file).is_file() {
                problems.push(format!("{name}: config `{source}` names no file ({file})"));
            }
        }
        if service["mem_limit"].as_str().is_none() {
            problems.push(format!("{name}: no memory limit"));
        }
        if service["restart"] != "unless-stopped" {
            problems.push(format!("{name}: restart is not unless-stopped"));
        }
        let test = &service["healthcheck"]["test"];
        match name {
            // FROM scratch: nothing in the image could run a probe.
            "otel-collector" => {
                if !test.is_null() {
                    problems.push(format!(
                        "{name}: a health check cannot run in a scratch image"
                    ));
                }
            }
            _ => {
                let argv: Vec<&str> = test
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if argv.first() != Some(&"CMD") || argv.get(1) != Some(&"wget") {
                    problems.push(format!("{name}: health check {test} is not exec-form wget"));
                }
            }
        }
        // A service_healthy dependency must point at a service that has a health check.
        for (dep, cond) in service["depends_on"].as_object().into_iter().flatten() {
            if cond["condition"] == "service_healthy" && services[dep]["healthcheck"].is_null() {
                problems.push(format!(
                    "{name}: waits for {dep} to be healthy, which it never reports"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Each health check asks the endpoint the service's own config opens.
    let argv = |name: &str| {
        services[name]["healthcheck"]["test"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
    };
    assert_eq!(
        argv("jaeger"),
        Some(Value::from("http://127.0.0.1:13133/status"))
    );
    assert_eq!(
        argv("prometheus"),
        Some(Value::from("http://127.0.0.1:9090/-/ready"))
    );
    // Grafana is healthy once our dashboard is served (after provisioning), not at
    // /api/health (before it).
    let (_, rec) = dashboards()
        .into_iter()
        .find(|(n, _)| n == "recommendation.json")
        .unwrap();
    assert_eq!(
        argv("grafana"),
        Some(Value::from(format!(
            "http://127.0.0.1:3000/api/dashboards/uid/{}",
            rec["uid"].as_str().unwrap()
        )))
    );
}

// ---------------------------------------------------------------------------------------------
// Full stack with the upstream images
// ---------------------------------------------------------------------------------------------

/// The image each upstream service runs: the compose default unless its variable is set.
fn upstream_images() -> Vec<String> {
    let compose = yaml("compose/docker-compose.yaml");
    UPSTREAM
        .iter()
        .map(|name| {
            let spec = compose["services"][name]["image"]
                .as_str()
                .unwrap()
                .to_string();
            let inner = spec.trim_start_matches("${").trim_end_matches('}');
            let (var, default) = inner.split_once(":-").unwrap_or((inner, ""));
            std::env::var(var).unwrap_or_else(|_| default.to_string())
        })
        .collect()
}

fn image_present(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `demo ... --project P` and tears the project down when dropped.
struct Stack {
    project: String,
    env: Vec<(String, String)>,
}

impl Stack {
    fn demo(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_demo"))
            .args(args)
            .args(["--project", &self.project])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("demo runs")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.demo(&["down"]);
    }
}

#[test]
fn full_stack_with_the_upstream_images_finds_cache_misses_and_a_p95() {
    let missing: Vec<String> = upstream_images()
        .into_iter()
        .filter(|i| !image_present(i))
        .collect();
    if !missing.is_empty() {
        println!(
            "skipped: upstream images {} are not in the engine; pull them to run the full-stack test",
            missing.join(", ")
        );
        return;
    }
    let env: Vec<(String, String)> = crate::support::PORT_VARIABLES
        .iter()
        .map(|p| (p.to_string(), free_port().to_string()))
        .collect();
    let port = |var: &str| -> u16 {
        env.iter()
            .find(|(k, _)| k == var)
            .unwrap()
            .1
            .parse()
            .unwrap()
    };
    let stack = Stack {
        project: format!("pipeline-{}", std::process::id()),
        env: env.clone(),
    };

    let up = stack.demo(&["up"]);
    assert!(
        up.status.success(),
        "demo up failed:\n{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let flag = stack.demo(&[
        "flag",
        "enable",
        "recommendationServiceCacheFailure",
        "--warmup",
        "0",
    ]);
    assert!(
        flag.status.success(),
        "demo flag enable failed:\n{}",
        String::from_utf8_lossy(&flag.stderr)
    );

    // Grafana serves our dashboard from the provisioned folder.
    let (status, _) = http_get(
        port("GRAFANA_PORT"),
        "/api/dashboards/uid/demo-recommendation",
    )
    .unwrap();
    assert_eq!(
        status, 200,
        "Grafana does not serve the recommendation dashboard"
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    let tags = encode("{\"app.cache_hit\":\"false\"}");
    let jaeger_path =
        format!("/api/traces?service=recommendation&tags={tags}&limit=5&lookback=15m");
    let p95 = "histogram_quantile(0.95, sum by (le) (rate(traces_span_metrics_duration_milliseconds_bucket{service_name=\"recommendation\", span_kind=\"SPAN_KIND_SERVER\"}[1m])))";
    let prom_path = format!("/api/v1/query?query={}", encode(p95));
    let (mut miss_found, mut p95_found) = (false, false);
    while Instant::now() < deadline && !(miss_found && p95_found) {
        if let Ok((200, body)) = http_get(port("JAEGER_UI_PORT"), &jaeger_path) {
            let traces: Value = serde_json::from_str(&body).unwrap_or_default();
            miss_found = traces["data"].as_array().is_some_and(|t| {
                t.iter()
                    .flat_map(|t| t["spans"].as_array().into_iter().flatten())
                    .any(|s| {
                        s["operationName"] == names::SPAN_GET_PRODUCT_LIST
                            && s["tags"].as_array().is_some_and(|tags| {
                                tags.iter().any(|t| {
                                    t["key"] == "app.cache_hit"
                                        && (t["value"] == false || t["value"] == "false")
                                })
                            })
                    })
            });
        }
        if let Ok((200, body)) = http_get(port("PROMETHEUS_PORT"), &prom_path) {
            let answer: Value = serde_json::from_str(&body).unwrap_or_default();
            p95_found = answer["data"]["result"]
                .as_array()
                .and_then(|r| r.first())
                .map(sample_value)
                .is_some_and(|v| v.is_finite() && v > 0.0);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        miss_found,
        "Jaeger has no get_product_list span with app.cache_hit=false"
    );
    assert!(
        p95_found,
        "Prometheus has no p95 of the recommendation service's server spans"
    );
    drop(stack);
}
