//! The service's settings, read from its environment variables.

use std::path::PathBuf;

use service_common::env::{parse_opt, parse_or};

use crate::flags::DEFAULT_FLAG_FILE;

/// Upstream's `RECOMMENDATION_PORT` in its `.env`.
pub const DEFAULT_GRPC_PORT: u16 = 9001;
/// The admin endpoint's port (container-internal; read by `--state`).
pub const DEFAULT_ADMIN_PORT: u16 = 9002;

/// Everything the service reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `RECOMMENDATION_PORT`: the gRPC port (0 picks a free one, for tests).
    pub grpc_port: u16,
    /// `ADMIN_PORT`: the HTTP admin port (0 picks a free one, for tests).
    pub admin_port: u16,
    /// `FLAGD_FILE`: the flagd-format flag file.
    pub flag_file: PathBuf,
    /// `PRODUCT_CATALOG_ADDR`: `host:port` of a product catalog; unset or empty: embedded.
    pub catalog_address: Option<String>,
    /// `RECOMMENDATION_SEED`: a fixed seed for the random choices (tests, benchmarks).
    pub seed: Option<u64>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable's value, if set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        Ok(Self {
            grpc_port: parse_or(
                set("RECOMMENDATION_PORT"),
                "RECOMMENDATION_PORT",
                DEFAULT_GRPC_PORT,
            )?,
            admin_port: parse_or(set("ADMIN_PORT"), "ADMIN_PORT", DEFAULT_ADMIN_PORT)?,
            flag_file: set("FLAGD_FILE")
                .map_or_else(|| PathBuf::from(DEFAULT_FLAG_FILE), PathBuf::from),
            catalog_address: set("PRODUCT_CATALOG_ADDR").map(|value| value.trim().to_string()),
            seed: parse_opt(set("RECOMMENDATION_SEED"), "RECOMMENDATION_SEED")?,
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
        assert_eq!(settings.grpc_port, 9001);
        assert_eq!(settings.admin_port, 9002);
        assert_eq!(
            settings.flag_file,
            PathBuf::from("/etc/flagd/demo.flagd.json")
        );
        assert_eq!(settings.catalog_address, None);
        assert_eq!(settings.seed, None);
    }

    #[test]
    fn variables_override_and_empty_means_unset() {
        let settings = settings(&[
            ("RECOMMENDATION_PORT", "7001"),
            ("ADMIN_PORT", "7002"),
            ("FLAGD_FILE", "/tmp/f.json"),
            ("PRODUCT_CATALOG_ADDR", ""),
            ("RECOMMENDATION_SEED", "9"),
        ])
        .unwrap();
        assert_eq!((settings.grpc_port, settings.admin_port), (7001, 7002));
        assert_eq!(settings.flag_file, PathBuf::from("/tmp/f.json"));
        assert_eq!(settings.catalog_address, None);
        assert_eq!(settings.seed, Some(9));
    }

    #[test]
    fn a_bad_port_names_the_variable() {
        let error = settings(&[("RECOMMENDATION_PORT", "ninety")]).unwrap_err();
        assert_eq!(
            error,
            r#"RECOMMENDATION_PORT="ninety" is not a valid value"#
        );
    }
}
