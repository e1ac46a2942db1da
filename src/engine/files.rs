//! Files inside a container (and the volumes it mounts), through the engine's archive API: it
//! works on remote engines and needs no shell in the image.
use std::collections::HashMap;
use std::io::Read;

use bollard::body_full;
use bollard::query_parameters::{
    ContainerArchiveInfoOptions, DownloadFromContainerOptions, UploadToContainerOptions,
};
use futures_util::TryStreamExt;

use super::Engine;
use super::error::{EngineError, status_of};
use crate::archive::{dir_header, file_header};
use crate::compose::{ConfigFile, Service};

/// Go's `os.ModeDir`, as the engine reports a path's mode.
const GO_MODE_DIR: u32 = 1 << 31;

/// What a path is in a container: absent, a directory, or something else (a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Missing,
    Dir,
    Other,
}

impl Engine {
    /// The bytes of the file at `path` in container `id`; `None` when there is no such file.
    pub async fn read_file(&self, id: &str, path: &str) -> Result<Option<Vec<u8>>, EngineError> {
        let op = || format!("read {path} from container {id}");
        let options = DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let chunks: Vec<_> = match self
            .docker
            .download_from_container(id, Some(options))
            .try_collect()
            .await
        {
            Ok(chunks) => chunks,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(EngineError::api(op(), e)),
        };
        let tar: Vec<u8> = chunks.concat();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries = archive.entries().map_err(|e| EngineError::Api {
            op: op(),
            cause: e.to_string(),
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| EngineError::Api {
                op: op(),
                cause: e.to_string(),
            })?;
            if entry.header().entry_type().is_file() {
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| EngineError::Api {
                        op: op(),
                        cause: e.to_string(),
                    })?;
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    }

    /// Writes `bytes` as `dir/name` in container `id` (mode 0644, owned by `uid:gid`). The engine
    /// unpacks the archive in place, so readers must tolerate a partial file.
    pub async fn write_file(
        &self,
        id: &str,
        dir: &str,
        name: &str,
        bytes: &[u8],
        owner: (u64, u64),
    ) -> Result<(), EngineError> {
        let op = || format!("write {dir}/{name} in container {id}");
        let mut header = file_header(bytes.len(), 0o644, owner);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        );
        header.set_cksum();
        let mut tar = tar::Builder::new(Vec::new());
        tar.append_data(&mut header, name, bytes)
            .map_err(|e| EngineError::Api {
                op: op(),
                cause: e.to_string(),
            })?;
        let tar = tar.into_inner().map_err(|e| EngineError::Api {
            op: op(),
            cause: e.to_string(),
        })?;
        self.upload(id, dir, tar, op).await
    }

