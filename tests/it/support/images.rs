//! Images the engine tests need, made here with no registry: ours through `demo build`, and a
//! Prometheus laid out like the upstream image from Debian's binary (and a static busybox, so
//! the compose file's `wget` health check works on both). `benches/compose.rs` includes this
//! file too, so the benchmark runs on the very images the tests do.
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The stand-in's tag: what the tests set `PROMETHEUS_IMAGE` to.
const PROMETHEUS_TAG: &str = "demo-test/prometheus:debian";

/// Builds our images once per test process, through the real `demo build`.
pub fn ensure_ours() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_demo"))
            .arg("--file")
            .arg(super::compose_file())
            .arg("build")
            .output()
            .expect("demo build runs");
        assert!(
            out.status.success(),
            "demo build failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// The Prometheus stand-in's tag, building it on first use.
pub fn prometheus() -> String {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            build_stand_in(PROMETHEUS_TAG, prometheus_context());
            PROMETHEUS_TAG.to_string()
        })
        .clone()
}

/// Builds a stand-in image `tag` from `context` (a tar with a `Dockerfile`) through demo's own
/// engine module.
pub fn build_stand_in(tag: &str, context: Vec<u8>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = demo::engine::Engine::connect().await.expect("engine");
        let context = demo::engine::BuildContext {
            tar: context,
            dockerfile: "Dockerfile".into(),
            tag: tag.into(),
            labels: Default::default(),
        };
        engine
            .build(context, |_| {})
            .await
            .unwrap_or_else(|e| panic!("build the stand-in {tag}: {e}"));
    });
}

/// `/bin/prometheus`, `/bin/promtool`, busybox (`sh`, `wget`), glibc, `/etc/prometheus`, and
/// `/prometheus` owned by nobody, which the image runs as — the upstream image's layout.
fn prometheus_context() -> Vec<u8> {
    let which = |name: &str| {
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .unwrap();
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            !path.is_empty(),
            "{name} is not installed: apt-get install prometheus busybox-static"
        );
        path
    };
    let mut tar = tar::Builder::new(Vec::new());
    let add_file = |tar: &mut tar::Builder<Vec<u8>>, from: &str, to: &str| {
        let bytes = std::fs::read(from).unwrap_or_else(|e| panic!("read {from}: {e}"));
        append(tar, to, &bytes, 0o755);
    };
    add_file(&mut tar, &which("prometheus"), "rootfs/bin/prometheus");
    add_file(&mut tar, &which("promtool"), "rootfs/bin/promtool");
    add_file(&mut tar, &busybox(), "rootfs/bin/busybox");
    for lib in [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ] {
        let real = std::fs::canonicalize(lib).unwrap();
        add_file(&mut tar, real.to_str().unwrap(), &format!("rootfs{lib}"));
    }
    busybox_applets(&mut tar, &["sh", "wget"]);
    let config = "global:\n  scrape_interval: 15s\n";
    append(
        &mut tar,
        "rootfs/etc/prometheus/prometheus.yml",
        config.as_bytes(),
        0o644,
    );
    append(&mut tar, "data/.keep", b"", 0o644);
    let dockerfile = "FROM scratch\n\
        COPY rootfs/ /\n\
        COPY --chown=65534:65534 data/ /prometheus/\n\
        USER 65534:65534\n\
        WORKDIR /prometheus\n\
        ENTRYPOINT [\"/bin/prometheus\"]\n\
        CMD [\"--config.file=/etc/prometheus/prometheus.yml\", \"--storage.tsdb.path=/prometheus\"]\n";
    append(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644);
    tar.into_inner().unwrap()
}

/// `rootfs/bin/APPLET` links to `busybox` for each of `applets`.
pub fn busybox_applets(tar: &mut tar::Builder<Vec<u8>>, applets: &[&str]) {
    for applet in applets {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        tar.append_link(&mut header, format!("rootfs/bin/{applet}"), "busybox")
            .unwrap();
    }
}

/// Debian's static busybox (package busybox-static); a dynamic one would need more libraries.
pub fn busybox() -> String {
    for candidate in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(candidate).exists() {
            return candidate.to_string();
        }
    }
    panic!("busybox is not installed: apt-get install busybox-static");
}

pub fn append(tar: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8], mode: u32) {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes).unwrap();
}
