//! The stack embedded in the binary: the compose file, every file its `configs` name, and the
//! default flag file, so `demo` runs from any directory and `demo init` can write them out.
//!
//! The embedded stack is loaded from memory, never written anywhere first: nothing on disk can
//! go stale or be edited behind `demo`'s back, and a run leaves no files. Users who want to
//! change it write it out with `demo init` and pass `--file`.
use std::path::{Path, PathBuf};

use crate::compose::{self, ComposeError, Project, Source};

/// One file of the stack: its path beside the compose file, and its bytes.
pub struct StackFile {
    pub path: &'static str,
    pub bytes: &'static [u8],
}

/// A file under `compose/` in the repository, embedded at build time.
macro_rules! stack_file {
    ($path:literal) => {
        StackFile {
            path: $path,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/compose/", $path)),
        }
    };
}

/// The compose file's name in the stack.
pub const COMPOSE_FILE: &str = "docker-compose.yaml";

/// Every file of the stack, the compose file first. Adding a config file to the stack: one
/// line here (a test fails while a file the compose file names is missing from this list).
/// `compose/dashboards` links to the repository's `dashboards/`.
pub const FILES: &[StackFile] = &[
    stack_file!("docker-compose.yaml"),
    stack_file!("otel-collector/config.yaml"),
    stack_file!("prometheus/prometheus.yml"),
    stack_file!("prometheus/alerts.yml"),
    stack_file!("jaeger/config.yaml"),
    stack_file!("grafana/grafana.ini"),
    stack_file!("grafana/provisioning/datasources/datasources.yaml"),
    stack_file!("grafana/provisioning/dashboards/demo.yaml"),
    stack_file!("dashboards/recommendation.json"),
    stack_file!("dashboards/collector.json"),
];

/// The flag file our recommendation image starts with (it fills the `flagd` volume).
pub const DEFAULT_FLAGS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/services/recommendation/rootfs/etc/flagd/demo.flagd.json"
));

/// Where [`DEFAULT_FLAGS`] sits in the recommendation image.
pub const DEFAULT_FLAGS_PATH: &str = "etc/flagd/demo.flagd.json";

/// How messages name the embedded compose file.
const EMBEDDED_NAME: &str = "(embedded stack) docker-compose.yaml";

/// The bytes of the stack file at `relative` (a path beside the compose file).
pub fn file(relative: &Path) -> Option<&'static [u8]> {
    let relative = relative.to_str()?;
    FILES.iter().find(|f| f.path == relative).map(|f| f.bytes)
}

/// Loads the embedded stack for `project`, variables from `lookup` only (no `.env`: that is
/// what `demo init` and `--file` are for). Relative paths resolve against `dir` (the current
/// directory), which the embedded stack only uses to find its own files.
pub fn load(
    project: &str,
    dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Project, ComposeError> {
    let compose_file = file(Path::new(COMPOSE_FILE)).expect("the compose file is embedded");
    let text = String::from_utf8_lossy(compose_file).into_owned();
    let read = |path: &Path| {
        path.strip_prefix(dir)
            .ok()
            .and_then(file)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not embedded in this demo binary",
                )
            })
    };
    let source = Source {
        path: PathBuf::from(EMBEDDED_NAME),
        text,
        dir: dir.to_path_buf(),
        env_file: None,
        read: &read,
    };
    compose::load_source(&source, project, lookup)
}

/// Why `demo init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "{} already holds {first}{}; pass --force to overwrite, or name another directory",
        dir.display(),
        if *others > 0 { format!(" and {others} more of the stack's files") } else { String::new() }
    )]
    Exists {
        dir: PathBuf,
        first: String,
        others: usize,
    },
    #[error("cannot write {}: {cause}; check the directory's permissions or name another", path.display())]
    Write { path: PathBuf, cause: String },
}

