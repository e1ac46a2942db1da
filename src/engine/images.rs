//! Images: is it here, pull it, build it from a tar context or import a root filesystem; no
//! intermediate images left.
use std::collections::HashMap;

use bollard::body_full;
use bollard::query_parameters::{BuildImageOptions, CreateImageOptions};
use futures_util::StreamExt;

use super::Engine;
use super::error::{EngineError, cause_of, status_of};

/// An image present in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    pub id: String,
    pub size: u64,
}

/// A whole root filesystem and the little configuration an image of ours needs, imported in
/// one request (`POST /images/create?fromSrc=-`): one layer and no build step, so the engine
/// commits no container (each step of a classic build does, seconds apiece on some storage
/// drivers). Entries keep the owners their tar headers give.
#[derive(Debug, Clone)]
pub struct RootFs {
    pub tar: Vec<u8>,
    /// The reference to tag, `repository:tag`.
    pub tag: String,
    pub user: String,
    pub entrypoint: Vec<String>,
    pub labels: HashMap<String, String>,
}

impl RootFs {
    /// The Dockerfile instructions the import applies (`USER`, `ENTRYPOINT`, `LABEL`), values
    /// quoted as JSON strings, which the Dockerfile parser reads back unchanged.
    fn changes(&self) -> Vec<String> {
        let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let mut labels: Vec<_> = self.labels.iter().collect();
        labels.sort();
        let mut changes = vec![
            format!("USER {}", self.user),
            format!(
                "ENTRYPOINT {}",
                serde_json::to_string(&self.entrypoint).expect("strings serialize")
            ),
        ];
        changes.extend(
            labels
                .into_iter()
                .map(|(k, v)| format!("LABEL {}={}", quote(k), quote(v))),
        );
        changes
    }
}

/// A complete build context, ready to send: the engine's classic builder takes a tar.
pub struct BuildContext {
    pub tar: Vec<u8>,
    /// Path of the Dockerfile inside the tar.
    pub dockerfile: String,
    pub tag: String,
    pub labels: HashMap<String, String>,
}

impl Engine {
    /// The image `reference` points at, or `None` when the engine does not hold it.
    pub async fn image(&self, reference: &str) -> Result<Option<ImageFacts>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(ImageFacts {
                id: image.id.unwrap_or_default(),
                size: image.size.unwrap_or_default().max(0) as u64,
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(EngineError::api(format!("inspect image {reference}"), e)),
        }
    }

