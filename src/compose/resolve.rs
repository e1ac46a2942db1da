//! Gives the raw values their meaning: port specs, mounts, durations, sizes, conditions, and
//! paths made absolute against the compose file's directory.
//!
//! Every failure here names the service and the key (`ports[1]`) and says what to write instead.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::error::{ComposeError, Scope};
use super::interpolate::{Lookup, VarSpan};
use super::model::{
    Build, Condition, ConfigFile, Dependency, Healthcheck, Mount, Port, Protocol, RestartPolicy,
    Service,
};
use super::raw::{
    BoolLike, ListOrMap, RawBuild, RawConfig, RawDependency, RawFile, RawHealthcheck, RawPort,
    RawPortForm, RawService, RawServiceConfig, RawVolume, RawVolumeForm, Scalar, StringOrList,
};
use super::units::{parse_duration, parse_size};

/// Where a port names no address: only this machine can reach it.
pub const DEFAULT_HOST_IP: &str = "127.0.0.1";

/// What resolving needs besides the raw file.
pub(crate) struct Context<'a> {
    /// Absolute directory of the compose file.
    pub dir: &'a Path,
    /// Variables for `environment` entries without a value and for `~` (`HOME`).
    pub lookup: Lookup<'a>,
    /// Reads a file a top-level config names (an absolute path below `dir`, or elsewhere).
    pub read: &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
}

/// Resolves every service, in file order, and returns the declared volumes sorted.
pub(crate) fn resolve(
    raw: RawFile,
    cx: &Context<'_>,
) -> Result<(Vec<Service>, Vec<String>), ComposeError> {
    let mut volumes = raw.volumes;
    volumes.sort();
    let configs = raw
        .configs
        .into_iter()
        .map(|c| Ok((c.name.clone(), config_content(c, cx)?)))
        .collect::<Result<BTreeMap<String, Vec<u8>>, ComposeError>>()?;
    let services = raw
        .services
        .into_iter()
        .map(|service| resolve_service(service, &volumes, &configs, cx))
        .collect::<Result<_, _>>()?;
    Ok((services, volumes))
}

/// The bytes of one top-level config: its `file:` read now, or its `content:`.
fn config_content(raw: RawConfig, cx: &Context<'_>) -> Result<Vec<u8>, ComposeError> {
    let scope = Scope::Config(raw.name.clone());
    match (raw.file, raw.content) {
        (Some(file), None) => {
            let path = host_path(&scope, "file", &file, cx)?;
            (cx.read)(&path).map_err(|e| ComposeError::ReadConfig {
                config: raw.name,
                path,
                reason: super::error::io_reason(&e),
            })
        }
        (None, Some(content)) => Ok(content.into_bytes()),
        (Some(_), Some(_)) => Err(ComposeError::invalid(
            &scope,
            "content",
            "the config has both file: and content:",
            "keep one of them",
        )),
        (None, None) => Err(ComposeError::invalid(
            &scope,
            "file",
            "the config has neither file: nor content:",
            "add file: PATH (beside the compose file) or content: TEXT",
        )),
    }
}

/// One entry of a service's `configs`, with compose's defaults: target `/<source>`, mode 0444,
/// owner 0:0.
fn service_config(
    sc: &Scope,
    raw: RawServiceConfig,
    configs: &BTreeMap<String, Vec<u8>>,
) -> Result<ConfigFile, ComposeError> {
    let key = raw.key.as_str();
    let Some(content) = configs.get(&raw.source) else {
        let Scope::Service(service) = sc else {
            unreachable!("configs entries belong to services")
        };
        return Err(ComposeError::UndeclaredConfig {
            service: service.clone(),
            config: raw.source,
        });
    };
    let target = raw.target.unwrap_or_else(|| format!("/{}", raw.source));
    if !target.starts_with('/') || target.ends_with('/') {
        return Err(ComposeError::invalid(
            sc,
            key,
            format!("target \"{target}\" is not an absolute file path"),
            "write the file's path in the container from /",
        ));
    }
    let number = |what: &str, value: Option<Scalar>, default: u32, max: u32| {
        let Some(value) = value else {
            return Ok(default);
        };
        let text = value.into_text();
        // A quoted or YAML-1.1 `0444` arrives as text: octal, as compose reads it.
        let parsed = if let Some(octal) = text.strip_prefix("0o") {
            u32::from_str_radix(octal, 8)
        } else if text.len() > 1 && text.starts_with('0') && what == "mode" {
            u32::from_str_radix(&text[1..], 8)
        } else {
            text.parse::<u32>()
        };
        match parsed {
            Ok(n) if n <= max => Ok(n),
            _ => Err(ComposeError::invalid(
                sc,
                &format!("{key}.{what}"),
                format!("\"{text}\" is not a valid {what}"),
                if what == "mode" {
                    "write an octal mode such as 0444"
                } else {
                    "write a numeric id such as 0"
                },
            )),
        }
    };
    Ok(ConfigFile {
        mode: number("mode", raw.mode, 0o444, 0o7777)?,
        uid: number("uid", raw.uid, 0, u32::MAX)?,
        gid: number("gid", raw.gid, 0, u32::MAX)?,
        source: raw.source,
        target,
        content: content.clone(),
    })
}

/// Names Docker accepts inside a container name (`PROJECT-SERVICE-1`).
fn valid_service_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

