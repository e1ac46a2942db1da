//! Builds our own images. On a Linux host of the engine's architecture: static binaries from
//! the host's cargo, sent in a `FROM scratch` context (fast, reuses cargo's cache, needs no
//! base image). Elsewhere: the service's multi-stage Dockerfile, built by the engine.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::compose::Service;
use crate::engine::BuildContext;
use crate::labels;

/// The uid:gid our images run as (the conventional "nonroot" of distroless images).
pub const IMAGE_USER: &str = "65532:65532";

/// Why a build could not even be sent to the engine.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("service \"{service}\" has no `build` section; only our own services can be built")]
    NotBuildable { service: String },
    #[error(
        "cannot read {path}: {cause}; the Dockerfile of a built service must sit beside its crate's Cargo.toml"
    )]
    Manifest { path: PathBuf, cause: String },
    #[error(
        "cannot run cargo to build {packages}: {cause}; install Rust (rustup.rs) or build on a host with cargo"
    )]
    CargoMissing { packages: String, cause: String },
    #[error("cargo failed to build {packages}; see its output above, fix the error and run again")]
    CargoFailed { packages: String },
    #[error(
        "cargo built no binary for package {package}; the crate beside the Dockerfile must have a binary target of the package's name"
    )]
    NoBinary { package: String },
    #[error("cannot pack the build context from {path}: {cause}")]
    Context { path: PathBuf, cause: String },
}

/// One of our services, resolved to the crate that builds it.
#[derive(Debug, Clone)]
pub struct Crate {
    pub service: String,
    pub image: String,
    pub package: String,
    /// The crate's directory (beside the Dockerfile).
    pub dir: PathBuf,
    pub build: crate::compose::Build,
}

impl Crate {
    pub fn of(service: &Service) -> Result<Self, BuildError> {
        let build = service
            .build
            .clone()
            .ok_or_else(|| BuildError::NotBuildable {
                service: service.name.clone(),
            })?;
        let dir = build
            .dockerfile
            .parent()
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|e| BuildError::Manifest {
            path: manifest.clone(),
            cause: e.to_string(),
        })?;
        let package = package_name(&text).ok_or_else(|| BuildError::Manifest {
            path: manifest.clone(),
            cause: "no `name` under [package]".to_string(),
        })?;
        Ok(Crate {
            service: service.name.clone(),
            image: service.image.clone(),
            package,
            dir,
            build,
        })
    }
}

/// The `name` of the `[package]` table, without a TOML parser: manifests here are plain.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(rest) = line.strip_prefix("name") {
            let value = rest.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_string());
        }
    }
    None
}

/// The Rust target triple for a static build for an engine of architecture `engine_arch`
/// (Go's spelling), when this host can produce it itself.
pub fn host_target(engine_arch: &str) -> Option<String> {
    let arch = match engine_arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        _ => return None,
    };
    (cfg!(target_os = "linux") && std::env::consts::ARCH == arch)
        .then(|| format!("{arch}-unknown-linux-gnu"))
}

/// Compiles every crate in one cargo run (shared dependencies build once) as static binaries
/// for `target`; returns each package's binary. Cargo's own progress lines go to `log`.
pub async fn cargo_build_static(
    crates: &[Crate],
    target: &str,
    mut log: impl FnMut(&str),
) -> Result<HashMap<String, PathBuf>, BuildError> {
    let packages = crates
        .iter()
        .map(|c| c.package.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let manifest = crates[0].dir.join("Cargo.toml");
    let mut command =
        tokio::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    command
        .arg("build")
        .arg("--release")
        .arg("--locked")
        .args(["--target", target])
        .args(["--message-format", "json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest);
    for c in crates {
        command.args(["-p", &c.package]);
    }
    // With an explicit --target, RUSTFLAGS reach only the target's code, not build scripts.
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    rustflags.push_str(" -C target-feature=+crt-static");
    command.env("RUSTFLAGS", rustflags.trim());
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| BuildError::CargoMissing {
        packages: packages.clone(),
        cause: e.to_string(),
    })?;

    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let artifacts = tokio::spawn(async move {
        let mut binaries = HashMap::new();
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((package, path)) = executable_of(&line) {
                binaries.insert(package, path);
            }
        }
        binaries
    });
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log(&line);
    }
    let status = child.wait().await.map_err(|e| BuildError::CargoMissing {
        packages: packages.clone(),
        cause: e.to_string(),
    })?;
    let binaries = artifacts.await.unwrap_or_default();
    if !status.success() {
        return Err(BuildError::CargoFailed { packages });
    }
    for c in crates {
        if !binaries.contains_key(&c.package) {
            return Err(BuildError::NoBinary {
                package: c.package.clone(),
            });
        }
    }
    Ok(binaries)
}

