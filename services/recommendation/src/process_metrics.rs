//! The process's own memory and CPU time, read from `/proc/self` and observed as the semantic
//! conventions' `process.memory.usage` and `process.cpu.time` (opentelemetry-rust ships no
//! process instrumentation).

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

/// The resident set size in bytes, from the `VmRSS` line of `/proc/self/status`.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User and system CPU time consumed so far, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub system: f64,
}

/// The CPU times of fields 14 and 15 (`utime`, `stime`) of `/proc/self/stat`.
pub fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    parse_cpu_times(
        &stat,
        if ticks_per_second > 0 {
            ticks_per_second as f64
        } else {
            100.0
        },
    )
}

fn parse_cpu_times(stat: &str, ticks_per_second: f64) -> Option<CpuTimes> {
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come field 3 (state) .. field 13; utime and stime are fields 14 and 15.
    let user: u64 = fields.nth(11)?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(CpuTimes {
        user: user as f64 / ticks_per_second,
        system: system as f64 / ticks_per_second,
    })
}

/// Registers the observable instruments; they are read at each metric export.
pub fn register(meter: &Meter) {
    meter
        .i64_observable_up_down_counter("process.memory.usage")
        .with_description("The amount of physical memory in use.")
        .with_unit("By")
        .with_callback(|observer| {
            if let Some(bytes) = resident_bytes() {
                observer.observe(i64::try_from(bytes).unwrap_or(i64::MAX), &[]);
            }
        })
        .build();
    meter
        .f64_observable_counter("process.cpu.time")
        .with_description("Total CPU seconds broken down by different CPU modes.")
        .with_unit("s")
        .with_callback(|observer| {
            if let Some(times) = cpu_times() {
                observer.observe(times.user, &[KeyValue::new("cpu.mode", "user")]);
                observer.observe(times.system, &[KeyValue::new("cpu.mode", "system")]);
            }
        })
        .build();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rss_line() {
        let status =
            "Name:\trecommendation\nVmPeak:\t  20000 kB\nVmRSS:\t    5120 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(5 * 1024 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn parses_utime_and_stime_even_with_odd_command_names() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 4 0 100 1000 200";
        let times = parse_cpu_times(stat, 100.0).unwrap();
        assert_eq!(
            times,
            CpuTimes {
                user: 2.5,
                system: 0.75
            }
        );
    }

    #[test]
    fn reads_this_process() {
        assert!(resident_bytes().unwrap() > 1024 * 1024);
        let before = cpu_times().unwrap();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = cpu_times().unwrap();
        assert!(after.user + after.system >= before.user + before.system);
    }
}
