//! The stack model: a compose file read, interpolated, validated and ordered, with no engine I/O.
//!
//! Loading runs in stages, each in its own module: YAML to a generic value; interpolation of
//! every string value (`interpolate`, variables from the environment then `.env`, see
//! `env_file`); a check of every key and of each value's shape (`raw`); meaning given to the
//! values (`resolve`); the `depends_on` checks and order (`order`). `hash` holds the config
//! hash. The only I/O is reading the compose file and the `.env` beside it.
mod env_file;
mod error;
mod hash;
mod interpolate;
mod model;
mod order;
mod raw;
mod resolve;
mod units;

use std::path::{Path, PathBuf};

use serde_norway::Value;

pub(crate) use error::io_reason;
pub use error::{ComposeError, Scope};
pub use model::*;

/// The address a port is published on when the file names none.
pub use resolve::DEFAULT_HOST_IP;

/// Loads the compose file at `path` for project `project_name`, with variables from the
/// process environment, then from `.env` beside the file (the environment wins, as in compose).
pub fn load(path: &Path, project_name: &str) -> Result<Project, ComposeError> {
    load_with(path, project_name, &|name| std::env::var(name).ok())
}

/// [`load`] with the process environment replaced by `lookup`; `.env` is still read and still
/// loses to `lookup`.
pub fn load_with(
    path: &Path,
    project_name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, ComposeError> {
    validate_project_name(project_name)?;
    let text = std::fs::read_to_string(path).map_err(|e| ComposeError::ReadFile {
        path: path.to_path_buf(),
        reason: error::io_reason(&e),
    })?;
    let dir = project_dir(path)?;
    let source = Source {
        path: path.to_path_buf(),
        text,
        env_file: Some(path.parent().unwrap_or(Path::new("")).join(".env")),
        dir,
        read: &|file| std::fs::read(file),
    };
    load_source(&source, project_name, lookup)
}

/// A compose file's text and where the files it names come from: a directory on disk, or the
/// stack embedded in the binary (`crate::stack`).
pub struct Source<'a> {
    /// Where the text came from, as messages name it.
    pub path: PathBuf,
    pub text: String,
    /// Absolute; relative paths in the file resolve against it.
    pub dir: PathBuf,
    /// The `.env` whose variables fill in what the environment does not set, if any.
    pub env_file: Option<PathBuf>,
    /// Reads a file that a top-level config names (an absolute path).
    pub read: &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
}

/// Loads `source` for project `project_name`, with variables from `lookup`, then from the
/// source's `.env`.
pub fn load_source(
    source: &Source<'_>,
    project_name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, ComposeError> {
    validate_project_name(project_name)?;
    let (path, text, dir) = (source.path.as_path(), source.text.as_str(), &source.dir);
    let env_path = source.env_file.clone().unwrap_or_else(|| dir.join(".env"));
    let dotenv = match &source.env_file {
        Some(env_file) => env_file::read(env_file)?,
        None => Default::default(),
    };
    let lookup = |name: &str| lookup(name).or_else(|| dotenv.get(name).cloned());

    let mut root = parse_yaml(text, path)?;
    let mut provenance = interpolate::Provenance::new();
    interpolate::interpolate_value(&mut root, "", &lookup, &mut provenance).map_err(
        |(at, e)| match e {
            interpolate::InterpolateError::Syntax(problem) => ComposeError::Interpolation {
                file: path.to_path_buf(),
                at,
                problem,
            },
            interpolate::InterpolateError::Required { name, message } => {
                ComposeError::RequiredVariable {
                    name,
                    message,
                    env_file: env_path.clone(),
                }
            }
        },
    )?;
    let root = match root {
        Value::Mapping(map) => map,
        Value::Null => serde_norway::Mapping::new(),
        other => {
            let found = match other {
                Value::Sequence(_) => "a list",
                _ => "a single value",
            };
            return Err(ComposeError::Yaml {
                at: path.display().to_string(),
                problem: format!("the document is {found}, not a mapping with a services: key"),
            });
        }
    };
    let raw = raw::parse_file(root, &provenance)?;
    if raw.services.is_empty() {
        return Err(ComposeError::NoServices {
            file: path.to_path_buf(),
        });
    }
    let cx = resolve::Context {
        dir,
        lookup: &lookup,
        read: source.read,
    };
    let (services, volumes) = resolve::resolve(raw, &cx)?;
    order::check_dependencies(&services)?;
    let services = order::sort(services)?;
    Ok(Project {
        name: project_name.to_string(),
        dir: dir.clone(),
        services,
        volumes,
    })
}

/// The compose file's directory, absolute and cleaned; relative paths in the file resolve
/// against it.
fn project_dir(path: &Path) -> Result<PathBuf, ComposeError> {
    let absolute = std::path::absolute(path).map_err(|e| ComposeError::ReadFile {
        path: path.to_path_buf(),
        reason: error::io_reason(&e),
    })?;
    let dir = resolve::clean(absolute.parent().unwrap_or(Path::new("/")));
    if dir.to_str().is_none() {
        // Paths end up in JSON (the config hash) and in Docker's API, which take UTF-8 only.
        return Err(ComposeError::ReadFile {
            path: path.to_path_buf(),
            reason: "its directory's path is not valid UTF-8".into(),
        });
    }
    Ok(dir)
}

/// Parses YAML into a value, with YAML merge keys (`<<: *anchor`) applied as compose does.
fn parse_yaml(text: &str, path: &Path) -> Result<Value, ComposeError> {
    let yaml_error = |e: serde_norway::Error| {
        let at = match e.location() {
            Some(l) => format!("{}:{}:{}", path.display(), l.line(), l.column()),
            None => path.display().to_string(),
        };
        // The message repeats the position (" at line L column C, while parsing ..."): keep
        // the problem only, the position is already in front.
        let mut problem = e.to_string();
        if let Some(i) = problem.find(" at line ") {
            problem.truncate(i);
        }
        ComposeError::Yaml { at, problem }
    };
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut value: Value = serde_norway::from_str(text).map_err(yaml_error)?;
    value.apply_merge().map_err(yaml_error)?;
    Ok(value)
}

/// Checks a project name against compose's rule, `^[a-z0-9][a-z0-9_-]*$`: it prefixes
/// container, network and volume names.
pub fn validate_project_name(name: &str) -> Result<(), ComposeError> {
    let mut bytes = name.bytes();
    let lower_or_digit = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let valid = bytes.next().is_some_and(lower_or_digit)
        && bytes.all(|b| lower_or_digit(b) || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ComposeError::InvalidProjectName {
            name: name.to_string(),
        })
    }
}