    /// Unpacks `tar` at `dir` in container `id`; `op` names the operation in an error.
    async fn upload(
        &self,
        id: &str,
        dir: &str,
        tar: Vec<u8>,
        op: impl FnOnce() -> String,
    ) -> Result<(), EngineError> {
        let options = UploadToContainerOptions {
            path: dir.to_string(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(id, Some(options), body_full(tar.into()))
            .await
            .map_err(|e| EngineError::api(op(), e))
    }

    /// Copies the service's config files into its container `id`, created and not yet started.
    /// Each file gets its mode and owner; parent directories the image lacks are created 0755
    /// owned by root, while existing ones are left as the image made them (a data directory
    /// such as Grafana's keeps its owner). A target that is a directory in the image is refused.
    pub async fn copy_configs(&self, id: &str, service: &Service) -> Result<(), EngineError> {
        let mut known: HashMap<String, PathKind> =
            HashMap::from([("/".to_string(), PathKind::Dir)]);
        for config in &service.configs {
            let refuse_with = |problem: String, fix: &'static str| EngineError::ConfigTarget {
                service: service.name.clone(),
                target: config.target.clone(),
                image: service.image.clone(),
                problem,
                fix,
            };
            let refuse =
                |problem: String| refuse_with(problem, "set the config's target: to a file path");
            if self.path_kind(id, &config.target, &mut known).await? == PathKind::Dir {
                return Err(refuse("it is a directory in the image".into()));
            }
            // The deepest ancestor that exists; everything below it is created by the archive.
            let mut missing: Vec<&str> = Vec::new();
            let mut base = parent_of(&config.target);
            loop {
                match self.path_kind(id, base, &mut known).await? {
                    PathKind::Dir => break,
                    PathKind::Other => {
                        return Err(refuse(format!("{base} is a file in the image")));
                    }
                    PathKind::Missing => {
                        missing.push(base);
                        base = parent_of(base);
                    }
                }
            }
            let tar = config_archive(base, &missing, config).map_err(|e| EngineError::Api {
                op: format!("pack config {} for service {}", config.source, service.name),
                cause: e.to_string(),
            })?;
            let copied = self
                .upload(id, base, tar, || {
                    format!(
                        "copy config {} to {} in the container of service {}",
                        config.source, config.target, service.name
                    )
                })
                .await;
            match copied {
                // The engine writes into a read-only container only below its volumes.
                Err(EngineError::Api { cause, .. }) if cause.contains("read-only") => {
                    return Err(refuse_with(
                        cause,
                        "remove read_only: true, or place the config below a volume it mounts",
                    ));
                }
                other => other?,
            }
            for dir in missing {
                known.insert(dir.to_string(), PathKind::Dir);
            }
        }
        Ok(())
    }

    /// Whether `path` exists in container `id`, and as what; answers are remembered in `known`.
    async fn path_kind(
        &self,
        id: &str,
        path: &str,
        known: &mut HashMap<String, PathKind>,
    ) -> Result<PathKind, EngineError> {
        if let Some(kind) = known.get(path) {
            return Ok(*kind);
        }
        let options = ContainerArchiveInfoOptions {
            path: path.to_string(),
        };
        let kind = match self
            .docker
            .get_container_archive_info(id, Some(options))
            .await
        {
            Ok(stat) if stat.file_mode & GO_MODE_DIR != 0 => PathKind::Dir,
            Ok(_) => PathKind::Other,
            Err(e) if status_of(&e) == Some(404) => PathKind::Missing,
            Err(e) => {
                return Err(EngineError::api(
                    format!("look up {path} in container {id}"),
                    e,
                ));
            }
        };
        known.insert(path.to_string(), kind);
        Ok(kind)
    }
}

/// The parent directory of an absolute path (`/` for `/x`).
fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// A tar to unpack at `base`: the `missing` directories (deepest first in the list) as 0755
/// owned by root, then the file with its own mode and owner.
fn config_archive(base: &str, missing: &[&str], config: &ConfigFile) -> std::io::Result<Vec<u8>> {
    let relative = |path: &str| {
        path.strip_prefix(base)
            .unwrap_or(path)
            .trim_start_matches('/')
            .to_string()
    };
    let mut tar = tar::Builder::new(Vec::new());
    for dir in missing.iter().rev() {
        let mut header = dir_header(0o755, (0, 0));
        tar.append_data(&mut header, format!("{}/", relative(dir)), std::io::empty())?;
    }
    let owner = (u64::from(config.uid), u64::from(config.gid));
    let mut header = file_header(config.content.len(), config.mode, owner);
    tar.append_data(
        &mut header,
        relative(&config.target),
        config.content.as_slice(),
    )?;
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_of_absolute_paths() {
        assert_eq!(parent_of("/etc/grafana/grafana.ini"), "/etc/grafana");
        assert_eq!(parent_of("/etc"), "/");
        assert_eq!(parent_of("/"), "/");
    }

    #[test]
    fn the_archive_holds_missing_parents_then_the_file() {
        let config = ConfigFile {
            source: "c".into(),
            target: "/etc/grafana/provisioning/datasources/ds.yaml".into(),
            mode: 0o440,
            uid: 472,
            gid: 0,
            content: b"apiVersion: 1\n".to_vec(),
        };
        let missing = [
            "/etc/grafana/provisioning/datasources",
            "/etc/grafana/provisioning",
        ];
        let tar = config_archive("/etc/grafana", &missing, &config).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32, u64, bool)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.entry_type().is_dir(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("provisioning/".to_string(), 0o755, 0, true),
                ("provisioning/datasources/".to_string(), 0o755, 0, true),
                (
                    "provisioning/datasources/ds.yaml".to_string(),
                    0o440,
                    472,
                    false
                ),
            ]
        );
    }
}
