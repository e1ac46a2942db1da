//! The text `demo diagnose` prints: a pure function of the [`Diagnosis`], plain text (no
//! colours, no terminal codes), so it reads the same in a pipe, a CI log and a snapshot.
use std::fmt::Write as _;

use super::verdict::{Call, Confidence, Growth, VerdictKind};
use super::{Diagnosis, ServiceFindings};
use crate::signals::prometheus::KeySignals;

/// The report.
pub fn render(d: &Diagnosis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "demo diagnose: project {}, window {}, engine sampled for {}",
        d.project,
        duration(d.window_s),
        duration(d.sampled_s)
    );
    out.push('\n');
    verdict(&mut out, d);
    services(&mut out, d);
    latency(&mut out, d);
    cache(&mut out, d);
    if !d.links.is_empty() {
        out.push_str("\nWHERE TO LOOK\n");
        let width = d
            .links
            .iter()
            .map(|(what, _)| what.len())
            .max()
            .unwrap_or(0);
        for (what, url) in &d.links {
            let _ = writeln!(out, "  {what:<width$}  {url}");
        }
    }
    out.push_str("\nSOURCES\n");
    for note in &d.sources {
        let _ = writeln!(
            out,
            "  {:<14} {:<8} {}",
            note.source, note.status, note.detail
        );
    }
    out
}

fn verdict(out: &mut String, d: &Diagnosis) {
    let v = &d.verdict;
    let confidence = match v.confidence {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    };
    let headline = match (v.kind, &v.service) {
        (VerdictKind::Leak, Some(service)) if v.confidence == Confidence::Low => {
            format!("{service} may be leaking memory")
        }
        (VerdictKind::Leak, Some(service)) => format!("{service} is leaking memory"),
        (VerdictKind::Leak, None) => "a service is leaking memory".to_string(),
        (VerdictKind::NoLeak, _) => "nothing is leaking memory".to_string(),
        (VerdictKind::Unknown, _) => "cannot tell: nothing could be observed".to_string(),
    };
    let _ = writeln!(out, "VERDICT  {headline} (confidence: {confidence})");
    let _ = writeln!(out, "  why: {}", v.confidence_why);
    if !v.evidence.is_empty() {
        out.push_str("\nEVIDENCE\n");
        for line in &v.evidence {
            let _ = writeln!(out, "  - {line}");
        }
    }
}

fn services(out: &mut String, d: &Diagnosis) {
    if d.services.is_empty() {
        return;
    }
    if d.services.iter().all(|s| s.container.is_none()) {
        out.push_str("\nMEMORY (Prometheus; the engine was not read; trend fitted per life)\n");
    } else {
        out.push_str("\nMEMORY (engine stats; trend fitted per life between restarts)\n");
    }
    let rows: Vec<[String; 8]> = d.services.iter().map(service_row).collect();
    let header = [
        "SERVICE",
        "STATE",
        "LAST/PEAK/LIMIT",
        "TREND",
        "FIT",
        "RESTARTS",
        "OOM KILLS",
        "CALL",
    ]
    .map(String::from);
    table(out, &header, &rows);
    let _ = writeln!(
        out,
        "  (RESTARTS: while sampled/total; OOM KILLS: in the last {}/since created)",
        duration(d.window_s)
    );
    for s in d.services.iter().filter(|s| s.oom_kills_total != Some(0)) {
        let _ = writeln!(out, "  OOM kills of {}: {}", s.service, s.oom_source);
    }
    if let Some(f) = &d.fastest_growing {
        let _ = writeln!(
            out,
            "  fastest-growing memory: {} {}",
            f.service,
            rate(f.slope_bytes_per_s)
        );
    }
}

fn service_row(s: &ServiceFindings) -> [String; 8] {
    let m = &s.memory;
    let or_dash = |v: Option<f64>| v.map_or("-".to_string(), bytes);
    let (trend, fit) = match (&m.engine, &m.prometheus) {
        (Some(f), _) => (
            rate(f.slope),
            format!(
                "R² {} n={}{}",
                f.r2.map_or("-".to_string(), |r| format!("{r:.2}")),
                f.points,
                if f.segments > 1 {
                    format!(" in {}", f.segments)
                } else {
                    String::new()
                }
            ),
        ),
        (None, Some(f)) => (rate(f.slope), format!("prometheus n={}", f.points)),
        (None, None) => ("-".to_string(), format!("n={}", m.running_samples)),
    };
    let growth = m.engine_growth.max(m.prometheus_growth);
    let call = match s.call {
        Call::Leaking => "LEAKING",
        Call::Suspicious => "suspicious",
        Call::Steady => "steady",
        Call::Unobserved => "unobserved",
    };
    let trend = match growth {
        Growth::Clear | Growth::Weak => format!("{trend} ({})", growth_word(growth)),
        _ => trend,
    };
    [
        s.service.clone(),
        s.state.clone(),
        format!(
            "{}/{}/{}",
            or_dash(m.last_bytes),
            or_dash(m.peak_bytes),
            or_dash(m.limit_bytes)
        ),
        trend,
        fit,
        format!(
            "{}/{}",
            known(s.restarts_during_sampling, "-"),
            known(s.restarts_total, "-")
        ),
        format!(
            "{}/{}",
            known(s.oom_kills_in_window, "unknown"),
            known(s.oom_kills_total, "unknown")
        ),
        call.to_string(),
    ]
}

