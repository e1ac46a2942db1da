//! The stack's feature flags: the flagd-format file the services read, and edits to it.
//!
//! The file is flagd's (`{"$schema": ..., "flags": {NAME: {"state", "variants",
//! "defaultVariant"}}}`), so a real flagd could serve it. A flag is on when it is `ENABLED`
//! and its default variant's value is `true`. Edits keep everything else in the file as it was.
use std::fs::File;
use std::path::PathBuf;

use serde_json::{Map, Value};

/// The leak's flag as the services evaluate it (upstream 2.0 and later).
pub const CACHE_FAILURE: &str = "recommendationCacheFailure";
/// The same flag under the name the walkthrough uses (upstream 1.9–1.12).
pub const CACHE_FAILURE_WALKTHROUGH: &str = "recommendationServiceCacheFailure";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FlagError {
    #[error(
        "the flag file {path} is not valid flagd JSON ({cause}); fix or restore it, it was left untouched"
    )]
    Malformed { path: String, cause: String },
    #[error("unknown flag \"{name}\"{}; known flags: {}", suggestion(.closest), .known.join(", "))]
    Unknown {
        name: String,
        closest: Option<String>,
        known: Vec<String>,
    },
    #[error("flag \"{name}\" has no variant with the value {value}; give it one in the flag file")]
    NoVariant { name: String, value: bool },
}

fn suggestion(closest: &Option<String>) -> String {
    closest
        .as_ref()
        .map(|c| format!(" (did you mean \"{c}\"?)"))
        .unwrap_or_default()
}

/// One flag as the file states it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Flag {
    pub name: String,
    pub description: Option<String>,
    /// `ENABLED` or `DISABLED`, as written.
    pub state: String,
    pub default_variant: String,
    /// On: `ENABLED` and the default variant's value is `true`.
    pub on: bool,
}

/// A parsed flag file, kept as JSON so that an edit changes one value and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagFile {
    path: String,
    document: Map<String, Value>,
}

impl FlagFile {
    /// Parses `text`, read from `path` (named in errors).
    pub fn parse(path: &str, text: &[u8]) -> Result<Self, FlagError> {
        let malformed = |cause: String| FlagError::Malformed {
            path: path.to_string(),
            cause,
        };
        let document: Map<String, Value> =
            serde_json::from_slice(text).map_err(|e| malformed(e.to_string()))?;
        let Some(Value::Object(flags)) = document.get("flags") else {
            return Err(malformed("no \"flags\" object".to_string()));
        };
        for (name, flag) in flags {
            let ok = flag.get("variants").is_some_and(Value::is_object)
                && flag.get("defaultVariant").is_some_and(Value::is_string);
            if !ok {
                return Err(malformed(format!(
                    "flag \"{name}\" needs \"variants\" and \"defaultVariant\""
                )));
            }
        }
        Ok(FlagFile {
            path: path.to_string(),
            document,
        })
    }

    fn flags(&self) -> &Map<String, Value> {
        self.document["flags"]
            .as_object()
            .expect("checked in parse")
    }

    /// Every flag, in file order.
    pub fn list(&self) -> Vec<Flag> {
        self.flags()
            .iter()
            .map(|(name, flag)| {
                let state = flag["state"].as_str().unwrap_or("ENABLED").to_string();
                let default_variant = flag["defaultVariant"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let value = &flag["variants"][default_variant.as_str()];
                Flag {
                    name: name.clone(),
                    description: flag["description"].as_str().map(str::to_string),
                    on: state == "ENABLED" && value == &Value::Bool(true),
                    state,
                    default_variant,
                }
            })
            .collect()
    }

    /// The file's name for `name`: itself, or its alias (the walkthrough's and upstream's
    /// names of the leak flag are the same flag).
    pub fn resolve(&self, name: &str) -> Result<String, FlagError> {
        let flags = self.flags();
        if flags.contains_key(name) {
            return Ok(name.to_string());
        }
        if let Some(alias) = alias_of(name).filter(|alias| flags.contains_key(*alias)) {
            return Ok(alias.to_string());
        }
        let mut known: Vec<String> = flags.keys().cloned().collect();
        if known.iter().any(|k| k == CACHE_FAILURE) {
            known.push(CACHE_FAILURE_WALKTHROUGH.to_string());
        }
        let closest = known
            .iter()
            .map(|k| {
                (
                    strsim::damerau_levenshtein(&k.to_lowercase(), &name.to_lowercase()),
                    k,
                )
            })
            .filter(|(distance, k)| *distance <= k.len() / 3 + 1)
            .min()
            .map(|(_, k)| k.clone());
        Err(FlagError::Unknown {
            name: name.to_string(),
            closest,
            known,
        })
    }

    /// Turns `name` (or its alias) on or off by pointing its default variant at the variant
    /// whose value is `on`, and enables it. Returns the file's name for the flag.
    pub fn set(&mut self, name: &str, on: bool) -> Result<String, FlagError> {
        let name = self.resolve(name)?;
        let flag = self.document["flags"][name.as_str()]
            .as_object_mut()
            .expect("resolved");
        let variant = flag["variants"]
            .as_object()
            .and_then(|variants| variants.iter().find(|(_, v)| **v == Value::Bool(on)))
            .map(|(k, _)| k.clone())
            .ok_or(FlagError::NoVariant {
                name: name.clone(),
                value: on,
            })?;
        flag.insert("defaultVariant".to_string(), Value::String(variant));
        flag.insert("state".to_string(), Value::String("ENABLED".to_string()));
        Ok(name)
    }

    /// The file's bytes: pretty JSON ending in a newline. A reader that sees any strict prefix
    /// of it (a write in progress) fails to parse it and keeps its last good value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&self.document).expect("JSON values serialize");
        out.push(b'\n');
        out
    }

