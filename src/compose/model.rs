//! The resolved project: what `demo` wants to exist, independent of what the engine holds.
//!
//! Everything here is already interpolated, validated and absolute: the engine layer turns it
//! into Docker objects without another decision about the compose file.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// A compose project after loading: every service, in dependency order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    /// Validated like compose project names: `^[a-z0-9][a-z0-9_-]*$`.
    pub name: String,
    /// Directory of the compose file; relative paths in it were resolved against this.
    pub dir: PathBuf,
    /// Services in a deterministic topological order: dependencies before dependents, ties by
    /// name.
    pub services: Vec<Service>,
    /// Named volumes declared at the top level (`volumes:`), by their key.
    pub volumes: Vec<String>,
}

/// One service, resolved. Its `Serialize` form feeds the config hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub name: String,
    /// Image reference, after interpolation (e.g. `prom/prometheus:v3.13.1`).
    pub image: String,
    /// The variable that set `image` (from `${VAR:-default}`), named when it cannot be had.
    #[serde(skip)]
    pub image_variable: Option<String>,
    /// Present for the images we build ourselves.
    pub build: Option<Build>,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    pub ports: Vec<Port>,
    pub mounts: Vec<Mount>,
    pub tmpfs: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    pub depends_on: Vec<Dependency>,
    /// Bytes (compose's `mem_limit`, e.g. `500m`).
    pub mem_limit: Option<u64>,
    pub restart: RestartPolicy,
    pub user: Option<String>,
    pub read_only: bool,
    /// The user's own labels from the compose file; ours are added by the engine layer.
    pub labels: BTreeMap<String, String>,
    /// Files copied into the container before it starts (compose `configs`). Left out of the
    /// hash's JSON when empty, so a service without configs keeps the hash it had before them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ConfigFile>,
}

/// A file copied into a service's container before it starts: a top-level `configs` entry as
/// one service's `configs` places it. No host path reaches the engine, only these bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigFile {
    /// The top-level config's key.
    pub source: String,
    /// Absolute path of the file in the container.
    pub target: String,
    /// Permission bits (compose's default 0444).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The file's bytes; the config hash sees their SHA-256, so an edit recreates the service.
    #[serde(rename = "content_sha256", serialize_with = "sha256_hex")]
    pub content: Vec<u8>,
}

fn sha256_hex<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&super::hash::sha256_hex(bytes))
}

/// How to build one of our images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Build {
    /// Absolute build context directory.
    pub context: PathBuf,
    /// Absolute path of the Dockerfile. The crate it builds sits beside it (its `Cargo.toml`).
    pub dockerfile: PathBuf,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Port {
    /// `127.0.0.1` when the compose file names no address: safe by default.
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
    /// The variable that set `host_port` (from `${VAR:-default}`), named in a port-taken error.
    #[serde(skip)]
    pub variable: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Mount {
    /// A host path (absolute) into the container.
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
    /// A named volume, by its key in the compose file (the engine prefixes the project name).
    Volume {
        name: String,
        target: String,
        read_only: bool,
    },
}

/// Exec-form health check (`["CMD", ...]`): no shell is assumed in our images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Healthcheck {
    /// The test as Docker takes it, starting with `CMD` or `CMD-SHELL`; exactly `["NONE"]` when
    /// the file disables the image's own check (`disable: true` or `test: ["NONE"]`).
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u32,
}

impl Healthcheck {
    /// Docker's test word that turns a health check off.
    pub const NONE: &'static str = "NONE";

    /// True when the file turns the image's health check off: the container never becomes
    /// healthy, so nothing may wait for `service_healthy` on it.
    pub fn is_disabled(&self) -> bool {
        self.test.first().is_some_and(|t| t == Self::NONE)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
}

/// When a dependent may start, as compose's `depends_on.condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    OnFailure,
    UnlessStopped,
}