/// A figure, or what stands in for one that cannot be known.
fn known<T: std::fmt::Display>(value: Option<T>, otherwise: &str) -> String {
    value.map_or_else(|| otherwise.to_string(), |v| v.to_string())
}

fn growth_word(g: Growth) -> &'static str {
    match g {
        Growth::Clear => "clear",
        Growth::Weak => "noisy",
        Growth::Flat => "flat",
        Growth::Unknown => "?",
    }
}

fn latency(out: &mut String, d: &Diagnosis) {
    let with: Vec<(&String, &KeySignals)> = d
        .span_metrics
        .iter()
        .filter(|(_, k)| k.request_rate.is_some())
        .collect();
    if with.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nREQUESTS (span metrics of server spans, last {})",
        duration(d.window_s)
    );
    let header = [
        "SERVICE", "REQ/S", "ERRORS", "P50", "P95", "P99", "P99.9", "CPU",
    ]
    .map(String::from);
    let ms_or = |v: Option<f64>| v.map_or("-".to_string(), ms);
    let rows: Vec<[String; 8]> = with
        .iter()
        .map(|(service, k)| {
            [
                service.to_string(),
                k.request_rate.map_or("-".into(), |r| format!("{r:.1}")),
                k.error_ratio.map_or("-".into(), percent),
                ms_or(k.p50_ms),
                ms_or(k.p95_ms),
                ms_or(k.p99_ms),
                ms_or(k.p999_ms),
                k.cpu_percent.map_or("-".into(), |c| format!("{c:.0}%")),
            ]
        })
        .collect();
    table(out, &header, &rows);
}

fn cache(out: &mut String, d: &Diagnosis) {
    let c = &d.cache;
    let any = c.traces.is_some()
        || c.metrics_p95_hit_ms.is_some()
        || c.metrics_p95_miss_ms.is_some()
        || d.admin.as_ref().is_some_and(|a| !a.cached_ids.is_empty());
    if !any {
        return;
    }
    out.push_str("\nCACHE (recommendation, get_product_list spans)\n");
    if let Some(t) = &c.traces {
        for (what, dist) in [("hits", &t.hit), ("misses", &t.miss)] {
            match dist {
                Some(x) => {
                    let _ = writeln!(
                        out,
                        "  traces, {what:<6} n={:<4} p50 {:<9} p95 {:<9} p99 {:<9} max {}",
                        x.count,
                        ms(x.p50_ms),
                        ms(x.p95_ms),
                        ms(x.p99_ms),
                        ms(x.max_ms)
                    );
                }
                None => {
                    let _ = writeln!(out, "  traces, {what:<6} none");
                }
            }
        }
        if let Some(slowdown) = t.slowdown {
            let _ = writeln!(out, "  a miss is {} than a hit (medians)", ratio(slowdown));
        }
        if let Some(count) = t.max_products_count {
            let _ = writeln!(
                out,
                "  largest app.products.count: {}",
                count_text(count as f64)
            );
        }
        if let Some(s) = &t.slowest {
            let _ = writeln!(
                out,
                "  slowest trace {} took {}{}{}",
                s.trace_id,
                ms(s.duration_ms),
                match s.cache_hit {
                    Some(true) => " (cache hit",
                    Some(false) => " (cache miss",
                    None => " (",
                },
                match (s.cache_hit, s.products_count) {
                    (None, Some(n)) => format!("{} products)", count_text(n as f64)),
                    (Some(_), Some(n)) => format!(", {} products)", count_text(n as f64)),
                    (Some(_), None) => ")".to_string(),
                    (None, None) => "no cache tag)".to_string(),
                }
            );
        }
    }
    if c.metrics_p95_hit_ms.is_some() || c.metrics_p95_miss_ms.is_some() {
        let _ = writeln!(
            out,
            "  span metrics: p95 {} on a hit, {} on a miss{}",
            c.metrics_p95_hit_ms.map_or("-".into(), ms),
            c.metrics_p95_miss_ms.map_or("-".into(), ms),
            c.hit_ratio
                .map(|r| format!("; hit ratio {}", percent(r)))
                .unwrap_or_default()
        );
    }
    if let Some(a) = d.admin.as_ref().filter(|a| !a.cached_ids.is_empty()) {
        let reads: Vec<String> = a
            .cached_ids
            .iter()
            .map(|(_, n)| count_text(*n as f64))
            .collect();
        let _ = writeln!(
            out,
            "  service state: cache {}, product list {} ids (reads: {})",
            match a.cache_enabled {
                Some(true) => "on",
                Some(false) => "off",
                None => "?",
            },
            a.cached_ids
                .last()
                .map_or("-".into(), |(_, n)| count_text(*n as f64)),
            reads.join(", ")
        );
    }
}