fn resolve_service(
    raw: RawService,
    volumes: &[String],
    configs: &BTreeMap<String, Vec<u8>>,
    cx: &Context<'_>,
) -> Result<Service, ComposeError> {
    if !valid_service_name(&raw.name) {
        return Err(ComposeError::invalid(
            &Scope::File,
            &format!("services.{}", raw.name),
            format!("\"{}\" is not a valid service name", raw.name),
            "use letters, digits, _, . and -, starting with a letter or digit",
        ));
    }
    let scope = Scope::Service(raw.name.clone());
    let sc = &scope;
    let image = match raw.image {
        Some(image) if !image.trim().is_empty() => image,
        _ => return Err(ComposeError::MissingImage { service: raw.name }),
    };
    Ok(Service {
        image,
        image_variable: raw.image_vars.first().map(|v| v.name.clone()),
        build: raw.build.map(|b| build(sc, b, cx)).transpose()?,
        entrypoint: words(sc, "entrypoint", raw.entrypoint)?,
        command: words(sc, "command", raw.command)?,
        environment: key_values(sc, "environment", raw.environment, |name| (cx.lookup)(name))?,
        ports: raw
            .ports
            .into_iter()
            .map(|p| port(sc, p))
            .collect::<Result<_, _>>()?,
        mounts: raw
            .volumes
            .into_iter()
            .map(|v| mount(sc, v, volumes, cx))
            .collect::<Result<_, _>>()?,
        tmpfs: tmpfs(sc, raw.tmpfs)?,
        healthcheck: raw.healthcheck.map(|h| healthcheck(sc, h)).transpose()?,
        depends_on: depends_on(sc, raw.depends_on)?,
        mem_limit: raw
            .mem_limit
            .map(|m| {
                parse_size(&m.into_text())
                    .map_err(|p| ComposeError::invalid(sc, "mem_limit", p, "fix the value"))
            })
            .transpose()?,
        restart: restart(sc, raw.restart)?,
        user: raw.user.map(Scalar::into_text).filter(|u| !u.is_empty()),
        read_only: raw
            .read_only
            .map(|b| boolean(sc, "read_only", b))
            .transpose()?
            .unwrap_or(false),
        labels: key_values(sc, "labels", raw.labels, |_| Some(String::new()))?,
        configs: raw
            .configs
            .into_iter()
            .map(|c| service_config(sc, c, configs))
            .collect::<Result<_, _>>()?,
        name: raw.name,
    })
}

fn build(sc: &Scope, raw: RawBuild, cx: &Context<'_>) -> Result<Build, ComposeError> {
    let context = raw.context.unwrap_or_else(|| ".".to_string());
    if context.contains("://") || context.starts_with("git@") {
        return Err(ComposeError::invalid(
            sc,
            "build.context",
            format!("\"{context}\" is a remote context"),
            "use a directory beside the compose file",
        ));
    }
    let context = clean(&cx.dir.join(context));
    let dockerfile = clean(&context.join(raw.dockerfile.as_deref().unwrap_or("Dockerfile")));
    Ok(Build {
        context,
        dockerfile,
    })
}

/// A list kept as written, or a string split with shell-word rules.
fn words(
    sc: &Scope,
    key: &str,
    raw: Option<StringOrList>,
) -> Result<Option<Vec<String>>, ComposeError> {
    match raw {
        None => Ok(None),
        Some(StringOrList::List(items)) => Ok(Some(items.into_iter().map(Scalar::into_text).collect())),
        Some(StringOrList::One(text)) => shlex::split(&text).map(Some).ok_or_else(|| {
            ComposeError::invalid(
                sc,
                key,
                format!("\"{text}\" cannot be split into words (an unclosed quote or a trailing backslash)"),
                "close the quote or write a list",
            )
        }),
    }
}

/// `environment` and `labels`. A key with no value (`- KEY`, `KEY:`) takes `missing(KEY)`,
/// and is left out when that is `None`.
fn key_values(
    sc: &Scope,
    key: &str,
    raw: Option<ListOrMap>,
    missing: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut out = BTreeMap::new();
    let mut put = |name: String, value: Option<String>| {
        if name.is_empty() {
            return Err(ComposeError::invalid(
                sc,
                key,
                "an entry has an empty name",
                "write NAME=VALUE",
            ));
        }
        if let Some(value) = value.or_else(|| missing(&name)) {
            out.insert(name, value);
        }
        Ok(())
    };
    match raw {
        None => {}
        Some(ListOrMap::List(items)) => {
            for item in items {
                match item.split_once('=') {
                    Some((name, value)) => put(name.to_string(), Some(value.to_string()))?,
                    None => put(item, None)?,
                }
            }
        }
        Some(ListOrMap::Map(map)) => {
            for (name, value) in map {
                put(name, value.map(Scalar::into_text))?;
            }
        }
    }
    Ok(out)
}

fn port_number(sc: &Scope, key: &str, text: &str, what: &str) -> Result<u16, ComposeError> {
    if text.contains('-') {
        return Err(ComposeError::invalid(
            sc,
            key,
            format!("{what} \"{text}\" is a range"),
            "publish one port per entry",
        ));
    }
    match text.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ComposeError::invalid(
            sc,
            key,
            format!("{what} \"{text}\" is not a port number (1-65535)"),
            "fix the value",
        )),
    }
}

fn protocol(sc: &Scope, key: &str, text: Option<&str>) -> Result<Protocol, ComposeError> {
    match text {
        None | Some("tcp") => Ok(Protocol::Tcp),
        Some("udp") => Ok(Protocol::Udp),
        Some(other) => Err(ComposeError::invalid(
            sc,
            key,
            format!("protocol \"{other}\" is neither tcp nor udp"),
            "write /tcp or /udp",
        )),
    }
}

