//! The signs that one service leaks, each with numbers and a weight toward confidence.
//!
//! Weights: OOM kills in the window (2 for two or more, else 1); a clear climb in the engine's
//! stats (2; a noisy one 1); a clear climb in Prometheus's process memory (1); the service's
//! own product list only growing while sampled (2) and holding far more ids than any catalog
//! (1), or growing a little (1); cache misses much slower than hits in traces (1). Context lines (latency, the largest
//! `app.products.count`) weigh nothing. A leak in the recommendation service grows its list
//! geometrically, so for its first minutes the list is the only visible sign: memory follows
//! later (services/README.md measures flat memory for the first ~80 % of a cycle).
use super::verdict::{self, Growth, Sign};
use super::{AdminState, CacheFindings, ServiceFindings, report};
use crate::signals::names;

/// Reads of the list that must all agree before its growth counts.
pub const LIST_READS: usize = 3;
/// Growth between the first and the last read that counts as the list growing.
pub const LIST_GROWTH: f64 = 1.5;

/// Whether `admin`'s product list only grew across its reads, by at least [`LIST_GROWTH`].
pub fn list_grows(admin: &AdminState) -> bool {
    let ids: Vec<u64> = admin.cached_ids.iter().map(|(_, n)| *n).collect();
    ids.len() >= LIST_READS
        && ids.windows(2).all(|w| w[1] >= w[0])
        && match (ids.first(), ids.last()) {
            (Some(&first), Some(&last)) => last as f64 >= (first.max(1) as f64) * LIST_GROWTH,
            _ => false,
        }
}

/// Whether the list grew at all across two or more reads without ever shrinking: too little
/// to call, enough to watch.
pub fn list_creeps(admin: &AdminState) -> bool {
    let ids: Vec<u64> = admin.cached_ids.iter().map(|(_, n)| *n).collect();
    ids.len() >= 2 && ids.windows(2).all(|w| w[1] >= w[0]) && ids.last() > ids.first()
}

/// The largest list size read.
pub fn list_max(admin: &AdminState) -> Option<u64> {
    admin.cached_ids.iter().map(|(_, n)| *n).max()
}

/// The signs that `service` leaks, strongest first.
pub fn signs(
    service: &ServiceFindings,
    cache: &CacheFindings,
    admin: Option<&AdminState>,
    window: &str,
) -> Vec<Sign> {
    let mut signs = Vec::new();
    oom(service, window, &mut signs);
    let climbing = telemetry(service, window, &mut signs);
    memory(service, climbing, &mut signs);
    if let Some(admin) = admin.filter(|a| a.service == service.service) {
        list(admin, &mut signs);
        if list_grows(admin)
            && service.memory.engine_growth < Growth::Weak
            && let Some(fit) = service.memory.engine
        {
            signs.push(Sign {
                weight: 0,
                name: "memory not up yet".to_string(),
                detail: format!(
                    "memory not visibly up yet ({} in engine stats): the list's entries are small, memory follows as it keeps growing",
                    report::rate(fit.slope)
                ),
            });
        }
    }
    if service.service == names::SERVICE_RECOMMENDATION {
        cache_signs(cache, &mut signs);
    }
    if let Some(s) = &service.signals
        && let (Some(p50), Some(p99)) = (s.p50_ms, s.p99_ms)
    {
        signs.push(Sign::context(
            "latency",
            format!(
                "server latency p50 {}, p95 {}, p99 {}, p99.9 {}",
                report::ms(p50),
                s.p95_ms.map_or("-".into(), report::ms),
                report::ms(p99),
                s.p999_ms.map_or("-".into(), report::ms),
            ),
        ));
    }
    signs.sort_by_key(|s| std::cmp::Reverse(s.weight));
    signs
}

fn oom(service: &ServiceFindings, window: &str, signs: &mut Vec<Sign>) {
    // Telemetry-only figures are the restarts `telemetry` reads; the engine's are read here.
    if service.container.is_none() {
        return;
    }
    let (oom, at_least) = match service.oom_kills_in_window {
        Some(n) => (n.max(service.oom_kills_seen_in_window), ""),
        None => (service.oom_kills_seen_in_window, "at least "),
    };
    if oom == 0 {
        return;
    }
    let limit = limit_text(service, "at");
    signs.push(Sign {
        weight: if oom >= 2 { 2 } else { 1 },
        name: "OOM kills in the window".to_string(),
        detail: format!(
            "{at_least}{oom} OOM kill{}{limit} in the last {window} ({} restart{} while sampled, {} in all; {})",
            plural(oom),
            service.restarts_during_sampling.unwrap_or(0),
            plural(service.restarts_during_sampling.unwrap_or(0).unsigned_abs()),
            service.restarts_total.unwrap_or(0),
            service.oom_source,
        ),
    });
}

/// " at its 200 MiB limit" (with `at`), or nothing when the limit is unknown.
fn limit_text(service: &ServiceFindings, preposition: &str) -> String {
    service
        .memory
        .limit_bytes
        .map(|l| format!(" {preposition} its {} limit", report::bytes(l)))
        .unwrap_or_default()
}