/// Left-aligned columns, two spaces apart, each as wide as its widest cell.
fn table<const N: usize>(out: &mut String, header: &[String; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = std::array::from_fn(|i| header[i].chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            let _ = write!(line, "  {cell:<w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

// ---- Number formats, shared with the verdict's evidence lines ----

/// `512 KiB`, `4.3 MiB`, `186 MiB`, `1.2 GiB`.
pub fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = value.abs();
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    let sign = if value < 0.0 { "-" } else { "" };
    if unit == 0 || v >= 10.0 {
        format!("{sign}{v:.0} {}", UNITS[unit])
    } else {
        format!("{sign}{v:.1} {}", UNITS[unit])
    }
}

/// A memory slope, per minute: `+38 MiB/min`, `-0.2 MiB/min`.
pub fn rate(bytes_per_s: f64) -> String {
    let per_min = bytes_per_s * 60.0;
    let sign = if per_min < 0.0 { "-" } else { "+" };
    format!("{sign}{}/min", bytes(per_min.abs()))
}

/// `24s`, `5m`, `1m30s`, `2h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// `950`, `34 k`, `1.9 M`.
pub fn count(n: f64) -> String {
    count_text(n)
}

fn count_text(n: f64) -> String {
    let a = n.abs();
    if a >= 1e6 {
        format!("{:.1} M", n / 1e6)
    } else if a >= 1e4 {
        format!("{:.0} k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// A latency: `0.42 ms`, `4.0 ms`, `240 ms`, `1.9 s`, or `> 30 s` past the last bucket.
pub fn ms(value: f64) -> String {
    if value.is_infinite() {
        return "beyond the last bucket".to_string();
    }
    if value >= 1000.0 {
        format!("{:.1} s", value / 1000.0)
    } else if value >= 10.0 {
        format!("{value:.0} ms")
    } else if value >= 1.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

/// `14× slower`, `2.5× slower`, `1.1× faster`.
pub fn ratio(x: f64) -> String {
    let (x, word) = if x >= 1.0 {
        (x, "slower")
    } else {
        (1.0 / x.max(f64::MIN_POSITIVE), "faster")
    };
    if x >= 10.0 {
        format!("{x:.0}× {word}")
    } else {
        format!("{x:.1}× {word}")
    }
}

/// `52%`, `0.4%`.
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p != 0.0 && p.abs() < 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_the_way_people_say_them() {
        let mib = 1024.0 * 1024.0;
        assert_eq!(bytes(186.4 * mib), "186 MiB");
        assert_eq!(bytes(4.34 * mib), "4.3 MiB");
        assert_eq!(bytes(512.0 * 1024.0), "512 KiB");
        assert_eq!(bytes(1.25 * 1024.0 * mib), "1.2 GiB");
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(rate(38.0 * mib / 60.0), "+38 MiB/min");
        assert_eq!(rate(-0.2 * mib / 60.0), "-205 KiB/min");
        assert_eq!(duration(24.4), "24s");
        assert_eq!(duration(300.0), "5m");
        assert_eq!(duration(90.0), "1m30s");
        assert_eq!(duration(7200.0), "2h");
        assert_eq!(count(1_900_000.0), "1.9 M");
        assert_eq!(count(34_000.0), "34 k");
        assert_eq!(count(950.0), "950");
        assert_eq!(ms(0.4213), "0.42 ms");
        assert_eq!(ms(4.0), "4.0 ms");
        assert_eq!(ms(240.2), "240 ms");
        assert_eq!(ms(1940.0), "1.9 s");
        assert_eq!(ratio(14.2), "14× slower");
        assert_eq!(ratio(2.5), "2.5× slower");
        assert_eq!(ratio(0.5), "2.0× faster");
        assert_eq!(percent(0.52), "52%");
        assert_eq!(percent(0.004), "0.4%");
    }
}