fn host_ip(sc: &Scope, key: &str, ip: Option<&str>) -> Result<String, ComposeError> {
    let ip = ip
        .map(|ip| ip.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or("");
    if ip.is_empty() {
        return Ok(DEFAULT_HOST_IP.to_string());
    }
    ip.parse::<IpAddr>().map(|_| ip.to_string()).map_err(|_| {
        ComposeError::invalid(
            sc,
            key,
            format!("\"{ip}\" is not an IP address"),
            "write an address such as 127.0.0.1",
        )
    })
}

/// The first variable whose value overlaps `range` of the interpolated text.
fn variable_in(vars: &[VarSpan], range: std::ops::Range<usize>) -> Option<String> {
    vars.iter()
        .find(|v| v.range.start < range.end && range.start < v.range.end)
        .map(|v| v.name.clone())
}

fn port(sc: &Scope, raw: RawPort) -> Result<Port, ComposeError> {
    let key = raw.key.as_str();
    match raw.form {
        RawPortForm::Short { text, vars } => {
            let (spec, proto) = match text.rsplit_once('/') {
                Some((spec, proto)) => (spec, Some(proto)),
                None => (text.as_str(), None),
            };
            let no_host = || {
                ComposeError::invalid(
                    sc,
                    key,
                    format!("\"{text}\" publishes no host port"),
                    "publish one as \"127.0.0.1:HOST:CONTAINER\"",
                )
            };
            let (rest, container) = spec.rsplit_once(':').ok_or_else(no_host)?;
            let (ip, host) = match rest.rsplit_once(':') {
                Some((ip, host)) => (Some(ip), host),
                None => (None, rest),
            };
            if host.is_empty() {
                return Err(no_host());
            }
            let host_range = rest.len() - host.len()..rest.len();
            Ok(Port {
                host_ip: host_ip(sc, key, ip)?,
                host_port: port_number(sc, key, host, "host port")?,
                container_port: port_number(sc, key, container, "container port")?,
                protocol: protocol(sc, key, proto)?,
                variable: variable_in(&vars, host_range),
            })
        }
        RawPortForm::Long {
            target,
            published,
            published_vars,
            host_ip: ip,
            protocol: proto,
        } => {
            let target = target.map(Scalar::into_text).ok_or_else(|| {
                ComposeError::invalid(
                    sc,
                    key,
                    "the port has no target",
                    "add target: CONTAINER_PORT",
                )
            })?;
            let published = published
                .map(Scalar::into_text)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    ComposeError::invalid(
                        sc,
                        key,
                        format!("target {target} publishes no host port"),
                        "add published: HOST_PORT",
                    )
                })?;
            Ok(Port {
                host_ip: host_ip(sc, key, ip.as_deref())?,
                host_port: port_number(sc, key, &published, "published port")?,
                container_port: port_number(sc, key, &target, "target port")?,
                protocol: protocol(sc, key, proto.as_deref())?,
                variable: variable_in(&published_vars, 0..published.len()),
            })
        }
    }
}

fn is_host_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~'])
}

/// A host path made absolute: `~` from `HOME`, relative paths against the compose directory.
fn host_path(
    sc: &Scope,
    key: &str,
    source: &str,
    cx: &Context<'_>,
) -> Result<PathBuf, ComposeError> {
    let path = if source == "~" || source.starts_with("~/") {
        let home = (cx.lookup)("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                ComposeError::invalid(
                    sc,
                    key,
                    format!("\"{source}\" needs HOME, which is not set"),
                    "set HOME or write an absolute path",
                )
            })?;
        PathBuf::from(home).join(source.trim_start_matches('~').trim_start_matches('/'))
    } else if source.starts_with('~') {
        return Err(ComposeError::invalid(
            sc,
            key,
            format!("\"{source}\" names another user's home"),
            "write an absolute path",
        ));
    } else {
        cx.dir.join(source)
    };
    Ok(clean(&path))
}

