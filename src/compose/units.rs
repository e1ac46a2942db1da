//! Durations and sizes written the way compose reads them: Go's `time.ParseDuration` (`1m30s`,
//! `500ms`) and Docker's `RAMInBytes` (`500m`, `1.5GiB`, 1024-based).
//!
//! Written here rather than borrowed from a general parser so that what `demo` accepts is what
//! `docker compose` accepts: `1d` or `30` (no unit) fail in both.
use std::time::Duration;

/// Parses a Go duration: one or more `NUMBER UNIT` pairs with no spaces, units `ns`, `us`
/// (`µs`), `ms`, `s`, `m`, `h`; a bare `0` is zero.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("\"{text}\" is not a duration like 30s, 1m30s or 500ms");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut nanos: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        // Nanoseconds are the finest unit, so 18 fraction digits are more than enough.
        let fraction = &fraction[..fraction.len().min(18)];
        let fraction_value: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| bad())?
        };
        let fraction_nanos = fraction_value * scale / 10u128.pow(fraction.len() as u32);
        nanos = whole
            .checked_mul(scale)
            .and_then(|n| n.checked_add(fraction_nanos))
            .and_then(|n| n.checked_add(nanos))
            .ok_or_else(bad)?;
    }
    let nanos = u64::try_from(nanos).map_err(|_| bad())?;
    Ok(Duration::from_nanos(nanos))
}

/// Parses a memory size: a number (fractions allowed), an optional space, an optional unit
/// `k`, `m`, `g`, `t`, `p` in either case, an optional `i` and an optional `b`; 1024-based.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("\"{text}\" is not a size like 500m, 1g or 524288000");
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number = &text[..number_len];
    if number.is_empty() || !number.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let mut suffix = text[number_len..]
        .strip_prefix(' ')
        .unwrap_or(&text[number_len..]);
    let mut power = 0;
    if let Some(first) = suffix.chars().next()
        && let Some(p) = "kmgtp".find(first.to_ascii_lowercase())
    {
        power = p as i32 + 1;
        suffix = &suffix[1..];
    }
    let suffix = suffix
        .strip_prefix(['i', 'I'])
        .filter(|_| power > 0)
        .unwrap_or(suffix);
    let suffix = suffix.strip_prefix(['b', 'B']).unwrap_or(suffix);
    if !suffix.is_empty() {
        return Err(bad());
    }
    let bytes = value * 1024f64.powi(power);
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_compose() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(".5m"), Ok(Duration::from_secs(30)));
        assert_eq!(
            parse_duration("1h2m3s4ms"),
            Ok(Duration::from_millis(3_723_004))
        );
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_compose_rejects() {
        for bad in ["", "30", "1d", "1 s", "s", "-1s", "1.2.3s", "1m30"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            parse_duration("1d").unwrap_err(),
            "\"1d\" is not a duration like 30s, 1m30s or 500ms"
        );
    }

    #[test]
    fn sizes_are_1024_based_in_either_case() {
        assert_eq!(parse_size("524288000"), Ok(524_288_000));
        assert_eq!(parse_size("500m"), Ok(500 * 1024 * 1024));
        assert_eq!(parse_size("500M"), Ok(500 * 1024 * 1024));
        assert_eq!(parse_size("64k"), Ok(64 * 1024));
        assert_eq!(parse_size("1g"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_size("1GB"), Ok(1024 * 1024 * 1024));
        assert_eq!(parse_size("1.5GiB"), Ok(1536 * 1024 * 1024));
        assert_eq!(parse_size("10b"), Ok(10));
        assert_eq!(parse_size("2 m"), Ok(2 * 1024 * 1024));
    }

    #[test]
    fn sizes_that_are_not_sizes() {
        for bad in ["", "m", "lots", "5x", "-5m", "5mm", "5ib", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            parse_size("lots").unwrap_err(),
            "\"lots\" is not a size like 500m, 1g or 524288000"
        );
    }
}
