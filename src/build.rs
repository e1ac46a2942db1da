//! Builds our own images. With the services' source beside the compose file, on a Linux host of
//! the engine's architecture: static binaries from the host's cargo, sent in a `FROM scratch`
//! context (fast, reuses cargo's cache, needs no base image); elsewhere the service's multi-stage
//! Dockerfile, built by the engine. Without the source (an installed `demo`, the embedded
//! stack): `demo`'s own executable, which carries both services, imported as a root
//! filesystem with the shared libraries it needs.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::archive::{dir_header, file_header};
use crate::compose::Service;
use crate::engine::{BuildContext, RootFs};
use crate::labels;

/// The uid:gid our images run as (the conventional "nonroot" of distroless images).
pub const IMAGE_USER: &str = "65532:65532";
/// The same as numbers, for the owner of files written into our images and containers.
pub const IMAGE_OWNER: (u64, u64) = (65532, 65532);

/// The services `demo`'s executable carries: started under one of these names, it is that
/// service (`main.rs`), so it can be their image where their source is not at hand.
pub const RECOMMENDATION: &str = "recommendation";
pub const LOAD_GENERATOR: &str = "load-generator";
const CARRIED: [&str; 2] = [RECOMMENDATION, LOAD_GENERATOR];

/// Where a self-packed image keeps `demo`'s executable; `/<program>` links to it.
const PACKED_EXE: &str = "demo";

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
    #[error(
        "cannot make the image of service \"{service}\" for an engine on {engine} from this demo executable ({binary}); {fix}"
    )]
    Platform {
        service: String,
        engine: String,
        binary: String,
        /// How to get the image another way: the Dockerfile, or the variable naming one.
        fix: String,
    },
    #[error(
        "cannot pack this demo executable ({}) into the image of service \"{service}\": {cause}; install demo from a build whose libraries are present, or point {variable} at an image",
        exe.display()
    )]
    Pack {
        service: String,
        exe: PathBuf,
        variable: String,
        cause: String,
    },
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

/// The program `demo` carries for `service`, when the compose file builds it from one of our
/// crates: the directory its Dockerfile sits in names it (`services/recommendation/Dockerfile`).
pub fn carried_program(service: &Service) -> Option<&'static str> {
    let build = service.build.as_ref()?;
    let dir = build.dockerfile.parent()?.file_name()?.to_str()?;
    CARRIED.into_iter().find(|p| *p == dir)
}

/// Go's name for this executable's architecture, as the engine reports its own.
fn binary_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Refuses to pack this executable for an engine that cannot run it: another OS or CPU.
pub fn check_platform(
    service: &Service,
    program: &str,
    engine_os: &str,
    engine_arch: &str,
) -> Result<(), BuildError> {
    let binary = format!("{}/{}", std::env::consts::OS, binary_arch());
    let engine = format!("{engine_os}/{engine_arch}");
    if binary == engine {
        return Ok(());
    }
    let fix = format!(
        "build it from the source with `docker build -f services/{program}/Dockerfile -t {} .`, or point {} at an image for {engine}",
        service.image,
        image_variable(service)
    );
    Err(BuildError::Platform {
        service: service.name.clone(),
        engine,
        binary,
        fix,
    })
}

/// The variable that overrides a service's image, by the compose file's convention.
pub fn image_variable(service: &Service) -> String {
    service
        .image_variable
        .clone()
        .unwrap_or_else(|| "the service's `image:`".to_string())
}

/// The shared libraries and ELF interpreter a dynamically linked executable loads, as `ldd`
/// lists them (absolute paths); empty for a static executable.
fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, String> {
    let out = std::process::Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| format!("cannot run ldd to list its libraries: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    if all.contains("not a dynamic executable") || all.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(format!("ldd failed: {}", all.trim()));
    }
    libraries_of(&text)
}

/// The library paths in `ldd`'s output (the vDSO has none and is skipped).
fn libraries_of(ldd: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in ldd.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    return Err(format!("{} is not found on this host", name.trim()));
                }
                target
            }
            None => line,
        };
        let path = path.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// The image of `service` from `demo`'s own executable: the executable at `/demo` with the
/// shared libraries `ldd` lists at their paths, `/<program>` linking to it (started under that
/// name it is that service), and for the recommendation service the default flag file, owned
/// by [`IMAGE_USER`] like its directory (a fresh named volume there takes both).
pub fn self_rootfs(service: &Service, program: &str) -> Result<RootFs, BuildError> {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let fail = |cause: String| BuildError::Pack {
        service: service.name.clone(),
        exe: exe.clone(),
        variable: image_variable(service),
        cause,
    };
    let mut tar = tar::Builder::new(Vec::new());
    let bytes = std::fs::read(&exe).map_err(|e| fail(format!("cannot read it: {e}")))?;
    append_bytes(&mut tar, PACKED_EXE, &bytes, 0o755).map_err(|e| fail(e.to_string()))?;
    for lib in shared_libraries(&exe).map_err(fail)? {
        let real = std::fs::canonicalize(&lib).unwrap_or_else(|_| lib.clone());
        let bytes = std::fs::read(&real)
            .map_err(|e| fail(format!("cannot read {}: {e}", real.display())))?;
        let inside = lib.to_string_lossy().trim_start_matches('/').to_string();
        append_bytes(&mut tar, &inside, &bytes, 0o755).map_err(|e| fail(e.to_string()))?;
    }
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    link.set_uid(0);
    link.set_gid(0);
    link.set_mtime(0);
    tar.append_link(&mut link, program, PACKED_EXE)
        .map_err(|e| fail(e.to_string()))?;
    if program == RECOMMENDATION {
        let path = crate::stack::DEFAULT_FLAGS_PATH;
        let flags_dir = Path::new(path).parent().unwrap_or(Path::new(""));
        let mut dirs: Vec<&Path> = flags_dir
            .ancestors()
            .filter(|d| !d.as_os_str().is_empty())
            .collect();
        dirs.reverse();
        for dir in dirs {
            // `etc/` stays root's; the flag file's own directory is the image user's.
            let owner = if dir == flags_dir {
                IMAGE_OWNER
            } else {
                (0, 0)
            };
            append_dir(&mut tar, &format!("{}/", dir.display()), owner)
                .map_err(|e| fail(e.to_string()))?;
        }
        append_owned(
            &mut tar,
            path,
            crate::stack::DEFAULT_FLAGS,
            0o644,
            IMAGE_OWNER,
        )
        .map_err(|e| fail(e.to_string()))?;
    }
    let tar = tar.into_inner().map_err(|e| fail(e.to_string()))?;
    Ok(RootFs {
        tar,
        tag: service.image.clone(),
        user: IMAGE_USER.to_string(),
        entrypoint: vec![format!("/{program}")],
        labels: HashMap::from([
            (labels::CREATED_BY.to_string(), labels::CREATOR.to_string()),
            (labels::SERVICE.to_string(), service.name.clone()),
        ]),
    })
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
    append_owned(tar, path, bytes, mode, (0, 0))
}

