//! The load generator's settings, read from its environment variables.

use std::time::Duration;

use service_common::env::{parse_opt, parse_or};

/// Upstream's `RECOMMENDATION_ADDR` in its `.env`.
pub const DEFAULT_TARGET: &str = "recommendation:9001";
/// Requests per second unless `LOAD_GENERATOR_RATE` says otherwise; chosen with the service's
/// default memory limit so that, with the leak on, an OOM kill comes every 2–5 minutes.
pub const DEFAULT_RATE: f64 = 0.5;
/// The admin endpoint's port (container-internal; read by `--state` and `--healthcheck`).
pub const DEFAULT_ADMIN_PORT: u16 = 9003;
/// A call slower than this is abandoned and counted as an error.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the load generator reads from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `RECOMMENDATION_ADDR`: `host:port` of the recommendation service.
    pub target: String,
    /// `LOAD_GENERATOR_RATE`: calls per second (fractions allowed; 0 sends nothing).
    pub rate: f64,
    /// `ADMIN_PORT`: the loopback admin port (0 picks a free one, for tests).
    pub admin_port: u16,
    /// `LOAD_GENERATOR_TIMEOUT_SECONDS`: the deadline of one call.
    pub timeout: Duration,
    /// `LOAD_GENERATOR_SEED`: a fixed seed for the random ids.
    pub seed: Option<u64>,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let rate: f64 = parse_or(
            set("LOAD_GENERATOR_RATE"),
            "LOAD_GENERATOR_RATE",
            DEFAULT_RATE,
        )?;
        if !rate.is_finite() || rate < 0.0 {
            return Err(format!("LOAD_GENERATOR_RATE={rate} must be 0 or more"));
        }
        let timeout: f64 = parse_or(
            set("LOAD_GENERATOR_TIMEOUT_SECONDS"),
            "LOAD_GENERATOR_TIMEOUT_SECONDS",
            DEFAULT_TIMEOUT.as_secs_f64(),
        )?;
        if !timeout.is_finite() || timeout <= 0.0 {
            return Err(format!(
                "LOAD_GENERATOR_TIMEOUT_SECONDS={timeout} must be more than 0"
            ));
        }
        Ok(Self {
            target: set("RECOMMENDATION_ADDR")
                .map_or_else(|| DEFAULT_TARGET.to_string(), |v| v.trim().to_string()),
            rate,
            admin_port: parse_or(set("ADMIN_PORT"), "ADMIN_PORT", DEFAULT_ADMIN_PORT)?,
            timeout: Duration::from_secs_f64(timeout),
            seed: parse_opt(set("LOAD_GENERATOR_SEED"), "LOAD_GENERATOR_SEED")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::from_lookup(service_common::env::lookup_in(pairs))
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.target, "recommendation:9001");
        assert_eq!(settings.rate, DEFAULT_RATE);
        assert_eq!(settings.admin_port, 9003);
        assert_eq!(settings.timeout, Duration::from_secs(10));
    }

    #[test]
    fn fractional_and_zero_rates_are_accepted_negative_ones_are_not() {
        assert_eq!(
            settings(&[("LOAD_GENERATOR_RATE", "0.5")]).unwrap().rate,
            0.5
        );
        assert_eq!(settings(&[("LOAD_GENERATOR_RATE", "0")]).unwrap().rate, 0.0);
        assert!(settings(&[("LOAD_GENERATOR_RATE", "-1")]).is_err());
        assert!(settings(&[("LOAD_GENERATOR_RATE", "fast")]).is_err());
        assert!(settings(&[("LOAD_GENERATOR_TIMEOUT_SECONDS", "0")]).is_err());
    }
}
