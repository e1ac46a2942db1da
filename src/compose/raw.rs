//! The compose file as written (after interpolation): which keys exist and what shape each value
//! has, before any value is given a meaning.
//!
//! Every mapping is opened through [`Fields`], which first rejects any key `demo` does not
//! support (naming it), so no setting is silently ignored; then each key's value is deserialized
//! on its own, so a wrong shape is reported with its key (`healthcheck.retries`).
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_norway::{Mapping, Value};

use super::error::{ComposeError, Scope};
use super::interpolate::{Provenance, VarSpan, key_text};

const TOP_LEVEL_KEYS: &[&str] = &["services", "volumes", "configs", "name", "version"];
const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "ports",
    "volumes",
    "tmpfs",
    "healthcheck",
    "depends_on",
    "mem_limit",
    "restart",
    "user",
    "read_only",
    "labels",
    "configs",
];
const BUILD_KEYS: &[&str] = &["context", "dockerfile"];
const PORT_KEYS: &[&str] = &["target", "published", "host_ip", "protocol"];
const VOLUME_KEYS: &[&str] = &["type", "source", "target", "read_only"];
const HEALTHCHECK_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "start_period",
    "retries",
    "disable",
];
const DEPENDENCY_KEYS: &[&str] = &["condition", "required", "restart"];
const CONFIG_KEYS: &[&str] = &["file", "content"];
const SERVICE_CONFIG_KEYS: &[&str] = &["source", "target", "mode", "uid", "gid"];

/// A string, number or boolean, kept as the text compose would pass on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "expected a string, a number or a boolean")]
pub(crate) enum Scalar {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
}

impl Scalar {
    pub(crate) fn into_text(self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(n) => n.to_string(),
            Scalar::UInt(n) => n.to_string(),
            Scalar::Float(n) => n.to_string(),
            Scalar::Str(s) => s,
        }
    }
}

/// `command`, `entrypoint`, `tmpfs`, `healthcheck.test`: one string or a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "expected a string or a list of strings")]
pub(crate) enum StringOrList {
    One(String),
    List(Vec<Scalar>),
}

/// `environment`, `labels`: `KEY=VALUE` strings or a mapping (a null value has meaning).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a list of KEY=VALUE strings or a mapping of KEY: VALUE"
)]
pub(crate) enum ListOrMap {
    List(Vec<String>),
    Map(BTreeMap<String, Option<Scalar>>),
}

/// A boolean, or the text of one after interpolation (`read_only: ${RO:-true}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "expected true or false")]
pub(crate) enum BoolLike {
    Bool(bool),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawFile {
    /// In file order.
    pub services: Vec<RawService>,
    /// Declared named volumes, in file order.
    pub volumes: Vec<String>,
    /// Top-level `configs`, in file order.
    pub configs: Vec<RawConfig>,
}

/// One top-level `configs` entry: a file beside the compose file, or its text inline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawConfig {
    pub name: String,
    pub file: Option<String>,
    pub content: Option<String>,
}