/// Writes every stack file below `dir` (created if missing) and returns their paths. Without
/// `force`, writes nothing when any of them already exists.
pub fn init(dir: &Path, force: bool) -> Result<Vec<PathBuf>, InitError> {
    if dir.exists() && !dir.is_dir() {
        return Err(InitError::Write {
            path: dir.to_path_buf(),
            cause: "it is a file, not a directory".into(),
        });
    }
    let targets: Vec<(PathBuf, &StackFile)> = FILES.iter().map(|f| (dir.join(f.path), f)).collect();
    if !force {
        let existing: Vec<&StackFile> = targets
            .iter()
            .filter(|(path, _)| path.symlink_metadata().is_ok())
            .map(|(_, f)| *f)
            .collect();
        if let Some(first) = existing.first() {
            return Err(InitError::Exists {
                dir: dir.to_path_buf(),
                first: first.path.to_string(),
                others: existing.len() - 1,
            });
        }
    }
    let mut written = Vec::new();
    for (path, file) in targets {
        let write_err = |e: std::io::Error| InitError::Write {
            path: path.clone(),
            cause: compose::io_reason(&e),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        std::fs::write(&path, file.bytes).map_err(write_err)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_embedded_stack_is_the_repository_compose_file_and_every_file_it_names() {
        let here = std::env::current_dir().unwrap();
        let embedded = load("demo", &here, &|_| None).unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/docker-compose.yaml");
        let on_disk = compose::load_with(&repo, "demo", &|_| None).unwrap();
        assert_eq!(embedded.services.len(), on_disk.services.len());
        for (a, b) in embedded.services.iter().zip(&on_disk.services) {
            // Same services, same configs byte for byte, so the same config hashes: switching
            // between the embedded stack and the repository's file recreates nothing.
            assert_eq!(a.configs, b.configs, "{}", a.name);
            assert_eq!(a.config_hash(), b.config_hash(), "{}", a.name);
        }
        // Every embedded file but the compose file is some config's source, and vice versa.
        let used: BTreeSet<&[u8]> = embedded
            .services
            .iter()
            .flat_map(|s| &s.configs)
            .map(|c| c.content.as_slice())
            .collect();
        for f in &FILES[1..] {
            assert!(used.contains(f.bytes), "{} is embedded but unused", f.path);
        }
    }

    #[test]
    fn the_shipped_stack_uses_no_bind_mount() {
        let embedded = load("demo", Path::new("/nowhere"), &|_| None).unwrap();
        for service in &embedded.services {
            assert!(
                service
                    .mounts
                    .iter()
                    .all(|m| !matches!(m, compose::Mount::Bind { .. })),
                "{} bind-mounts a host path",
                service.name
            );
        }
        let grafana = embedded.service("grafana").unwrap();
        assert_eq!(grafana.configs.len(), 5);
    }

    #[test]
    fn init_writes_every_file_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("demo-stack");
        let written = init(&dir, false).unwrap();
        assert_eq!(written.len(), FILES.len());
        for f in FILES {
            assert_eq!(
                std::fs::read(dir.join(f.path)).unwrap(),
                f.bytes,
                "{}",
                f.path
            );
        }
        // The written directory loads as a stack with the same hashes as the embedded one.
        let from_dir = compose::load_with(&dir.join(COMPOSE_FILE), "demo", &|_| None).unwrap();
        let embedded = load("demo", &dir, &|_| None).unwrap();
        for (a, b) in from_dir.services.iter().zip(&embedded.services) {
            assert_eq!(a.config_hash(), b.config_hash(), "{}", a.name);
        }

        std::fs::write(dir.join("prometheus/prometheus.yml"), "edited").unwrap();
        let err = init(&dir, false).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{} already holds docker-compose.yaml and {} more of the stack's files; pass --force to overwrite, or name another directory",
                dir.display(),
                FILES.len() - 1
            )
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("prometheus/prometheus.yml")).unwrap(),
            "edited",
            "a refused init writes nothing"
        );
        init(&dir, true).unwrap();
        assert_ne!(
            std::fs::read_to_string(dir.join("prometheus/prometheus.yml")).unwrap(),
            "edited"
        );
    }
}