impl Project {
    /// The services to act on: all when `names` is empty; otherwise those named plus, unless
    /// `no_deps`, everything they transitively depend on. Always in the project's order.
    pub fn select(&self, names: &[String], no_deps: bool) -> Result<Vec<&Service>, ComposeError> {
        order::select(self, names, no_deps)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A compose file (and optional `.env`) in a fresh directory.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new(compose: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("docker-compose.yaml"), compose).unwrap();
            Fixture { dir }
        }

        fn with_env_file(self, text: &str) -> Self {
            std::fs::write(self.dir.path().join(".env"), text).unwrap();
            self
        }

        fn path(&self) -> PathBuf {
            self.dir.path().join("docker-compose.yaml")
        }

        fn load(&self, vars: &[(&str, &str)]) -> Result<Project, ComposeError> {
            let vars: BTreeMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            load_with(&self.path(), "demo", &|n| vars.get(n).cloned())
        }

        fn error(&self, vars: &[(&str, &str)]) -> String {
            let err = self.load(vars).unwrap_err();
            assert!(!err.is_usage(), "{err}");
            err.to_string()
                .replace(&self.path().display().to_string(), "FILE")
        }
    }

    fn real_file() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/docker-compose.yaml")
    }

    fn load_real(vars: &[(&str, &str)]) -> Project {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load_with(&real_file(), "demo", &|n| vars.get(n).cloned()).unwrap()
    }

    #[test]
    fn the_real_compose_file_loads_with_dependencies_first() {
        let project = load_real(&[]);
        let names: Vec<&str> = project.services.iter().map(|s| s.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                "grafana",
                "jaeger",
                "load-generator",
                "otel-collector",
                "prometheus",
                "recommendation"
            ]
        );
        for (i, service) in project.services.iter().enumerate() {
            for dep in &service.depends_on {
                let at = names.iter().position(|n| *n == dep.service).unwrap();
                assert!(
                    at < i,
                    "{} comes before its dependency {}",
                    service.name,
                    dep.service
                );
            }
        }
        assert_eq!(project.volumes, vec!["flagd"]);
        assert_eq!(
            project.dir,
            Path::new(env!("CARGO_MANIFEST_DIR")).join("compose")
        );
    }

    #[test]
    fn the_real_compose_file_resolves_what_the_engine_needs() {
        let project = load_real(&[]);
        let grafana = project.service("grafana").unwrap();
        assert_eq!(grafana.ports.len(), 1);
        assert_eq!(grafana.ports[0].host_ip, "127.0.0.1");
        assert_eq!(grafana.ports[0].host_port, 3000);
        assert_eq!(grafana.ports[0].variable.as_deref(), Some("GRAFANA_PORT"));
        let dashboard = grafana
            .configs
            .iter()
            .find(|c| c.target == "/var/lib/grafana/dashboards/recommendation.json")
            .expect("the recommendation dashboard is a config of grafana");
        let on_disk = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/recommendation.json");
        assert_eq!(dashboard.content, std::fs::read(on_disk).unwrap());
        assert_eq!(dashboard.mode, 0o444);
        assert!(
            grafana.mounts.is_empty(),
            "no bind mount in the shipped stack"
        );
        let recommendation = project.service("recommendation").unwrap();
        let build = recommendation.build.as_ref().unwrap();
        assert_eq!(build.context, Path::new(env!("CARGO_MANIFEST_DIR")));
        assert_eq!(
            build.dockerfile,
            Path::new(env!("CARGO_MANIFEST_DIR")).join("services/recommendation/Dockerfile")
        );
        assert_eq!(recommendation.mem_limit, Some(200 * 1024 * 1024));
        assert!(recommendation.read_only);
        assert_eq!(recommendation.restart, RestartPolicy::UnlessStopped);
        assert_eq!(recommendation.healthcheck.as_ref().unwrap().test[0], "CMD");
        let load_generator = project.service("load-generator").unwrap();
        assert_eq!(load_generator.environment["LOAD_GENERATOR_RATE"], "0.5");
    }

    #[test]
    fn the_real_compose_file_takes_overrides() {
        let project = load_real(&[("RECOMMENDATION_IMAGE", "x"), ("GRAFANA_PORT", "3001")]);
        assert_eq!(project.service("recommendation").unwrap().image, "x");
        assert_eq!(project.service("grafana").unwrap().ports[0].host_port, 3001);
        let default = load_real(&[]);
        assert_eq!(
            default.service("recommendation").unwrap().image,
            "demo/recommendation:0.1.0"
        );
    }

    #[test]
    fn selecting_from_the_real_file() {
        let project = load_real(&[]);
        let picked: Vec<&str> = project
            .select(&["load-generator".to_string()], false)
            .unwrap()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            picked,
            vec![
                "jaeger",
                "otel-collector",
                "recommendation",
                "load-generator"
            ]
        );
        let picked = project
            .select(&["load-generator".to_string()], true)
            .unwrap();
        assert_eq!(picked.len(), 1);
        let err = project
            .select(&["recomendation".to_string()], false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown service \"recomendation\"; did you mean \"recommendation\"? known: grafana, jaeger, load-generator, otel-collector, prometheus, recommendation"
        );
    }

    #[test]
    fn process_environment_wins_over_dot_env() {
        let f = Fixture::new("services:\n  a:\n    image: a:${TAG}\n    environment:\n      FROM_DOTENV:\n      B: ${B:-unset}\n")
            .with_env_file("TAG=from-file\nFROM_DOTENV=dot\nB=file\n");
        let p = f.load(&[]).unwrap();
        let a = p.service("a").unwrap();
        assert_eq!(a.image, "a:from-file");
        assert_eq!(a.environment["FROM_DOTENV"], "dot");
        assert_eq!(a.environment["B"], "file");
        let p = f.load(&[("TAG", "from-env"), ("B", "")]).unwrap();
        let a = p.service("a").unwrap();
        assert_eq!(a.image, "a:from-env");
        assert_eq!(
            a.environment["B"], "unset",
            "an empty process variable still wins, and :- treats it as unset"
        );
    }

    #[test]
    fn load_reads_the_process_environment() {
        // PATH is set in every test environment; nothing here sets or changes a variable.
        let f = Fixture::new("services:\n  a:\n    image: a\n    environment:\n      P: ${PATH}\n");
        let p = load(&f.path(), "demo").unwrap();
        assert_eq!(
            p.service("a").unwrap().environment["P"],
            std::env::var("PATH").unwrap()
        );
    }

    #[test]
    fn malformed_yaml_names_line_and_column() {
        let f = Fixture::new("services:\n  a:\n    image: a\n   bad: [\n");
        let msg = f.error(&[]);
        assert!(msg.starts_with("FILE:4:"), "{msg}");
        assert!(msg.ends_with("; fix the YAML there"), "{msg}");
        assert!(!msg.contains(" at line "), "{msg}");
        let f = Fixture::new("services:\n  a:\n    image: a\n    image: b\n");
        assert!(f.error(&[]).contains("duplicate"), "{}", f.error(&[]));
        let f = Fixture::new("- a\n");
        assert_eq!(
            f.error(&[]),
            "FILE: the document is a list, not a mapping with a services: key; fix the YAML there"
        );
    }

    #[test]
    fn yaml_merge_keys_apply() {
        let f = Fixture::new(
            "x-base: &base\n  image: base:1\n  restart: always\nservices:\n  a:\n    <<: *base\n    restart: \"no\"\n",
        );
        let p = f.load(&[]).unwrap();
        let a = p.service("a").unwrap();
        assert_eq!((a.image.as_str(), a.restart), ("base:1", RestartPolicy::No));
    }

    #[test]
    fn unreadable_compose_file() {
        let err = load_with(
            Path::new("/nonexistent/docker-compose.yaml"),
            "demo",
            &|_| None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read compose file /nonexistent/docker-compose.yaml: No such file or directory; pass --file with the path to docker-compose.yaml"
        );
        assert!(!err.is_usage());
    }

    #[test]
    fn empty_files_have_no_services() {
        assert_eq!(
            Fixture::new("").error(&[]),
            "FILE: no services are defined; add a services: section"
        );
        assert_eq!(
            Fixture::new("services: {}\n").error(&[]),
            "FILE: no services are defined; add a services: section"
        );
    }

    #[test]
    fn required_variables() {
        let f = Fixture::new(
            "services:\n  a:\n    image: a\n    ports: [\"${GRAFANA_PORT:?pick a free port}:3000\"]\n",
        );
        let env_file = f.dir.path().join(".env");
        assert_eq!(
            f.load(&[]).unwrap_err().to_string(),
            format!(
                "variable GRAFANA_PORT is required: pick a free port; set it in the environment or {}",
                env_file.display()
            )
        );
        assert_eq!(
            f.load(&[("GRAFANA_PORT", "3001")]).unwrap().services[0].ports[0].host_port,
            3001
        );
    }

    #[test]
    fn interpolation_errors_name_the_value() {
        let f = Fixture::new("services:\n  a:\n    image: a\n    command: [\"echo\", \"${1A}\"]\n");
        assert_eq!(
            f.error(&[]),
            "FILE: services.a.command[1]: \"${1A}\": \"1A\" is not a variable name; write ${VAR}, ${VAR:-default}, or $$ for a literal $"
        );
        let f = Fixture::new("services:\n  a:\n    image: a\n    command: echo ${\n");
        assert!(
            f.error(&[])
                .starts_with("FILE: services.a.command: \"${\" has no closing brace")
        );
    }

    #[test]
    fn dot_env_errors_stop_the_load() {
        let f = Fixture::new("services:\n  a:\n    image: a\n").with_env_file("GOOD=1\nbad line\n");
        let env_file = f.dir.path().join(".env");
        assert_eq!(
            f.error(&[]),
            format!(
                "{}:2: \"bad line\" has no =; write KEY=VALUE, one per line",
                env_file.display()
            )
        );
    }

    #[test]
    fn dependency_errors() {
        let f = Fixture::new("services:\n  a:\n    image: a\n    depends_on: [b]\n");
        assert_eq!(
            f.error(&[]),
            "service \"a\" depends on \"b\", which is not defined in the file; define it or remove the dependency"
        );
        let f = Fixture::new(
            "services:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n    depends_on: [a]\n",
        );
        assert_eq!(
            f.error(&[]),
            "depends_on forms a cycle: a -> b -> a; remove one of these dependencies"
        );
    }

    #[test]
    fn the_name_key_does_not_rename_the_project() {
        let f = Fixture::new("name: other\nservices:\n  a:\n    image: a\n");
        assert_eq!(f.load(&[]).unwrap().name, "demo");
    }

    #[test]
    fn project_names_follow_compose() {
        for ok in ["demo", "a", "0", "my_stack-2"] {
            assert!(validate_project_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Demo", "-demo", "_x", "de mo", "dé"] {
            let err = validate_project_name(bad).unwrap_err();
            assert!(err.is_usage());
            assert!(err.to_string().contains("^[a-z0-9][a-z0-9_-]*$"), "{err}");
        }
        let f = Fixture::new("services:\n  a:\n    image: a\n");
        let err = load_with(&f.path(), "Bad", &|_| None).unwrap_err();
        assert!(matches!(err, ComposeError::InvalidProjectName { .. }));
    }

    #[test]
    fn relative_file_paths_resolve_to_an_absolute_directory() {
        let p = load_with(Path::new("compose/docker-compose.yaml"), "demo", &|_| None);
        // Tests run from the package root, where this relative path exists.
        let p = p.unwrap();
        assert!(p.dir.is_absolute());
        assert_eq!(p.dir, Path::new(env!("CARGO_MANIFEST_DIR")).join("compose"));
    }
}
