//! The leak flag as a flagd-format flag file states it: parsing and resolution, no I/O.
//!
//! A flag is on when its `state` is `ENABLED` and its `defaultVariant` names a variant whose
//! value is `true`, which is what flagd answers for a flag without targeting rules. A flag
//! absent from the file is off, as flagd's "flag not found" makes the upstream client default
//! to false.

use std::collections::BTreeMap;

use serde_json::Value;

/// The flag's name since upstream 2.0, the one we report.
pub const CACHE_FAILURE_FLAG: &str = "recommendationCacheFailure";
/// The name the walkthrough uses (upstream 1.9–1.12); the same flag.
pub const CACHE_FAILURE_FLAG_OLD_NAME: &str = "recommendationServiceCacheFailure";
/// Both names, either of which turns the leak on.
pub const CACHE_FAILURE_FLAG_NAMES: [&str; 2] = [CACHE_FAILURE_FLAG, CACHE_FAILURE_FLAG_OLD_NAME];
/// Where the flag file is read unless `FLAGD_FILE` says otherwise.
pub const DEFAULT_FLAG_FILE: &str = "/etc/flagd/demo.flagd.json";

/// What a well-formed flag file says about the leak flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagValues {
    /// The leak is on: either name resolves to `true`.
    pub cache_failure: bool,
    /// Each of the flag's names that the file defines, with what it resolves to.
    pub entries: BTreeMap<String, bool>,
}

/// Reads the leak flag from the text of a flagd flag file.
///
/// Any file we cannot trust (not JSON, torn, no `flags` object, a malformed entry for one of
/// our names) is an error, so the caller keeps the last good value. Entries for other flags
/// are not inspected.
pub fn parse_flag_file(text: &str) -> Result<FlagValues, String> {
    if text.trim().is_empty() {
        return Err("the file is empty".to_string());
    }
    let document: Value =
        serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
    let flags = document
        .get("flags")
        .and_then(Value::as_object)
        .ok_or("no \"flags\" object at the top level")?;
    let mut values = FlagValues::default();
    for name in CACHE_FAILURE_FLAG_NAMES {
        if let Some(definition) = flags.get(name) {
            let on = resolve_boolean_flag(name, definition)?;
            values.entries.insert(name.to_string(), on);
            values.cache_failure |= on;
        }
    }
    Ok(values)
}