/// Signs from Prometheus alone: memory climbing by a factor in the current life, restarts at
/// the top of a steep climb (its counters reset), and the callers' failed calls. Returns
/// whether memory climbs now (the linear Prometheus reading is then left out).
fn telemetry(service: &ServiceFindings, window: &str, signs: &mut Vec<Sign>) -> bool {
    let Some(lives) = &service.lives else {
        return false;
    };
    let climb = lives.climb;
    let climbing = climb.is_some_and(|c| c.is_leak_like());
    if let Some(c) = climb.filter(|c| c.is_leak_like()) {
        let limit = limit_text(service, "of");
        signs.push(Sign {
            weight: 2,
            name: "memory climbing in this life (Prometheus)".to_string(),
            detail: format!(
                "memory ×{:.1} in its current life, {} → {}{limit} in {}, rising in {} of {} steps (Prometheus process_memory_usage_bytes)",
                c.factor(),
                report::bytes(c.from_bytes),
                report::bytes(c.to_bytes),
                report::duration(c.over_s),
                c.rising_steps,
                c.steps
            ),
        });
    }
    if climbing
        && let Some(fit) = service.memory.engine
        && service.memory.engine_growth <= Growth::Flat
    {
        signs.push(Sign::context(
            "sources disagree",
            format!(
                "sources disagree: the engine's samples of its container read flat ({} over {} points) while Prometheus shows the climb; telemetry showing a leak is not outvoted",
                report::rate(fit.slope),
                fit.points
            ),
        ));
    }
    let steep: Vec<&super::lives::Restart> = lives
        .restarts
        .iter()
        .filter(|r| r.after_steep_climb)
        .collect();
    let in_window = service.oom_kills_in_window.unwrap_or(steep.len() as u64);
    if !steep.is_empty() && in_window > 0 {
        let stopped = climb.is_some_and(|c| c.stopped());
        let engine_said = signs.iter().any(|s| s.name.starts_with("OOM kills"));
        let peak = steep
            .iter()
            .filter_map(|r| r.peak_before_bytes)
            .fold(0.0, f64::max);
        let failed = service
            .signals
            .and_then(|s| s.callers_failed_calls)
            .filter(|f| *f >= 0.5)
            .map(|f| {
                format!(
                    "; its callers saw {} failed call{}",
                    report::count(f),
                    plural(f.round() as u64)
                )
            })
            .unwrap_or_default();
        signs.push(Sign {
            weight: if stopped {
                0
            } else if engine_said {
                1
            } else {
                2
            },
            name: "restarts at the top of a memory climb (Prometheus counters)".to_string(),
            detail: format!(
                "{in_window} restart{} in the last {window} right after memory climbed to {} (its counters reset: how an OOM kill looks from telemetry){failed}{}",
                plural(in_window),
                report::bytes(peak),
                if stopped {
                    "; memory climbed again since and then stopped: no active leak"
                } else {
                    ""
                }
            ),
        });
    }
    let by_hand = lives.restarts.len() - steep.len();
    if by_hand > 0 {
        signs.push(Sign {
            weight: 0,
            name: "restarts".to_string(),
            detail: format!(
                "{by_hand} restart{} with no memory climb before (by hand or a crash, not an OOM kill)",
                plural(by_hand as u64)
            ),
        });
    }
    if let Some(s) = &service.signals
        && let Some(ratio) = s.callers_error_ratio
        && ratio > 0.0
    {
        signs.push(Sign::context(
            "callers' errors",
            format!(
                "its callers' client spans: {} of calls failed ({} in the window) while its own server spans report {}",
                report::percent(ratio),
                s.callers_failed_calls.map_or("-".into(), report::count),
                s.error_ratio.map_or("-".into(), report::percent)
            ),
        ));
    }
    climbing
}

fn memory(service: &ServiceFindings, climbing: bool, signs: &mut Vec<Sign>) {
    let m = &service.memory;
    for (source, fit, growth, clear_weight) in [
        ("engine stats", m.engine, m.engine_growth, 2),
        (
            "Prometheus process_memory_usage_bytes",
            m.prometheus,
            m.prometheus_growth,
            1,
        ),
    ] {
        let Some(fit) = fit else { continue };
        if climbing && source.starts_with("Prometheus") {
            continue;
        }
        let weight = match growth {
            Growth::Clear => clear_weight,
            Growth::Weak => 1,
            _ => continue,
        };
        let lives = if fit.segments > 1 {
            format!(" in {} lives between restarts", fit.segments)
        } else {
            String::new()
        };
        signs.push(Sign {
            weight,
            name: format!(
                "{} climb in {source}",
                if growth == Growth::Clear {
                    "a clear"
                } else {
                    "a noisy"
                }
            ),
            detail: format!(
                "memory {} ({source}): R² {} over {} points{lives}, rising in {} of {} steps",
                report::rate(fit.slope),
                fit.r2.map_or("-".to_string(), |r| format!("{r:.2}")),
                fit.points,
                fit.rising_steps,
                fit.steps
            ),
        });
    }
}