fn append_owned(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    bytes: &[u8],
    mode: u32,
    owner: (u64, u64),
) -> std::io::Result<()> {
    tar.append_data(&mut file_header(bytes.len(), mode, owner), path, bytes)
}

fn append_dir(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    owner: (u64, u64),
) -> std::io::Result<()> {
    tar.append_data(&mut dir_header(0o755, owner), path, std::io::empty())
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
    fn ldd_output_gives_the_library_paths() {
        let ldd = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f9f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f9e)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f9f)\n";
        assert_eq!(
            libraries_of(ldd).unwrap(),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert_eq!(
            libraries_of("\tlibfoo.so.1 => not found\n").unwrap_err(),
            "libfoo.so.1 is not found on this host"
        );
    }

    #[test]
    fn this_test_binary_packs_with_its_libraries() {
        let exe = std::env::current_exe().unwrap();
        for lib in shared_libraries(&exe).unwrap() {
            assert!(lib.is_absolute() && lib.exists(), "{}", lib.display());
        }
    }

    fn service(image: &str, dockerfile: &str) -> Service {
        let project = crate::compose::load_with(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/docker-compose.yaml"),
            "demo",
            &|_| None,
        )
        .unwrap();
        let mut s = project.service("recommendation").unwrap().clone();
        s.image = image.to_string();
        s.build.as_mut().unwrap().dockerfile = PathBuf::from(dockerfile);
        s
    }

    #[test]
    fn the_packed_root_holds_the_executable_its_name_and_the_image_users_flag_file() {
        let s = service(
            "demo/recommendation:0.1.0",
            "/x/services/recommendation/Dockerfile",
        );
        let rootfs = self_rootfs(&s, RECOMMENDATION).unwrap();
        assert_eq!(rootfs.tag, "demo/recommendation:0.1.0");
        assert_eq!(rootfs.entrypoint, ["/recommendation"]);
        assert_eq!(rootfs.user, IMAGE_USER);
        let mut archive = tar::Archive::new(rootfs.tar.as_slice());
        let entries: HashMap<String, (tar::EntryType, u32, u64, Option<PathBuf>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    (
                        h.entry_type(),
                        h.mode().unwrap(),
                        h.uid().unwrap(),
                        e.link_name().unwrap().map(|l| l.into_owned()),
                    ),
                )
            })
            .collect();
        assert_eq!(entries[PACKED_EXE].1, 0o755);
        assert_eq!(
            entries["recommendation"].3.as_deref(),
            Some(Path::new(PACKED_EXE))
        );
        assert_eq!(entries["etc/"].2, 0, "etc stays root's");
        assert_eq!(entries["etc/flagd/"].0, tar::EntryType::Directory);
        assert_eq!(entries["etc/flagd/"].2, 65532);
        let flags = &entries[crate::stack::DEFAULT_FLAGS_PATH];
        assert_eq!((flags.1, flags.2), (0o644, 65532));
        for lib in shared_libraries(&std::env::current_exe().unwrap()).unwrap() {
            let inside = lib.to_string_lossy().trim_start_matches('/').to_string();
            assert!(entries.contains_key(&inside), "{inside} is not packed");
        }
    }

    #[test]
    fn the_dockerfile_directory_names_the_carried_program() {
        let ours = service("x", "/anywhere/services/recommendation/Dockerfile");
        assert_eq!(carried_program(&ours), Some(RECOMMENDATION));
        let other = service("x", "/anywhere/services/other/Dockerfile");
        assert_eq!(carried_program(&other), None);
    }

    #[test]
    fn another_platform_is_refused_in_one_line_naming_both_and_the_fix() {
        let s = service(
            "demo/recommendation:0.1.0",
            "/s/services/recommendation/Dockerfile",
        );
        let here = binary_arch();
        assert!(check_platform(&s, RECOMMENDATION, std::env::consts::OS, here).is_ok());
        let other = if here == "arm64" { "amd64" } else { "arm64" };
        let err = check_platform(&s, RECOMMENDATION, "linux", other)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "cannot make the image of service \"recommendation\" for an engine on linux/{other} from this demo executable ({}/{here}); build it from the source with `docker build -f services/recommendation/Dockerfile -t demo/recommendation:0.1.0 .`, or point RECOMMENDATION_IMAGE at an image for linux/{other}",
                std::env::consts::OS
            )
        );
        assert!(check_platform(&s, RECOMMENDATION, "windows", here).is_err());
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
