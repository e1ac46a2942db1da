//! The config hash: which changes to a service mean its container must be recreated.
//!
//! Like docker compose's `com.docker.compose.config-hash`: SHA-256 of the resolved service with
//! the fields that do not shape the container cleared. `depends_on` only orders start-up and
//! `build` only says how the image is made (the image reference itself stays in the hash).
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::model::Service;

impl Service {
    /// Lowercase hex SHA-256 of the service's canonical JSON (struct fields in declaration
    /// order, maps sorted by key), with `depends_on` and `build` cleared. The same file and
    /// environment give the same hash on every run.
    pub fn config_hash(&self) -> String {
        let mut canonical = self.clone();
        canonical.depends_on.clear();
        canonical.build = None;
        // Serializing cannot fail: every map key is a string and every path is UTF-8 (the
        // loader rejects a compose directory that is not).
        let json = serde_json::to_vec(&canonical).expect("a resolved service serializes to JSON");
        sha256_hex(&json)
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(bytes) {
        write!(hex, "{byte:02x}").expect("writing to a String cannot fail");
    }
    hex
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::compose::{Condition, Dependency, Service, load_with};

    const FILE: &str = "services:\n  web:\n    image: web:${TAG:-1}\n    environment:\n      RATE: ${RATE:-20}\n    ports: [\"127.0.0.1:${WEB_PORT:-8080}:80\"]\n    depends_on: [db]\n    build: .\n  db:\n    image: db:1\n";

    fn hash_of(dir: &Path, vars: &[(&str, &str)], service: &str) -> String {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let project = load_with(&dir.join("docker-compose.yaml"), "t", &|n| {
            vars.get(n).cloned()
        })
        .unwrap();
        project.service(service).unwrap().config_hash()
    }

    #[test]
    fn hash_is_hex_sha256_and_stable_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yaml"), FILE).unwrap();
        let first = hash_of(dir.path(), &[], "web");
        assert_eq!(first.len(), 64);
        assert!(
            first
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_eq!(first, hash_of(dir.path(), &[], "web"));
        // A variable set to its default value changes nothing.
        assert_eq!(first, hash_of(dir.path(), &[("RATE", "20")], "web"));
    }

    #[test]
    fn a_changed_variable_changes_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yaml"), FILE).unwrap();
        let base = hash_of(dir.path(), &[], "web");
        assert_ne!(base, hash_of(dir.path(), &[("RATE", "50")], "web"));
        assert_ne!(base, hash_of(dir.path(), &[("TAG", "2")], "web"));
        assert_ne!(base, hash_of(dir.path(), &[("WEB_PORT", "9090")], "web"));
        // Another service's variables do not touch it.
        assert_eq!(
            hash_of(dir.path(), &[], "db"),
            hash_of(dir.path(), &[("RATE", "50")], "db")
        );
    }

    #[test]
    fn depends_on_and_build_do_not_change_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker-compose.yaml");
        std::fs::write(&path, FILE).unwrap();
        let base = hash_of(dir.path(), &[], "web");
        let changed = FILE
            .replace(
                "depends_on: [db]",
                "depends_on:\n      db: {condition: service_healthy}",
            )
            .replace(
                "build: .",
                "build: {context: ., dockerfile: Other.Dockerfile}",
            );
        std::fs::write(&path, changed).unwrap();
        assert_eq!(base, hash_of(dir.path(), &[], "web"));
    }

    #[test]
    fn hash_clears_dependencies_in_memory_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yaml"), FILE).unwrap();
        let project = load_with(&dir.path().join("docker-compose.yaml"), "t", &|_| None).unwrap();
        let web = project.service("web").unwrap();
        let mut other: Service = web.clone();
        other.depends_on.push(Dependency {
            service: "x".into(),
            condition: Condition::ServiceHealthy,
        });
        assert_eq!(web.config_hash(), other.config_hash());
        other.read_only = true;
        assert_ne!(web.config_hash(), other.config_hash());
    }

    #[test]
    fn a_config_file_edit_changes_only_the_hash_of_the_services_using_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = "configs:\n  app:\n    file: ./app.ini\nservices:\n  web:\n    image: web:1\n    configs: [{source: app, target: /etc/app.ini}]\n  db:\n    image: db:1\n";
        std::fs::write(dir.path().join("docker-compose.yaml"), file).unwrap();
        std::fs::write(dir.path().join("app.ini"), "a=1\n").unwrap();
        let (web, db) = (
            hash_of(dir.path(), &[], "web"),
            hash_of(dir.path(), &[], "db"),
        );
        std::fs::write(dir.path().join("app.ini"), "a=2\n").unwrap();
        assert_ne!(web, hash_of(dir.path(), &[], "web"));
        assert_eq!(db, hash_of(dir.path(), &[], "db"));
        // A service without configs hashes as it did before configs existed: upgrading demo
        // recreates nothing that has none.
        let project = load_with(&dir.path().join("docker-compose.yaml"), "t", &|_| None).unwrap();
        let json = serde_json::to_string(project.service("db").unwrap()).unwrap();
        assert!(!json.contains("configs"), "{json}");
    }
}