    pub fn path(&self) -> &str {
        &self.path
    }
}

/// The other name of a flag that has two.
pub fn alias_of(name: &str) -> Option<&'static str> {
    match name {
        CACHE_FAILURE => Some(CACHE_FAILURE_WALKTHROUGH),
        CACHE_FAILURE_WALKTHROUGH => Some(CACHE_FAILURE),
        _ => None,
    }
}

/// Serializes read-modify-write of a project's flag file among `demo` processes on this host,
/// so two concurrent edits both land. Held until dropped.
pub struct EditLock(#[allow(dead_code)] File);

impl EditLock {
    pub fn acquire(project: &str) -> std::io::Result<Self> {
        let path: PathBuf = std::env::temp_dir().join(format!("demo-{project}-flags.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.lock()?;
        Ok(EditLock(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "recommendationCacheFailure": {
      "description": "Fail recommendation service cache",
      "state": "ENABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "off"
    },
    "adFailure": {
      "state": "DISABLED",
      "variants": { "on": true, "off": false },
      "defaultVariant": "on"
    }
  }
}"#;

    fn parse(text: &str) -> FlagFile {
        FlagFile::parse("/etc/flagd/demo.flagd.json", text.as_bytes()).unwrap()
    }

    #[test]
    fn on_means_enabled_and_a_true_default_variant() {
        let flags = parse(FILE).list();
        assert_eq!(flags[0].name, CACHE_FAILURE);
        assert!(!flags[0].on);
        assert!(!flags[1].on, "DISABLED wins over a true variant");
    }

    #[test]
    fn both_names_of_the_leak_flag_edit_the_same_entry() {
        let mut file = parse(FILE);
        assert_eq!(
            file.set(CACHE_FAILURE_WALKTHROUGH, true).unwrap(),
            CACHE_FAILURE
        );
        assert!(file.list()[0].on);
        assert_eq!(file.set(CACHE_FAILURE, false).unwrap(), CACHE_FAILURE);
        assert!(!file.list()[0].on);
    }

    #[test]
    fn an_edit_changes_one_value_and_keeps_order_and_the_rest() {
        let mut file = parse(FILE);
        file.set("recommendationCacheFailure", true).unwrap();
        let text = String::from_utf8(file.to_bytes()).unwrap();
        let reparsed = parse(&text);
        assert_eq!(reparsed.list()[1], parse(FILE).list()[1]);
        assert!(text.find("$schema").unwrap() < text.find("flags").unwrap());
        assert!(text.contains("\"description\": \"Fail recommendation service cache\""));
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn unknown_names_list_the_known_and_suggest_the_closest() {
        let err = parse(FILE)
            .resolve("recommendationCacheFailur")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown flag \"recommendationCacheFailur\" (did you mean \"recommendationCacheFailure\"?); \
             known flags: recommendationCacheFailure, adFailure, recommendationServiceCacheFailure"
        );
        assert!(matches!(
            parse(FILE).resolve("zzz"),
            Err(FlagError::Unknown { closest: None, .. })
        ));
    }

    #[test]
    fn malformed_and_torn_files_are_refused_with_the_path() {
        for text in [
            "",
            "{",
            &FILE[..FILE.len() - 1],
            r#"{"flags": []}"#,
            r#"{"flags": {"x": {}}}"#,
        ] {
            let err = FlagFile::parse("/f.json", text.as_bytes()).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("the flag file /f.json is not valid flagd JSON"),
                "{err}"
            );
        }
    }

    #[test]
    fn every_strict_prefix_of_a_written_file_is_refused() {
        let mut file = parse(FILE);
        file.set(CACHE_FAILURE, true).unwrap();
        let bytes = file.to_bytes();
        for cut in 0..bytes.len() - 1 {
            assert!(
                FlagFile::parse("/f", &bytes[..cut]).is_err(),
                "a torn file of {cut} bytes parsed"
            );
        }
    }

    #[test]
    fn concurrent_writers_under_the_lock_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flags.json");
        let mut text = String::from(r#"{"flags": {"#);
        let names: Vec<String> = (0..8).map(|i| format!("flag{i}")).collect();
        let entries: Vec<String> = names
            .iter()
            .map(|n| format!(r#""{n}": {{"state": "ENABLED", "variants": {{"on": true, "off": false}}, "defaultVariant": "off"}}"#))
            .collect();
        text.push_str(&entries.join(","));
        text.push_str("}}");
        std::fs::write(&path, text).unwrap();
        let project = format!("locktest{}", std::process::id());
        std::thread::scope(|scope| {
            for name in &names {
                let path = path.clone();
                let project = project.clone();
                scope.spawn(move || {
                    let _lock = EditLock::acquire(&project).unwrap();
                    let mut file = FlagFile::parse("f", &std::fs::read(&path).unwrap()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    file.set(name, true).unwrap();
                    std::fs::write(&path, file.to_bytes()).unwrap();
                });
            }
        });
        let file = FlagFile::parse("f", &std::fs::read(&path).unwrap()).unwrap();
        assert!(
            file.list().iter().all(|f| f.on),
            "an edit was lost: {:?}",
            file.list()
        );
    }
}