fn list(admin: &AdminState, signs: &mut Vec<Sign>) {
    let on = admin.cache_enabled == Some(true);
    let reads: Vec<u64> = admin.cached_ids.iter().map(|(_, n)| *n).collect();
    let grows = list_grows(admin);
    if on && (grows || list_creeps(admin)) {
        let (first, last) = (reads[0], reads[reads.len() - 1]);
        let span = admin.cached_ids[reads.len() - 1].0 - admin.cached_ids[0].0;
        signs.push(Sign {
            weight: if grows { 2 } else { 1 },
            name: if grows {
                "its own product list only growing"
            } else {
                "its own product list growing a little"
            }
            .to_string(),
            detail: format!(
                "its own state: cache on, the product list grew {} → {} ids in {} ({} reads, never shrinking)",
                report::count(first as f64),
                report::count(last as f64),
                report::duration(span),
                reads.len()
            ),
        });
    }
    if on && let Some(max) = list_max(admin).filter(|n| *n >= verdict::LARGE_LIST) {
        signs.push(Sign {
            weight: 1,
            name: "a list far beyond any catalog".to_string(),
            detail: format!(
                "its own state: {} cached product ids, far more than the catalog has products (the list repeats them)",
                report::count(max as f64)
            ),
        });
    }
}

fn cache_signs(cache: &CacheFindings, signs: &mut Vec<Sign>) {
    if let Some(t) = &cache.traces {
        if let (Some(hit), Some(miss), Some(slowdown)) = (&t.hit, &t.miss, t.slowdown) {
            signs.push(Sign {
                weight: u32::from(slowdown >= verdict::SLOWDOWN_SIGN),
                name: "slow cache misses in traces".to_string(),
                detail: format!(
                    "cache-miss {} spans {} than hits (median {} vs {}; p99 {} vs {}; {} traces)",
                    t.span_name,
                    report::ratio(slowdown),
                    report::ms(miss.p50_ms),
                    report::ms(hit.p50_ms),
                    report::ms(miss.p99_ms),
                    report::ms(hit.p99_ms),
                    t.traces
                ),
            });
        }
        if let Some(list) = t.list.filter(|l| l.is_leak_like()) {
            signs.push(Sign {
                weight: 2,
                name: "product lists beyond the catalog and growing (traces)".to_string(),
                detail: format!(
                    "traces: the product count is {} now{}, growing across {} traces in time{}",
                    report::count(list.latest as f64),
                    list.catalog
                        .map(|c| format!(
                            " against a catalog of {c} (the count with the cache off)"
                        ))
                        .unwrap_or_else(|| {
                            " (no trace with the cache off shows the catalog's size)".to_string()
                        }),
                    list.steps + 1,
                    if list.emptied > 0 {
                        format!(
                            ", emptied {} time{} (restarts)",
                            list.emptied,
                            plural(list.emptied as u64)
                        )
                    } else {
                        String::new()
                    }
                ),
            });
        } else if let Some(count) = t.max_products_count {
            signs.push(Sign {
                weight: 0,
                name: "large product lists".to_string(),
                detail: format!(
                    "traces: app.products.count up to {}",
                    report::count(count as f64)
                ),
            });
        }
    }
    if let (Some(hit), Some(miss)) = (cache.metrics_p95_hit_ms, cache.metrics_p95_miss_ms) {
        signs.push(Sign {
            weight: 0,
            name: "span metrics".to_string(),
            detail: format!(
                "span metrics: get_product_list p95 {} on a miss vs {} on a hit{}",
                report::ms(miss),
                report::ms(hit),
                cache
                    .hit_ratio
                    .map(|r| format!(", {} of calls hit the cache", report::percent(r)))
                    .unwrap_or_default()
            ),
        });
    }
}

pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(on: bool, reads: &[u64]) -> AdminState {
        AdminState {
            service: "recommendation".into(),
            cache_enabled: Some(on),
            cached_ids: reads
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64 * 5.0, *n))
                .collect(),
            failed_reads: 0,
            last_error: None,
        }
    }

    #[test]
    fn a_list_grows_when_every_read_is_larger_by_half_overall() {
        assert!(list_grows(&admin(true, &[1_000, 1_600, 2_500])));
        assert!(list_grows(&admin(true, &[0, 50, 120])));
        assert!(!list_grows(&admin(true, &[1_000, 1_600])), "two reads");
        assert!(!list_grows(&admin(true, &[1_000, 900, 2_500])), "shrank");
        assert!(
            !list_grows(&admin(true, &[1_000, 1_100, 1_200])),
            "too little"
        );
        assert!(!list_grows(&admin(true, &[0, 0, 0])));
    }

    #[test]
    fn the_list_signs_need_the_cache_on() {
        let mut out = Vec::new();
        list(&admin(false, &[40_000, 90_000, 300_000]), &mut out);
        assert!(out.is_empty());
        list(&admin(true, &[40_000, 90_000, 300_000]), &mut out);
        let weights: Vec<u32> = out.iter().map(|s| s.weight).collect();
        assert_eq!(weights, vec![2, 1]);
        assert!(
            out[0].detail.contains("40 k → 300 k ids in 10s"),
            "{}",
            out[0].detail
        );
    }
}