/// The package and path of an executable from one line of cargo's JSON messages.
fn executable_of(line: &str) -> Option<(String, PathBuf)> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let path = message["executable"].as_str()?;
    let name = message["target"]["name"].as_str()?;
    Some((name.to_string(), PathBuf::from(path)))
}

/// A `FROM scratch` context: the binary at `/<package>`, the crate's `rootfs/` at `/`, all
/// owned by [`IMAGE_USER`], which the image runs as.
pub fn scratch_context(krate: &Crate, binary: &Path) -> Result<BuildContext, BuildError> {
    let pkg = &krate.package;
    let rootfs = krate.dir.join("rootfs");
    let has_rootfs = rootfs.is_dir();
    let mut dockerfile = String::from("FROM scratch\n");
    if has_rootfs {
        dockerfile.push_str(&format!("COPY --chown={IMAGE_USER} rootfs/ /\n"));
    }
    dockerfile.push_str(&format!(
        "COPY --chown={IMAGE_USER} {pkg} /{pkg}\nUSER {IMAGE_USER}\nENTRYPOINT [\"/{pkg}\"]\n"
    ));
    let context_err = |path: &Path, e: std::io::Error| BuildError::Context {
        path: path.to_path_buf(),
        cause: e.to_string(),
    };
    let mut tar = tar::Builder::new(Vec::new());
    append_bytes(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644)
        .map_err(|e| context_err(&krate.dir, e))?;
    let bytes = std::fs::read(binary).map_err(|e| context_err(binary, e))?;
    append_bytes(&mut tar, pkg, &bytes, 0o755).map_err(|e| context_err(binary, e))?;
    if has_rootfs {
        tar.append_dir_all("rootfs", &rootfs)
            .map_err(|e| context_err(&rootfs, e))?;
    }
    let tar = tar.into_inner().map_err(|e| context_err(&krate.dir, e))?;
    Ok(BuildContext {
        tar,
        dockerfile: "Dockerfile".to_string(),
        tag: krate.image.clone(),
        labels: image_labels(krate),
    })
}

/// The whole build context directory and the service's own Dockerfile, for engines this host
/// cannot build for. Skips `target/` and `.git/`: they are large and never needed.
pub fn dockerfile_context(krate: &Crate) -> Result<BuildContext, BuildError> {
    let root = &krate.build.context;
    let dockerfile = krate
        .build
        .dockerfile
        .strip_prefix(root)
        .map_err(|_| BuildError::Context {
            path: krate.build.dockerfile.clone(),
            cause: "the Dockerfile is outside the build context".to_string(),
        })?
        .to_string_lossy()
        .into_owned();
    let mut tar = tar::Builder::new(Vec::new());
    let err = |path: &Path, e: std::io::Error| BuildError::Context {
        path: path.to_path_buf(),
        cause: e.to_string(),
    };
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| err(&dir, e))? {
            let entry = entry.map_err(|e| err(&dir, e))?;
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name == ".git" {
                continue;
            }
            let relative = path.strip_prefix(root).expect("below the root");
            if entry.file_type().map_err(|e| err(&path, e))?.is_dir() {
                stack.push(path);
            } else {
                tar.append_path_with_name(&path, relative)
                    .map_err(|e| err(&path, e))?;
            }
        }
    }
    let tar = tar.into_inner().map_err(|e| err(root, e))?;
    Ok(BuildContext {
        tar,
        dockerfile,
        tag: krate.image.clone(),
        labels: image_labels(krate),
    })
}

fn image_labels(krate: &Crate) -> HashMap<String, String> {
    HashMap::from([
        (labels::CREATED_BY.to_string(), labels::CREATOR.to_string()),
        (labels::SERVICE.to_string(), krate.service.clone()),
    ])
}

fn append_bytes(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    bytes: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_name_is_read_from_the_package_table_only() {
        let manifest =
            "[workspace]\nname = \"no\"\n[package]\nname = \"recommendation\"\nversion = \"1\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("recommendation"));
        assert_eq!(package_name("[package]\nversion = \"1\"\n"), None);
    }

    #[test]
    fn host_target_only_for_the_engine_architecture_of_this_host() {
        let here = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        if cfg!(target_os = "linux") {
            assert!(host_target(here).unwrap().ends_with("-unknown-linux-gnu"));
        }
        assert_eq!(host_target("s390x"), None);
    }

    #[test]
    fn cargo_artifact_lines_name_the_executable() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"recommendation","kind":["bin"]},"executable":"/t/recommendation"}"#;
        assert_eq!(
            executable_of(line),
            Some(("recommendation".into(), PathBuf::from("/t/recommendation")))
        );
        assert_eq!(
            executable_of(
                r#"{"reason":"compiler-artifact","target":{"name":"x"},"executable":null}"#
            ),
            None
        );
        assert_eq!(executable_of("not json"), None);
    }
}