fn mount(
    sc: &Scope,
    raw: RawVolume,
    volumes: &[String],
    cx: &Context<'_>,
) -> Result<Mount, ComposeError> {
    let key = raw.key.as_str();
    // `bind` is `None` when only the source's shape tells (short syntax, or no `type`).
    let (bind, source, target, read_only) = match raw.form {
        RawVolumeForm::Short(text) => {
            let parts: Vec<&str> = text.split(':').collect();
            let read_only = match parts.as_slice() {
                [_] => {
                    return Err(ComposeError::invalid(
                        sc,
                        key,
                        format!("\"{text}\" is an anonymous volume"),
                        "name a volume or a host path: SOURCE:TARGET",
                    ));
                }
                [_, _] | [_, _, "rw"] => false,
                [_, _, "ro"] => true,
                [_, _, mode] => {
                    return Err(ComposeError::invalid(
                        sc,
                        key,
                        format!("mode \"{mode}\" is neither ro nor rw"),
                        "write :ro or :rw",
                    ));
                }
                _ => {
                    return Err(ComposeError::invalid(
                        sc,
                        key,
                        format!("\"{text}\" has too many colons"),
                        "write SOURCE:TARGET[:ro|rw]",
                    ));
                }
            };
            (None, parts[0].to_string(), parts[1].to_string(), read_only)
        }
        RawVolumeForm::Long {
            kind,
            source,
            target,
            read_only,
        } => {
            let bind = match kind.as_deref() {
                None => None,
                Some("bind") => Some(true),
                Some("volume") => Some(false),
                Some("tmpfs") => {
                    return Err(ComposeError::invalid(
                        sc,
                        key,
                        "type tmpfs is not a volume",
                        "use the tmpfs key",
                    ));
                }
                Some(other) => {
                    return Err(ComposeError::invalid(
                        sc,
                        key,
                        format!("type \"{other}\" is neither bind nor volume"),
                        "write type: bind or type: volume",
                    ));
                }
            };
            let target = target.ok_or_else(|| {
                ComposeError::invalid(
                    sc,
                    key,
                    "the mount has no target",
                    "add target: /PATH/IN/CONTAINER",
                )
            })?;
            let source = source.filter(|s| !s.is_empty()).ok_or_else(|| {
                ComposeError::invalid(
                    sc,
                    key,
                    format!("the mount of {target} has no source"),
                    "add source: VOLUME_OR_PATH",
                )
            })?;
            let read_only = read_only
                .map(|b| boolean(sc, key, b))
                .transpose()?
                .unwrap_or(false);
            (bind, source, target, read_only)
        }
    };
    if source.is_empty() {
        return Err(ComposeError::invalid(
            sc,
            key,
            "the mount has an empty source",
            "write SOURCE:TARGET",
        ));
    }
    if !target.starts_with('/') {
        return Err(ComposeError::invalid(
            sc,
            key,
            format!("target \"{target}\" is not an absolute path"),
            "write the path in the container from /",
        ));
    }
    let bind = bind.unwrap_or_else(|| is_host_path(&source));
    if bind {
        Ok(Mount::Bind {
            source: host_path(sc, key, &source, cx)?,
            target,
            read_only,
        })
    } else if volumes.contains(&source) {
        Ok(Mount::Volume {
            name: source,
            target,
            read_only,
        })
    } else {
        let Scope::Service(service) = sc else {
            unreachable!("mounts belong to services")
        };
        Err(ComposeError::UndeclaredVolume {
            service: service.clone(),
            volume: source,
        })
    }
}

fn tmpfs(sc: &Scope, raw: Option<StringOrList>) -> Result<Vec<String>, ComposeError> {
    let items = match raw {
        None => Vec::new(),
        Some(StringOrList::One(one)) => vec![one],
        Some(StringOrList::List(items)) => items.into_iter().map(Scalar::into_text).collect(),
    };
    for item in &items {
        if !item.starts_with('/') {
            return Err(ComposeError::invalid(
                sc,
                "tmpfs",
                format!("\"{item}\" is not an absolute path"),
                "write the path in the container from /",
            ));
        }
    }
    Ok(items)
}

fn duration(
    sc: &Scope,
    key: &str,
    raw: Option<Scalar>,
    default: Duration,
) -> Result<Duration, ComposeError> {
    match raw {
        None => Ok(default),
        Some(text) => parse_duration(&text.into_text())
            .map_err(|p| ComposeError::invalid(sc, key, p, "fix the value")),
    }
}

fn healthcheck(sc: &Scope, raw: RawHealthcheck) -> Result<Healthcheck, ComposeError> {
    let disabled = raw
        .disable
        .map(|b| boolean(sc, "healthcheck.disable", b))
        .transpose()?
        .unwrap_or(false);
    let bad_test = |problem: String| {
        ComposeError::invalid(
            sc,
            "healthcheck.test",
            problem,
            "write [\"CMD\", \"PROGRAM\", \"ARG\"...]",
        )
    };
    let test = if disabled {
        vec![Healthcheck::NONE.to_string()]
    } else {
        match raw.test {
            None => {
                return Err(ComposeError::invalid(
                    sc,
                    "healthcheck",
                    "the health check has no test",
                    "add test: [\"CMD\", \"PROGRAM\", \"ARG\"...] or disable: true",
                ));
            }
            Some(StringOrList::One(command)) if command.trim().is_empty() => {
                return Err(bad_test("the test is empty".into()));
            }
            Some(StringOrList::One(command)) => vec!["CMD-SHELL".to_string(), command],
            Some(StringOrList::List(items)) => {
                let test: Vec<String> = items.into_iter().map(Scalar::into_text).collect();
                match test.first().map(String::as_str) {
                    Some(Healthcheck::NONE) => vec![Healthcheck::NONE.to_string()],
                    Some("CMD" | "CMD-SHELL") if test.len() >= 2 => test,
                    Some("CMD" | "CMD-SHELL") => {
                        return Err(bad_test(format!("{} names no command", test[0])));
                    }
                    Some(first) => {
                        return Err(bad_test(format!(
                            "the test starts with \"{first}\", not CMD, CMD-SHELL or NONE"
                        )));
                    }
                    None => return Err(bad_test("the test is empty".into())),
                }
            }
        }
    };
    let retries = match raw.retries {
        None => 3,
        Some(r) => {
            let text = r.into_text();
            text.parse::<u32>().map_err(|_| {
                ComposeError::invalid(
                    sc,
                    "healthcheck.retries",
                    format!("\"{text}\" is not a whole number"),
                    "fix the value",
                )
            })?
        }
    };
    Ok(Healthcheck {
        test,
        interval: duration(
            sc,
            "healthcheck.interval",
            raw.interval,
            Duration::from_secs(30),
        )?,
        timeout: duration(
            sc,
            "healthcheck.timeout",
            raw.timeout,
            Duration::from_secs(30),
        )?,
        start_period: duration(
            sc,
            "healthcheck.start_period",
            raw.start_period,
            Duration::ZERO,
        )?,
        retries,
    })
}