    /// Pulls `reference`, reporting (bytes done, bytes total) over all layers as they move.
    /// Returns the engine's message when the pull fails (offline, unknown image, …).
    pub async fn pull(
        &self,
        reference: &str,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ImageFacts, String> {
        let options = CreateImageOptions {
            from_image: Some(reference.to_string()),
            ..Default::default()
        };
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| cause_of(&e))?;
            if let Some(detail) = info.error_detail {
                return Err(detail.message.unwrap_or_else(|| "pull failed".to_string()));
            }
            if let (Some(id), Some(p)) = (info.id, info.progress_detail) {
                let entry = layers.entry(id).or_default();
                entry.0 = p.current.unwrap_or(entry.0 as i64).max(0) as u64;
                entry.1 = p.total.unwrap_or(entry.1 as i64).max(0) as u64;
                let (done, total) = layers
                    .values()
                    .fold((0, 0), |(d, t), (ld, lt)| (d + ld, t + lt));
                progress(done, total);
            }
        }
        match self.image(reference).await {
            Ok(Some(facts)) => Ok(facts),
            Ok(None) => Err("the engine reported no error but holds no such image".to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Builds `context` with the classic builder, removing intermediate containers even on
    /// failure. Each line of builder output goes to `log`; the error carries the builder's
    /// message.
    pub async fn build(
        &self,
        context: BuildContext,
        mut log: impl FnMut(&str),
    ) -> Result<ImageFacts, EngineError> {
        let op = || format!("build image {}", context.tag);
        let options = BuildImageOptions {
            dockerfile: context.dockerfile.clone(),
            t: Some(context.tag.clone()),
            rm: true,
            forcerm: true,
            labels: Some(context.labels.clone()),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .build_image(options, None, Some(body_full(context.tar.into())));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| EngineError::api(op(), e))?;
            failed_step(info.error_detail, "the builder failed", op)?;
            if let Some(line) = info.stream {
                for line in line.lines().filter(|l| !l.trim().is_empty()) {
                    log(line.trim_end());
                }
            }
        }
        self.made(&context.tag, op, "no image after the build")
            .await
    }
}

impl Engine {
    /// Imports `rootfs` as the image `rootfs.tag`, replacing what that tag named before.
    pub async fn import(&self, rootfs: RootFs) -> Result<ImageFacts, EngineError> {
        let changes = rootfs.changes();
        let RootFs { tar, tag, .. } = rootfs;
        let op = || format!("import image {tag}");
        let options = CreateImageOptions {
            from_src: Some("-".to_string()),
            // The API takes `repository:tag` whole in `repo` for an import.
            repo: Some(tag.clone()),
            changes,
            ..Default::default()
        };
        let mut stream = self
            .docker
            .create_image(Some(options), Some(body_full(tar.into())), None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| EngineError::api(op(), e))?;
            failed_step(info.error_detail, "the import failed", op)?;
        }
        self.made(&tag, op, "no image after the import").await
    }

    /// The image a build or import just tagged `tag`.
    async fn made(
        &self,
        tag: &str,
        op: impl Fn() -> String,
        missing: &str,
    ) -> Result<ImageFacts, EngineError> {
        self.image(tag).await?.ok_or_else(|| EngineError::Api {
            op: op(),
            cause: missing.to_string(),
        })
    }
}

impl Engine {
    /// Removes the untagged images `demo` built (a rebuilt tag leaves its previous image
    /// behind); images a container still uses are kept by the engine. Selected by our label, so
    /// nobody else's image is touched. Returns how many image layers went.
    pub async fn prune_our_dangling_images(&self) -> Result<usize, EngineError> {
        use bollard::query_parameters::PruneImagesOptions;
        let filters = HashMap::from([
            ("dangling".to_string(), vec!["true".to_string()]),
            (
                "label".to_string(),
                vec![format!(
                    "{}={}",
                    crate::labels::CREATED_BY,
                    crate::labels::CREATOR
                )],
            ),
        ]);
        let pruned = self
            .docker
            .prune_images(Some(PruneImagesOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| EngineError::api("remove the images demo built before", e))?;
        Ok(pruned.images_deleted.map_or(0, |deleted| deleted.len()))
    }
}

/// The engine's message when a streamed build or import step failed.
fn failed_step(
    detail: Option<bollard::models::ErrorDetail>,
    fallback: &str,
    op: impl Fn() -> String,
) -> Result<(), EngineError> {
    match detail {
        Some(detail) => Err(EngineError::Api {
            op: op(),
            cause: detail.message.unwrap_or_else(|| fallback.to_string()),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_sets_user_entrypoint_and_labels_as_a_dockerfile_would() {
        let rootfs = RootFs {
            tar: Vec::new(),
            tag: "demo/recommendation:0.1.0".into(),
            user: "65532:65532".into(),
            entrypoint: vec!["/recommendation".into()],
            labels: HashMap::from([
                ("dev.demo.service".to_string(), "recommendation".to_string()),
                ("dev.demo.created-by".to_string(), "demo".to_string()),
            ]),
        };
        assert_eq!(
            rootfs.changes(),
            [
                "USER 65532:65532",
                "ENTRYPOINT [\"/recommendation\"]",
                "LABEL \"dev.demo.created-by\"=\"demo\"",
                "LABEL \"dev.demo.service\"=\"recommendation\"",
            ]
        );
    }
}
