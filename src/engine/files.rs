//! Files inside a container (and the volumes it mounts), through the engine's archive API: it
//! works on remote engines and needs no shell in the image.
use std::io::Read;

use bollard::body_full;
use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::TryStreamExt;

use super::Engine;
use super::error::{EngineError, status_of};

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
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(owner.0);
        header.set_gid(owner.1);
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
        let options = UploadToContainerOptions {
            path: dir.to_string(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(id, Some(options), body_full(tar.into()))
            .await
            .map_err(|e| EngineError::api(op(), e))
    }
}