fn depends_on(sc: &Scope, raw: Vec<RawDependency>) -> Result<Vec<Dependency>, ComposeError> {
    let mut out: Vec<Dependency> = Vec::new();
    for dep in raw {
        let condition = match dep.condition.as_deref() {
            None | Some("service_started") => Condition::ServiceStarted,
            Some("service_healthy") => Condition::ServiceHealthy,
            Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
            Some(other) => {
                return Err(ComposeError::invalid(
                    sc,
                    &format!("depends_on.{}.condition", dep.service),
                    format!("\"{other}\" is not a condition"),
                    "write service_started, service_healthy or service_completed_successfully",
                ));
            }
        };
        if !out.iter().any(|d| d.service == dep.service) {
            out.push(Dependency {
                service: dep.service,
                condition,
            });
        }
    }
    Ok(out)
}

fn restart(sc: &Scope, raw: Option<Scalar>) -> Result<RestartPolicy, ComposeError> {
    match raw {
        None | Some(Scalar::Bool(false)) => Ok(RestartPolicy::No),
        Some(other) => match other.into_text().as_str() {
            "no" | "" => Ok(RestartPolicy::No),
            "always" => Ok(RestartPolicy::Always),
            "on-failure" => Ok(RestartPolicy::OnFailure),
            "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
            text => Err(ComposeError::invalid(
                sc,
                "restart",
                format!("\"{text}\" is not a restart policy"),
                "write no, always, on-failure or unless-stopped",
            )),
        },
    }
}

/// Booleans as Go's `strconv.ParseBool` reads them, for values that came through a variable.
fn boolean(sc: &Scope, key: &str, raw: BoolLike) -> Result<bool, ComposeError> {
    match raw {
        BoolLike::Bool(b) => Ok(b),
        BoolLike::Str(text) => match text.as_str() {
            "true" | "True" | "TRUE" | "t" | "T" | "1" => Ok(true),
            "false" | "False" | "FALSE" | "f" | "F" | "0" => Ok(false),
            _ => Err(ComposeError::invalid(
                sc,
                key,
                format!("\"{text}\" is not true or false"),
                "write true or false",
            )),
        },
    }
}