/// The value flagd would evaluate for a boolean flag with no targeting.
fn resolve_boolean_flag(name: &str, definition: &Value) -> Result<bool, String> {
    let state = definition
        .get("state")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("flag {name}: \"state\" is missing or not a string"))?;
    let variants = definition
        .get("variants")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("flag {name}: \"variants\" is missing or not an object"))?;
    let default_variant = definition
        .get("defaultVariant")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("flag {name}: \"defaultVariant\" is missing or not a string"))?;
    let value = variants.get(default_variant).ok_or_else(|| {
        format!("flag {name}: defaultVariant \"{default_variant}\" is not one of its variants")
    })?;
    let value = value
        .as_bool()
        .ok_or_else(|| format!("flag {name}: variant \"{default_variant}\" is not a boolean"))?;
    match state {
        "ENABLED" => Ok(value),
        "DISABLED" => Ok(false),
        other => Err(format!(
            "flag {name}: state \"{other}\" is neither ENABLED nor DISABLED"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entries: &str) -> String {
        format!(
            r#"{{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {{{entries}}}}}"#
        )
    }

    fn entry(name: &str, state: &str, default_variant: &str) -> String {
        format!(
            r#""{name}": {{"description": "Fail recommendation service cache", "state": "{state}",
                "variants": {{"on": true, "off": false}}, "defaultVariant": "{default_variant}"}}"#
        )
    }

    #[test]
    fn default_variant_on_turns_the_leak_on() {
        let values = parse_flag_file(&file(&entry(CACHE_FAILURE_FLAG, "ENABLED", "on"))).unwrap();
        assert!(values.cache_failure);
        assert!(values.entries[CACHE_FAILURE_FLAG]);
    }

    #[test]
    fn default_variant_off_leaves_it_off() {
        let values = parse_flag_file(&file(&entry(CACHE_FAILURE_FLAG, "ENABLED", "off"))).unwrap();
        assert!(!values.cache_failure);
        assert!(!values.entries[CACHE_FAILURE_FLAG]);
    }

    #[test]
    fn the_walkthrough_name_is_the_same_flag() {
        let values =
            parse_flag_file(&file(&entry(CACHE_FAILURE_FLAG_OLD_NAME, "ENABLED", "on"))).unwrap();
        assert!(values.cache_failure);
        assert_eq!(values.entries.len(), 1);
    }

    #[test]
    fn with_both_names_either_one_on_is_enough() {
        let both = format!(
            "{},{}",
            entry(CACHE_FAILURE_FLAG, "ENABLED", "off"),
            entry(CACHE_FAILURE_FLAG_OLD_NAME, "ENABLED", "on")
        );
        let values = parse_flag_file(&file(&both)).unwrap();
        assert!(values.cache_failure);
        assert!(!values.entries[CACHE_FAILURE_FLAG]);
        assert!(values.entries[CACHE_FAILURE_FLAG_OLD_NAME]);

        let both_off = format!(
            "{},{}",
            entry(CACHE_FAILURE_FLAG, "ENABLED", "off"),
            entry(CACHE_FAILURE_FLAG_OLD_NAME, "DISABLED", "on")
        );
        assert!(!parse_flag_file(&file(&both_off)).unwrap().cache_failure);
    }

    #[test]
    fn a_disabled_flag_is_off_whatever_its_default_variant() {
        let values = parse_flag_file(&file(&entry(CACHE_FAILURE_FLAG, "DISABLED", "on"))).unwrap();
        assert!(!values.cache_failure);
    }

    #[test]
    fn a_file_without_the_flag_means_off() {
        let values = parse_flag_file(&file(&entry("adFailure", "ENABLED", "on"))).unwrap();
        assert_eq!(values, FlagValues::default());
    }

    #[test]
    fn variants_in_any_order_and_other_flags_are_fine() {
        let text = file(&format!(
            r#""loadGeneratorVUs": {{"state": "ENABLED", "variants": {{"5": 5}}, "defaultVariant": "5"}},
               "{CACHE_FAILURE_FLAG}": {{"state": "ENABLED", "variants": {{"off": false, "on": true}}, "defaultVariant": "on"}}"#
        ));
        assert!(parse_flag_file(&text).unwrap().cache_failure);
    }

    #[test]
    fn a_torn_file_is_an_error() {
        let whole = file(&entry(CACHE_FAILURE_FLAG, "ENABLED", "on"));
        for cut in [1, whole.len() / 3, whole.len() / 2, whole.len() - 1] {
            let error = parse_flag_file(&whole[..cut]).unwrap_err();
            assert!(error.starts_with("not valid JSON"), "{cut}: {error}");
        }
        assert_eq!(parse_flag_file("").unwrap_err(), "the file is empty");
    }

    #[test]
    fn malformed_documents_are_errors_that_name_the_problem() {
        let cases = [
            (r#"[1, 2]"#, "no \"flags\" object"),
            (r#"{"flags": 3}"#, "no \"flags\" object"),
            (
                &file(&format!(
                    r#""{CACHE_FAILURE_FLAG}": {{"variants": {{"on": true}}, "defaultVariant": "on"}}"#
                )),
                "\"state\" is missing",
            ),
            (
                &file(&format!(
                    r#""{CACHE_FAILURE_FLAG}": {{"state": "ENABLED", "variants": {{"on": true}}, "defaultVariant": "maybe"}}"#
                )),
                "is not one of its variants",
            ),
            (
                &file(&format!(
                    r#""{CACHE_FAILURE_FLAG}": {{"state": "ENABLED", "variants": {{"on": "yes"}}, "defaultVariant": "on"}}"#
                )),
                "is not a boolean",
            ),
            (
                &file(&format!(
                    r#""{CACHE_FAILURE_FLAG}": {{"state": "ON", "variants": {{"on": true}}, "defaultVariant": "on"}}"#
                )),
                "neither ENABLED nor DISABLED",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_flag_file(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