/// One entry of a service's `configs`; `key` is its name in messages (`configs[0]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawServiceConfig {
    pub key: String,
    pub source: String,
    pub target: Option<String>,
    pub mode: Option<Scalar>,
    pub uid: Option<Scalar>,
    pub gid: Option<Scalar>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RawService {
    pub name: String,
    pub image: Option<String>,
    /// Variables in `image`, to name the one that moves it.
    pub image_vars: Vec<VarSpan>,
    pub build: Option<RawBuild>,
    pub command: Option<StringOrList>,
    pub entrypoint: Option<StringOrList>,
    pub environment: Option<ListOrMap>,
    pub ports: Vec<RawPort>,
    pub volumes: Vec<RawVolume>,
    pub tmpfs: Option<StringOrList>,
    pub healthcheck: Option<RawHealthcheck>,
    pub depends_on: Vec<RawDependency>,
    pub mem_limit: Option<Scalar>,
    pub restart: Option<Scalar>,
    pub user: Option<Scalar>,
    pub read_only: Option<BoolLike>,
    pub labels: Option<ListOrMap>,
    pub configs: Vec<RawServiceConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawBuild {
    pub context: Option<String>,
    pub dockerfile: Option<String>,
}

/// One `ports` entry; `key` is its name in messages (`ports[0]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawPort {
    pub key: String,
    pub form: RawPortForm,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawPortForm {
    /// `[IP:]HOST:CONTAINER[/PROTOCOL]`, with the variables that produced parts of it.
    Short { text: String, vars: Vec<VarSpan> },
    Long {
        target: Option<Scalar>,
        published: Option<Scalar>,
        /// Variables in `published`, if it was a string.
        published_vars: Vec<VarSpan>,
        host_ip: Option<String>,
        protocol: Option<String>,
    },
}

/// One `volumes` entry of a service; `key` is its name in messages (`volumes[0]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawVolume {
    pub key: String,
    pub form: RawVolumeForm,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawVolumeForm {
    /// `SOURCE:TARGET[:ro|rw]`.
    Short(String),
    Long {
        kind: Option<String>,
        source: Option<String>,
        target: Option<String>,
        read_only: Option<BoolLike>,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RawHealthcheck {
    pub test: Option<StringOrList>,
    pub interval: Option<Scalar>,
    pub timeout: Option<Scalar>,
    pub start_period: Option<Scalar>,
    pub retries: Option<Scalar>,
    pub disable: Option<BoolLike>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawDependency {
    pub service: String,
    /// `None` for the list form and for a map entry without `condition`.
    pub condition: Option<String>,
}

/// Note added to the error for `networks`, which users reach for first.
const NETWORKS_NOTE: &str = " (demo puts every service on one network of its own)";

/// One mapping of the file, opened for reading: unsupported keys were already rejected.
struct Fields<'a> {
    scope: &'a Scope,
    /// Prefix of keys in messages, relative to the scope (`healthcheck.`).
    key_prefix: String,
    /// Absolute YAML path of this mapping (`services.grafana.healthcheck`), as interpolation
    /// recorded it.
    path: String,
    map: Mapping,
}

impl<'a> Fields<'a> {
    fn open(
        scope: &'a Scope,
        key_prefix: String,
        path: String,
        map: Mapping,
        supported: &[&str],
    ) -> Result<Self, ComposeError> {
        for key in map.keys() {
            let name = key_text(key);
            let known = matches!(key, Value::String(_))
                && (supported.contains(&name.as_str()) || name.starts_with("x-"));
            if !known {
                return Err(ComposeError::UnsupportedKey {
                    scope: scope.clone(),
                    key: format!("{key_prefix}{name}"),
                    note: if name == "networks" {
                        NETWORKS_NOTE
                    } else {
                        ""
                    },
                });
            }
        }
        Ok(Fields {
            scope,
            key_prefix,
            path,
            map,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`; a null counts as absent, as in compose.
    fn value(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    fn take<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, ComposeError> {
        let Some(value) = self.value(key) else {
            return Ok(None);
        };
        serde_norway::from_value(value)
            .map(Some)
            .map_err(|e| self.invalid(key, e.to_string()))
    }

    fn invalid(&self, key: &str, problem: impl Into<String>) -> ComposeError {
        ComposeError::invalid(self.scope, &self.key(key), problem, "fix the value")
    }

    /// Opens the mapping under `key` with its own supported keys.
    fn nested(
        &self,
        key: &str,
        value: Value,
        supported: &[&str],
    ) -> Result<Fields<'a>, ComposeError> {
        match value {
            Value::Mapping(map) => Fields::open(
                self.scope,
                format!("{}.", self.key(key)),
                self.path(key),
                map,
                supported,
            ),
            other => Err(self.invalid(key, format!("expected a mapping, found {}", kind(&other)))),
        }
    }

    /// The items of a list under `key` (absent or null: none).
    fn list(&mut self, key: &str) -> Result<Vec<Value>, ComposeError> {
        match self.value(key) {
            None => Ok(Vec::new()),
            Some(Value::Sequence(items)) => Ok(items),
            Some(other) => {
                Err(self.invalid(key, format!("expected a list, found {}", kind(&other))))
            }
        }
    }
}

/// A value's YAML kind, for "expected X, found Y".
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Reads the interpolated document into raw services and volumes. `provenance` holds the
/// variables behind each interpolated string, for ports.
pub(crate) fn parse_file(root: Mapping, provenance: &Provenance) -> Result<RawFile, ComposeError> {
    let file_scope = Scope::File;
    let mut top = Fields::open(
        &file_scope,
        String::new(),
        String::new(),
        root,
        TOP_LEVEL_KEYS,
    )?;
    // `name` and `version` are accepted and ignored: the project name comes from the command line.
    let volumes = match top.value("volumes") {
        None => Vec::new(),
        Some(Value::Mapping(map)) => {
            let mut names = Vec::new();
            for (key, value) in map {
                let name = match key {
                    Value::String(s) => s,
                    other => {
                        return Err(top.invalid(
                            "volumes",
                            format!("volume name {} is not a string", key_text(&other)),
                        ));
                    }
                };
                match value {
                    Value::Null => {}
                    Value::Mapping(settings) => {
                        let scope = Scope::Volume(name.clone());
                        Fields::open(
                            &scope,
                            String::new(),
                            format!("volumes.{name}"),
                            settings,
                            &[],
                        )?;
                    }
                    other => {
                        return Err(top.invalid(
                            &format!("volumes.{name}"),
                            format!(
                                "expected nothing or an empty mapping, found {}",
                                kind(&other)
                            ),
                        ));
                    }
                }
                names.push(name);
            }
            names
        }
        Some(other) => {
            return Err(top.invalid(
                "volumes",
                format!("expected a mapping, found {}", kind(&other)),
            ));
        }
    };
    let configs = match top.value("configs") {
        None => Vec::new(),
        Some(Value::Mapping(map)) => {
            let mut configs = Vec::new();
            for (key, value) in map {
                let name = match key {
                    Value::String(s) => s,
                    other => {
                        return Err(top.invalid(
                            "configs",
                            format!("config name {} is not a string", key_text(&other)),
                        ));
                    }
                };
                let scope = Scope::Config(name.clone());
                let settings = match value {
                    Value::Mapping(settings) => settings,
                    other => {
                        return Err(top.invalid(
                            &format!("configs.{name}"),
                            format!(
                                "expected a mapping with file: or content:, found {}",
                                kind(&other)
                            ),
                        ));
                    }
                };
                let mut c = Fields::open(
                    &scope,
                    String::new(),
                    format!("configs.{name}"),
                    settings,
                    CONFIG_KEYS,
                )?;
                configs.push(RawConfig {
                    file: c.take("file")?,
                    content: c.take::<Scalar>("content")?.map(Scalar::into_text),
                    name,
                });
            }
            configs
        }
        Some(other) => {
            return Err(top.invalid(
                "configs",
                format!("expected a mapping, found {}", kind(&other)),
            ));
        }
    };
    let services = match top.value("services") {
        None => Vec::new(),
        Some(Value::Mapping(map)) => {
            let mut services = Vec::new();
            for (key, value) in map {
                let name = match key {
                    Value::String(s) => s,
                    other => {
                        return Err(top.invalid(
                            "services",
                            format!("service name {} is not a string", key_text(&other)),
                        ));
                    }
                };
                services.push(parse_service(name, value, provenance)?);
            }
            services
        }
        Some(other) => {
            return Err(top.invalid(
                "services",
                format!("expected a mapping, found {}", kind(&other)),
            ));
        }
    };
    Ok(RawFile {
        services,
        volumes,
        configs,
    })
}

fn parse_service(
    name: String,
    value: Value,
    provenance: &Provenance,
) -> Result<RawService, ComposeError> {
    let scope = Scope::Service(name.clone());
    let map = match value {
        Value::Null => {
            return Ok(RawService {
                name,
                ..RawService::default()
            });
        }
        Value::Mapping(map) => map,
        other => {
            return Err(ComposeError::invalid(
                &Scope::File,
                &format!("services.{name}"),
                format!("expected a mapping, found {}", kind(&other)),
                "fix the value",
            ));
        }
    };
    let mut f = Fields::open(
        &scope,
        String::new(),
        format!("services.{name}"),
        map,
        SERVICE_KEYS,
    )?;

    let build = match f.value("build") {
        None => None,
        Some(Value::String(context)) => Some(RawBuild {
            context: Some(context),
            dockerfile: None,
        }),
        Some(value) => {
            let mut b = f.nested("build", value, BUILD_KEYS)?;
            Some(RawBuild {
                context: b.take("context")?,
                dockerfile: b.take("dockerfile")?,
            })
        }
    };

    let mut ports = Vec::new();
    for (i, item) in f.list("ports")?.into_iter().enumerate() {
        let key = format!("ports[{i}]");
        let form = match item {
            Value::String(text) => {
                let vars = provenance.get(&f.path(&key)).cloned().unwrap_or_default();
                RawPortForm::Short { text, vars }
            }
            Value::Number(n) => RawPortForm::Short {
                text: n.to_string(),
                vars: Vec::new(),
            },
            other @ Value::Mapping(_) => {
                let mut p = f.nested(&key, other, PORT_KEYS)?;
                let published_vars = provenance
                    .get(&p.path("published"))
                    .cloned()
                    .unwrap_or_default();
                RawPortForm::Long {
                    target: p.take("target")?,
                    published: p.take("published")?,
                    published_vars,
                    host_ip: p.take("host_ip")?,
                    protocol: p.take("protocol")?,
                }
            }
            other => {
                return Err(f.invalid(
                    &key,
                    format!("expected a string or a mapping, found {}", kind(&other)),
                ));
            }
        };
        ports.push(RawPort { key, form });
    }

    let mut volumes = Vec::new();
    for (i, item) in f.list("volumes")?.into_iter().enumerate() {
        let key = format!("volumes[{i}]");
        let form = match item {
            Value::String(text) => RawVolumeForm::Short(text),
            other @ Value::Mapping(_) => {
                let mut v = f.nested(&key, other, VOLUME_KEYS)?;
                RawVolumeForm::Long {
                    kind: v.take("type")?,
                    source: v.take("source")?,
                    target: v.take("target")?,
                    read_only: v.take("read_only")?,
                }
            }
            other => {
                return Err(f.invalid(
                    &key,
                    format!("expected a string or a mapping, found {}", kind(&other)),
                ));
            }
        };
        volumes.push(RawVolume { key, form });
    }

    let mut configs = Vec::new();
    for (i, item) in f.list("configs")?.into_iter().enumerate() {
        let key = format!("configs[{i}]");
        let config = match item {
            Value::String(source) => RawServiceConfig {
                key,
                source,
                target: None,
                mode: None,
                uid: None,
                gid: None,
            },
            other @ Value::Mapping(_) => {
                let mut c = f.nested(&key, other, SERVICE_CONFIG_KEYS)?;
                let source: Option<String> = c.take("source")?;
                let Some(source) = source else {
                    return Err(f.invalid(&key, "the entry names no source"));
                };
                RawServiceConfig {
                    source,
                    target: c.take("target")?,
                    mode: c.take("mode")?,
                    uid: c.take("uid")?,
                    gid: c.take("gid")?,
                    key,
                }
            }
            other => {
                return Err(f.invalid(
                    &key,
                    format!(
                        "expected a config name or a mapping, found {}",
                        kind(&other)
                    ),
                ));
            }
        };
        configs.push(config);
    }

    let healthcheck = match f.value("healthcheck") {
        None => None,
        Some(value) => {
            let mut h = f.nested("healthcheck", value, HEALTHCHECK_KEYS)?;
            Some(RawHealthcheck {
                test: h.take("test")?,
                interval: h.take("interval")?,
                timeout: h.take("timeout")?,
                start_period: h.take("start_period")?,
                retries: h.take("retries")?,
                disable: h.take("disable")?,
            })
        }
    };

    let depends_on = match f.value("depends_on") {
        None => Vec::new(),
        Some(Value::Sequence(items)) => {
            let mut deps = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(service) => deps.push(RawDependency {
                        service,
                        condition: None,
                    }),
                    other => {
                        return Err(f.invalid(
                            &format!("depends_on[{i}]"),
                            format!("expected a service name, found {}", kind(&other)),
                        ));
                    }
                }
            }
            deps
        }
        Some(Value::Mapping(map)) => {
            let mut deps = Vec::new();
            for (key, value) in map {
                let service = key_text(&key);
                let key = format!("depends_on.{service}");
                let condition = match value {
                    Value::Null => None,
                    value => {
                        let mut d = f.nested(&key, value, DEPENDENCY_KEYS)?;
                        // `required` and `restart` are accepted: demo always requires the
                        // dependency and restarts nothing on its behalf.
                        let _: Option<BoolLike> = d.take("required")?;
                        let _: Option<BoolLike> = d.take("restart")?;
                        d.take("condition")?
                    }
                };
                deps.push(RawDependency { service, condition });
            }
            deps
        }
        Some(other) => {
            return Err(f.invalid(
                "depends_on",
                format!(
                    "expected a list or a mapping of service names, found {}",
                    kind(&other)
                ),
            ));
        }
    };

    Ok(RawService {
        image_vars: provenance
            .get(&f.path("image"))
            .cloned()
            .unwrap_or_default(),
        image: f.take::<Scalar>("image")?.map(Scalar::into_text),
        build,
        command: f.take("command")?,
        entrypoint: f.take("entrypoint")?,
        environment: f.take("environment")?,
        ports,
        volumes,
        tmpfs: f.take("tmpfs")?,
        healthcheck,
        depends_on,
        mem_limit: f.take("mem_limit")?,
        restart: f.take("restart")?,
        user: f.take("user")?,
        read_only: f.take("read_only")?,
        labels: f.take("labels")?,
        configs,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<RawFile, ComposeError> {
        parse_file(serde_norway::from_str(yaml).unwrap(), &Provenance::new())
    }

    fn message(yaml: &str) -> String {
        parse(yaml).unwrap_err().to_string()
    }

    #[test]
    fn unsupported_service_key_is_named() {
        assert_eq!(
            message("services:\n  grafana:\n    image: g\n    privileged: true\n"),
            "service \"grafana\": key \"privileged\" is not supported by demo; remove it"
        );
    }

    #[test]
    fn unsupported_nested_keys_carry_their_path() {
        assert_eq!(
            message(
                "services:\n  a:\n    image: a\n    build:\n      context: .\n      args: {X: 1}\n"
            ),
            "service \"a\": key \"build.args\" is not supported by demo; remove it"
        );
        assert_eq!(
            message(
                "services:\n  a:\n    image: a\n    healthcheck:\n      test: [CMD, x]\n      start_interval: 1s\n"
            ),
            "service \"a\": key \"healthcheck.start_interval\" is not supported by demo; remove it"
        );
        assert_eq!(
            message(
                "services:\n  a:\n    image: a\n    ports:\n      - target: 80\n        mode: host\n"
            ),
            "service \"a\": key \"ports[0].mode\" is not supported by demo; remove it"
        );
        assert_eq!(
            message(
                "services:\n  a:\n    image: a\n    depends_on:\n      b:\n        wait: yes\n  b:\n    image: b\n"
            ),
            "service \"a\": key \"depends_on.b.wait\" is not supported by demo; remove it"
        );
    }

    #[test]
    fn networks_are_unsupported_with_a_reason() {
        assert_eq!(
            message("services:\n  a:\n    image: a\nnetworks:\n  front: {}\n"),
            "key \"networks\" is not supported by demo (demo puts every service on one network of its own); remove it"
        );
        assert_eq!(
            message("services:\n  a:\n    image: a\n    networks: [front]\n"),
            "service \"a\": key \"networks\" is not supported by demo (demo puts every service on one network of its own); remove it"
        );
    }

    #[test]
    fn volume_settings_are_unsupported() {
        assert_eq!(
            message("services:\n  a:\n    image: a\nvolumes:\n  data:\n    driver: local\n"),
            "volume \"data\": key \"driver\" is not supported by demo; remove it"
        );
        let file = parse(
            "services:\n  a:\n    image: a\nvolumes:\n  one:\n  two: {}\n  three: {x-note: hi}\n",
        )
        .unwrap();
        assert_eq!(file.volumes, vec!["one", "two", "three"]);
    }

    #[test]
    fn extensions_name_and_version_are_accepted() {
        let file = parse(
            "name: other\nversion: '3.8'\nx-common: &c {a: 1}\nservices:\n  a:\n    image: a\n    x-note: anything\n",
        )
        .unwrap();
        assert_eq!(file.services.len(), 1);
        assert_eq!(file.services[0].image.as_deref(), Some("a"));
    }

    #[test]
    fn shape_errors_name_the_key() {
        assert_eq!(
            message("services:\n  a:\n    image: a\n    command: {x: 1}\n"),
            "service \"a\": key \"command\": expected a string or a list of strings; fix the value"
        );
        assert_eq!(
            message(
                "services:\n  a:\n    image: a\n    healthcheck:\n      test: [CMD, x]\n      retries: [1]\n"
            ),
            "service \"a\": key \"healthcheck.retries\": expected a string, a number or a boolean; fix the value"
        );
        assert_eq!(
            message("services:\n  a:\n    image: a\n    ports: \"80:80\"\n"),
            "service \"a\": key \"ports\": expected a list, found a string; fix the value"
        );
    }

    #[test]
    fn forms_are_told_apart() {
        let file = parse(
            "services:\n  a:\n    image: a\n    build: ./ctx\n    command: echo hi\n    ports:\n      - \"80:80\"\n      - 8080\n      - {target: 81, published: \"9081\"}\n    volumes:\n      - ./x:/x\n      - {type: volume, source: d, target: /d, read_only: true}\n    depends_on: [b]\n  b:\n    image: b\n    depends_on:\n      c: {condition: service_healthy, required: true, restart: false}\n      d:\n",
        )
        .unwrap();
        let a = &file.services[0];
        assert_eq!(
            a.build,
            Some(RawBuild {
                context: Some("./ctx".into()),
                dockerfile: None
            })
        );
        assert_eq!(a.command, Some(StringOrList::One("echo hi".into())));
        assert!(matches!(&a.ports[0].form, RawPortForm::Short { text, .. } if text == "80:80"));
        assert!(matches!(&a.ports[1].form, RawPortForm::Short { text, .. } if text == "8080"));
        assert!(matches!(
            &a.ports[2].form,
            RawPortForm::Long {
                target: Some(Scalar::Int(81)),
                ..
            }
        ));
        assert_eq!(a.ports[2].key, "ports[2]");
        assert_eq!(a.volumes[0].form, RawVolumeForm::Short("./x:/x".into()));
        assert!(
            matches!(&a.volumes[1].form, RawVolumeForm::Long { kind: Some(k), .. } if k == "volume")
        );
        assert_eq!(
            a.depends_on,
            vec![RawDependency {
                service: "b".into(),
                condition: None
            }]
        );
        let b = &file.services[1];
        assert_eq!(
            b.depends_on,
            vec![
                RawDependency {
                    service: "c".into(),
                    condition: Some("service_healthy".into())
                },
                RawDependency {
                    service: "d".into(),
                    condition: None
                },
            ]
        );
    }
}
