//! Every label key `demo` writes or selects by, in one place.
//!
//! The compose keys make Docker Desktop group the stack and let `docker compose -p NAME ps/logs`
//! understand it; [`CREATED_BY`] marks the objects `demo` itself made. `down`, `status` and every
//! clean-up select by [`project_filter`], never by name: a container named like ours but without
//! these labels is someone else's.
use std::collections::HashMap;

/// Compose's project key: the stack an object belongs to.
pub const PROJECT: &str = "com.docker.compose.project";
/// Compose's service key: which service of the file a container runs.
pub const SERVICE: &str = "com.docker.compose.service";
/// Compose's replica index; always `1` here (one replica per service).
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
/// SHA-256 of the service's resolved configuration: a changed hash means recreate.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// Compose marks `run` containers `True`; ours are never one-off.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The version of the tool that made the object (compose writes its own).
pub const VERSION: &str = "com.docker.compose.version";
/// Compose's dependency list: `service:condition:required`, comma-separated.
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The image ID the container was created from, so a rebuilt tag means recreate.
pub const IMAGE: &str = "com.docker.compose.image";
/// Compose's key naming a network by its key in the file (`default`).
pub const NETWORK: &str = "com.docker.compose.network";
/// Compose's key naming a volume by its key in the file.
pub const VOLUME: &str = "com.docker.compose.volume";
/// Directory of the compose file, as compose records it.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// The compose file, as compose records it.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";

/// Our own mark: present on every object `demo` creates, value [`CREATOR`].
pub const CREATED_BY: &str = "dev.demo.created-by";
pub const CREATOR: &str = "demo";

/// Optional user label on a service: the URL `up` and `status` print for it.
pub const URL: &str = "dev.demo.url";
/// Optional user label on a service without a Docker health check: a URL that answers 2xx
/// once it is ready, which `up` polls from this host (local engines only).
pub const READY_URL: &str = "dev.demo.ready-url";

/// Engine filters selecting every object of `project` that `demo` created.
pub fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![
            format!("{PROJECT}={project}"),
            format!("{CREATED_BY}={CREATOR}"),
        ],
    )])
}

/// The labels every object of `project` carries, before its kind-specific ones.
pub fn base(project: &str) -> HashMap<String, String> {
    HashMap::from([
        (PROJECT.to_string(), project.to_string()),
        (CREATED_BY.to_string(), CREATOR.to_string()),
        (VERSION.to_string(), env!("CARGO_PKG_VERSION").to_string()),
    ])
}

/// True when `labels` say the object belongs to `project` and was made by `demo`.
pub fn is_ours(labels: &HashMap<String, String>, project: &str) -> bool {
    labels.get(PROJECT).map(String::as_str) == Some(project)
        && labels.get(CREATED_BY).map(String::as_str) == Some(CREATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_requires_both_project_and_creator() {
        let filter = project_filter("p1");
        assert_eq!(
            filter["label"],
            vec!["com.docker.compose.project=p1", "dev.demo.created-by=demo"]
        );
    }

    #[test]
    fn a_compose_object_of_the_same_project_is_not_ours() {
        let mut labels = HashMap::from([(PROJECT.to_string(), "p1".to_string())]);
        assert!(!is_ours(&labels, "p1"));
        labels.extend(base("p1"));
        assert!(is_ours(&labels, "p1"));
        assert!(!is_ours(&labels, "p2"));
    }
}
