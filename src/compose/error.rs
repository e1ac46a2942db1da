//! Every way loading a compose file or choosing its services can fail, one variant per cause.
//!
//! Each message is one line that names the cause and then, after `; `, the fix: the CLI prints
//! it as it is, and the user should not need the source to know what to change.
use std::fmt;
use std::path::PathBuf;

/// The part of the compose file that a key or value belongs to, printed before the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A top-level key (`services`, `volumes`, ...).
    File,
    /// A key inside `services.NAME`.
    Service(String),
    /// A key inside the top-level `volumes.NAME`.
    Volume(String),
    /// A key inside the top-level `configs.NAME`.
    Config(String),
}

impl fmt::Display for Scope {
    /// The prefix of a message: empty for the file, `service "NAME": ` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::File => Ok(()),
            Scope::Service(name) => write!(f, "service \"{name}\": "),
            Scope::Volume(name) => write!(f, "volume \"{name}\": "),
            Scope::Config(name) => write!(f, "config \"{name}\": "),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "cannot read compose file {}: {reason}; pass --file with the path to docker-compose.yaml",
        path.display()
    )]
    ReadFile { path: PathBuf, reason: String },

    #[error("cannot read {}: {reason}; fix its permissions or remove it", path.display())]
    ReadEnvFile { path: PathBuf, reason: String },

    /// `at` is `FILE:LINE:COLUMN`, or `FILE` when the parser gave no position.
    #[error("{at}: {problem}; fix the YAML there")]
    Yaml { at: String, problem: String },

    #[error("{}:{line}: {problem}; write KEY=VALUE, one per line", path.display())]
    EnvFile {
        path: PathBuf,
        line: usize,
        problem: String,
    },

    /// A `$` expression that compose would not accept; `at` is the YAML path of the value.
    #[error(
        "{}: {at}: {problem}; write ${{VAR}}, ${{VAR:-default}}, or $$ for a literal $",
        file.display()
    )]
    Interpolation {
        file: PathBuf,
        at: String,
        problem: String,
    },

    /// `${VAR:?message}` or `${VAR?message}` with the variable unset (or empty, for `:?`).
    #[error(
        "variable {name} is required: {message}; set it in the environment or {}",
        env_file.display()
    )]
    RequiredVariable {
        name: String,
        message: String,
        env_file: PathBuf,
    },

    #[error("{scope}key \"{key}\" is not supported by demo{note}; remove it")]
    UnsupportedKey {
        scope: Scope,
        key: String,
        note: &'static str,
    },

    #[error("{scope}key \"{key}\": {problem}; {fix}")]
    InvalidValue {
        scope: Scope,
        key: String,
        problem: String,
        fix: String,
    },

    #[error("{}: no services are defined; add a services: section", file.display())]
    NoServices { file: PathBuf },

    #[error("service \"{service}\" has no image; add image: NAME:TAG")]
    MissingImage { service: String },

    #[error(
        "service \"{service}\" mounts volume \"{volume}\", which is not declared under the top-level \
         volumes; declare it there, or start the source with ./ for a bind mount"
    )]
    UndeclaredVolume { service: String, volume: String },

    #[error(
        "service \"{service}\" uses config \"{config}\", which is not declared under the top-level \
         configs; declare it there with file: PATH"
    )]
    UndeclaredConfig { service: String, config: String },

    /// A top-level config's `file:` that cannot be read (missing, a directory, unreadable).
    #[error(
        "config \"{config}\": cannot read {}: {reason}; fix the path in file: or create the file",
        path.display()
    )]
    ReadConfig {
        config: String,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "service \"{service}\" depends on \"{dependency}\", which is not defined in the file; \
         define it or remove the dependency"
    )]
    UnknownDependency { service: String, dependency: String },

    /// `cycle` reads `a -> b -> a`.
    #[error("depends_on forms a cycle: {cycle}; remove one of these dependencies")]
    Cycle { cycle: String },

    #[error(
        "service \"{service}\" waits for \"{dependency}\" to be healthy, but \"{dependency}\" \
         disables its health check; give it a healthcheck or use condition: service_started"
    )]
    HealthcheckDisabled { service: String, dependency: String },

    /// A service name the user typed that the file does not define.
    #[error("unknown service \"{name}\"; {}known: {}", did_you_mean(.suggestion), .known.join(", "))]
    UnknownService {
        name: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },

    #[error(
        "invalid project name \"{name}\": it must start with a lowercase letter or digit and hold \
         only lowercase letters, digits, _ and - (^[a-z0-9][a-z0-9_-]*$); pass --project with such a name"
    )]
    InvalidProjectName { name: String },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("did you mean \"{s}\"? "),
        None => String::new(),
    }
}

impl ComposeError {
    /// True when the error is in what the user typed on the command line (exit code 2), false
    /// when it is in the compose file, the `.env` file or the environment.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ComposeError::UnknownService { .. } | ComposeError::InvalidProjectName { .. }
        )
    }

    /// A value of the wrong shape or meaning; the fix is to change the value.
    pub(crate) fn invalid(
        scope: &Scope,
        key: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ComposeError::InvalidValue {
            scope: scope.clone(),
            key: key.to_string(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// An I/O error's text without Rust's ` (os error N)` suffix, which tells users nothing.
pub(crate) fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_service_message_lists_known_and_suggests() {
        let err = ComposeError::UnknownService {
            name: "recomendation".into(),
            suggestion: Some("recommendation".into()),
            known: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(
            err.to_string(),
            "unknown service \"recomendation\"; did you mean \"recommendation\"? known: a, b, c"
        );
        assert!(err.is_usage());
    }

    #[test]
    fn unknown_service_without_suggestion() {
        let err = ComposeError::UnknownService {
            name: "zzz".into(),
            suggestion: None,
            known: vec!["a".into()],
        };
        assert_eq!(err.to_string(), "unknown service \"zzz\"; known: a");
    }

    #[test]
    fn file_errors_are_not_usage_errors() {
        let err = ComposeError::Cycle {
            cycle: "a -> b -> a".into(),
        };
        assert_eq!(
            err.to_string(),
            "depends_on forms a cycle: a -> b -> a; remove one of these dependencies"
        );
        assert!(!err.is_usage());
        assert!(
            !ComposeError::MissingImage {
                service: "a".into()
            }
            .is_usage()
        );
    }

    #[test]
    fn scope_prefixes() {
        let err = ComposeError::UnsupportedKey {
            scope: Scope::Service("grafana".into()),
            key: "privileged".into(),
            note: "",
        };
        assert_eq!(
            err.to_string(),
            "service \"grafana\": key \"privileged\" is not supported by demo; remove it"
        );
        let err = ComposeError::UnsupportedKey {
            scope: Scope::File,
            key: "configs".into(),
            note: "",
        };
        assert_eq!(
            err.to_string(),
            "key \"configs\" is not supported by demo; remove it"
        );
    }

    #[test]
    fn io_reason_drops_os_error_code() {
        let err = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&err), "No such file or directory");
    }
}