/// Removes `.` and resolves `..` lexically, as compose does (symlinks are left alone).
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::interpolate::Provenance;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "FROM_ENV" => Some("yes".into()),
            _ => None,
        }
    }

    fn load(yaml: &str) -> Result<Vec<Service>, ComposeError> {
        let mut value: serde_norway::Value = serde_norway::from_str(yaml).unwrap();
        let mut provenance = Provenance::new();
        crate::compose::interpolate::interpolate_value(&mut value, "", &env, &mut provenance)
            .unwrap();
        let serde_norway::Value::Mapping(map) = value else {
            panic!("not a mapping")
        };
        let raw = crate::compose::raw::parse_file(map, &provenance)?;
        let read = |path: &Path| match path.to_str() {
            Some("/srv/demo/compose/conf/app.ini") => Ok(b"[app]\n".to_vec()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        let cx = Context {
            dir: Path::new("/srv/demo/compose"),
            lookup: &env,
            read: &read,
        };
        resolve(raw, &cx).map(|(services, _)| services)
    }

    /// One service `s` with `body` (indented by four spaces) and volume `data` declared.
    fn one(body: &str) -> Result<Service, ComposeError> {
        let yaml = format!("services:\n  s:\n    image: img\n{body}\nvolumes:\n  data:\n");
        load(&yaml).map(|mut s| s.remove(0))
    }

    fn message(body: &str) -> String {
        one(body).unwrap_err().to_string()
    }

    #[test]
    fn defaults_of_a_bare_service() {
        let s = one("").unwrap();
        assert_eq!(s.image, "img");
        assert_eq!(s.restart, RestartPolicy::No);
        assert!(!s.read_only);
        assert_eq!(
            (s.build, s.command, s.healthcheck, s.mem_limit, s.user),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn build_string_and_map_are_absolute() {
        let s = one("    build: ./svc").unwrap();
        assert_eq!(
            s.build,
            Some(Build {
                context: "/srv/demo/compose/svc".into(),
                dockerfile: "/srv/demo/compose/svc/Dockerfile".into()
            })
        );
        let s =
            one("    build:\n      context: ..\n      dockerfile: services/x/Dockerfile").unwrap();
        assert_eq!(
            s.build,
            Some(Build {
                context: "/srv/demo".into(),
                dockerfile: "/srv/demo/services/x/Dockerfile".into()
            })
        );
    }

    #[test]
    fn command_and_entrypoint_forms() {
        let s = one("    command: [\"--flag=1\", 5]\n    entrypoint: /bin/sh -c 'echo \"a b\"'")
            .unwrap();
        assert_eq!(
            s.command,
            Some(vec!["--flag=1".to_string(), "5".to_string()])
        );
        assert_eq!(
            s.entrypoint,
            Some(vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                "echo \"a b\"".to_string()
            ])
        );
        assert_eq!(
            message("    command: echo 'open"),
            "service \"s\": key \"command\": \"echo 'open\" cannot be split into words (an unclosed quote or a trailing backslash); close the quote or write a list"
        );
    }

    #[test]
    fn environment_map_and_list() {
        let s = one("    environment:\n      A: 1\n      B: true\n      C: text\n      FROM_ENV:\n      UNSET_HERE:").unwrap();
        let expected: BTreeMap<String, String> = [
            ("A", "1"),
            ("B", "true"),
            ("C", "text"),
            ("FROM_ENV", "yes"),
        ]
        .map(|(k, v)| (k.into(), v.into()))
        .into();
        assert_eq!(s.environment, expected);
        let s = one("    environment:\n      - A=1\n      - B=x=y\n      - FROM_ENV\n      - UNSET_HERE\n      - EMPTY=").unwrap();
        let expected: BTreeMap<String, String> =
            [("A", "1"), ("B", "x=y"), ("EMPTY", ""), ("FROM_ENV", "yes")]
                .map(|(k, v)| (k.into(), v.into()))
                .into();
        assert_eq!(s.environment, expected);
    }

    #[test]
    fn labels_map_and_list() {
        let s = one("    labels:\n      - a.b=c\n      - flag").unwrap();
        assert_eq!(s.labels.get("a.b").map(String::as_str), Some("c"));
        assert_eq!(s.labels.get("flag").map(String::as_str), Some(""));
        let s = one("    labels:\n      team: obs\n      empty:").unwrap();
        assert_eq!(s.labels.get("team").map(String::as_str), Some("obs"));
        assert_eq!(s.labels.get("empty").map(String::as_str), Some(""));
    }

    #[test]
    fn short_ports() {
        let s = one("    ports:\n      - \"3000:3000\"\n      - \"0.0.0.0:53:5353/udp\"\n      - \"[::1]:8080:80/tcp\"").unwrap();
        assert_eq!(
            s.ports,
            vec![
                Port {
                    host_ip: "127.0.0.1".into(),
                    host_port: 3000,
                    container_port: 3000,
                    protocol: Protocol::Tcp,
                    variable: None
                },
                Port {
                    host_ip: "0.0.0.0".into(),
                    host_port: 53,
                    container_port: 5353,
                    protocol: Protocol::Udp,
                    variable: None
                },
                Port {
                    host_ip: "::1".into(),
                    host_port: 8080,
                    container_port: 80,
                    protocol: Protocol::Tcp,
                    variable: None
                },
            ]
        );
    }

    #[test]
    fn port_variable_is_the_one_behind_the_host_port() {
        let s = one("    ports:\n      - \"127.0.0.1:${GRAFANA_PORT:-3000}:3000\"\n      - \"${ADDR:-127.0.0.1}:81:${INNER:-81}\"\n      - target: 82\n        published: ${LONG_PORT:-8082}").unwrap();
        assert_eq!(s.ports[0].variable.as_deref(), Some("GRAFANA_PORT"));
        assert_eq!(s.ports[0].host_port, 3000);
        assert_eq!(s.ports[1].variable, None);
        assert_eq!(s.ports[2].variable.as_deref(), Some("LONG_PORT"));
        assert_eq!(s.ports[2].host_port, 8082);
    }

    #[test]
    fn long_ports() {
        let s = one("    ports:\n      - target: 80\n        published: \"8080\"\n        host_ip: 0.0.0.0\n        protocol: udp\n      - {target: 81, published: 8081}").unwrap();
        assert_eq!(
            s.ports,
            vec![
                Port {
                    host_ip: "0.0.0.0".into(),
                    host_port: 8080,
                    container_port: 80,
                    protocol: Protocol::Udp,
                    variable: None
                },
                Port {
                    host_ip: "127.0.0.1".into(),
                    host_port: 8081,
                    container_port: 81,
                    protocol: Protocol::Tcp,
                    variable: None
                },
            ]
        );
    }

    #[test]
    fn ports_without_a_host_port_are_rejected() {
        assert_eq!(
            message("    ports:\n      - \"3000\""),
            "service \"s\": key \"ports[0]\": \"3000\" publishes no host port; publish one as \"127.0.0.1:HOST:CONTAINER\""
        );
        assert!(message("    ports:\n      - 3000").contains("publishes no host port"));
        assert!(
            message("    ports:\n      - \"127.0.0.1::3000\"").contains("publishes no host port")
        );
        assert_eq!(
            message("    ports:\n      - target: 80"),
            "service \"s\": key \"ports[0]\": target 80 publishes no host port; add published: HOST_PORT"
        );
    }

    #[test]
    fn bad_ports() {
        assert!(
            message("    ports:\n      - \"8000-8001:80\"")
                .contains("host port \"8000-8001\" is a range")
        );
        assert!(
            message("    ports:\n      - \"99999:80\"").contains("is not a port number (1-65535)")
        );
        assert!(
            message("    ports:\n      - \"80:80/sctp\"")
                .contains("protocol \"sctp\" is neither tcp nor udp")
        );
        assert!(
            message("    ports:\n      - \"localhost:80:80\"")
                .contains("\"localhost\" is not an IP address")
        );
        assert!(message("    ports:\n      - published: 80").contains("the port has no target"));
    }

    #[test]
    fn short_volumes() {
        let s = one("    volumes:\n      - ./conf/a.yaml:/etc/a.yaml:ro\n      - ../dashboards:/d\n      - /abs:/abs:rw\n      - ~/cache:/cache\n      - data:/data").unwrap();
        assert_eq!(
            s.mounts,
            vec![
                Mount::Bind {
                    source: "/srv/demo/compose/conf/a.yaml".into(),
                    target: "/etc/a.yaml".into(),
                    read_only: true
                },
                Mount::Bind {
                    source: "/srv/demo/dashboards".into(),
                    target: "/d".into(),
                    read_only: false
                },
                Mount::Bind {
                    source: "/abs".into(),
                    target: "/abs".into(),
                    read_only: false
                },
                Mount::Bind {
                    source: "/home/me/cache".into(),
                    target: "/cache".into(),
                    read_only: false
                },
                Mount::Volume {
                    name: "data".into(),
                    target: "/data".into(),
                    read_only: false
                },
            ]
        );
    }

    #[test]
    fn long_volumes() {
        let s = one("    volumes:\n      - {type: bind, source: conf, target: /c, read_only: true}\n      - {type: volume, source: data, target: /data}\n      - {source: ./x, target: /x}").unwrap();
        assert_eq!(
            s.mounts,
            vec![
                Mount::Bind {
                    source: "/srv/demo/compose/conf".into(),
                    target: "/c".into(),
                    read_only: true
                },
                Mount::Volume {
                    name: "data".into(),
                    target: "/data".into(),
                    read_only: false
                },
                Mount::Bind {
                    source: "/srv/demo/compose/x".into(),
                    target: "/x".into(),
                    read_only: false
                },
            ]
        );
    }

    #[test]
    fn bad_volumes() {
        assert_eq!(
            message("    volumes:\n      - cache:/cache"),
            "service \"s\" mounts volume \"cache\", which is not declared under the top-level volumes; declare it there, or start the source with ./ for a bind mount"
        );
        assert!(
            message("    volumes:\n      - /anon").contains("\"/anon\" is an anonymous volume")
        );
        assert!(
            message("    volumes:\n      - ./a:/a:z").contains("mode \"z\" is neither ro nor rw")
        );
        assert!(
            message("    volumes:\n      - ./a:rel")
                .contains("target \"rel\" is not an absolute path")
        );
        assert!(
            message("    volumes:\n      - {type: tmpfs, target: /t}")
                .contains("use the tmpfs key")
        );
        assert!(
            message("    volumes:\n      - {type: volume, target: /t}").contains("has no source")
        );
        assert!(message("    volumes:\n      - ~bob/x:/x").contains("another user's home"));
    }

    #[test]
    fn tmpfs_string_or_list() {
        assert_eq!(one("    tmpfs: /tmp").unwrap().tmpfs, vec!["/tmp"]);
        assert_eq!(
            one("    tmpfs: [/tmp, \"/run:size=1m\"]").unwrap().tmpfs,
            vec!["/tmp", "/run:size=1m"]
        );
        assert!(message("    tmpfs: tmp").contains("\"tmp\" is not an absolute path"));
    }

    #[test]
    fn healthcheck_forms_and_defaults() {
        let h = one("    healthcheck:\n      test: [\"CMD\", \"/app\", \"--healthcheck\"]\n      interval: 1m30s\n      timeout: 500ms\n      start_period: 10s\n      retries: 10").unwrap().healthcheck.unwrap();
        assert_eq!(
            h,
            Healthcheck {
                test: vec!["CMD".into(), "/app".into(), "--healthcheck".into()],
                interval: Duration::from_secs(90),
                timeout: Duration::from_millis(500),
                start_period: Duration::from_secs(10),
                retries: 10,
            }
        );
        let h = one("    healthcheck:\n      test: wget -q localhost")
            .unwrap()
            .healthcheck
            .unwrap();
        assert_eq!(h.test, vec!["CMD-SHELL", "wget -q localhost"]);
        assert_eq!(
            (h.interval, h.timeout, h.start_period, h.retries),
            (
                Duration::from_secs(30),
                Duration::from_secs(30),
                Duration::ZERO,
                3
            )
        );
        assert!(
            one("    healthcheck:\n      disable: true")
                .unwrap()
                .healthcheck
                .unwrap()
                .is_disabled()
        );
        assert!(
            one("    healthcheck:\n      test: [NONE]")
                .unwrap()
                .healthcheck
                .unwrap()
                .is_disabled()
        );
    }

    #[test]
    fn bad_healthchecks() {
        assert_eq!(
            message("    healthcheck:\n      test: [\"curl\", \"x\"]"),
            "service \"s\": key \"healthcheck.test\": the test starts with \"curl\", not CMD, CMD-SHELL or NONE; write [\"CMD\", \"PROGRAM\", \"ARG\"...]"
        );
        assert!(message("    healthcheck:\n      test: [CMD]").contains("CMD names no command"));
        assert!(
            message("    healthcheck:\n      interval: 5s")
                .contains("the health check has no test")
        );
        assert_eq!(
            message("    healthcheck:\n      test: [CMD, x]\n      interval: 5"),
            "service \"s\": key \"healthcheck.interval\": \"5\" is not a duration like 30s, 1m30s or 500ms; fix the value"
        );
        assert!(
            message("    healthcheck:\n      test: [CMD, x]\n      retries: -1")
                .contains("\"-1\" is not a whole number")
        );
    }

    #[test]
    fn depends_on_forms() {
        let s = one("    depends_on: [a, b, a]").unwrap();
        assert_eq!(
            s.depends_on,
            vec![
                Dependency {
                    service: "a".into(),
                    condition: Condition::ServiceStarted
                },
                Dependency {
                    service: "b".into(),
                    condition: Condition::ServiceStarted
                },
            ]
        );
        let s = one("    depends_on:\n      a: {condition: service_healthy}\n      b: {condition: service_completed_successfully, required: false}\n      c: {restart: true}").unwrap();
        let conditions: Vec<_> = s.depends_on.iter().map(|d| d.condition).collect();
        assert_eq!(
            conditions,
            vec![
                Condition::ServiceHealthy,
                Condition::ServiceCompletedSuccessfully,
                Condition::ServiceStarted
            ]
        );
        assert!(
            message("    depends_on:\n      a: {condition: healthy}")
                .contains("key \"depends_on.a.condition\": \"healthy\" is not a condition")
        );
    }

    #[test]
    fn mem_limit_restart_user_read_only() {
        let s = one("    mem_limit: 500m\n    restart: unless-stopped\n    user: \"1000:1000\"\n    read_only: true").unwrap();
        assert_eq!(s.mem_limit, Some(500 * 1024 * 1024));
        assert_eq!(s.restart, RestartPolicy::UnlessStopped);
        assert_eq!(s.user.as_deref(), Some("1000:1000"));
        assert!(s.read_only);
        let s = one("    mem_limit: 1048576\n    restart: on-failure\n    user: 65534\n    read_only: \"false\"").unwrap();
        assert_eq!(s.mem_limit, Some(1_048_576));
        assert_eq!(s.restart, RestartPolicy::OnFailure);
        assert_eq!(s.user.as_deref(), Some("65534"));
        assert!(!s.read_only);
        assert_eq!(
            one("    restart: always").unwrap().restart,
            RestartPolicy::Always
        );
        assert_eq!(
            one("    restart: \"no\"").unwrap().restart,
            RestartPolicy::No
        );
        assert!(
            message("    restart: sometimes").contains("\"sometimes\" is not a restart policy")
        );
        assert!(
            message("    mem_limit: lots").contains("key \"mem_limit\": \"lots\" is not a size")
        );
        assert!(message("    read_only: maybe").contains("\"maybe\" is not true or false"));
    }

    #[test]
    fn image_is_required_and_names_are_checked() {
        assert_eq!(
            load("services:\n  a:\n    command: [x]\n")
                .unwrap_err()
                .to_string(),
            "service \"a\" has no image; add image: NAME:TAG"
        );
        assert!(
            load("services:\n  a:\n")
                .unwrap_err()
                .to_string()
                .contains("has no image")
        );
        assert!(
            load("services:\n  a:\n    image: ${UNSET_IMAGE}\n")
                .unwrap_err()
                .to_string()
                .contains("has no image")
        );
        assert!(
            load("services:\n  \"bad name\":\n    image: a\n")
                .unwrap_err()
                .to_string()
                .contains("\"bad name\" is not a valid service name")
        );
    }

    /// A file with top-level `configs` (`app` from a file, `inline` from text) and service `s`.
    fn with_configs(service_configs: &str) -> Result<Service, ComposeError> {
        let yaml = format!(
            "configs:\n  app:\n    file: ./conf/app.ini\n  inline:\n    content: \"x=1\"\nservices:\n  s:\n    image: img\n    configs:\n{service_configs}\n"
        );
        load(&yaml).map(|mut s| s.remove(0))
    }

    #[test]
    fn configs_long_and_short_syntax_with_compose_defaults() {
        let s = with_configs(
            "      - source: app\n        target: /etc/app/app.ini\n        mode: \"0440\"\n        uid: \"472\"\n      - inline\n      - {source: app, target: /x, mode: 0o600}",
        )
        .unwrap();
        let c = &s.configs;
        assert_eq!(c.len(), 3);
        assert_eq!(
            (
                c[0].source.as_str(),
                c[0].target.as_str(),
                c[0].mode,
                c[0].uid,
                c[0].gid
            ),
            ("app", "/etc/app/app.ini", 0o440, 472, 0)
        );
        assert_eq!(c[0].content, b"[app]\n");
        assert_eq!(
            (c[1].target.as_str(), c[1].mode, c[1].content.as_slice()),
            ("/inline", 0o444, &b"x=1"[..])
        );
        assert_eq!(c[2].mode, 0o600);
    }

    #[test]
    fn bad_configs_name_the_cause() {
        assert_eq!(
            with_configs("      - nope").unwrap_err().to_string(),
            "service \"s\" uses config \"nope\", which is not declared under the top-level configs; declare it there with file: PATH"
        );
        assert_eq!(
            with_configs("      - {source: app, target: etc/app.ini}")
                .unwrap_err()
                .to_string(),
            "service \"s\": key \"configs[0]\": target \"etc/app.ini\" is not an absolute file path; write the file's path in the container from /"
        );
        assert_eq!(
            with_configs("      - {source: app, target: /a, mode: \"0999\"}")
                .unwrap_err()
                .to_string(),
            "service \"s\": key \"configs[0].mode\": \"0999\" is not a valid mode; write an octal mode such as 0444"
        );
        assert_eq!(
            load("configs:\n  gone:\n    file: ./missing.yml\nservices:\n  s:\n    image: i\n")
                .unwrap_err()
                .to_string(),
            "config \"gone\": cannot read /srv/demo/compose/missing.yml: entity not found; fix the path in file: or create the file"
        );
        assert_eq!(
            load(
                "configs:\n  both:\n    file: ./a\n    content: b\nservices:\n  s:\n    image: i\n"
            )
            .unwrap_err()
            .to_string(),
            "config \"both\": key \"content\": the config has both file: and content:; keep one of them"
        );
        assert_eq!(
            load("configs:\n  c:\n    external: true\nservices:\n  s:\n    image: i\n")
                .unwrap_err()
                .to_string(),
            "config \"c\": key \"external\" is not supported by demo; remove it"
        );
    }

    #[test]
    fn clean_is_lexical() {
        assert_eq!(clean(Path::new("/a/b/../c/./d")), PathBuf::from("/a/c/d"));
        assert_eq!(clean(Path::new("/a/../..")), PathBuf::from("/"));
        assert_eq!(clean(Path::new("../../a/..")), PathBuf::from("../.."));
    }
}
